"""A torch GRU (``gru`` op, ``linear_before_reset``, non-zero recurrent bias ``b_hn`` of the memory gate) or an
ONNX one with ``linear_before_reset=0`` as ``NetFoldOperator[cell]``: WL's ``GatedRecurrentLayer`` has neither,
the fold of the exact one-step cell has both.

The cell is a small IR net (inputs ``Input`` {k} and ``State`` {n}, output the next state) written by
:func:`.netwriter.assoc_from_net`: six ``LinearLayer`` s (W x + b and W h + b per gate r z n), then
``ThreadingLayer`` s of two inputs each (the paclet threads custom functions over two) and a ``TotalLayer``:
h' = (1 - z) m + z h, m = tanh(x_n + r (W_hn h + b_hn)) (ONNX's default: tanh(x_n + W_hn (r h) + b_hn)),
r, z = sigmoid(x_. + h_.) - torch's and ONNX's equations.
The fold's layout is :mod:`.layers_fold`'s.
"""
from __future__ import annotations

import numpy as np

from ...ir import Net, NetBuilder
from .expr import call

A1, A2 = ("arg", 1), ("arg", 2)
SIGMOID_SUM = ("sigmoid", ("add", A1, A2))


def needs_fold(L) -> bool:
    """A GRU with no ``GatedRecurrentLayer`` form: a recurrent bias of the memory gate (torch's ``b_hn``) or
    ONNX's default ``linear_before_reset=0`` (the reset gate applied before the state's ``Linear``)."""
    if L.op != "gru":
        return False
    bh = L.params.get("bias_hh")
    n = int(L.attrs["hidden"])
    return not L.attrs.get("linear_before_reset", True) or (bh is not None and bool(np.any(np.asarray(bh)[2 * n:])))


def gru_cell_net(L, k: int) -> Net:
    """The exact one-step GRU cell of ``L``: Input {k}, State {n} -> the next state {n}."""
    n = int(L.attrs["hidden"])
    p = {name: np.asarray(v) for name, v in L.params.items() if v is not None}
    zero = np.zeros(3 * n, p["weight_ih"].dtype)
    wh, bh = p["weight_hh"], p.get("bias_hh", zero)
    b = NetBuilder("gru_cell")
    x, h = b.input("Input", (k,)), b.input("State", (n,))

    def linear(v, w, bias, g):  # gate g (r z n) of W v + b
        return b.layer("linear", [v], params={"weight": w[g * n:(g + 1) * n], "bias": bias[g * n:(g + 1) * n]})

    def fn(body, u, v):
        return b.layer("scalar_fn", [u, v], attrs={"body": body})

    xr, xz, xn = (linear(x, p["weight_ih"], p.get("bias_ih", zero), g) for g in range(3))
    r, z = fn(SIGMOID_SUM, xr, linear(h, wh, bh, 0)), fn(SIGMOID_SUM, xz, linear(h, wh, bh, 1))
    if L.attrs.get("linear_before_reset", True):  # torch: x_n + r (W_hn h + b_hn)
        reset = b.layer("mul", [r, linear(h, wh, bh, 2)])
    else:  # ONNX's default: x_n + W_hn (r h) + b_hn
        reset = linear(b.layer("mul", [r, h]), wh, bh, 2)
    m = fn(("tanh", ("add", A1, A2)), xn, reset)
    keep = fn(("mul", ("sub", ("const", 1.0), A1), A2), z, m)
    return b.build([b.layer("add", [keep, b.layer("mul", [z, h])])])


def fold_node(L, seq) -> dict:
    """``NetFoldOperator[cell]`` over the sequence ``seq`` {t, k}: the sequence of states {t, n}."""
    from .netwriter import T, assoc_from_net  # netwriter imports netwriter_seq, which imports this module

    t, k = (int(d) for d in seq)
    n = int(L.attrs["hidden"])
    params = {"Net": assoc_from_net(gru_cell_net(L, k)),
              "Recurrence": call("ValidatedParameter", [call("Rule", "Output", "State")]),
              "ConstantPorts": [], "OutputPorts": ["Output"], "$InputNames": ["Input"], "$StateNames": ["State"],
              "$OutputNames": ["Output"], "$SequenceLength": t}
    return {"Type": "NetFold", "Arrays": {}, "Parameters": params, "Inputs": {"Input": T((t, k))},
            "Outputs": {"Output": T((t, n))}, "States": {"State": T((n,))}}
