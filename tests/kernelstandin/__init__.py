"""The WolframKernel protocol double (``standin.py``) and a helper that makes it an executable.

>>> import tempfile
>>> path = kernel_executable(tempfile.mkdtemp())
>>> os.access(path, os.X_OK)
True
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "standin.py"


def kernel_executable(directory, *, sleep: float | None = None, fail: str | None = None) -> str:
    """Write ``directory/WolframKernel``: a shell script running the stand-in with this Python.

    ``sleep``: seconds to sleep before each answer (``KERNEL_STANDIN_SLEEP``); ``fail``: ``"startup"``
    (exit 1) or ``"silent"`` (never acknowledge) (``KERNEL_STANDIN_FAIL``).
    """
    env = {"KERNEL_STANDIN_SLEEP": "" if sleep is None else repr(float(sleep)), "KERNEL_STANDIN_FAIL": fail or ""}
    lines = ["#!/bin/sh"] + [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append(f"exec {shlex.quote(sys.executable)} {shlex.quote(str(STANDIN))} \"$@\"")
    path = Path(directory) / "WolframKernel"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return str(path)
