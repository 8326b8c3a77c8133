"""Compact WL rules for ``take``, ``pad`` and the recurrent ops, registered in ``wl_compact.RULES``.

A recurrent layer is a step function ``cell`` (weights printed once) applied once per step, one
``With`` per step, the states named ``s1, s2, ...``:

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2, 1))
>>> y = b.layer("rnn", [x], params={"weight_ih": np.ones((1, 1)), "weight_hh": np.eye(1)},
...             attrs={"hidden": 1, "output": "last"})
>>> print(b.build([y]).to_wl())
Function[{x}, With[{cell = Function[{xt, h}, Tanh[{{1.`}} . xt + {{1.`}} . h]]}, \
With[{s1 = cell[x[[1]], {0.`}]}, With[{s2 = cell[x[[2]], s1]}, s2]]]]
"""
from __future__ import annotations

import numpy as np

from . import scalar
from ._geom import norm_axis
from .wl_compact import rule
from .wlprint import Arr, Call, Int, ListN, Node, Num, Part, Plus, Raw, Subtract, Sym, Times, With, Dot


@rule("take")
def _take(ctx, layer, x):
    ax = norm_axis(layer.attrs.get("axis", 0), len(x.shape))
    idx = layer.attrs["indices"]
    pick = Int(idx + 1) if isinstance(idx, int) else _span_or_list(idx)
    return Part(x.node, [Raw("All")] * ax + [pick])


@rule("pad")
def _pad_op(ctx, layer, x):
    """``PadLeft`` then ``PadRight`` to the full dimensions, filled with the value."""
    pads = [tuple(p) for p in layer.attrs["pads"]]
    fill = Num(float(layer.attrs.get("value", 0.0)))
    node = x.node
    if any(lo for lo, _ in pads):
        node = Call("PadLeft", [node, ListN([Int(d + lo) for d, (lo, _) in zip(x.shape, pads)]), fill])
    if any(hi for _, hi in pads):
        node = Call("PadRight", [node, ListN([Int(d + lo + hi) for d, (lo, hi) in zip(x.shape, pads)]), fill])
    return node


def _span_or_list(idx) -> Node:
    if len(idx) > 1 and all(b - a == 1 for a, b in zip(idx, idx[1:])):
        return Raw(f"{idx[0] + 1} ;; {idx[-1] + 1}", 0)
    return ListN([Int(i + 1) for i in idx])


def _gate(z: Node, k: int, h: int) -> Node:
    return Part(z, [Raw(f"{k * h + 1} ;; {(k + 1) * h}", 0)])


def _sig(v: Node) -> Node:
    return Call("LogisticSigmoid", [v])


def _tanh(v: Node) -> Node:
    return Call("Tanh", [v])


def _weights(layer):
    from ..recurrent import GATES, _bias

    h, g = int(layer.attrs["hidden"]), GATES[layer.op]
    bi, bh = _bias(layer, "bias_ih", g * h), _bias(layer, "bias_hh", g * h)
    fold = bh.copy()
    if layer.op == "gru":
        fold[2 * h:] = 0.0
    return h, scalar.p64(layer, "weight_ih"), scalar.p64(layer, "weight_hh"), bi + fold, bh


def _proj(w, v: Node, b) -> Node:
    y = Dot(Arr(w), v)
    return Plus([y, Arr(b)]) if b is not None and b.any() else y


def _lstm_cell(layer) -> Node:
    h, wi, wh, bx, _ = _weights(layer)
    s = Sym("s")
    z = Sym("z")
    c = Plus([Times([Part(s, [Int(2)]), _sig(_gate(z, 1, h))]),  # Part first: Woxi 0.3 misparses "f[a] s[[2]]"
          Times([_sig(_gate(z, 0, h)), _tanh(_gate(z, 2, h))])])
    body = With([("z", Plus([_proj(wi, Sym("xt"), bx), Dot(Arr(wh), Part(s, [Int(1)]))]))],
                With([("c", c)], ListN([Times([_sig(_gate(z, 3, h)), _tanh(Sym("c"))]), Sym("c")])))
    return Call("Function", [ListN([Sym("xt"), s]), body])


def _gru_cell(layer) -> Node:
    h, wi, wh, bx, bh = _weights(layer)
    z, q, st = Sym("z"), Sym("q"), Sym("h")
    u = _sig(Plus([_gate(z, 1, h), _gate(q, 1, h)]))
    r = _sig(Plus([_gate(z, 0, h), _gate(q, 0, h)]))
    if layer.attrs.get("linear_before_reset", True):
        proj = _proj(wh, st, np.concatenate([np.zeros(2 * h), bh[2 * h:]]))
        n = _tanh(Plus([_gate(z, 2, h), Times([Sym("r"), _gate(q, 2, h)])]))
    else:
        proj = Dot(Arr(wh[:2 * h]), st)
        n = _tanh(Plus([_gate(z, 2, h), _proj(wh[2 * h:], Times([Sym("r"), st]), bh[2 * h:])]))
    new = Plus([Times([Subtract(Num(1.0), Sym("u")), n]), Times([Sym("u"), st])])
    body = With([("z", _proj(wi, Sym("xt"), bx)), ("q", proj)], With([("u", u), ("r", r)], new))
    return Call("Function", [ListN([Sym("xt"), st]), body])


def _rnn_cell(layer) -> Node:
    h, wi, wh, bx, _ = _weights(layer)
    pre = Plus([_proj(wi, Sym("xt"), bx), Dot(Arr(wh), Sym("h"))])
    act = "Ramp" if layer.attrs.get("activation", "tanh") == "relu" else "Tanh"
    return Call("Function", [ListN([Sym("xt"), Sym("h")]), Call(act, [pre])])


CELLS = {"lstm": _lstm_cell, "gru": _gru_cell, "rnn": _rnn_cell}


@rule("lstm", "gru", "rnn")
def _recurrent(ctx, layer, x):
    """``With[{cell = Function[{xt, state}, ...]}, With[{s1 = cell[x[[t1]], zero]}, ...]]``."""
    h, steps = int(layer.attrs["hidden"]), x.shape[0]
    order = list(range(steps - 1, -1, -1)) if layer.attrs.get("reverse") else list(range(steps))
    zero = Arr(np.zeros(h))
    state: Node = ListN([zero, zero]) if layer.op == "lstm" else zero
    binds, at = [], {}
    for k, t in enumerate(order, 1):
        binds.append((f"s{k}", Call("cell", [Part(x.node, [Int(t + 1)]), state])))
        state = Sym(f"s{k}")
        at[t] = state
    hidden = (lambda s: Part(s, [Int(1)])) if layer.op == "lstm" else (lambda s: s)  # noqa: E731
    kind = layer.attrs.get("output", "sequence")
    if kind == "sequence":
        body: Node = ListN([hidden(at[t]) for t in range(steps)])
    else:
        body = Part(state, [Int(2)]) if kind == "cell" else hidden(state)
    for name, node in reversed(binds):
        body = With([(name, node)], body)
    return With([("cell", CELLS[layer.op](layer))], body)
