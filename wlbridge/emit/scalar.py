"""Elementwise interpretation of the IR over arrays of scalar expressions, for any scalar algebra.

Every value is a numpy object array (the value's shape, no batch axis) of scalar expressions; each
op rule builds the output elements from the input elements through an *algebra*: an object with
``const, add, mul, neg, sub, div, pow, max, min, exp, log, act, cmp, where, select, share``.
The sympy emitter (both forms) and the WL expanded form are this interpreter with different algebras.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from ..ops import OPS, SCALAR_OPS
from ._geom import full_padding, geometry, norm_axis, pool_counts
from .._rules import registrar

RULES: dict[str, Callable] = {}


rule = registrar(RULES, "scalar")


def obj(shape) -> np.ndarray:
    return np.empty(tuple(shape), dtype=object)


def p64(layer, name):
    v = layer.params.get(name)
    return None if v is None else np.asarray(v, dtype=np.float64)


def lincomb(A, coeffs, xs, bias=None):
    """bias + sum(c * x), dropping zero coefficients."""
    terms = [] if bias is None or bias == 0 else [A.const(bias)]
    for c, x in zip(coeffs, xs):
        if x is None or c == 0:
            continue
        terms.append(x if c == 1 else A.mul([A.const(c), x]))
    return A.add(terms) if terms else A.const(0.0)


def run_layer(A, layer, args, out_shape):
    """Output elements of one layer (object array of ``out_shape``)."""
    out = RULES[layer.op](A, layer, *args)
    out = np.asarray(out, dtype=object) if not isinstance(out, np.ndarray) else out
    return out.reshape(out_shape)


@rule("constant")
def _constant(A, layer):
    v = p64(layer, "value")
    out = obj(v.shape)
    for i, x in np.ndenumerate(v):
        out[i] = A.const(float(x))
    return out


@rule("identity")
def _identity(A, layer, x):
    return x


def _map(fn, *arrays):
    arrays = np.broadcast_arrays(*arrays) if len(arrays) > 1 else arrays
    out = obj(arrays[0].shape)
    for i in np.ndindex(out.shape):
        out[i] = fn(*[a[i] for a in arrays])
    return out


@rule("elementwise")
def _elementwise(A, layer, x):
    fn, params = layer.attrs["fn"], layer.attrs.get("fn_params") or {}
    if fn == "identity":
        return x
    return _map(lambda e: A.act(fn, params, e), x)


def scalar_body(A, body, args):
    """A scalar_fn AST (ops.SCALAR_OPS) in the algebra ``A``."""
    head = body[0]
    if head == "arg":
        return args[body[1] - 1]
    if head == "const":
        return A.const(float(body[1]))
    kids = [scalar_body(A, b, args) for b in body[1:]]
    if head in ("add", "mul", "max", "min"):
        return getattr(A, head)(kids)
    if head in ("sub", "div", "pow"):
        return getattr(A, head)(*kids)
    if head == "where":
        return A.where(*kids)
    if head in SCALAR_OPS:
        return A.cmp(head, *kids)
    return A.act(head, {}, kids[0])


@rule("scalar_fn")
def _scalar_fn(A, layer, *xs):
    return _map(lambda *es: scalar_body(A, layer.attrs["body"], es), *xs)


@rule("add", "mul", "max", "min")
def _nary(A, layer, *xs):
    return _map(lambda *es: getattr(A, layer.op)(list(es)), *xs)


@rule("sub", "div", "pow")
def _binary(A, layer, a, b):
    return _map(getattr(A, layer.op), a, b)


@rule("linear")
def _linear(A, layer, x):
    w, b = p64(layer, "weight"), p64(layer, "bias")
    out = obj((*x.shape[:-1], w.shape[0]))
    for i in np.ndindex(x.shape[:-1]):
        for o in range(w.shape[0]):
            out[i + (o,)] = lincomb(A, w[o], x[i], None if b is None else b[o])
    return out


@rule("matmul")
def _matmul(A, layer, x):
    w = p64(layer, "weight")
    out = obj((*x.shape[:-1], w.shape[1]))
    for i in np.ndindex(x.shape[:-1]):
        for o in range(w.shape[1]):
            out[i + (o,)] = lincomb(A, w[:, o], x[i])
    return out


@rule("prelu")
def _prelu(A, layer, x):
    slope = np.broadcast_to(p64(layer, "slope"), x.shape)
    out = obj(x.shape)
    for i in np.ndindex(x.shape):
        out[i] = A.act("leaky_relu", {"negative_slope": float(slope[i])}, x[i])
    return out


def _along(x, axis, fn):
    """Apply ``fn(list of elements) -> list`` to every 1-D fibre along ``axis``."""
    moved = np.moveaxis(x, axis, -1)
    out = obj(moved.shape)
    for i in np.ndindex(moved.shape[:-1]):
        out[i] = np.array(fn(list(moved[i])) + [None], dtype=object)[:-1]
    return np.moveaxis(out, -1, axis)


def _sum_exp_gaps(A, zs, z):
    """``1 + Σ exp(z_j - z)`` over the other scores ``zs``: softmax of ``z`` is its reciprocal. Needs no
    Max (readable) and cannot overflow for the largest z; for the others an overflow means softmax
    underflows anyway."""
    return A.add([A.const(1.0)] + [A.exp(A.sub(zj, z)) for zj in zs])


def _live(A, zs) -> list[bool]:
    """Which scores are not masked by a constant -inf (masked ones get probability 0 and take no part in
    the others' sums: ``(-Infinity) - (-Infinity)`` would be Indeterminate)."""
    masked = getattr(A, "neg_inf", None)
    live = [not (masked and masked(z)) for z in zs]
    return live if any(live) else [True] * len(zs)  # a fully masked row stays NaN, as in the net


def _closed_forms(A, zs, masked: float, alone: float, of_gaps):
    """One closed formula per score (the expanded forms): ``of_gaps(1 + Σ exp(z_j - z_i))`` over the live
    others, the constant ``masked`` for a masked score and ``alone`` for the only live one."""
    live = _live(A, zs)
    out = []
    for i, z in enumerate(zs):
        others = [zj for j, zj in enumerate(zs) if live[j] and j != i]
        out.append(A.const(masked) if not live[i] else A.const(alone) if not others
                   else of_gaps(_sum_exp_gaps(A, others, z)))
    return out


def _softmax_row(A, zs):
    if not A.stable:  # expanded forms: one closed formula per output, e.g. 1/(1 + Exp[z2 - z1])
        return _closed_forms(A, zs, 0.0, 1.0, lambda gaps: A.div(A.const(1.0), gaps))
    m = A.share(A.max(zs))
    es = [A.share(A.exp(A.sub(z, m))) for z in zs]
    s = A.share(A.add(es))
    return [A.div(e, s) for e in es]


def _log_softmax_row(A, zs):
    if not A.stable:
        return _closed_forms(A, zs, -np.inf, 0.0, lambda gaps: A.neg(A.log(gaps)))
    m = A.share(A.max(zs))
    lse = A.share(A.add([m, A.log(A.add([A.exp(A.sub(z, m)) for z in zs]))]))
    return [A.sub(z, lse) for z in zs]


@rule("softmax")
def _softmax(A, layer, x):
    return _along(x, norm_axis(layer.attrs.get("axis", -1), x.ndim), lambda zs: _softmax_row(A, zs))


@rule("log_softmax")
def _log_softmax(A, layer, x):
    return _along(x, norm_axis(layer.attrs.get("axis", -1), x.ndim), lambda zs: _log_softmax_row(A, zs))


@rule("batchnorm")
def _batchnorm(A, layer, x):
    ax = norm_axis(layer.attrs.get("axis", 0), x.ndim)
    k = p64(layer, "scale") / np.sqrt(p64(layer, "var") + float(layer.attrs.get("eps", 1e-5)))
    mean, bias = p64(layer, "mean"), p64(layer, "bias")
    out = obj(x.shape)
    for i in np.ndindex(x.shape):
        c = i[ax]
        centred = x[i] if mean[c] == 0 else A.sub(x[i], A.const(mean[c]))
        out[i] = lincomb(A, [k[c]], [centred], bias[c])
    return out


@rule("flatten")
def _flatten(A, layer, x):
    return x.reshape(-1)


@rule("reshape")
def _reshape(A, layer, x):
    return x.reshape(tuple(layer.attrs["shape"]))


@rule("transpose")
def _transpose(A, layer, x):
    return x.transpose(tuple(layer.attrs["perm"]))


@rule("concat")
def _concat(A, layer, *xs):
    return np.concatenate(xs, axis=norm_axis(layer.attrs.get("axis", 0), xs[0].ndim))


def _padded(x, pad):
    """Object array padded with None (positions outside the input)."""
    out = obj(tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, ((0, 0), *pad))))
    out[(slice(None), *[slice(lo, lo + d) for d, (lo, _) in zip(x.shape[1:], pad)])] = x
    return out


def _windows(xp, kernel, stride, dil, out_sp):
    """Yield (kernel offset, view[c, *out]) over the padded object array."""
    for k in itertools.product(*[range(n) for n in kernel]):
        idx = tuple(slice(k[i] * dil[i], k[i] * dil[i] + (out_sp[i] - 1) * stride[i] + 1, stride[i])
                    for i in range(len(kernel)))
        yield k, xp[(slice(None), *idx)]


@rule("conv")
def _conv(A, layer, x):
    w, b = p64(layer, "weight"), p64(layer, "bias")
    kernel = w.shape[2:]
    stride, dil, pad = geometry(layer, len(kernel))
    from ..shapes import _conv as conv_shape

    out_sp = conv_shape(layer, x.shape)[1:]
    groups = int(layer.attrs.get("groups", 1))
    og, cg = w.shape[0] // groups, w.shape[1]
    views = list(_windows(_padded(x, pad), kernel, stride, dil, out_sp))
    out = obj((w.shape[0], *out_sp))
    for o in range(w.shape[0]):
        g = o // og
        for pos in np.ndindex(*out_sp):
            coeffs, xs = [], []
            for k, view in views:
                for c in range(cg):
                    coeffs.append(w[(o, c, *k)])
                    xs.append(view[(g * cg + c, *pos)])
            out[(o, *pos)] = lincomb(A, coeffs, xs, None if b is None else b[o])
    return out


@rule("pool")
def _pool(A, layer, x):
    kernel = tuple(layer.attrs["kernel"])
    stride, dil, pad = geometry(layer, len(kernel))
    from ..shapes import _pool as pool_shape

    out_sp = pool_shape(layer, x.shape)[1:]
    kind = layer.attrs["kind"]
    views = [v for _, v in _windows(_padded(x, full_padding(x.shape[1:], out_sp, kernel, stride, dil, pad)),
                                    kernel, stride, dil, out_sp)]
    counts = pool_counts(layer, x.shape[1:], out_sp) if kind == "avg" else None
    out = obj((x.shape[0], *out_sp))
    for i in np.ndindex(out.shape):
        elems = [v[i] for v in views if v[i] is not None]
        if kind == "max":
            out[i] = A.max(elems) if len(elems) > 1 else elems[0]
        else:
            total = A.add(elems) if len(elems) > 1 else elems[0]
            out[i] = total if kind == "sum" else A.div(total, A.const(counts[i[1:]]))
    return out


@rule("reduce")
def _reduce(A, layer, x):
    axes = sorted({norm_axis(a, x.ndim) for a in layer.attrs["axes"]})
    keep = [a for a in range(x.ndim) if a not in axes]
    moved = x.transpose(keep + axes)
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    kind = layer.attrs["kind"]
    out = obj(moved.shape[:len(keep)])
    for i in np.ndindex(out.shape):
        elems = list(moved[i].reshape(-1))
        if kind == "max":
            out[i] = A.max(elems) if n > 1 else elems[0]
        else:
            total = A.add(elems) if n > 1 else elems[0]
            out[i] = total if kind == "sum" else A.div(total, A.const(float(n)))
    if layer.attrs.get("keepdims", False):
        out = out.reshape(tuple(1 if a in axes else d for a, d in enumerate(x.shape)))
    return out


@rule("embedding")
def _embedding(A, layer, x):
    w = p64(layer, "weight")
    out = obj((*x.shape, w.shape[1]))
    for i in np.ndindex(x.shape):
        for j in range(w.shape[1]):
            out[i + (j,)] = A.select(x[i], [A.const(v) for v in w[:, j].tolist()])
    return out


@rule("take")
def _take(A, layer, x):
    return np.take(x, layer.attrs["indices"], axis=norm_axis(layer.attrs.get("axis", 0), x.ndim))


@rule("pad")
def _pad_op(A, layer, x):
    pads = [tuple(p) for p in layer.attrs["pads"]]
    out = obj(tuple(d + lo + hi for d, (lo, hi) in zip(x.shape, pads)))
    fill = A.const(float(layer.attrs.get("value", 0.0)))
    for i in np.ndindex(out.shape):
        out[i] = fill
    out[tuple(slice(lo, lo + d) for d, (lo, _) in zip(x.shape, pads))] = x
    return out


@rule("lstm", "gru", "rnn")
def _recurrent(A, layer, x):
    """The unrolled layer (``recurrent.expand``); each step's new state elements go through
    ``A.share`` (a named symbol per element in the compact sympy form, so size stays linear in T)."""
    from ..recurrent import expand

    sub = expand(layer, x.shape)
    env = {"x": x}
    for L in sub.layers:
        out = run_layer(A, L, [env[i] for i in L.inputs], sub.shapes[L.output])
        if L.op == "scalar_fn":
            out = _map(A.share, out)
        env[L.output] = out
    return env[sub.outputs[0]]


@rule("slice")
def _slice(A, layer, x):
    from ._geom import py_slice, slice_spans

    return x[tuple(py_slice(*s) for s in slice_spans(layer))]


@rule("adaptive_pool")
def _adaptive_pool(A, layer, x):
    from ._geom import adaptive_windows

    size = tuple(layer.attrs["output_size"])
    wins = [adaptive_windows(n, o) for n, o in zip(x.shape[1:], size)]
    out = obj((x.shape[0], *size))
    for c in range(x.shape[0]):
        for pos in np.ndindex(*size):
            elems = list(x[(c, *[slice(*wins[i][p]) for i, p in enumerate(pos)])].reshape(-1))
            if layer.attrs["kind"] == "max":
                out[(c, *pos)] = A.max(elems) if len(elems) > 1 else elems[0]
            else:
                total = A.add(elems) if len(elems) > 1 else elems[0]
                out[(c, *pos)] = total if len(elems) == 1 else A.div(total, A.const(float(len(elems))))
    return out


@rule("layernorm")
def _layernorm(A, layer, x):
    ax = norm_axis(layer.attrs.get("axis", -1), x.ndim)
    inner = x.shape[ax:]
    n = float(np.prod(inner, dtype=np.int64))
    eps = float(layer.attrs.get("eps", 1e-5))
    scale = np.broadcast_to(p64(layer, "scale") if "scale" in layer.params else np.ones(()), inner)
    bias = np.broadcast_to(p64(layer, "bias") if "bias" in layer.params else np.zeros(()), inner)
    out = obj(x.shape)
    for i in np.ndindex(x.shape[:ax]):
        elems = list(x[i].reshape(-1))
        mean = A.share(A.div(A.add(elems), A.const(n)))
        cs = [A.share(A.sub(e, mean)) for e in elems]
        var = A.add([A.pow(c, A.const(2.0)) for c in cs])
        inv = A.share(A.div(A.const(1.0), A.act("sqrt", {}, A.add([A.div(var, A.const(n)), A.const(eps)]))))
        for j, k in enumerate(np.ndindex(inner)):
            out[i + k] = lincomb(A, [float(scale[k])], [A.mul([cs[j], inv])], float(bias[k]))
    return out


@rule("batch_matmul")
def _batch_matmul(A, layer, a, b):
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, (*lead, *a.shape[-2:]))
    b = np.broadcast_to(b, (*lead, *b.shape[-2:]))
    out = obj((*lead, a.shape[-2], b.shape[-1]))
    for i in np.ndindex(*lead):
        for r in range(a.shape[-2]):
            for c in range(b.shape[-1]):
                out[i + (r, c)] = A.add([A.mul([a[i + (r, k)], b[i + (k, c)]]) for k in range(a.shape[-1])])
    return out


from . import scalar_heads  # noqa: E402 - argmax, comparisons, where, one_hot, casts, dynamic slices

scalar_heads.register(rule, RULES, obj, _along)
SUPPORT: dict[str, str | None] = {op: None for op in OPS}
missing = set(OPS) - set(RULES)
if missing:  # pragma: no cover
    raise ImportError(f"ops without a scalar rule: {sorted(missing)}")
