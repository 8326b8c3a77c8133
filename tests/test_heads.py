"""Issue 17 parts 3-4 in the IR: argmax/argmin, compare, where, one_hot, cast and dynamic_slice with numbers
(reference, Python, exact integer comparison, refusals with reasons, Woxi and Mathics3 checks of the case-table
rows), and the torch routes (module and .pt2) to them. The ONNX zoo: tests/test_onnx_heads.py."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.ir import NetBuilder

from .cases import CASE_BY_NAME, sample_inputs

from wlbridge.testing import mathics_engine, woxi_engine  # noqa: E402,F401 - the package's own engine fixtures


# ---- the IR ops: semantics with numbers ---------------------------------------------------------

def _net(op, shape, attrs, extra=()):
    b = NetBuilder(op)
    x = b.input("x", shape)
    ins = [x] + [b.input(f"s{k}", s) for k, s in enumerate(extra)]
    return b.build([b.layer(op, ins, attrs=attrs)])


def test_argmax_takes_the_first_of_tied_maxima_and_argmin_the_first_minimum():
    x = np.array([[1.0, 3.0, 3.0, -2.0], [5.0, 5.0, 0.0, -2.0]])
    np.testing.assert_array_equal(_net("argmax", (4,), {"axis": 0, "keepdims": False})(x), [1.0, 0.0])
    np.testing.assert_array_equal(_net("argmin", (4,), {"axis": -1, "keepdims": True})(x), [[3.0], [3.0]])


def test_cast_rounds_toward_zero_and_to_bool_tests_nonzero():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 2.7])
    np.testing.assert_array_equal(_net("cast", (5,), {"to": "int64"})(x), [-2.0, 0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(_net("cast", (5,), {"to": "bool"})(x), [1.0, 1.0, 0.0, 1.0, 1.0])


def test_one_hot_counts_negative_indices_from_the_end_and_leaves_others_off():
    net = _net("one_hot", (4,), {"depth": 3, "axis": 0, "off": -1.0, "on": 5.0})
    np.testing.assert_array_equal(net(np.array([0.0, 2.9, -1.0, 7.0])),  # 2.9 -> 2, -1 -> 2, 7: none
                                  [[5, -1, -1, -1], [-1, -1, -1, -1], [-1, 5, 5, -1]])


def test_dynamic_slice_clamps_the_window_inside_the_axis():
    net = _net("dynamic_slice", (5,), {"axes": (0,), "sizes": (2,)}, [()])
    x = np.arange(5.0)[None].repeat(4, 0)
    got = net(x, np.array([1.9, -1.0, 9.0, -7.0]))
    np.testing.assert_array_equal(got, [[1, 2], [3, 4], [3, 4], [0, 1]])
    assert net.meta["data_dependent"] == ["h1 (dynamic_slice): a slice start computed from the input values"]


def test_integer_values_print_as_integers():
    text = str(CASE_BY_NAME["compare_where_cast"].build())
    assert "h1: bool[2,3] = compare[kind=greater_equal](x, y)" in text
    assert "i64[2,3] = cast[to=int64]" in text


@pytest.mark.parametrize("name", ["argmax_one_hot", "compare_where_cast", "dynamic_slice"])
def test_python_matches_the_reference_exactly(name):  # C: tests/test_emit_c.py runs the whole case table
    net = CASE_BY_NAME[name].build()
    xs = sample_inputs(net, 16, seed=3)
    want = net(*xs)
    ns = {}
    exec(net.to_python(), ns)
    got = ns["f"](*xs)
    for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        np.testing.assert_array_equal(g, w)


def test_the_check_compares_integer_outputs_exactly():
    from wlbridge.check.report import compare

    ref, got = [np.array([[3.0, 1.0]])], [np.array([[3.0, 1.0 + 1e-12]])]
    assert compare("woxi", ref, got, rtol=1e-9).passed
    row = compare("woxi", ref, got, rtol=1e-9, integers=[True])
    assert not row.passed and row.max_abs == pytest.approx(1e-12) and row.rtol == row.atol == 0.0
    assert compare("woxi", ref, ref, rtol=1e-9, integers=[True]).passed


def test_regions_jacobian_and_sympy_refuse_by_name_with_the_reason():
    net = CASE_BY_NAME["argmax_one_hot"].build()
    with pytest.raises(wb.UnsupportedLayerError, match=r"\(argmax\): argmax is not piecewise-linear and not "
                                                        r"differentiable"):
        net.jacobian()
    with pytest.raises(wb.UnsupportedLayerError, match=r"linear regions: .*\(one_hot\): one_hot is not piecewise"):
        net.linear_regions(-1, 1)
    dyn = CASE_BY_NAME["dynamic_slice"].build()
    for refuse in (dyn.to_sympy, lambda: dyn.to_sympy(form="expanded"), dyn.jacobian):
        with pytest.raises(wb.UnsupportedLayerError, match=r"\(dynamic_slice\): data-dependent"):
            refuse()


@pytest.mark.woxi
@pytest.mark.parametrize("form", ["compact", "expanded"])
@pytest.mark.parametrize("name", ["argmax_one_hot", "compare_where_cast", "dynamic_slice"])
def test_woxi_check(name, form, woxi_engine):
    report = CASE_BY_NAME[name].build().check(engine=woxi_engine, samples=24, form=form, sympy=form == "compact")
    assert report.passed, str(report)


@pytest.mark.mathics
@pytest.mark.parametrize("name", ["argmax_one_hot", "compare_where_cast", "dynamic_slice"])
def test_mathics_check(name, mathics_engine):
    report = CASE_BY_NAME[name].build().check(engine=mathics_engine, samples=3, sympy=False)
    assert report.passed and report.rows[-1].samples == 3, str(report)


torch = pytest.importorskip("torch")


class Heads(torch.nn.Module):
    """argmax -> one_hot -> == -> .long() -> sum -> .float(); where on a comparison; != as a number."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        labels = torch.nn.functional.one_hot(torch.softmax(self.conv(x), dim=1).argmax(dim=1), 3)
        counts = (labels == 1).long().sum(dim=(1, 2)).float()
        switched = torch.where(x[:, 0] > 0.5, x[:, 1], -x[:, 1]).sum(dim=(1, 2))
        mask = (x[:, 1] < 0).long()
        return counts, switched + torch.where(mask.bool(), x[:, 0], 0.5).sum(dim=(1, 2)), \
            (x[:, 0, 0] != x[:, 1, 0]).float()


@pytest.mark.parametrize("route", ["module", pytest.param("pt2", marks=pytest.mark.slow)])
def test_torch_heads_convert_and_match(route, tmp_path):
    m = Heads().eval()
    x = torch.randn(16, 2, 4, 4)
    if route == "module":
        net = wb.from_torch(m, input_shape=(2, 4, 4))
    else:
        torch.export.save(torch.export.export(m, (x[:1],)), str(tmp_path / "heads.pt2"))
        net = wb.load(str(tmp_path / "heads.pt2"))
    assert {"argmax", "one_hot", "compare", "cast"} <= {la.op for la in net.layers}
    for got, want in zip(net(x.numpy().astype(np.float64)), m(x)):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert str(net).splitlines()[0].endswith("f32[4]")  # the .float() of a comparison is a float again


@pytest.mark.woxi
def test_per_layer_check_compares_each_layer_with_its_own_tolerance(woxi_engine):
    """The outputs are integers (compared exactly); the float layers before them keep the float tolerance."""
    report = CASE_BY_NAME["argmax_one_hot"].build().check(engine=woxi_engine, samples=8, per_layer=True)
    assert report.passed, str(report)
    assert {r.op for r in report.layers} >= {"linear", "argmax", "one_hot", "compare"}
    assert all(r.passed for r in report.layers), str(report)
