"""Campaigns: many models in one run (check_many, ``wlbridge check A B DIR/``), the same reports serially,
in a local process pool and on a real local Ray; JSON lines against the report schema; JUnit XML
against the Jenkins/Surefire JUnit schema (tests/junit.xsd)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check.campaign import ModelFile, check_many, check_one, exit_status, expand_models
from wlbridge.check.junit import junit_xml
from wlbridge.cli import main
from wlbridge.errors import OptionError, WlbridgeError

from .campaign_zoo import timeless, write_zoo

SCHEMA = json.loads(Path("wlbridge/check/report_schema.json").read_text())
XSD = Path(__file__).parent / "junit.xsd"
FAST = dict(engine="woxi", samples=8)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """8 models (2 of each kind), a broken file and a folder with them."""
    folder = tmp_path_factory.mktemp("zoo")
    paths = write_zoo(folder, 8)
    return folder, paths


def test_expand_models_files_folders_globs(zoo, tmp_path):
    folder, paths = zoo
    assert expand_models([folder]) == [str(p) for p in paths]
    assert expand_models([str(folder / "*.onnx")]) == sorted(str(p) for p in paths if p.suffix == ".onnx")
    net = wb.NetBuilder("n")
    assert expand_models(["missing.onnx", net]) == ["missing.onnx", net]
    assert expand_models([str(tmp_path / "none*.onnx")]) == [str(tmp_path / "none*.onnx")]


def test_same_reports_serially_in_a_pool_and_on_ray(zoo):
    folder, paths = zoo
    pytest.importorskip("ray")
    seen = []
    serial = check_many([folder], jobs=1, on_report=seen.append, **FAST)
    assert [r.model for r in serial] == [str(p) for p in paths] and len(seen) == len(paths)
    assert all(r.passed for r in serial), [str(r) for r in serial if not r.passed]
    assert max(r.max_abs_err for r in serial) < 1e-12
    pool = check_many([folder], jobs=2, **FAST)
    ray = check_many([folder], jobs=2, cluster="ray", **FAST)
    want = [timeless(r.to_dict()) for r in serial]
    assert [timeless(r.to_dict()) for r in pool] == want
    assert [timeless(r.to_dict()) for r in ray] == want


def test_a_broken_model_is_an_error_report_not_an_exception(zoo, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    reports = check_many([broken, tmp_path / "missing.wlnet", zoo[1][0]], jobs=1, **FAST)
    assert [r.verdict for r in reports] == ["ERROR", "ERROR", "PASSED"]
    assert reports[0].error[0] == "FormatError" and str(broken) in reports[0].error[1]
    assert "cannot read the model file" in reports[1].error[1]
    assert f"  error: FormatError: {reports[0].error[1]}" in str(reports[0]) and str(reports[0]).count("ERROR") == 1
    assert exit_status(reports) == 2 and exit_status(reports[2:]) == 0
    for r in reports:
        jsonschema.validate(r.to_dict(), SCHEMA)


def test_model_bytes_for_a_cluster(zoo):
    path = str(zoo[1][0])
    item = ModelFile.read(path)
    assert item.data == Path(path).read_bytes()
    report = check_one(item, FAST)
    assert report.passed and report.model == path
    assert ModelFile.read("missing.onnx") == "missing.onnx"


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(OptionError, match="unknown option .samplez. .did you mean .samples...; valid options:.*per_layer"):
        check_many(["x.onnx"], samplez=3)
    with pytest.raises(WlbridgeError, match="engine= must be a name"):
        check_many(["x.onnx"], engine=object())
    with pytest.raises(WlbridgeError, match="jobs=0"):
        check_many(["x.onnx"], jobs=0)


def test_cli_several_models_rows_summary_junit_and_exit(zoo, tmp_path, capsys):
    folder, paths = zoo
    junit = tmp_path / "report.xml"
    status = main(["check", str(paths[0]), str(folder / "*.pt2"), "--engine", "woxi", "--samples", "8",
                   "--jobs", "1", "--junit", str(junit)])
    out = capsys.readouterr().out.splitlines()
    pt2 = sorted(str(p) for p in paths if p.suffix == ".pt2")
    assert status == 0
    assert out[0] == "checking 3 models: this process, engine woxi, 8 samples (seed 0) each"
    assert [line.split()[0] for line in out[1:4]] == ["PASSED"] * 3
    assert sorted(line.split()[2] for line in out[1:4]) == sorted([str(paths[0])] + pt2)
    assert out[4].startswith("3 models: 3 passed, 0 failed, 0 errors in ")
    _validate_junit(junit.read_text())


def test_cli_json_lines_and_failing_exit(zoo, capsys):
    folder, paths = zoo
    status = main(["check", str(paths[0]), str(paths[1]), "--engine", "woxi", "--samples", "8", "--jobs", "1",
                   "--rtol", "0", "--atol", "0", "--json"])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert status == 1 and len(lines) == 2
    for data in lines:
        jsonschema.validate(data, SCHEMA)
    assert {d["model"] for d in lines} == {str(paths[0]), str(paths[1])}
    assert any(not d["passed"] for d in lines)
    assert "2 models:" in captured.err


def test_cli_a_missing_model_is_exit_2_with_the_others_checked(zoo, tmp_path, capsys):
    status = main(["check", str(zoo[1][0]), str(tmp_path / "gone.onnx"), "--engine", "woxi", "--samples", "4",
                   "--jobs", "1"])
    out = capsys.readouterr().out
    assert status == 2
    assert "ERROR" in out and "gone.onnx: cannot read the model file" in out and "PASSED" in out
    assert "2 models: 1 passed, 0 failed, 1 errors" in out


def test_cli_campaign_refuses_one_model_options(zoo, capsys):
    assert main(["check", str(zoo[1][0]), str(zoo[1][1]), "--code", "f.wl"]) == 2
    assert "--code applies to one model" in capsys.readouterr().err


def test_one_model_keeps_the_one_model_output(zoo, capsys):
    assert main(["check", str(zoo[1][0]), "--engine", "woxi", "--samples", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("checking ") and "  evaluator " in out and "models:" not in out


def test_a_failing_model_row_names_its_first_diverging_layer(zoo):
    from wlbridge.check.campaign import summary_row

    net = wb.load(zoo[1][0])
    code = net.to_wl().replace("0.", "0.3", 1)  # one weight of the first layer changed
    report = net.check(code=code, **FAST)
    report.model = "m.wlnet"
    row = summary_row(report)
    assert row.startswith("  FAILED") and "woxi: FAIL" in row and "first diverging layer in woxi:" in row


# ---- JUnit ----------------------------------------------------------------------------------------------------
def _validate_junit(text: str):
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(text)
    return schema


def test_junit_of_passed_failed_and_error_reports_is_valid(zoo):
    from wlbridge.check.report import CheckReport

    net = wb.load(zoo[1][0])
    good = net.check(**FAST)
    good.model = "good.wlnet"
    bad = net.check(code=net.to_wl().replace("0.", "0.3", 1), **FAST)
    bad.model = "bad.wlnet"
    err = CheckReport("x", model="x.onnx", error=("FormatError", "x.onnx: not a model \x1b[0m"))
    text = junit_xml([good, bad, err], seconds=1.25)
    schema = _validate_junit(text)
    data = schema.to_dict(text)
    suite = data["testsuite"][0]
    assert (suite["@tests"], suite["@failures"], suite["@errors"], suite["@time"]) == ("3", "1", "1", "1.250")
    cases = {c["@name"]: c for c in suite["testcase"]}
    assert "failure" not in cases["good.wlnet"]
    assert "first diverging layer in woxi" in cases["bad.wlnet"]["failure"][0]["@message"]
    assert cases["x.onnx"]["error"][0]["@type"] == "FormatError"
    np.testing.assert_allclose(float(cases["good.wlnet"]["@time"]), sum(r.seconds for r in good.rows), atol=1e-3)


def test_the_junit_schema_can_fail():
    schema = _validate_junit(junit_xml([], seconds=0.0))
    assert not schema.is_valid('<testsuites><testsuite name="s"><testcase/></testsuite></testsuites>')
    assert not schema.is_valid('<testsuites><testsuite name="s" tests="1" failures="0" errors="0" '
                               'time="1.5s"/></testsuites>')


def test_cli_per_layer_on_one_model(zoo, capsys):
    assert main(["check", str(zoo[1][0]), "--engine", "woxi", "--samples", "4", "--per-layer"]) == 0
    out = capsys.readouterr().out
    assert "per layer (max abs / rel error" in out and "    woxi     " in out and "    sympy    " in out


def test_an_empty_folder_is_a_format_error(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "is a directory with no model files" in capsys.readouterr().err


def test_serial_reports_stream_as_each_model_ends(zoo, monkeypatch):
    import wlbridge.check.campaign as campaign

    calls, seen = [], []
    real = campaign.check_one
    monkeypatch.setattr(campaign, "check_one", lambda *a: calls.append(1) or real(*a))
    check_many(zoo[1][:3], jobs=1, on_report=lambda r: seen.append(len(calls)), **FAST)
    assert seen == [1, 2, 3]  # each report before the next model starts


def test_each_model_has_its_own_time_cap(zoo, capsys):
    reports = check_many(zoo[1][:2], jobs=1, model_timeout=0.01, **FAST)
    assert [r.verdict for r in reports] == ["INCOMPLETE (timed out: model)"] * 2
    assert "raise model_timeout= (--model-timeout)" in reports[0].rows[0].note
    jsonschema.validate(reports[0].to_dict(), SCHEMA)
    assert exit_status(reports) == 1
    with pytest.raises(WlbridgeError, match="model_timeout=-1"):
        check_many(zoo[1][:1], model_timeout=-1)
    assert main(["check", str(zoo[1][0]), "--engine", "woxi", "--model-timeout", "0.01"]) == 1
    assert "INCOMPLETE" in capsys.readouterr().out


def test_torch_used_before_the_campaign_does_not_hang_its_forked_tasks(zoo, tmp_path):
    torch = pytest.importorskip("torch")
    from .campaign_zoo import _torch_models, _write_torch

    torch.set_num_threads(2)
    torch.nn.functional.conv2d(torch.randn(1, 3, 64, 64), torch.randn(8, 3, 3, 3))  # OpenMP threads started here
    name, module, shape = next(m for m in _torch_models() if m[0].startswith("cnn"))
    path = _write_torch(tmp_path, name, module, shape, "pt2")
    report = check_many([path], jobs=1, model_timeout=60, **FAST)[0]
    assert report.passed, str(report)


def test_a_broken_pool_gives_error_reports_not_an_exception(zoo, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    import wlbridge.parallel as parallel

    def broken(self, fn, *args, **kwargs):
        raise BrokenProcessPool("A child process terminated abruptly")

    monkeypatch.setattr(parallel.Runner, "submit", broken)
    reports = check_many(zoo[1][:2], jobs=1, **FAST)
    assert [r.verdict for r in reports] == ["ERROR", "ERROR"]
    assert reports[0].error[0] == "WorkerCrashed" and "BrokenProcessPool: A child process terminated" in reports[0].error[1]


@pytest.mark.onnx
def test_a_serial_campaign_after_onnx_checks_here_does_not_hang(zoo):
    """Nets whose source is an onnxruntime session, checked in this process, then a serial campaign: its forked
    tasks must not free those sessions (their destructors wait on this process's thread pools, which the child
    lacks: it hung in pthread_cond_destroy, found by running test_onnx_zoo.py before this file)."""
    pytest.importorskip("onnxruntime")
    for path in [p for p in zoo[1] if p.suffix == ".onnx"]:  # each net is dropped after its check: only the
        net = wb.load(path)                                  # sympy row's cache of compiled layers may hold it
        assert net.origin is not None and net.check(engine="woxi", samples=4).passed
    del net
    reports = check_many([str(p) for p in zoo[1]], jobs=1, model_timeout=60, **FAST)
    assert [r.verdict for r in reports] == ["PASSED"] * len(zoo[1])
