"""The pieces of a piecewise-linear net, layer by layer, for the region search (``regions.py``).

An affine layer maps affine maps ``(A[..., n], c[...])`` of the input to affine maps (:func:`affine`);
a piecewise-linear layer gives, per output element, its pieces: the rows ``H x <= g`` on which the
element is one affine map (:func:`layer_pieces`, as flat arrays: :class:`Pieces`). Max-like layers (max
pooling, max/min) have one piece per distinct candidate; activations one piece per segment of their graph.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import UnsupportedLayerError
from ..reference import RULES as REFERENCE

AFFINE_FNS = {"identity", "neg"}


# pieces of each piecewise-linear activation: (lower, upper, slope, offset): on lower <= z <= upper, y = slope z + offset
def _pieces(fn: str, p: dict) -> list[tuple[float, float, float, float]] | None:
    inf = np.inf
    if fn == "relu":
        return [(-inf, 0.0, 0.0, 0.0), (0.0, inf, 1.0, 0.0)]
    if fn == "leaky_relu":
        return [(-inf, 0.0, p.get("negative_slope", 0.01), 0.0), (0.0, inf, 1.0, 0.0)]
    if fn == "abs":
        return [(-inf, 0.0, -1.0, 0.0), (0.0, inf, 1.0, 0.0)]
    if fn in ("clip", "relu6"):
        lo, hi = (0.0, 6.0) if fn == "relu6" else (p.get("min_val", -1.0), p.get("max_val", 1.0))
        hi = max(lo, hi)
        return [(-inf, lo, 0.0, lo), (lo, hi, 1.0, 0.0), (hi, inf, 0.0, hi)]
    return None


@dataclass(frozen=True)
class Pieces:
    """A piecewise-linear layer's pieces over the input ``x`` (n coordinates), as flat arrays: element ``e``'s pieces
    are ``first[e]:first[e+1]``; piece ``q`` holds where ``H[start[q]:start[q+1]] x <= g[...]`` and there the
    element is ``out_A[q] . x + out_c[q]``. Rows and pieces are in element order."""

    H: np.ndarray      # (rows, n)
    g: np.ndarray      # (rows,)
    start: np.ndarray  # (pieces + 1,) row offsets
    first: np.ndarray  # (elements + 1,) piece offsets
    out_A: np.ndarray  # (pieces, n)
    out_c: np.ndarray  # (pieces,)

    def options(self, e: int):
        """Element ``e``'s pieces as ([(h, g) rows], (a, c)): the form :mod:`tree` follows."""
        return [([(self.H[r], self.g[r]) for r in range(self.start[q], self.start[q + 1])], (self.out_A[q], self.out_c[q]))
                for q in range(self.first[e], self.first[e + 1])]

    def part(self, k: int, parts: int) -> tuple:
        """Part ``k`` of ``parts`` equal parts (by elements) of these pieces, and its pieces' range ``q0:q1``."""
        E = (len(self.first) - 1) // parts
        q0, q1 = self.first[k * E], self.first[(k + 1) * E]
        r0, r1 = self.start[q0], self.start[q1]
        return (Pieces(self.H[r0:r1], self.g[r0:r1], self.start[q0:q1 + 1] - r0, self.first[k * E:(k + 1) * E + 1] - q0,
                       self.out_A[q0:q1], self.out_c[q0:q1]), q0, q1)

    @staticmethod
    def of_lists(elems: list, n: int) -> "Pieces":
        """From per element [(rows [(h, g)], (a, c)) per piece] (max-like layers build theirs this way)."""
        rows = [r for opts in elems for rs, _ in opts for r in rs]
        outs = [o for opts in elems for _, o in opts]
        return Pieces(np.array([h for h, _ in rows], dtype=np.float64).reshape(-1, n),
                      np.array([g for _, g in rows], dtype=np.float64),
                      np.cumsum([0] + [len(rs) for opts in elems for rs, _ in opts]),
                      np.cumsum([0] + [len(opts) for opts in elems]),
                      np.array([a for a, _ in outs], dtype=np.float64).reshape(-1, n),
                      np.array([c for _, c in outs], dtype=np.float64))


def affine(layer, args, shapes):
    """The layer applied to affine maps ``(A[..., n], c[...])``: evaluated on c and on c + each column."""
    if layer.op == "constant":
        v = np.asarray(layer.params["value"], dtype=np.float64)
        return np.zeros((*v.shape, 0)), v
    if layer.op == "linear" and args[0][0].ndim == 2:  # the common case, directly
        return linear_maps(layer, *args[0])
    batch = [np.concatenate([c[None], np.moveaxis(A, -1, 0) + c[None]]) for A, c in args]
    y = REFERENCE[layer.op](layer, *batch)
    c = y[0]
    return np.moveaxis(y[1:] - c[None], 0, -1), c


def linear_maps(layer, A: np.ndarray, c: np.ndarray):
    """A linear layer applied to affine maps ``A`` (..., inputs, n), ``c`` (..., inputs): ``W A`` and ``W c + b`` in
    one stacked product, ``c`` as ``A``'s last column, so a map's numbers are the same alone or in any batch of
    maps (a batched ``c @ W.T`` and a single ``W @ c`` round differently)."""
    W, b = np.asarray(layer.params["weight"], dtype=np.float64), layer.params.get("bias")
    Ac = W @ np.concatenate((A, c[..., None]), axis=-1)
    return Ac[..., :-1], Ac[..., -1] + (0.0 if b is None else np.asarray(b, dtype=np.float64))


def is_affine(layer) -> bool:
    op = layer.op
    if op in ("linear", "matmul", "conv", "batchnorm", "identity", "flatten", "reshape", "transpose",
              "concat", "add", "sub", "constant"):
        return True
    if op == "elementwise":
        return layer.attrs["fn"] in AFFINE_FNS
    if op == "pool":
        return layer.attrs["kind"] in ("avg", "sum")
    if op == "reduce":
        return layer.attrs["kind"] in ("mean", "sum")
    return False


def layer_pieces(layer):
    """None for an affine layer; else a function (env, shapes) -> the layer's :class:`Pieces` (a :class:`Table`
    for activations, which also gives the pieces of several nodes' inputs at once)."""
    if is_affine(layer):
        return None
    if layer.op == "elementwise":
        table = _pieces(layer.attrs["fn"], dict(layer.attrs.get("fn_params") or {}))
        if table is None:
            raise _unsupported(layer)
        return Table(layer.inputs[0], lambda shapes, copies: table)
    if layer.op == "prelu":
        def prelu(shapes, copies):
            slope = np.broadcast_to(np.asarray(layer.params["slope"], dtype=np.float64), shapes[layer.inputs[0]])
            return [(-np.inf, 0.0, np.tile(slope.reshape(-1), copies), 0.0), (0.0, np.inf, 1.0, 0.0)]
        return Table(layer.inputs[0], prelu)
    if (layer.op == "pool" and layer.attrs["kind"] == "max") or (layer.op == "reduce" and layer.attrs["kind"] == "max") \
            or layer.op in ("max", "min"):
        return lambda env, shapes: _max_pieces(layer, env, shapes)
    raise _unsupported(layer)


@dataclass(frozen=True)
class Table:
    """An activation's pieces: every element of input ``source`` through one table of segments; ``table(shapes,
    copies)`` gives it for ``copies`` nodes' elements in a row (a slope may be an array: one per element)."""

    source: str
    table: object

    def __call__(self, env, shapes) -> Pieces:
        return _scalar_pieces(env[self.source], self.table(shapes, 1))

    def batch(self, envs: list, shapes) -> Pieces:
        """The pieces of several nodes' inputs, node after node (each node's: ``Pieces.part``)."""
        n = envs[0][self.source][0].shape[-1]
        A = np.concatenate([env[self.source][0].reshape(-1, n) for env in envs])
        c = np.concatenate([env[self.source][1].reshape(-1) for env in envs])
        return _scalar_pieces((A, c), self.table(shapes, len(envs)))


def _unsupported(layer):
    what = layer.attrs.get("fn", layer.attrs.get("kind", "")) if layer.op in ("elementwise", "pool", "reduce") else ""
    return UnsupportedLayerError("linear regions", [(layer.path or layer.output, layer.op + (f"[{what}]" if what else ""),
                                                     "not piecewise-linear")])


def _scalar_pieces(Ac, table) -> Pieces:
    """Every element of ``Ac`` through the same table of segments (a slope may be an array: one per element)."""
    A, c = Ac
    n = A.shape[-1]
    A, c = A.reshape(-1, n), c.reshape(-1)
    size, plan = len(c), [(t, bound, upper) for t, (lo, hi, _, _) in enumerate(table)
                          for bound, upper in ((hi, True), (lo, False)) if np.isfinite(bound)]
    H, g = np.empty((size, len(plan), n)), np.empty((size, len(plan)))
    for r, (_, bound, upper) in enumerate(plan):
        if upper:   # a.x + c <= hi
            H[:, r] = A
            np.subtract(bound, c, out=g[:, r])
        else:       # a.x + c >= lo
            np.negative(A, out=H[:, r])
            np.subtract(c, bound, out=g[:, r])
    out_A, out_c = np.empty((size, len(table), n)), np.empty((size, len(table)))
    for t, (_, _, slope, offset) in enumerate(table):
        if np.ndim(slope):
            out_A[:, t] = slope[:, None] * A
        else:
            np.multiply(A, slope, out=out_A[:, t])
        out_c[:, t] = slope * c + offset
    return Pieces(H.reshape(-1, n), g.reshape(-1), *_offsets(tuple(t for t, _, _ in plan), len(table), size),
                  out_A.reshape(-1, n), out_c.reshape(-1))


@functools.lru_cache(maxsize=64)
def _offsets(row_pieces: tuple, pieces: int, size: int):
    """Row offsets per piece and piece offsets per element of ``size`` elements with the same table."""
    counts = np.bincount(row_pieces, minlength=pieces)
    return np.concatenate([[0], np.cumsum(np.tile(counts, size))]), np.arange(size + 1) * pieces


def _max_pieces(layer, env, shapes):
    """For max/min-like layers: each output element is one of its candidates (an affine map); piece j wins."""
    args = [env[i] for i in layer.inputs]
    n = next(a[0].shape[-1] for a in args)
    cands = _candidates(layer, args, n)  # list per output element of (A_k, c_k) candidates
    sign = -1.0 if layer.op == "min" else 1.0
    out = []
    for cs in cands:
        uniq = []
        for a, c in cs:
            if not any(np.array_equal(a, u[0]) and c == u[1] for u in uniq):
                uniq.append((a, c))
        opts = []
        for j, (aj, cj) in enumerate(uniq):  # candidate k - candidate j <= 0 (sign-adjusted)
            rows = [(sign * (ak - aj), sign * (cj - ck)) for k, (ak, ck) in enumerate(uniq) if k != j]
            opts.append((rows, (aj, cj)))
        out.append(opts)
    return Pieces.of_lists(out, n)


def _candidates(layer, args, n):
    """Per output element, the affine candidates of a max: found by evaluating the op on index-tagged values."""
    if layer.op in ("max", "min"):
        cs = [np.broadcast_to(c, np.broadcast_shapes(*[a[1].shape for a in args])) for _, c in args]
        As = [np.broadcast_to(A, (*cs[0].shape, n)) for A, _ in args]
        return [[(A[i], float(c[i])) for A, c in zip(As, cs)] for i in np.ndindex(cs[0].shape)]
    A, c = args[0]
    windows = _window_members(layer, c.shape)
    flatA, flatc = A.reshape(-1, n), c.reshape(-1)
    return [[(flatA[int(k)], float(flatc[int(k)])) for k in ks] for ks in windows]


def _window_members(layer, shape):
    """For each output element of a max pool / max reduce on inputs of ``shape``, the input indices in its window:
    one-hot probes (1 at one index, -1 elsewhere) in one batch; an output is 1 where its window holds the index."""
    size = int(np.prod(shape))
    probes = np.where(np.eye(size, dtype=bool), 1.0, -1.0).reshape(size, *shape)
    hits = REFERENCE[layer.op](layer, probes).reshape(size, -1) == 1.0  # {input index, output element}
    return [list(np.flatnonzero(hits[:, o])) for o in range(hits.shape[1])]


def what(layer) -> str:
    w = layer.attrs.get("fn") or layer.attrs.get("kind")
    return f"[{w}]" if w else ""


def supported(layer) -> bool:
    if layer.op == "elementwise":
        return _pieces(layer.attrs["fn"], dict(layer.attrs.get("fn_params") or {})) is not None
    if layer.op in ("pool", "reduce"):
        return layer.attrs["kind"] == "max"
    return layer.op in ("prelu", "max", "min")
