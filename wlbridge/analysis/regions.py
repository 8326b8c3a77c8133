"""Linear regions of a piecewise-linear net over a box (or all of R^n): one affine map ``A x + b`` per polytope ``H x <= g``.

A net of affine layers (linear, matmul, conv, batchnorm, avg/sum pooling, reshapes, sums, ...) and
piecewise-linear ones (ReLU, LeakyReLU, PReLU, Hardtanh/Clip, ReLU6, Abs, max-pooling, max/min) is
affine on each cell of a partition of its input space. ``linear_regions`` enumerates exactly the cells
(activation patterns) that meet the box in a set of positive volume: a depth-first search over the
pieces of each element, layer by layer (all cells of a layer below a node at once), pruning a branch as
soon as its polytope has no interior (interval bounds over the box, interior points, then the Chebyshev LP
by NNLS, HiGHS at the edge of tol: see ``search.py`` and ``cells.py``). Every region carries a witness point inside it. The search tree can be split over
workers (``jobs=``, ``cluster=``: :mod:`wlbridge.parallel`) with the same regions in the same order.
Region counts grow exponentially with width and depth in the worst case; ``max_regions`` stops the
search with :class:`TooManyRegionsError`.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (1,))
>>> h = b.layer("elementwise", [b.layer("linear", [x], params={"weight": np.array([[1.0]])})], attrs={"fn": "relu"})
>>> r = linear_regions(b.build([h]), -1, 1)
>>> len(r), [reg.A.tolist() for reg in r]
(2, [[[0.0]], [[1.0]]])
>>> r.to_sympy()
Matrix([[Piecewise((nan, (x1 > 1) | (x1 < -1)), (0, x1 <= 0), (x1, True))]])
"""
from __future__ import annotations

import dataclasses
import sys
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import UnsupportedLayerError, WlbridgeError
from ..ops import NOT_SMOOTH
from .pieces import is_affine, supported, what
from .search import Region, Search, Setup, TooManyRegionsError, explore, explore_packed, unpack

__all__ = ["LinearRegions", "Region", "RegionCheckError", "TooManyRegionsError", "linear_regions"]
NODES_PER_TASK = 5000  # work of one task (nodes made) before it hands its unexplored subtrees back


@dataclass
class LinearRegions:
    """The regions of ``net`` over the box ``[lower, upper]`` (infinite bounds: no box), with the search's statistics."""

    net: object
    lower: np.ndarray
    upper: np.ndarray
    regions: list[Region]
    seconds: float
    lps: int
    notes: list[str] = field(default_factory=list)
    verification: dict = field(default_factory=dict)  # verify()'s result, run by linear_regions

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions)

    def __str__(self) -> str:
        v, boxed = self.verification, bool(np.all(np.isfinite(self.lower)))
        checked = (f"; verified at {v['samples']:,} {'box ' if boxed else ''}points: {v['covered']:,} covered, "
                   f"max rel err {v['max_rel_err']:.1e}") if v else ""
        where = f"the box [{_vec(self.lower)}, {_vec(self.upper)}]" if boxed else f"R^{self.lower.size}"
        return f"{self.net.name}: {len(self)} linear regions over {where} ({self.lps} LPs, {self.seconds:.3f} s){checked}"

    def locate(self, x) -> np.ndarray:
        """The index of the region holding each row of ``x`` (the first one, on shared boundaries); -1 outside."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.full(len(x), -1)
        for i, r in enumerate(self.regions):
            hit = (out < 0) & r.contains(x)
            out[hit] = i
        return out

    def evaluate(self, x) -> np.ndarray:
        """The piecewise-affine map at the rows of ``x`` (NaN outside every region)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        idx = self.locate(x)
        out = np.full((len(x), self.regions[0].b.size if self.regions else 0), np.nan)
        for i, r in enumerate(self.regions):
            sel = idx == i
            out[sel] = x[sel] @ r.A.T + r.b
        return out

    def verify(self, samples: int = 1000, seed: int = 0) -> dict:
        """Witnesses inside their regions; on random box points (no box: normal points of scales 0.1 to 100),
        coverage and the max relative error vs the net."""
        for r in self.regions:
            if not (r.radius > 0 and r.contains(r.witness[None], tol=0.0)[0]):
                raise WlbridgeError(f"{self.net.name}: region {r.pattern} has no interior witness")
        rng = np.random.default_rng(seed)
        if np.all(np.isfinite(self.lower)):
            x = self.lower + (self.upper - self.lower) * rng.random((samples, self.lower.size))
        else:
            x = rng.standard_normal((samples, self.lower.size)) * 10.0 ** rng.uniform(-1, 2, (samples, 1))
        got, want = self.evaluate(x), _net_flat(self.net, x)
        covered = ~np.isnan(got).any(axis=1)
        err = np.abs(got[covered] - want[covered]) / np.maximum(1.0, np.abs(want[covered]))
        return {"samples": samples, "covered": int(covered.sum()), "max_rel_err": float(err.max(initial=0.0))}

    # ---- forms --------------------------------------------------------------------------------
    def to_sympy(self, *, digits: int | None = None):
        """sympy ``Matrix`` of ``Piecewise`` outputs in ``x1..xn`` (``nan`` outside the box);
        see :mod:`wlbridge.analysis.piecewise`."""
        from .piecewise import flat_sympy

        return flat_sympy(self, digits=digits)

    def to_wl(self, call: str = "list", *, digits: int | None = None) -> str:
        """WL ``Function`` of ``Piecewise`` outputs (``Indeterminate`` outside the box)."""
        from .piecewise import flat_wl

        return flat_wl(self, call=call, digits=digits)

    def to_latex(self, *, digits: int | None = None) -> str:
        """LaTeX ``cases`` per output, the box stated once."""
        from .piecewise import flat_latex

        return flat_latex(self, digits=digits)

    def tree(self):
        """The decision tree of the regions (one neuron's sign per node); see :mod:`wlbridge.analysis.tree`."""
        from .tree import build_tree

        return build_tree(self)


def _vec(v) -> str:
    return "{" + ", ".join(f"{float(t):g}" for t in v) + "}"


def _net_flat(net, x) -> np.ndarray:
    ins = _split_inputs(net, x)
    outs = net(*ins)
    outs = outs if isinstance(outs, list) else [outs]
    return np.concatenate([o.reshape(len(x), -1) for o in outs], axis=1)


def _split_inputs(net, x):
    out, k = [], 0
    for p in net.inputs:
        out.append(x[:, k:k + p.size].reshape(len(x), *p.shape))
        k += p.size
    return out


def _search(setup: Setup, max_regions: int, jobs, cluster, progress) -> tuple[list[Region], int, str]:
    """All regions, in pattern order, with the LPs solved and where the search ran."""
    search = Search(setup)
    bar = _Bar(progress)
    if cluster is None and (jobs or 1) == 1:
        found, frontier = [], [search.root()]
        while frontier:  # in bounded steps, so progress shows; one warm LP throughout
            got, frontier, lps = explore(setup, frontier, NODES_PER_TASK, max_regions - len(found), search)
            found += got
            bar.update(len(found), max_regions, setup.net.name, lps)
        return bar.done(found), lps, "this process"
    from ..parallel import Runner

    found, frontier, lps = explore(setup, [search.root()], 50, max_regions, search)  # a first frontier
    started = time.perf_counter()
    with Runner(jobs=jobs, cluster=cluster) as run:
        where = f"{run.workers} workers ({run.kind}; {time.perf_counter() - started:.1f} s to start them)"
        pending, running = list(frontier), set()
        while pending or running:
            while pending and len(running) < 2 * run.workers:
                take = max(1, len(pending) // (2 * run.workers))
                chunk, pending = pending[:take], pending[take:]
                running.add(run.submit(explore_packed, setup, chunk, NODES_PER_TASK, max_regions - len(found)))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                got, rest, n = fut.result()
                found, lps = found + unpack(got), lps + n
                pending = rest + pending  # the deepest first: their subtrees are the small ones
                bar.update(len(found), max_regions, setup.net.name, lps)
    return bar.done(sorted(found, key=lambda r: r.pattern)), lps, where


class _Bar:
    """Progress of a long search on stderr (tqdm): regions found and LPs; ``progress=None``: a terminal and
    a search past 2 s. Also where ``max_regions`` is enforced, once per step."""

    def __init__(self, progress):
        self.progress, self.start, self.bar = progress, time.monotonic(), None

    def update(self, found: int, max_regions: int, name: str, lps: int) -> None:
        if found > max_regions:
            self.done([])
            raise TooManyRegionsError(
                f"{name}: more than max_regions={max_regions:,} linear regions in the box "
                f"(after {lps:,} LPs); raise max_regions, shrink the box, or use the compact form")
        if self.bar is None and self._wanted():
            try:
                from tqdm import tqdm
            except ImportError:
                self.progress = False
                return
            self.bar = tqdm(unit=" regions", file=sys.stderr, leave=False, desc=f"{name}: linear regions")
        if self.bar is not None:
            self.bar.set_postfix_str(f"{lps:,} LPs", refresh=False)
            self.bar.update(found - self.bar.n)

    def _wanted(self) -> bool:
        if self.progress is not None:
            return bool(self.progress)
        return sys.stderr.isatty() and time.monotonic() - self.start > 2.0

    def done(self, regions):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        return regions


def linear_regions(net, lower=None, upper=None, *, max_regions: int = 10_000, tol: float = 1e-9,
                   minimal: bool = False, verify: int = 1000, jobs: int | None = None, cluster: str | None = None,
                   progress: bool | None = None) -> LinearRegions:
    """The linear regions of piecewise-linear ``net`` in the box ``lower <= x <= upper`` (scalars broadcast;
    both None: all of R^n, where regions may be unbounded).

    Each region keeps the box rows and the unit inequalities that cut the box; ``minimal=True`` also drops
    those the others imply (one more LP per inequality), for the shortest conditions. The result is verified
    at ``verify`` random points (witnesses inside, coverage, affine maps against the net; see
    :meth:`LinearRegions.verify`); a disagreement beyond 1e-12 relative raises ``RegionCheckError``.

    ``jobs`` / ``cluster`` split the search tree over workers (:class:`wlbridge.parallel.Runner`: ``jobs=N``
    local processes, ``cluster="ray"`` or ``"ray://HOST:PORT"``); ``jobs=None`` without a cluster searches in
    this process. The regions are the same, in the same (pattern) order, however the tree is split; only
    witnesses (any interior point) may differ. ``progress``: a counter on stderr (None: on a terminal, for
    searches past 2 s).

    Raises :class:`TooManyRegionsError` past ``max_regions`` and ``UnsupportedLayerError`` for layers
    that are not piecewise-linear (sigmoid, softmax, ...).
    """
    from ..parallel import check_jobs, parse_cluster

    n = sum(p.size for p in net.inputs)
    jobs, cluster = check_jobs(jobs), parse_cluster(cluster)
    if (lower is None) != (upper is None):
        raise WlbridgeError(f"{net.name}: give both box bounds (lower, upper), or neither for all of R^{n}")
    if lower is not None:
        lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)).copy()
        upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy()
        if not (np.all(upper > lower) and np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise WlbridgeError(f"{net.name}: the box needs finite lower < upper in every coordinate")
    bad = [la for la in net.layers if not is_affine(la) and not supported(la)]
    if bad:
        raise UnsupportedLayerError("linear regions", [(la.path or la.output, la.op + what(la),
                                                        NOT_SMOOTH.get(la.op, "not piecewise-linear")) for la in bad])
    scale = max(1.0, float(np.max(upper - lower))) if lower is not None else 1.0
    # workers get the net without its source (a torch module's or an onnxruntime session's closure): it cannot be
    # pickled, and the search never runs it
    setup = Setup(dataclasses.replace(net, origin=None), lower, upper, tol * scale, minimal, max_regions=max_regions)
    start = time.perf_counter()
    regions, lps, where = _search(setup, max_regions, jobs, cluster, progress)
    inf = np.full(n, np.inf)
    result = LinearRegions(net, -inf if lower is None else lower, inf if upper is None else upper, regions,
                           time.perf_counter() - start, lps, notes=[f"searched in {where}"])
    if verify:
        result.verification = v = result.verify(samples=verify)
        if v["covered"] < v["samples"] or not v["max_rel_err"] <= 1e-12:
            raise RegionCheckError(f"{net.name}: linear regions disagree with the net: {v}")
    return result


class RegionCheckError(WlbridgeError):
    """The enumerated regions do not reproduce the net (a bug, or a numerically degenerate net)."""
