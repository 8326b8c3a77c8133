"""The depth-first search over activation patterns behind ``linear_regions``, in bounded, picklable pieces.

A :class:`Node` is a polytope ``H x <= g`` (the box rows first, then the rows of each piece chosen in
``pattern``) reached at layer ``li``, with the affine maps of the layers so far and interior points. The
search runs affine layers on a node and, at a piecewise-linear layer, replaces it by its cells: the
choices of one piece per element whose polytope has an interior (a ball of radius > ``tol``), found for
the whole layer at once (:class:`cells.Split`); nodes next on the stack at the same layer are expanded
together (up to ``BATCH``), every number of a node the same whatever its batch. A row that holds on the
whole box is never added (it states nothing in the box). :func:`explore` expands a list of nodes up to a work limit and returns the
finished regions and the nodes it did not expand, so a driver can hand subtrees to workers
(``regions.py``). Regions come out in the order of their patterns (lexicographic), the order of the
serial search.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ExpressionTooLargeError
from .cells import Split, emit
from .lp import FAR, ChebyshevLP, Dual, columns, max_linear, row_norms
from .pieces import affine, layer_pieces, linear_maps


BATCH = 64  # nodes at one layer expanded together (their activations' pieces made at once), at most
BATCH_NUMBERS = 200_000  # and at most about this many numbers of their layer's input maps (A) in all


class TooManyRegionsError(ExpressionTooLargeError):
    """The search met more regions than ``max_regions`` allows."""


@dataclass(frozen=True)
class Region:
    """One cell: the net is ``A @ x + b`` (outputs flattened) for inputs with ``H @ x <= g``."""

    pattern: tuple[int, ...]
    A: np.ndarray
    b: np.ndarray
    H: np.ndarray
    g: np.ndarray
    witness: np.ndarray
    radius: float

    def contains(self, x, tol: float = 1e-9) -> np.ndarray:
        """Which rows of ``x`` (batch, n) lie in the polytope (within ``tol``)."""
        return np.all(np.atleast_2d(x) @ self.H.T <= self.g + tol, axis=1)

    def key(self) -> tuple:
        """What identifies the region whatever search found it (not its witness: any interior point)."""
        return (self.pattern, self.A.tobytes(), self.b.tobytes(), self.H.tobytes(), self.g.tobytes())


@dataclass
class Node:
    """A cell of the layers before ``li``: see the module docstring. ``points``: interior points of the polytope,
    with their least slack over its rows (> tol)."""

    li: int
    env: dict
    pattern: tuple
    H: np.ndarray
    g: np.ndarray
    points: np.ndarray
    slack: np.ndarray
    cols: np.ndarray | None = None  # its rows as NNLS columns after the search's ``dual.lead`` (made when needed)


@dataclass(frozen=True)
class Setup:
    """What every worker needs: the net, its box (None: all of R^n), tolerances, the trim wanted, and the
    most regions wanted (a layer with more cells below one node stops the search)."""

    net: object
    lower: np.ndarray | None
    upper: np.ndarray | None
    tol: float
    minimal: bool
    samples: int = 256
    max_regions: float = np.inf


class Search:
    """One process's searcher: the layers' piece functions and one HiGHS LP for the rare undecided NNLS."""

    def __init__(self, setup: Setup):
        self.s, self.net = setup, setup.net
        self.n = n = sum(p.size for p in setup.net.inputs)
        self.layers = list(setup.net.layers)
        self.piecefns = [layer_pieces(la) for la in self.layers]
        boxed = setup.lower is not None
        self.mid = (setup.upper + setup.lower) / 2 if boxed else None
        self.half = (setup.upper - setup.lower) / 2 if boxed else None
        self.H0 = np.vstack([np.eye(n), -np.eye(n)]) if boxed else np.zeros((0, n))
        self.g0 = np.concatenate([setup.upper, -setup.lower]) if boxed else np.zeros(0)
        self.cap = np.inf if boxed else 1.0  # without a box, balls of radius 1 are big enough
        self.reach = float(np.max(np.abs(np.r_[setup.lower, setup.upper]))) if boxed else FAR
        self.dual = Dual(n, setup.tol, self.cap, self.reach)
        self._lp: ChebyshevLP | None = None
        self.nnls = 0  # decisions by NNLS (the LP's dual), besides the HiGHS LP's

    @property
    def solves(self) -> int:
        """LPs solved: by NNLS and by HiGHS."""
        return self.nnls + (self._lp.solves if self._lp is not None else 0)

    def root(self) -> Node:
        n, s = self.n, self.s
        env, k = {}, 0
        for p in self.net.inputs:
            A = np.zeros((p.size, n))
            A[:, k:k + p.size] = np.eye(p.size)
            env[p.name] = (A.reshape(*p.shape, n), np.zeros(p.shape))
            k += p.size
        rng = np.random.default_rng(0)
        if self.mid is not None:
            pts = self.mid + self.half * rng.uniform(-1, 1, (s.samples, n))
            slack = np.min(np.minimum(pts - s.lower, s.upper - pts), axis=1)
        else:
            pts, slack = rng.standard_normal((s.samples, n)), np.full(s.samples, np.inf)
        keep = slack > s.tol
        pts, slack = pts[keep], slack[keep]
        if not len(pts):  # a box too thin for the samples: its Chebyshev centre
            ok, centre = self.highs_radius(np.zeros((0, n)), np.zeros(0))
            pts, slack = centre[None], np.array([np.min(np.minimum(centre - s.lower, s.upper - centre))])
        return Node(0, env, (), self.H0, self.g0, pts, slack)

    def advance(self, node: Node):
        """Run affine layers: a Region at the end, else the node at its next piecewise-linear layer."""
        while node.li < len(self.layers):
            if self.piecefns[node.li] is not None:
                return node
            layer, env = self.layers[node.li], dict(node.env)
            env[layer.output] = affine(layer, [env[i] for i in layer.inputs], self.net.shapes)
            node = Node(node.li + 1, env, node.pattern, node.H, node.g, node.points, node.slack, node.cols)
        return self.region(node)

    def mapped(self, li: int, A: np.ndarray, c: np.ndarray):
        """Piecewise layer ``li``'s output in each of N cells (affine maps ``A`` (N, elements, n), ``c`` (N, elements)),
        and the outputs of the linear layers right after it that read only the one before, all cells at once.
        Returns (the next layer, {output: (A, c) per cell})."""
        N, shapes = len(A), self.net.shapes
        name = self.layers[li].output
        outs = {name: (A.reshape(N, *shapes[name], self.n), c.reshape(N, *shapes[name]))}
        for li in range(li + 1, len(self.layers)):
            la = self.layers[li]
            if la.op != "linear" or list(la.inputs) != [name] or len(shapes[name]) != 1:
                return li, outs
            outs[la.output] = linear_maps(la, *outs[name])  # per cell the same whatever the batch
            name = la.output
        return len(self.layers), outs

    def expand(self, nodes: list[Node]) -> list[list]:
        """The cells of each node's piecewise-linear layer (the same for all) inside its polytope, in pattern
        order: Nodes, or Regions where only linear layers follow. An activation's pieces are made for all the
        nodes at once."""
        rule = self.piecefns[nodes[0].li]
        if len(nodes) == 1 or not hasattr(rule, "batch"):
            return emit([Split(self, node, self.compile(rule(node.env, self.net.shapes))) for node in nodes])
        pieces, alive, Hk, gk, nk, ks, kcols = self.compile(rule.batch([node.env for node in nodes], self.net.shapes))
        splits = []
        for k, node in enumerate(nodes):
            part, q0, q1 = pieces.part(k, len(nodes))
            a, b = ks[q0], ks[q1]
            splits.append(Split(self, node, (part, alive[q0:q1], Hk[a:b], gk[a:b], nk[a:b], ks[q0:q1 + 1] - a,
                                             kcols[:, a:b])))
        return emit(splits)

    def batch_size(self, node: Node) -> int:
        """How many nodes at ``node``'s layer to expand together: up to ``BATCH`` for an activation (pieces made
        at once), fewer as its input grows (the batch's cells are made together: ~``BATCH_NUMBERS`` numbers of
        input maps), 1 for max-like layers."""
        rule = self.piecefns[node.li]
        if not hasattr(rule, "batch"):
            return 1
        return int(min(BATCH, max(1, BATCH_NUMBERS // max(1, node.env[rule.source][0].size))))

    def compile(self, pieces):
        """Which pieces can hold in the box, and the rows worth keeping: those that do not hold on the whole box
        (all tested at once). Returns what a :class:`cells.Split` starts from: (pieces, alive per piece, kept H,
        g, row norms, kept-row offsets per piece, the kept rows as NNLS columns)."""
        H, g = pieces.H, pieces.g
        norms = row_norms(H)
        fails = (norms <= 0) & (g < 0)  # a constant condition that fails
        keep = norms > 0
        if self.mid is not None:  # row by row (sums, not a matrix product: the same rounding in any batch)
            spread = (np.abs(H) * self.half).sum(axis=1)
            lo = (H * self.mid).sum(axis=1) - spread
            fails |= keep & (lo > g + self.s.tol * norms)
            keep &= lo + 2 * spread > g + 1e-12 * np.maximum(1.0, np.abs(g))
        start = pieces.start
        failed = np.concatenate([[0], np.cumsum(fails)])
        kept = np.concatenate([[0], np.cumsum(keep)])
        Hk, gk, nk = H[keep], g[keep], norms[keep]
        return pieces, failed[start[1:]] == failed[start[:-1]], Hk, gk, nk, kept[start], columns(Hk, gk, nk)

    def highs_radius(self, H: np.ndarray, g: np.ndarray) -> tuple[bool, np.ndarray | None]:
        """Whether the box cut by ``H x <= g`` holds a ball of radius > tol, and its centre, by the HiGHS LP: for
        the rare polytope whose NNLS decision (``dual.radius``, the search's own) is too close to tol to tell."""
        if self._lp is None:
            self._lp = ChebyshevLP(self.n, cap=self.cap)
            self._lp.push(self.H0, self.g0)
        self._lp.truncate(len(self.g0))
        self._lp.push(H, g)
        centre, r = self._lp.solve()
        return r > self.s.tol, centre

    def region(self, node: Node) -> Region:
        env, n = node.env, self.n
        A = np.concatenate([env[o][0].reshape(-1, n) for o in self.net.outputs])
        b = np.concatenate([np.reshape(env[o][1], -1) for o in self.net.outputs])
        H, g = self._minimal(node.H, node.g) if self.s.minimal else (node.H, node.g)
        best = int(np.argmax(node.slack))
        return Region(node.pattern, A, b, H, g, node.points[best], float(node.slack[best]))

    def _minimal(self, H, g):
        """Drop every row the others imply (one LP per row); the box rows stay: they state the domain."""
        keep = np.ones(len(g), bool)
        for i in range(len(self.g0), len(g)):
            keep[i] = False
            top = max_linear(H[i], H[keep], g[keep])
            keep[i] = not (top is not None and top <= g[i] + 1e-9 * max(1.0, abs(g[i])))
        return H[keep], g[keep]


def explore(setup: Setup, nodes: list[Node], budget: float = np.inf, room: float = np.inf, search=None):
    """Expand ``nodes`` depth first, stopping once ``budget`` nodes are made or more than ``room`` regions are
    found; returns (regions, unexpanded nodes (and regions not yet counted), LPs solved). A module-level
    function: workers run it."""
    search = search or Search(setup)
    stack, regions, done = list(reversed(nodes)), [], 0
    while stack and done < budget and len(regions) <= room:
        item = stack.pop()
        item = item if isinstance(item, Region) else search.advance(item)
        if isinstance(item, Region):
            regions.append(item)
            continue
        batch, most = [item], search.batch_size(item)  # with the nodes next on the stack at the same layer
        while stack and len(batch) < most and isinstance(stack[-1], Node) and stack[-1].li == item.li:
            batch.append(stack.pop())
        made = [cell for cells in search.expand(batch) for cell in cells]
        done += max(1, len(made))
        stack.extend(reversed(made))
    return regions, list(reversed(stack)), search.solves


def explore_packed(setup: Setup, nodes: list, budget: float = np.inf, room: float = np.inf):
    """:func:`explore` for a worker: its regions as a few arrays (:func:`pack`), not one pickle per array."""
    regions, rest, lps = explore(setup, nodes, budget, room)
    return pack(regions), rest, lps


def pack(regions: list) -> tuple:
    """Regions (all with one map shape) as (patterns, A, b, H rows, g, row offsets, witnesses, radii)."""
    if not regions:
        return ()
    ends = np.cumsum([len(r.g) for r in regions])
    return ([r.pattern for r in regions], np.stack([r.A for r in regions]), np.stack([r.b for r in regions]),
            np.concatenate([r.H for r in regions]), np.concatenate([r.g for r in regions]), ends,
            np.stack([r.witness for r in regions]), np.array([r.radius for r in regions]))


def unpack(packed: tuple) -> list:
    """The regions :func:`pack` packed (their arrays are views of the packed ones).

    >>> r = Region((1,), np.eye(2), np.zeros(2), np.eye(2), np.ones(2), np.zeros(2), 1.0)
    >>> [x.key() for x in unpack(pack([r, r]))] == [r.key()] * 2
    True
    """
    if not packed:
        return []
    patterns, A, b, H, g, ends, witness, radius = packed
    starts = np.concatenate([[0], ends[:-1]]).tolist()
    return [Region(p, A[i], b[i], H[a:e], g[a:e], witness[i], float(radius[i]))
            for i, (p, a, e) in enumerate(zip(patterns, starts, ends.tolist()))]
