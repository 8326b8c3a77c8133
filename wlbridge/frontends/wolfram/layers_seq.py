"""Sequence layers of Wolfram nets -> IR recurrent ops and ``take``.

Array names and equations are Wolfram's documentation (reference.wolfram.com, "Details" of each
layer) and the layer definition files of the public NeuralNetworks paclet; no real ``.wlnet`` with
these layers was available (wlnet-format.md §4), so the layouts are from documentation only:

- ``LongShortTermMemory``: ``{Input,Output,Forget,Memory}Gate{Input,State}Weights`` ``{n, k}`` / ``{n, n}``
  and ``...GateBiases`` ``{n}``; c = f c + i m, s = o Tanh[c] (torch's i f g o with g = Memory and one
  bias per gate).
- ``GatedRecurrent``: ``{Input,Reset,Memory}Gate...``; m = Tanh[W_mx x + r (W_ms s) + b_m],
  s = (1 - i) m + i s: torch's GRU with z = Input gate and no recurrent bias of the memory gate.
- ``BasicRecurrent``: ``InputWeights``, ``StateWeights``, ``Biases``; s = Tanh[W_x x + W_s s + b].
- ``SequenceLast``: the last element; ``NetMapOperator`` (type ``"NetMap"``: the paclet's definition file
  declares ``Suffix: "Operator"``; also read as ``NetMapOperator`` or ``MapOperator``; the inner net under
  ``Parameters``/``Net`` as its ``SubNets`` are exported, or ``Nodes``/``Net``): the inner net on each step,
  and a mapped vector ``LinearLayer`` one ``linear`` on the last axis.
"""
from __future__ import annotations

import numpy as np

from .layers import _in_dims, _one, _out_dims, _params, _unwrap, rule
from .netassoc import _Unsupported, convert_node

LSTM_GATES = ("InputGate", "ForgetGate", "MemoryGate", "OutputGate")  # torch order i f g o
GRU_GATES = ("ResetGate", "InputGate", "MemoryGate")  # torch order r z n


def _stacked(ctx, node, path, gates):
    get = lambda suffix: np.concatenate([ctx.array(node, g + suffix, path) for g in gates])  # noqa: E731
    return {"weight_ih": get("InputWeights"), "weight_hh": get("StateWeights"), "bias_ih": get("Biases")}


def _check_states(node):
    extra = [p for p in node.get("Inputs", {}) if p != "Input"] + [p for p in node.get("Outputs", {}) if p != "Output"]
    if extra:
        raise _Unsupported(f"state ports {extra} (only the default zero initial state and the Output port)")


@rule("LongShortTermMemory")
def _lstm(ctx, node, path, inputs):
    _check_states(node)
    p = _stacked(ctx, node, path, LSTM_GATES)
    return ctx.builder.layer("lstm", [_one(ctx, node, path, inputs)], params=p, path=path,
                             attrs={"hidden": p["weight_hh"].shape[1], "reverse": False, "output": "sequence"})


@rule("GatedRecurrent")
def _gru(ctx, node, path, inputs):
    _check_states(node)
    p = _stacked(ctx, node, path, GRU_GATES)
    return ctx.builder.layer("gru", [_one(ctx, node, path, inputs)], params=p, path=path,
                             attrs={"hidden": p["weight_hh"].shape[1], "reverse": False, "output": "sequence",
                                    "linear_before_reset": True})


ACTIVATIONS = {"Tanh": "tanh", "Ramp": "relu"}


@rule("BasicRecurrent")
def _rnn(ctx, node, path, inputs):
    _check_states(node)
    act = _unwrap(_params(node).get("Activation"))
    name = getattr(act, "name", "Tanh") if act is not None else "Tanh"
    if name not in ACTIVATIONS:
        raise _Unsupported(f"activation {name} (only Tanh or Ramp)")
    p = {"weight_ih": ctx.array(node, "InputWeights", path), "weight_hh": ctx.array(node, "StateWeights", path),
         "bias_ih": ctx.array(node, "Biases", path, required=False)}
    return ctx.builder.layer("rnn", [_one(ctx, node, path, inputs)], params=p, path=path,
                             attrs={"hidden": p["weight_hh"].shape[1], "reverse": False, "output": "sequence",
                                    "activation": ACTIVATIONS[name]})


@rule("SequenceLast")
def _sequence_last(ctx, node, path, inputs):
    n = _in_dims(ctx, node, path)[0]
    return ctx.builder.layer("take", [_one(ctx, node, path, inputs)], attrs={"axis": 0, "indices": n - 1}, path=path)


@rule("NetMap", "NetMapOperator", "MapOperator")
def _map(ctx, node, path, inputs):
    """The inner net applied to each step (unrolled), the results stacked on a new first axis."""
    x = _one(ctx, node, path, inputs)
    inner = _inner_net(ctx, node, path)
    linear = _mapped_linear(ctx, inner, f"{path}/Net", x)
    if linear is not None:
        return linear
    n = _in_dims(ctx, node, path)[0]
    rows = []
    for t in range(n):
        xt = ctx.builder.layer("take", [x], attrs={"axis": 0, "indices": t}, path=path)
        outs = convert_node(ctx, inner, f"{path}/Net", {p: xt for p in inner.get("Inputs", {"Input": None})})
        (y,) = outs.values()
        if y is None:
            raise _Unsupported("the mapped net is not supported")
        rows.append(y)
    shape = _step_shape(ctx, inner, path)
    rows = [ctx.builder.layer("reshape", [r], attrs={"shape": (1, *shape)}, path=path) for r in rows]
    return rows[0] if len(rows) == 1 else ctx.builder.layer("concat", rows, attrs={"axis": 0}, path=path)


def _inner_net(ctx, node, path) -> dict:
    inner = (node.get("Nodes") or {}).get("Net") or _params(node).get("Net")
    if not isinstance(inner, dict):
        ctx.fail(path, f"{node.get('Type')} without an inner net")
    return inner


def _mapped_linear(ctx, inner, path, x):
    """A (nested) map of a vector ``LinearLayer`` is one IR ``linear`` on the last axis, not an unrolled loop."""
    while inner.get("Type") in ("NetMap", "NetMapOperator", "MapOperator"):
        inner, path = _inner_net(ctx, inner, path), f"{path}/Net"
    if inner.get("Type") != "Linear" or len(_in_dims(ctx, inner, path)) != 1 \
            or len(_out_dims(ctx, inner, path)) != 1:
        return None
    w = ctx.array(inner, "Weights", path)
    if w.shape != (_out_dims(ctx, inner, path)[0], _in_dims(ctx, inner, path)[0]):
        ctx.fail(path, f"Weights shape {list(w.shape)} disagrees with the layer's ports")
    b = ctx.array(inner, "Biases", path, required=False)
    return ctx.builder.layer("linear", [x], params={"weight": w, "bias": b}, path=path)


def _step_shape(ctx, inner, path):
    from .netassoc import port_dims

    return port_dims(ctx, next(iter(inner["Outputs"].values())), path)


@rule("SequenceReverse")
def _sequence_reverse(ctx, node, path, inputs):
    n = _in_dims(ctx, node, path)[0]
    return ctx.builder.layer("take", [_one(ctx, node, path, inputs)],
                             attrs={"axis": 0, "indices": list(range(n - 1, -1, -1))}, path=path)
