"""The front ends' outer edge: what a path must be before any library opens it, and the last-resort
wrapper that turns an unexpected exception into a :class:`~wlbridge.errors.FormatError`.

>>> import os, tempfile
>>> d = tempfile.mkdtemp(); fifo = os.path.join(d, "net.onnx"); os.mkfifo(fifo)
>>> regular_file(fifo)
Traceback (most recent call last):
...
wlbridge.errors.FormatError: .../net.onnx: not a regular file (a FIFO); refusing to read it
>>> with boundary("demo.onnx", "onnx"):
...     {}["x"]
Traceback (most recent call last):
...
wlbridge.errors.FormatError: demo.onnx: internal error while reading it as onnx (KeyError: 'x'); this is a bug in wlbridge, please report it with the file
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import stat

from .. import limits
from ..errors import FormatError, WlbridgeError

_KINDS = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")]


def regular_file(path) -> int:
    """The size of ``path`` if it is a regular file (symlinks followed) within ``max_file_bytes``;
    a FormatError otherwise (FIFOs, devices and sockets could block or never end)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise FormatError(f"{path}: cannot read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a file")
        raise FormatError(f"{path}: not a regular file ({kind}); refusing to read it")
    cap = limits.current().max_file_bytes
    if st.st_size > cap:
        raise FormatError(f"{path}: {st.st_size} bytes, more than the {cap} byte limit (WLBRIDGE_MAX_FILE_BYTES)")
    return st.st_size


@contextlib.contextmanager
def boundary(source, what: str):
    """Re-raise WlbridgeErrors; anything else becomes a FormatError that says it is a bug, chained."""
    try:
        yield
    except WlbridgeError:
        raise
    except MemoryError as e:
        raise FormatError(f"{source}: out of memory while reading it as {what}; the file asks for more "
                          "memory than this machine has") from e
    except RecursionError as e:
        raise FormatError(f"{source}: nested too deeply to read as {what}") from e
    except Exception as e:  # noqa: BLE001 - the last resort, by design
        msg = str(e).splitlines()[0][:300] if str(e) else ""
        raise FormatError(f"{source}: internal error while reading it as {what} ({type(e).__name__}: {msg}); "
                          "this is a bug in wlbridge, please report it with the file") from e


def guarded(what: str):
    """Decorator: run a reader (first argument: path or object; or a ``source=`` name) inside :func:`boundary`."""
    def wrap(fn):
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(src, *args, **kw):
            sig.bind(src, *args, **kw)  # a wrong call is the caller's TypeError, not the file's
            with boundary(kw.get("source") or _name(src), what):
                return fn(src, *args, **kw)
        return run
    return wrap


def _name(src) -> str:
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    return f"<{type(src).__name__}>"
