"""The loader's keywords at every door: ``--input-names`` and ``--sequence-length`` on convert, check (one model
or several), info and regions, as ``wlbridge.load(input_names=, sequence_length=)`` and ``check_many``."""
from __future__ import annotations

import json

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.cli import main

onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.onnx


@pytest.fixture
def seq_model(tmp_path):
    """MatMul then ReLU over a symbolic time axis: x [1, 'seq', 2] -> [1, 'seq', 3]."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array((np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5) / 7, "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"]), helper.make_node("Relu", ["y"], ["z"])], "seqmm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq", 2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, "seq", 3])], initializer=[w])
    path = tmp_path / "seq.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_without_a_length_the_cli_says_which_flag(seq_model, capsys):
    assert main(["info", str(seq_model)]) == 2
    err = capsys.readouterr().err
    assert "seq.onnx: input 'x' has a dynamic shape [1, 'seq', 2]" in err and "pass --sequence-length N" in err
    with pytest.raises(wb.ConversionError, match="pass sequence_length="):
        wb.load(seq_model)


def test_info_and_convert_take_the_loaders_keywords(seq_model, capsys):
    assert main(["info", str(seq_model), "--sequence-length", "4"]) == 0
    assert "inputs:      x[4, 2]" in capsys.readouterr().out
    assert main(["convert", str(seq_model), "--sequence-length", "2", "--input-names", "a,b,c,d",
                 "--form", "expanded", "--to", "sympy"]) == 0
    out = capsys.readouterr().out
    api = wb.load(seq_model, sequence_length=2, input_names=["a", "b", "c", "d"]).to_sympy(form="expanded")
    assert out.strip() == str(api).strip() and "a" in out and "x1" not in out


def test_check_one_and_several_models_and_regions(seq_model, tmp_path, capsys):
    assert main(["check", str(seq_model), "--sequence-length", "3", "--engine", "woxi", "--samples", "4"]) == 0
    assert "PASSED" in capsys.readouterr().out
    other = tmp_path / "again.onnx"
    other.write_bytes(seq_model.read_bytes())
    assert main(["check", str(seq_model), str(other), "--sequence-length", "3", "--engine", "woxi", "--samples", "4",
                 "--jobs", "1"]) == 0
    assert "2 passed" in capsys.readouterr().out
    reports = wb.check_many([str(seq_model)], sequence_length=3, engine="woxi", samples=4, jobs=1)
    assert reports[0].passed and reports[0].rows[0].samples == 4
    assert main(["regions", str(seq_model), "--sequence-length", "2", "--box", "-1", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    count = len(wb.load(seq_model, sequence_length=2).linear_regions(-1, 1))
    assert count > 4 and shown["count"] == len(shown["regions"]) == count and shown["lower"] == [-1.0] * 4


@pytest.mark.parametrize("argv, message", [
    (["--input-names", "a,,b"], "give names separated by commas"),
    (["--sequence-length", "0"], "must be at least 1"),
])
def test_bad_loader_flags_are_usage_errors(seq_model, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["info", str(seq_model), *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err
