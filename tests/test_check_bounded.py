"""check(): evaluators run concurrently in killable workers, time out cleanly, stream their rows."""
from __future__ import annotations

import math
import sys
import time

import numpy as np
import pytest

from wlbridge.check import engines as E
from wlbridge.check.roundtrip import check
from wlbridge.errors import CheckFailedError

from .test_check import CODE, relu_net

SLOW = CODE.replace("Function[{x}, ", "Function[{x}, Do[1, {10^10}]; ")


@pytest.fixture(scope="module")
def woxi():
    pytest.importorskip("woxi")
    return E.WoxiEngine()


def test_an_engine_past_the_timeout_is_killed_and_the_report_is_incomplete(woxi):
    seen = []
    t0 = time.monotonic()
    report = check(relu_net(), engine=woxi, code=SLOW, samples=4, timeout=2.0, on_row=seen.append)
    assert time.monotonic() - t0 < 15  # killed, not waited for
    sympy_row, woxi_row = report.rows
    assert sympy_row.passed and woxi_row.status == "timed out" and woxi_row.timed_out
    assert "timed out after 2 s" in woxi_row.note and math.isnan(woxi_row.max_abs)
    assert not report.passed and report.timed_out == [woxi_row]
    assert "INCOMPLETE (timed out: woxi)" in str(report) and "timed out" in str(report)
    assert report.max_abs_err < 1e-14  # the rows that ran still count
    assert [r.evaluator for r in seen] == ["sympy", "woxi"]  # streamed as they finished
    with pytest.raises(CheckFailedError):
        check(relu_net(), engine=woxi, code=SLOW, samples=4, timeout=0.5, sympy=False, raise_on_failure=True)


def test_a_real_failure_is_failed_not_incomplete(woxi):
    report = check(relu_net(), engine=[woxi, woxi], code=CODE.replace("0.25`", "0.3`"), samples=4, timeout=30)
    assert report.verdict == "FAILED" and not report.timed_out


def test_rows_stream_in_finish_order_and_each_once(woxi):
    seen = []
    fast = check(relu_net(), engine=woxi, code=CODE, samples=8, on_row=seen.append, progress=False)
    assert fast.passed and sorted(r.evaluator for r in seen) == ["sympy", "woxi"]
    assert all(any(r is s for s in seen) for r in fast.rows)
    assert str(seen[0]).startswith(seen[0].evaluator + ": ok, 8 samples, max abs err")


def test_evaluators_run_at_the_same_time(woxi):
    """Two engines each sleeping 1.5 s finish in well under their 3 s sum."""
    sleepy = CODE.replace("Function[{x}, ", "Function[{x}, Pause[1.5]; ")
    probe = check(relu_net(), engine=woxi, code=sleepy, samples=1, sympy=False)
    if not probe.passed:
        pytest.skip(f"this Woxi has no Pause: {probe.rows[0].note[:80]}")
    t0 = time.monotonic()
    report = check(relu_net(), engine=[woxi, woxi], code=sleepy, samples=1, sympy=False)
    assert report.passed and time.monotonic() - t0 < 2.8


def test_timeout_none_means_no_limit(woxi):
    assert check(relu_net(), engine=woxi, code=CODE, samples=4, timeout=None).passed


def test_worker_results_errors_and_crashes():
    import os
    import signal

    from wlbridge.check.worker import WorkerCrashed, run_killable

    assert run_killable(lambda: np.arange(3.0), timeout=30).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(ZeroDivisionError):
        run_killable(lambda: 1 / 0, timeout=30)
    with pytest.raises(WorkerCrashed):
        run_killable(lambda: os.kill(os.getpid(), signal.SIGKILL), timeout=30)


def test_progress_is_quiet_off_a_terminal_and_shows_an_estimate_when_asked(woxi, capsys):
    pytest.importorskip("tqdm")
    from wlbridge.check.progress import wanted

    assert not wanted(None, 1e6)  # pytest's stderr is not a terminal
    assert wanted(True, 0.0) and not wanted(False, 1e6)
    check(relu_net(), engine=woxi, code=CODE, samples=4)
    assert capsys.readouterr().err == ""
    check(relu_net(), engine=woxi, code=CODE, samples=4, progress=True)
    err = capsys.readouterr().err
    assert "check: 0/2 done; running: sympy, woxi" in err and "check: 2/2 done" in err and "est." in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_dies_with_its_parent(tmp_path):
    """A check killed outright (SIGKILL) leaves no engine worker running."""
    import os
    import signal
    import subprocess
    import textwrap

    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, time
        from wlbridge.check.worker import run_killable
        def child():
            open({str(pids)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
        run_killable(child, timeout=None)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    for _ in range(200):
        if pids.exists() and pids.read_text():
            break
        time.sleep(0.05)
    child = int(pids.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(100):
        try:
            state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):  # dead, waiting for init to reap it
            return
        time.sleep(0.05)
    pytest.fail("the worker outlived its parent")
