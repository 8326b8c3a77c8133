"""``wlbridge check`` options matching the Python API, the JSON report and its schema, honest notes (issue 12 item 6)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check.report import SCHEMA_ID, CheckReport
from wlbridge.cli import detect_call, main
from tests.test_cli import CODE, relu_net

SCHEMA = Path(wb.__file__).parent / "check" / "report_schema.json"
SEQUENCE = "Function[{a, b, c}, Ramp[{{1.`, 2.`, 3.`}, {-1.`, 0.5`, 0.25`}} . {a, b, c} + {0.1`, -0.2`}]]"
OFF = CODE.replace("0.25`", "0.2500001`")  # wrong by 1e-7 in one weight

pytestmark = pytest.mark.woxi


@pytest.fixture(autouse=True)
def _woxi():
    pytest.importorskip("woxi")


@pytest.fixture
def code_file(tmp_path):
    def write(text, name="f.wl"):
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)
    return write


def run(*argv, net=None):
    return main([str(a) for a in argv], load=lambda path: net or relu_net())


def validate(data: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"wlbridge {wb.__version__}\n"


def test_json_report_follows_the_schema(capsys, code_file):
    assert run("check", "m.onnx", "--engine", "woxi", "--samples", "5", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    validate(data)
    assert data["schema"] == SCHEMA_ID and data["passed"] is True and data["samples"] == 5
    assert [r["evaluator"] for r in data["rows"]] == ["sympy", "woxi"] and data["max_abs_err"] < 1e-12
    assert run("check", "m.onnx", "--engine", "woxi", "--code", code_file(OFF), "--json") == 1
    data = json.loads(capsys.readouterr().out)
    validate(data)
    woxi = data["rows"][1]
    assert data["passed"] is False and woxi["status"] == "FAIL" and 1e-8 < woxi["max_abs_err"] < 1e-6
    worst = woxi["worst"]
    assert len(worst["input"]) == 3 and len(worst["expected"]) == len(worst["got"]) == 2
    x = np.array(worst["input"])
    np.testing.assert_allclose(worst["expected"], relu_net()(x), rtol=1e-15)  # the worst sample is that input's


def test_json_of_a_failed_engine_row_has_nulls_not_infinities(capsys, code_file):
    assert run("check", "m.onnx", "--engine", "woxi", "--code", code_file(CODE.replace("Ramp", "Rampe")), "--json") == 1
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text
    data = json.loads(text)
    validate(data)
    assert data["rows"][1]["max_abs_err"] is None and "Rampe[" in data["rows"][1]["note"]


def test_failure_shows_the_worst_sample(capsys, code_file):
    assert run("check", "m.onnx", "--engine", "woxi", "--code", code_file(OFF)) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    k = lines.index("  worst sample for woxi: #" + out.split("worst sample for woxi: #")[1].split("\n")[0])
    assert lines[k + 1].startswith("    input     [") and lines[k + 2].startswith("    expected  [")
    assert lines[k + 3].startswith("    got       [") and "largest difference at output element" in lines[k + 4]
    assert lines[-1].endswith("FAILED")


def test_rtol_atol(capsys, code_file):
    off = code_file(OFF)
    assert run("check", "m.onnx", "--engine", "woxi", "--code", off) == 1
    assert run("check", "m.onnx", "--engine", "woxi", "--code", off, "--rtol", "1e-6") == 0
    assert run("check", "m.onnx", "--engine", "woxi", "--code", off, "--atol", "1e-6") == 0
    assert "rtol 1.0e-06" in capsys.readouterr().out
    for bad in (["--rtol", "-1"], ["--atol", "nan"], ["--timeout", "-1"], ["--mathics-budget", "inf"], ["--samples", "x"]):
        with pytest.raises(SystemExit) as e:
            main(["check", "m.onnx", *bad])
        assert e.value.code == 2


def test_no_sympy_timeout_and_given_inputs(capsys, tmp_path):
    x = np.random.default_rng(3).standard_normal((7, 3))
    np.save(tmp_path / "x.npy", x)
    assert run("check", "m.onnx", "--engine", "woxi", "--no-sympy", "--timeout", "60",
               "--inputs", tmp_path / "x.npy", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["evaluator"] for r in data["rows"]] == ["woxi"] and data["rows"][0]["samples"] == 7
    np.savez(tmp_path / "x.npz", x=x[:2])
    assert run("check", "m.onnx", "--engine", "woxi", "--inputs", tmp_path / "x.npz") == 0
    assert "given inputs" in capsys.readouterr().out
    assert run("check", "m.onnx", "--inputs", tmp_path / "x.npy", "--samples", "3") == 2
    assert "not both" in capsys.readouterr().err


def test_max_size(capsys):
    assert run("convert", "m.onnx", "--form", "expanded", "--max-size", "3") == 2
    assert "over --max-size 3" in capsys.readouterr().err
    assert run("check", "m.onnx", "--engine", "woxi", "--form", "expanded", "--max-size", "3") == 2
    assert run("check", "m.onnx", "--engine", "woxi", "--form", "expanded", "--max-size", "1000", "--samples", "4") == 0
    assert run("convert", "m.onnx", "--max-size", "1000") == 2
    assert "--form expanded only" in capsys.readouterr().err


def test_convert_refuses_options_it_would_ignore(capsys):
    for argv, word in ((["--to", "latex", "--exact"], "--exact"), (["--to", "python", "--exact"], "--exact"),
                       (["--to", "c", "--form", "expanded"], "--form"),
                       (["--to", "latex", "--call", "sequence"], "--call"), (["--to", "sympy", "--call", "list"], "--call")):
        assert run("convert", "m.onnx", *argv) == 2
        err = capsys.readouterr().err
        assert word in err and err.count("\n") == 1
    assert run("convert", "m.onnx", "--to", "sympy", "--form", "expanded") == 0
    assert capsys.readouterr().out.startswith("Matrix(")


def test_call_detected_from_the_function_parameters(capsys, code_file):
    seq = code_file(SEQUENCE)
    assert run("check", "m.onnx", "--engine", "woxi", "--code", seq) == 0
    out = capsys.readouterr().out
    assert "call sequence" in out and "from the --code Function's 3 parameters" in out
    assert run("check", "m.onnx", "--engine", "woxi", "--code", seq, "--call", "list") == 1
    assert "use --call sequence" in capsys.readouterr().out
    net = relu_net()
    assert detect_call(SEQUENCE, net) == "sequence" and detect_call(CODE, net) == "list"
    assert detect_call("(* mine *) Function[{x}, x]", net) == "list" and detect_call("Tanh[#] &", net) is None


def test_honest_notes(capsys, code_file, tmp_path):
    assert run("check", "m.onnx", "--engine", "woxi", "--code", code_file(CODE), "--samples", "4") == 0
    out = capsys.readouterr().out
    assert "sympy: checks wlbridge's own formula (net.to_sympy), not the given code" in out
    wb.save_wlnet(relu_net(), tmp_path / "n.wlnet")
    assert main(["check", str(tmp_path / "n.wlnet"), "--engine", "woxi", "--samples", "4"]) == 0
    out = capsys.readouterr().out
    assert "own reading of the Wolfram net file; the original net was not run" in out
    assert "not the given code" not in out
    b = wb.NetBuilder("from-onnx")
    x = b.input("x", (2,))
    onnx_without_runtime = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})], meta={"source": "onnx"})
    notes = onnx_without_runtime.check(engine="woxi", samples=2).notes
    assert any("the source net (onnx) was not run" in n for n in notes)
    assert not relu_net().check(engine="woxi", samples=2).notes  # built in Python: nothing else to run


def test_rows_stream_before_the_verdict(capsys):
    seen = []
    report = relu_net().check(engine="woxi", samples=4, on_row=lambda row: seen.append((row.evaluator, row.passed)))
    assert sorted(seen) == [("sympy", True), ("woxi", True)] and isinstance(report, CheckReport)  # finishing order
    assert run("check", "m.onnx", "--engine", "woxi", "--samples", "4") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "checking relu-net: 4 samples (seed 0), engine auto, call list".replace("auto", "woxi")
    assert lines[1].split() == ["evaluator", "samples", "max", "abs", "err", "max", "rel", "err", "tolerance",
                                "seconds", "result"]
    assert {lines[2].split()[0], lines[3].split()[0]} == {"sympy", "woxi"} and lines[-1].endswith("PASSED")
