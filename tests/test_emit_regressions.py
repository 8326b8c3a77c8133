"""Regressions from the ONNX conformance run: small IR nets whose emitted WL (Woxi, Mathics3) and
sympy forms once failed; each is compared with the numpy reference at rtol 1e-9."""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.emit.wl import to_wl
from wlbridge.errors import ExpressionTooLargeError
from wlbridge.ir import NetBuilder


def _engine(name):
    from wlbridge.check import engines
    pytest.importorskip("woxi" if name == "woxi" else "mathics")
    return engines.WoxiEngine() if name == "woxi" else engines.MathicsEngine()


@pytest.fixture(scope="module", params=["woxi", "mathics"])
def engine(request):
    return _engine(request.param)


def _inputs(net, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, *p.shape)) * 2 for p in net.inputs]


def _assert_wl(engine, net, form="compact"):
    xs = _inputs(net)
    call = "list" if form == "compact" else "sequence"
    code = to_wl(net, form=form, call=call)
    r = engine.apply(code, xs, call=call, output_shapes=net.output_shapes)
    assert r.ok, f"{r.problem} {r.messages}\n{code[:1500]}"
    want = net(*xs)
    for got, w in zip(r.values, want if isinstance(want, list) else [want]):
        np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-12)


def _assert_sympy(net):
    from wlbridge.check.sympy_eval import evaluate_sympy
    xs = _inputs(net)
    want = net(*xs)
    for form in ("compact", "expanded"):
        for got, w in zip(evaluate_sympy(net, xs, form=form), want if isinstance(want, list) else [want]):
            np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-12)


def max_with_scalar(op="max"):
    """ONNX Clip with one bound: max/min of an array and a scalar constant."""
    b = NetBuilder("max_scalar")
    x = b.input("x", (2, 3))
    c = b.constant(np.array(0.25))
    return b.build([b.layer(op, [x, c])])


def scalar_fn_with_scalars():
    """ONNX's expanded Clip: If[a1 < a2, a3, a4] with scalar bounds."""
    b = NetBuilder("clip_expanded")
    x = b.input("x", (2, 3))
    lo = b.constant(np.array(-0.5))
    body = ("where", ("less", ("arg", 1), ("arg", 2)), ("arg", 2), ("arg", 1))
    return b.build([b.layer("scalar_fn", [x, lo], attrs={"body": body})])


def clip_min_above_max():
    b = NetBuilder("clip_swapped")
    x = b.input("x", (4,))
    return b.build([b.layer("elementwise", [x], attrs={"fn": "clip", "fn_params": {"min_val": 1.0, "max_val": -1.0}})])


def matmul_rank3():
    """ONNX test_matmul_4d_1d: x . w with x of rank 3 (Woxi's rank-3 Dot is wrong)."""
    b = NetBuilder("matmul3")
    x = b.input("x", (2, 4, 3))
    w = np.random.default_rng(1).normal(size=(3, 2))
    return b.build([b.layer("matmul", [x], params={"weight": w})])


def linear_rank3():
    b = NetBuilder("linear3")
    x = b.input("x", (2, 2, 3))
    rng = np.random.default_rng(2)
    return b.build([b.layer("linear", [x], params={"weight": rng.normal(size=(4, 3)), "bias": rng.normal(size=4)})])


def reshape_zero():
    """ONNX test_reshape_allowzero_reordered: a zero-size reshape."""
    b = NetBuilder("reshape_zero")
    x = b.input("x", (0, 3, 4))
    return b.build([b.layer("reshape", [x], attrs={"shape": (3, 4, 0)})])


def causal_softmax():
    """ONNX's expanded causal Attention: scores plus a constant -inf mask, then softmax. The expanded form
    once gave (-Infinity) - (-Infinity) = Indeterminate (sympy: nan) for the masked entries."""
    b = NetBuilder("causal_softmax")
    x = b.input("x", (3, 3))
    mask = b.constant(np.where(np.tri(3, dtype=bool), 0.0, -np.inf))
    return b.build([b.layer("softmax", [b.layer("add", [x, mask])], attrs={"axis": -1})])


WL_NETS = [max_with_scalar, lambda: max_with_scalar("min"), scalar_fn_with_scalars, clip_min_above_max,
           causal_softmax, matmul_rank3, linear_rank3, reshape_zero]
IDS = ["max_scalar", "min_scalar", "scalar_fn_scalars", "clip_swapped", "causal_softmax", "matmul3", "linear3",
       "reshape_zero"]


@pytest.mark.parametrize("make", WL_NETS, ids=IDS)
def test_wl_compact(engine, make):
    _assert_wl(engine, make())


@pytest.mark.parametrize("make", WL_NETS[:5], ids=IDS[:5])
def test_wl_expanded(engine, make):
    _assert_wl(engine, make(), form="expanded")


@pytest.mark.parametrize("make", WL_NETS, ids=IDS)
def test_sympy(make):
    _assert_sympy(make())


@pytest.mark.parametrize("fn", ["round", "gelu", "erf"])
def test_sympy_round_gelu(fn):
    b = NetBuilder(fn)
    x = b.input("x", (5,))
    _assert_sympy(b.build([b.layer("elementwise", [x], attrs={"fn": fn})]))


def test_clip_swapped_is_max_everywhere():
    net = clip_min_above_max()
    np.testing.assert_array_equal(net(np.array([[-3.0, 0.0, 0.5, 3.0]])), [[-1.0] * 4])


def big_pool():
    b = NetBuilder("big_pool")
    x = b.input("x", (1, 300, 300))
    y = b.layer("pool", [x], attrs={"kind": "max", "kernel": (3, 3), "stride": (1, 1),
                                    "padding": ((0, 0), (0, 0)), "dilation": (2, 2)})
    return b.build([y])


def test_expanded_size_refused_early():
    net = big_pool()
    with pytest.raises(ExpressionTooLargeError, match="max_size"):
        to_wl(net, form="expanded", max_size=100_000)
    with pytest.raises(ExpressionTooLargeError, match="max_size"):
        net.to_sympy(form="expanded")


def test_check_drops_nonfinite_reference_samples():
    """sqrt of a negative: WL gives a complex number, the reference NaN; check drops that sample."""
    pytest.importorskip("woxi")
    from wlbridge.check.roundtrip import check
    from wlbridge.errors import ConversionError
    b = NetBuilder("sqrt")
    x = b.input("x", (3,))
    net = b.build([b.layer("elementwise", [x], attrs={"fn": "sqrt"})])
    rep = check(net, engine="woxi", inputs=[np.array([[1.0, -4.0, 9.0], [4.0, 1.0, 0.25]])])
    assert rep.passed and rep.samples == 1
    assert any("1 sampled inputs dropped" in n for n in rep.notes)
    with pytest.raises(ConversionError, match="not finite on any sampled input"):
        check(net, engine="woxi", inputs=[np.array([[-1.0, 2.0, 3.0]])])
