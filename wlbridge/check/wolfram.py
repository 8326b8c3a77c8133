"""The Wolfram Engine (or Mathematica) kernel as a checker, through wolframclient.

The kernel is found from ``WOLFRAM_KERNEL``, then the usual install locations; inputs go as WXF
packed arrays (bit-exact), the function runs on all samples in one call, and any kernel message
fails the check. One long-lived session per engine object, closed by ``close()`` / ``with``.

>>> import os
>>> os.environ.get("WOLFRAM_KERNEL") or find_kernel() is None  # doctest: +SKIP
True
"""
from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import sys
import time
import weakref

import numpy as np

from ..errors import EngineError, EngineNotFoundError
from .base import Engine, EngineResult, ResultParseError, parse_numbers, split_outputs


def kernel_candidates() -> list[str]:
    r"""Glob patterns of the usual WolframKernel locations on this platform.

    macOS: Mathematica / Wolfram Desktop keep it in ``<App>.app/Contents/MacOS``; the Wolfram Engine app
    inside its bundled player, ``Wolfram Engine.app/Contents/Resources/Wolfram Player.app/Contents/MacOS``.
    Windows: ``C:\Program Files\Wolfram Research\<product>\<version>\WolframKernel.exe``.
    """
    if sys.platform == "darwin":
        return [f"{root}/{app}" for root in ("/Applications", os.path.expanduser("~/Applications"))
                for app in ("*.app/Contents/MacOS/WolframKernel",
                            "*.app/Contents/Resources/Wolfram Player.app/Contents/MacOS/WolframKernel")]
    if sys.platform.startswith("win"):
        roots = {os.environ.get("ProgramFiles", r"C:\Program Files"), r"C:\Program Files"}
        return [os.path.join(r, "Wolfram Research", "*", "*", "WolframKernel.exe") for r in sorted(roots)]
    return [f"{root}/{product}/*/Executables/WolframKernel"
            for root in ("/usr/local/Wolfram", "/opt/Wolfram")
            for product in ("WolframEngine", "Mathematica", "Desktop", "Wolfram")] + \
           ["/opt/Mathematica/*/Executables/WolframKernel", "/usr/local/Wolfram/*/Executables/WolframKernel"]


def _version_key(path: str):
    return [int(n) for n in re.findall(r"\d+", path)]


def find_kernel(kernel: str | None = None) -> str | None:
    """The WolframKernel to use: ``kernel`` if given, else ``WOLFRAM_KERNEL``, else the newest one found, else None."""
    given, env = kernel, os.environ.get("WOLFRAM_KERNEL")
    if given or env:
        path = str(given or env)
        if not os.path.isfile(path):
            where = f"kernel={path!r}" if given else f"WOLFRAM_KERNEL={path!r}"
            raise EngineNotFoundError(f"{where} is not a file; point it at the WolframKernel executable "
                                      "(e.g. /usr/local/Wolfram/WolframEngine/14.1/Executables/WolframKernel)")
        return path
    found = [p for pattern in kernel_candidates() for p in glob.glob(pattern) if os.path.isfile(p)]
    if found:
        return max(found, key=_version_key)
    return shutil.which("WolframKernel")


def _brief(patterns: list[str]) -> list[str]:
    """Glob patterns differing in one folder name, written once with braces.

    >>> _brief(["/a/B/*/k", "/a/C/*/k", "/x/*/k"])
    ['/a/{B,C}/*/k', '/x/*/k']
    """
    groups: dict = {}
    for p in patterns:
        m = re.match(r"^(.*[/\\])([^/\\*]+)([/\\]\*[/\\].*)$", p)
        key = (m.group(1), m.group(3)) if m else (p, "")
        groups.setdefault(key, []).append(m.group(2) if m else None)
    return [f"{a}{{{','.join(n)}}}{b}" if len(n) > 1 else (a + n[0] + b if n[0] else a) for (a, b), n in groups.items()]


def not_found_message() -> str:
    """What was searched for a WolframKernel and how to get one (the EngineNotFoundError text)."""
    searched = "; ".join(_brief(kernel_candidates()) + ["WolframKernel on PATH"])
    return ("no Wolfram Engine kernel found. Searched: WOLFRAM_KERNEL (unset); " + searched +
            ". Install the free Wolfram Engine (https://www.wolfram.com/engine/) and pass --kernel PATH "
            "(kernel=) or set WOLFRAM_KERNEL=/path/to/WolframKernel; or use --engine woxi / mathics.")


STARTUP_TIMEOUT = 120.0  # seconds; a cold start (first run, licence check) can take far longer than 20 s


def startup_timeout(seconds: float | None = None) -> float:
    """Seconds to wait for a kernel to start: ``seconds``, else ``WLBRIDGE_KERNEL_STARTUP_TIMEOUT``, else 120."""
    if seconds is not None:
        return float(seconds)
    env = os.environ.get("WLBRIDGE_KERNEL_STARTUP_TIMEOUT")
    try:
        return float(env) if env else STARTUP_TIMEOUT
    except ValueError:
        raise EngineError(f"WLBRIDGE_KERNEL_STARTUP_TIMEOUT={env!r} is not a number of seconds") from None


_open_sessions: "weakref.WeakSet" = weakref.WeakSet()


def start_session(kernel: str, timeout: float | None = None):
    """A started ``WolframLanguageSession`` for ``kernel`` that never keeps Python from exiting.

    wolframclient's controller is a non-daemon thread blocked on its queue: an open session would make
    the interpreter wait forever at exit. Here it is a daemon thread, and every session still open at exit
    is terminated (the kernel process is not left behind).
    """
    from wolframclient.evaluation import WolframLanguageSession

    session = WolframLanguageSession(kernel=kernel, STARTUP_TIMEOUT=startup_timeout(timeout))
    session.kernel_controller.daemon = True
    try:
        session.start()
    except Exception as e:
        raise EngineError(f"wolfram: cannot start the kernel {kernel}: {type(e).__name__}: {e}") from None
    _open_sessions.add(session)
    return session


@atexit.register
def _terminate_open_sessions() -> None:
    for session in list(_open_sessions):
        process = getattr(session.kernel_controller, "kernel_proc", None)
        try:
            session.terminate()
            if process is not None:
                process.kill()
        except Exception:  # already gone
            pass


_UNDEFINED = re.compile(r"^Undefined message (\S+::\w+) with arguments \{(.*)\}$", re.S)


def readable_message(text: str) -> str:
    """A kernel message text as the user should see it.

    wolframclient's kernel library formats only ``General::`` messages; the others (``WLBridge::*``,
    whose template is the whole text) arrive as ``Undefined message S::tag with arguments {...}``.

    >>> readable_message("Undefined message WLBridge::badnet with arguments {2 unsupported layer(s): ...}")
    'WLBridge::badnet: 2 unsupported layer(s): ...'
    """
    text = " ".join(str(text).split())
    m = _UNDEFINED.match(text)
    return f"{m.group(1)}: {m.group(2)}" if m else text


def evaluate_wrapped(session, expr, timeout: float | None = None):
    """Evaluate ``expr`` in ``session``: (result, readable messages); waits at most ``timeout`` seconds.

    On timeout the kernel is terminated (a hung kernel cannot be interrupted otherwise) and
    :class:`EngineError` says so; wolframclient failures become :class:`EngineError` too.
    """
    from concurrent.futures import TimeoutError as FutureTimeout

    try:
        r = session.evaluate_wrap_future(expr).result(timeout=timeout)
    except FutureTimeout:
        try:
            session.terminate()
        finally:
            _open_sessions.discard(session)
        raise EngineError(f"wolfram: no answer after {timeout:g} s; the kernel was terminated") from None
    except KeyboardInterrupt:
        session.terminate()
        raise
    except Exception as e:  # wolframclient raises its own exception types
        raise EngineError(f"wolfram: {type(e).__name__}: {e}") from None
    return r.get(), [readable_message(m) for m in (getattr(r, "messages", None) or [])]


# kernel-side: machine-real arrays come back as packed arrays (WXF, exact); anything else (complex numbers too) as text
_RETURN = ("Function[r, If[ArrayQ[r, _, Function[v, Head[v] === Real && MachineNumberQ[v] || IntegerQ[v]]], "
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


def kernel_payload(function_code: str, inputs, call: str = "list", timeout: float = 600.0):
    """The expression the kernel evaluates: :func:`kernel_template` applied to the inputs as packed
    arrays (float64, or int64 for indices), bit-exact. wolframclient sends it as WXF (an expression,
    not ``bytes``: those it would send as a ``ByteArray``, data the kernel does not evaluate)."""
    from wolframclient.language import wlexpr
    from wolframclient.utils.packedarray import PackedArray

    arrays = [np.ascontiguousarray(a, dtype=np.int64 if np.issubdtype(np.asarray(a).dtype, np.integer)
                                   else np.float64) for a in inputs]
    if call == "sequence":
        arrays = [a.reshape(len(a), -1) for a in arrays]
    template = kernel_template(function_code, len(arrays), call, timeout)
    return wlexpr(template)(*[a.view(PackedArray) for a in arrays])


class WolframEngine(Engine):
    """A Wolfram Engine / Mathematica kernel via ``wolframclient`` (started on first use).

    ``kernel``: the WolframKernel path (default: :func:`find_kernel`); ``startup_timeout``: seconds to
    wait for it to start (default: ``WLBRIDGE_KERNEL_STARTUP_TIMEOUT`` or 120). Close it (``close()`` or
    ``with``) when done; an engine still open at exit is terminated then.
    """

    name = "wolfram"
    timeout = 600.0

    def __init__(self, kernel: str | None = None, startup_timeout: float | None = None):
        self._session = None
        try:
            import wolframclient  # noqa: F401
        except ImportError as e:
            raise EngineNotFoundError(f"wolframclient is not installed ({e}); pip install wolframclient") from None
        self.kernel = find_kernel(kernel)
        if self.kernel is None:
            raise EngineNotFoundError(not_found_message())
        self.startup_timeout = startup_timeout

    @property
    def session(self):
        """The kernel session, started on first use (``EngineError`` naming the kernel if it cannot start)."""
        if self._session is None:
            self._session = start_session(self.kernel, self.startup_timeout)
        return self._session

    def _wrap(self, expr, timeout: float | None = None):
        limit = self.timeout + 60 if timeout is None else timeout
        try:
            return evaluate_wrapped(self.session, expr, limit)
        except EngineError:
            self.close()
            raise

    def evaluate_raw(self, code: str) -> tuple[str, list[str]]:
        """``code``'s result as InputForm text, with the kernel's messages."""
        from wolframclient.language import wlexpr

        result, messages = self._wrap(wlexpr(f"ToString[({code}), InputForm]"))
        return str(result), messages

    def apply(self, function_code, inputs, *, call="list", output_shapes=None, timeout=None) -> EngineResult:
        """Like :meth:`Engine.apply`, but inputs go to the kernel as WXF packed arrays. ``timeout``
        (seconds, default 600) bounds the evaluation in the kernel (``TimeConstrained``) and, a minute
        later, the wait for its answer (then the kernel is terminated)."""
        limit = self.timeout if timeout is None else timeout
        payload = kernel_payload(function_code, inputs, call, limit)
        t0 = time.perf_counter()
        try:
            result, messages = self._wrap(payload, limit + min(60.0, limit))
        except EngineError as e:
            return EngineResult(None, [], str(e), time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        return finish(result, messages, len(np.asarray(inputs[0])), output_shapes, seconds)

    def close(self) -> None:
        """Terminate the kernel process, if one was started."""
        if self._session is not None:
            session, self._session = self._session, None
            _open_sessions.discard(session)
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
    except (ResultParseError, ValueError, TypeError) as e:
        problem = f"{e}\n  result: {str(result)[:300]}"
    if messages:
        problem = problem or f"{len(messages)} kernel message(s)"
    return EngineResult(values if problem is None else None, messages, problem, seconds)
