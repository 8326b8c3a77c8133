"""Linear regions: exact enumeration over a box, checked by a brute-force activation-pattern census, by the
net on random points (<= 1e-12), and the Piecewise forms in sympy and in Woxi."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
from wlbridge.analysis.regions import TooManyRegionsError  # noqa: E402
from wlbridge.errors import UnsupportedLayerError, WlbridgeError  # noqa: E402
from wlbridge.ir import NetBuilder  # noqa: E402

from .cases import mlp  # noqa: E402


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


def test_7_5_5_5_10_relu_net():
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


def keys(regions):
    return [r.key() for r in regions]


@pytest.mark.parametrize("budget", [3, 40])
def test_split_search_gives_the_serial_regions(monkeypatch, budget):
    """Tasks of a few nodes each, in a pool of 2 processes: the same regions, in the same order."""
    import wlbridge.analysis.regions as R

    net = mlp([3, 6, 6, 2], seed=7)
    serial = net.linear_regions(-1, 1)
    monkeypatch.setattr(R, "NODES_PER_TASK", budget)
    split = net.linear_regions(-1, 1, jobs=2)
    assert split.notes[0].startswith("searched in 2 workers (processes; ")
    assert len(serial) > 50 and keys(split) == keys(serial)
    assert [r.pattern for r in serial] == sorted(r.pattern for r in serial)
    for a, b in zip(serial, split):  # witnesses may differ (any interior point) but lie inside
        assert b.contains(b.witness[None], tol=0.0)[0] and a.contains(a.witness[None], tol=0.0)[0]
    with pytest.raises(TooManyRegionsError, match="max_regions=20"):
        net.linear_regions(-1, 1, jobs=2, max_regions=20)


def test_split_search_on_local_ray(monkeypatch):
    pytest.importorskip("ray")
    import wlbridge.analysis.regions as R

    net = mlp([3, 6, 6, 2], seed=7)
    serial = net.linear_regions(-1, 1)
    monkeypatch.setattr(R, "NODES_PER_TASK", 20)
    on_ray = net.linear_regions(-1, 1, cluster="ray", jobs=2)
    assert on_ray.notes[0].startswith("searched in 2 workers (ray; ") and keys(on_ray) == keys(serial)


def test_all_of_rn():
    """No box: unbounded regions, covering normal points of scales 0.1 to 100; a box sees a subset of them."""
    net = mlp([2, 6, 5, 1], seed=3)
    whole, boxed = net.linear_regions(), net.linear_regions(-2, 2)
    assert whole.verification["covered"] == 1000 and whole.verification["max_rel_err"] <= 1e-12
    assert "R^2" in str(whole) and not np.isfinite(whole.lower).any()
    assert {r.pattern for r in boxed} <= {r.pattern for r in whole} and len(whole) > len(boxed)
    far = np.random.default_rng(0).standard_normal((500, 2)) * 1e4
    np.testing.assert_allclose(whole.evaluate(far)[:, 0], net(far)[:, 0], rtol=1e-12)
    with pytest.raises(WlbridgeError, match="both box bounds"):
        net.linear_regions(-1, None)


@pytest.mark.parametrize("box", [(-1.0, 1.0), (None, None)])
def test_counts_equal_affinitree(box):
    """affinitree 0.23 (the bench extra) counts the same regions, over a box and over all of R^n."""
    pytest.importorskip("affinitree")
    from benchmarks.bench_regions import affinitree_regions

    net = mlp([7, 4, 4, 4, 2], seed=11)
    assert len(net.linear_regions(*box)) == affinitree_regions(net, *box)[0]


def _chunked(net, box, budget):
    """The split search in this process: every chunk of ``budget`` splits on a fresh searcher (a cold LP), as a
    worker runs it."""
    from wlbridge.analysis.search import Search, Setup, explore

    setup = Setup(net, *(np.full(net.input_shape[0], float(v)) if v is not None else None for v in box), 1e-9, False)
    found, pending = [], [Search(setup).root()]
    while pending:
        got, rest, _ = explore(setup, [pending.pop(0)], budget, search=Search(setup))
        found, pending = found + got, rest + pending
    return sorted(found, key=lambda r: r.pattern)


@pytest.mark.parametrize("box", [(-1, 1), (None, None)])
def test_cold_chunks_give_the_serial_regions(box):
    net = mlp([4, 6, 6, 2], seed=2)
    np.testing.assert_array_equal([r.pattern for r in _chunked(net, box, 7)],
                                  [r.pattern for r in net.linear_regions(*box)])


@pytest.mark.slow
def test_cold_chunks_over_rn_undecided_lps():
    """7-6-6-6-1 over R^7 (7,364 regions): two LPs are left undecided (HiGHS status Unknown) from a cold start
    in this split; solved again, no subtree is lost (49 regions were)."""
    from benchmarks.bench_regions import mlp as scaled_mlp

    net = scaled_mlp([7, 6, 6, 6, 1], seed=2, scaled=True)
    assert [r.pattern for r in _chunked(net, (None, None), 50)] == \
        [r.pattern for r in net.linear_regions(max_regions=20_000)]


def test_bad_jobs_and_cluster_are_refused():
    net = mlp([2, 3, 1], seed=2)
    with pytest.raises(WlbridgeError, match="jobs=0"):
        net.linear_regions(-1, 1, jobs=0)
    with pytest.raises(WlbridgeError, match="cluster='sparkle'"):
        net.linear_regions(-1, 1, cluster="sparkle")


def test_lp_row_stack_and_cold_resolve():
    """The warm LP's rows as pushed and cut back (kept for the cold re-solve of an undecided LP), and that
    re-solve's radius equal to the warm one's."""
    from wlbridge.analysis.lp import ChebyshevLP

    rng = np.random.default_rng(0)
    lp, ref = ChebyshevLP(3), []
    lp.push(np.vstack([np.eye(3), -np.eye(3)]), np.ones(6))
    ref += [(h, 1.0) for h in np.vstack([np.eye(3), -np.eye(3)])]
    for _ in range(300):
        if rng.random() < 0.6:
            H = rng.standard_normal((int(rng.integers(0, 4)), 3))
            g = rng.random(len(H)) + 0.1
            lp.push(H, g)
            ref += [(h / np.linalg.norm(h), t / np.linalg.norm(h)) for h, t in zip(H, g)]
        else:
            c = int(rng.integers(6, len(ref) + 1))
            lp.truncate(c)
            ref = ref[:c]
        M = np.vstack([b[0] for b in lp._rows])
        np.testing.assert_allclose(M[:, :3], [h for h, _ in ref])
        np.testing.assert_allclose(np.concatenate([b[1] for b in lp._rows]), [t for _, t in ref])
        warm, cold = lp.solve(), lp._cold()
        assert (warm[0] is None) == (cold[0] is None)
        if warm[0] is not None:
            np.testing.assert_allclose(warm[1], cold[1], atol=1e-9)


def test_one_wide_layer_stops_at_max_regions():
    """A layer's cells below one node are found together: a layer with more cells than max_regions stops the
    search there (its table never grows past the limit), with the error the caller asked for."""
    net = mlp([2, 30, 1], seed=3)
    assert len(net.linear_regions(-1, 1)) > 100
    with pytest.raises(TooManyRegionsError, match=r"max_regions=50 linear regions \(layer .* alone cuts one region"):
        net.linear_regions(-1, 1, max_regions=50)


@pytest.mark.parametrize("box", [(-1.0, 1.0), (None, None)])
def test_batches_of_any_size_give_the_same_regions(monkeypatch, box):
    """Nodes are expanded in batches (search.BATCH); a worker's batches differ from the serial search's, so
    every number must come out the same whatever batch a node is in: the regions, bit for bit."""
    import wlbridge.analysis.search as S

    net = mlp([4, 5, 5, 5, 2], seed=5)
    keys = [r.key() for r in net.linear_regions(*box)]
    for size in (1, 3):
        monkeypatch.setattr(S, "BATCH", size)
        assert [r.key() for r in net.linear_regions(*box)] == keys


def test_big_splits_give_the_same_regions_and_witnesses(monkeypatch):
    """A split's slack table is made in one piece only while small (cells.SMALL); past it, cell by cell: the
    same regions, witnesses and radii."""
    import wlbridge.analysis.cells as cells

    net = mlp([4, 6, 6, 2], seed=2)
    small = net.linear_regions(-1, 1)
    monkeypatch.setattr(cells, "SMALL", 0)
    big = net.linear_regions(-1, 1)
    assert len(small) > 30 and [r.key() for r in big] == [r.key() for r in small]
    assert all(np.array_equal(a.witness, b.witness) and a.radius == b.radius for a, b in zip(small, big))
