"""Where parallel work runs: in this process, a local process pool, or a Ray cluster — one interface.

Campaigns (``check_many``, ``wlbridge check A B DIR/``) and the linear-region search hand work to a
:class:`Runner`: ``submit(fn, *args)`` returns a :class:`concurrent.futures.Future`, so results are
streamed with :func:`concurrent.futures.as_completed` whatever runs them. ``fn`` and its arguments must
be picklable (module-level functions and plain data) for the pool and for Ray.

- ``jobs=1`` (and no cluster): in this process, one task after another (no pickling, easy to debug);
- ``jobs=N``: a local process pool of N workers (``forkserver`` on Linux: safe beside threads);
  ``jobs=None``: one worker per core;
- ``cluster="ray"``: a local Ray instance started here (stopped again on close; ``jobs`` CPUs);
  ``cluster="ray://HOST:PORT"`` (Ray Client) or ``"auto"``/``"HOST:PORT"`` (a running cluster):
  that cluster's workers, which must have wlbridge installed. Ray is an optional extra
  (``pip install 'wlbridge[cluster]'``). No scheduler of ours: Ray's tasks, and futures from them.

>>> with Runner(jobs=1) as run:
...     sorted(f.result() for f in [run.submit(abs, -2), run.submit(abs, 3)])
[2, 3]
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .errors import WlbridgeError

RAY_HINT = "pip install 'wlbridge[cluster]' (Ray) to run on a Ray cluster"


def cpu_count() -> int:
    """The cores this process may use (its CPU affinity where the OS says, else all)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def parse_cluster(cluster: str | None) -> str | None:
    """``None`` / ``"local"`` -> None (this machine); ``"ray"`` (a local Ray instance), ``"ray://HOST:PORT"``,
    ``"auto"`` or ``"HOST:PORT"`` (a running Ray cluster) as given; anything else is a :class:`WlbridgeError`.

    >>> parse_cluster("local") is None, parse_cluster("ray"), parse_cluster("ray://10.0.0.5:10001")
    (True, 'ray', 'ray://10.0.0.5:10001')
    """
    if cluster is None or cluster == "local":
        return None
    if not isinstance(cluster, str) or not cluster.strip():
        raise WlbridgeError(f"cluster={cluster!r}: use None/'local', 'ray', 'ray://HOST:PORT', 'auto' or 'HOST:PORT'")
    text = cluster.strip()
    if text in ("ray", "auto") or text.startswith("ray://") or _host_port(text):
        return text
    raise WlbridgeError(f"cluster={cluster!r}: use None/'local', 'ray', 'ray://HOST:PORT', 'auto' or 'HOST:PORT'")


def _host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit()


def check_jobs(jobs: int | None) -> int | None:
    """``jobs`` validated: None (one per core) or a whole number >= 1."""
    if jobs is None:
        return None
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise WlbridgeError(f"jobs={jobs!r}: a whole number >= 1, or None for one worker per core")
    return jobs


class Runner:
    """Runs submitted tasks serially, in a local process pool, or as Ray tasks (see the module docstring).

    Use it as a context manager; ``workers`` says how many tasks run at once, ``kind`` where
    ('serial', 'processes', 'ray'). ``preload``: modules the local pool's fork server imports once,
    so that its workers start with them loaded (when the fork server is not already running).
    """

    def __init__(self, jobs: int | None = None, cluster: str | None = None, preload: tuple[str, ...] = ()):
        self.cluster = parse_cluster(cluster)
        jobs = check_jobs(jobs)
        self.workers = jobs or cpu_count()
        self._pool: ProcessPoolExecutor | None = None
        self._ray = None
        self._started_ray = False
        self._remotes: dict[Callable, Any] = {}
        self._refs: dict[Future, Any] = {}
        if self.cluster is not None:
            self.kind = "ray"
            self._start_ray()
        elif self.workers == 1:
            self.kind = "serial"
        else:
            self.kind = "processes"
            ctx = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
            if preload and ctx.get_start_method() == "forkserver":
                ctx.set_forkserver_preload(["__main__", *preload])  # imported once; workers fork from it
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)

    # ---- the one interface -------------------------------------------------------------------
    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)``; its result (or exception) arrives through the returned future."""
        if self.kind == "serial":
            fut: Future = Future()
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - delivered through the future, as a pool does
                if isinstance(e, KeyboardInterrupt):
                    raise
                fut.set_exception(e)
            return fut
        if self.kind == "processes":
            return self._pool.submit(fn, *args, **kwargs)
        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._remotes[fn] = self._ray.remote(num_cpus=1, max_retries=0)(fn)
        ref = remote.remote(*args, **kwargs)
        fut = ref.future()
        self._refs[fut] = ref
        return fut

    def cancel(self, fut: Future) -> None:
        """Stop a task: a Ray task is cancelled (its worker killed); a pool's only if it has not started."""
        ref = self._refs.pop(fut, None)
        if ref is not None:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        fut.cancel()

    def close(self) -> None:
        """Stop the pool, or the Ray instance this runner started (a cluster it joined keeps running)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._ray is not None and self._ray.is_initialized():
            for ref in list(self._refs.values()):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001
                    pass
            self._refs.clear()
            if self._started_ray:
                self._ray.shutdown()

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.cluster or "this machine"
        return f"<Runner {self.kind}, {self.workers} at once, on {where}>"

    # ---- Ray ------------------------------------------------------------------------------------
    def _start_ray(self) -> None:
        try:
            import ray
        except ImportError:
            raise WlbridgeError(f"cluster={self.cluster!r} needs Ray: {RAY_HINT}") from None
        self._ray = ray
        if ray.is_initialized():  # the caller's own ray.init() stands
            self.workers = max(1, int(ray.cluster_resources().get("CPU", self.workers)))
            return
        local = self.cluster == "ray"
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if local:
            # workers import the same wlbridge as this process (a source checkout, not only an installed copy)
            here = str(Path(__file__).resolve().parent.parent)
            path = os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
            kwargs.update(num_cpus=self.workers, runtime_env={"env_vars": {"PYTHONPATH": path}})
        try:
            ray.init(address=None if local else self.cluster, **kwargs)
        except Exception as e:  # noqa: BLE001 - Ray's own start-up / connection failure, said plainly
            raise WlbridgeError(f"cannot start or reach Ray cluster {self.cluster!r}: {type(e).__name__}: {e}") from e
        self._started_ray = True
        if not local:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
