"""Run a C-library read (libhdf5) in a forked worker that is killed past a time limit.

libhdf5 can loop forever on a corrupted file, inside C, where no Python signal or exception
reaches it. ``run_bounded(fn, args, ...)`` forks, runs ``fn(*args)`` in the child and returns its
pickled result; past ``seconds`` the child is killed and a FormatError says so. Without
``os.fork`` (Windows) or with ``seconds <= 0`` it calls ``fn`` in-process.

>>> run_bounded(sum, ([1, 2, 3],), source="demo", seconds=5)
6
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import time
import traceback

from ...errors import FormatError, WlbridgeError


def run_bounded(fn, args, *, source: str, seconds: float):
    if seconds <= 0 or not hasattr(os, "fork"):
        return fn(*args)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        os.close(r)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(int(seconds) + 2)  # dies by itself even if the parent is gone
        _child(fn, args, w)
    os.close(w)
    data = None
    try:
        data = _read_all(r, time.monotonic() + seconds)
    finally:
        os.close(r)
        if data is None:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if data is None:
        raise FormatError(f"{source}: reading the file took longer than {seconds:.3g} s (libhdf5 can loop on a "
                          "corrupted file); refused (the cap grows with the file's size; set WLBRIDGE_PARSE_SECONDS for a "
                          "flat one)")
    if not data:
        raise FormatError(f"{source}: the reader process died while reading the file")
    kind, value = pickle.loads(data)
    if kind == "ok":
        return value
    if kind == "error":
        raise FormatError(value)
    if kind == "memory":
        raise MemoryError(value)
    raise FormatError(f"{source}: internal error while reading it ({value}); this is a bug in wlbridge, "
                      "please report it with the file")


def _child(fn, args, w) -> None:
    code = 0
    try:
        try:
            out = ("ok", fn(*args))
        except WlbridgeError as e:
            out = ("error", str(e))
        except MemoryError as e:
            out = ("memory", str(e))
        except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
            frame = traceback.extract_tb(e.__traceback__)[-1:]
            where = f" at {os.path.basename(frame[0].filename)}:{frame[0].lineno}" if frame else ""
            out = ("bug", f"{type(e).__name__}{where}: {str(e)[:300]}")
        data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        code = 1
    finally:
        os._exit(code)


def _read_all(fd: int, deadline: float) -> bytes | None:
    """Everything written to ``fd`` until EOF, or None when ``deadline`` passes first."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)

