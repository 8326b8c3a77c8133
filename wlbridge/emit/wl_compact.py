"""Compact WL rules: each op on whole arrays (``W . h + b``), one ``With`` binding per layer.

A rule gets the layer and its arguments as :class:`V` (node, shape) and returns a node. WL's
Plus/Times thread lists over the *first* levels (not numpy's trailing broadcasting), so every
rule expands broadcasting explicitly. Constructs are chosen so that Woxi and Mathics3 both
evaluate them (``Partition`` instead of ``ArrayReshape``, ``Table`` for rank > 2 transposes,
``MapThread[Join, ...]`` for inner-axis joins, ``PadLeft``/``PadRight`` for padding) and fast in both:
a convolution is one ``Dot`` of matrices over the stacked shifted views (im2col), never a ``Dot``
with a rank-3 tensor (Woxi: 10-100x slower), batch norm is ``k x + c``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .._rules import registrar
from ..ops import ACTIVATIONS
from . import scalar
from ._geom import norm_axis, prefix_broadcast
from .wlprint import (Apply, Arr, Call, Divide, Dot, Int, ListN, Neg, Node, Num, Part, Plus, Sym, Times,
                      Tmpl, With, Subtract, Power)

RULES: dict[str, Callable] = {}


class V(NamedTuple):
    node: Node
    shape: tuple


rule = registrar(RULES, "WL")


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
    """Row-major reshape: ``Flatten`` then nested ``Partition``; zero-size results are built."""
    old, new = tuple(old), tuple(new)
    if old == new:
        return node
    if 0 in new:  # no elements to move; Partition[..., 0] is an error
        k = new.index(0)
        its = [ListN([Sym(f"i{j + 1}"), Int(d)]) for j, d in enumerate(new[:k])]
        return Call("Table", [ListN([]), *its]) if its else ListN([])
    flat = ListN([node]) if not old else (node if len(old) == 1 else Call("Flatten", [node]))
    if not new:
        return Part(flat, [Int(1)])
    for d in reversed(new[1:]):
        flat = Call("Partition", [flat, Int(d)])
    return flat


def thread(names: list[str], args: list[Node], scalar: list[bool], body_fn, rank: int) -> Node:
    """``body_fn(parts)`` applied elementwise over the rank-``rank`` arrays among ``args``.

    Scalar arguments go into the body as they are, never threaded (``MapThread`` needs equal
    dimensions in Woxi, Mathics3 and WL alike)."""
    if rank == 0:
        return With(list(zip(names, args)), body_fn([Sym(n) for n in names]))
    arrays = [(n, a) for n, a, s in zip(names, args, scalar) if not s]
    parts = [a if s else Sym(n) for n, a, s in zip(names, args, scalar)]
    if not arrays:
        return body_fn(parts)
    if len(arrays) == 1:
        return Call("Map", [fn1(arrays[0][0], body_fn(parts)), arrays[0][1], ListN([Int(rank)])])
    f = Call("Function", [ListN([Sym(n) for n, _ in arrays]), body_fn(parts)])
    return Call("MapThread", [f, ListN([a for _, a in arrays]), Int(rank)])


def elementwise_max(kind: str, nodes: list[Node], rank: int, scalar: list[bool] | None = None) -> Node:
    if len(nodes) == 1:
        return nodes[0]
    if rank == 0:
        return Call(kind, nodes)
    names = [f"m{k + 1}" for k in range(len(nodes))]
    return thread(names, nodes, scalar or [False] * len(nodes), lambda ps: Call(kind, ps), rank)


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
    params = row.wl_params(layer.attrs.get("fn_params"))
    if row.listable or not x.shape:
        return Tmpl(row.wl, x.node, params)
    return map_level(fn1("t", Tmpl(row.wl, Sym("t"), params)), x.node, len(x.shape))


@rule("scalar_fn")
def _scalar_fn(ctx, layer, *xs):
    shape = ctx.shapes[layer.output]
    names = [f"a{k + 1}" for k in range(len(xs))]
    args = [_full(x, shape) for x in xs]
    body = lambda ps: scalar.scalar_body(ctx.algebra, layer.attrs["body"], ps)  # noqa: E731
    return thread(names, args, [x.shape == () or isinstance(a, Num) for x, a in zip(xs, args)], body, len(shape))


def _full(x: V, shape) -> Node:
    """``broadcast``, but a constant spelled out to the whole ``shape`` (``MapThread`` needs equal
    dimensions; a constant uniform along all axes stays one number)."""
    node = broadcast(x, shape)
    if isinstance(node, Arr) and node.array.shape != tuple(shape):
        a = node.array
        return const(np.broadcast_to(a.reshape(a.shape + (1,) * (len(shape) - a.ndim)), shape))
    return node


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
    shape = ctx.shapes[layer.output]
    nodes = [broadcast(x, shape) for x in xs]
    return elementwise_max(layer.op.capitalize(), nodes, len(shape), [x.shape == () for x in xs])


def dot_last(x: Node, w: Node, rank: int) -> Node:
    """``x . w`` contracting x's last axis; rank > 2 maps over the leading axes (Woxi 0.3's ``Dot``
    of a rank-3 tensor is wrong)."""
    if rank <= 2:
        return Dot(x, w)
    return Call("Map", [fn1("r", Dot(Sym("r"), w)), x, ListN([Int(rank - 2)])])


def _add_last_axis(node: Node, vec, rank: int) -> Node:
    if rank == 1:
        return Plus([node, const(vec)])
    return Call("Map", [fn1("v", Plus([Sym("v"), const(vec)])), node, ListN([Int(rank - 1)])])


@rule("linear")
def _linear(ctx, layer, x):
    w, b = scalar.p64(layer, "weight"), scalar.p64(layer, "bias")
    y = Dot(Arr(w), x.node) if len(x.shape) == 1 else dot_last(x.node, Arr(w.T), len(x.shape))
    return y if b is None else _add_last_axis(y, b, len(x.shape))


@rule("matmul")
def _matmul(ctx, layer, x):
    return dot_last(x.node, Arr(scalar.p64(layer, "weight")), len(x.shape))


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


from . import wl_spatial  # noqa: E402,F401 - registers the conv and pool rules (wl.py checks that every op has one)
from . import wl_recurrent  # noqa: E402,F401 - registers the take and recurrent rules
from . import wl_tensor  # noqa: E402,F401 - slicing, adaptive pooling, layer norm, products of variables
from . import wl_heads  # noqa: E402,F401 - argmax, comparisons, where, one_hot, casts, dynamic slices
