"""WL engines behind one small interface: Woxi, Mathics3 (embedded, from PyPI) and the Wolfram Engine.

>>> from wlbridge.check.engines import get_engines
>>> [e.name for e in get_engines("woxi")]  # doctest: +SKIP
['woxi']
>>> import numpy as np
>>> woxi = get_engines("woxi")[0]  # doctest: +SKIP
>>> woxi.apply("Function[{x}, {Tanh[x[[1]]]}]", [np.array([[0.5], [1.0]])]).values  # doctest: +SKIP
[array([[0.46211716],
       [0.76159416]])]

Each engine's dialect differences live in its adapter (Mathics3's missing builtins in
:data:`MATHICS_SHIMS`, Woxi's number parsing in :class:`WoxiEngine`); the emitted code stays
genuine WL. ``get_engines("auto")`` gives the Wolfram Engine when one is found, otherwise Woxi
and Mathics3 together.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

import numpy as np

from ..errors import EngineError, EngineNotFoundError
from .base import Engine, EngineResult, ResultParseError, define_code, parse_numbers, wl_real, wl_real_positional
from .cost import mathics_cost, mathics_samples  # noqa: F401 - the Mathics3 cost model, re-exported
from .wolfram import WolframEngine, find_kernel
from .worker import WorkerCrashed, WorkerTimeout, run_killable

__all__ = ["Engine", "EngineResult", "EngineError", "EngineNotFoundError", "ResultParseError",
           "WoxiEngine", "MathicsEngine", "WolframEngine", "get_engines", "parse_numbers", "MATHICS_SHIMS",
           "ENGINE_NAMES", "evaluate_function"]

ENGINE_NAMES = ("auto", "wolfram", "woxi", "mathics", "embedded")


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a ``None`` in ``sys.modules`` blocks it)."""
    import importlib.util

    parts = module.split(".")
    if any(sys.modules.get(".".join(parts[:k]), True) is None for k in range(1, len(parts) + 1)):
        return False
    return importlib.util.find_spec(parts[0]) is not None


def _missing(what: str, extra: str, err: Exception) -> EngineNotFoundError:
    return EngineNotFoundError(f"the {what} engine is not installed ({err}); "
                               f"install it with: pip install 'wlbridge[{extra}]'")


# ----------------------------------------------------------------------------------------------
# Woxi


class KillableEngine(Engine):
    """An embedded engine whose batch call can run in a forked worker killed at a deadline."""

    def prepare(self) -> None:
        """Work done in the calling process before forking (shared by every worker)."""

    def apply_inline(self, function_code, inputs, **kwargs) -> EngineResult:
        """:meth:`Engine.apply` in this process, with no hard limit."""
        return Engine.apply(self, function_code, inputs, **kwargs)

    def reset(self) -> None:
        """Forget earlier definitions (before :meth:`define`)."""

    def apply_defined(self, inputs, *, limit: float | None = None, **kwargs) -> EngineResult:
        """Apply the function :meth:`define` defined to a batch, in this process (``limit``: the
        seconds it should take at most; an engine that can stop itself does, e.g. Mathics3)."""
        return self.apply_inline(None, inputs, **kwargs)

    def define(self, function_code: str, reads: str | None = None) -> tuple[float, float, list[str]]:
        """In this process: evaluate ``reads`` (code reading array files), then ``wlbridgeF =
        function_code``; ``(read seconds, define seconds, engine messages)``. :meth:`apply_inline`
        with ``function_code=None`` then applies it (see :mod:`wlbridge.check.plan`)."""
        self.reset()
        t0 = time.perf_counter()
        _, messages = self.evaluate_raw(reads) if reads else ("", [])
        t1 = time.perf_counter()
        _, more = self.evaluate_raw(define_code(function_code) + "Null")
        return (t1 - t0 if reads else 0.0), time.perf_counter() - t1, messages + more

    def apply_bounded(self, function_code, inputs, *, timeout: float | None, cancel=None,
                      **kwargs) -> EngineResult:
        """:meth:`apply_inline` in a worker process killed after ``timeout`` seconds.

        Raises :class:`~wlbridge.check.worker.WorkerTimeout` (or ``WorkerCancelled`` when ``cancel``
        is set); a worker that dies gives a result with the problem.
        """
        self.prepare()
        t0 = time.perf_counter()
        try:
            return run_killable(lambda: self.apply_inline(function_code, inputs, **kwargs), timeout, cancel)
        except WorkerCrashed as e:
            return EngineResult(None, [], f"{self.name}: {e}", time.perf_counter() - t0)


class WoxiEngine(KillableEngine):
    """Woxi (PyPI ``woxi``), a fast WL interpreter in Rust. Takes the full sample batch.

    Woxi 0.3.0 parses ``1.5`*^-10`` with up to 1 ulp of error (about 30 % of random doubles), but
    positional decimals (``0.00000000015```) exactly, so inputs are sent positionally.
    """

    name = "woxi"
    number = staticmethod(wl_real_positional)

    def __init__(self):
        try:
            import woxi
        except ImportError as e:
            raise _missing("Woxi", "woxi", e) from None
        self._woxi = woxi

    def evaluate_raw(self, code: str) -> tuple[str, list[str]]:
        """``code``'s result as InputForm text, with Woxi's warnings as messages."""
        try:
            with _quiet_stderr():  # Woxi echoes its messages to stderr as well; they are in r.warnings
                r = self._woxi.evaluate(f"ToString[({code}), InputForm]")
        except self._woxi.WolframError as e:
            raise EngineError(f"woxi: {_woxi_error(str(e), code)}") from None
        except BaseException as e:  # a Rust panic surfaces as pyo3 PanicException (BaseException)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise EngineError(f"woxi crashed: {type(e).__name__}: {e}") from None
        return r.result, [" ".join(w.split()) for w in r.warnings]

    def apply_inline(self, function_code, inputs, **kwargs) -> EngineResult:
        """Like :meth:`Engine.apply`, in a cleared Woxi state (kept when ``function_code`` is None:
        applying the function :meth:`define` defined)."""
        if function_code is not None:
            self.reset()
        return super().apply_inline(function_code, inputs, **kwargs)

    def reset(self) -> None:
        self._woxi.clear_state()  # no definitions left over from an earlier call

    apply = apply_inline  # fast and in-process; ``check`` uses apply_bounded for its time limit


def _woxi_error(text: str, code: str) -> str:
    """Woxi's parse error, which quotes the whole input, cut to the place it points at."""
    import re

    where = re.search(r"-->\s*(\d+):(\d+)", text)
    reason = [line.strip(" =") for line in text.splitlines() if line.strip().startswith("=")]
    if not where:
        return " ".join(text.split())[:300]
    line, col = int(where.group(1)), int(where.group(2))
    wrapped = f"ToString[({code}), InputForm]".splitlines()
    src = wrapped[line - 1] if line <= len(wrapped) else ""
    return (f"parse error at line {line}, column {col}: near {src[max(0, col - 40):col + 20]!r}"
            + (f" ({reason[-1][:80]})" if reason else ""))


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (not just sys.stderr) for the duration."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# ----------------------------------------------------------------------------------------------
# Mathics3

# WL builtins Mathics3 10 lacks but emitted code may use, each tested against Woxi / real-WL
# semantics in tests/test_engines.py. Guarded so that they never touch a kernel that has them.
MATHICS_SHIMS: dict[str, str] = {
    "Ramp": "SetAttributes[Ramp, Listable]; Ramp[x_Real] := Max[0., x]; Ramp[x_?NumericQ] := Max[0, x]",
    # not Listable: that would thread over {lo, hi}
    "Clip": "Clip[x_?NumericQ, {lo_, hi_}] := Min[Max[x, lo], hi]; Clip[x_List, b_List] := Map[Clip[#, b] &, x]; "
            "Clip[x_] := Clip[x, {-1, 1}]",
    "HeavisideTheta": "SetAttributes[HeavisideTheta, Listable]; "
                      "HeavisideTheta[x_?NumericQ] /; x != 0 := If[x > 0, 1, 0]",
    "ArrayReshape": "ArrayReshape[l_List, d : {__Integer}] := "
                    "Fold[Partition, PadRight[Flatten[l], Times @@ d], Reverse[Rest[d]]]",
    "ListCorrelate": "ListCorrelate[k_List, l_List] /; ArrayDepth[k] == ArrayDepth[l] := With[{d = Dimensions[k]}, "
                     "Array[Total[k Take[l, Sequence @@ Transpose[{{##}, {##} + d - 1}]], Infinity] &, "
                     "Dimensions[l] - d + 1]]",
    "ListConvolve": "ListConvolve[k_List, l_List] /; ArrayDepth[k] == ArrayDepth[l] := "
                    "ListCorrelate[Reverse[k, Range[ArrayDepth[k]]], l]",
    "ArrayPad": "ArrayPad[l_List, n_Integer, v_ : 0] := ArrayPad[l, Table[{n, n}, {ArrayDepth[l]}], v]; "
                "ArrayPad[l_List, p : {{_Integer, _Integer} ..}, v_ : 0] := wlbridgePad[l, p, v]; "
                "wlbridgePad[l_, {}, v_] := l; wlbridgePad[l_List, {{lo_, hi_}, rest___}, v_] := "
                "With[{in = Map[wlbridgePad[#, {rest}, v] &, l]}, Join[ConstantArray[v, Prepend[Rest[Dimensions[in]], lo]], "
                "in, ConstantArray[v, Prepend[Rest[Dimensions[in]], hi]]]]",
}


def mathics_prelude() -> str:
    """The WL code that sets up a Mathics3 session: iteration limit, then every guarded shim."""
    shims = "; ".join(f'If[Names["System`{name}"] === {{}}, {code}]' for name, code in MATHICS_SHIMS.items())
    return f"$IterationLimit = 10^9; {shims};"


_GRACE_S = 0.5  # the worker outlives TimeConstrained by this much, so a clean $Aborted can come first
_MATHICS_LOCK = threading.Lock()
_MATHICS_SESSION = None


def mathics_session():
    """The one shared, lazily created Mathics3 session (start-up takes 3-6 s)."""
    global _MATHICS_SESSION
    with _MATHICS_LOCK:
        if _MATHICS_SESSION is None:
            from mathics.core.load_builtin import import_and_load_builtins
            from mathics.session import MathicsSession

            import_and_load_builtins()
            session = MathicsSession()
            session.evaluate(mathics_prelude())
            if session.evaluation.out:
                raise EngineError("mathics: set-up failed: " + "; ".join(map(str, session.evaluation.out)))
            _MATHICS_SESSION = session
        return _MATHICS_SESSION


class MathicsEngine(KillableEngine):
    """Mathics3 (PyPI ``Mathics3``), pure Python and slow (~500-1500 multiply-adds per second here).

    ``check`` gives it a cost-bounded subset of the samples (see :func:`mathics_cost`). Every
    :meth:`apply` runs in a forked worker that is killed at its time limit (``TimeConstrained`` alone
    can miss its deadline by minutes); the session is started once, in this process, before forking.
    """

    name = "mathics"
    keep_worker = True  # check's worker (its 10 s start-up done) is kept for the next check in this process
    timeout = 600.0  # seconds per apply: the worker is killed then (evaluate's timeout= is ignored)

    def __init__(self):
        if not _installed("mathics.session"):  # not imported here (~2-4 s): its start-up runs in check's worker
            raise _missing("Mathics3", "mathics", ImportError("No module named 'mathics.session'"))
        self._session = None

    @property
    def session(self):
        """The shared Mathics3 session, started on first use."""
        if self._session is None:
            self._session = mathics_session()
        return self._session

    def evaluate_raw(self, code: str) -> tuple[str, list[str]]:
        """Machine reals are printed from their Python floats (Mathics' own InputForm drops the
        17th digit: ``13.040000451301372`` prints as ``13.04000045130137``); anything that is not a
        nested list of machine reals / integers is printed by Mathics as InputForm text."""
        s = self.session
        try:
            with _MATHICS_LOCK:
                r = s.evaluate(f"wlbridgeR = ({code})")
                messages = [" ".join(str(m).split()) for m in s.evaluation.out]
                text = _mathics_exact(r)
                if text is None:
                    text = s.evaluate("ToString[wlbridgeR, InputForm]").value
                s.evaluate("Clear[wlbridgeR]")
        except Exception as e:  # syntax errors, AbortInterrupt, ...
            raise EngineError(f"mathics: {_mathics_error(e, code)}") from None
        if text == "$Aborted":
            raise EngineError("mathics: timed out (TimeConstrained)")
        return text, messages

    def prepare(self) -> None:
        """Start the session here (3-6 s, once per process), so workers inherit it and it is not timed."""
        self.session

    def apply(self, function_code, inputs, *, timeout: float | None = None, **kwargs) -> EngineResult:
        """Like :meth:`Engine.apply`, in a worker killed after ``timeout`` seconds (default :attr:`timeout`)."""
        t = self.timeout if timeout is None else timeout
        t0 = time.perf_counter()
        try:
            r = self.apply_bounded(function_code, inputs, timeout=t + _GRACE_S, inner_timeout=t, **kwargs)
        except WorkerTimeout:
            return EngineResult(None, [], f"mathics: timed out after {t:g} s (worker killed)",
                                time.perf_counter() - t0)
        if r.problem and "timed out (TimeConstrained)" in r.problem:
            r.problem = f"mathics: timed out after {t:g} s"
        return r

    def apply_inline(self, function_code, inputs, *, inner_timeout: float | None = None, **kwargs) -> EngineResult:
        """:meth:`Engine.apply` in this process; ``TimeConstrained`` (soft) after ``inner_timeout`` s."""
        return super().apply_inline(function_code, inputs, timeout=inner_timeout, **kwargs)

    def apply_defined(self, inputs, *, limit: float | None = None, **kwargs) -> EngineResult:
        r = self.apply_inline(None, inputs, inner_timeout=limit, **kwargs)
        if r.problem and "timed out (TimeConstrained)" in r.problem:
            r.problem = f"mathics: timed out after {limit:g} s"
        return r

    def batch_code(self, function_code, payload, timeout):
        """The batch call inside ``TimeConstrained`` (``$Aborted`` after the timeout; soft, the worker's
        kill is the hard limit)."""
        t = self.timeout if timeout is None else timeout
        return f"TimeConstrained[{super().batch_code(function_code, payload, None)}, {t:g}, $Aborted]"


def _mathics_exact(expr) -> str | None:
    """WL text of a nested list of machine reals / integers, digits exact; None for anything else."""
    from mathics.core.atoms import Integer, MachineReal

    if isinstance(expr, MachineReal):
        return wl_real(expr.value)
    if isinstance(expr, Integer):
        return str(expr.value)
    if expr.has_form("List", None):
        parts = [_mathics_exact(e) for e in expr.elements]
        return None if None in parts else "{" + ", ".join(parts) + "}"
    return None


def _mathics_error(e: Exception, code: str) -> str:
    name = type(e).__name__
    if name.endswith("SyntaxError"):
        pos = e.args[0] if e.args and isinstance(e.args[0], int) else None
        where = f" near {code[max(0, pos - 30):pos + 30]!r}" if pos is not None else " (incomplete input)"
        return f"syntax error{where}"
    return f"{name}: {e}"


# ----------------------------------------------------------------------------------------------
# selection


def get_engines(name: str = "auto", *, kernel: str | None = None,
                startup_timeout: float | None = None) -> list[Engine]:
    """The engines to check with: 'auto', 'wolfram', 'woxi', 'mathics' or 'embedded' (Woxi + Mathics3).

    'auto' is the Wolfram Engine when a kernel is found, else Woxi and Mathics3 (those installed; at
    least one is needed). ``kernel`` / ``startup_timeout``: see :class:`WolframEngine`.
    """
    if name not in ENGINE_NAMES:
        raise EngineNotFoundError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_NAMES)}")
    if name == "woxi":
        return [WoxiEngine()]
    if name == "mathics":
        return [MathicsEngine()]
    if name == "wolfram":
        return [WolframEngine(kernel, startup_timeout)]
    if name == "auto":
        if find_kernel(kernel) is not None:
            return [WolframEngine(kernel, startup_timeout)]
    found, missing = [], []
    for cls in (WoxiEngine, MathicsEngine):
        try:
            found.append(cls())
        except EngineNotFoundError as e:
            missing.append(str(e))
    if not found or (name == "embedded" and missing):
        raise EngineNotFoundError("no WL engine available: " + "; ".join(missing) +
                                  ("" if name == "embedded" else
                                   "; or install a Wolfram Engine and set WOLFRAM_KERNEL"))
    return found


def evaluate_function(engine, code: str, inputs, *, call: str = "list", kernel: str | None = None,
                      startup_timeout: float | None = None) -> np.ndarray:
    """Apply the WL function ``code`` to a batch in ``engine`` (a name or an Engine): a convenience.

    ``inputs``: one array (a single input port, batch first) or a list of arrays (one per port).
    Returns the per-sample outputs flattened and concatenated, shape ``[batch, total_outputs]``;
    raises :class:`EngineError` with the engine's text when the result is not machine numbers.
    An engine named here is closed before returning (a Wolfram kernel is not kept running); pass an
    Engine object to reuse one across calls.
    """
    if isinstance(engine, str):
        owned = get_engines(engine, kernel=kernel, startup_timeout=startup_timeout)[0]
        try:
            return evaluate_function(owned, code, inputs, call=call)
        finally:
            owned.close()
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    r = engine.apply(code, arrays, call=call)
    if not r.ok:
        raise EngineError(f"{engine.name}: {r.problem}" + (f"; messages: {'; '.join(r.messages)}" if r.messages else ""))
    rows = r.values[0]
    return rows.reshape(len(rows), -1) if rows.ndim != 1 else rows[:, None]
