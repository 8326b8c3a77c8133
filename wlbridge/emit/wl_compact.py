"""Compact WL rules: each op on whole arrays (``W . h + b``), one ``With`` binding per layer.

A rule gets the layer and its arguments as :class:`V` (node, shape) and returns a node. WL's
Plus/Times thread lists over the *first* levels (not numpy's trailing broadcasting), so every
rule expands broadcasting explicitly. Constructs are chosen so that Woxi and Mathics3 both
evaluate them (``Partition`` instead of ``ArrayReshape``, ``Table`` for rank > 2 transposes,
``MapThread[Join, ...]`` for inner-axis joins, ``PadLeft``/``PadRight`` for padding).
"""
from __future__ import annotations

import itertools
from typing import Callable, NamedTuple

import numpy as np

from ..ops import ACTIVATIONS, OPS
from . import scalar
from ._geom import full_padding, geometry, norm_axis, pool_counts, prefix_broadcast
from .wlprint import (Apply, Arr, Call, Divide, Dot, Int, ListN, Neg, Node, Num, Part, Plus, Raw, Sym, Times,
                      Tmpl, With, Subtract, Power)

RULES: dict[str, Callable] = {}


class V(NamedTuple):
    node: Node
    shape: tuple


def rule(*ops: str):
    def register(fn):
        for op in ops:
            if op in RULES:
                raise ValueError(f"duplicate WL rule for {op!r}")
            RULES[op] = fn
        return fn
    return register


def const(a) -> Node:
    a = np.asarray(a, dtype=np.float64)
    return Num(float(a)) if a.ndim == 0 else Arr(a)


def fn1(var: str, body: Node) -> Node:
    return Call("Function", [Sym(var), body])


def map_level(f: Node, x: Node, rank: int) -> Node:
    """``f`` applied to the level-``rank`` parts of ``x`` (``f[x]`` when rank is 0)."""
    return Apply(f, [x]) if rank == 0 else Call("Map", [f, x, ListN([Int(rank)])])


def broadcast(v: V, shape) -> Node:
    """``v`` expanded to ``shape`` (numpy rules) as WL that threads elementwise with ``shape``."""
    shape = tuple(shape)
    if v.shape == shape or v.shape == ():
        return v.node
    if isinstance(v.node, (Arr, Num)):
        arr = v.node.array if isinstance(v.node, Arr) else np.asarray(v.node.value)
        return const(prefix_broadcast(arr, shape))
    pad = (1,) * (len(shape) - len(v.shape)) + tuple(v.shape)
    idx = [Int(1) if pad[k] == 1 else Sym(f"i{k + 1}") for k in range(len(shape))][len(shape) - len(v.shape):]
    its = [ListN([Sym(f"i{k + 1}"), Int(d)]) for k, d in enumerate(shape)]
    return Call("Table", [Part(v.node, idx), *its])


def transpose(node: Node, shape, perm) -> Node:
    """numpy's ``transpose(perm)`` (output axis k is input axis perm[k])."""
    perm = tuple(perm)
    if perm == tuple(range(len(perm))):
        return node
    if perm == (1, 0):
        return Call("Transpose", [node])
    idx = [None] * len(perm)
    for k, p in enumerate(perm):
        idx[p] = Sym(f"i{k + 1}")
    its = [ListN([Sym(f"i{k + 1}"), Int(shape[p])]) for k, p in enumerate(perm)]
    return Call("Table", [Part(node, idx), *its])


def reshape(node: Node, old, new) -> Node:
    """Row-major reshape: ``Flatten`` then nested ``Partition``."""
    old, new = tuple(old), tuple(new)
    if old == new:
        return node
    flat = ListN([node]) if not old else (node if len(old) == 1 else Call("Flatten", [node]))
    if not new:
        return Part(flat, [Int(1)])
    for d in reversed(new[1:]):
        flat = Call("Partition", [flat, Int(d)])
    return flat


def elementwise_max(kind: str, nodes: list[Node], rank: int) -> Node:
    if len(nodes) == 1:
        return nodes[0]
    if rank == 0:
        return Call(kind, nodes)
    return Call("MapThread", [Sym(kind), ListN(nodes), Int(rank)])


@rule("constant")
def _constant(ctx, layer):
    return const(layer.params["value"])


@rule("identity")
def _identity(ctx, layer, x):
    return x.node


@rule("elementwise")
def _elementwise(ctx, layer, x):
    row = ACTIVATIONS[layer.attrs["fn"]]
    if row.wl == "#":
        return x.node
    params = row.full_params(layer.attrs.get("fn_params"))
    if row.listable or not x.shape:
        return Tmpl(row.wl, x.node, params)
    return map_level(fn1("t", Tmpl(row.wl, Sym("t"), params)), x.node, len(x.shape))


@rule("scalar_fn")
def _scalar_fn(ctx, layer, *xs):
    shape = ctx.shapes[layer.output]
    names = [f"a{k + 1}" for k in range(len(xs))]
    body = scalar.scalar_body(ctx.algebra, layer.attrs["body"], [Sym(n) for n in names])
    args = [broadcast(x, shape) for x in xs]
    if not shape:
        return With(list(zip(names, args)), body)
    f = Call("Function", [ListN([Sym(n) for n in names]), body])
    if len(xs) == 1:
        return Call("Map", [f, args[0], ListN([Int(len(shape))])])
    return Call("MapThread", [f, ListN(args), Int(len(shape))])


def _nary(ctx, layer, xs, combine):
    shape = ctx.shapes[layer.output]
    return combine([broadcast(x, shape) for x in xs], shape)


@rule("add")
def _add(ctx, layer, *xs):
    return _nary(ctx, layer, xs, lambda a, s: Plus(a))


@rule("mul")
def _mul(ctx, layer, *xs):
    return _nary(ctx, layer, xs, lambda a, s: Times(a))


@rule("sub")
def _sub(ctx, layer, *xs):
    return _nary(ctx, layer, xs, lambda a, s: Subtract(*a))


@rule("div")
def _div(ctx, layer, *xs):
    return _nary(ctx, layer, xs, lambda a, s: Divide(*a))


@rule("pow")
def _pow(ctx, layer, *xs):
    return _nary(ctx, layer, xs, lambda a, s: Power(*a))


@rule("max", "min")
def _maxmin(ctx, layer, *xs):
    return _nary(ctx, layer, xs, lambda a, s: elementwise_max(layer.op.capitalize(), a, len(s)))


def _add_last_axis(node: Node, vec, rank: int) -> Node:
    if rank == 1:
        return Plus([node, const(vec)])
    return Call("Map", [fn1("v", Plus([Sym("v"), const(vec)])), node, ListN([Int(rank - 1)])])


@rule("linear")
def _linear(ctx, layer, x):
    w, b = scalar.p64(layer, "weight"), scalar.p64(layer, "bias")
    y = Dot(Arr(w), x.node) if len(x.shape) == 1 else Dot(x.node, Arr(w.T))
    return y if b is None else _add_last_axis(y, b, len(x.shape))


@rule("matmul")
def _matmul(ctx, layer, x):
    return Dot(x.node, Arr(scalar.p64(layer, "weight")))


@rule("prelu")
def _prelu(ctx, layer, x):
    s = prefix_broadcast(scalar.p64(layer, "slope"), x.shape)
    return Subtract(Call("Ramp", [x.node]), Times([const(s), Call("Ramp", [Neg(x.node)])]))


SOFTMAX = "With[{e = Exp[# - Max[#]]}, e/Total[e]]"
LOG_SOFTMAX = "With[{z = # - Max[#]}, z - Log[Total[Exp[z]]]]"


def _along_last(x: V, axis: int, template: str) -> Node:
    r = len(x.shape)
    ax = norm_axis(axis, r)
    perm = [a for a in range(r) if a != ax] + [ax]
    moved = transpose(x.node, x.shape, perm)
    body = map_level(fn1("v", Tmpl(template, Sym("v"))), moved, r - 1)
    if moved is x.node:
        return body
    inv = [int(i) for i in np.argsort(perm)]
    return With([("t", body)], transpose(Sym("t"), tuple(x.shape[p] for p in perm), inv))


@rule("softmax")
def _softmax(ctx, layer, x):
    return _along_last(x, layer.attrs.get("axis", -1), SOFTMAX)


@rule("log_softmax")
def _log_softmax(ctx, layer, x):
    return _along_last(x, layer.attrs.get("axis", -1), LOG_SOFTMAX)


@rule("batchnorm")
def _batchnorm(ctx, layer, x):
    """Inference batch norm as ``k x + c`` (k = scale/Sqrt[var + eps], c = bias - k mean), k and c
    per channel: a {C} vector threads over the first level, a trailing axis is spelled out."""
    ax = norm_axis(layer.attrs.get("axis", 0), len(x.shape))
    shape = [1] * len(x.shape)
    shape[ax] = -1
    k = scalar.p64(layer, "scale") / np.sqrt(scalar.p64(layer, "var") + float(layer.attrs.get("eps", 1e-5)))
    c = scalar.p64(layer, "bias") - k * scalar.p64(layer, "mean")
    y = Times([const(prefix_broadcast(k.reshape(shape), x.shape)), x.node])
    return y if not c.any() else Plus([y, const(prefix_broadcast(c.reshape(shape), x.shape))])


@rule("flatten")
def _flatten(ctx, layer, x):
    return reshape(x.node, x.shape, ctx.shapes[layer.output])


@rule("reshape")
def _reshape(ctx, layer, x):
    return reshape(x.node, x.shape, ctx.shapes[layer.output])


@rule("transpose")
def _transpose(ctx, layer, x):
    return transpose(x.node, x.shape, layer.attrs["perm"])


@rule("concat")
def _concat(ctx, layer, *xs):
    ax = norm_axis(layer.attrs.get("axis", 0), len(xs[0].shape))
    nodes = [x.node for x in xs]
    return Call("Join", nodes) if ax == 0 else Call("MapThread", [Sym("Join"), ListN(nodes), Int(ax)])


@rule("reduce")
def _reduce(ctx, layer, x):
    r = len(x.shape)
    axes = sorted({norm_axis(a, r) for a in layer.attrs["axes"]})
    keep = [a for a in range(r) if a not in axes]
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    moved = transpose(x.node, x.shape, keep + axes)
    v = Sym("v") if len(axes) == 1 else Call("Flatten", [Sym("v")])
    body = {"sum": Call("Total", [v]), "mean": Divide(Call("Total", [v]), Num(float(n))),
            "max": Call("Max", [v])}[layer.attrs["kind"]]
    out = map_level(fn1("v", body), moved, len(keep))
    reduced = tuple(x.shape[a] for a in keep)
    return reshape(out, reduced, ctx.shapes[layer.output])


@rule("embedding")
def _embedding(ctx, layer, x):
    look = Part(Sym("w"), [Plus([Call("Round", [Sym("i")]), Int(1)])])
    body = map_level(fn1("i", look), x.node, len(x.shape)) if x.shape else \
        Part(Sym("w"), [Plus([Call("Round", [x.node]), Int(1)])])
    return With([("w", Arr(scalar.p64(layer, "weight")))], body)


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
    spatial = ListN([Int(k) for k in range(3, n_spatial + 3)])
    if len(views) == 1:
        return Call("Flatten", [views[0], ListN([ListN([Int(1)]), ListN([Int(k - 1) for k in range(3, n_spatial + 3)])])])
    return Call("Flatten", [ListN(views), ListN([ListN([Int(1), Int(2)]), spatial])])


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


missing = set(OPS) - set(RULES)
if missing:  # pragma: no cover
    raise ImportError(f"ops without a compact WL rule: {sorted(missing)}")
