"""Compact WL rules for convolution and pooling (channels first), registered in ``wl_compact.RULES``.

A convolution is im2col: the kernel offsets' shifted views of the (padded) input, stacked and
flattened to a {offsets*channels, positions} matrix, meet the weights as one {out, offsets*channels}
matrix; each output row is then partitioned back to the spatial shape:

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (1, 3, 3))
>>> net = b.build([b.layer("conv", [x], params={"weight": np.ones((1, 1, 2, 2))})])
>>> print(net.to_wl())
Function[{x}, Map[Function[r, Partition[r, 2]], {{1.`, 1.`, 1.`, 1.`}} . Flatten[{x[[All, 1 ;; 2, 1 ;; 2]], \
x[[All, 1 ;; 2, 2 ;; 3]], x[[All, 2 ;; 3, 1 ;; 2]], x[[All, 2 ;; 3, 2 ;; 3]]}, {{1, 2}, {3, 4}}]]]

Max pooling is ``MapThread[Max, {views}, rank]``; a window covering the whole map is
``Map[Function[c, {{Max[c]}}], x]``; a 1x1 window with stride 1 is the identity.
"""
from __future__ import annotations

import itertools

import numpy as np

from . import scalar
from ._geom import full_padding, geometry, pool_counts
from .wl_compact import V, elementwise_max, fn1, reshape, rule
from .wlprint import Arr, Call, Divide, Dot, Int, ListN, Node, Num, Part, Plus, Raw, Sym, With


def _pad(node: Node, shape, pad, fill: Node) -> Node:
    """``node`` (channels first) padded on the spatial axes by ((lo, hi), ...)."""
    if any(lo for lo, _ in pad):
        dims = [Int(shape[0])] + [Int(d + lo) for d, (lo, _) in zip(shape[1:], pad)]
        node = Call("PadLeft", [node, ListN(dims), fill])
    if any(hi for _, hi in pad):
        dims = [Int(shape[0])] + [Int(d + lo + hi) for d, (lo, hi) in zip(shape[1:], pad)]
        node = Call("PadRight", [node, ListN(dims), fill])
    return node


def _span(start: int, n: int, step: int, full: int) -> Node:
    """1-based WL span of ``n`` positions from 0-based ``start`` with ``step``."""
    end = start + (n - 1) * step
    if start == 0 and step == 1 and n == full:
        return Raw("All")
    text = f"{start + 1} ;; {end + 1}" + (f" ;; {step}" if step != 1 else "")
    return Raw(text, 0)


def _slices(p: Node, padded_shape, kernel, stride, dil, out_sp, channels=None):
    """Yield (offset, p[[channels, spans...]]) per kernel offset."""
    for k in itertools.product(*[range(n) for n in kernel]):
        spans = [_span(k[i] * dil[i], out_sp[i], stride[i], padded_shape[i + 1]) for i in range(len(kernel))]
        whole = channels is None and all(isinstance(s, Raw) and s.text == "All" for s in spans)
        yield k, p if whole else Part(p, [channels or Raw("All"), *spans])


def _bind_padded(x: V, pad, fill: Node):
    padded_shape = (x.shape[0], *[d + lo + hi for d, (lo, hi) in zip(x.shape[1:], pad)])
    node = _pad(x.node, x.shape, pad, fill)
    if node is x.node and isinstance(node, Sym):
        return [], node, padded_shape
    return [("pad", node)], Sym("pad"), padded_shape


@rule("conv")
def _conv(ctx, layer, x):
    """im2col: ``Wmat . Flatten[{views}, {{1, 2}, {3, ...}}]`` (one Dot per group), rows then reshaped.

    Every kernel offset gives a view ``pad[[channels, spans...]]`` of the (padded) input; the stacked
    views, flattened to a {offsets*channels, positions} matrix, meet the weights as one {out,
    offsets*channels} matrix (``Dot`` of matrices is fast in both engines; of rank-3 tensors it is not).
    """
    w, b = scalar.p64(layer, "weight"), scalar.p64(layer, "bias")
    kernel = w.shape[2:]
    stride, dil, pad = geometry(layer, len(kernel))
    out_sp = ctx.shapes[layer.output][1:]
    groups = int(layer.attrs.get("groups", 1))
    og, cg = w.shape[0] // groups, w.shape[1]
    binds, p, pshape = _bind_padded(x, pad, Num(0.0))
    parts = []
    for g in range(groups):
        chans = None if groups == 1 else Raw(f"{g * cg + 1} ;; {(g + 1) * cg}", 0)
        views = [s for _, s in _slices(p, pshape, kernel, stride, dil, out_sp, chans)]
        wg = np.moveaxis(w[g * og:(g + 1) * og], 1, -1).reshape(og, -1)  # {out, offsets*channels}
        parts.append(Dot(Arr(wg), _columns(views, len(kernel))))
    y = parts[0] if groups == 1 else Call("Join", parts)
    y = y if b is None else Plus([y, Arr(b)])
    y = _rows_to_spatial(y, out_sp)
    return With(binds, y) if binds else y


def _columns(views: list[Node], n_spatial: int) -> Node:
    """The im2col matrix {offsets*channels, positions} of the views (each {channels, spatial...})."""
    ints = lambda ks: ListN([Int(k) for k in ks])  # noqa: E731
    if len(views) == 1:
        return Call("Flatten", [views[0], ListN([ints([1]), ints(range(2, n_spatial + 2))])])
    return Call("Flatten", [ListN(views), ListN([ints([1, 2]), ints(range(3, n_spatial + 3))])])


def _rows_to_spatial(y: Node, out_sp) -> Node:
    """Each row of the {channels, positions} matrix ``y`` partitioned to the spatial shape."""
    if len(out_sp) == 1:
        return y
    return Call("Map", [fn1("r", reshape(Sym("r"), (int(np.prod(out_sp)),), out_sp)), y])


@rule("pool")
def _pool(ctx, layer, x):
    kernel = tuple(layer.attrs["kernel"])
    stride, dil, pad = geometry(layer, len(kernel))
    out_sp = ctx.shapes[layer.output][1:]
    kind = layer.attrs["kind"]
    unpadded = not any(map(any, pad)) and all(d == 1 for d in dil)
    if unpadded and all(k == 1 for k in kernel) and tuple(out_sp) == tuple(x.shape[1:]):
        return x.node  # a 1x1 window with stride 1: the identity
    if unpadded and kernel == tuple(x.shape[1:]) and all(o == 1 for o in out_sp):
        return _global_pool(x, kind)
    full = full_padding(x.shape[1:], out_sp, kernel, stride, dil, pad)
    binds, p, pshape = _bind_padded(x, full, Raw("-Infinity", 480) if kind == "max" else Num(0.0))
    slices = [s for _, s in _slices(p, pshape, kernel, stride, dil, out_sp)]
    if kind == "max":
        y = elementwise_max("Max", slices, len(x.shape))
    else:
        y = Plus(slices)
        if kind == "avg":
            counts = pool_counts(layer, x.shape[1:], out_sp)
            if np.all(counts == counts.flat[0]):
                y = Divide(y, Num(float(counts.flat[0])))
            else:
                y = Call("Map", [fn1("v", Divide(Sym("v"), Arr(counts))), y])
    return With(binds, y) if binds else y


def _global_pool(x: V, kind: str) -> Node:
    """One window covering each channel: ``Map[{{Max[#]}} &, x]`` (``Total[#, depth]`` for sums)."""
    n = len(x.shape) - 1
    body = Call("Max", [Sym("c")]) if kind == "max" else Call("Total", [Sym("c")] + ([Int(n)] if n > 1 else []))
    if kind == "avg":
        body = Divide(body, Num(float(np.prod(x.shape[1:]))))
    for _ in range(n):
        body = ListN([body])
    return Call("Map", [fn1("c", body), x.node])
