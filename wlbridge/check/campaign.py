"""Campaigns: many models checked in one run, each a task of a :class:`~wlbridge.parallel.Runner`
(this process, a local process pool, or Ray), reports streamed back as each model finishes.

``check_many(models, jobs=, cluster=, on_report=, **check options)`` returns one
:class:`~wlbridge.check.report.CheckReport` per model, in the order given (files, folders and globs
expanded in sorted order); ``on_report(report)`` is called in the calling process as each one
arrives. A model that cannot be read or checked is a report with ``error`` set (verdict ``ERROR``),
never an exception: a campaign always finishes. Each model is a task with its own time cap
(``model_timeout``): it runs in a forked child that is killed at the cap, whatever backend runs it.

Reports are the same whatever runs them (times aside): each task checks one model with the same
settings and seed; the order of the returned list is the order of the models.

>>> import wlbridge as wb
>>> b = wb.NetBuilder("t"); x = b.input("x", (2,)); net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> [r.verdict for r in check_many([net], jobs=1, engine="woxi", samples=4)]  # doctest: +SKIP
['PASSED']
"""
from __future__ import annotations

import glob
import inspect
import os
import pickle
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .._options import _explain
from ..errors import OptionError, WlbridgeError
from ..parallel import Runner
from .report import CheckReport

MODEL_SUFFIXES = (".onnx", ".wlnet", ".wxf", ".pt2")  # what a folder contributes
IN_FLIGHT = 2  # tasks submitted per worker at a time (the rest wait here, not in the pool or Ray's queue)
PRELOAD = ("wlbridge.check.preload",)  # loaded once by the local pool's fork server, shared by its workers
CAMPAIGN_DEFAULTS = dict(progress=False)  # no progress bar per model: the campaign prints rows


def expand_models(items: Iterable) -> list:
    """Model files from ``items``: files as given, folders' model files (``MODEL_SUFFIXES``, recursively,
    sorted), glob patterns' matches (sorted); Nets pass through. A path that matches nothing stays,
    so its report says it is missing.

    >>> expand_models(["no-such.onnx"])
    ['no-such.onnx']
    """
    out: list = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            out.append(item)
            continue
        text = os.fspath(item)
        if os.path.isdir(text):
            out += sorted(str(p) for p in Path(text).rglob("*") if p.suffix.lower() in MODEL_SUFFIXES and p.is_file())
        elif not os.path.exists(text) and glob.has_magic(text):
            out += sorted(glob.glob(text, recursive=True)) or [text]
        else:
            out.append(text)
    return out


def check_many(models: Iterable, *, jobs: int | None = None, cluster: str | None = None,
               on_report: Callable[[CheckReport], None] | None = None, simplify: bool = False,
               model_timeout: float | None | str = "auto", load: dict | None = None, **check_options) -> list[CheckReport]:
    """Check each model (a file, folder, glob, or :class:`~wlbridge.ir.Net`); one report per model, in order.

    ``jobs``: models checked at once (None: one per core; 1: in this process); ``cluster``: None or
    'local' (this machine), 'ray' (a local Ray instance), 'ray://HOST:PORT' (a Ray cluster whose workers
    have wlbridge installed). ``on_report(report)`` is called as each model finishes, in the order
    they finish. ``simplify``: fold BatchNorm etc. first (as ``--simplify``). ``model_timeout``: each
    model's task (loading, reference, check) is killed after this many seconds and reported as timed
    out ('auto': 4 x ``timeout``; None: no limit). ``load``: :func:`wlbridge.load`'s keywords for the model
    files (``input_names``, ``sequence_length``). Every other keyword is a
    :func:`~wlbridge.check.roundtrip.check` option (``engine``, ``samples``, ``seed``, ``timeout``,
    ``per_layer``, ...), the same for every model.
    """
    options = campaign_options(check_options)
    cap = model_cap(options, model_timeout)
    task = Task(simplify, dict(load or {}))
    items = expand_models(models)
    reports: list[CheckReport | None] = [None] * len(items)

    def arrived(fut, i) -> None:
        try:
            report = fut.result()
        except Exception as e:  # noqa: BLE001 - the task itself died (a worker killed, Ray lost a node)
            report = _died(items[i], e)
        reports[i] = report
        if on_report is not None:
            on_report(report)

    with Runner(jobs=jobs, cluster=cluster, preload=PRELOAD) as run:
        remote = run.cluster not in (None, "ray")  # a cluster's workers do not see this machine's files
        queue, futures = list(enumerate(items))[::-1], {}
        while queue or futures:
            while queue and len(futures) < IN_FLIGHT * run.workers:  # a few per worker: bytes read as needed
                i, item = queue.pop()
                futures[_submit(run, ModelFile.read(item) if remote else item, options, task, cap)] = i
                if futures and next(reversed(futures)).done():  # serially: done at once, streamed as it ends
                    break
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in done:
                arrived(fut, futures.pop(fut))
    return reports


@dataclass(frozen=True)
class Task:
    """What a campaign does to each model before its check: how to read its file, and whether to fold it."""

    simplify: bool = False
    load: dict = field(default_factory=dict)  # wlbridge.load's keywords (input_names, sequence_length)


def _submit(run: Runner, item, options: dict, task: Task, cap) -> Future:
    """The task's future; one holding the error when the runner cannot take it (a broken pool). A net that
    cannot travel to a worker (it holds its source model: a torch module, an onnxruntime session) is
    checked here instead, with its source row, as ``jobs=1`` would (without ``model_timeout``)."""
    if run.kind != "serial" and not _travels(item):  # here, not in a fork: this process has threads by now
        return Runner(jobs=1).submit(check_here, item, options, task)
    try:
        return run.submit(check_one, item, options, task, cap)
    except Exception as e:  # noqa: BLE001 - e.g. BrokenProcessPool: a worker died; the model's report says so
        fut: Future = Future()
        fut.set_exception(e)
        return fut


def _travels(item) -> bool:
    """Whether ``item`` can be pickled for a worker process or a Ray task (files and plain nets can)."""
    if isinstance(item, (str, os.PathLike, ModelFile)):
        return True
    try:
        pickle.dumps(item)
    except Exception:  # noqa: BLE001 - a closure, a module, a native session: whatever pickle refuses
        return False
    return True


def campaign_options(options: dict) -> dict:
    """``options`` checked against :func:`~wlbridge.check.roundtrip.check`'s keywords (and the campaign's
    defaults added); an unknown one is an :class:`OptionError` naming the valid ones."""
    from .roundtrip import check

    known = [k for k, p in inspect.signature(check).parameters.items() if p.kind is p.KEYWORD_ONLY]
    for k in ("on_row", "raise_on_failure"):  # per-model callbacks and raising do not cross a process
        known.remove(k)
    if set(options) - set(known):  # said as every other door says it (OptionError, the nearest name)
        valid = ["jobs", "cluster", "on_report", "simplify", "model_timeout", *known]
        raise OptionError("check_many: " + _explain(valid, options, TypeError()))
    engine = options.get("engine", "auto")
    if not isinstance(engine, str):
        raise WlbridgeError("check_many: engine= must be a name ('auto', 'woxi', 'mathics', 'embedded', 'wolfram'): "
                            "each worker opens its own engines")
    return {**CAMPAIGN_DEFAULTS, **options}


@dataclass(frozen=True)
class ModelFile:
    """A model file's name and bytes, sent to a Ray cluster's workers (which do not see this machine's files)."""

    path: str
    data: bytes

    @classmethod
    def read(cls, item):
        """``item``'s bytes when it is a readable regular file (a Net, or anything else, as it is)."""
        if not isinstance(item, str) or not os.path.isfile(item):
            return item
        with open(item, "rb") as f:
            return cls(item, f.read())

    def load(self, **options):
        import tempfile

        import wlbridge as wb

        with tempfile.TemporaryDirectory(prefix="wlbridge-model-") as folder:
            local = os.path.join(folder, os.path.basename(self.path))
            with open(local, "wb") as f:
                f.write(self.data)
            net = wb.load(local, **options)
        return net


def check_one(item, options: dict, task: Task = Task(), cap: float | None = None) -> CheckReport:
    """One campaign task: load ``item`` (a path, a :class:`ModelFile` or a Net) and check it, in a forked
    child killed after ``cap`` seconds (None: no limit); a report whatever happens."""
    from . import preload  # noqa: F401 - loaded once per process, before the fork (Mathics3's session)
    from .report import timed_out
    from .worker import WorkerCrashed, WorkerTimeout, run_killable

    label = item.path if isinstance(item, ModelFile) else item if isinstance(item, str) else getattr(item, "name", repr(item))
    try:
        return run_killable(lambda: _check(item, label, options, task), cap)
    except WorkerTimeout:
        row = timed_out("model", 0, float(cap), float(cap), "its task killed: loading, reference and check together")
        row.note = row.note.replace("raise timeout= (--timeout)", "raise model_timeout= (--model-timeout)")
        return CheckReport(net=Path(label).stem, model=label, rows=[row])
    except WorkerCrashed as e:
        return _died(label, e)


def check_here(item, options: dict, task: Task = Task()) -> CheckReport:
    """One model checked in this process (no fork, so no ``model_timeout``: the check's own ``timeout`` still
    bounds each evaluator): for a net that cannot be pickled for a worker."""
    return _check(item, getattr(item, "name", repr(item)), options, task, forked=False)


def _check(item, label: str, options: dict, task: Task, forked: bool = True) -> CheckReport:
    import sys

    import wlbridge as wb

    if forked and "torch" in sys.modules:  # a forked child: the parent's OpenMP threads are gone; a parallel op would wait
        sys.modules["torch"].set_num_threads(1)  # for them forever (libgomp is not fork-safe)
    try:
        net = item
        if isinstance(item, ModelFile):
            net = item.load(**task.load)
        elif isinstance(item, str):
            from ..cli import check_readable

            check_readable(item)
            net = wb.load(item, **task.load)
        if task.simplify:
            net = net.simplify()
        report = net.check(**options)
    except Exception as e:  # noqa: BLE001 - a campaign reports every model; the error is the report
        return _error_report(label, e)
    report.subject = None  # the net and code stay in the worker (large; not needed by the caller)
    report.model = label
    return report


def model_cap(options: dict, model_timeout: float | None | str = "auto") -> float | None:
    """Each model's time cap: ``model_timeout``, or by default 4 x the check's ``timeout`` (None: no cap)."""
    from .roundtrip import DEFAULT_TIMEOUT

    if model_timeout != "auto":
        if model_timeout is not None and not (isinstance(model_timeout, (int, float)) and model_timeout > 0):
            raise WlbridgeError(f"model_timeout={model_timeout!r}: seconds > 0, or None for no limit")
        return model_timeout
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    return None if timeout is None else 4.0 * timeout


def _died(label, e: BaseException) -> CheckReport:
    """The report of a model whose task's process died (out of memory, killed, a broken pool, a lost Ray node)."""
    label = label if isinstance(label, str) else getattr(label, "name", repr(label))
    why = " ".join(f"{type(e).__name__}: {e}".split())[:300]
    return CheckReport(net=Path(label).stem, model=label,
                       error=("WorkerCrashed", f"{label}: the process checking it died without a report ({why})"))


def _error_report(label, e: BaseException) -> CheckReport:
    from ..cli import explain

    label = label if isinstance(label, str) else getattr(label, "name", repr(label))
    message = explain(e, label)
    kind = "InternalError" if message.startswith("internal error") else type(e).__name__
    return CheckReport(net=Path(label).stem, model=label, error=(kind, message))


# ---- what the command line prints ---------------------------------------------------------------------------
def summary_row(report: CheckReport) -> str:
    """One line per model: verdict, worst error, the model, each evaluator's seconds (and why it failed)."""
    from .report import _num

    if report.error is not None:
        return f"  {'ERROR':<10} {'-':>9}  {report.model}  -- {report.error[1]}"
    times = ", ".join(f"{r.evaluator} {r.seconds:.2f}" for r in report.rows if r.passed is not None)
    verdict = report.verdict.split(" (")[0]
    line = f"  {verdict:<10} {_num(report.max_abs_err):>9}  {report.model or report.net}  ({times} s)"
    failed = [f"{r.evaluator}: {r.status}" for r in report.failures]
    if failed:
        line += " -- " + "; ".join(failed)
    if report.divergence is not None:
        d = report.divergence
        line += f"\n{'':13}first diverging layer in {d.evaluator}: {d.where()}"
    return line


def summary_line(reports: list[CheckReport], seconds: float, runner_text: str) -> str:
    """``42 models: 41 passed, 1 failed, 0 errors in 63.2 s (2 local processes)``."""
    errors = sum(r.error is not None for r in reports)
    passed = sum(r.passed for r in reports)
    return (f"{len(reports)} models: {passed} passed, {len(reports) - passed - errors} failed, {errors} errors "
            f"in {seconds:.1f} s ({runner_text})")


def exit_status(reports: list[CheckReport]) -> int:
    """2 if a model could not be checked (read error, bad file), else 1 if one failed, else 0."""
    if any(r.error is not None for r in reports):
        return 2
    return 0 if all(r.passed for r in reports) else 1


def runner_text(jobs: int | None, cluster: str | None) -> str:
    """Where the campaign runs, for its first and last lines."""
    from ..parallel import cpu_count, parse_cluster

    where = parse_cluster(cluster)
    if where is not None:
        return f"Ray {'(local)' if where == 'ray' else where}"
    n = jobs or cpu_count()
    return "this process" if n == 1 else f"{n} local processes"
