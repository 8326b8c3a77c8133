"""check(): pass and FAIL cases against hand-written WL code, tolerance logic, sampling, the report."""
from __future__ import annotations

import math

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check import engines as E
from wlbridge.check.report import CODE_RTOL, compare, source_rtol
from wlbridge.check.roundtrip import check
from wlbridge.check.sampling import as_batch, sample_inputs
from wlbridge.errors import CheckFailedError, ConversionError
from wlbridge.ir import Origin

W = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]])
B = np.array([0.1, -0.2])
CODE = "Function[{x}, Ramp[{{1.`, 2.`, 3.`}, {-1.`, 0.5`, 0.25`}} . x + {0.1`, -0.2`}]]"


@pytest.fixture(scope="module")
def engines():
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    return [E.WoxiEngine(), E.MathicsEngine()]


@pytest.fixture(scope="module")
def woxi():
    pytest.importorskip("woxi")
    return E.WoxiEngine()


def relu_net(origin=None):
    b = wb.NetBuilder("relu-net")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": W, "bias": B})
    return b.build([b.layer("elementwise", [h], attrs={"fn": "relu"})], origin=origin)


def test_correct_code_passes_in_both_engines(engines):
    report = check(relu_net(), engine=engines, code=CODE, samples=16, sympy=False)
    assert report.passed, str(report)
    assert report.engine == "woxi+mathics"
    assert [r.evaluator for r in report.rows] == ["woxi", "mathics"]
    assert all(r.samples == 16 for r in report.rows)
    assert report.max_abs_err < 1e-14 and report.max_rel_err < 1e-14
    assert "PASSED" in str(report) and "max abs err" in str(report)


def test_wrong_weight_fails_with_numbers(engines):
    bad = CODE.replace("0.25`", "0.26`")  # W[1, 2] off by 0.01
    report = check(relu_net(), engine=engines, code=bad, samples=32, seed=3, sympy=False)
    assert not report.passed
    x = sample_inputs(relu_net(), 32, seed=3)[0]
    pre = x @ W.T + B
    expected = np.max(np.where(pre[:, 1] + 0.01 * x[:, 2] > 0, np.abs(np.maximum(pre[:, 1] + 0.01 * x[:, 2], 0)
                                                                        - np.maximum(pre[:, 1], 0)), 0))
    for row in report.rows:
        assert row.passed is False
        np.testing.assert_allclose(row.max_abs, expected, rtol=1e-9)
    assert "FAILED" in str(report) and f"{expected:.2e}" in str(report)
    with pytest.raises(CheckFailedError) as e:
        check(relu_net(), engine=engines[:1], code=bad, samples=32, seed=3, sympy=False, raise_on_failure=True)
    assert e.value.report.max_abs_err == pytest.approx(expected, rel=1e-9)


def test_unevaluated_head_fails_with_the_text(woxi):
    report = check(relu_net(), engine=woxi, code=CODE.replace("Ramp", "Rampe"), samples=4, sympy=False)
    assert not report.passed and math.isinf(report.max_abs_err)
    assert "Rampe[" in report.rows[0].note and "Rampe[" in str(report)


def test_wrong_output_shape_fails(woxi):
    report = check(relu_net(), engine=woxi, code="Function[{x}, {Total[x]}]", samples=4, sympy=False)
    assert not report.passed and "expected [1, 2]" in report.rows[0].note  # the first sample fails: no more run


def test_mathics_gets_the_samples_that_fit_its_budget(engines):
    check(relu_net(), engine=engines[1:], code=CODE, samples=1, sympy=False)  # its kept worker started
    report = check(relu_net(), engine=engines, code=CODE.replace("Function[{x}, ", "Function[{x}, Pause[0.2]; "),
                   samples=64, sympy=False, mathics_budget=3.0)
    woxi_row, mathics_row = report.rows
    assert woxi_row.samples == 64 and 1 <= mathics_row.samples < 64
    assert f"{mathics_row.samples} of 64 samples" in mathics_row.note and report.passed


def test_mathics_is_skipped_when_one_sample_would_blow_the_budget(engines):
    report = check(relu_net(), engine=engines, code=CODE, samples=4, sympy=False, mathics_budget=0.001)
    woxi_row, mathics_row = report.rows
    assert woxi_row.passed and mathics_row.status == "skipped" and report.passed
    assert "one sample would take" in mathics_row.note and "mathics_budget 0.001 s" in mathics_row.note


def test_sequence_call_and_two_inputs(woxi):
    b = wb.NetBuilder("sum")
    u, v = b.input("u", (2,)), b.input("v", (2,))
    net = b.build([b.layer("mul", [b.layer("add", [u, v]), u])])
    assert check(net, engine=woxi, code="Function[{u, v}, (u + v) u]", sympy=False).passed
    seq = check(net, engine=woxi, code="Function[{a, b, c, d}, {(a + c) a, (b + d) b}]", call="sequence", sympy=False)
    assert seq.passed and seq.max_abs_err < 1e-15
    swapped = check(net, engine=woxi, code="Function[{u, v}, (u + v) v]", sympy=False)
    assert not swapped.passed and swapped.max_abs_err > 0.1


def test_source_row_uses_the_source_precision(woxi):
    def float32_forward(x):
        x32 = x.astype(np.float32)
        return np.maximum(x32 @ W.T.astype(np.float32) + B.astype(np.float32), 0)

    net = relu_net(Origin("numpy-f32", float32_forward, "float32"))
    report = check(net, engine=woxi, code=CODE, samples=64, sympy=False)
    source = report.rows[0]
    assert source.evaluator == "source (numpy-f32)" and source.kind == "source" and source.passed
    assert 1e-9 < source.max_abs < 1e-5 and source.rtol == source_rtol("float32")
    assert report.passed and report.max_abs_err < 1e-14  # the source's error is not the code's

    wrong = relu_net(Origin("off", lambda x: float32_forward(x) + 1e-3, "float32"))
    assert not check(wrong, engine=woxi, code=CODE, samples=8, sympy=False).passed


def test_source_that_crashes_is_a_failure_not_an_exception(woxi):
    def boom(x):
        raise RuntimeError("no backend")

    report = check(relu_net(Origin("torch", boom)), engine=woxi, code=CODE, samples=4, sympy=False)
    assert not report.passed and "RuntimeError: no backend" in str(report)


# ---- tolerance logic -----------------------------------------------------------------------------

def test_tolerances():
    assert CODE_RTOL == 1e-9
    assert source_rtol("float32") == pytest.approx(1024 * 2.0 ** -23)
    assert source_rtol("float64") == pytest.approx(1024 * 2.0 ** -52)
    assert source_rtol("float16") == pytest.approx(1024 * 2.0 ** -10 / 2)  # capped at 0.5


def test_compare_allows_rounding_near_zero_but_not_real_errors():
    ref = [np.array([[10.0, 1e-12], [-3.0, 0.0]])]
    near_zero = [ref[0] + np.array([[0.0, 5e-15], [0.0, -5e-15]])]  # cancellation-sized, relative error huge
    row = compare("e", ref, near_zero, rtol=1e-9)
    assert row.passed and row.atol == pytest.approx(1e-8)
    assert compare("e", ref, [ref[0] * (1 + 3e-9)], rtol=1e-9).passed is False  # allowed: 2e-9 at the max
    assert compare("e", ref, [ref[0] * (1 + 2e-9)], rtol=1e-8).passed is True
    assert compare("e", ref, [ref[0] + 1e-7], rtol=1e-9, atol=1e-6).passed is True


def test_compare_failures():
    ref = [np.zeros((2, 3))]
    assert "shape [2, 2]" in compare("e", ref, [np.zeros((2, 2))], rtol=1e-9).note
    assert "non-finite" in compare("e", ref, [np.full((2, 3), np.inf)], rtol=1e-9).note
    assert "1 outputs, expected 2" in compare("e", ref * 2, ref, rtol=1e-9).note


# ---- sampling and inputs -------------------------------------------------------------------------

def test_samples_are_seeded_and_given_inputs_are_used(woxi):
    a = sample_inputs(relu_net(), 8, seed=1)[0]
    np.testing.assert_array_equal(a, sample_inputs(relu_net(), 8, seed=1)[0])
    assert not np.array_equal(a, sample_inputs(relu_net(), 8, seed=2)[0])
    x = np.array([[1.0, -2.0, 0.5]])
    report = check(relu_net(), engine=woxi, code=CODE, inputs=x, sympy=False)
    assert report.samples == 1 and report.passed
    assert as_batch(relu_net(), np.array([1.0, 2.0, 3.0]))[0].shape == (1, 3)
    with pytest.raises(ConversionError, match="shape"):
        as_batch(relu_net(), np.zeros((2, 4)))


def test_embedding_inputs_are_indices():
    b = wb.NetBuilder("emb")
    i = b.input("i", (3,), dtype="int64")
    net = b.build([b.layer("embedding", [i], params={"weight": np.arange(10.0).reshape(5, 2)})])
    idx = sample_inputs(net, 50, seed=0)[0]
    assert np.issubdtype(idx.dtype, np.integer) and idx.min() >= 0 and idx.max() < 5 and idx.max() > 0


def test_non_finite_reference_samples_are_dropped(woxi):
    b = wb.NetBuilder("log")
    x = b.input("x", (1,))
    net = b.build([b.layer("elementwise", [x], attrs={"fn": "log"})])
    report = check(net, engine=woxi, code="Function[{x}, Log[x]]", samples=32, sympy=False)
    assert report.passed and 0 < report.samples < 32
    assert "dropped" in str(report)


# ---- end to end: the emitters' code, the source nets -----------------------------------------------

E2E = ["seed_net", "residual", "multi_input", "conv1d", "softmax", "embedding", "scalar_fn"]


@pytest.mark.parametrize("name", E2E)
def test_emitted_code_passes_everywhere(engines, name):
    from tests.cases import CASE_BY_NAME

    net = CASE_BY_NAME[name].build()
    for form, call in (("compact", "list"), ("expanded", "sequence")):
        report = net.check(engine=engines, samples=8, seed=1, form=form, call=call, mathics_budget=60.0)
        assert report.passed, str(report)
        assert [r.evaluator for r in report.rows] == ["sympy", "woxi", "mathics"]
        assert all(r.passed for r in report.rows) and report.max_abs_err < 1e-12


def test_emitted_code_with_one_weight_changed_fails(woxi):
    import re

    from tests.cases import CASE_BY_NAME

    net = CASE_BY_NAME["seed_net"].build()
    code = net.to_wl()
    first = re.search(r"-?\d+\.\d+`", code)
    bumped = code[:first.start()] + repr(float(first.group()[:-1]) + 1e-6) + "`" + code[first.end():]
    good, bad = check(net, engine=woxi, code=code, sympy=False), check(net, engine=woxi, code=bumped, sympy=False)
    assert good.passed and good.max_abs_err < 1e-14
    assert not bad.passed and 1e-9 < bad.max_abs_err < 1e-4


def test_exact_rational_code_passes(woxi):
    from tests.cases import CASE_BY_NAME

    net = CASE_BY_NAME["seed_net"].build()
    report = check(net, engine=woxi, exact=True, samples=8, sympy=False)
    assert report.passed and report.max_abs_err < 1e-14 and "/" in net.to_wl(exact=True)


@pytest.mark.torch
def test_torch_source_row(woxi):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).eval()
    net = wb.from_torch(module, input_shape=(3,))
    report = net.check(engine=woxi, samples=32)
    source = report.rows[0]
    assert source.evaluator == "source (torch)" and source.passed and source.rtol == source_rtol("float32")
    assert 1e-9 < source.max_abs < 1e-5  # float32 rounding, seen and judged in float32
    assert report.passed and report.max_abs_err < 1e-12  # the code carries the float32 weights exactly


def onnx_model(path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(np.array([0.1, -0.2, 0.3, 0.0], dtype=np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "B"], ["h"], transB=1), helper.make_node("Sigmoid", ["h"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.onnx
def test_onnx_source_row(woxi, tmp_path):
    net = wb.load(onnx_model(tmp_path / "m.onnx"))
    report = net.check(engine=woxi, samples=16)
    assert report.rows[0].evaluator in ("source (onnxruntime)", "source (onnx.reference)")
    assert report.passed and all(r.passed for r in report.rows), str(report)


def test_auto_says_when_only_one_embedded_engine_is_there(monkeypatch, tmp_path):
    import sys

    from wlbridge.check import wolfram

    pytest.importorskip("woxi")
    monkeypatch.delenv("WOLFRAM_KERNEL", raising=False)
    monkeypatch.setattr(wolfram, "kernel_candidates", lambda: [str(tmp_path / "*" / "WolframKernel")])
    monkeypatch.setattr(wolfram.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "mathics.session", None)
    report = check(relu_net(), code=CODE, samples=4, sympy=False)
    assert report.engine == "woxi" and report.passed
    assert "only woxi is installed" in str(report)


def test_auto_without_a_kernel_uses_both_embedded_engines_and_says_so(monkeypatch, tmp_path):
    from wlbridge.check import wolfram

    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    monkeypatch.delenv("WOLFRAM_KERNEL", raising=False)
    monkeypatch.setattr(wolfram, "kernel_candidates", lambda: [str(tmp_path / "*" / "WolframKernel")])
    monkeypatch.setattr(wolfram.shutil, "which", lambda name: None)
    report = check(relu_net(), code=CODE, samples=4, sympy=False)
    assert report.engine == "woxi+mathics" and report.passed, str(report)
    assert "no Wolfram Engine found" in str(report) and "woxi and mathics" in str(report)
    with pytest.raises(wb.EngineNotFoundError, match="WOLFRAM_KERNEL"):
        check(relu_net(), engine="wolfram", code=CODE, samples=4)
