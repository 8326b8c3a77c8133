"""Writers for the sequence ops (registered in ``netwriter.WRITERS``): recurrent layers as
``LongShortTermMemory`` / ``GatedRecurrent`` / ``BasicRecurrent`` nodes with the array names and
parameters of Wolfram's layer definitions (see :mod:`.layers_seq`); a reversed direction is a chain
``SequenceReverse`` -> layer -> ``SequenceReverse`` and a final state a chain ending in ``SequenceLast``.
"""
from __future__ import annotations

import numpy as np

from .expr import Symbol, call
from .layers_seq import GRU_GATES, LSTM_GATES
from .netwriter import T, _Skip, layer, ports, writer
from .netwriter_fold import fold_node, needs_fold

TYPES = {"lstm": "LongShortTermMemory", "gru": "GatedRecurrent", "rnn": "BasicRecurrent"}


def _split(a, n: int, gates) -> dict:
    return {g: a[k * n:(k + 1) * n] for k, g in enumerate(gates)}


def _arrays(L, n: int) -> dict:
    p = {k: np.asarray(v) for k, v in L.params.items()}
    g = {"lstm": 4, "gru": 3, "rnn": 1}[L.op]
    dt = p["weight_ih"].dtype
    bi = p.get("bias_ih", np.zeros(g * n, dt))
    bh = p.get("bias_hh", np.zeros(g * n, dt))
    if L.op == "rnn":
        return {"InputWeights": p["weight_ih"], "StateWeights": p["weight_hh"], "Biases": bi + bh}
    if L.op == "gru":
        if not L.attrs.get("linear_before_reset", True):
            raise _Skip("GRU with linear_before_reset=0 has no GatedRecurrentLayer form")
        if np.any(bh[2 * n:]):
            raise _Skip("GRU with a recurrent bias of the memory gate (torch's b_hn) has no GatedRecurrentLayer "
                        "form (written alone, it is a NetFoldOperator)")
        bias = np.concatenate([bi[:2 * n] + bh[:2 * n], bi[2 * n:]])
        gates = GRU_GATES
    else:
        bias, gates = bi + bh, LSTM_GATES
    wi, wh, b = (_split(a, n, gates) for a in (p["weight_ih"], p["weight_hh"], bias))
    order = ("InputGate", "OutputGate", "ForgetGate", "MemoryGate") if L.op == "lstm" else \
        ("InputGate", "ResetGate", "MemoryGate")  # the definition files' order (ExportedArray numbering)
    out = {}
    for gname in order:
        out.update({gname + "InputWeights": wi[gname], gname + "StateWeights": wh[gname], gname + "Biases": b[gname]})
    return out


def _cell(L, seq) -> dict:
    t, k = seq
    n = int(L.attrs["hidden"])
    params = {"OutputSize": n, "Dropout": Symbol("None"), "$InputSize": k, "$SequenceLength": t}
    if L.op == "lstm":
        params["$CellStateConnectedQ"] = Symbol("False")
    if L.op == "rnn" and L.attrs.get("activation", "tanh") != "tanh":
        params["Activation"] = call("ValidatedParameter", Symbol("Ramp"))
    node = layer(TYPES[L.op], _arrays(L, n), params, [seq], (t, n))
    node["States"] = {"State": T((n,)), **({"CellState": T((n,))} if L.op == "lstm" else {})}
    return node


def _reverse(dims) -> dict:
    return layer("SequenceReverse", {}, {"$Length": dims[0]}, [dims], dims)


def _last(dims) -> dict:
    return layer("SequenceLast", {}, {"$Length": dims[0]}, [dims], dims[1:])


def _chain(nodes: list, ins, out) -> dict:
    names = [str(i + 1) for i in range(len(nodes))]
    edges, prev = [], call("NetPath", "Inputs", "Input")
    for name in names:
        edges.append(call("Rule", call("NetPath", "Nodes", name, "Inputs", "Input"), prev))
        prev = call("NetPath", "Nodes", name, "Outputs", "Output")
    edges.append(call("Rule", call("NetPath", "Outputs", "Output"), prev))
    return {"Type": "Chain", "Nodes": dict(zip(names, nodes)), "Edges": edges,
            "Inputs": {"Input": T(ins[0])}, "Outputs": {"Output": T(out)}}


@writer("lstm", "gru", "rnn")
def _recurrent(L, ins, out):
    seq = tuple(ins[0])
    kind = L.attrs.get("output", "sequence")
    if kind == "cell":
        raise _Skip("the final cell state has no LongShortTermMemoryLayer output port here")
    nodes = [fold_node(L, seq) if needs_fold(L) else _cell(L, seq)]  # torch's GRU with b_hn: NetFoldOperator
    res = (seq[0], int(L.attrs["hidden"]))
    if L.attrs.get("reverse"):  # the final state of the reversed run is its last output
        nodes = [_reverse(seq), nodes[0]] + ([] if kind == "last" else [_reverse(res)])
    if kind == "last":
        nodes.append(_last(res))
    return nodes[0] if len(nodes) == 1 else _chain(nodes, ins, out)


@writer("take")
def _take(L, ins, out):
    dims, idx, axis = tuple(ins[0]), L.attrs["indices"], L.attrs.get("axis", 0) % len(ins[0])
    if axis == 0 and idx == dims[0] - 1:
        return _last(dims)
    if axis == 0 and isinstance(idx, list) and idx == list(range(dims[0] - 1, -1, -1)):
        return _reverse(dims)
    n = dims[axis]
    at = int(idx) % n + 1 if not isinstance(idx, list) else [int(i) % n + 1 for i in idx]  # WL parts count from 1
    return layer("Part", {}, {"Specification": [Symbol("All")] * axis + [at]}, ins, out)


@writer("slice")
def _slice(L, ins, out):
    """``PartLayer`` with ``All``, a span ``m;;n;;s`` (a rising run) or a list of parts (a falling one) per level."""
    from ...emit._geom import py_slice, slice_spans

    spec = []
    for n, span in zip(ins[0], slice_spans(L)):
        idx = list(range(n))[py_slice(*span)]
        if not idx:
            raise _Skip("an empty slice has no PartLayer form")
        step = span[2]
        if idx == list(range(n)):
            spec.append(Symbol("All"))
        elif step > 0:
            spec.append(call("Span", idx[0] + 1, idx[-1] + 1, *([step] if step != 1 else [])))
        else:
            spec.append([i + 1 for i in idx])
    return layer("Part", {}, {"Specification": spec}, ins, out)


@writer("pad")
def _pad(L, ins, out):
    pads = [[int(lo), int(hi)] for lo, hi in L.attrs["pads"]]
    return layer("Padding", {}, {"PaddingSize": pads, "Padding": float(L.attrs.get("value", 0.0)),
                                 "$Rank": len(ins[0])}, ins, out)


@writer("transpose")
def _transpose(L, ins, out):
    perm = [int(p) for p in L.attrs["perm"]]
    spec = [perm.index(k) + 1 for k in range(len(perm))]  # WL: input level k goes to output level spec[k]
    return layer("Transpose", {}, {"Specification": spec}, ins, out)


def mapped(inner: dict, ins, out) -> dict:
    """``NetMapOperator[inner]`` once per leading axis of ``ins`` beyond ``inner``'s own input rank."""
    rank = len(inner["Inputs"]["Input"].args[0])
    for k in range(len(ins) - rank - 1, -1, -1):
        params = {"Net": inner, "$SequenceLength": int(ins[k]), "$InputShape": inner["Inputs"]["Input"],
                  "$OutputShape": inner["Outputs"]["Output"]}
        inner = {"Type": "NetMap", "Arrays": {}, "Parameters": params, **ports([ins[k:]], out[k:])}
    return inner


@writer("batch_matmul")
def _batch_matmul(L, ins, out):
    """``DotLayer`` of two matrices, mapped over the leading axes by ``NetMapThreadOperator``."""
    a, b = (tuple(int(d) for d in x) for x in ins)
    dot = layer("Dot", {}, {}, [a[-2:], b[-2:]], out[-2:])
    lead = (a[:-2], b[:-2])
    if not any(lead):
        return dot
    if all(lead) and lead[0] != lead[1] or len(lead[0]) != len(out) - 2 and len(lead[1]) != len(out) - 2:
        raise _Skip(f"leading axes {list(lead[0])} and {list(lead[1])} broadcast: NetMapThreadOperator maps "
                    "equal or absent ones")
    depths = [len(d) for d in lead]
    level = depths[0] if depths[0] == depths[1] else {"1": depths[0], "2": depths[1]}
    params = {"Net": dot, "Level": call("ValidatedParameter", level), "$InputNames": ["1", "2"],
              "$OutputNames": ["Output"], "$MappedShape": [int(d) for d in out[:-2]], "$MappedDepth": depths}
    return {"Type": "NetMapThread", "Arrays": {}, "Parameters": params, **ports([a, b], out)}
