"""Compact WL rules of the piecewise-constant heads and of data-dependent slicing.

Forms both Woxi and Mathics3 evaluate (Mathics3 has no ``Ordering``): the first maximum is
``First[FirstPosition[v, Max[v]]] - 1``; comparisons, ``where`` and casts are their ``scalar_fn`` bodies
(``If[a - b > 0, 1., 0.]``, ``IntegerPart``), every comparison against 0 (exact; WL's ``==`` has a tolerance); a computed slice start is
``x[[All, k + 1 ;; k + size]]`` with ``k`` clamped by ``Min``/``Max`` (Mathics3 has no ``Clip``).
"""
from __future__ import annotations

from ._geom import norm_axis
from .scalar_heads import as_scalar_fn
from .wl_compact import RULES, V, fn1, map_level, reshape, rule, transpose
from .wlprint import Call, Int, ListN, Num, Op, Part, Plus, Subtract, Sym, With


@rule("compare", "where", "cast")
def _as_body(ctx, layer, *xs):
    return RULES["scalar_fn"](ctx, as_scalar_fn(layer), *xs)


@rule("argmax", "argmin")
def _argmax(ctx, layer, x):
    r = len(x.shape)
    ax = norm_axis(layer.attrs.get("axis", 0), r)
    perm = [a for a in range(r) if a != ax] + [ax]
    head = "Max" if layer.op == "argmax" else "Min"
    first = Subtract(Part(Call("FirstPosition", [Sym("v"), Call(head, [Sym("v")])]), [Int(1)]), Int(1))
    out = map_level(fn1("v", first), transpose(x.node, x.shape, perm), r - 1)
    reduced = tuple(x.shape[a] for a in perm[:-1])
    return reshape(out, reduced, ctx.shapes[layer.output])


@rule("one_hot")
def _one_hot(ctx, layer, x):
    depth = int(layer.attrs["depth"])
    on, off = Num(float(layer.attrs.get("on", 1.0))), Num(float(layer.attrs.get("off", 0.0)))
    t, k = Sym("t"), Sym("k")
    hit = Call("Or", [Op("Equal", [t, k]), Op("Equal", [t, Subtract(k, Int(depth))])])
    row = With([("t", Call("IntegerPart", [Sym("i")]))],
               Call("Table", [Call("If", [hit, on, off]), ListN([k, Int(0), Int(depth - 1)])]))
    r = len(x.shape)
    out = Call("Map", [fn1("i", row), x.node, ListN([Int(r)])]) if r else With([("i", x.node)], row)
    ax = norm_axis(layer.attrs.get("axis", -1), r + 1)
    perm = [*range(ax), r, *range(ax, r)]  # output axis ax is the new (last) one
    return transpose(out, (*x.shape, depth), perm)


def _start(s: V, dim: int, size: int):
    """The clamped 0-based start of a window (``reference.clamped_start``)."""
    node = s.node if not s.shape else Part(s.node, [Int(1)] * len(s.shape))
    t = Sym("t")
    wrapped = Call("If", [Op("Less", [t, Int(0)]), Plus([t, Int(dim)]), t])
    return With([("t", Call("IntegerPart", [node]))], Call("Min", [Call("Max", [wrapped, Int(0)]), Int(dim - size)]))


@rule("dynamic_slice")
def _dynamic_slice(ctx, layer, x, *starts):
    r = len(x.shape)
    spec, binds = [Sym("All")] * r, []
    for j, (a, size, s) in enumerate(zip(layer.attrs["axes"], layer.attrs["sizes"], starts)):
        a = norm_axis(a, r)
        k = f"k{j + 1}"
        binds.append((k, _start(s, x.shape[a], int(size))))
        spec[a] = Call("Span", [Plus([Sym(k), Int(1)]), Plus([Sym(k), Int(int(size))])])
    return With(binds, Part(x.node, spec))
