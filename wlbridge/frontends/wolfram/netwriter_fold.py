"""A torch GRU (``gru`` op, ``linear_before_reset``, non-zero recurrent bias ``b_hn`` of the memory gate) as
``NetFoldOperator[cell]``: WL's ``GatedRecurrentLayer`` has no ``b_hn``, the fold of the exact one-step cell does.

The cell is a small IR net (inputs ``Input`` {k} and ``State`` {n}, output the next state) written by
:func:`.netwriter.assoc_from_net`: six ``LinearLayer`` s (W x + b and W h + b per gate r z n), then
``ThreadingLayer`` s of two inputs each (the paclet threads custom functions over two) and a ``TotalLayer``:
h' = (1 - z) m + z h, m = tanh(x_n + r (W_hn h + b_hn)), r, z = sigmoid(x_. + h_.) - torch's equations.
The fold's layout is :mod:`.layers_fold`'s.
"""
from __future__ import annotations

import numpy as np

from ...ir import Net, NetBuilder
from .expr import call

A1, A2 = ("arg", 1), ("arg", 2)
SIGMOID_SUM = ("sigmoid", ("add", A1, A2))


def needs_fold(L) -> bool:
    """A torch-form GRU whose memory gate has a recurrent bias (no ``GatedRecurrentLayer`` form)."""
    bh = L.params.get("bias_hh")
    n = int(L.attrs["hidden"])
    return L.op == "gru" and L.attrs.get("linear_before_reset", True) and bh is not None \
        and bool(np.any(np.asarray(bh)[2 * n:]))


def gru_cell_net(L, k: int) -> Net:
    """The exact one-step torch GRU cell: Input {k}, State {n} -> the next state {n}."""
    n = int(L.attrs["hidden"])
    p = {name: np.asarray(v) for name, v in L.params.items() if v is not None}
    dt = p["weight_ih"].dtype
    zero = np.zeros(3 * n, dt)
    b = NetBuilder("gru_cell")
    x, h = b.input("Input", (k,)), b.input("State", (n,))

    def gates(v, w, bias):
        return [b.layer("linear", [v], params={"weight": w[g * n:(g + 1) * n], "bias": bias[g * n:(g + 1) * n]})
                for g in range(3)]

    (xr, xz, xn), (hr, hz, hn) = gates(x, p["weight_ih"], p.get("bias_ih", zero)), \
        gates(h, p["weight_hh"], p.get("bias_hh", zero))
    fn = lambda body, u, v: b.layer("scalar_fn", [u, v], attrs={"body": body})  # noqa: E731
    r, z = fn(SIGMOID_SUM, xr, hr), fn(SIGMOID_SUM, xz, hz)
    m = fn(("tanh", ("add", A1, A2)), xn, b.layer("mul", [r, hn]))
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
