"""Run a function in a forked worker process that is killed at a deadline: a hard time limit.

Embedded engines cannot be interrupted reliably (Mathics3's ``TimeConstrained`` fires from a timer
thread and can miss its deadline by minutes; a Woxi call is native code), so ``check`` runs each of
them in a child process: the result comes back pickled through a pipe, and at the deadline the
child gets SIGKILL. The child is a ``fork`` of the caller, so it starts at once with everything the
caller has loaded (a started Mathics3 session, the net's arrays). Where ``fork`` is not available
(Windows, macOS defaults) the function runs in-process and the limit is not enforced.

>>> run_killable(lambda: 6 * 7, timeout=30.0)
42
>>> import time
>>> run_killable(lambda: time.sleep(10), timeout=0.2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
wlbridge.check.worker.WorkerTimeout: timed out after 0.2 s
"""
from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import sys
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

CAN_FORK = hasattr(os, "fork") and sys.platform.startswith("linux")


class WorkerTimeout(Exception):
    """The worker did not finish within its time limit and was killed."""

    def __init__(self, seconds: float):
        super().__init__(f"timed out after {seconds:g} s")
        self.seconds = seconds


class WorkerCancelled(Exception):
    """The caller gave up on the worker (``cancel`` was set) and it was killed."""


class WorkerCrashed(Exception):
    """The worker died without a result (killed by a signal, out of memory, ...)."""


def run_killable(fn: Callable[[], T], timeout: float | None, cancel: threading.Event | None = None) -> T:
    """``fn()`` in a forked child; its return value, or its exception re-raised here.

    Raises :class:`WorkerTimeout` after ``timeout`` seconds (None: no limit), :class:`WorkerCancelled`
    when ``cancel`` is set, :class:`WorkerCrashed` when the child dies without answering. The child
    is killed (SIGKILL) and reaped in every case.
    """
    if not CAN_FORK:
        return fn()
    read_fd, write_fd = os.pipe()
    sys.stdout.flush(), sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        _die_with(parent)
        _child(fn, write_fd)
    os.close(write_fd)
    try:
        data = _read_until(read_fd, pid, timeout, cancel)
    finally:
        os.close(read_fd)
        _reap(pid)
    status, value = pickle.loads(data)
    if status == "ok":
        return value
    raise value


def _die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this child when the thread that forked it ends (or the parent dies)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def _child(fn, write_fd: int) -> None:
    try:
        try:
            payload = pickle.dumps(("ok", fn()), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
            try:
                payload = pickle.dumps(("error", e), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                payload = pickle.dumps(("error", RuntimeError(f"{type(e).__name__}: {e}")))
        with os.fdopen(write_fd, "wb") as out:  # length first: a sibling may hold this pipe open too
            out.write(len(payload).to_bytes(8, "little") + payload)
    finally:
        os._exit(0)  # no atexit handlers, no buffers of the parent flushed twice


def _read_until(fd: int, pid: int, timeout: float | None, cancel) -> bytes:
    """The child's length-prefixed message (not read to EOF: a worker forked meanwhile by another
    thread inherits the write end, and would hold the pipe open)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    data, need = b"", None
    while True:
        if need is None and len(data) >= 8:
            need = 8 + int.from_bytes(data[:8], "little")
        if need is not None and len(data) >= need:
            return data[8:need]
        wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        ready, _, _ = select.select([fd], [], [], wait)
        if ready:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise WorkerCrashed("the worker process died without a result")
            data += chunk
            continue
        if _exited(pid):  # dead with no (complete) answer, e.g. killed for memory
            raise WorkerCrashed("the worker process died without a result")
        if cancel is not None and cancel.is_set():
            _kill(pid)
            raise WorkerCancelled("cancelled")
        if deadline is not None and time.monotonic() >= deadline:
            _kill(pid)
            raise WorkerTimeout(timeout)


def _exited(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> None:
    _kill(pid)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


class Worker:
    """A forked child that runs ``start()`` and then serves calls one by one: a session kept across calls.

    ``start()`` runs in the child at once (e.g. an engine's start-up, overlapping the caller's other
    work); its return value is the first message, read with :meth:`receive`. Each :meth:`call` sends a
    request (pickled) and waits for ``serve(request)``'s result, killing the child at ``timeout`` or
    when ``cancel`` is set (:class:`WorkerTimeout`, :class:`WorkerCancelled`); a dead child raises
    :class:`WorkerCrashed`. Where ``fork`` is not available, it runs in-process without limits.

    >>> w = Worker(lambda: "ready", lambda n: n * 2)
    >>> w.receive(timeout=30), w.call(21, timeout=30)
    ('ready', 42)
    >>> w.close()
    """

    def __init__(self, start: Callable[[], object], serve: Callable[[object], object]):
        self.serve, self.pid, self._first = serve, None, None
        self.ready = False  # set by the caller once it has received start()'s message
        if not CAN_FORK:
            self._first = _outcome(start)
            return
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        sys.stdout.flush(), sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(self._req_w), os.close(self._rep_r)
            _die_with(parent)
            _serve_loop(start, serve, req_r, rep_w)
        os.close(req_r), os.close(rep_w)
        self.pid = pid

    def receive(self, timeout: float | None, cancel: threading.Event | None = None):
        """The next message from the child (first: ``start()``'s result); raises like :meth:`call`."""
        if self.pid is None:
            first, self._first = self._first, None
            return _unpack(first)
        try:
            return _unpack(pickle.loads(_read_until(self._rep_r, self.pid, timeout, cancel)))
        except (WorkerTimeout, WorkerCancelled, WorkerCrashed):
            self.close()
            raise

    def call(self, request, timeout: float | None, cancel: threading.Event | None = None):
        """``serve(request)`` in the child; its result, or its exception re-raised here."""
        if self.pid is None:
            return _unpack(_outcome(lambda: self.serve(request)))
        try:
            _write_message(self._req_w, pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            self.close()
            raise WorkerCrashed("the worker process died without a result") from None
        return self.receive(timeout, cancel)

    def alive(self) -> bool:
        """The child is running (or there is none: the in-process fallback)."""
        if not CAN_FORK:
            return True
        if self.pid is not None and _exited(self.pid):
            self.pid = None
            for fd in (self._req_w, self._rep_r):
                _close(fd)
        return self.pid is not None

    def close(self) -> None:
        """Kill and reap the child (idempotent)."""
        if self.pid is not None:
            _reap(self.pid)
            for fd in (self._req_w, self._rep_r):
                _close(fd)
            self.pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _outcome(fn) -> tuple:
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - re-raised in the caller
        return ("error", e)


def _unpack(outcome):
    status, value = outcome
    if status == "ok":
        return value
    raise value


def _pickled(outcome: tuple) -> bytes:
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # an unpicklable exception or result
        return pickle.dumps(("error", RuntimeError(f"{type(e).__name__}: {e}")))


def _write_message(fd: int, payload: bytes) -> None:
    view = memoryview(len(payload).to_bytes(8, "little") + payload)
    while view:
        view = view[os.write(fd, view):]


def _read_message(fd: int) -> bytes | None:
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = os.read(fd, n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    head = exactly(8)
    return None if head is None else exactly(int.from_bytes(head, "little"))


def _serve_loop(start, serve, req_r: int, rep_w: int) -> None:
    try:
        _write_message(rep_w, _pickled(_outcome(start)))
        while (data := _read_message(req_r)) is not None:
            request = pickle.loads(data)
            _write_message(rep_w, _pickled(_outcome(lambda: serve(request))))
    finally:
        os._exit(0)
