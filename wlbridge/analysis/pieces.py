"""The pieces of a piecewise-linear net, layer by layer, for the region search (``regions.py``).

An affine layer maps affine maps ``(A[..., n], c[...])`` of the input to affine maps (:func:`affine`);
a piecewise-linear layer gives, per output element, its pieces: the rows ``H x <= g`` on which the
element is one affine map (:func:`layer_pieces`). Max-like layers (max pooling, max/min) have one
piece per distinct candidate; activations one piece per segment of their graph.
"""
from __future__ import annotations

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


def affine(layer, args, shapes):
    """The layer applied to affine maps ``(A[..., n], c[...])``: evaluated on c and on c + each column."""
    if layer.op == "constant":
        v = np.asarray(layer.params["value"], dtype=np.float64)
        return np.zeros((*v.shape, 0)), v
    if layer.op == "linear" and args[0][0].ndim == 2:  # the common case, directly: W A and W c + b
        A, c = args[0]
        W = np.asarray(layer.params["weight"], dtype=np.float64)
        b = layer.params.get("bias")
        return W @ A, W @ c + (0.0 if b is None else np.asarray(b, dtype=np.float64))
    batch = [np.concatenate([c[None], np.moveaxis(A, -1, 0) + c[None]]) for A, c in args]
    y = REFERENCE[layer.op](layer, *batch)
    c = y[0]
    return np.moveaxis(y[1:] - c[None], 0, -1), c


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
    """None for an affine layer; else a function env -> per output element, the list of its pieces."""
    if is_affine(layer):
        return None
    if layer.op == "elementwise":
        table = _pieces(layer.attrs["fn"], dict(layer.attrs.get("fn_params") or {}))
        if table is None:
            raise _unsupported(layer)
        return lambda env, shapes: _scalar_pieces(env[layer.inputs[0]], lambda i: table)
    if layer.op == "prelu":
        def prelu(env, shapes):
            A, c = env[layer.inputs[0]]
            slope = np.broadcast_to(np.asarray(layer.params["slope"], dtype=np.float64), c.shape).reshape(-1)
            return _scalar_pieces((A, c), lambda i: [(-np.inf, 0.0, slope[i], 0.0), (0.0, np.inf, 1.0, 0.0)])
        return prelu
    if (layer.op == "pool" and layer.attrs["kind"] == "max") or (layer.op == "reduce" and layer.attrs["kind"] == "max") \
            or layer.op in ("max", "min"):
        return lambda env, shapes: _max_pieces(layer, env, shapes)
    raise _unsupported(layer)


def _unsupported(layer):
    what = layer.attrs.get("fn", layer.attrs.get("kind", "")) if layer.op in ("elementwise", "pool", "reduce") else ""
    return UnsupportedLayerError("linear regions", [(layer.path or layer.output, layer.op + (f"[{what}]" if what else ""),
                                                     "not piecewise-linear")])


def _scalar_pieces(Ac, table):
    A, c = Ac
    n = A.shape[-1]
    A, c = A.reshape(-1, n), c.reshape(-1)
    out = []
    for i in range(c.size):
        opts = []
        for lo, hi, s, o in table(i):
            rows = []
            if hi < np.inf:   # a.x + c <= hi
                rows.append((A[i], hi - c[i]))
            if lo > -np.inf:  # a.x + c >= lo
                rows.append((-A[i], c[i] - lo))
            opts.append((rows, (s * A[i], s * c[i] + o)))
        out.append(opts)
    return out


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
    return out


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
