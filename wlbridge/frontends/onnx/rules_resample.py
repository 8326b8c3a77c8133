"""ONNX ``Pad``, ``Resize`` and ``ConvTranspose``, built by :mod:`wlbridge.frontends.resample`."""
from __future__ import annotations

import numpy as np

from .. import resample
from .context import Const, Ctx, Unsupported
from .registry import rule
from .rules_nn import _spatial_in, _spatial_out
from .rules_shape import const_ints

COORDS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn")
PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _emitter(ctx: Ctx):
    def emit(op, ins, params=None, attrs=None):
        return ctx.emit(op, ins, params=params, attrs=attrs)
    return emit


def _ir_pairs(ctx: Ctx, x, pairs):
    """Full-rank ONNX (lo, hi) pairs -> IR pairs (the batch axis must not be padded)."""
    if ctx.batch:
        if pairs[0] != (0, 0):
            raise Unsupported("padding of the batch axis")
        pairs = pairs[1:]
    return pairs


def _pad(ctx: Ctx, x, pads, mode: str, value: float, axes=None):
    rank = ctx.rank(x)
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    k = len(axes)
    pairs = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pairs[a] = (int(pads[i]), int(pads[i + k]))
    if mode not in PAD_MODES:
        raise Unsupported(f"mode {mode!r}")
    x = ctx.var(x)
    return resample.pad(_emitter(ctx), x, _ir_pairs(ctx, x, pairs), PAD_MODES[mode], value)


@rule("Pad", 2)
def _pad_attr(ctx: Ctx, node, ins):
    return _pad(ctx, ins[0], ctx.attrs["pads"], ctx.attrs.get("mode", "constant"), float(ctx.attrs.get("value", 0.0)))


@rule("Pad", 11)
def _pad_inputs(ctx: Ctx, node, ins):
    pads = const_ints(ctx, ins[1], "pads")
    value = 0.0
    if len(ins) > 2 and ins[2] is not None:
        if not isinstance(ins[2], Const):
            raise Unsupported("constant_value is not constant")
        value = float(np.asarray(ins[2].value).reshape(-1)[0]) if ins[2].value.size else 0.0
    axes = const_ints(ctx, ins[3], "axes") if len(ins) > 3 and ins[3] is not None else None
    return _pad(ctx, ins[0], pads, ctx.attrs.get("mode", "constant"), value, axes)


@rule("Resize", 11)
def _resize(ctx: Ctx, node, ins):
    x = ctx.var(ins[0])
    mode = ctx.attrs.get("mode", "nearest")
    coord = ctx.attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode not in ("nearest", "linear") or coord not in COORDS:
        raise Unsupported(f"mode {mode!r} with coordinate_transformation_mode {coord!r}")
    if ctx.attrs.get("antialias", 0) or ctx.attrs.get("axes") or ctx.attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported("antialias, axes or keep_aspect_ratio_policy")
    full = ctx.onnx_shape(x)
    scales = sizes = None
    if len(ins) > 3 and ins[3] is not None:
        sizes = const_ints(ctx, ins[3], "sizes", at=(0,))
    elif len(ins) > 2 and ins[2] is not None and isinstance(ins[2], Const) and ins[2].value.size:
        scales = [float(s) for s in np.asarray(ins[2].value).reshape(-1)]
        sizes = [int(np.floor(d * s)) for d, s in zip(full, scales)]
    else:
        raise Unsupported("neither constant scales nor sizes")
    if ctx.batch:
        if sizes[0] != full[0] and full[0] != -1:
            raise Unsupported("resizing the batch axis")
        sizes, scales = sizes[1:], None if scales is None else scales[1:]
    return resample.resize(_emitter(ctx), x, sizes, scales, mode, coord, ctx.attrs.get("nearest_mode", "round_prefer_floor"))


@rule("ConvTranspose", 1)
def _conv_transpose(ctx: Ctx, node, ins):
    if not isinstance(ins[1], Const) or (len(ins) > 2 and ins[2] is not None and not isinstance(ins[2], Const)):
        raise Unsupported("ConvTranspose with a weight or bias that is not constant")
    if ctx.attrs.get("output_shape") or ctx.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "", "VALID"):
        raise Unsupported("output_shape / auto_pad SAME_*")
    w = ins[1].value
    n = w.ndim - 2
    x = _spatial_in(ctx, ctx.var(ins[0]))
    p = list(ctx.attrs.get("pads") or [0] * 2 * n)
    bias = ins[2].value if len(ins) > 2 and ins[2] is not None else None
    y = resample.conv_transpose(_emitter(ctx), x, w, bias, tuple(ctx.attrs.get("strides") or (1,) * n),
                                [(p[i], p[i + n]) for i in range(n)],
                                tuple(ctx.attrs.get("output_padding") or (0,) * n),
                                tuple(ctx.attrs.get("dilations") or (1,) * n), int(ctx.attrs.get("group", 1)))
    return _spatial_out(ctx, y)


def _upsample(ctx: Ctx, node, ins):
    """Upsample (opsets 7-9; deprecated in 10) and Resize-10 (the same op renamed): Resize with asymmetric
    coordinates, nearest rounding down, output sizes ``floor(size * scale)``; ``scales`` an attribute
    before opset 9, an input from 9."""
    mode = ctx.attrs.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise Unsupported(f"mode {mode!r}")
    if ctx.opset < 9 and "scales" in ctx.attrs:
        scales = [float(s) for s in ctx.attrs["scales"]]
    elif ctx.opset < 9:  # the experimental opset-1 form: NCHW with height_scale and width_scale
        scales = [1.0, 1.0, float(ctx.attrs.get("height_scale", 1.0)), float(ctx.attrs.get("width_scale", 1.0))]
    elif len(ins) > 1 and isinstance(ins[1], Const):
        scales = [float(s) for s in np.asarray(ins[1].value).reshape(-1)]
    else:
        raise Unsupported("scales that are not constant")
    x = ctx.var(ins[0])
    full = ctx.onnx_shape(x)
    if len(scales) != len(full):
        raise ctx.error(f"{len(scales)} scales for an input of rank {len(full)}")
    if ctx.batch:
        if scales[0] != 1.0:
            raise Unsupported("upsampling the batch axis")
        scales, full = scales[1:], full[1:]
    sizes = [int(np.floor(d * s)) for d, s in zip(full, scales)]
    return resample.resize(_emitter(ctx), x, sizes, scales, "nearest" if mode == "nearest" else "linear",
                           "asymmetric", "floor")


rule("Upsample", 1)(_upsample)
rule("Resize", 10)(_upsample)
