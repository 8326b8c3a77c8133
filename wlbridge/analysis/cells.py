"""The cells of one piecewise-linear layer inside a node's polytope: one batched step of the region search.

A node of the search (``search.Node``) is a polytope ``P`` of the input space on which the layers before
``li`` are one affine map. Layer ``li``'s elements each have pieces (``pieces.Pieces``); a cell is one
piece per element whose rows cut ``P`` in a set with an interior (a ball of radius > ``tol``). :class:`Split`
finds all cells of ``P`` at once, element by element over all partial cells together (the bookkeeping in
Python ints and lists: a layer's elements and a node's points are few, and a numpy call per step would cost
more), deciding each partial cell as cheaply as it can:

1. a point of the node's table (sampled at the root, or found by an earlier LP) inside it with slack > tol
   on every row: kept, no LP (membership: an int bitset of points per piece, ANDed along the choices);
2. the Chebyshev LP through NNLS on its dual (``lp.Dual``); at the edge of ``tol``, HiGHS. A feasible LP's
   centre joins the table and settles the other partial cell it lies in.

(Lagrangian bounds over the box and one row of the cell, tried before the LP, cost more than the NNLS
solves they saved once those took ~8 us: measured on the benchmark nets, 2026-12-06.)

Before the elements are split, a piece that no point of the table lies in is decided once against ``P``
alone, and dropped for all of ``P``'s cells if empty. Cells come out in the order of their patterns.
:func:`emit` turns the cells of several splits of one layer into nodes (or regions) together: their affine
maps and the linear layers after them in one product.
"""
from __future__ import annotations

import numpy as np

from .lp import columns, row_norms

SMALL = 2_000_000  # cells x points x rows up to which a split's slack table is made in one piece


class Split:
    """The cells of ``search``'s layer ``node.li`` inside ``node``'s polytope: :meth:`choose` finds them,
    :func:`emit` makes them nodes."""

    def __init__(self, search, node, layer):
        """``layer``: the layer's pieces here, as ``search.compile`` gives them."""
        self.search, self.node, self.tol = search, node, search.s.tol
        self.pieces, self.alive, self.Hk, self.gk, self.nk, self.ks, self.kcols = layer
        self.starts = self.ks.tolist()  # kept-row offsets per piece, as ints (the bookkeeping's)
        if node.cols is None:
            node.cols = np.hstack([search.dual.lead, columns(node.H, node.g)])
        self.base = node.cols  # the node's rows as NNLS columns: the start of every LP here
        k = search.dual.lead.shape[1]
        self.unit_H, self.unit_g = self.base[:-2, k:], self.base[-1, k:]  # the node's rows, unit (transposed)
        self.X, self.s0 = node.points, node.slack  # the table: interior points of the node, their slack
        self.S = (self.gk - self.X @ self.Hk.T) / self.nk  # each point's slack on each kept row
        self.bits = _bitsets(self._inside(self.S))  # per piece, the points inside it (slack > tol on its rows)
        self.new: list = []  # points found here: (x, slack on the node's rows, slack on each kept row)
        self.levels: list = []  # the split elements' live pieces, so far

    def _inside(self, S: np.ndarray) -> np.ndarray:
        """(points, pieces), or (pieces,) for one point: whether each point of slacks ``S`` (on the kept rows)
        has slack > tol on all rows of each piece."""
        run = np.zeros((*S.shape[:-1], S.shape[-1] + 1), dtype=np.int64)
        np.cumsum(S <= self.tol, axis=-1, out=run[..., 1:])
        return run[..., self.ks[1:]] == run[..., self.ks[:-1]]

    def choose(self) -> None:
        """Find the cells: ``self.chosen`` holds each cell's choices (pieces, rows, points as a bitset, and an LP
        centre where no point is inside), then what :meth:`nodes` needs of the layer's structure. (Python lists:
        a layer's elements are few here, and numpy's per-call cost would dominate.)"""
        bits, ks, first = self.bits, self.starts, self.pieces.first.tolist()
        alive = self.alive.tolist()
        self.chosen = None
        groups = list(zip(first, first[1:]))
        todo = [q for a, b in groups if b - a > 1 for q in range(a, b) if alive[q] and not bits[q]]
        if todo:  # pieces no point lies in: decided against the node alone, dropped for all its cells if empty
            has = [[False] * len(todo)]
            self._settle([()], [[]], [bits[-1]], todo, has, [], [], {})
            for q, kept in zip(todo, has[0]):
                alive[q] = kept
        lives = [[q for q in range(a, b) if alive[q]] for a, b in groups]
        if not all(lives):  # an element with no piece: no cell (the node is empty within rounding)
            return
        fixed = [live[0] for live in lives if len(live) == 1]
        fixed_rows = [r for q in fixed for r in range(ks[q], ks[q + 1])]
        m = bits[-1]
        for q in fixed:
            m &= bits[q]
        C, R, M, own = [()], [[]], [m], [None]
        limit, splits = self.search.s.max_regions, [e for e, live in enumerate(lives) if len(live) > 1]
        for e in splits:
            qs = lives[e]
            self.levels.append(qs)
            has = [[bool(mi & bits[q]) for q in qs] for mi in M]
            found: dict = {}
            if not all(map(all, has)):
                self._settle(C, R, M, qs, has, fixed, fixed_rows, found)
            rows = [list(range(ks[q], ks[q + 1])) for q in qs]
            kids = [(i, j) for i, h in enumerate(has) for j, ok in enumerate(h) if ok]
            C = [C[i] + (qs[j],) for i, j in kids]
            R = [R[i] + rows[j] for i, j in kids]
            M = [M[i] & bits[qs[j]] for i, j in kids]
            own = [found.get((i, j), own[i]) for i, j in kids]
            if len(C) > limit:
                from .search import TooManyRegionsError

                layer = self.search.layers[self.node.li]
                raise TooManyRegionsError(f"{self.search.net.name}: more than max_regions={limit:,} linear regions "
                                          f"(layer {layer.path or layer.output} alone cuts one region of the layers "
                                          f"before it into more); raise max_regions, shrink the box, or use the "
                                          f"compact form")
        q = np.empty((len(C), len(groups)), dtype=np.int64)  # the piece of each element in each cell
        q[:, [e for e, live in enumerate(lives) if len(live) == 1]] = fixed
        q[:, splits] = np.array(C, dtype=np.int64).reshape(len(C), -1)
        multi = [e for e, (a, b) in enumerate(groups) if b - a > 1]  # the elements a pattern records
        self.chosen = (q, R, M, own, fixed_rows, multi)

    def _settle(self, C, R, M, qs, has, fixed, fixed_rows, found) -> None:
        """Decide the partial cells ``(i, j)`` (cell ``i``, chosen pieces ``C[i]``, rows ``R[i]``, points ``M[i]``,
        with piece ``qs[j]``) that ``has`` leaves False, in order: each found with an interior is set True in
        ``has``, its LP centre kept in ``found`` and added to the table, where it settles the cell it lies in."""
        s, ks, kcols, Hk, gk = self.search, self.starts, self.kcols, self.Hk, self.gk
        node, nb, dual = self.node, len(s.g0), self.search.dual
        spare = np.zeros((len(kcols), 1))
        where = {c: i for i, c in enumerate(C)}
        for i, h in enumerate(has):
            if all(h):
                continue
            js = [j for j, ok in enumerate(h) if not ok]
            rows = fixed_rows + R[i]
            Mi = np.concatenate((self.base, kcols[:, rows], spare), axis=1)  # the last column: the piece's row
            for j in js:
                if h[j]:  # a point found for an earlier cell lies in this one
                    continue
                a, b = ks[qs[j]], ks[qs[j] + 1]
                if b - a == 1:
                    Mi[:, -1] = kcols[:, a]
                    M_ = Mi
                else:
                    M_ = np.concatenate((Mi[:, :-1], kcols[:, a:b]), axis=1)
                s.nnls += 1
                got = dual.radius(M_)
                ok, x = got[:2] if got is not None else s.highs_radius(
                    np.vstack([node.H[nb:], Hk[rows], Hk[a:b]]), np.concatenate([node.g[nb:], gk[rows], gk[a:b]]))
                if not ok:
                    continue
                h[j] = True
                found[(i, j)] = x
                got = self._add(x, fixed, M, where)
                if got is not None:  # the partial cell it lies in (at most one: they do not overlap)
                    at, ins = got
                    for jj, q in enumerate(qs):
                        has[at][jj] = has[at][jj] or ins[q]

    def _add(self, x, fixed, M, where):
        """A new interior point of the node joins the table (its bit in each piece it lies in, and in ``M`` of the
        partial cell it lies in, found through ``where``); returns (that cell, its pieces), or None."""
        entry = (self.unit_g - x @ self.unit_H).min(initial=np.inf)
        if not entry > self.tol:
            return None
        S = (self.gk - self.Hk @ x) / self.nk
        ins = self._inside(S).tolist()
        bit = 1 << (len(self.X) + len(self.new))
        self.new.append((x, entry, S))
        bits = self.bits
        for q, inside in enumerate(ins):
            if inside:
                bits[q] |= bit
        bits[-1] |= bit
        if not all(ins[q] for q in fixed):
            return None
        path = []
        for qs in self.levels[:-1]:
            got = [q for q in qs if ins[q]]
            if len(got) != 1:
                return None
            path.append(got[0])
        i = where.get(tuple(path))
        if i is None:
            return None
        M[i] |= bit
        return i, ins

    def nodes(self, li: int, outs: dict, maps) -> list:
        """The cells as nodes of layer ``li`` (affine maps ``outs``: {output: (A, c) per cell}), or as regions
        (``maps``: their (A, b) per cell) at the end: rows, pattern and interior points."""
        from .search import Node, Region

        node, P = self.node, self.pieces
        q, R, M, own, fixed_rows, multi = self.chosen
        N = len(q)
        patterns = (q[:, multi] - P.first[multi]).tolist()
        rows = [sorted(fixed_rows + r) for r in R]  # element order
        if self.new:
            X, s0, S = zip(*self.new)
            self.X, self.s0, self.S = np.vstack([self.X, X]), np.append(self.s0, s0), np.vstack([self.S, S])
            self.new = []
        inside = _table(M, len(self.X))
        least = radius = None
        if N * self.S.size <= SMALL:  # each point's least slack over each cell's rows (and s0), all cells at once
            chosen = np.zeros((N, len(self.gk)), dtype=bool)
            chosen[np.repeat(np.arange(N), [len(r) for r in rows]), [r for rs in rows for r in rs]] = True
            least = np.minimum(np.where(chosen[:, None, :], self.S[None], np.inf).min(axis=2, initial=np.inf), self.s0)
            if maps is not None:  # regions: each cell's deepest point
                depth = np.where(inside, least, -np.inf)
                best = depth.argmax(axis=1)
                radius = depth[np.arange(N), best].tolist()
                best = best.tolist()
        out = []
        for i in range(N):
            H = np.concatenate((node.H, self.Hk[rows[i]]))
            g = np.concatenate((node.g, self.gk[rows[i]]))
            if radius is not None and radius[i] > -np.inf:
                out.append(Region(node.pattern + tuple(patterns[i]), maps[0][i], maps[1][i], H, g, self.X[best[i]],
                                  radius[i]))
                continue
            p = np.flatnonzero(inside[i])
            if len(p):
                points = self.X[p]
                slack = least[i, p] if least is not None else \
                    np.minimum(self.s0[p], self.S[p][:, rows[i]].min(axis=1, initial=np.inf))
            else:  # kept by an LP whose centre is its only point
                points = own[i][None]
                slack = np.array([np.min((g - H @ own[i]) / row_norms(H), initial=np.inf)])
            if maps is not None:
                best = int(np.argmax(slack))
                out.append(Region(node.pattern + tuple(patterns[i]), maps[0][i], maps[1][i], H, g, points[best],
                                  float(slack[best])))
                continue
            env = dict(node.env)
            for name, (A, c) in outs.items():
                env[name] = (A[i], c[i])
            out.append(Node(li, env, node.pattern + tuple(patterns[i]), H, g, points, slack,
                            np.concatenate((self.base, self.kcols[:, rows[i]]), axis=1)))
        return out


def emit(splits: list) -> list:
    """The cells of several splits of one layer (each :meth:`Split.choose`-n here), their affine maps and the
    linear layers after them computed for all cells at once: per split, its nodes (or regions)."""
    for sp in splits:
        sp.choose()
    done = [sp for sp in splits if sp.chosen is not None]
    if not done:
        return [[] for _ in splits]
    s = done[0].search
    li, outs = s.mapped(done[0].node.li, np.concatenate([sp.pieces.out_A[sp.chosen[0]] for sp in done]),
                        np.concatenate([sp.pieces.out_c[sp.chosen[0]] for sp in done]))
    maps = None
    if li == len(s.layers) and not s.s.minimal and all(o in outs for o in s.net.outputs):
        N = sum(len(sp.chosen[0]) for sp in done)  # the cells are regions: their maps, all at once
        maps = (np.concatenate([outs[o][0].reshape(N, -1, s.n) for o in s.net.outputs], axis=1),
                np.concatenate([outs[o][1].reshape(N, -1) for o in s.net.outputs], axis=1))
    out, at = [], 0
    for sp in splits:
        if sp.chosen is None:
            out.append([])
            continue
        a, at = at, at + len(sp.chosen[0])
        out.append(sp.nodes(li, {k: (A[a:at], c[a:at]) for k, (A, c) in outs.items()},
                            None if maps is None else (maps[0][a:at], maps[1][a:at])))
    return out


def _bitsets(inside: np.ndarray) -> list:
    """Each column of a (points, pieces) boolean table as an int (bit p: row p), and all points last."""
    m = inside.shape[0]
    size = (m + 7) // 8
    if not size:  # no points
        return [0] * (inside.shape[1] + 1)
    raw = np.packbits(inside, axis=0, bitorder="little").T.tobytes()
    return [int.from_bytes(raw[c:c + size], "little") for c in range(0, len(raw), size)] + [(1 << m) - 1]


def _table(masks: list, m: int) -> np.ndarray:
    """Int bitsets of ``m`` points as a (masks, m) boolean table."""
    size = (m + 7) // 8
    raw = np.frombuffer(b"".join(k.to_bytes(size, "little") for k in masks), dtype=np.uint8).reshape(len(masks), size)
    return np.unpackbits(raw, axis=1, count=m, bitorder="little").view(bool)
