"""sympy emitter: every case of tests/cases.py, compact (lambdify) and expanded, against the reference."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from tests.cases import CASES, CASE_BY_NAME, sample_inputs
from wlbridge.emit.sympy import CompactSympy, flatten_output, lambdify_flat, to_sympy
from wlbridge.ir import NetBuilder
from wlbridge.errors import OptionError


def _as_list(v):
    return v if isinstance(v, list) else [v]


SYMPY_CASES = [c for c in CASES if "data_dependent" not in c.tags]  # refused: tests/test_onnx_heads.py


def tol(net):
    return 1e-5 if net.dtype == np.float32 else 1e-9


@pytest.mark.parametrize("case", SYMPY_CASES, ids=lambda c: c.name)
def test_compact_lambdify_matches_reference(case):
    net = case.build()
    xs = sample_inputs(net, 6, seed=1)
    got = _as_list(to_sympy(net).lambdify()(*xs))
    for g, r in zip(got, _as_list(net(*xs))):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", SYMPY_CASES, ids=lambda c: c.name)
def test_expanded_matches_reference(case):
    net = case.build()
    xs = sample_inputs(net, 4, seed=2)
    outs = _as_list(to_sympy(net, form="expanded"))
    flat = [e for o in outs for e in flatten_output(o)]
    fn = lambdify_flat([sp.Symbol(n) for n in net.input_names], flat)
    cols = np.concatenate([x.reshape(len(x), -1) for x in xs], axis=1).T
    got = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (4,)) for v in fn(*cols)], axis=1)
    want = np.concatenate([r.reshape(4, -1) for r in _as_list(net(*xs))], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_single_sample_and_structure():
    net = CASE_BY_NAME["seed_net"].build()
    c = to_sympy(net)
    assert isinstance(c, CompactSympy)
    assert [s.name for s in c.inputs] == ["x1", "x2", "x3"]
    assert [str(name) for name, _ in c.assignments] == ["h1", "h2", "h3", "h4", "h5"]
    assert all(isinstance(m, sp.Matrix) and m.shape == (2, 1) for _, m in c.assignments)
    x = np.array([0.3, -0.2, 0.9])
    np.testing.assert_allclose(c.lambdify()(x), net(x), rtol=1e-12)


def test_expanded_seed_net_is_the_classic_closed_form():
    net = CASE_BY_NAME["seed_net"].build()
    e = to_sympy(net, form="expanded")
    assert isinstance(e, sp.Matrix) and e.shape == (2, 1)
    assert e[0].free_symbols == {sp.Symbol("x1"), sp.Symbol("x2"), sp.Symbol("x3")}
    assert e[0].count(sp.exp) == 6  # 2 sigmoids of 2 sigmoids: 2 + 2*2 exponentials


def test_weights_keep_full_precision():
    b = NetBuilder()
    x = b.input("x", (1,))
    w = 0.1234567890123456789
    net = b.build([b.layer("linear", [x], params={"weight": np.array([[w]]), "bias": np.array([1 / 3])})])
    e = to_sympy(net, form="expanded")[0]
    floats = sorted(float(f) for f in e.atoms(sp.Float))
    assert floats == sorted([w, 1 / 3])
    exact = to_sympy(net, form="expanded", exact=True)[0]
    assert sp.Rational(1, 3) not in exact.atoms(sp.Rational)  # the float 1/3, exactly
    from fractions import Fraction
    assert sp.Rational(Fraction(1 / 3)) in exact.atoms(sp.Rational)


def test_deep_narrow_expanded_does_not_blow_up():
    b = NetBuilder("deep")
    v = b.input("x", (2,))
    for i in range(10):
        v = b.layer("linear", [v], params={"weight": np.eye(2) * 0.9 + 0.05, "bias": np.full(2, 0.01 * i)})
        v = b.layer("elementwise", [v], attrs={"fn": "tanh"})
    net = b.build([v])
    e = to_sympy(net, form="expanded")  # default sympy evaluation would take minutes here
    fn = lambdify_flat([sp.Symbol("x1"), sp.Symbol("x2")], list(e))
    x = np.array([0.4, -0.7])
    np.testing.assert_allclose(np.array(fn(*x), dtype=float), net(x), rtol=1e-12)


def test_cse_symbols_do_not_collide_with_inputs():
    b = NetBuilder()
    x = b.input("x", (3,))
    net = b.build([b.layer("softmax", [x], attrs={"axis": 0})], input_names=["t1", "t2", "h1_0"])
    xs = sample_inputs(net, 3, seed=0)
    np.testing.assert_allclose(to_sympy(net).lambdify()(*xs), net(*xs), rtol=1e-12)


def test_unknown_setting_is_refused():
    net = CASE_BY_NAME["identity"].build()
    with pytest.raises(OptionError, match="unknown option 'bogus'"):
        to_sympy(net, bogus=1)
    with pytest.raises(OptionError, match="form must be one of"):
        to_sympy(net, form="tiny")
