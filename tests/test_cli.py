"""The ``wlbridge`` command: exit codes 0 / 1 / 2, messages, --help."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.cli import main
from wlbridge.errors import UnsupportedLayerError

ROOT = Path(__file__).resolve().parents[1]
CODE = "Function[{x}, Ramp[{{1.`, 2.`, 3.`}, {-1.`, 0.5`, 0.25`}} . x + {0.1`, -0.2`}]]"


def relu_net():
    b = wb.NetBuilder("relu-net")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]]),
                                       "bias": np.array([0.1, -0.2])}, path="0")
    return b.build([b.layer("elementwise", [h], attrs={"fn": "relu"}, path="1")])


def run(argv, net=None, loader=None):
    return main(argv, load=loader or (lambda path: net or relu_net()))


@pytest.fixture
def code_file(tmp_path):
    def write(text):
        p = tmp_path / "f.wl"
        p.write_text(text)
        return str(p)
    return write


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "wlbridge check model.onnx" in out and "exit status" in out
    with pytest.raises(SystemExit) as e:
        main(["check", "--help"])
    assert e.value.code == 0 and "--engine" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["check", "m.onnx", "--engine", "maple"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["check", "m.onnx", "--samples", "0"])
    assert e.value.code == 2


@pytest.mark.woxi
def test_check_passes_exit_0(capsys, code_file):
    assert run(["check", "m.onnx", "--engine", "woxi", "--code", code_file(CODE), "--samples", "8"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "woxi" in out and "8 samples" in out


@pytest.mark.woxi
def test_check_fails_exit_1_with_numbers(capsys, code_file):
    bad = CODE.replace("2.`, 3.`", "2.`, 3.5`")
    assert run(["check", "m.onnx", "--engine", "woxi", "--code", code_file(bad), "--seed", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    err = float(next(line for line in out.splitlines() if line.strip().startswith("woxi")).split()[2])
    assert 0.1 < err < 10


@pytest.mark.woxi
def test_check_reports_unevaluated_code_exit_1(capsys, code_file):
    assert run(["check", "m.onnx", "--engine", "woxi", "--code", code_file(CODE.replace("Ramp", "Rampe"))]) == 1
    assert "Rampe[" in capsys.readouterr().out


def test_missing_code_file_exit_2(capsys, tmp_path):
    assert run(["check", "m.onnx", "--engine", "woxi", "--code", str(tmp_path / "none.wl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlbridge: error: ") and "none.wl: cannot read" in err and err.count("\n") == 1


def test_missing_engine_exit_2(capsys, monkeypatch, code_file):
    monkeypatch.setitem(sys.modules, "woxi", None)
    assert run(["check", "m.onnx", "--engine", "woxi", "--code", code_file(CODE)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'wlbridge[woxi]'" in err and err.count("\n") == 1


def test_missing_kernel_exit_2(capsys, monkeypatch, code_file, tmp_path):
    from wlbridge.check import wolfram

    monkeypatch.delenv("WOLFRAM_KERNEL", raising=False)
    monkeypatch.setattr(wolfram, "kernel_candidates", lambda: [str(tmp_path / "*" / "WolframKernel")])
    monkeypatch.setattr(wolfram.shutil, "which", lambda name: None)
    assert run(["check", "m.onnx", "--engine", "wolfram", "--code", code_file(CODE)]) == 2
    assert "WOLFRAM_KERNEL" in capsys.readouterr().err


def test_missing_kernel_is_one_short_paragraph(capsys, monkeypatch, code_file, tmp_path):
    from wlbridge.check import wolfram

    monkeypatch.delenv("WOLFRAM_KERNEL", raising=False)
    monkeypatch.setattr(wolfram, "kernel_candidates", lambda: [str(tmp_path / "*" / "WolframKernel")])
    monkeypatch.setattr(wolfram.shutil, "which", lambda name: None)
    assert run(["check", "m.onnx", "--engine", "wolfram", "--code", code_file(CODE)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path) in err and "--kernel PATH" in err and len(err) < 800
    assert run(["check", "m.onnx", "--engine", "wolfram", "--kernel", str(tmp_path / "nope"),
                "--code", code_file(CODE)]) == 2
    assert "is not a file" in capsys.readouterr().err


def test_unsupported_layer_exit_2(capsys):
    def loader(path):
        raise UnsupportedLayerError("onnx", [("/blk/Gelu", "TopK", ""), ("/lstm", "LSTM", "recurrent")])

    assert run(["info", "m.onnx"], loader=loader) == 2
    err = capsys.readouterr().err
    assert err == "wlbridge: error: onnx: 2 unsupported layers: /blk/Gelu (TopK); /lstm (LSTM): recurrent\n"


def test_bad_files_exit_2_without_traceback(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model at all")
    for path in (junk, tmp_path / "missing.onnx"):
        p = subprocess.run([sys.executable, "-m", "wlbridge", "info", str(path)], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert p.returncode == 2, p.stderr
        assert p.stderr.startswith(f"wlbridge: error: {path}") and "Traceback" not in p.stderr


def test_info(capsys):
    assert run(["info", "m.onnx"]) == 0
    out = capsys.readouterr().out
    assert "linear(x; weight=f64[2,3], bias=f64[2])  # 0" in out
    assert "parameters:  8 (float64)" in out and "x1, x2, x3 (3)" in out and "ops: elementwise, linear" in out
    assert "engines:" in out and "emit wl:" in out


def test_convert_writes_wl(tmp_path, capsys):
    out = tmp_path / "net.wl"
    assert run(["convert", "m.onnx", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("Function[{x}, With[{h1 = {{1.`, 2.`, 3.`}, {-1.`, 0.5`, 0.25`}} . x") and text.endswith("\n")
    assert run(["convert", "m.onnx", "--form", "expanded", "--call", "sequence"]) == 0
    assert capsys.readouterr().out.startswith("Function[{x1, x2, x3}, {Ramp[0.1` + x1 + 2.` x2 + 3.` x3]")
    assert run(["convert", "m.onnx", "--exact", "--form", "expanded"]) == 0
    assert "Ramp[3602879701896397/36028797018963968 + x1 + 2 x2 + 3 x3]" in capsys.readouterr().out  # 0.1 exactly
    for to in ("sympy", "latex", "python"):
        assert run(["convert", "m.onnx", "--to", to]) == 0 and capsys.readouterr().out.strip()
    assert run(["convert", "m.onnx", "-o", str(tmp_path / "no" / "dir.wl")]) == 2


@pytest.mark.onnx
@pytest.mark.woxi
def test_real_onnx_file_convert_check_info(tmp_path, code_file):
    from tests.test_check import onnx_model

    path = onnx_model(tmp_path / "m.onnx")
    cmd = [sys.executable, "-m", "wlbridge"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    conv = subprocess.run(cmd + ["convert", path], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert conv.returncode == 0 and conv.stdout.startswith("Function[{x}, ") and "LogisticSigmoid" in conv.stdout
    good = subprocess.run(cmd + ["check", path, "--engine", "woxi", "--samples", "16"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "source (onnx" in good.stdout and "PASSED" in good.stdout and good.stderr == ""
    wrong = conv.stdout.replace("LogisticSigmoid", "Tanh")
    bad = subprocess.run(cmd + ["check", path, "--engine", "woxi", "--code", code_file(wrong)], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=300)
    assert bad.returncode == 1 and "FAILED" in bad.stdout
    info = subprocess.run(cmd + ["info", path], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert info.returncode == 0 and "parameters:  16 (float32)" in info.stdout and "onnx" in info.stdout
