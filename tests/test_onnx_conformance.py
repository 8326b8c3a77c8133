"""A fast subset of benchmarks/onnx_conformance.py: ONNX backend test data through the front end,
evaluated with the numpy reference and compared with the shipped expected outputs."""
from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytestmark = pytest.mark.onnx

_spec = importlib.util.spec_from_file_location(
    "onnx_conformance", Path(__file__).parent.parent / "benchmarks" / "onnx_conformance.py")
conf = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = conf  # dataclasses look their module up
_spec.loader.exec_module(conf)

# node tests run (float data, every op supported) per op: a drop means lost support
NODE_RUNS = {"Gemm": 11, "MatMul": 5, "Softmax": 7, "LogSoftmax": 7, "Conv": 6, "MaxPool": 16, "AveragePool": 20,
             "Concat": 12, "Flatten": 9, "Clip": 9, "BatchNormalization": 2, "Reshape": 10, "Transpose": 7,
             "Squeeze": 2, "Unsqueeze": 7, "Gelu": 4, "HardSigmoid": 3, "LeakyRelu": 3, "Elu": 3, "Selu": 3,
             "Celu": 2, "PRelu": 2, "Softplus": 2, "Mish": 1, "HardSwish": 1, "Pow": 8, "ReduceMean": 8,
             "GlobalAveragePool": 2, "Shrink": 2, "Sum": 3, "Max": 6, "Min": 6, "Mean": 3, "Dropout": 4,
             "Pad": 3, "Resize": 12, "ConvTranspose": 8, "LSTM": 5, "GRU": 6, "RNN": 6,
             "Split": 16, "Gather": 4, "LayerNormalization": 19, "Tile": 2, "Upsample": 1, "Expand": 2}
EVALUATORS = {"ref": conf.eval_reference}


@pytest.fixture(scope="module")
def node_results():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = [c for c in conf.node_cases(set(NODE_RUNS)) if conf.usable(c)]
        return [conf.run_case(c, EVALUATORS) for c in cases]


@pytest.mark.parametrize("op", sorted(NODE_RUNS))
def test_node_tests_pass(node_results, op):
    mine = [r for r in node_results if r.case.ops == (op,)]
    ran = [r for r in mine if r.status != "skipped"]
    bad = [(r.case.name, r.status, r.note, r.errors) for r in ran if r.status != "passed"]
    assert not bad
    assert len(ran) == NODE_RUNS[op], [(r.case.name, r.note) for r in mine if r.status == "skipped"]
    assert max(r.errors["ref"] for r in ran) < 1e-4


@pytest.mark.parametrize("suite,runs,skip,op", [("pytorch-converted", 80, None, None),  # every usable case runs
                                                ("pytorch-operator", 33, "test_operator_symbolic_override",
                                                 "InstanceNormalization")])
def test_model_suites_pass(suite, runs, skip, op):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        results = [conf.run_case(c, EVALUATORS) for c in conf.model_cases([suite]) if conf.usable(c)]
    ran = [r for r in results if r.status != "skipped"]
    assert [(r.case.name, r.note) for r in ran if r.status != "passed"] == []
    assert len(ran) == runs
    assert max(r.errors["ref"] for r in ran) < 1e-5
    skipped = {r.case.name: r.note for r in results if r.status == "skipped"}
    if skip is None:
        assert skipped == {}
    else:
        assert skipped[skip] == op  # listed by op, with no false reason
