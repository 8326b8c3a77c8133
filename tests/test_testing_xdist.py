"""``wlbridge.testing`` under pytest-xdist: the example suite run with ``-n 2`` in a subprocess passes,
each worker with its own engines (session fixtures live per worker process; no file is shared by name)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_example_suite_passes_with_two_xdist_workers(tmp_path):
    pytest.importorskip("xdist")
    pytest.importorskip("woxi")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-v",
                          "--basetemp", str(tmp_path / "base"), str(ROOT / "examples" / "test_my_net.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    workers = set(re.findall(r"\[(gw\d+)\] .*PASSED", out))
    assert workers == {"gw0", "gw1"}, out  # both workers ran tests, each with its own session engines
    passed = re.search(r"(\d+) passed", out)
    assert passed and int(passed.group(1)) >= 3 and " failed" not in out, out
