"""One embedded engine's row of a check, planned from its measured first sample.

The engine runs in a :class:`~wlbridge.check.worker.Worker` (a forked process kept for the row):
it starts (Mathics3's start-up, ~10 s, overlaps the other rows), reads the array files and defines
the function (:mod:`wlbridge.check.arrays`), evaluates sample 1, and then -- from that sample's
measured time -- as many more samples as fit in what is left of its budget, in growing chunks
(each at most twice the samples done, so one slow chunk loses little). A chunk that does not
finish in the time left is killed and the row keeps the samples done before it.

The rule (see :attr:`CheckReport.passed`): a row with at least one sample compared is judged on
those samples; one that ran fewer than asked says so in its note (``12 of 64 samples: ...``). A row
with no sample at all (start-up or first sample past the limit) is ``timed out``: a note, not a
failure, when another WL engine passed; the check is INCOMPLETE when no WL engine produced a
number.
"""
from __future__ import annotations

import atexit
import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from .arrays import ArrayFiles
from .report import Row, compare, failed, skipped, timed_out
from .worker import Worker, WorkerCancelled, WorkerCrashed, WorkerTimeout

GROWTH = 2  # a chunk is at most this many times the samples done so far (a killed chunk loses little)
KILL_GRACE = 0.5  # a chunk's worker is killed this long after its limit (an engine's own stop comes first)
MARGIN = 0.85  # plan chunks to fill this share of the time left (the first sample's time is noisy)


@dataclass(frozen=True)
class Limits:
    """Seconds an engine's row may take (``None``: no limit).

    ``budget``: the planned samples must fit in it, and ``first``: the first sample must end by it,
    both counted from when the engine is ready (its start-up done, e.g. Mathics3's ~10 s);
    ``timeout``: the hard end, counted from the row's start (start-up included)."""

    budget: float | None
    first: float | None
    timeout: float | None


def lease(engine) -> Worker:
    """A worker for ``engine``, forked now (its start-up begins at once, beside the caller's work).

    An engine with ``keep_worker`` (Mathics3: a 10 s start-up) gets the process's kept worker when
    one is alive and idle, so later checks in the same process start at once; see :func:`release`."""
    if getattr(engine, "keep_worker", False):
        with _KEPT_LOCK:
            kept = _KEPT.pop(type(engine), None)
        if kept is not None and kept.alive():
            return kept
        if kept is not None:
            kept.close()
    return Worker(engine.prepare, _server(engine))


def prestart(engine: str = "auto", kernel: str | None = None) -> bool:
    """Start Mathics3's kept worker now (when ``engine`` would check in it), so that its start-up
    overlaps what comes before the check (reading the model, the reference); True if started.

    The CLI calls this first; a Python caller can too, e.g. before loading a big model."""
    from .engines import MathicsEngine, _installed
    from .wolfram import find_kernel

    if engine not in ("auto", "mathics", "embedded") or not _installed("mathics.session"):
        return False
    if engine == "auto":
        try:
            if find_kernel(kernel) is not None:
                return False
        except Exception:  # a bad kernel path: check reports it
            return False
    with _KEPT_LOCK:
        if MathicsEngine in _KEPT:
            return False
    release(MathicsEngine(), Worker(MathicsEngine().prepare, _server(MathicsEngine())), started=False)
    return True


def release(engine, worker: Worker, started: bool = True) -> None:
    """Keep ``worker`` for the next check (a ``keep_worker`` engine's, still alive), else end it."""
    if getattr(engine, "keep_worker", False) and worker.alive() and (worker.ready or not started):
        with _KEPT_LOCK:
            if type(engine) not in _KEPT:
                _KEPT[type(engine)] = worker
                return
    worker.close()


def drop_starting(engine) -> None:
    """End ``engine``'s kept worker if it is still starting (nobody needs it now: its start-up would
    take CPU from the other rows); a ready one stays for later checks."""
    with _KEPT_LOCK:
        kept = _KEPT.get(type(engine))
        if kept is None or kept.ready:
            return
        del _KEPT[type(engine)]
    kept.close()


def close_kept() -> None:
    """End the kept workers (at exit)."""
    with _KEPT_LOCK:
        kept = list(_KEPT.values())
        _KEPT.clear()
    for w in kept:
        w.close()


_KEPT: dict = {}
_KEPT_LOCK = threading.Lock()
atexit.register(close_kept)


def planned_row(engine, code: str | ArrayFiles, xs, ref, *, limits: Limits, call: str = "list",
                output_shapes=None, tol: dict, cancel=None, budget_name: str = "timeout",
                worker: Worker | None = None) -> Row:
    """``engine``'s row: ``code`` evaluated on as many of the samples ``xs`` as fit (see the module).

    ``code``: the code as text (sent inline), or the check's :class:`ArrayFiles` (its literals read
    from files). ``worker``: from :func:`lease` (default: leased here); it is released at the end."""
    t0 = time.monotonic()
    n = len(xs[0])
    worker = worker or lease(engine)

    def until(end: float | None, since: str = "start") -> float | None:
        """Seconds left to ``end``, counted from the row's start or from when the engine was ready."""
        if end is None:
            return None
        return max(0.0, (t0 if since == "start" else t_ready + run.start) + end - time.monotonic())

    try:
        template, reads, found, written = (code.get() if isinstance(code, ArrayFiles) else (code, None, [], 0.0))
    except Exception as e:  # the files could not be written (disk full, ...), or do not spell the literals
        release(engine, worker)
        return failed(Row(engine.name, 0, rtol=tol["rtol"]), f"array files: {type(e).__name__}: {e}")
    transport = (f"arrays from {len(found)} files ({sum(len(lit.tokens) for lit in found)} numbers)"
                 if found else "arrays inline")
    run = _Run(engine.name, n, transport, arrays="files" if found else "inline")
    run.write = written
    t_ready = time.monotonic()  # (plus run.start, once started: when the engine was ready)
    try:
        if not worker.ready:
            worker.receive(until(limits.timeout), cancel)
            worker.ready = True
        run.start = time.monotonic() - t_ready
        run.read, run.define, messages = worker.call(("define", template, reads), until(limits.timeout), cancel)
        if messages:
            return run.failed(tol, "engine message(s) defining the function: " + "; ".join(messages[:5]))
        _samples(worker, run, xs, limits, until, cancel, call, output_shapes, budget_name)
    except WorkerTimeout:
        run.stop = run.stop or ("start-up did not finish" if not worker.ready else
                                "reading and defining did not finish" if run.define is None else "")
    except WorkerCancelled:
        return skipped(engine.name, "cancelled")
    except WorkerCrashed as e:
        return run.failed(tol, str(e))
    except Exception as e:  # the engine's own error (EngineError), raised in the worker
        return run.failed(tol, f"{type(e).__name__}: {e}")
    finally:
        release(engine, worker)
    return run.row(ref, tol, time.monotonic() - t0, limits, budget_name)


def _server(engine):
    def serve(request):
        kind, *args = request
        if kind == "define":
            return engine.define(*args)
        inputs, limit, kwargs = args
        return engine.apply_defined(inputs, limit=limit, **kwargs)

    return serve


def _samples(worker, run, xs, limits, until, cancel, call, output_shapes, budget_name) -> None:
    """Evaluate sample 1, then planned chunks, into ``run`` (stops at the budget or a killed chunk)."""
    n, per = run.n, None
    while run.done < n:
        end = limits.first if per is None else limits.budget
        left = [t for t in (until(end, "ready"), until(limits.timeout)) if t is not None]
        limit = min(left, default=None)
        k = 1
        if per is not None:
            k = n - run.done if limit is None else min(n - run.done, int(MARGIN * limit / max(per, 1e-9)))
            k = min(k, GROWTH * run.done)
            if k <= 0:
                run.stop = f"~{per:.2g} s a sample; {budget_name} {limits.budget or limits.timeout or 0:g} s"
                return
        chunk = [x[run.done:run.done + k] for x in xs]
        try:
            request = ("apply", chunk, limit, dict(call=call, output_shapes=output_shapes))
            result = worker.call(request, None if limit is None else limit + KILL_GRACE, cancel)
        except WorkerTimeout:
            run.stop = _unfinished(per, k, limits, budget_name)
            return
        if result.problem and "timed out" in result.problem:  # the engine's own stop (TimeConstrained)
            run.stop = _unfinished(per, k, limits, budget_name)
            return
        if not result.ok:
            run.problem = result
            return
        run.values.append(result.values)
        run.evaluate += result.seconds
        run.done += k
        per = result.seconds / k


def _unfinished(per, k: int, limits: Limits, budget_name: str) -> str:
    if per is None:
        return "the first sample did not finish"
    limit = limits.budget or limits.timeout
    return f"{k} more did not finish in the {budget_name}" + (f" ({limit:g} s)" if limit is not None else "")


class _Run:
    """What one engine's row has measured so far."""

    def __init__(self, name: str, n: int, transport: str, arrays: str):
        self.name, self.n, self.transport, self.arrays = name, n, transport, arrays
        self.start = self.read = self.write = 0.0
        self.define = None
        self.evaluate = 0.0
        self.done = 0
        self.values: list = []
        self.stop = ""
        self.problem = None

    def timing(self) -> str:
        parts = [self.transport]
        if self.arrays == "files":
            parts.append(f"written in {self.write:.2f} s, read {self.read:.2f} s")
        parts.append(f"evaluate {(self.define or 0.0) + self.evaluate:.2f} s")
        if self.start >= 0.5:
            parts.append(f"start-up {self.start:.1f} s")
        return ", ".join(parts)

    def failed(self, tol: dict, problem: str) -> Row:
        row = failed(Row(self.name, self.done, rtol=tol["rtol"]), problem)
        row.note += "; " + self.timing()
        return self._fields(row)

    def _fields(self, row: Row) -> Row:
        row.arrays, row.read_seconds, row.start_seconds = self.arrays, self.read, self.start
        row.seconds = self.read + (self.define or 0.0) + self.evaluate
        return row

    def row(self, ref, tol: dict, wall: float, limits: Limits, budget_name: str) -> Row:
        if self.problem is not None:
            r = self.problem
            msgs = "; ".join(r.messages[:5])
            problem = (r.problem or "failed").removeprefix(f"{self.name}: ")
            return self.failed(tol, problem + (f"; messages: {msgs}" if msgs else ""))
        if self.done == 0:
            first = self.define is not None and limits.first is not None
            limit = limits.first if first else limits.timeout
            knob = budget_name if limit == limits.budget else "timeout"
            limit = math.inf if limit is None else limit
            why = self.stop or "stopped"
            row = timed_out(self.name, 0, wall, limit, why)
            row.note = (f"timed out after {limit:g} s with no sample ({why}); raise {knob}= "
                        f"(--{knob.replace('_', '-')}) to give it more time; {self.timing()}")
            return self._fields(row)
        got = [np.concatenate(parts) for parts in zip(*self.values)]
        note = self.timing()
        if self.done < self.n:
            note = f"{self.done} of {self.n} samples ({self.stop}); " + note
        return self._fields(compare(self.name, [r[:self.done] for r in ref], got, note=note, **tol))
