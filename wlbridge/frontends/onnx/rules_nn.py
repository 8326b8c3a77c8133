"""Convolution, pooling, batch normalization and reductions (channels first, as ONNX)."""
from __future__ import annotations

import math

from ...errors import FormatError
from .context import Const, Ctx, Unsupported, Var
from .registry import rule
from .rules_shape import const_ints


def _need_spatial(ctx: Ctx, x: Var) -> None:
    if ctx.rank(x) < 3:
        raise ctx.error(f"needs an input of rank >= 3 (N, C, spatial...), got rank {ctx.rank(x)}", FormatError)


def _spatial_in(ctx: Ctx, x: Var) -> Var:
    """The IR value as {C, spatial...}: without batch axis, a leading N = 1 is dropped."""
    _need_spatial(ctx, x)
    if ctx.batch:
        return x
    if x.shape[0] != 1:
        raise Unsupported(f"{ctx.op_type} on a sample of {x.shape[0]} images (batch_axis=False)")
    return ctx.reshape(x, x.shape[1:])


def _spatial_out(ctx: Ctx, y: Var) -> Var:
    return y if ctx.batch else ctx.reshape(y, (1, *y.shape))


def _pads(ctx: Ctx, size, kernel, stride, dil) -> tuple[tuple[int, int], ...]:
    n = len(kernel)
    auto = ctx.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "", None):
        p = list(ctx.attrs.get("pads") or [0] * 2 * n)
        return tuple((p[i], p[i + n]) for i in range(n))
    if auto == "VALID":
        return ((0, 0),) * n
    out = []
    for i in range(n):
        o = -(-size[i] // stride[i])
        total = max(0, (o - 1) * stride[i] + (kernel[i] - 1) * dil[i] + 1 - size[i])
        lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
        out.append((lo, total - lo))
    return tuple(out)


def _geometry(ctx: Ctx, x: Var, kernel):
    n = len(kernel)
    stride = tuple(ctx.attrs.get("strides") or (1,) * n)
    dil = tuple(ctx.attrs.get("dilations") or (1,) * n)
    return stride, dil, _pads(ctx, x.shape[1:], kernel, stride, dil)


@rule("Conv", 1)
def _conv(ctx: Ctx, node, ins):
    if not isinstance(ins[1], Const) or (len(ins) > 2 and ins[2] is not None and not isinstance(ins[2], Const)):
        raise Unsupported("Conv with a weight or bias that is not constant")
    w = ins[1].value
    x = _spatial_in(ctx, ctx.var(ins[0]))
    stride, dil, pad = _geometry(ctx, x, w.shape[2:])
    attrs = {"stride": stride, "padding": pad, "dilation": dil, "groups": int(ctx.attrs.get("group", 1))}
    bias = ins[2].value if len(ins) > 2 and ins[2] is not None else None
    return _spatial_out(ctx, ctx.emit("conv", [x], params={"weight": w, "bias": bias}, attrs=attrs))


def _pool(kind: str):
    def convert(ctx: Ctx, node, ins):
        if len(node.output) > 1 and node.output[1]:
            raise Unsupported("MaxPool with an Indices output")
        x = _spatial_in(ctx, ctx.var(ins[0]))
        kernel = tuple(ctx.attrs["kernel_shape"])
        stride, dil, pad = _geometry(ctx, x, kernel)
        attrs = {"kind": kind, "kernel": kernel, "stride": stride, "padding": pad,
                 "ceil_mode": bool(ctx.attrs.get("ceil_mode", 0))}
        if any(d != 1 for d in dil):
            attrs["dilation"] = dil
        if kind == "avg":
            attrs["count_include_pad"] = bool(ctx.attrs.get("count_include_pad", 0))
        return _spatial_out(ctx, ctx.emit("pool", [x], attrs=attrs))
    convert.__name__ = f"_{kind}_pool"
    return convert


rule("MaxPool", 1)(_pool("max"))
rule("AveragePool", 1)(_pool("avg"))


def _global_pool(kind: str):
    def convert(ctx: Ctx, node, ins):
        x = ctx.var(ins[0])
        _need_spatial(ctx, x)
        first = 2 - ctx.nb
        axes = tuple(range(first, len(x.shape)))
        return ctx.emit("reduce", [x], attrs={"kind": kind, "axes": axes, "keepdims": True})
    convert.__name__ = f"_global_{kind}_pool"
    return convert


rule("GlobalAveragePool", 1)(_global_pool("mean"))
rule("GlobalMaxPool", 1)(_global_pool("max"))


@rule("BatchNormalization", 1)
def _batchnorm(ctx: Ctx, node, ins):
    if any(not isinstance(v, Const) for v in ins[1:5]):
        raise Unsupported("BatchNormalization with statistics that are not constant")
    if ctx.attrs.get("training_mode", 0) or ctx.attrs.get("spatial", 1) == 0 or ctx.attrs.get("is_test", 1) == 0:
        raise Unsupported("BatchNormalization in training mode or with spatial=0")
    x = ctx.var(ins[0])
    scale, bias, mean, var = (v.value for v in ins[1:5])
    attrs = {"eps": float(ctx.attrs.get("epsilon", 1e-5)), "axis": ctx.axis(1, ctx.rank(x))}
    return ctx.emit("batchnorm", [x], params={"scale": scale, "bias": bias, "mean": mean, "var": var}, attrs=attrs)


# ONNX reductions the IR has no kind for: post(reduce_kind(pre(x)))
_COMPOSED = {"ReduceMin": ("neg", "max", "neg"), "ReduceSumSquare": ("square", "sum", None),
             "ReduceL1": ("abs", "sum", None), "ReduceL2": ("square", "sum", "sqrt"),
             "ReduceLogSum": (None, "sum", "log"), "ReduceLogSumExp": ("exp", "sum", "log")}


def _elementwise(ctx: Ctx, x: Var, fn: str | None) -> Var:
    return x if fn is None else ctx.emit("elementwise", [x], attrs={"fn": fn})


def _reduce_axes(ctx: Ctx, x: Var, ins, axes_input_since: int) -> tuple[int, ...] | None:
    """IR axes to reduce, or None for a no-op (empty axes with noop_with_empty_axes)."""
    r = ctx.rank(x)
    if ctx.opset >= axes_input_since:
        axes = const_ints(ctx, ins[1], "axes") if len(ins) > 1 and ins[1] is not None else None
    else:
        axes = ctx.attrs.get("axes")
    if not axes:
        if ctx.attrs.get("noop_with_empty_axes", 0):
            return None
        axes = list(range(r))
    ir_axes = tuple(sorted(ctx.axis(a, r) for a in axes))
    if any(x.shape[a] == 0 for a in ir_axes):
        raise Unsupported("reduction over an empty axis")
    return ir_axes


def _reduce(kind: str, axes_input_since: int, pre: str | None = None, post: str | None = None):
    def convert(ctx: Ctx, node, ins):
        x = ctx.var(ins[0])
        axes = _reduce_axes(ctx, x, ins, axes_input_since)
        if axes is None:
            return x
        keep = bool(ctx.attrs.get("keepdims", 1))
        y = ctx.emit("reduce", [_elementwise(ctx, x, pre)], attrs={"kind": kind, "axes": axes, "keepdims": keep})
        return _elementwise(ctx, y, post)
    convert.__name__ = f"_reduce_{kind}" + (f"_{pre}" if pre else "") + (f"_{post}" if post else "")
    return convert


rule("ReduceMean", 1)(_reduce("mean", 18))
rule("ReduceSum", 1)(_reduce("sum", 13))
rule("ReduceMax", 1)(_reduce("max", 18))
for _op, (_pre, _kind, _post) in _COMPOSED.items():
    rule(_op, 1)(_reduce(_kind, 18, _pre, _post))


_MAX_PRODUCT = 64  # factors of one ReduceProd output: a chain of that many multiplications


@rule("ReduceProd", 1)
def _reduce_prod(ctx: Ctx, node, ins):
    """The product over the axes as a chain of elementwise multiplications of the slices (the IR's
    reductions are sums and maxima; a product through exp-sum-log would not be exact)."""
    x = ctx.var(ins[0])
    axes = _reduce_axes(ctx, x, ins, 18)
    if axes is None:
        return x
    if math.prod(x.shape[a] for a in axes) > _MAX_PRODUCT:
        raise Unsupported(f"ReduceProd of more than {_MAX_PRODUCT} factors per output")
    for a in axes:
        parts = [ctx.emit("take", [x], attrs={"axis": a, "indices": [i]}) for i in range(x.shape[a])]
        x = parts[0]
        for p in parts[1:]:
            x = ctx.emit("mul", [x, p])
    if ctx.attrs.get("keepdims", 1):
        return x
    return ctx.reshape(x, [d for i, d in enumerate(x.shape) if i not in axes])
