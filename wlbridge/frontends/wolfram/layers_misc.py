"""More Wolfram layer types -> IR: Padding, Deconvolution, ConstantPlus/ConstantTimes, ConstantArray,
Transpose, Part, Replicate, Aggregation, Normalization.

Parameter and array names follow Wolfram's documentation and the public layer definition files
(``Deconvolution``: ``Weights`` ``{in, out, k...}``, ``Stride``, ``PaddingSize``); none was confirmed on a
real ``.wlnet``. Supported forms: ``PaddingLayer`` with a number, ``"Fixed"``, ``"Reflected"`` or
``"Periodic"`` padding; ``PartLayer`` with ``All``, an integer, an integer list or a span per level; ``TransposeLayer`` with a
permutation list (WL's ``Transpose`` convention); ``ReplicateLayer`` with an integer at any level;
``AggregationLayer`` with ``Max``, ``Mean`` or ``Total`` over explicit levels or ``2;;All``.
"""
from __future__ import annotations

import numpy as np

from .. import resample
from .expr import Symbol, head_name, is_symbol
from .inputform import to_inputform
from .layers import PRECHECKS, _in_dims, _ints, _one, _padding, _params, _unwrap, rule
from .netassoc import _Unsupported

PAD_METHODS = {"Fixed": "edge", "Reflected": "reflect", "Periodic": "wrap"}


def _emitter(ctx, path):
    class V:
        def __init__(self, name, shape):
            self.name, self.shape = name, tuple(shape)

    def emit(op, ins, params=None, attrs=None):
        from ...shapes import RULES
        from ...ir import Layer

        name = ctx.builder.layer(op, [v.name for v in ins], params=params, attrs=attrs, path=path)
        layer = Layer(op, tuple(v.name for v in ins), name, {k: np.asarray(v) for k, v in (params or {}).items()
                                                             if v is not None}, dict(attrs or {}), path)
        return V(name, RULES[op](layer, *[v.shape for v in ins]))

    return emit, V


@rule("Padding")
def _padding_layer(ctx, node, path, inputs):
    dims = _in_dims(ctx, node, path)
    p = _params(node)
    pads = _padding(ctx, p.get("PaddingSize"), len(dims), path)
    method = _unwrap(p.get("Padding", 0.0))
    emit, V = _emitter(ctx, path)
    x = V(_one(ctx, node, path, inputs), dims)
    if isinstance(method, (int, float)) and not isinstance(method, bool):
        return resample.pad(emit, x, pads, "constant", float(method)).name
    if isinstance(method, str) and method in PAD_METHODS:
        return resample.pad(emit, x, pads, PAD_METHODS[method]).name
    raise _Unsupported(f"Padding -> {to_inputform(method)[:40]}")


@rule("Deconvolution")
def _deconvolution(ctx, node, path, inputs):
    dims = _in_dims(ctx, node, path)
    p = _params(node)
    if is_symbol(p.get("Interleaving"), "True"):
        raise _Unsupported("Interleaving -> True")
    w = ctx.array(node, "Weights", path)
    n = w.ndim - 2
    groups = _ints(ctx, p.get("ChannelGroups", p.get("$GroupNumber", 1)), 1, path, "ChannelGroups")[0]
    emit, V = _emitter(ctx, path)
    y = resample.conv_transpose(emit, V(_one(ctx, node, path, inputs), dims), w, ctx.array(node, "Biases", path, False),
                                _ints(ctx, p.get("Stride", 1), n, path, "Stride"), _padding(ctx, p.get("PaddingSize"), n, path),
                                (0,) * n, _ints(ctx, p.get("Dilation", 1), n, path, "Dilation"), groups)
    return y.name


def _constant_layer(op: str, array: str):
    def convert(ctx, node, path, inputs):
        x = _one(ctx, node, path, inputs)
        c = ctx.builder.constant(ctx.array(node, array, path), path=path)
        return ctx.builder.layer(op, [x, c], path=path)
    return convert


rule("ConstantPlus")(_constant_layer("add", "Biases"))
rule("ConstantTimes")(_constant_layer("mul", "Scaling"))


@rule("ConstantArray")
def _constant_array(ctx, node, path, inputs):
    if inputs:
        ctx.fail(path, "ConstantArray layer with an input port")
    return ctx.builder.constant(ctx.array(node, "Array", path), path=path)


def _transposition(ctx, node, path):
    spec = _unwrap(_params(node).get("Specification", _params(node).get("Permutation")))
    if not isinstance(spec, list) or sorted(spec) != list(range(1, len(spec) + 1)) or len(spec) < 2:
        raise _Unsupported(f"transposition {to_inputform(spec)[:40]} (only a permutation list)")
    return spec


PRECHECKS["Transpose"] = _transposition


@rule("Transpose")
def _transpose(ctx, node, path, inputs):
    spec = _transposition(ctx, node, path)
    dims = _in_dims(ctx, node, path)
    wl = list(spec) + list(range(len(spec) + 1, len(dims) + 1))  # input level k goes to output level wl[k]
    perm = [wl.index(k + 1) for k in range(len(dims))]  # numpy: output axis k is input axis perm[k]
    return ctx.builder.layer("transpose", [_one(ctx, node, path, inputs)], attrs={"perm": perm}, path=path)


@rule("Part")
def _part(ctx, node, path, inputs):
    """``PartLayer[spec]``: one part specification per level, each ``All``, an integer (the level is
    dropped), a list of integers or a span ``m;;n`` (the level is kept)."""
    spec = _unwrap(_params(node).get("Specification"))
    levels = spec if isinstance(spec, list) else [spec]
    dims = _in_dims(ctx, node, path)
    if not levels or len(levels) > len(dims):
        raise _Unsupported(f"part specification {to_inputform(spec)[:40]}")
    parts = [_part_indices(s, n) for s, n in zip(levels, dims)]
    if any(p is _BAD for p in parts):
        raise _Unsupported(f"part specification {to_inputform(spec)[:40]} (only All, i, {{i1, i2, ...}} or m;;n "
                           "per level)")
    x = _one(ctx, node, path, inputs)
    for axis in reversed(range(len(parts))):  # last level first: a dropped level leaves earlier axes in place
        if parts[axis] is not None:
            x = ctx.builder.layer("take", [x], attrs={"axis": axis, "indices": parts[axis]}, path=path)
    return x


_BAD = object()


def _part_indices(s, n):
    """0-based indices of one level's part spec: None for All, an int, a list, or _BAD."""
    one = lambda i: i - 1 if 1 <= i <= n else n + i if -n <= i <= -1 else None  # noqa: E731
    if is_symbol(s, "All"):
        return None
    if isinstance(s, int) and not isinstance(s, bool):
        return _BAD if one(s) is None else one(s)
    if isinstance(s, list) and s and all(isinstance(i, int) and not isinstance(i, bool) for i in s):
        idx = [one(i) for i in s]
        return _BAD if None in idx else idx
    if head_name(s) == "Span" and len(s.args) in (2, 3):
        ends = [n if is_symbol(a, "All") else a for a in s.args[:2]]
        step = s.args[2] if len(s.args) == 3 else 1
        if all(isinstance(a, int) and not isinstance(a, bool) for a in (*ends, step)) and step > 0 \
                and None not in (one(ends[0]), one(ends[1])):
            return list(range(one(ends[0]), one(ends[1]) + 1, step))
    return _BAD


@rule("Replicate")
def _replicate(ctx, node, path, inputs):
    p = _params(node)
    spec, level = _unwrap(p.get("Specification")), p.get("Level", 1)
    spec = spec[0] if isinstance(spec, list) and len(spec) == 1 else spec
    dims = _in_dims(ctx, node, path)
    if isinstance(level, int) and level < 0:  # the definition's Writer: level = rank + 2 + level
        level += len(dims) + 2
    if not isinstance(spec, int) or not isinstance(level, int) or not 1 <= level <= len(dims) + 1:
        raise _Unsupported(f"replication {to_inputform(spec)[:40]} at level {to_inputform(level)[:10]} "
                           "(only one n at a level -rank - 1 ... rank + 1, not 0)")
    x = ctx.builder.layer("reshape", [_one(ctx, node, path, inputs)],
                          attrs={"shape": (*dims[:level - 1], 1, *dims[level - 1:])}, path=path)
    return ctx.builder.layer("take", [x], attrs={"axis": level - 1, "indices": [0] * spec}, path=path)


AGGREGATIONS = {"Max": "max", "Mean": "mean", "Total": "sum"}


@rule("Aggregation")
def _aggregation(ctx, node, path, inputs):
    p = _params(node)
    f = _unwrap(p.get("Function", Symbol("Max")))
    if not isinstance(f, Symbol) or f.name not in AGGREGATIONS:
        raise _Unsupported(f"aggregation function {to_inputform(f)[:40]}")
    dims = _in_dims(ctx, node, path)
    levels = _levels(_unwrap(p.get("Levels", None)), len(dims))
    if levels is None:
        raise _Unsupported(f"levels {to_inputform(p.get('Levels'))[:40]}")
    return ctx.builder.layer("reduce", [_one(ctx, node, path, inputs)],
                             attrs={"kind": AGGREGATIONS[f.name], "axes": levels, "keepdims": False}, path=path)


def _levels(spec, rank):
    if spec is None or (head_name(spec) == "Span" and spec.args and spec.args[0] == 2):
        return list(range(1, rank))
    if isinstance(spec, int) and not isinstance(spec, bool):
        return [spec - 1 if spec > 0 else rank + spec]
    if isinstance(spec, list) and all(isinstance(k, int) for k in spec):
        return [k - 1 if k > 0 else rank + k for k in spec]
    return None


@rule("Normalization")
def _normalization(ctx, node, path, inputs):
    """y = Scaling (x - mean) / Sqrt[var + Epsilon] + Biases, mean and (biased) variance over the
    ``AggregationLevels`` (default 2;;All), Scaling/Biases over the ``ScalingLevels``: ``"Complement"`` (the
    default), ``"Same"`` (a layer norm's) or explicit levels."""
    p = _params(node)
    dims = _in_dims(ctx, node, path)
    axes = _levels(_unwrap(p.get("AggregationLevels", None)), len(dims))
    scaling = _unwrap(p.get("ScalingLevels", "Complement"))
    scaled = None if axes is None else [a for a in range(len(dims)) if a not in axes] \
        if scaling in ("Complement", None) else axes if scaling == "Same" else _levels(scaling, len(dims))
    if axes is None or scaled is None:
        raise _Unsupported(f"AggregationLevels {to_inputform(p.get('AggregationLevels'))[:30]} / "
                           f"ScalingLevels {to_inputform(scaling)[:20]}")
    eps = p.get("Epsilon", 0.001)
    b = ctx.builder
    x = _one(ctx, node, path, inputs)
    mean = b.layer("reduce", [x], attrs={"kind": "mean", "axes": axes, "keepdims": True}, path=path)
    d = b.layer("sub", [x, mean], path=path)
    var = b.layer("reduce", [b.layer("mul", [d, d], path=path)], attrs={"kind": "mean", "axes": axes, "keepdims": True},
                  path=path)
    std = b.layer("elementwise", [b.layer("add", [var, b.constant(np.array(float(eps)), path=path)], path=path)],
                  attrs={"fn": "sqrt"}, path=path)
    y = b.layer("div", [d, std], path=path)
    stats = [n if a in scaled else 1 for a, n in enumerate(dims)]
    for name, op in (("Scaling", "mul"), ("Biases", "add")):
        arr = ctx.array(node, name, path, required=False)
        if arr is not None:
            y = b.layer(op, [y, b.constant(np.asarray(arr).reshape(stats), path=path)], path=path)
    return y


@rule("ParametricRamp")
def _parametric_ramp(ctx, node, path, inputs):
    """x if x >= 0 else Slope x: one slope per element of the ``Levels`` (default level 1, a slope per
    channel, as Wolfram's own torch importer maps ``nn.PReLU``); ``{}`` one shared slope."""
    dims = _in_dims(ctx, node, path)
    slope = ctx.array(node, "Slope", path)
    spec = _unwrap(_params(node).get("Levels", 1 if slope.ndim else []))
    axes = _levels(spec, len(dims)) if spec != [] else []
    if axes is None or sorted(axes) != axes or any(not 0 <= a < len(dims) for a in axes):
        raise _Unsupported(f"ParametricRamp levels {to_inputform(spec)[:40]}")
    if slope.shape != tuple(dims[a] for a in axes) and slope.size != 1:
        ctx.fail(path, f"Slope of shape {list(slope.shape)} does not fit levels {[a + 1 for a in axes]} "
                       f"of input {list(dims)}")
    full = slope.reshape([dims[k] if k in axes and slope.size != 1 else 1 for k in range(len(dims))])
    return ctx.builder.layer("prelu", [_one(ctx, node, path, inputs)], params={"slope": full}, path=path)
