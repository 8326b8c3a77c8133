"""check plans (issue 16.2) and arrays from files (issue 18.1): engines time their first sample and run as
many more as fit; array literals reach Woxi / Mathics3 as files of the same digits; the pass rule;
progress rows and heartbeat (16.5); the kept worker."""
from __future__ import annotations

import math
import re
import sys
import threading
import time

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check import arrays as A
from wlbridge.check import engines as E
from wlbridge.check import progress as P
from wlbridge.check.report import CheckReport, Row
from wlbridge.check.roundtrip import check
from wlbridge.check.worker import Worker, WorkerCancelled, WorkerCrashed, WorkerTimeout
from wlbridge.errors import WlbridgeError

from .test_check import CODE, relu_net


@pytest.fixture(scope="module")
def woxi():
    pytest.importorskip("woxi")
    return E.WoxiEngine()


def mlp(widths=(6, 24, 24, 3), scale=1.0, seed=0):
    """A tanh MLP whose weights span many magnitudes (so the literals hold ``*^`` exponents)."""
    rng = np.random.default_rng(seed)
    b = wb.NetBuilder("mlp")
    h = b.input("x", (widths[0],))
    for k, (i, o) in enumerate(zip(widths, widths[1:])):
        w = rng.standard_normal((o, i)) * scale * 10.0 ** rng.integers(-9, 3, size=(o, i))
        h = b.layer("linear", [h], params={"weight": w, "bias": rng.standard_normal(o)})
        if k < len(widths) - 2:
            h = b.layer("elementwise", [h], attrs={"fn": "tanh"})
    return b.build([h])


# ---- the array literals and their files -------------------------------------------------------

def test_split_finds_every_weight_literal_and_join_gives_the_emitted_code_back():
    net = mlp()
    code = net.to_wl()
    template, found = A.split_arrays(code)
    assert A.join_arrays(template, found) == code
    assert [lit.dims for lit in found] == [(24, 6), (24,), (24, 24), (24,), (3, 24)]  # 3 biases: in the code
    weights = [layer.params[k] for layer in net.layers for k in ("weight", "bias") if k in layer.params]
    big = [w for w in weights if w.size >= A.MIN_NUMBERS]
    assert len(found) == len(big)
    for lit, w in zip(found, big):
        np.testing.assert_array_equal(np.array([float(A.file_token(t)) for t in lit.tokens]).reshape(lit.dims), w)
        assert any("*^" in t for t in lit.tokens) or w.size < 30


def test_small_integer_and_symbolic_lists_stay_in_the_code():
    code = ("Function[{x}, With[{h = Part[x, {1, 2, 3}]}, {{1.`, 2.`}, {3.`, 4.`}} . h[[{1, 2}]] + "
            "{1.`, 2.`, 3.`, 4.`, 5.`, 6.`, 7.`, 8.`, 9.`, 10.`, 11.`, 12.`, 13.`, 14.`, 15.`, 16.`}]]")
    template, found = A.split_arrays(code)
    assert template.count("wlbridgeArray") == 1 and "{{1.`, 2.`}, {3.`, 4.`}}" in template
    assert found[0].dims == (16,) and A.join_arrays(template, found) == code
    ragged = "f[{{1.`, 2.`}, {3.`}}, {" + ", ".join(["1.5`*^-7"] * 20) + "}]"
    template, found = A.split_arrays(ragged)
    assert template == "f[{{1.`, 2.`}, {3.`}}, wlbridgeArray1]" and found[0].dims == (20,)
    assert A.split_arrays("wlbridgeArray1 + {" + ", ".join(["1.`"] * 20) + "}") [1] == []  # name taken


def test_file_text_spells_the_literal_digits(tmp_path):
    lit = A.split_arrays("{" + ", ".join(["-1.25`*^-7", "0.5`", "3.`*^20", "12.`"] * 4) + "}")[1][0]
    assert A.file_text(lit).split() == ["-1.25e-7", "0.5", "3.e20", "12."] * 4
    assert A.spells(A.file_text(lit), lit) and not A.spells(A.file_text(lit).replace("0.5", "0.50"), lit)
    assert [A.literal_token(t) for t in A.file_text(lit).split()] == lit.tokens
    (name, read), = A.write_arrays([lit], str(tmp_path))
    assert name == "wlbridgeArray1" and read == f'ReadList["{tmp_path}/a1.txt", Real]'
    assert (tmp_path / "a1.txt").read_text() == A.file_text(lit)
    assert A.reshape_code("v", (2, 3, 4)) == "Fold[Partition, v, {4, 3}]"
    assert A.wl_string('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize("engine_name", ["woxi", "mathics"])
def test_engines_read_the_files_as_the_exact_values_of_the_literals(engine_name, tmp_path):
    pytest.importorskip(engine_name)
    engine = E.get_engines(engine_name)[0]
    rng = np.random.default_rng(7)
    values = rng.standard_normal((5, 4, 3)) * 10.0 ** rng.integers(-12, 12, size=(5, 4, 3))
    from wlbridge.emit.wlnumbers import fmt_array

    template, found = A.split_arrays(f"f[{fmt_array(values)}]")
    read = A.read_code(A.write_arrays(found, str(tmp_path)))
    assert engine.evaluate(read) == "1" and template == "f[wlbridgeArray1]"
    got = np.array(E.parse_numbers(engine.evaluate("wlbridgeArray1")))
    np.testing.assert_array_equal(got, values)  # bit for bit, the *^ exponents included


# ---- check with arrays from files -------------------------------------------------------------

def test_check_with_files_and_inline_agree_and_say_which(woxi):
    net = mlp()
    files = check(net, engine=woxi, samples=8, sympy=False)
    inline = check(net, engine=woxi, samples=8, sympy=False, arrays="inline")
    assert files.passed and inline.passed
    (f,), (i,) = files.rows, inline.rows
    assert (f.arrays, i.arrays) == ("files", "inline")
    assert "arrays from 5 files (840 numbers), written in " in f.note and ", read " in f.note
    assert "arrays inline" in i.note
    assert 0 < f.read_seconds <= f.seconds and f.evaluate_seconds == pytest.approx(f.seconds - f.read_seconds)
    assert f.max_abs <= max(i.max_abs, 1e-15) * 4  # the file route reads *^ numbers exactly; Woxi's parse may not
    row = files.to_dict()["rows"][0]
    assert row["arrays"] == "files" and row["read_seconds"] > 0 and row["evaluate_seconds"] > 0
    with pytest.raises(WlbridgeError, match="arrays must be one of 'files', 'inline'"):
        check(net, engine=woxi, samples=2, arrays="file")


def test_a_wrong_weight_still_fails_through_files(woxi):
    net = mlp()
    code = net.to_wl()
    tokens = A.split_arrays(code)[1][2].tokens
    big = max(tokens, key=lambda t: abs(float(A.file_token(t))))
    bad = code.replace(big, "0.125`", 1)
    report = check(net, engine=woxi, code=bad, samples=8, sympy=False)
    assert report.verdict == "FAILED" and report.rows[0].arrays == "files"


# ---- plans ------------------------------------------------------------------------------------

def _pause_code(seconds: float) -> str:
    return CODE.replace("Function[{x}, ", f"Function[{{x}}, Pause[{seconds}]; ")


def test_an_engine_runs_as_many_samples_as_fit_and_says_so(woxi):
    probe = check(relu_net(), engine=woxi, code=_pause_code(0.01), samples=1, sympy=False)
    if not probe.passed:
        pytest.skip(f"this Woxi has no Pause: {probe.rows[0].note[:80]}")
    report = check(relu_net(), engine=woxi, code=_pause_code(0.4), samples=64, timeout=3.0, sympy=False)
    (row,) = report.rows
    assert report.passed and report.verdict == "PASSED" and row.passed
    assert 1 <= row.samples < 64 and not row.timed_out
    assert re.search(rf"^{row.samples} of 64 samples \(", row.note)
    assert row.max_abs < 1e-14


def test_the_pass_rule():
    ok = Row("woxi", 16, max_abs=0.0, max_rel=0.0, passed=True)
    few = Row("mathics", 2, max_abs=0.0, max_rel=0.0, passed=True, note="2 of 16 samples (...)")
    stuck = Row("mathics", 0, passed=False, timed_out=True, note="timed out after 20 s with no sample")
    bad = Row("mathics", 2, max_abs=1.0, max_rel=1.0, passed=False)
    sympy_stuck = Row("sympy", 0, passed=False, timed_out=True)
    assert CheckReport("n", rows=[ok, few]).passed
    assert CheckReport("n", rows=[ok, stuck]).verdict == "PASSED"  # a time-out is a note when an engine passed
    assert CheckReport("n", rows=[ok, sympy_stuck]).passed
    assert CheckReport("n", rows=[stuck]).verdict == "INCOMPLETE (timed out: mathics)"  # no WL engine ran
    assert CheckReport("n", rows=[ok, bad]).verdict == "FAILED"
    assert CheckReport("n", rows=[ok, bad, stuck]).verdict == "FAILED"


def test_the_cost_model_scales_with_the_load(monkeypatch):
    from wlbridge.check import cost

    monkeypatch.setattr(cost.os, "getloadavg", lambda: (7.0 * cost.os.cpu_count() / 2, 0.0, 0.0))
    assert cost.load_factor() == pytest.approx(1.0)
    monkeypatch.setattr(cost.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert cost.load_factor() == 0.25
    monkeypatch.setattr(cost.os, "getloadavg", lambda: (1e3, 0.0, 0.0))
    assert cost.load_factor() == 3.0


def test_mathics_is_skipped_only_when_hopeless_by_its_cost_model(woxi):
    pytest.importorskip("mathics")
    net = mlp((64, 256, 256, 10))  # ~50 s a sample by the model
    report = check(net, engine=[woxi, E.MathicsEngine()], samples=4, sympy=False, mathics_budget=5.0)
    woxi_row, mathics_row = report.rows
    assert report.passed and woxi_row.passed and mathics_row.passed is None
    assert "by the Mathics3 cost model at this load (mathics_budget 5 s; raise mathics_budget= to run it)" \
        in mathics_row.note


def test_mathics_starts_in_its_worker_beside_the_other_rows(woxi):
    pytest.importorskip("mathics")
    report = check(relu_net(), engine=[woxi, E.MathicsEngine()], code=CODE, samples=8, sympy=False,
                   mathics_budget=120)
    woxi_row, mathics_row = report.rows
    assert report.passed and mathics_row.samples == 8 and mathics_row.start_seconds >= 0
    assert mathics_row.arrays == "inline"  # CODE's literals are smaller than a file is worth


# ---- progress ---------------------------------------------------------------------------------

def test_rows_are_printed_with_the_bar_cleared(woxi, capsys):
    pytest.importorskip("tqdm")
    check(relu_net(), engine=woxi, code=CODE, samples=4, progress=True,
          on_row=lambda r: print(f"ROW {r.evaluator}", file=sys.stderr))
    err = capsys.readouterr().err
    assert err.count("ROW ") == 2
    for m in re.finditer("ROW ", err):
        assert m.start() == 0 or err[m.start() - 1] in "\r\n"  # never after the bar's text on its line


def test_a_heartbeat_off_a_terminal(woxi, capsys, monkeypatch):
    probe = check(relu_net(), engine=woxi, code=_pause_code(0.01), samples=1, sympy=False)
    if not probe.passed:
        pytest.skip("this Woxi has no Pause")
    monkeypatch.setattr(P, "HEARTBEAT_S", 0.3)
    check(relu_net(), engine=woxi, code=_pause_code(0.5), samples=3)
    lines = capsys.readouterr().err.splitlines()
    beats = [line for line in lines if re.fullmatch(r"check: \d+ s, [0-2]/2 done; running: .*woxi.*", line)]
    assert len(beats) >= 2, lines
    check(relu_net(), engine=woxi, code=_pause_code(0.5), samples=3, progress=False)
    assert capsys.readouterr().err == ""


# ---- the kept worker --------------------------------------------------------------------------

def test_worker_serves_calls_in_one_process_and_is_killed_at_a_deadline():
    import os

    w = Worker(lambda: os.getpid(), lambda req: (os.getpid(), req * 2))
    pid = w.receive(timeout=30)
    assert w.call(21, timeout=30) == (pid, 42) and w.call(1, timeout=30) == (pid, 2) and pid != os.getpid()
    w.close()
    slow = Worker(lambda: None, lambda s: time.sleep(s))
    slow.receive(timeout=30)
    t0 = time.monotonic()
    with pytest.raises(WorkerTimeout):
        slow.call(30, timeout=0.3)
    assert time.monotonic() - t0 < 5 and slow.pid is None  # killed and reaped
    failing = Worker(lambda: None, lambda req: 1 / 0)
    failing.receive(timeout=30)
    with pytest.raises(ZeroDivisionError):
        failing.call(0, timeout=30)
    failing.close()
    dying = Worker(lambda: None, lambda req: os._exit(3))
    dying.receive(timeout=30)
    with pytest.raises(WorkerCrashed):
        dying.call(0, timeout=30)
    cancel = threading.Event()
    waiting = Worker(lambda: None, lambda s: time.sleep(s))
    waiting.receive(timeout=30)
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(WorkerCancelled):
        waiting.call(30, timeout=None, cancel=cancel)
    assert math.isfinite(time.monotonic())


def test_cli_arrays_flag_and_json_rows(capsys):
    pytest.importorskip("woxi")
    import json

    from wlbridge.cli import main

    net = mlp()
    for flag in ("files", "inline"):
        assert main(["check", "m.onnx", "--engine", "woxi", "--samples", "4", "--no-sympy", "--arrays", flag,
                     "--json"], load=lambda path: net) == 0
        (row,) = json.loads(capsys.readouterr().out)["rows"]
        assert row["arrays"] == flag and row["samples"] == 4
        assert (row["read_seconds"] > 0) == (flag == "files") and row["evaluate_seconds"] > 0
    with pytest.raises(SystemExit) as e:
        main(["check", "m.onnx", "--arrays", "disk"], load=lambda path: net)
    assert e.value.code == 2 and "--arrays" in capsys.readouterr().err


def test_the_cli_starts_mathics_before_loading_the_model():
    pytest.importorskip("mathics")
    from wlbridge.check import plan

    assert not plan.prestart("woxi")
    kept = plan._KEPT.get(E.MathicsEngine)
    assert plan.prestart("mathics") is (kept is None)  # one kept worker at most
    assert not plan.prestart("mathics")
    worker = plan.lease(E.MathicsEngine())
    assert worker.alive() and (worker is kept or not worker.ready)
    plan.release(E.MathicsEngine(), worker, started=worker.ready)
    assert plan._KEPT.get(E.MathicsEngine) is worker


def test_the_array_files_live_in_a_private_folder_removed_after_the_check(woxi, monkeypatch):
    import os

    folders = []
    close = A.ArrayFiles.close

    def spy(self):
        folders.append(self.folder)
        close(self)

    monkeypatch.setattr(A.ArrayFiles, "close", spy)
    assert check(mlp(), engine=woxi, samples=2, sympy=False).passed
    (folder,) = folders
    assert folder and os.path.basename(folder).startswith("wlbridge-arrays-") and not os.path.exists(folder)


def test_the_issue_16_lstm_classifier_checks_through_files(woxi):
    torch = pytest.importorskip("torch")
    from .test_mathics_cost import _classifier

    torch.manual_seed(0)
    net = wb.from_torch(_classifier(torch).eval(), (12,), dtype=torch.int64)
    assert net.param_count == 2115
    report = net.check(engine=woxi, samples=16)
    assert report.passed, str(report)
    woxi_row = next(r for r in report.rows if r.evaluator == "woxi")
    assert woxi_row.samples == 16 and woxi_row.arrays == "files" and woxi_row.max_abs < 1e-12
    assert "arrays from 6 files (2080 numbers)" in woxi_row.note
