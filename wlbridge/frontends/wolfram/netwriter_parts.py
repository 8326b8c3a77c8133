"""Writers for IR ops with no Wolfram layer of their own, written as a small ``NetGraph`` of their parts
(registered in ``netwriter.WRITERS``); reading one back computes what :mod:`wlbridge.reference` computes:

- ``log_softmax`` -> ``z = x - Max``, then ``z - Log[Total[Exp[z]]]`` along the axis: ``Aggregation``
  (``Max``, ``Total``), ``Replicate`` (back to the axis), ``Threading[Subtract]``, ``Elementwise``
  (``Exp``, ``Log``): the reference's own formula, step by step, so the numbers agree bit for bit;
- ``adaptive_pool`` -> one ``Pooling`` layer when every window along each axis has one size and one
  stride (e.g. the output size divides the input size); else a ``Part`` (spans) and an ``Aggregation``
  (``Max``/``Mean``) per output cell, joined by ``Catenate``, ``Reshape`` and ``Transpose`` (at most
  :data:`MAX_WINDOWS` cells).
"""
from __future__ import annotations

import itertools
from types import SimpleNamespace as NS

from ...emit._geom import adaptive_windows
from .expr import Symbol, call
from .netwriter import T, _elementwise, _pool, _reshape, _Skip, _threading_layer, layer, writer
from .netwriter_misc import _reduce
from .netwriter_seq import _transpose

MAX_WINDOWS = 64


def graph(nodes: list, ins, out) -> dict:
    """A one-input ``NetGraph`` of ``nodes``: (assoc, sources), each source ``"Input"`` or the index of an
    earlier node; the last node gives the output."""
    names = [str(i + 1) for i in range(len(nodes))]

    def src(s):
        if s == "Input":
            return call("NetPath", "Inputs", "Input")
        return call("NetPath", "Nodes", names[s], "Outputs", "Output")

    edges = [call("Rule", call("NetPath", "Nodes", name, "Inputs", port), src(s))
             for name, (assoc, srcs) in zip(names, nodes) for port, s in zip(assoc["Inputs"], srcs)]
    edges.append(call("Rule", call("NetPath", "Outputs", "Output"), src(len(nodes) - 1)))
    return {"Type": "Graph", "Nodes": dict(zip(names, (a for a, _ in nodes))), "Edges": edges,
            "Inputs": {"Input": T(ins[0])}, "Outputs": {"Output": T(out)}}


@writer("log_softmax")
def _log_softmax(L, ins, out):
    dims = tuple(int(d) for d in ins[0])
    a = int(L.attrs.get("axis", -1)) % len(dims)
    rest = dims[:a] + dims[a + 1:]

    def total(kind, d):
        return _reduce(NS(attrs={"kind": kind, "axes": [a]}), [d], rest)

    def fn(name, d):
        return _elementwise(NS(attrs={"fn": name}), [d], d)

    back = layer("Replicate", {}, {"Specification": dims[a], "Level": a + 1}, [rest], dims)
    minus = _threading_layer(Symbol("Subtract"), [dims, dims], dims)
    return graph([(total("max", dims), ["Input"]), (back, [0]), (minus, ["Input", 1]),  # 2: z = x - max
                  (fn("exp", dims), [2]), (total("sum", dims), [3]), (fn("log", rest), [4]), (back, [5]),
                  (minus, [2, 6])], ins, out)


def _uniform(windows):
    """(size, stride) when the windows along an axis are [i s, i s + size), else None."""
    size = windows[0][1] - windows[0][0]
    stride = windows[1][0] - windows[0][0] if len(windows) > 1 else size
    if stride >= 1 and all(b - a == size and a == i * stride for i, (a, b) in enumerate(windows)):
        return size, stride
    return None


@writer("adaptive_pool")
def _adaptive_pool(L, ins, out):
    dims, size, kind = tuple(int(d) for d in ins[0]), tuple(int(o) for o in L.attrs["output_size"]), L.attrs["kind"]
    wins = [adaptive_windows(n, o) for n, o in zip(dims[1:], size)]
    even = [_uniform(w) for w in wins]
    if all(even):
        return _pool(NS(attrs={"kind": kind, "kernel": [k for k, _ in even], "stride": [s for _, s in even]}),
                     ins, out)
    cells = list(itertools.product(*wins))
    if len(cells) > MAX_WINDOWS:
        raise _Skip(f"uneven windows ({' x '.join(map(str, size))} = {len(cells)} cells from {list(dims[1:])}) "
                    f"need a Part and an Aggregation per cell; more than {MAX_WINDOWS} are not written")
    c, n = dims[0], len(size)
    nodes = []
    for cell in cells:
        part_dims = (c, *(b - a for a, b in cell))
        spec = [Symbol("All")] + [call("Span", a + 1, b) for a, b in cell]
        nodes.append((layer("Part", {}, {"Specification": spec}, [dims], part_dims), ["Input"]))
        agg = _reduce(NS(attrs={"kind": "max" if kind == "max" else "mean", "axes": list(range(1, n + 1))}),
                      [part_dims], (c,))
        nodes.append((agg, [len(nodes) - 1]))
    joined = (len(cells) * c,)
    nodes.append((layer("Catenate", {}, {"Level": 1}, [(c,)] * len(cells), joined), list(range(1, 2 * len(cells), 2))))
    nodes.append((_reshape(None, [joined], (*size, c)), [len(nodes) - 1]))
    nodes.append((_transpose(NS(attrs={"perm": [n, *range(n)]}), [(*size, c)], out), [len(nodes) - 1]))
    return graph(nodes, ins, out)
