"""Compact WL rules for slicing, indexing, uneven adaptive pooling, layer norm and products of two
variables, registered in ``wl_compact.RULES``.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2, 4))
>>> net = b.build([b.layer("slice", [x], attrs={"starts": [0, 1], "stops": [2, 4], "steps": [1, 2]})])
>>> print(net.to_wl())
Function[{x}, x[[All, 2 ;; 4 ;; 2]]]
>>> b = NetBuilder(); x = b.input("x", (1, 2))
>>> print(b.build([b.layer("adaptive_pool", [x], attrs={"kind": "avg", "output_size": [3]})]).to_wl())
Function[{x}, Map[Function[c, {c[[1]], Total[c[[1 ;; 2]]]/2.`, c[[2]]}], x]]
"""
from __future__ import annotations

import numpy as np

from ._geom import adaptive_windows, norm_axis, slice_spans
from .wl_compact import broadcast, const, fn1, rule
from .wlprint import Call, Divide, Dot, Int, ListN, Node, Num, Part, Plus, Raw, Sym, Times, With


def span(start: int, stop: int, step: int, size: int) -> Node:
    """The WL index of the 0-based ``range(start, stop, step)`` on an axis of ``size``."""
    n = len(range(start, stop, step))
    if start == 0 and step == 1 and n == size:
        return Raw("All")
    if n == 1:
        return Int(start + 1)
    last = start + (n - 1) * step if n else start - 1
    return Raw(f"{start + 1} ;; {last + 1}" + (f" ;; {step}" if step != 1 and n > 1 else ""), 0)


def _index_list(indices, size: int) -> Node:
    """A list of 0-based indices as a WL index: a span when they are an increasing progression."""
    idx = [int(i) for i in indices]
    steps = {b - a for a, b in zip(idx, idx[1:])}
    if len(idx) > 1 and len(steps) == 1 and min(steps) > 0:
        return span(idx[0], idx[-1] + 1, steps.pop(), size)
    return ListN([Int(i + 1) for i in idx])


def _part(node: Node, index: list[Node]) -> Node:
    while index and isinstance(index[-1], Raw) and index[-1].text == "All":
        index = index[:-1]
    return Part(node, index) if index else node


@rule("slice")
def _slice(ctx, layer, x):
    spans = [span(a, b, c, d) for (a, b, c), d in zip(slice_spans(layer), x.shape)]
    spans = [ListN([s]) if isinstance(s, Int) else s for s in spans]  # keep the axis
    return _part(x.node, spans)


@rule("adaptive_pool")
def _adaptive_pool(ctx, layer, x):
    """``Map[Function[c, {window values}], x]``: each window is ``Max`` or ``Total/n`` of a part."""
    size = tuple(layer.attrs["output_size"])
    wins = [adaptive_windows(n, o) for n, o in zip(x.shape[1:], size)]
    c = Sym("c")

    def window(pos):
        idx = [span(a, b, 1, 0) for a, b in (wins[i][p] for i, p in enumerate(pos))]
        n = int(np.prod([b - a for a, b in (wins[i][p] for i, p in enumerate(pos))]))
        part = Part(c, idx)
        if n == 1:
            return part
        if layer.attrs["kind"] == "max":
            return Call("Max", [part])
        spread = sum(1 for i in idx if not isinstance(i, Int))
        total = Call("Total", [part] + ([Int(spread)] if spread > 1 else []))
        return Divide(total, Num(float(n)))

    def nest(prefix):
        k = len(prefix)
        if k == len(size):
            return window(prefix)
        return ListN([nest(prefix + (i,)) for i in range(size[k])])

    return Call("Map", [fn1("c", nest(())), x.node])


@rule("layernorm")
def _layernorm(ctx, layer, x):
    """Each normalized block ``v``: ``With[{c = v - Total[Flatten[v]]/n}, s c/Sqrt[Total[Flatten[c^2]]/n + eps] + b]``."""
    r = len(x.shape)
    ax = norm_axis(layer.attrs.get("axis", -1), r)
    inner = x.shape[ax:]
    n = float(np.prod(inner, dtype=np.int64))
    flat = (lambda e: e) if len(inner) == 1 else (lambda e: Call("Flatten", [e]))  # noqa: E731
    v, cs = Sym("v"), Sym("c")
    centred = Call("Subtract", [v, Divide(Call("Total", [flat(v)]), Num(n))])
    var = Divide(Call("Total", [flat(Call("Power", [cs, Int(2)]))]), Num(n))
    y = Divide(cs, Call("Sqrt", [Plus([var, Num(float(layer.attrs.get("eps", 1e-5)))])]))
    s, b = layer.params.get("scale"), layer.params.get("bias")
    if s is not None:
        y = Times([const(np.broadcast_to(np.asarray(s, np.float64), inner)), y])
    if b is not None:
        y = Plus([y, const(np.broadcast_to(np.asarray(b, np.float64), inner))])
    body = With([("c", centred)], y)
    if ax == 0:
        return With([("v", x.node)], body)
    return Call("Map", [fn1("v", body), x.node, ListN([Int(ax)])])


@rule("batch_matmul")
def _batch_matmul(ctx, layer, a, b):
    """``Dot`` of matrices; leading axes by ``MapThread[Dot, {a, b}, k]`` (broadcast first)."""
    out = ctx.shapes[layer.output]
    lead = tuple(out[:-2])
    if not lead:
        return Dot(a.node, b.node)
    if len(b.shape) == 2:
        return Call("Map", [fn1("m", Dot(Sym("m"), b.node)), a.node, ListN([Int(len(lead))])])
    an = broadcast(a, (*lead, *a.shape[-2:])) if tuple(a.shape[:-2]) != lead else a.node
    bn = broadcast(b, (*lead, *b.shape[-2:])) if tuple(b.shape[:-2]) != lead else b.node
    return Call("MapThread", [Sym("Dot"), ListN([an, bn]), Int(len(lead))])
