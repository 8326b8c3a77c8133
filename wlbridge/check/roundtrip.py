"""``check``: evaluate a net's emitted code in WL engines (and the source net, and sympy) against
the numpy float64 reference, on one seeded batch of inputs.

>>> import numpy as np, wlbridge as wb
>>> b = wb.NetBuilder("tiny"); x = b.input("x", (2,))
>>> net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> report = check(net, engine="woxi", code="Function[{x}, Tanh[x]]", samples=8)  # doctest: +SKIP
>>> report.passed, report.max_abs_err < 1e-15  # doctest: +SKIP
(True, True)
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from ..errors import CheckFailedError, ConversionError, ExpressionTooLargeError
from .engines import Engine, MathicsEngine, get_engines, mathics_samples
from .report import CODE_RTOL, CheckReport, Row, attach_input, compare, failed, skipped, source_rtol
from .sampling import as_batch, sample_inputs

def check(net, *, engine: str | Engine | Sequence[Engine] = "auto", samples: int = 64, seed: int = 0,
          code: str | None = None, form: str = "compact", call: str = "list", inputs=None,
          rtol: float | None = None, atol: float | None = None, raise_on_failure: bool = False,
          mathics_budget: float = 20.0, sympy: bool = True, exact: bool = False, timeout: float | None = None,
          on_row: Callable[[Row], None] | None = None, max_size: int | None = None, kernel: str | None = None,
          startup_timeout: float | None = None) -> CheckReport:
    """Check ``net``'s WL code (``code``, or ``net.to_wl(form=, call=)``) against its reference.

    ``engine``: 'auto' (Wolfram Engine if found, else Woxi + Mathics3), 'wolfram', 'woxi',
    'mathics', 'embedded', or Engine objects (kept open). Mathics3 gets as many of the samples as fit
    in ``mathics_budget`` seconds by its cost model (at least one). ``rtol`` / ``atol`` override the
    emitted-code tolerance (default rtol 1e-9); the source net is judged in its own precision.
    ``timeout``: seconds per engine evaluation (where the engine can enforce it); ``on_row(row)`` is
    called as each row finishes; ``max_size`` raises the expanded form's size limit.
    ``kernel``: the WolframKernel for 'wolfram' / 'auto' (default ``WOLFRAM_KERNEL`` or the usual install
    paths); ``startup_timeout``: seconds to wait for it to start.
    """
    xs = as_batch(net, inputs) if inputs is not None else sample_inputs(net, samples, seed)
    ref, dropped = _reference(net, xs)
    if dropped is not None:
        xs = [x[~dropped] for x in xs]
        ref = [r[~dropped] for r in ref]
    given_code = code is not None
    sizes = {"max_size": max_size} if max_size else {}
    if code is None:
        code = net.to_wl(form=form, call=call, **({"exact": True} if exact else {}), **sizes)
    owned = isinstance(engine, str)
    engines = get_engines(engine, kernel=kernel, startup_timeout=startup_timeout) if owned else [engine] if isinstance(engine, Engine) else list(engine)
    report = CheckReport(net.name, engine="+".join(e.name for e in engines), samples=len(xs[0]), seed=seed,
                         code_chars=len(code))
    if engine == "auto" and "wolfram" not in report.engine:
        report.notes.append("auto: no Wolfram Engine found (set WOLFRAM_KERNEL to use one); "
                            f"checked in the embedded engine(s) {report.engine.replace('+', ' and ')}")
    if engine == "auto" and [e.name for e in engines] in (["woxi"], ["mathics"]):
        report.notes.append(f"only {engines[0].name} is installed; 'auto' checks in Woxi and Mathics3 together "
                            "when both are: pip install 'wlbridge[engines]'")
    report.notes.extend(n for n in net.meta.get("notes", ()) if isinstance(n, str))  # e.g. a dtype conversion
    if dropped is not None and dropped.any():
        report.notes.append(f"{int(dropped.sum())} sampled inputs dropped: the reference is not finite there")
    report.notes += _honesty_notes(net)
    report.subject = (net, code, call)
    tol = dict(rtol=CODE_RTOL if rtol is None else rtol, atol=atol)

    def add(row: Row) -> None:
        report.rows.append(attach_input(row, xs))
        if on_row is not None:
            on_row(row)

    try:
        if net.origin is not None:
            add(_source_row(net, xs, ref))
        if sympy:
            row = _sympy_row(net, xs, ref, form, tol, sizes)
            if given_code:
                row.note = "; ".join(filter(None, [row.note, OWN_FORMULA]))
            add(row)
        for e in engines:
            add(_engine_row(e, net, code, xs, ref, call, tol, mathics_budget, timeout))
    finally:
        if owned:
            for e in engines:
                e.close()
    if raise_on_failure and not report.passed:
        raise CheckFailedError(report)
    return report


OWN_FORMULA = "checks wlbridge's own formula (net.to_sympy), not the given code"


def _honesty_notes(net) -> list[str]:
    """Say what the reference is when the original net could not be run."""
    if net.origin is not None:
        return []
    if "wl_version" in net.meta:
        return ["the reference is wlbridge's own reading of the Wolfram net file; the original net was not run "
                "in Wolfram (from_wolfram with a kernel session does that)"]
    if net.meta.get("source"):
        return [f"the source net ({net.meta['source']}) was not run (its runtime is not installed): the reference "
                "is wlbridge's numpy evaluation of the converted net"]
    return []  # built in Python: the IR is the net


def _outputs(v) -> list[np.ndarray]:
    return [np.asarray(a, dtype=np.float64) for a in (v if isinstance(v, (list, tuple)) else [v])]


def _reference(net, xs):
    with np.errstate(all="ignore"):
        ref = _outputs(net(*xs))
    bad = np.zeros(len(xs[0]), dtype=bool)
    for r in ref:
        bad |= ~np.all(np.isfinite(r.reshape(len(r), -1)), axis=1)
    if bad.all():
        raise ConversionError(f"{net.name}: the reference is not finite on any sampled input")
    return ref, (bad if bad.any() else None)


def _source_row(net, xs, ref) -> Row:
    name = f"source ({net.origin.name})"
    rtol = source_rtol(net.origin.dtype)
    t0 = time.perf_counter()
    try:
        got = _outputs(net.origin.evaluate(*xs))
    except Exception as e:  # the source library's own failure: shown, not raised
        return failed(Row(name, len(xs[0]), rtol=rtol, kind="source"), f"{type(e).__name__}: {e}")
    return compare(name, ref, got, rtol=rtol, kind="source", seconds=time.perf_counter() - t0)


def _sympy_row(net, xs, ref, form, tol, sizes=None) -> Row:
    t0 = time.perf_counter()
    try:
        from .sympy_eval import evaluate_sympy

        got = evaluate_sympy(net, xs, form=form, **(sizes or {}))
    except (ImportError, NotImplementedError, ExpressionTooLargeError) as e:
        return skipped("sympy", f"not evaluated: {e}")
    except Exception as e:
        return failed(Row("sympy", len(xs[0]), rtol=tol["rtol"]), f"{type(e).__name__}: {e}")
    return compare("sympy", ref, got, seconds=time.perf_counter() - t0, **tol)


def _engine_row(engine, net, code, xs, ref, call, tol, budget, timeout=None) -> Row:
    n = len(xs[0])
    note = ""
    if isinstance(engine, MathicsEngine):
        used = mathics_samples(code, net, n, budget)
        if used < n:
            note = f"{used} of {n} samples (cost model, budget {budget:g} s)"
        xs, ref = [x[:used] for x in xs], [r[:used] for r in ref]
    result = engine.apply(code, xs, call=call, output_shapes=net.output_shapes, timeout=timeout)
    if result.values is None or result.problem:
        row = Row(engine.name, len(xs[0]), rtol=tol["rtol"], seconds=result.seconds, note=note)
        msgs = "; ".join(result.messages[:5])
        problem = (result.problem or "failed").removeprefix(f"{engine.name}: ")
        return failed(row, problem + (f"; messages: {msgs}" if msgs else ""))
    return compare(engine.name, ref, result.values, seconds=result.seconds, note=note, **tol)
