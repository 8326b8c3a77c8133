"""The numpy float64 reference evaluator: the oracle every check compares against.

Weights are upcast to float64 and every op is computed in float64, batch axis first.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> y = b.layer("elementwise", [b.layer("linear", [x], params={"weight": np.eye(2)})], attrs={"fn": "relu"})
>>> b.build([y])(np.array([1.5, -2.0]))
array([1.5, 0. ])
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from .errors import ConversionError
from .ops import ACTIVATIONS, OPS, SCALAR_OPS
from ._rules import registrar

RULES: dict[str, Callable[..., np.ndarray]] = {}


rule = registrar(RULES, "reference")


def evaluate(net, *xs):
    """Run ``net`` on inputs with or without a leading batch axis; one array per output."""
    env, single = _run(net, xs)
    n = next(iter(env.values())).shape[0] if net.inputs else 1
    outs = [env[o][0] if single else _full_batch(env[o], n) for o in net.outputs]
    return outs[0] if len(outs) == 1 else outs


def trace(net, *xs) -> dict[str, np.ndarray]:
    """Every value of ``net`` (its input ports and each layer's output), batch axis first, by name.

    >>> import numpy as np
    >>> from wlbridge.ir import NetBuilder
    >>> b = NetBuilder(); x = b.input("x", (1,)); h = b.layer("elementwise", [x], attrs={"fn": "neg"})
    >>> {k: v.tolist() for k, v in trace(b.build([h]), np.array([[2.0]])).items()}
    {'x': [[2.0]], 'h1': [[-2.0]]}
    """
    env, _ = _run(net, xs)
    n = len(np.asarray(xs[0])) if net.inputs else 1
    return {k: _full_batch(v, n) for k, v in env.items()}


def _run(net, xs):
    if len(xs) != len(net.inputs):
        raise ConversionError(f"{net.name}: expected {len(net.inputs)} input(s), got {len(xs)}")
    env: dict[str, np.ndarray] = {}
    single = None
    for port, x in zip(net.inputs, xs):
        x = np.asarray(x, dtype=np.float64)
        is_single = x.shape == tuple(port.shape)
        if not is_single and x.shape[1:] != tuple(port.shape):
            raise ConversionError(f"{net.name}: input {port.name} must have shape {list(port.shape)} "
                                  f"or [batch, {', '.join(map(str, port.shape))}], got {list(x.shape)}")
        single = is_single if single is None else single
        env[port.name] = x[None] if is_single else x
    for layer in net.layers:
        env[layer.output] = RULES[layer.op](layer, *[env[i] for i in layer.inputs])
    return env, single


def _full_batch(v, n):
    """An output that depends on no input (batch axis 1) repeated for each of the ``n`` samples."""
    return v if v.shape[0] == n else np.repeat(v, n, axis=0)


def _p(layer, name):
    v = layer.params.get(name)
    return None if v is None else np.asarray(v, dtype=np.float64)


@rule("constant")
def _constant(layer):
    return _p(layer, "value")[None]


@rule("identity")
def _identity(layer, x):
    return x


@rule("elementwise")
def _elementwise(layer, x):
    return ACTIVATIONS[layer.attrs["fn"]].numpy_fn(x, layer.attrs.get("fn_params"))


def eval_scalar_body(body, args):
    """Evaluate a ``scalar_fn`` AST on numpy arrays (see ``ops.SCALAR_OPS``)."""
    head = body[0]
    if head == "arg":
        return args[body[1] - 1]
    if head == "const":
        return np.float64(body[1])
    kids = [eval_scalar_body(b, args) for b in body[1:]]
    if head in SCALAR_OPS:
        fn, _, _, arity = SCALAR_OPS[head]
        if arity is None and len(kids) > 2:
            return _fold(fn, kids)
        return fn(*kids)
    return ACTIVATIONS[head].numpy_fn(kids[0])


def _align(xs):
    """Batched operands with unit axes inserted after the batch axis, so that numpy broadcasts the
    non-batch shapes as the IR means (``(B, 2, 3)`` with ``(B, 3)`` -> ``(B, 1, 3)``)."""
    r = max(np.ndim(x) for x in xs)
    return [x if np.ndim(x) in (0, r) else x.reshape(x.shape[0], *(1,) * (r - x.ndim), *x.shape[1:]) for x in xs]


def _fold(fn, xs):
    xs = _align(xs)
    out = xs[0]
    for x in xs[1:]:
        out = fn(out, x)
    return out


@rule("scalar_fn")
def _scalar_fn(layer, *xs):
    xs = _align(xs)
    with np.errstate(all="ignore"):
        y = np.asarray(eval_scalar_body(layer.attrs["body"], xs), dtype=np.float64)
    return np.broadcast_to(y, np.broadcast_shapes(*(x.shape for x in xs))).copy()  # also a constant body


# n-ary ops fold left, binary ops apply once; both broadcast the non-batch shapes (see _align)
BROADCASTING = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum,
                "sub": np.subtract, "div": np.divide, "pow": np.power}


def _broadcasting(layer, *xs):
    return _fold(BROADCASTING[layer.op], xs)


rule(*BROADCASTING)(_broadcasting)


@rule("linear")
def _linear(layer, x):
    y = x @ _p(layer, "weight").T
    b = _p(layer, "bias")
    return y if b is None else y + b


@rule("matmul")
def _matmul(layer, x):
    return x @ _p(layer, "weight")


@rule("prelu")
def _prelu(layer, x):
    return np.where(x >= 0, x, _p(layer, "slope") * x)


def _batch_axis(layer, rank):
    """The layer's non-batch axis attribute as an axis of the batched array."""
    ax = layer.attrs.get("axis", -1)
    return ax + 1 if ax >= 0 else rank + ax


@rule("softmax")
def _softmax(layer, x):
    ax = _batch_axis(layer, x.ndim)
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return e / e.sum(axis=ax, keepdims=True)


@rule("log_softmax")
def _log_softmax(layer, x):
    ax = _batch_axis(layer, x.ndim)
    z = x - x.max(axis=ax, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=ax, keepdims=True))


@rule("batchnorm")
def _batchnorm(layer, x):
    ax = layer.attrs.get("axis", 0) % (x.ndim - 1) + 1
    shape = [1] * x.ndim
    shape[ax] = -1
    scale, bias, mean, var = (_p(layer, k).reshape(shape) for k in ("scale", "bias", "mean", "var"))
    return (x - mean) / np.sqrt(var + float(layer.attrs.get("eps", 1e-5))) * scale + bias


@rule("flatten")
def _flatten(layer, x):
    return x.reshape(x.shape[0], -1)


@rule("reshape")
def _reshape(layer, x):
    return x.reshape(x.shape[0], *layer.attrs["shape"])


@rule("transpose")
def _transpose(layer, x):
    return x.transpose(0, *[p + 1 for p in layer.attrs["perm"]])


@rule("concat")
def _concat(layer, *xs):
    ax = layer.attrs.get("axis", 0)
    n = max(x.shape[0] for x in xs)  # constants (batch axis 1) join every sample
    return np.concatenate([_full_batch(x, n) for x in xs], axis=ax + 1 if ax >= 0 else ax)


def _pad(x, pad, value):
    return np.pad(x, [(0, 0), (0, 0), *[tuple(p) for p in pad]], constant_values=value)


def _windows(x, kernel, stride, dilation, out_shape):
    """Yield (offset, strided view) per kernel position: view[b, c, *out] = x[b, c, o*s + k*d]."""
    for k in itertools.product(*[range(n) for n in kernel]):
        idx = tuple(slice(k[i] * dilation[i], k[i] * dilation[i] + (out_shape[i] - 1) * stride[i] + 1, stride[i])
                    for i in range(len(kernel)))
        yield k, x[(slice(None), slice(None), *idx)]


def _geom(layer, n):
    stride = tuple(layer.attrs.get("stride") or (1,) * n)
    dil = tuple(layer.attrs.get("dilation") or (1,) * n)
    pad = tuple(tuple(p) for p in (layer.attrs.get("padding") or ((0, 0),) * n))
    return stride, dil, pad


@rule("conv")
def _conv(layer, x):
    w = _p(layer, "weight")
    n = w.ndim - 2
    stride, dil, pad = _geom(layer, n)
    groups = int(layer.attrs.get("groups", 1))
    from .shapes import _conv as conv_shape

    out_sp = conv_shape(layer, x.shape[1:])[1:]
    xp = _pad(x, pad, 0.0)
    o, cg = w.shape[0], w.shape[1]
    og = o // groups
    y = np.zeros((x.shape[0], o, *out_sp))
    for k, view in _windows(xp, w.shape[2:], stride, dil, out_sp):
        wk = w[(slice(None), slice(None), *k)]  # {o, cg}
        for g in range(groups):
            y[:, g * og:(g + 1) * og] += np.einsum("oc,bc...->bo...", wk[g * og:(g + 1) * og],
                                                   view[:, g * cg:(g + 1) * cg])
    b = _p(layer, "bias")
    return y if b is None else y + b.reshape(1, -1, *[1] * n)


@rule("pool")
def _pool(layer, x):
    kernel = tuple(layer.attrs["kernel"])
    n = len(kernel)
    stride, dil, pad = _geom(layer, n)
    kind = layer.attrs["kind"]
    from .shapes import _pool as pool_shape

    out_sp = pool_shape(layer, x.shape[1:])[1:]
    # ceil mode may need windows past the padded edge: pad the far side further (they never count)
    extra = [max(0, (out_sp[i] - 1) * stride[i] + (kernel[i] - 1) * dil[i] + 1 - (x.shape[i + 2] + sum(pad[i])))
             for i in range(n)]
    full = [(p[0], p[1] + e) for p, e in zip(pad, extra)]
    fill = -np.inf if kind == "max" else 0.0
    xp = _pad(x, full, fill)
    views = [v for _, v in _windows(xp, kernel, stride, dil, out_sp)]
    if kind == "max":
        return np.max(views, axis=0)
    total = np.sum(views, axis=0)
    if kind == "sum":
        return total
    if layer.attrs.get("count_include_pad", True):
        ones = _pad(np.ones((1, 1, *x.shape[2:])), pad, 1.0)  # explicit padding counts ...
        ones = np.pad(ones, [(0, 0), (0, 0), *[(0, e) for e in extra]])  # ... the ceil overhang does not
    else:
        ones = _pad(np.ones((1, 1, *x.shape[2:])), full, 0.0)
    count = np.sum([v for _, v in _windows(ones, kernel, stride, dil, out_sp)], axis=0)
    return total / count


@rule("reduce")
def _reduce(layer, x):
    axes = tuple(a % (x.ndim - 1) + 1 for a in layer.attrs["axes"])
    fn = {"mean": np.mean, "sum": np.sum, "max": np.max}[layer.attrs["kind"]]
    return fn(x, axis=axes, keepdims=bool(layer.attrs.get("keepdims", False)))


@rule("embedding")
def _embedding(layer, x):
    idx = np.asarray(x).astype(np.int64)
    w = _p(layer, "weight")
    if idx.min(initial=0) < 0 or idx.max(initial=0) >= w.shape[0]:
        raise ConversionError(f"{layer.path or layer.output} (embedding): index out of range 0..{w.shape[0] - 1}")
    return w[idx]


@rule("take")
def _take(layer, x):
    ax = layer.attrs.get("axis", 0)
    return np.take(x, layer.attrs["indices"], axis=ax + 1 if ax >= 0 else ax)


@rule("pad")
def _pad_op(layer, x):
    pads = [(0, 0)] + [tuple(p) for p in layer.attrs["pads"]]
    return np.pad(x, pads, constant_values=float(layer.attrs.get("value", 0.0)))


@rule("lstm", "gru", "rnn")
def _recurrent(layer, x):
    from .recurrent import expand

    return evaluate(expand(layer, x.shape[1:]), x)


@rule("slice")
def _slice(layer, x):
    from .emit._geom import py_slice, slice_spans

    return x[(slice(None), *[py_slice(*s) for s in slice_spans(layer)])]


@rule("adaptive_pool")
def _adaptive_pool(layer, x):
    from .emit._geom import adaptive_windows

    size = tuple(layer.attrs["output_size"])
    wins = [adaptive_windows(n, o) for n, o in zip(x.shape[2:], size)]
    fn = np.max if layer.attrs["kind"] == "max" else np.mean
    y = np.empty((*x.shape[:2], *size))
    axes = tuple(range(2, x.ndim))
    for pos in np.ndindex(*size):
        y[(slice(None), slice(None), *pos)] = fn(x[(slice(None), slice(None),
                                                    *[slice(*wins[i][p]) for i, p in enumerate(pos)])], axis=axes)
    return y


@rule("layernorm")
def _layernorm(layer, x):
    ax = _batch_axis(layer, x.ndim)
    axes = tuple(range(ax, x.ndim))
    c = x - x.mean(axis=axes, keepdims=True)
    y = c / np.sqrt((c * c).mean(axis=axes, keepdims=True) + float(layer.attrs.get("eps", 1e-5)))
    s, b = _p(layer, "scale"), _p(layer, "bias")
    y = y if s is None else y * s
    return y if b is None else y + b


@rule("batch_matmul")
def _batch_matmul(layer, a, b):
    a, b = _align([a, b])
    return np.matmul(a, b)


@rule("argmax", "argmin")
def _argmax(layer, x):
    ax = layer.attrs.get("axis", 0)
    ax = ax + 1 if ax >= 0 else x.ndim + ax
    y = (np.argmax if layer.op == "argmax" else np.argmin)(x, axis=ax)  # the first extreme on ties
    y = np.expand_dims(y, ax) if layer.attrs.get("keepdims", True) else y
    return y.astype(np.float64)


@rule("compare")
def _compare(layer, a, b):
    fn = {"equal": np.equal, "not_equal": np.not_equal, "greater": np.greater, "less": np.less,
          "greater_equal": np.greater_equal, "less_equal": np.less_equal}[layer.attrs["kind"]]
    return _fold(fn, [a, b]).astype(np.float64)


@rule("where")
def _where(layer, c, a, b):
    c, a, b = _align([c, a, b])
    return np.where(c != 0, a, b).astype(np.float64)


@rule("one_hot")
def _one_hot(layer, x):
    depth = int(layer.attrs["depth"])
    idx = np.trunc(x)
    idx = np.where(idx < 0, idx + depth, idx)
    hot = idx[..., None] == np.arange(depth)
    y = np.where(hot, float(layer.attrs.get("on", 1.0)), float(layer.attrs.get("off", 0.0)))
    ax = layer.attrs.get("axis", -1)
    return np.moveaxis(y, -1, ax + 1 if ax >= 0 else ax)


@rule("cast")
def _cast(layer, x):
    to = np.dtype(layer.attrs["to"])
    if to == np.bool_:
        return (x != 0).astype(np.float64)
    return np.trunc(x) if np.issubdtype(to, np.integer) else x


def clamped_start(s, dim: int, size: int):
    """A computed slice start as the IR means it: integer part, negative from the end, window kept inside."""
    s = np.trunc(np.asarray(s, dtype=np.float64))
    return np.clip(np.where(s < 0, s + dim, s), 0, dim - size).astype(np.int64)


@rule("dynamic_slice")
def _dynamic_slice(layer, x, *starts):
    n = max(x.shape[0], *(s.shape[0] for s in starts))
    x = _full_batch(x, n)
    rank = x.ndim - 1
    out = []
    for i in range(n):
        idx = [slice(None)] * rank
        for a, size, s in zip(layer.attrs["axes"], layer.attrs["sizes"], starts):
            a = a % rank
            k = int(clamped_start(np.ravel(s[i if len(s) > 1 else 0])[0], x.shape[a + 1], size))
            idx[a] = slice(k, k + size)
        out.append(x[i][tuple(idx)])
    return np.stack(out)


missing = set(OPS) - set(RULES)
if missing:  # pragma: no cover
    raise ImportError(f"ops without a reference rule: {sorted(missing)}")
