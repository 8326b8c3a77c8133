"""torch padding (``F.pad``, ``nn.*Pad*d``), resizing (``F.interpolate``, ``nn.Upsample*``) and transposed
convolution (``nn.ConvTranspose*d``, ``F.conv_transpose*d``), built by :mod:`wlbridge.frontends.resample`."""
from __future__ import annotations

from .. import resample
from .context import Ctx, rule, to_numpy
from .layers import const_param, tup
from .modules import module_rule
from .values import Unsupported, V

TORCH_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _emitter(ctx: Ctx):
    def emit(op, ins, params=None, attrs=None):
        return ctx.emit(op, ins, params=params, attrs=attrs)
    return emit


def make_pad(ctx: Ctx, x, pad, mode: str = "constant", value=None) -> V:
    x = ctx.value(x)
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > len(x.shape):
        raise Unsupported(f"pad {pad} for a rank-{x.rank} tensor")
    if mode not in TORCH_MODES:
        raise Unsupported(f"padding mode {mode!r}")
    pairs = [(0, 0)] * len(x.shape)
    for k in range(len(pad) // 2):
        pairs[len(x.shape) - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return resample.pad(_emitter(ctx), x, pairs, mode, float(value or 0.0))


@rule("pad", sig="self pad mode value")
def _pad(ctx: Ctx, op, a):
    return make_pad(ctx, a["self"], a["pad"], a.get("mode") or "constant", a.get("value"))


@rule("constant_pad_nd", sig="self pad value")
def _constant_pad_nd(ctx: Ctx, op, a):
    return make_pad(ctx, a["self"], a["pad"], "constant", a.get("value"))


@module_rule("ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
             "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d", "ReplicationPad2d",
             "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d")
def _pad_module(ctx: Ctx, m, x):
    name = type(m).__name__
    mode = "reflect" if name.startswith("Reflection") else "replicate" if name.startswith("Replication") else \
        "circular" if name.startswith("Circular") else "constant"
    return make_pad(ctx, x, m.padding, mode, getattr(m, "value", 0.0))


# ---- resizing ------------------------------------------------------------------------------------
def make_interpolate(ctx: Ctx, x, size=None, scale_factor=None, mode="nearest", align_corners=None,
                     recompute_scale_factor=None) -> V:
    x = ctx.value(x)
    n = len(x.shape) - 1
    if mode in ("linear", "bilinear", "trilinear"):
        kind, coord = "linear", "align_corners" if align_corners else "pytorch_half_pixel"
    elif mode == "nearest":
        kind, coord = "nearest", "asymmetric"
    else:
        raise Unsupported(f"interpolation mode {mode!r} (nearest, linear, bilinear, trilinear)")
    if size is not None:
        sizes, scales = tup(size, n), None
    elif scale_factor is not None:
        factors = [float(f) for f in (scale_factor if isinstance(scale_factor, (list, tuple)) else [scale_factor] * n)]
        sizes = tuple(resample.out_size(d, f) for d, f in zip(x.shape[1:], factors))
        scales = None if recompute_scale_factor or align_corners else [1.0] + factors  # torch: (in-1)/(out-1)
    else:
        raise Unsupported("interpolate without size or scale_factor")
    return resample.resize(_emitter(ctx), x, (x.shape[0], *sizes), scales, kind, coord, "floor")


@rule("interpolate", "upsample", sig="self size scale_factor mode align_corners recompute_scale_factor antialias")
def _interpolate(ctx: Ctx, op, a):
    if a.get("antialias"):
        raise Unsupported("antialias=True")
    return make_interpolate(ctx, a["self"], a.get("size"), a.get("scale_factor"), a.get("mode", "nearest"),
                            a.get("align_corners"), a.get("recompute_scale_factor"))


_ATEN_UPSAMPLE = {"upsample_nearest1d": "nearest", "upsample_nearest2d": "nearest", "upsample_nearest3d": "nearest",
                  "upsample_linear1d": "linear", "upsample_bilinear2d": "bilinear", "upsample_trilinear3d": "trilinear"}


@rule(*_ATEN_UPSAMPLE)
def _aten_upsample(ctx: Ctx, op, a):
    """``aten.upsample_*`` (what ``torch.export`` records for ``F.interpolate``): ``.vec`` overloads carry
    ``scale_factors``, the others an output size and optional per-axis scales."""
    scales = a.get("scale_factors")
    if scales is None:
        given = [a.get(k) for k in ("scales", "scales_d", "scales_h", "scales_w") if k in a]
        scales = given if given and all(f is not None for f in given) else None
    size = None if scales is not None else a.get("output_size")
    return make_interpolate(ctx, a.get("input", a.get("self")), size, scales, _ATEN_UPSAMPLE[op],
                            a.get("align_corners"))


@module_rule("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
def _upsample(ctx: Ctx, m, x):
    align = True if type(m).__name__ == "UpsamplingBilinear2d" else m.align_corners
    return make_interpolate(ctx, x, m.size, m.scale_factor, m.mode, align, getattr(m, "recompute_scale_factor", None))


# ---- transposed convolution --------------------------------------------------------------------------
def make_conv_transpose(ctx: Ctx, x, weight, bias, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    x, w, b = ctx.value(x), const_param(weight, "weight"), const_param(bias, "bias")
    n = w.ndim - 2
    if x.rank != n + 2:
        raise Unsupported(f"{n}-d transposed convolution of a rank-{x.rank} tensor (unbatched input?)")
    if isinstance(padding, str):
        raise Unsupported(f"padding={padding!r}")
    pads = [(p, p) for p in tup(padding, n)]
    return resample.conv_transpose(_emitter(ctx), x, to_numpy(w), None if b is None else to_numpy(b),
                                   tup(stride, n), pads, tup(output_padding, n), tup(dilation, n), int(groups))


@rule("conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
      sig="self weight bias stride padding output_padding groups dilation")
def _conv_transpose(ctx: Ctx, op, a):
    return make_conv_transpose(ctx, a["self"], a["weight"], a.get("bias"), a.get("stride", 1), a.get("padding", 0),
                               a.get("output_padding", 0), a.get("groups", 1), a.get("dilation", 1))


@module_rule("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
def _conv_transpose_module(ctx: Ctx, m, x, output_size=None):
    if output_size is not None:
        raise Unsupported("output_size argument")
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r}")
    return make_conv_transpose(ctx, x, m.weight, m.bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation)
