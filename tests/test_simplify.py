"""net.simplify(): exact rewrites. Random nets (Hypothesis) and every net of the case table, simplified,
equal the original to <= 1e-12 relative on random inputs; the rewrites happen (layer counts shrink)."""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.ir import NetBuilder

from .cases import CASES, sample_inputs

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

VECTOR_OPS = ["linear", "matmul", "identity", "batchnorm", "tanh", "relu", "ew_identity", "const_add",
              "dead", "reshape_same", "flatten", "linear_zeros", "bn_then_linear"]


def _bn_params(rng, n):
    return {"scale": rng.standard_normal(n) + 1, "bias": rng.standard_normal(n), "mean": rng.standard_normal(n),
            "var": rng.random(n) + 0.5}


def random_vector_net(seed, ops):
    rng = np.random.default_rng(seed)
    b = NetBuilder("random")
    v = b.input("x", (3,))
    n = 3
    for op in ops:
        m = int(rng.integers(1, 5))
        if op in ("linear", "linear_zeros"):
            w = rng.standard_normal((m, n)) * (rng.random((m, n)) < 0.5 if op == "linear_zeros" else 1)
            v, n = b.layer("linear", [v], params={"weight": w, "bias": rng.standard_normal(m)}), m
        elif op == "matmul":
            v, n = b.layer("matmul", [v], params={"weight": rng.standard_normal((n, m))}), m
        elif op == "identity":
            v = b.layer("identity", [v])
        elif op == "batchnorm":
            v = b.layer("batchnorm", [v], params=_bn_params(rng, n), attrs={"eps": 1e-5, "axis": 0})
        elif op == "bn_then_linear":
            v = b.layer("batchnorm", [v], params=_bn_params(rng, n), attrs={"eps": 1e-3, "axis": -1})
            v, n = b.layer("linear", [v], params={"weight": rng.standard_normal((m, n))}), m
        elif op in ("tanh", "relu"):
            v = b.layer("elementwise", [v], attrs={"fn": op})
        elif op == "ew_identity":
            v = b.layer("elementwise", [v], attrs={"fn": "identity"})
        elif op == "const_add":
            c = b.layer("elementwise", [b.constant(rng.standard_normal(n))], attrs={"fn": "sigmoid"})
            v = b.layer("add", [v, c])
        elif op == "dead":
            b.layer("linear", [v], params={"weight": rng.standard_normal((2, n))})
        elif op == "reshape_same":
            v = b.layer("reshape", [v], attrs={"shape": (n,)})
        elif op == "flatten":
            v = b.layer("flatten", [v])
    return b.build([v])


def random_conv_net(seed, with_bn, with_pool):
    rng = np.random.default_rng(seed)
    b = NetBuilder("random_conv")
    v = b.input("x", (2, 6))
    v = b.layer("conv", [v], params={"weight": rng.standard_normal((3, 2, 3)), "bias": rng.standard_normal(3)},
                attrs={"padding": ((1, 1),)})
    if with_bn:
        v = b.layer("batchnorm", [v], params=_bn_params(rng, 3), attrs={"eps": 1e-5, "axis": 0})
    if with_pool:
        v = b.layer("pool", [v], attrs={"kind": "max", "kernel": (1,), "stride": (1,)})
    v = b.layer("elementwise", [v], attrs={"fn": "relu"})
    return b.build([b.layer("linear", [b.layer("flatten", [v])], params={"weight": rng.standard_normal((2, 18))})])


def assert_equal_nets(net, simple, seed=0):
    xs = sample_inputs(net, 32, seed)
    want, got = net(*xs), simple(*xs)
    want = want if isinstance(want, list) else [want]
    got = got if isinstance(got, list) else [got]
    for w, g in zip(want, got):
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * scale)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.sampled_from(VECTOR_OPS), min_size=1, max_size=8))
def test_random_vector_nets(seed, ops):
    net = random_vector_net(seed, ops)
    simple = net.simplify()
    assert_equal_nets(net, simple, seed)
    assert len(simple.layers) <= len(net.layers)
    made = {la.output: la.op for la in simple.layers}
    for la in simple.layers:
        assert la.op != "identity" or la.inputs == ("x",), str(simple)  # only x -> output stays
        assert la.op != "batchnorm" or made.get(la.inputs[0]) not in ("linear", "matmul"), str(simple)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**16), st.booleans(), st.booleans())
def test_random_conv_nets(seed, with_bn, with_pool):
    net = random_conv_net(seed, with_bn, with_pool)
    simple = net.simplify()
    assert_equal_nets(net, simple, seed)
    assert [la.op for la in simple.layers] == ["conv", "elementwise", "flatten", "linear"]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_every_case_net(case):
    net = case.build()
    assert_equal_nets(net, net.simplify())


def test_rewrites_happen():
    net = random_vector_net(1, ["linear", "batchnorm", "identity", "linear", "dead", "const_add", "relu"])
    simple = net.simplify()
    assert [la.op for la in simple.layers] == ["linear", "constant", "add", "elementwise"]
    assert simple.param_count < net.param_count


def test_bottleneck_not_merged():
    b = NetBuilder()
    v = b.layer("linear", [b.input("x", (6,))], params={"weight": np.ones((1, 6))})
    net = b.build([b.layer("linear", [v], params={"weight": np.ones((6, 1))})])
    assert len(net.simplify().layers) == 2


def test_zero_weights_absent_from_expanded_forms():
    b = NetBuilder()
    v = b.layer("linear", [b.input("x", (3,))], params={"weight": np.array([[0.0, 2.0, 0.0]]), "bias": np.zeros(1)})
    net = b.build([v]).simplify()
    assert net.to_wl(form="expanded").endswith("{2.` x2}]]")
    assert str(net.to_sympy(form="expanded")) == "Matrix([[2.0*x2]])"


def test_cli_simplify(capsys):
    from wlbridge.cli import main

    net = random_vector_net(3, ["linear", "batchnorm", "identity", "tanh"])
    assert main(["convert", "m.onnx", "--simplify"], load=lambda path: net) == 0
    simple = capsys.readouterr().out
    assert main(["convert", "m.onnx"], load=lambda path: net) == 0
    full = capsys.readouterr().out
    assert simple.strip() == net.simplify().to_wl() and simple.count("With") < full.count("With") or len(simple) < len(full)
