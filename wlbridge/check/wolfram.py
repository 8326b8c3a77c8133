"""The Wolfram Engine (or Mathematica) kernel as a checker, through wolframclient.

The kernel is found from ``WOLFRAM_KERNEL``, then the usual install locations; inputs go as WXF
packed arrays (bit-exact), the function runs on all samples in one call, and any kernel message
fails the check. One long-lived session per engine object, closed by ``close()`` / ``with``.

>>> import os
>>> os.environ.get("WOLFRAM_KERNEL") or find_kernel() is None  # doctest: +SKIP
True
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import sys
import time

import numpy as np

from ..errors import EngineError, EngineNotFoundError
from .base import Engine, EngineResult, ResultParseError, parse_numbers, split_outputs


def kernel_candidates() -> list[str]:
    """Glob patterns of the usual WolframKernel locations on this platform."""
    if sys.platform == "darwin":
        return ["/Applications/*.app/Contents/MacOS/WolframKernel",
                os.path.expanduser("~/Applications/*.app/Contents/MacOS/WolframKernel")]
    if sys.platform.startswith("win"):
        roots = {os.environ.get("ProgramFiles", r"C:\Program Files"), r"C:\Program Files"}
        return [os.path.join(r, "Wolfram Research", "*", "*", "WolframKernel.exe") for r in sorted(roots)]
    return [f"{root}/{product}/*/Executables/WolframKernel"
            for root in ("/usr/local/Wolfram", "/opt/Wolfram")
            for product in ("WolframEngine", "Mathematica", "Desktop", "Wolfram")] + \
           ["/opt/Mathematica/*/Executables/WolframKernel", "/usr/local/Wolfram/*/Executables/WolframKernel"]


def _version_key(path: str):
    return [int(n) for n in re.findall(r"\d+", path)]


def find_kernel() -> str | None:
    """The WolframKernel to use: ``WOLFRAM_KERNEL`` if set, else the newest one found, else None."""
    env = os.environ.get("WOLFRAM_KERNEL")
    if env:
        if not os.path.isfile(env):
            raise EngineNotFoundError(f"WOLFRAM_KERNEL={env!r} is not a file; point it at the WolframKernel "
                                      "executable (e.g. /usr/local/Wolfram/WolframEngine/14.1/Executables/WolframKernel)")
        return env
    found = [p for pattern in kernel_candidates() for p in glob.glob(pattern) if os.path.isfile(p)]
    if found:
        return max(found, key=_version_key)
    return shutil.which("WolframKernel")


def not_found_message() -> str:
    """What was searched for a WolframKernel and how to get one (the EngineNotFoundError text)."""
    searched = ", ".join(kernel_candidates() + ["WolframKernel on PATH"])
    return ("no Wolfram Engine kernel found; searched WOLFRAM_KERNEL (unset), " + searched +
            ". Install the free Wolfram Engine (https://www.wolfram.com/engine/) and set "
            "WOLFRAM_KERNEL=/path/to/WolframKernel, or use --engine woxi / mathics")


# kernel-side: machine-number arrays come back as packed arrays (WXF, exact); anything else as text
_RETURN = ("Function[r, If[ArrayQ[r, _, Function[v, MachineNumberQ[v] || IntegerQ[v]]], "
           "Developer`ToPackedArray[N[r]], ToString[r, InputForm]]]")


def kernel_template(function_code: str, ports: int, call: str = "list", timeout: float = 600.0) -> str:
    """``Function[{wlbridgeA0, ...}, ...]``: applied to the ports' batches, it evaluates the function on
    every sample and returns a packed array of machine numbers or, for anything else, its InputForm text."""
    names = [f"wlbridgeA{i}" for i in range(ports)]
    if call == "list":
        body = f"MapThread[wlbridgeF, {{{', '.join(names)}}}]"
    elif call == "sequence":
        body = f"Apply[wlbridgeF, MapThread[Join, {{{', '.join(names)}}}], {{1}}]"
    else:
        raise ValueError(f"call must be 'list' or 'sequence', not {call!r}")
    return (f"Function[{{{', '.join(names)}}}, {_RETURN}[TimeConstrained["
            f"With[{{wlbridgeF = {function_code}}}, {body}], {timeout:g}, $Aborted]]]")


def kernel_payload(function_code: str, inputs, call: str = "list", timeout: float = 600.0) -> bytes:
    """The WXF bytes the kernel evaluates: :func:`kernel_template` applied to the inputs as packed
    arrays (float64, or int64 for indices), bit-exact."""
    from wolframclient.language import wlexpr
    from wolframclient.serializers import export
    from wolframclient.utils.packedarray import PackedArray

    arrays = [np.ascontiguousarray(a, dtype=np.int64 if np.issubdtype(np.asarray(a).dtype, np.integer)
                                   else np.float64) for a in inputs]
    if call == "sequence":
        arrays = [a.reshape(len(a), -1) for a in arrays]
    template = kernel_template(function_code, len(arrays), call, timeout)
    return export(wlexpr(template)(*[a.view(PackedArray) for a in arrays]), target_format="wxf")


class WolframEngine(Engine):
    """A Wolfram Engine / Mathematica kernel via ``wolframclient`` (started on first use)."""

    name = "wolfram"
    timeout = 600.0

    def __init__(self, kernel: str | None = None):
        self._session = None
        try:
            import wolframclient  # noqa: F401
        except ImportError as e:
            raise EngineNotFoundError(f"wolframclient is not installed ({e}); pip install wolframclient") from None
        self.kernel = kernel or find_kernel()
        if self.kernel is None:
            raise EngineNotFoundError(not_found_message())

    @property
    def session(self):
        """The kernel session, started on first use (``EngineError`` naming the kernel if it cannot start)."""
        if self._session is None:
            from wolframclient.evaluation import WolframLanguageSession

            try:
                self._session = WolframLanguageSession(kernel=self.kernel)
                self._session.start()
            except Exception as e:
                self._session = None
                raise EngineError(f"wolfram: cannot start the kernel {self.kernel}: {e}") from None
        return self._session

    def _wrap(self, expr):
        try:
            r = self.session.evaluate_wrap(expr, timeout=self.timeout + 60)
        except KeyboardInterrupt:
            self.close()
            raise
        except EngineError:
            raise
        except Exception as e:
            raise EngineError(f"wolfram: {type(e).__name__}: {e}") from None
        return r.get(), [" ".join(str(m).split()) for m in (r.messages or [])]

    def evaluate_raw(self, code: str) -> tuple[str, list[str]]:
        """``code``'s result as InputForm text, with the kernel's messages."""
        from wolframclient.language import wlexpr

        result, messages = self._wrap(wlexpr(f"ToString[({code}), InputForm]"))
        return str(result), messages

    def apply(self, function_code, inputs, *, call="list", output_shapes=None, timeout=None) -> EngineResult:
        """Like :meth:`Engine.apply`, but inputs go to the kernel as WXF packed arrays."""
        payload = kernel_payload(function_code, inputs, call, self.timeout if timeout is None else timeout)
        t0 = time.perf_counter()
        try:
            result, messages = self._wrap(payload)
        except EngineError as e:
            return EngineResult(None, [], str(e), time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        return finish(result, messages, len(np.asarray(inputs[0])), output_shapes, seconds)

    def close(self) -> None:
        """Terminate the kernel process, if one was started."""
        if self._session is not None:
            session, self._session = self._session, None
            try:
                session.terminate()
            except Exception:  # already gone
                pass

    def __del__(self):
        self.close()


def finish(result, messages, n, output_shapes, seconds) -> EngineResult:
    """Turn a kernel result (packed array, or InputForm text of anything else) into an EngineResult."""
    values, problem = None, None
    try:
        rows = result.tolist() if isinstance(result, np.ndarray) else parse_numbers(str(result))
        values = split_outputs(rows, n, output_shapes)
    except (ResultParseError, ValueError) as e:
        problem = f"{e}\n  result: {str(result)[:300]}"
    if messages:
        problem = problem or f"{len(messages)} kernel message(s)"
    return EngineResult(values if problem is None else None, messages, problem, seconds)
