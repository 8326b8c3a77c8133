"""The depth-first search over activation patterns behind ``linear_regions``, in bounded, picklable pieces.

A :class:`Node` is a polytope ``H x <= g`` (the box rows first, then one block of rows per choice in
``pattern``) reached at element ``k`` of layer ``li``, with the affine maps of the layers so far. The
search splits a node on the pieces of its element. A child is kept only if its polytope has an
interior (a ball of radius > ``tol``), decided as cheaply as it can be, in this order:

1. its rows hold on no point of the box (interval bound of each row over the box): dropped, no LP;
2. one of the node's interior points lies in the child with slack > ``tol`` on every row: kept, no LP
   (points are sampled in the box at the root, and every point an LP finds joins the table);
3. a Lagrangian bound over the box and one row of the node leaves it no interior: dropped (``bounds.py``);
4. otherwise the Chebyshev LP, through NNLS on its dual (``lp.nnls_radius``), and only at the edge of
   ``tol`` on HiGHS (warm-started; its row stack follows the search).

At a layer's entry, the pieces that miss the node's polytope are dropped for the whole subtree. The nodes
inside a layer's splits share a :class:`Layer`: a table of interior points with, per piece, the points
inside it as an int bitset, so a split costs a few integer ANDs, not arrays. A row that holds on the whole
box is never added (it states nothing in the box). :func:`explore` expands a list of nodes up to a work
limit and returns the finished regions and the nodes it did not expand, so a driver can hand subtrees to
workers (``regions.py``). Regions come out in the order of their patterns (lexicographic), the order of the
serial search.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bounds import lower_bounds
from .lp import FAR, ChebyshevLP, columns, max_linear, nnls_radius
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
    """A partial activation pattern: see the module docstring. ``sel``: the pieces chosen in layer ``li``.

    Between layers a node holds its polytope and interior points; inside a layer's splits it holds only
    ``layer`` (what the layer's nodes share) and ``sel``: its rows and points follow from them (``Search.polytope``).
    """

    li: int
    k: int
    env: dict
    sel: tuple
    pattern: tuple
    H: np.ndarray | None = None
    g: np.ndarray | None = None
    ends: tuple | None = None  # row count after each block of ``pattern``
    points: np.ndarray | None = None  # interior points, and their least slack over the rows
    slack: np.ndarray | None = None
    layer: "Layer | None" = None
    own: tuple | None = None  # (points, slack) when none of the layer's points has slack > tol in it
    cols: np.ndarray | None = None  # its rows as NNLS columns (lp.columns), made when first needed
    rows: list | None = None  # inside a layer: which of the layer's rows it has (with its polytope)


@dataclass
class Layer:
    """One piecewise layer below one entry node, shared by the nodes of its splits: the compiled pieces, the
    entry polytope and a table of interior points of it, with for each piece the points inside it (a bitset:
    bit p is point p). A node's points are the AND of its chosen pieces' bitsets: no arrays per split."""

    pieces: list  # per element: its pieces (H, g, norms, output, start, stop), None where dropped
    rows: tuple  # the layer's kept rows (H, g, norms); a piece's are start:stop of them
    H: np.ndarray  # the entry polytope, its blocks and pattern
    g: np.ndarray
    ends: tuple
    pattern: tuple
    points: np.ndarray  # interior points of the entry polytope with slack > tol, and that slack
    slack: np.ndarray
    S: np.ndarray  # (points, layer rows): each point's slack on each of the layer's rows
    live: list  # the (element, piece) of each column of ``bits``: the pieces not dropped
    column: list  # per element and piece: its column in ``bits``
    bits: list  # per piece column: the points inside it (slack > tol on its rows)
    splits: tuple  # per element: more than one piece (a split)
    cols: np.ndarray  # the entry rows and the layer's rows as NNLS columns (lp.columns)
    kcols: np.ndarray


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
        self.cap = np.inf if boxed else 1.0  # without a box, balls of radius 1 are big enough
        self.reach = float(np.max(np.abs(np.r_[setup.lower, setup.upper]))) if boxed else FAR
        self._warm: ChebyshevLP | None = None
        self.lp_pattern: tuple = ()
        self.nnls = 0  # decisions by NNLS (the LP's dual), besides the HiGHS LP's

    @property
    def lp(self) -> ChebyshevLP:
        """The warm HiGHS LP (made on first use: NNLS decides nearly every piece); its rows start as the box's."""
        if self._warm is None:
            self._warm = ChebyshevLP(self.n, cap=self.cap)
            self._warm.push(self.H0, self.g0)
            self.lp_pattern = ()
        return self._warm

    @property
    def solves(self) -> int:
        """LPs solved: by NNLS and by HiGHS."""
        return self.nnls + (self._warm.solves if self._warm is not None else 0)

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
        return Node(0, 0, env, (), (), self.H0, self.g0, (), pts, slack)

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
            if node.layer is None:
                node.layer = self._enter(node, *self._compile(fn(node.env, shapes)))
            L = node.layer
            if node.k == len(L.pieces):
                env = dict(node.env)
                outs = [L.pieces[i][j][3] for i, j in enumerate(node.sel)]
                A = np.array([a for a, _ in outs]).reshape(-1, self.n)
                c = np.array([c for _, c in outs])
                shape = shapes[layer.output]
                env[layer.output] = (A.reshape(*shape, self.n), c.reshape(shape))
                self.polytope(node)
                node = Node(node.li + 1, 0, env, (), node.pattern, node.H, node.g, node.ends, node.points, node.slack)
                continue
            if not L.splits[node.k]:
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

    def _enter(self, node: Node, pieces: list, rows) -> Layer:
        """A layer's entry: the pieces that miss the node's polytope are dropped for its whole subtree (tested
        once here, not again below every split of the layer: a piece with no interior point goes to
        :meth:`_decide`), then the table of points and pieces that the layer's splits share."""
        Hk, gk, nk = rows
        kcols = columns(Hk, gk)
        cols = [(e, j) for e, elem in enumerate(pieces) for j, p in enumerate(elem) if p is not None]
        inside = self._inside(node.points, pieces, cols, rows)
        todo = [c for c, (e, j) in enumerate(cols) if len(pieces[e]) > 1 and not inside[:, c].any()]
        if todo:
            for c, keep in zip(todo, self._decide(node, [pieces[cols[c][0]][cols[c][1]] for c in todo], kcols)):
                if not keep:
                    pieces[cols[c][0]][cols[c][1]] = None
            cols = [(e, j) for e, elem in enumerate(pieces) for j, p in enumerate(elem) if p is not None]
            inside = self._inside(node.points, pieces, cols, rows)
        column = [[None] * len(elem) for elem in pieces]
        for c, (e, j) in enumerate(cols):
            column[e][j] = c
        S = (gk - node.points @ Hk.T) / nk
        return Layer(pieces, rows, node.H, node.g, node.ends, node.pattern, node.points, node.slack, S, cols, column,
                     _bitsets(inside), tuple(len(elem) > 1 for elem in pieces), self._cols(node), kcols)

    def _inside(self, points, pieces, cols, rows) -> np.ndarray:
        """(points, pieces in ``cols``): whether each point has slack > tol on all rows of each piece."""
        Hk, gk, nk = rows
        bad = (gk - points @ Hk.T) / nk <= self.s.tol
        run = np.zeros((len(points), len(gk) + 1), dtype=np.int64)
        np.cumsum(bad, axis=1, out=run[:, 1:])
        start = np.array([pieces[e][j][4] for e, j in cols], dtype=np.int64)
        stop = np.array([pieces[e][j][5] for e, j in cols], dtype=np.int64)
        return run[:, stop] == run[:, start]

    def polytope(self, node: Node) -> Node:
        """Fill in a node's rows, blocks and interior points from its layer (a node inside a layer's splits)."""
        if node.H is not None:
            return node
        L = node.layer
        Hk, gk, _ = L.rows
        idx, ends, count = [], list(L.ends), len(L.g)
        for e, j in enumerate(node.sel):
            if L.splits[e]:
                a, b = L.pieces[e][j][4:6]
                idx.extend(range(a, b))
                count += b - a
                ends.append(count)
        node.H, node.g, node.ends = np.vstack([L.H, Hk[idx]]), np.concatenate([L.g, gk[idx]]), tuple(ends)
        node.rows = idx
        if node.own is not None:
            node.points, node.slack = node.own
            return node
        p = _members(self.mask(node))
        node.points = L.points[p]
        node.slack = np.minimum(L.slack[p], L.S[p][:, idx].min(axis=1, initial=np.inf))
        return node

    @staticmethod
    def _cols(node: Node) -> np.ndarray:
        """The node's rows as NNLS columns: its layer's, or made from its rows (a node between layers)."""
        if node.cols is None:
            L = node.layer
            node.cols = columns(node.H, node.g) if node.rows is None else np.hstack([L.cols, L.kcols[:, node.rows]])
        return node.cols

    @staticmethod
    def mask(node: Node) -> int:
        """The layer's points inside a node inside the layer's splits: the AND of its chosen pieces' bitsets."""
        L = node.layer
        m = L.bits[-1]  # all points of the entry polytope
        for e, j in enumerate(node.sel):
            if L.splits[e]:
                m &= L.bits[L.column[e][j]]
        return m

    def _decide(self, node: Node, pieces: list, kcols: np.ndarray, patterns=None) -> list[bool]:
        """Whether each piece (rows ``H x <= g`` cutting the node's polytope) holds a ball of radius > tol, in
        order of cost: a lower bound that leaves it no interior (in a box: one vectorised test for all pieces),
        a point found for an earlier piece, the Chebyshev LP through NNLS (:func:`nnls_radius`), and at the edge
        of tol the warm HiGHS LP (its rows reached by ``patterns[i]``; None: a probe, the LP goes back to the
        node). The points found join the node's (and its layer's)."""
        self.polytope(node)
        tol, keep = self.s.tol, [None] * len(pieces)
        if self.mid is not None:
            nb = len(self.g0)
            low = lower_bounds(np.vstack([p[0] for p in pieces]), node.H[nb:], node.g[nb:], self.mid, self.half)
            empty = low >= np.concatenate([p[1] for p in pieces])
            at = 0
            for i, p in enumerate(pieces):
                if empty[at:at + len(p[1])].any():
                    keep[i] = False
                at += len(p[1])
        seen = len(node.points)
        for i in [i for i, k in enumerate(keep) if k is None]:
            H, g = pieces[i][0], pieces[i][1]
            fresh = node.points[seen:]
            if len(fresh) and bool((np.min((g - fresh @ H.T) / _norms(H), axis=1) > tol).any()):
                keep[i] = True
                continue
            keep[i], centre = self._radius(node, H, g, kcols[:, pieces[i][4]:pieces[i][5]],
                                           node.pattern + (-1,) if patterns is None else patterns[i])
            if keep[i] and centre is not None:  # an interior point of the node too
                s = np.min((node.g - node.H @ centre) / _norms(node.H), initial=np.inf)
                self._add_points(node, centre[None], np.array([s]))
        return keep

    def _radius(self, node: Node, H, g, cols, pattern) -> tuple[bool, np.ndarray | None]:
        """Whether the node's polytope cut by ``H x <= g`` holds a ball of radius > tol, and a point inside."""
        self.nnls += 1
        got = nnls_radius(np.hstack([self._cols(node), cols]), self.s.tol, self.cap, self.reach)
        if got is not None:
            return got[0], got[1]
        centre, r = self._lp(pattern, node, H, g)
        if pattern[-1] == -1 and self.lp_pattern == pattern:  # a probe's pattern is no node's: back to the node
            self.lp.truncate(len(node.g))
            self.lp_pattern = node.pattern
        return r > self.s.tol, centre

    def _add_points(self, node: Node, pts, slack) -> None:
        """New interior points of a node (with their least slack over its rows): the node's, and its layer's."""
        if not len(pts):
            return
        node.points, node.slack = np.vstack([node.points, pts]), np.append(node.slack, slack)
        L = node.layer
        if L is None:
            return
        Hk, gk, nk = L.rows
        first = len(L.points)
        entry = np.min((L.g[None, :] - pts @ L.H.T) / _norms(L.H)[None, :], axis=1, initial=np.inf)
        inside = self._inside(pts, L.pieces, L.live, L.rows) & (entry > self.s.tol)[:, None]
        L.points, L.slack = np.vstack([L.points, pts]), np.append(L.slack, entry)
        L.S = np.vstack([L.S, (gk - pts @ Hk.T) / nk])
        for r in range(len(pts)):
            bit = 1 << (first + r)
            for c in np.flatnonzero(inside[r]):
                L.bits[c] |= bit
            if entry[r] > self.s.tol:
                L.bits[-1] |= bit

    def children(self, node: Node) -> list[Node]:
        """The children of a node at a split, in piece order, each with an interior point."""
        L, k = node.layer, node.k
        live = [j for j, p in enumerate(L.pieces[k]) if p is not None]
        m = self.mask(node) if node.own is None else 0
        masks = [m & L.bits[L.column[k][j]] for j in live]
        own = [None] * len(live)
        undecided = [i for i, mk in enumerate(masks) if not mk]
        if undecided:
            keep = self._decide(node, [L.pieces[k][live[i]] for i in undecided], L.kcols,
                                [node.pattern + (live[i],) for i in undecided])
            m = self.mask(node) if node.own is None else 0
            for i, kept in zip(undecided, keep):
                masks[i] = (m & L.bits[L.column[k][live[i]]]) if kept else None
                if kept and not masks[i]:  # no point with slack > tol (an LP's radius within rounding of tol)
                    own[i] = self._deepest(node, L.pieces[k][live[i]])
        return [Node(node.li, k + 1, node.env, node.sel + (j,), node.pattern + (j,), layer=L, own=o)
                for j, mk, o in zip(live, masks, own) if mk is not None]

    @staticmethod
    def _deepest(node: Node, piece):
        """The node's point deepest in the piece, as a child's only point."""
        H2, g2 = np.vstack([node.H, piece[0]]), np.concatenate([node.g, piece[1]])
        s = np.min((g2 - node.points @ H2.T) / _norms(H2), axis=1)
        best = int(np.argmax(s))
        return node.points[best:best + 1], s[best:best + 1]

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


def _bitsets(inside: np.ndarray) -> list:
    """Each column of a (points, pieces) boolean table as an int (bit p: row p), and all points last."""
    m = inside.shape[0]
    packed = np.packbits(inside, axis=0, bitorder="little")
    return [int.from_bytes(packed[:, c].tobytes(), "little") for c in range(inside.shape[1])] + [(1 << m) - 1]


def _members(mask: int) -> np.ndarray:
    """The set bits of an int, as indices."""
    raw = np.frombuffer(mask.to_bytes((mask.bit_length() + 7) // 8 or 1, "little"), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw, bitorder="little"))


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
    return regions, list(reversed(stack)), search.solves
