"""A pool of forked workers, each case under an alarm and an address-space limit.

Workers are forked once from a parent that already imported wlbridge and its libraries; each runs
cases until it dies (a hang is killed by SIGALRM's default action, then the worker is replaced).
Classes: ``ok`` (read, evaluated, emitted), ``typed`` (a WlbridgeError), ``crash`` (any other
exception), ``hang`` (past the time limit), ``oom`` (MemoryError or killed past the memory limit).

The time limit is CPU time (``ITIMER_PROF``, whose SIGPROF ends the worker even inside C code): on
a machine shared by many, wall-clock time says more about the neighbours than about the case. A
case blocked without using CPU is caught by the parent's wall-clock limit (``wall_limit``).
The HDF5 reader's own worker gets ``parse_seconds = time_limit`` (wall clock).
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import signal
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

CLASSES = ("ok", "typed", "crash", "hang", "oom")
SYMPY_MAX_INPUTS = 64
SUFFIX = {"wlnet": ".wlnet", "wxf": ".wxf", "onnx": ".onnx", "pt2": ".pt2"}


@dataclass
class Result:
    fmt: str
    case: int
    kind: str  # mutation level
    cls: str
    where: str = ""  # for crashes: exception type and innermost wlbridge frame
    seconds: float = 0.0  # CPU seconds of the case (its HDF5 reader process included)
    wall: float = 0.0


def exercise(path: str) -> None:
    """What a user does with a file: load it, evaluate the reference, emit WL and sympy."""
    import wlbridge as wb

    net = wb.load(path)
    xs = [np.zeros(p.shape) for p in net.inputs]
    net(*xs)
    net.to_wl()
    if sum(p.size for p in net.inputs) <= SYMPY_MAX_INPUTS:  # to_sympy of a CNN is slow by itself
        net.to_sympy()


def crash_site(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "wlbridge" in f.filename] or frames
    f = ours[-1] if ours else None
    at = f"{Path(f.filename).name}:{f.lineno}" if f else "?"
    return f"{type(e).__name__} at {at}: {str(e)[:160]}"


def _vm_bytes() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _worker(conn, fmt_seeds: dict, time_limit: int, mem_limit: int) -> None:
    from wlbridge.errors import WlbridgeError

    from .mutate import mutate

    if mem_limit:
        limit = _vm_bytes() + mem_limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    logging.disable(logging.CRITICAL)  # torch.export.load logs whole tracebacks before it raises
    warnings.simplefilter("ignore")  # a spinning C library cannot ignore it
    tmp = tempfile.mkdtemp(prefix="wlbfuzz")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            break
        if job is None:
            break
        fmt, case = job
        data, kind = mutate(fmt, fmt_seeds[fmt], case)
        path = os.path.join(tmp, "case" + SUFFIX[fmt])
        with open(path, "wb") as f:
            f.write(data)
        t, cpu = time.perf_counter(), _cpu()
        signal.setitimer(signal.ITIMER_PROF, time_limit)
        try:
            exercise(path)
            cls, where = "ok", ""
        except WlbridgeError:
            cls, where = "typed", ""
        except MemoryError as e:
            cls, where = "oom", crash_site(e)
        except Exception as e:  # noqa: BLE001 - what the campaign looks for
            cls, where = "crash", crash_site(e)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        conn.send(Result(fmt, case, kind, cls, where, _cpu() - cpu, time.perf_counter() - t))


def _cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


class Pool:
    """``Pool(seeds, workers).run(cases) -> iterator of Result``; ``cases`` are ``(fmt, case_seed)``."""

    def __init__(self, fmt_seeds: dict, workers: int = 2, time_limit: int = 10, mem_limit: int = 1 << 30,
                 wall_limit: float = 300.0):
        self.ctx = mp.get_context("fork")
        self.args = (fmt_seeds, time_limit, mem_limit)
        self.time_limit, self.wall_limit = time_limit, wall_limit
        self.workers = [self._start() for _ in range(workers)]

    def _start(self):
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker, args=(child, *self.args), daemon=True)
        p.start()
        child.close()
        return {"proc": p, "conn": parent, "job": None, "since": 0.0}

    def run(self, cases):
        cases = iter(cases)
        busy = 0
        for w in self.workers:
            busy += self._give(w, cases)
        while busy:
            ready = wait([w["conn"] for w in self.workers if w["job"]] +
                         [w["proc"].sentinel for w in self.workers if w["job"]], timeout=1.0)
            for i, w in enumerate(self.workers):
                if not w["job"]:
                    continue
                res = None
                if w["conn"] in ready and w["conn"].poll():
                    try:
                        res = w["conn"].recv()
                    except EOFError:
                        res = None
                if res is None and (w["proc"].sentinel in ready or
                                    time.monotonic() - w["since"] > self.wall_limit):
                    res = self._died(w)
                    w = self.workers[i] = {**self._start(), "job": w["job"]}
                if res is not None:
                    w["job"] = None
                    busy -= 1
                    busy += self._give(w, cases)
                    yield res

    def _died(self, w) -> Result:
        p = w["proc"]
        if p.is_alive():
            p.kill()
        p.join()
        fmt, case = w["job"]
        code = p.exitcode or 0
        elapsed = time.monotonic() - w["since"]
        if code == -signal.SIGPROF:
            return Result(fmt, case, "?", "hang", f"past {self.time_limit} s of CPU time", self.time_limit, elapsed)
        if elapsed > self.wall_limit:
            return Result(fmt, case, "?", "hang", f"blocked for {elapsed:.0f} s (wall clock)", 0.0, elapsed)
        if code == -signal.SIGKILL:
            return Result(fmt, case, "?", "oom", "killed (SIGKILL)", 0.0, elapsed)
        return Result(fmt, case, "?", "crash", f"worker died with exit code {code}", 0.0, elapsed)

    def _give(self, w, cases) -> int:
        job = next(cases, None)
        if job is None:
            return 0
        w["job"], w["since"] = job, time.monotonic()
        w["conn"].send(job)
        return 1

    def close(self):
        for w in self.workers:
            try:
                w["conn"].send(None)
            except (BrokenPipeError, OSError):
                pass
            w["proc"].join(timeout=2)
            if w["proc"].is_alive():
                w["proc"].kill()
