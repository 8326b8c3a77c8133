"""The depth-first search over activation patterns behind ``linear_regions``, in bounded, picklable pieces.

A :class:`Node` is a polytope ``H x <= g`` (the box rows first, then one block of rows per choice in
``pattern``) reached at element ``k`` of layer ``li``, with the affine maps of the layers so far. The
search splits a node on the pieces of its element. A child is kept only if its polytope has an
interior (a ball of radius > ``tol``), decided as cheaply as it can be, in this order:

1. its rows hold on no point of the box (interval bound of each row over the box): dropped, no LP;
2. one of the node's interior points lies in the child with slack > ``tol`` on every row: kept, no LP
   (points are sampled in the box at the root, and every LP centre found joins its node's points);
3. otherwise the Chebyshev LP (HiGHS, warm-started; its row stack follows the search).

A row that holds on the whole box is never added (it states nothing in the box). :func:`explore`
expands a list of nodes up to a work limit and returns the finished regions and the nodes it did not
expand, so a driver can hand subtrees to workers (``regions.py``). Regions come out in the order of their
patterns (lexicographic), the order of the serial search.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lp import ChebyshevLP, max_linear
from .pieces import affine, layer_pieces


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
    """A partial activation pattern: see the module docstring. ``sel``: the pieces chosen in layer ``li``."""

    li: int
    k: int
    env: dict
    sel: tuple
    H: np.ndarray
    g: np.ndarray
    ends: tuple  # row count after each block of ``pattern``
    pattern: tuple
    points: np.ndarray  # interior points, and their least slack over the rows
    slack: np.ndarray
    pieces: list | None = None  # the current layer's compiled pieces (recomputed from env when None)


@dataclass(frozen=True)
class Setup:
    """What every worker needs: the net, its box (None: all of R^n), tolerances and the trim wanted."""

    net: object
    lower: np.ndarray | None
    upper: np.ndarray | None
    tol: float
    minimal: bool
    samples: int = 256


class Search:
    """One process's searcher: the layers' piece functions and one warm LP."""

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
        self.lp = ChebyshevLP(n, cap=np.inf if boxed else 1.0)
        self.lp.push(self.H0, self.g0)
        self.lp_pattern: tuple = ()

    # ---- the root ------------------------------------------------------------------------------
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
            centre, r = self.lp.solve()
            pts, slack = centre[None], np.array([r])
        return Node(0, 0, env, (), self.H0, self.g0, (), (), pts, slack)

    # ---- expansion -----------------------------------------------------------------------------
    def advance(self, node: Node):
        """Run affine layers and single-piece elements; returns a Region (the end) or the node at a split."""
        shapes = self.net.shapes
        while True:
            if node.li == len(self.layers):
                return self.region(node)
            layer, fn = self.layers[node.li], self.piecefns[node.li]
            if fn is None:
                env = dict(node.env)
                env[layer.output] = affine(layer, [env[i] for i in layer.inputs], shapes)
                node.env, node.li = env, node.li + 1
                continue
            if node.pieces is None:
                node.pieces = self._prune(node, *self._compile(fn(node.env, shapes)))
            if node.k == len(node.pieces):
                env = dict(node.env)
                outs = [node.pieces[i][j][3] for i, j in enumerate(node.sel)]
                A = np.array([a for a, _ in outs]).reshape(-1, self.n)
                c = np.array([c for _, c in outs])
                shape = shapes[layer.output]
                env[layer.output] = (A.reshape(*shape, self.n), c.reshape(shape))
                node.env, node.li, node.k, node.sel, node.pieces = env, node.li + 1, 0, (), None
                continue
            if len(node.pieces[node.k]) == 1:
                node.sel, node.k = node.sel + (0,), node.k + 1
                continue
            return node

    def _compile(self, elems):
        """Each element's pieces as (H, g, row norms, output, start, stop), rows that hold on the whole box left
        out; None: no point of the box (or a constant condition that fails). All rows of the layer are tested
        at once; the kept rows, stacked, come back too (a piece's are ``start:stop`` of them)."""
        rows = [r for opts in elems for rs, _ in opts for r in rs]
        H = np.array([r[0] for r in rows]).reshape(-1, self.n)
        g = np.array([r[1] for r in rows], dtype=np.float64)
        norms = _norms(H)
        fails = (norms <= 0) & (g < 0)  # a constant condition that fails
        keep = norms > 0
        if self.mid is not None:
            spread = np.abs(H) @ self.half
            lo = H @ self.mid - spread
            fails |= keep & (lo > g + self.s.tol * norms)
            keep &= lo + 2 * spread > g + 1e-12 * np.maximum(1.0, np.abs(g))
        pos = np.concatenate([[0], np.cumsum(keep)])  # where each row lands among the kept rows
        out, at = [], 0
        for opts in elems:
            pieces = []
            for rs, result in opts:
                a, at = at, at + len(rs)
                k = keep[a:at]
                pieces.append(None if fails[a:at].any() else
                              (H[a:at][k], g[a:at][k], norms[a:at][k], result, int(pos[a]), int(pos[at])))
            out.append(pieces)
        return out, (H[keep], g[keep], norms[keep])

    def _prune(self, node: Node, pieces: list, rows) -> list:
        """At a layer's entry, the pieces that miss the node's polytope (no interior point, then the LP) are
        dropped for its whole subtree: tested once here, not again below every split of the layer."""
        Hk, gk, nk = rows
        S = (gk - node.points @ Hk.T) / nk  # slack of each interior point on each row
        hit = (S > self.s.tol).any(axis=0)
        for e, elem in enumerate(pieces):
            if len(elem) < 2:
                continue
            for j, piece in enumerate(elem):
                if piece is None or piece[4] == piece[5]:
                    continue
                a, b = piece[4], piece[5]
                if hit[a] if b == a + 1 else bool((S[:, a:b].min(axis=1) > self.s.tol).any()):
                    continue
                probe = node.pattern + (-1,)
                centre, r = self._lp(probe, node, piece[0], piece[1])
                if self.lp_pattern == probe:  # back to the node's rows: a probe's pattern is no real node's
                    self.lp.truncate(len(node.g))
                    self.lp_pattern = node.pattern
                if r <= self.s.tol:
                    elem[j] = None
                elif centre is not None:  # an interior point of the node too
                    s = np.min((node.g - node.H @ centre) / _norms(node.H), initial=np.inf)
                    node.points, node.slack = np.vstack([node.points, centre]), np.append(node.slack, s)
                    sc = (gk - Hk @ centre) / nk
                    S, hit = np.vstack([S, sc]), hit | (sc > self.s.tol)
        return pieces

    def children(self, node: Node) -> list[Node]:
        """The children of a node at a split, in piece order, each with an interior point."""
        kids = []
        for j, piece in enumerate(node.pieces[node.k]):
            if piece is None:
                continue
            H, g, norms = piece[:3]
            pattern = node.pattern + (j,)
            H2, g2 = (np.vstack([node.H, H]), np.concatenate([node.g, g])) if len(g) else (node.H, node.g)
            ends = node.ends + (len(g2),)
            if len(g) == 0:
                pts, slack = node.points, node.slack
            else:
                s = np.minimum(node.slack, np.min((g - node.points @ H.T) / norms, axis=1)) if len(node.points) \
                    else np.zeros(0)
                inside = s > self.s.tol
                pts, slack = node.points[inside], s[inside]
                if not len(pts):
                    centre, r = self._lp(pattern, node, H, g)
                    if r <= self.s.tol:
                        continue
                    pts = centre[None]
                    slack = np.array([np.min((g2 - H2 @ centre) / _norms(H2), initial=np.inf)])
            kids.append(Node(node.li, node.k + 1, node.env, node.sel + (j,), H2, g2, ends, pattern, pts, slack,
                             node.pieces))
        return kids

    def _lp(self, pattern, node: Node, H, g):
        """The Chebyshev LP of the node's polytope cut by ``H x <= g`` (reached by ``pattern``): the LP's row stack
        is cut back to the longest prefix of patterns it shares, then extended (its basis stays warm)."""
        common = 0
        for a, b in zip(self.lp_pattern, node.pattern):
            if a != b:
                break
            common += 1
        keep = node.ends[common - 1] if common else len(self.g0)
        self.lp.truncate(keep)
        self.lp.push(node.H[keep:], node.g[keep:])
        self.lp.push(H, g)
        self.lp_pattern = pattern
        return self.lp.solve()

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


def _norms(H: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", H, H))


def explore(setup: Setup, nodes: list[Node], budget: float = np.inf, room: float = np.inf, search=None):
    """Expand ``nodes`` depth first, stopping once ``budget`` splits are done or more than ``room`` regions
    are found; returns (regions, unexpanded nodes, LPs solved). A module-level function: workers run it."""
    search = search or Search(setup)
    stack, regions, done = list(reversed(nodes)), [], 0
    while stack and done < budget and len(regions) <= room:
        node = search.advance(stack.pop())
        if node is None:
            continue
        if isinstance(node, Region):
            regions.append(node)
            continue
        done += 1
        stack.extend(reversed(search.children(node)))
    return regions, list(reversed(stack)), search.lp.solves
