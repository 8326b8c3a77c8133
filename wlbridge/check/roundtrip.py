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

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Sequence

import numpy as np

from .._options import keywords
from ..emit.dispatch import emit, rounded
from ..errors import CheckFailedError, ConversionError, ExpressionTooLargeError, UnsupportedLayerError
from .arrays import ArrayFiles
from .cost import load_factor
from .engines import Engine, KillableEngine, MathicsEngine, get_engines, mathics_cost
from .options import DEFAULT_MATHICS_BUDGET, DEFAULT_TIMEOUT, CheckOptions
from .plan import Limits, drop_starting, lease, planned_row, release
from .progress import Progress, heartbeat_wanted, wanted, woxi_seconds
from .report import CheckReport, Row, attach_input, compare, failed, skipped, source_rtol, timed_out
from ..dtypes import integer_outputs
from .sampling import as_batch, sample_inputs
from .worker import WorkerCancelled, WorkerTimeout, run_killable

MATHICS_START_S = 10.0  # Mathics3's start-up in its worker (import, builtins, session), for the estimate


@keywords
def check(net, *, engine: str | Engine | Sequence[Engine] = "auto", samples: int = 64, seed: int = 0,
          code: str | None = None, form: str = "compact", call: str = "list", inputs=None,
          rtol: float | None = None, atol: float | None = None, raise_on_failure: bool = False,
          mathics_budget: float = DEFAULT_MATHICS_BUDGET, sympy: bool = True, exact: bool = False,
          timeout: float | None = DEFAULT_TIMEOUT, on_row: Callable[[Row], None] | None = None,
          progress: bool | None = None, max_size: int | None = None, kernel: str | None = None,
          startup_timeout: float | None = None, digits: int | str | None = None, box=None,
          arrays: str = "files", per_layer: bool = False) -> CheckReport:
    """Check ``net``'s WL code (``code``, or ``net.to_wl(form=, call=, exact=, digits=, box=)``) against its reference.

    ``engine``: 'auto' (Wolfram Engine if found, else Woxi + Mathics3), 'wolfram', 'woxi',
    'mathics', 'embedded', or Engine objects (kept open). ``samples`` seeded (``seed`` >= 0) inputs, or
    the given ``inputs`` (a batch per input port). ``rtol`` / ``atol`` override the emitted-code
    tolerance (default rtol 1e-9; with
    ``digits="float32"`` float32's); the source net is judged in its own precision. ``digits``: the code's
    weights rounded (its errors against the exact net are the rounding's, and said so in a note).

    The evaluators (sympy, each engine) run at the same time, each embedded engine in its own worker
    process (Mathics3 starts there, beside the others). An embedded engine times its first sample
    and runs as many more as fit: Woxi within ``timeout``, Mathics3 within ``mathics_budget``
    seconds after its start-up (when it is the only engine, its first sample may take up to
    ``timeout``); a row with fewer samples says so in its note (see :mod:`wlbridge.check.plan`).
    Mathics3 is skipped when its cost model, scaled by the machine's load, puts one sample past its
    budget (alone: past twice ``timeout``). The check passes or fails on the evaluators that
    produced numbers: one stopped before its first sample is a ``timed out`` row, a note when
    another WL engine passed, and INCOMPLETE (not passed) when none did. ``arrays``: 'files'
    (default) sends the code's array literals to Woxi and Mathics3 as files of the same digits,
    read with ``ReadList`` (:mod:`wlbridge.check.arrays`; ~100x faster in Woxi than parsing them);
    'inline' sends the code as it is. ``on_row(row)`` is called
    as each row is known, in the order they finish. ``progress``: a bar with an estimate on stderr
    (None: when stderr is a terminal and the check is estimated to take a few seconds).
    ``max_size`` raises the expanded form's size limit. ``kernel``: the WolframKernel for
    'wolfram' / 'auto' (default ``WOLFRAM_KERNEL`` or the usual install paths); ``startup_timeout``:
    seconds to wait for it to start. ``raise_on_failure``: raise :class:`CheckFailedError` unless it passed.
    The options travel as one :class:`~wlbridge.check.options.CheckOptions`.

    ``per_layer``: also compare every binding of the compact code with the reference's value of
    its layer, in each engine and sympy (``report.layers``). A failed check names its first
    diverging layer either way (``report.divergence``; see :mod:`wlbridge.check.perlayer`).
    """
    return run_check(net, CheckOptions(
        engine=engine, samples=samples, seed=seed, code=code, form=form, call=call, inputs=inputs, rtol=rtol,
        atol=atol, raise_on_failure=raise_on_failure, mathics_budget=mathics_budget, sympy=sympy, exact=exact,
        timeout=timeout, on_row=on_row, progress=progress, max_size=max_size, kernel=kernel,
        startup_timeout=startup_timeout, digits=digits, box=box, arrays=arrays, per_layer=per_layer))


def run_check(net, opts: CheckOptions) -> CheckReport:
    """:func:`check` with its options already validated."""
    xs = as_batch(net, opts.inputs) if opts.inputs is not None else sample_inputs(net, opts.samples, opts.seed,
                                                                                   box=opts.box)  # in the box
    started = time.perf_counter()
    ref, dropped = _reference(net, xs)
    ref_seconds = time.perf_counter() - started  # what the compact sympy row costs, about (numpy work alike)
    if dropped is not None:
        xs = [x[~dropped] for x in xs]
        ref = [r[~dropped] for r in ref]
    given_code = opts.code is not None
    compact = not given_code and opts.form == "compact"  # our compact code: Mathics3's cost is the layers'
    code = opts.code if given_code else emit(net, "wl", opts.emit)
    owned = isinstance(opts.engine, str)
    engines = (get_engines(opts.engine, kernel=opts.kernel, startup_timeout=opts.startup_timeout) if owned
               else [opts.engine] if isinstance(opts.engine, Engine) else list(opts.engine))
    report = CheckReport(net.name, engine="+".join(e.name for e in engines), samples=len(xs[0]),
                         seed=None if opts.inputs is not None else opts.seed,
                         code_chars=len(code))
    report.notes += _notes(net, opts, engines, report.engine, dropped) + _outside_box(net, opts, xs)
    report.subject = (net, code, opts.call)
    tol = {**opts.tolerance(), "integers": integer_outputs(net)}  # integer outputs (argmax, casts) exactly

    def add(row: Row) -> None:  # each row as it is known: its worst sample's input, then the caller
        attach_input(row, xs)
        if opts.on_row is not None:
            opts.on_row(row)

    jobs: list[_Job] = []
    files = ArrayFiles(code, enabled=opts.arrays == "files")  # written once, for every embedded engine
    if opts.sympy:
        formula = net if given_code else rounded(net, opts.digits)  # digits=: the rounded formula, as the code
        _warm_sympy(formula if opts.form == "compact" else None)
        note = OWN_FORMULA if given_code else ""
        estimate = 1e-6 * net.param_count * max(1, len(xs[0])) ** 0.5
        if opts.form == "compact" and ref_seconds <= HERE_SECONDS:  # numpy work like the reference's: _sympy_row_here
            done = _sympy_row_here(formula, xs, ref, opts, tol, note)
            jobs.append(_Job("sympy", lambda cancel: done, estimate=0.0))
        elif opts.form == "compact":  # a big net: in a thread beside the engines (no fork), left at the time limit
            jobs.append(_Job("sympy", lambda cancel: _sympy_row_here(formula, xs, ref, opts, tol, note),
                             estimate=estimate, hard=False))
        else:
            jobs.append(_Job("sympy", lambda cancel: _sympy_row_bounded(formula, xs, ref, opts, tol, cancel, note),
                             estimate=estimate))
    try:
        for e in engines:
            jobs.append(_engine_job(e, net, code, xs, ref, opts, tol, compact, files, sole=len(engines) == 1))
        if net.origin is not None:  # in a thread beside the others (a .pt2 program can take seconds)
            jobs.insert(0, _Job(f"source ({net.origin.name})", lambda cancel: _source_row(net, xs, ref),
                                estimate=0.0))
        report.rows = _run(jobs, opts.timeout, add, opts.progress)
        if opts.per_layer or not report.passed:
            _per_layer(report, net, code, xs, engines, opts.call, opts.tolerance(), opts)  # layers: their own
    finally:
        for j in jobs:
            j.cleanup()
        files.close()
        if owned:
            for e in engines:
                e.close()
    if opts.digits is not None and not given_code:
        report.notes.append(f"the code has weights rounded to {_digits_words(opts.digits)}: the errors against "
                            f"the exact net (max rel {report.max_rel_err:.2g}) are the rounding's")
    if opts.raise_on_failure and not report.passed:
        raise CheckFailedError(report)
    return report


def _per_layer(report, net, code, xs, engines, call, tol, opts: CheckOptions) -> None:
    from .perlayer import diagnose

    try:
        diagnose(report, net, code, xs, engines, call=call, tol=tol, table=opts.per_layer, sympy=opts.sympy,
                 timeout=opts.timeout)
    except Exception as e:  # noqa: BLE001 - a diagnosis that cannot run leaves the check's verdict as it is
        report.notes.append(f"per layer: could not run: {type(e).__name__}: {' '.join(str(e).split())[:200]}")


def _digits_words(digits) -> str:
    return "float32's shortest digits" if digits == "float32" else f"{digits} significant digits"


def _notes(net, opts: CheckOptions, engines, used: str, dropped) -> list[str]:
    """What the report says before its rows: which engines 'auto' found, conversion notes, dropped samples."""
    notes = []
    if opts.engine == "auto" and "wolfram" not in used:
        notes.append("auto: no Wolfram Engine found (set WOLFRAM_KERNEL to use one); "
                     f"checked in the embedded engine(s) {used.replace('+', ' and ')}")
    if opts.engine == "auto" and [e.name for e in engines] in (["woxi"], ["mathics"]):
        notes.append(f"only {engines[0].name} is installed; 'auto' checks in Woxi and Mathics3 together "
                     "when both are: pip install 'wlbridge[engines]'")
    notes.extend(n for n in net.meta.get("notes", ()) if isinstance(n, str))  # e.g. a dtype conversion
    if dropped is not None and dropped.any():
        notes.append(f"{int(dropped.sum())} sampled inputs dropped: the reference is not finite there")
    return notes + _honesty_notes(net)


def _outside_box(net, opts: CheckOptions, xs) -> list[str]:
    """Given inputs outside the box of a piecewise / tree form: say that the form is undefined there."""
    if opts.box is None or opts.inputs is None:
        return []
    from ..analysis.piecewise import parse_box

    lower, upper = parse_box(net, opts.box, opts.form)
    flat = np.concatenate([np.asarray(x, dtype=np.float64).reshape(len(x), -1) for x in xs], axis=1)
    out = int(np.sum(np.any((flat < lower) | (flat > upper), axis=1)))
    return [f"{out} of the {len(flat)} given inputs lie outside the box: form={opts.form!r} is Indeterminate "
            "(sympy: nan) there"] if out else []


OWN_FORMULA = "checks wlbridge's own formula (net.to_sympy), not the given code"


def _honesty_notes(net) -> list[str]:
    """Say what the reference is when the original net could not be run."""
    if net.origin is not None:
        return []
    if "wl_version" in net.meta:
        return ["the reference is wlbridge's own reading of the Wolfram net file; the original net was not run "
                "in Wolfram (from_wolfram with a kernel session does that)"]
    if net.meta.get("source"):
        return [f"the source net ({net.meta['source']}) was not run (origin=False, or no installed runtime could "
                "load it): the reference is wlbridge's numpy evaluation of the converted net"]
    return []  # built in Python: the IR is the net


def _warm_sympy(net=None) -> None:
    """Import (and run once) what the sympy worker needs, before any fork: see ``_engine_job``; with ``net``,
    compile its elementwise layers (the worker inherits them)."""
    from ..emit.sympy_layers import warm
    from . import sympy_eval  # noqa: F401

    warm(net)


class _Job:
    """One evaluator: ``run(cancel) -> Row`` in a thread (``row`` when already known, e.g. skipped)."""

    def __init__(self, name: str, run, estimate: float = 0.0, row: Row | None = None, hard: bool = True):
        self.name, self.run, self.estimate, self.row, self.hard = name, run, estimate, row, hard
        self.started = 0.0
        self.cleanup = lambda: None


def _run(jobs: list[_Job], timeout, on_row, progress) -> list[Row]:
    """Run the jobs concurrently; rows in the jobs' order, ``on_row`` called as each finishes."""
    def emit(job):
        if on_row is not None:
            bar.write(lambda: on_row(job.row))  # the bar cleared first: a row never lands on its line
        bar.row_done(job.name)

    waiting = [j for j in jobs if j.row is None]
    estimate = max((j.estimate for j in waiting), default=0.0)
    bar = Progress({j.name: j.estimate for j in waiting}, enabled=wanted(progress, estimate), limit=timeout,
                   heartbeat=heartbeat_wanted(progress))
    for j in jobs:
        if j.row is not None:
            emit(j)
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, len(waiting)), thread_name_prefix="wlbridge-check")
    try:
        futures = {}
        for j in waiting:
            j.started = time.monotonic()
            futures[pool.submit(j.run, cancel)] = j
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for f in done:
                j = futures[f]
                j.row = f.result()
                emit(j)
            for f in list(pending):  # engines with no killable worker: give up on them at the limit
                j = futures[f]
                elapsed = time.monotonic() - j.started
                if not j.hard and timeout is not None and elapsed > timeout + 1.0:
                    j.row = timed_out(j.name, 0, elapsed, timeout, "abandoned; the engine may still be busy")
                    pending.discard(f)
                    emit(j)
            bar.tick()
    finally:
        cancel.set()  # kills any worker still running (an exception or Ctrl-C here)
        pool.shutdown(wait=all(j.hard for j in waiting), cancel_futures=True)
        bar.close()
    return [j.row for j in jobs]


def _engine_job(engine, net, code, xs, ref, opts: CheckOptions, tol, compact, files: ArrayFiles,
                sole=False) -> _Job:
    """One engine's job: an embedded engine's planned row (:mod:`.plan`), or a kernel's one batch call."""
    n = len(xs[0])
    budget, timeout = opts.mathics_budget, opts.timeout
    if not isinstance(engine, KillableEngine):
        return _kernel_job(engine, net, code, xs, ref, opts.call, tol, timeout)
    estimate = woxi_seconds(len(code), n, sum(x[0].size for x in xs), files=files.enabled)
    limits, knob = Limits(budget=None, first=None, timeout=timeout), "timeout"
    if isinstance(engine, MathicsEngine):
        once, each = mathics_cost(code, net, compact)
        first = (once + each) * load_factor()
        cap, knob = (2 * timeout, "timeout") if sole and timeout is not None else (budget, "mathics_budget")
        if not (sole and timeout is None) and first > cap:  # hopeless by the cost model: not started
            drop_starting(engine)  # a worker still starting would only take CPU from the other rows
            why = (f"one sample would take ~{first:.0f} s by the Mathics3 cost model at this load ({knob} "
                   f"{cap / 2 if knob == 'timeout' else cap:g} s; raise {knob}= to run it)")
            return _Job(engine.name, None, row=skipped(engine.name, why))
        limits = Limits(budget=budget, first=None if sole else budget, timeout=timeout)
        knob = "mathics_budget"
        estimate = MATHICS_START_S + min(budget, once + n * each)

    worker = [lease(engine)]  # forked here, in the calling thread: Mathics3 starts while the other rows run

    def run(cancel) -> Row:
        w = worker.pop()  # planned_row releases it
        return planned_row(engine, files, xs, ref, limits=limits, call=opts.call, worker=w,
                           output_shapes=net.output_shapes, tol=tol, cancel=cancel, budget_name=knob)

    job = _Job(engine.name, run, estimate=estimate, hard=True)
    job.cleanup = lambda: worker and release(engine, worker.pop())  # a job that never ran (interrupted)
    return job


def _kernel_job(engine, net, code, xs, ref, call, tol, timeout) -> _Job:
    """A Wolfram kernel: the whole batch in one call, given up on (not killed) past the timeout."""
    def run(cancel) -> Row:
        t0 = time.perf_counter()
        result = engine.apply(code, xs, timeout=timeout, call=call, output_shapes=net.output_shapes)
        if result.problem and "timed out" in result.problem:  # the kernel's own limit
            return timed_out(engine.name, len(xs[0]), result.seconds or time.perf_counter() - t0, timeout or 0.0,
                             result.problem)
        return _engine_row(engine, result, ref, tol, "")

    return _Job(engine.name, run, estimate=woxi_seconds(len(code), len(xs[0]), sum(x[0].size for x in xs)),
                hard=False)


HERE_SECONDS = 0.5  # the compact sympy row of a net whose reference took at most this runs first, in this thread


def _sympy_row_here(net, xs, ref, opts: CheckOptions, tol, note="") -> Row:
    """The compact form's sympy row without a worker process: it is numpy work over the batch, bounded like the
    reference's. When the reference took at most ``HERE_SECONDS``, it runs in the calling thread before the
    other rows start: in a forked worker its copy-on-write pages and BLAS start cost 4-35 ms, and in a fresh
    thread beside the engines' OpenBLAS's wake-up ~8 ms, on a 256-512-512-10 MLP whose row takes 0.3 ms. A
    bigger net's row runs in a thread beside the engines. The expanded and region forms, which sympy may take
    unbounded time to build, go to a killable worker."""
    row = _sympy_row(net, xs, ref, opts, tol)
    row.note = "; ".join(filter(None, [row.note, note]))
    return row


def _sympy_row_bounded(net, xs, ref, opts: CheckOptions, tol, cancel, note="") -> Row:
    """The sympy row of the expanded or a region form, in a killable worker."""
    t0 = time.perf_counter()
    timeout = opts.timeout
    try:
        row = run_killable(lambda: _sympy_row(net, xs, ref, opts, tol), timeout, cancel)
        row.note = "; ".join(filter(None, [row.note, note]))
        return row
    except WorkerTimeout:
        return timed_out("sympy", len(xs[0]), time.perf_counter() - t0, timeout, "worker killed")
    except WorkerCancelled:
        return skipped("sympy", "cancelled")
    except Exception as e:  # the worker died
        return failed(Row("sympy", len(xs[0]), rtol=tol["rtol"]), f"{type(e).__name__}: {e}")


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
    integer = str(net.origin.dtype).startswith(("int", "uint", "bool"))  # token indices: it computes in the weights'
    rtol = source_rtol(net.dtype if integer else net.origin.dtype)
    t0 = time.perf_counter()
    try:
        got = _outputs(net.origin.evaluate(*xs))
    except Exception as e:  # the source library's own failure: shown, not raised
        return failed(Row(name, len(xs[0]), rtol=rtol, kind="source"), f"{type(e).__name__}: {e}")
    return compare(name, ref, got, rtol=rtol, kind="source", seconds=time.perf_counter() - t0,
                   integers=integer_outputs(net))


def _sympy_row(net, xs, ref, opts: CheckOptions, tol) -> Row:
    t0 = time.perf_counter()
    try:
        from .sympy_eval import evaluate_sympy

        settings = {"max_size": opts.max_size} if opts.max_size else {}
        if opts.box is not None:
            settings["box"] = opts.box
        got = evaluate_sympy(net, xs, form=opts.form, **settings)
    except (ImportError, NotImplementedError, ExpressionTooLargeError, UnsupportedLayerError) as e:
        return skipped("sympy", f"not evaluated: {e}")
    except Exception as e:
        return failed(Row("sympy", len(xs[0]), rtol=tol["rtol"]), f"{type(e).__name__}: {e}")
    return compare("sympy", ref, got, seconds=time.perf_counter() - t0, **tol)


def _engine_row(engine, result, ref, tol, note) -> Row:
    n = len(ref[0])
    if result.values is None or result.problem:
        row = Row(engine.name, n, rtol=tol["rtol"], seconds=result.seconds, note=note)
        msgs = "; ".join(result.messages[:5])
        problem = (result.problem or "failed").removeprefix(f"{engine.name}: ")
        return failed(row, problem + (f"; messages: {msgs}" if msgs else ""))
    return compare(engine.name, ref, result.values, seconds=result.seconds, note=note, **tol)
