"""numpy rules of the piecewise-constant heads and of data-dependent slicing (per-sample windows)."""
from __future__ import annotations

from ._geom import norm_axis
from .python import HELPERS, RULES, rule
from .scalar_heads import as_scalar_fn

HELPERS["one_hot"] = (
    "def one_hot(x, depth, axis, off, on):\n"
    "    t = numpy.trunc(x)\n"
    "    t = numpy.where(t < 0, t + depth, t)\n"
    "    return numpy.moveaxis(numpy.where(t[..., None] == numpy.arange(depth), on, off), -1, axis)")
HELPERS["dynamic_slice"] = (
    "def dynamic_slice(x, axes, sizes, *starts):\n"
    "    out = []\n"
    "    for i in range(len(x)):\n"
    "        idx = [slice(None)] * (x.ndim - 1)\n"
    "        for a, size, s in zip(axes, sizes, starts):\n"
    "            t = numpy.trunc(numpy.ravel(s[i if len(s) > 1 else 0])[0])\n"
    "            t = t + x.shape[a + 1] if t < 0 else t\n"
    "            k = int(min(max(t, 0), x.shape[a + 1] - size))\n"
    "            idx[a] = slice(k, k + size)\n"
    "        out.append(x[i][tuple(idx)])\n"
    "    return numpy.stack(out)")


@rule("compare", "where", "cast")
def _as_body(src, layer, *xs, out, shapes):
    return RULES["scalar_fn"](src, as_scalar_fn(layer), *xs, out=out, shapes=shapes)


@rule("argmax", "argmin")
def _argmax(src, layer, x, out, shapes):
    ax = norm_axis(layer.attrs.get("axis", 0), len(shapes[layer.inputs[0]])) + 1
    code = f"numpy.{layer.op}({x}, axis={ax})"  # numpy's, like ONNX's and torch's: the first on ties
    code = f"numpy.expand_dims({code}, {ax})" if layer.attrs.get("keepdims", True) else code
    return f"{code}.astype(numpy.float64)"


@rule("one_hot")
def _one_hot(src, layer, x, out, shapes):
    ax = norm_axis(layer.attrs.get("axis", -1), len(shapes[layer.inputs[0]]) + 1) + 1
    on, off = float(layer.attrs.get("on", 1.0)), float(layer.attrs.get("off", 0.0))
    return f"{src.helper('one_hot')}({x}, {int(layer.attrs['depth'])}, {ax}, {off!r}, {on!r})"


@rule("dynamic_slice")
def _dynamic_slice(src, layer, x, *starts, out, shapes):
    rank = len(shapes[layer.inputs[0]])
    axes = tuple(norm_axis(a, rank) for a in layer.attrs["axes"])
    sizes = tuple(int(s) for s in layer.attrs["sizes"])
    return f"{src.helper('dynamic_slice')}({x}, {axes}, {sizes}, {', '.join(starts)})"
