"""The layer-at-a-time evaluation of the sympy form (check's sympy row) against the numpy reference."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import wlbridge as wb
from wlbridge import ops
from wlbridge.emit.sympy_layers import layer_function

from .cases import CASES, sample_inputs


def _as_list(v):
    return v if isinstance(v, list) else [v]


@pytest.mark.parametrize("case", [c for c in CASES if "data_dependent" not in c.tags], ids=lambda c: c.name)
def test_every_case_agrees_with_the_reference(case):
    net = case.build()
    xs = sample_inputs(net, 5, seed=3)
    got, ref = layer_function(net)(*xs), _as_list(net(*xs))
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(r).max(initial=0))))


def test_a_wrong_sympy_rule_is_caught(monkeypatch):
    """The elementwise step runs the activation's sympy expression, not numpy's: a broken one shows."""
    import dataclasses

    net = next(c for c in CASES if c.name == "act_tanh").build()
    x = sample_inputs(net, 4, seed=0)
    broken = dataclasses.replace(ops.ACTIVATIONS["tanh"], sympy=lambda e: sp.tanh(e) * 1.001)
    monkeypatch.setitem(ops.ACTIVATIONS, "tanh", broken)
    assert np.abs(layer_function(net)(*x)[0] - net(*x)).max() > 1e-4


def test_names_are_not_code():
    b = wb.NetBuilder("names")
    x = b.input("x", (2,))
    h = b.layer("linear", [x], params={"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])})
    net = b.build([b.layer("elementwise", [h], attrs={"fn": "sigmoid"})],
                  input_names=['__import__("os").system("false")', "a,b"])
    got = layer_function(net)(np.array([[1.0, -1.0]]))[0]
    np.testing.assert_allclose(got, net(np.array([[1.0, -1.0]])), rtol=1e-15)


def test_mlp_of_a_million_weights_is_evaluated_in_well_under_a_second():
    rng = np.random.default_rng(0)
    b = wb.NetBuilder("big")
    h = b.input("x", (784,))
    for n_in, n_out in [(784, 1024), (1024, 256)]:
        h = b.layer("linear", [h], params={"weight": rng.standard_normal((n_out, n_in)), "bias": rng.standard_normal(n_out)})
        h = b.layer("elementwise", [h], attrs={"fn": "sigmoid"})
    net = b.build([h])
    x = rng.standard_normal((8, 784))
    np.testing.assert_allclose(layer_function(net)(x)[0], net(x), rtol=1e-12)
