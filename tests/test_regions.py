"""Linear regions: exact enumeration over a box, checked by a brute-force activation-pattern census, by the
net on random points (<= 1e-12), and the Piecewise forms in sympy and in Woxi."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
from wlbridge.analysis.regions import TooManyRegionsError  # noqa: E402
from wlbridge.errors import UnsupportedLayerError  # noqa: E402
from wlbridge.ir import NetBuilder  # noqa: E402


def mlp(sizes, act="relu", seed=0, fn_params=None, name="mlp"):
    rng = np.random.default_rng(seed)
    b = NetBuilder(name)
    v = b.input("x", (sizes[0],))
    for i, (m, n) in enumerate(zip(sizes[1:], sizes)):
        v = b.layer("linear", [v], params={"weight": rng.standard_normal((m, n)), "bias": rng.standard_normal(m) * 0.5})
        if i < len(sizes) - 2:
            v = b.layer("elementwise", [v], attrs={"fn": act, "fn_params": fn_params or {}})
    return b.build([v])


def relu_patterns(net, x):
    """The on/off pattern of every ReLU at the rows of x (the census)."""
    h = x
    pats = []
    for layer in net.layers:
        if layer.op == "linear":
            h = h @ layer.params["weight"].T + layer.params["bias"]
        else:
            pats.append(h > 0)
            h = np.maximum(h, 0)
    return np.concatenate(pats, axis=1)


def test_two_input_relu_net_matches_census():
    net = mlp([2, 6, 5, 1], seed=3)
    regions = net.linear_regions(-2, 2)
    g = np.linspace(-2, 2, 201)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    census = {tuple(p) for p in relu_patterns(net, grid)}
    found = {tuple(relu_patterns(net, r.witness[None])[0]) for r in regions}
    assert len(found) == len(regions)  # one pattern per region, witnesses strictly inside
    assert census <= found  # every pattern seen on the grid is a region
    assert len(found - census) <= 2, "regions too thin for the grid are rare"
    ver = regions.verify(samples=4000, seed=1)
    assert ver["covered"] == 4000 and ver["max_rel_err"] <= 1e-12
    assert np.all(regions.locate(grid) >= 0)


@pytest.mark.parametrize("act, params", [("leaky_relu", {"negative_slope": 0.1}), ("clip", {"min_val": -0.5, "max_val": 0.7}),
                                         ("abs", {}), ("relu6", {})])
def test_other_activations(act, params):
    net = mlp([2, 4, 4, 2], act=act, fn_params=params, seed=1)
    regions = net.linear_regions(-1.5, 1.5)
    ver = regions.verify(samples=2000)
    assert ver["covered"] == 2000 and ver["max_rel_err"] <= 1e-12 and len(regions) > 2


def test_prelu_maxpool_residual():
    rng = np.random.default_rng(4)
    b = NetBuilder("cnn")
    x = b.input("x", (1, 3))
    h = b.layer("conv", [x], params={"weight": rng.standard_normal((2, 1, 2)), "bias": rng.standard_normal(2)})
    h = b.layer("prelu", [h], params={"slope": np.array([[0.2], [0.05]])})
    h = b.layer("pool", [h], attrs={"kind": "max", "kernel": (2,), "stride": (1,)})
    f = b.layer("flatten", [h])
    y = b.layer("linear", [f], params={"weight": rng.standard_normal((2, 2)), "bias": np.zeros(2)})
    y = b.layer("add", [b.layer("elementwise", [y], attrs={"fn": "relu"}), f])
    net = b.build([b.layer("reduce", [y], attrs={"kind": "max", "axes": (0,)})])
    regions = net.linear_regions(-1, 1, max_regions=5000)
    ver = regions.verify(samples=1000)
    assert ver["covered"] == 1000 and ver["max_rel_err"] <= 1e-12


def test_max_regions_and_unsupported():
    net = mlp([2, 8, 8, 1], seed=0)
    with pytest.raises(TooManyRegionsError, match="max_regions=3"):
        net.linear_regions(-1, 1, max_regions=3)
    with pytest.raises(UnsupportedLayerError, match=r"elementwise\[tanh\]"):
        mlp([2, 3, 1], act="tanh").linear_regions(-1, 1)


def test_piecewise_forms_sympy_and_latex():
    net = mlp([2, 3, 1], seed=2)
    pw = net.to_sympy(form="piecewise", box=(-1, 1))
    regions = net.linear_regions(-1, 1)
    f = __import__("sympy").lambdify(sorted(pw.free_symbols, key=str), pw[0], "numpy")
    x = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    got = np.array([float(f(*row)) for row in x])
    np.testing.assert_allclose(got, net(x)[:, 0], rtol=1e-12, atol=1e-12)
    tex = net.to_latex(form="piecewise", box=(-1, 1))
    assert tex.count("\\text{if }") == len(regions) - 1 and "\\begin{cases}" in tex  # the last: otherwise


@pytest.mark.woxi
def test_piecewise_wl_in_woxi():
    pytest.importorskip("woxi")
    net = mlp([3, 4, 2], seed=5)
    code = net.to_wl(form="piecewise", box=(-1, 1))
    assert code.startswith("Function[{x}, With[{x1 = x[[1]]") and "Piecewise[" in code
    x = np.random.default_rng(2).uniform(-1, 1, (20, 3))
    report = net.check(engine="woxi", code=code, inputs=[x], sympy=False)
    assert report.passed and report.max_rel_err <= 1e-12, str(report)


def test_small_deep_relu_net():
    net = mlp([4, 5, 5, 3], seed=0)
    regions = net.linear_regions(-1, 1)
    ver = regions.verify(samples=2000)
    assert ver["covered"] == 2000 and ver["max_rel_err"] <= 1e-12


@pytest.mark.slow
def test_7_5_5_5_10_relu_net(request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow (10 s): run with -m slow; benchmarks/bench_regions.py reports it")
    net = mlp([7, 5, 5, 5, 10], seed=0)
    regions = net.linear_regions(-1, 1)
    ver = regions.verify(samples=2000)
    assert ver["covered"] == 2000 and ver["max_rel_err"] <= 1e-12
    assert 10 < len(regions) < 2**15


def test_minimal_conditions_are_equivalent():
    net = mlp([2, 6, 5, 1], seed=3)
    full, small = net.linear_regions(-2, 2), net.linear_regions(-2, 2, minimal=True)
    assert len(full) == len(small) and sum(len(r.g) for r in small) < sum(len(r.g) for r in full)
    g = np.linspace(-2, 2, 81)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    for a, b in zip(full, small):  # the same polytopes: same membership on a grid
        np.testing.assert_array_equal(a.contains(grid, tol=1e-9), b.contains(grid, tol=1e-9))
    assert small.verify(samples=2000)["max_rel_err"] <= 1e-12


def test_piecewise_uses_generated_names():
    net = mlp([2, 3, 1], seed=2).with_input_names(["Evil", "Bad*/"])
    box = (-1, 1)
    for text in (net.to_wl(form="piecewise", box=box), str(net.to_sympy(form="piecewise", box=box)),
                 net.to_latex(form="piecewise", box=box)):
        assert "Evil" not in text and "Bad" not in text and "*/" not in text and ("x2" in text or "x_{2}" in text)
