"""The cheap decisions of the region search against HiGHS: NNLS radius decisions."""
import numpy as np
import pytest

pytest.importorskip("highspy")
from wlbridge.analysis.lp import ChebyshevLP, columns, nnls_radius  # noqa: E402


def _polytopes(seed, count=300, n=5, rows=12):
    """Random polytopes in [-1,1]^n: some empty, some thin, most with an interior."""
    rng = np.random.default_rng(seed)
    box_H, box_g = np.vstack([np.eye(n), -np.eye(n)]), np.ones(2 * n)
    for _ in range(count):
        H = rng.standard_normal((rows, n)) * rng.uniform(0.1, 10, (rows, 1))
        g = rng.standard_normal(rows) * rng.uniform(0.01, 2)
        yield np.vstack([box_H, H]), np.r_[box_g, g]


@pytest.mark.parametrize("seed", [0, 1])
def test_nnls_decides_as_highs(seed):
    """Every decision NNLS makes is HiGHS's, its points lie inside with the radius it says, and it defers
    (None) only near tol."""
    tol, decided, kept = 1e-9, 0, 0
    for H, g in _polytopes(seed):
        lp = ChebyshevLP(H.shape[1])
        lp.push(H, g)
        _, r = lp.solve()
        got = nnls_radius(columns(H, g), tol)
        if got is None:
            assert abs(r) < 1e-6, r  # deferred to HiGHS only at the edge
            continue
        decided += 1
        ok, x, radius = got
        assert ok == (r > tol), (ok, r)
        if ok:
            kept += 1
            unit = (g - H @ x) / np.linalg.norm(H, axis=1)
            assert unit.min() == pytest.approx(radius, abs=1e-12) and radius <= r + 1e-9
    assert decided >= 290 and 50 <= kept <= decided - 50  # both outcomes were exercised


def test_nnls_without_a_box_caps_the_radius():
    """All of R^2 cut by one row: unbounded, the radius is the cap."""
    ok, x, r = nnls_radius(columns(np.array([[1.0, 0.0]]), np.array([0.0])), 1e-9, cap=1.0)
    assert ok and r == pytest.approx(1.0) and x[0] <= -1.0 + 1e-12
    empty = nnls_radius(columns(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([0.0, -1.0])), 1e-9, cap=1.0)
    assert empty[0] is False  # x <= 0 and x >= 1


@pytest.mark.parametrize("box", [(-1.0, 1.0), (None, None)])
def test_each_decider_alone_gives_the_same_regions(monkeypatch, box):
    """The search with NNLS through scipy's public nnls, and with HiGHS deciding every LP (NNLS deferring):
    the same regions as the default."""
    from wlbridge.analysis import lp
    from wlbridge.analysis.regions import linear_regions

    from .cases import mlp

    net = mlp([5, 6, 6, 2], seed=4)
    keys = [r.key() for r in linear_regions(net, *box)]
    assert len(keys) > 30
    monkeypatch.setattr(lp, "_CORE", None)
    assert [r.key() for r in linear_regions(net, *box)] == keys
    monkeypatch.setattr(lp.Dual, "radius", lambda *a: None)
    got = linear_regions(net, *box)
    assert [r.key() for r in got] == keys and got.lps > 30


@pytest.mark.parametrize("box", [(-1.0, 1.0), (None, None)])
def test_nnls_decides_every_lp_of_a_search(box):
    """NNLS settles every LP of a plain search (HiGHS is the fallback at the edge of tol, and is never built
    here): a broken certificate (a nan bound) would send them all to HiGHS, with the same regions."""
    from wlbridge.analysis.search import Search, Setup, explore

    from .cases import mlp

    net = mlp([5, 6, 6, 2], seed=4)
    setup = Setup(net, *(None if v is None else np.full(5, v) for v in box), 1e-9, False)
    search = Search(setup)
    regions, rest, lps = explore(setup, [search.root()], search=search)
    assert not rest and len(regions) > 30
    assert lps == search.nnls > 30 and search._lp is None
