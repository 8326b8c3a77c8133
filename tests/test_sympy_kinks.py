"""ReLU-like activations as Max/Min in the sympy forms: the expanded form of a ReLU/LeakyReLU/ELU net is small,
lambdifies with plain ``sympy.lambdify``, and equals the reference (issue 18, part 4)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from wlbridge.check.sympy_eval import evaluate_sympy
from wlbridge.emit.sympy import input_symbols, lambdify_flat
from wlbridge.emit.sympy_kinks import kink_form
from wlbridge.ir import NetBuilder
from wlbridge.ops import ACTIVATIONS

from .cases import net46652


@pytest.mark.parametrize("name, params", [
    ("leaky_relu", {"negative_slope": 0.1}), ("leaky_relu", {"negative_slope": 3.0}),
    ("leaky_relu", {"negative_slope": -0.5}), ("rrelu", {}), ("elu", {"alpha": 0.7}), ("selu", {}),
    ("celu", {"alpha": 2.0})])
def test_kink_forms_equal_the_reference(name, params):
    x = sp.Symbol("x")
    row = ACTIVATIONS[name]
    e = kink_form(name, x, row.full_params(params))
    assert not e.has(sp.Piecewise)
    t = np.concatenate([np.linspace(-30, 30, 2001), [0.0, -0.0, 1e-300, -1e-300, 5e-8, -5e-8]])
    got = lambdify_flat([x], e)(t)  # wlbridge's printer: floats in full (sympy's prints 15 digits)
    want = row.numpy_fn(t, params)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=2e-16)
    assert np.array_equal(got[t > 0], want[t > 0])  # exactly x (times scale) on the positive side


def test_expanded_46652_is_small_lambdifies_and_equals_the_reference():
    net = net46652()
    e = net.to_sympy(form="expanded")
    assert not e.has(sp.Piecewise) and e.has(sp.Max) and e.has(sp.Min)
    replacements, reduced = sp.cse(list(e))
    ops = sum(sp.count_ops(v) for _, v in replacements) + sum(sp.count_ops(v) for v in reduced)
    assert ops < 1000  # the DAG: was 434k operations as a Piecewise tree
    f = sp.lambdify(input_symbols(net)[0], list(e), "numpy")  # plain sympy, no cse: it did not finish before
    x = np.random.default_rng(1).standard_normal((2000, 4)) * 2
    got = np.stack(f(*x.T), axis=1)
    want = net(x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    np.testing.assert_allclose(evaluate_sympy(net, [x], form="expanded")[0], want, rtol=1e-12,
                               atol=1e-12 * np.abs(want).max())


def test_compact_sympy_uses_the_same_forms():
    net = net46652()
    c = net.to_sympy()
    assert not any(v.has(sp.Piecewise) for _, v in c.replacements)
    x = np.random.default_rng(2).standard_normal((50, 4))
    np.testing.assert_allclose(c.lambdify()(x), net(x), rtol=1e-12, atol=1e-12)


def test_elementwise_functions_compiled_once_per_kind():
    """A net's sigmoids share one compiled function; check compiles them before it forks (warm(net))."""
    from wlbridge.emit import sympy_layers

    rng = np.random.default_rng(0)
    b = NetBuilder("sig")
    v = b.input("x", (3,))
    for _ in range(3):
        v = b.layer("elementwise", [b.layer("linear", [v], params={"weight": rng.standard_normal((3, 3))})],
                    attrs={"fn": "sigmoid"})
    net = b.build([v])
    sympy_layers._COMPILED.clear()
    sympy_layers.warm(net)
    assert len(sympy_layers._COMPILED) == 1
    x = rng.standard_normal((20, 3))
    np.testing.assert_allclose(sympy_layers.layer_function(net)(x)[0], net(x), rtol=1e-13)
    assert len(sympy_layers._COMPILED) == 1
    b2 = NetBuilder("leaky")
    y = b2.input("x", (3,))
    outs = [b2.layer("elementwise", [y], attrs={"fn": "leaky_relu", "fn_params": {"negative_slope": s}})
            for s in (0.1, 0.2)]
    net2 = b2.build(outs)
    got = sympy_layers.layer_function(net2)(x)
    np.testing.assert_allclose(got[0], np.where(x > 0, x, 0.1 * x), rtol=1e-15)  # two kinds: not mixed up
    np.testing.assert_allclose(got[1], np.where(x > 0, x, 0.2 * x), rtol=1e-15)
