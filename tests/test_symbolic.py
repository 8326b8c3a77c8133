"""Symbolic (parametric) forms: weights as MatrixSymbols / WL symbols, activations as σ, φ; putting the numbers
back gives the numeric form's values (sympy, and Woxi for the WL form)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from wlbridge.errors import UnsupportedLayerError
from wlbridge.ir import NetBuilder


def mlp(acts=("tanh", "relu"), seed=0):
    rng = np.random.default_rng(seed)
    b = NetBuilder("mlp")
    v = b.input("x", (3,))
    n = 3
    for fn in acts:
        v = b.layer("linear", [v], params={"weight": rng.standard_normal((4, n)), "bias": rng.standard_normal(4)})
        v = b.layer("elementwise", [v], attrs={"fn": fn})
        n = 4
    return b.build([b.layer("linear", [v], params={"weight": rng.standard_normal((2, n)), "bias": rng.standard_normal(2)})])


def test_symbolic_weights_and_activations_substitute_back():
    net = mlp(("tanh", "sigmoid", "tanh"))
    form = net.to_sympy(weights="symbolic", activations="symbolic")
    assert str(form.expr) == "W4*σ(W3*φ(W2*σ(W1*x + b1) + b2) + b3) + b4"
    assert {s.name: s.shape for s in form.weights} == {"W1": (4, 3), "b1": (4, 1), "W2": (4, 4), "b2": (4, 1),
                                                       "W3": (4, 4), "b3": (4, 1), "W4": (2, 4), "b4": (2, 1)}
    assert form.functions == {"σ": ("tanh", {}), "φ": ("sigmoid", {})}
    for x in np.random.default_rng(1).standard_normal((3, 3)):
        np.testing.assert_allclose(form.numeric(x), net(x), rtol=1e-13)
    assert "\\sigma" in sp.latex(form.expr) or "σ" in sp.latex(form.expr)


def test_numeric_activations_and_residual():
    rng = np.random.default_rng(2)
    b = NetBuilder("res")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": rng.standard_normal((3, 3)), "bias": rng.standard_normal(3)})
    h = b.layer("add", [x, b.layer("elementwise", [h], attrs={"fn": "leaky_relu", "fn_params": {"negative_slope": 0.2}})])
    net = b.build([b.layer("matmul", [h], params={"weight": rng.standard_normal((3, 2))})])
    form = net.to_sympy(weights="symbolic")
    assert str(form.expr) == "W2*(leaky_relu(W1*x + b1) + x)"
    x0 = rng.standard_normal(3)
    np.testing.assert_allclose(form.numeric(x0), net(x0), rtol=1e-13)


def test_unsupported_named():
    b = NetBuilder("sm")
    x = b.input("x", (3,))
    net = b.build([b.layer("softmax", [x], attrs={"axis": -1}, path="head.1")])
    with pytest.raises(UnsupportedLayerError, match=r"head.1 \(softmax\)"):
        net.to_sympy(weights="symbolic")


def test_every_unsupported_layer_named_with_its_reason_at_once():
    rng = np.random.default_rng(3)
    b = NetBuilder("mixed")
    v = b.layer("linear", [b.input("x", (3,))], params={"weight": rng.standard_normal((4, 3))}, path="0")
    v = b.layer("batchnorm", [v], params={k: np.ones(4) for k in ("scale", "bias", "mean", "var")},
                attrs={"eps": 1e-5}, path="1")
    v = b.layer("elementwise", [v], attrs={"fn": "tanh"}, path="2")
    v = b.layer("layernorm", [v], params={"scale": np.ones(4), "bias": np.zeros(4)}, attrs={"axis": 0, "eps": 1e-5},
                path="3")
    v = b.layer("softmax", [b.layer("linear", [v], params={"weight": np.ones((2, 4))}, path="4")],
                attrs={"axis": -1}, path="5")
    net = b.build([v])
    for emit in (net.to_sympy, net.to_wl):
        with pytest.raises(UnsupportedLayerError) as info:
            emit(weights="symbolic")
        assert [(p, op) for p, op, _ in info.value.items] == [("1", "batchnorm"), ("3", "layernorm"), ("5", "softmax")]
        assert "net.simplify() folds a BatchNorm" in str(info.value) and "mixes the vector's entries" in str(info.value)


def test_unsupported_structure_says_what_it_got():
    b = NetBuilder("img")
    net = b.build([b.layer("elementwise", [b.input("x", (2, 2))], attrs={"fn": "tanh"})])
    with pytest.raises(UnsupportedLayerError, match=r"inputs of shapes \[\[2, 2\]\]: needs one vector input"):
        net.to_sympy(activations="symbolic")


@pytest.mark.woxi
def test_wl_symbolic_in_woxi():
    pytest.importorskip("woxi")
    net = mlp(("tanh", "relu"))
    code = net.to_wl(weights="symbolic")
    assert code.startswith("{Function[{x}, (W3 . Map[(Ramp[#]) &, (W2 . Map[(Tanh[#]) &, (W1 . x + b1)] + b2)] + b3)]")
    sym = net.to_wl(weights="symbolic", activations="symbolic")
    assert "\\[Sigma][" in sym and "\\[Phi][" in sym
    x0 = np.random.default_rng(3).standard_normal((4, 3))
    # put the numbers back: f /. rules is the numeric Function
    report = net.check(engine="woxi", code=f"With[{{fr = {code}}}, fr[[1]] /. fr[[2]]]", inputs=[x0], sympy=False)
    assert report.passed and report.max_rel_err <= 1e-12, str(report)
