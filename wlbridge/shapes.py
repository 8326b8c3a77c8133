"""Shape inference for the IR: one rule per op, shapes without the batch axis.

A rule gets the layer and its input shapes and returns the output shape, or raises ``ValueError``
with what disagrees; ``infer_shapes`` turns that into a ``ConversionError`` naming the layer path.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .errors import ConversionError
from .ops import ACTIVATIONS, OPS
from ._rules import registrar

Shape = tuple[int, ...]
RULES: dict[str, Callable[..., Shape]] = {}


rule = registrar(RULES, "shape")


def infer_shapes(net) -> dict[str, Shape]:
    """Every value's shape (without the batch axis); a :class:`ConversionError` names the net, layer path and op."""
    shapes: dict[str, Shape] = {p.name: tuple(p.shape) for p in net.inputs}
    for layer in net.layers:
        spec = OPS[layer.op]
        try:
            if spec.arity is not None and len(layer.inputs) != spec.arity:
                raise ValueError(f"takes {spec.arity} input(s), got {len(layer.inputs)}")
            if spec.arity is None and not layer.inputs:
                raise ValueError("needs at least one input")
            for p in spec.params:
                if not p.endswith("?") and p not in layer.params:
                    raise ValueError(f"missing parameter {p!r}")
            out = RULES[layer.op](layer, *[shapes[i] for i in layer.inputs])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            ins = ", ".join(f"{i}{list(shapes.get(i, '?'))}" for i in layer.inputs)
            raise ConversionError(f"{net.name}: {layer.path or layer.output} ({layer.op}): {e} (inputs {ins})") from None
        shapes[layer.output] = tuple(int(d) for d in out)
    return shapes


def broadcast(*shapes: Shape) -> Shape:
    """The numpy broadcast of several shapes (ValueError if they do not broadcast)."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"shapes {[list(s) for s in shapes]} do not broadcast") from None


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


@rule("constant")
def _constant(layer):
    return layer.params["value"].shape


@rule("identity")
def _identity(layer, x):
    return x


@rule("elementwise")
def _elementwise(layer, x):
    fn = layer.attrs.get("fn")
    if fn not in ACTIVATIONS:
        raise ValueError(f"unknown activation {fn!r}")
    ACTIVATIONS[fn].full_params(layer.attrs.get("fn_params"))
    return x


@rule("scalar_fn")
def _scalar_fn(layer, *xs):
    return broadcast(*xs)


for _op in ("add", "sub", "mul", "div", "pow", "max", "min"):
    RULES[_op] = lambda layer, *xs: broadcast(*xs)


@rule("linear")
def _linear(layer, x):
    w = layer.params["weight"]
    if w.ndim != 2:
        raise ValueError(f"weight must be {{out, in}}, got shape {list(w.shape)}")
    if not x or x[-1] != w.shape[1]:
        raise ValueError(f"weight {list(w.shape)} does not fit input {list(x)} (last axis must be {w.shape[1]})")
    b = layer.params.get("bias")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"bias shape {list(b.shape)} does not fit weight {list(w.shape)}")
    return (*x[:-1], w.shape[0])


@rule("matmul")
def _matmul(layer, x):
    w = layer.params["weight"]
    if w.ndim != 2 or not x or x[-1] != w.shape[0]:
        raise ValueError(f"weight {list(w.shape)} does not fit input {list(x)}")
    return (*x[:-1], w.shape[1])


@rule("prelu")
def _prelu(layer, x):
    if broadcast(x, layer.params["slope"].shape) != tuple(x):
        raise ValueError(f"slope {list(layer.params['slope'].shape)} does not broadcast to {list(x)}")
    return x


@rule("softmax")
def _softmax(layer, x):
    _axis(layer.attrs.get("axis", -1), len(x))
    return x


RULES["log_softmax"] = _softmax


@rule("batchnorm")
def _batchnorm(layer, x):
    c = x[_axis(layer.attrs.get("axis", 0), len(x))]
    for k in ("scale", "bias", "mean", "var"):
        if layer.params[k].shape != (c,):
            raise ValueError(f"{k} has shape {list(layer.params[k].shape)}, expected [{c}]")
    return x


@rule("flatten")
def _flatten(layer, x):
    return (math.prod(x),)


@rule("reshape")
def _reshape(layer, x):
    shape = tuple(layer.attrs["shape"])
    if math.prod(shape) != math.prod(x):
        raise ValueError(f"cannot reshape {list(x)} to {list(shape)}")
    return shape


@rule("transpose")
def _transpose(layer, x):
    perm = tuple(layer.attrs["perm"])
    if sorted(perm) != list(range(len(x))):
        raise ValueError(f"perm {list(perm)} is not a permutation of {len(x)} axes")
    return tuple(x[p] for p in perm)


@rule("concat")
def _concat(layer, *xs):
    rank = len(xs[0])
    ax = _axis(layer.attrs.get("axis", 0), rank)
    for s in xs:
        if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, xs[0])) if i != ax):
            raise ValueError(f"shapes {[list(s) for s in xs]} do not concatenate on axis {ax}")
    return (*xs[0][:ax], sum(s[ax] for s in xs), *xs[0][ax + 1:])


def _spatial(layer, x, kernel):
    n = len(kernel)
    if len(x) != n + 1:
        raise ValueError(f"input must be {{channels, {n} spatial}}, got {list(x)}")
    stride = tuple(layer.attrs.get("stride") or (1,) * n)
    dil = tuple(layer.attrs.get("dilation") or (1,) * n)
    pad = tuple(tuple(p) for p in (layer.attrs.get("padding") or ((0, 0),) * n))
    ceil = bool(layer.attrs.get("ceil_mode", False))
    if min(stride, default=1) < 1 or min(dil, default=1) < 1:
        raise ValueError(f"stride {list(stride)} and dilation {list(dil)} must be positive")
    out = []
    for i in range(n):
        span = x[i + 1] + pad[i][0] + pad[i][1] - dil[i] * (kernel[i] - 1) - 1
        if span < 0:
            raise ValueError(f"kernel {list(kernel)} larger than padded input {list(x[1:])}")
        o = (-(-span // stride[i]) if ceil else span // stride[i]) + 1
        if ceil and (o - 1) * stride[i] >= x[i + 1] + pad[i][0]:
            o -= 1  # the last window must start inside the input or left padding (torch rule)
        out.append(o)
    return tuple(out)


@rule("conv")
def _conv(layer, x):
    w = layer.params["weight"]
    groups = int(layer.attrs.get("groups", 1))
    if w.ndim < 3:
        raise ValueError(f"weight must be {{out, in/groups, k...}}, got {list(w.shape)}")
    if x[0] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(f"weight {list(w.shape)} with {groups} group(s) does not fit {x[0]} input channels")
    b = layer.params.get("bias")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"bias shape {list(b.shape)} does not fit {w.shape[0]} output channels")
    return (w.shape[0], *_spatial(layer, x, w.shape[2:]))


@rule("pool")
def _pool(layer, x):
    if layer.attrs.get("kind") not in ("max", "avg", "sum"):
        raise ValueError(f"unknown pooling kind {layer.attrs.get('kind')!r}")
    return (x[0], *_spatial(layer, x, tuple(layer.attrs["kernel"])))


@rule("reduce")
def _reduce(layer, x):
    if layer.attrs.get("kind") not in ("mean", "sum", "max"):
        raise ValueError(f"unknown reduction {layer.attrs.get('kind')!r}")
    axes = {_axis(a, len(x)) for a in layer.attrs["axes"]}
    keep = layer.attrs.get("keepdims", False)
    return tuple(1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes)


@rule("embedding")
def _embedding(layer, x):
    return (*x, layer.params["weight"].shape[1])


@rule("take")
def _take(layer, x):
    ax = _axis(layer.attrs.get("axis", 0), len(x))
    idx = layer.attrs["indices"]
    for i in ([idx] if isinstance(idx, int) else idx):
        if not isinstance(i, int) or not 0 <= i < x[ax]:
            raise ValueError(f"index {i!r} out of range 0..{x[ax] - 1} on axis {ax}")
    return (*x[:ax], *(() if isinstance(idx, int) else (len(idx),)), *x[ax + 1:])


@rule("pad")
def _pad(layer, x):
    pads = [tuple(p) for p in layer.attrs["pads"]]
    if len(pads) != len(x) or any(lo < 0 or hi < 0 for lo, hi in pads):
        raise ValueError(f"pads {pads} must be one non-negative (lo, hi) pair per axis of {list(x)}")
    return tuple(d + lo + hi for d, (lo, hi) in zip(x, pads))


def _recurrent(layer, x):
    from .recurrent import check

    return check(layer, x)


for _op in ("lstm", "gru", "rnn"):
    RULES[_op] = _recurrent


@rule("slice")
def _slice(layer, x):
    starts, stops, steps = (list(layer.attrs[k]) for k in ("starts", "stops", "steps"))
    if not len(starts) == len(stops) == len(steps) == len(x):
        raise ValueError(f"starts/stops/steps need one entry per axis of {list(x)}")
    out = []
    for d, a, b, c in zip(x, starts, stops, steps):
        ok = (0 <= a <= d and 0 <= b <= d) if c > 0 else (c < 0 and -1 <= a < d and -1 <= b < d)
        if not ok:
            raise ValueError(f"slice {a}:{b}:{c} outside an axis of size {d} (normalized, step != 0)")
        out.append(len(range(a, b, c)))
    return tuple(out)


@rule("adaptive_pool")
def _adaptive_pool(layer, x):
    if layer.attrs.get("kind") not in ("max", "avg"):
        raise ValueError(f"unknown pooling kind {layer.attrs.get('kind')!r}")
    size = tuple(int(d) for d in layer.attrs["output_size"])
    if len(size) != len(x) - 1 or min(size, default=1) < 1:
        raise ValueError(f"output_size {list(size)} does not fit input {{channels, spatial}} {list(x)}")
    return (x[0], *size)


@rule("layernorm")
def _layernorm(layer, x):
    ax = _axis(layer.attrs.get("axis", -1), len(x))
    for k in ("scale", "bias"):
        p = layer.params.get(k)
        if p is not None and broadcast(x[ax:], p.shape) != tuple(x[ax:]):
            raise ValueError(f"{k} of shape {list(p.shape)} does not fit the normalized axes {list(x[ax:])}")
    return x


@rule("batch_matmul")
def _batch_matmul(layer, a, b):
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        raise ValueError(f"shapes {list(a)} and {list(b)} do not multiply as matrices (ranks >= 2)")
    return (*broadcast(a[:-2], b[:-2]), a[-2], b[-1])


@rule("argmax", "argmin")
def _argmax(layer, x):
    ax = _axis(layer.attrs.get("axis", 0), len(x))
    if x[ax] == 0:
        raise ValueError(f"{layer.op} of an empty axis {ax}")
    keep = layer.attrs.get("keepdims", True)
    return tuple(1 if i == ax else d for i, d in enumerate(x) if keep or i != ax)


@rule("compare")
def _compare(layer, a, b):
    from .ops import COMPARISONS

    if layer.attrs.get("kind") not in COMPARISONS:
        raise ValueError(f"unknown comparison {layer.attrs.get('kind')!r}; known: {', '.join(COMPARISONS)}")
    return broadcast(a, b)


@rule("where")
def _where(layer, c, a, b):
    return broadcast(c, a, b)


@rule("one_hot")
def _one_hot(layer, x):
    depth = int(layer.attrs["depth"])
    if depth < 1:
        raise ValueError(f"depth {depth} must be positive")
    ax = _axis(layer.attrs.get("axis", -1), len(x) + 1)
    return (*x[:ax], depth, *x[ax:])


@rule("cast")
def _cast(layer, x):
    np.dtype(layer.attrs["to"])  # a TypeError names a bad dtype
    return x


@rule("dynamic_slice")
def _dynamic_slice(layer, x, *starts):
    axes, sizes = list(layer.attrs["axes"]), list(layer.attrs["sizes"])
    if len(axes) != len(sizes) or len(starts) != len(axes):
        raise ValueError(f"{len(starts)} start(s) for axes {axes} and sizes {sizes}: one each")
    out = list(x)
    for a, n, s in zip(axes, sizes, starts):
        a = _axis(a, len(x))
        if math.prod(s) != 1:
            raise ValueError(f"a start must be one number, got shape {list(s)}")
        if not 1 <= n <= x[a]:
            raise ValueError(f"window size {n} does not fit axis {a} of size {x[a]}")
        out[a] = n
    return tuple(out)


missing = set(OPS) - set(RULES)
if missing:  # pragma: no cover - caught by the import itself
    raise ImportError(f"ops without a shape rule: {sorted(missing)}")
