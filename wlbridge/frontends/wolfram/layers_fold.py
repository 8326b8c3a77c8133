"""``NetFoldOperator[net]`` of Wolfram nets -> the inner net unrolled over the sequence.

Layout [CODE] from the public NeuralNetworks paclet's definition file of the operator (``Suffix: "Operator"``,
so the type is the file's base name, read as ``"NetFold"`` [UNVERIFIED: the file name was not seen], also
``NetFoldOperator`` / ``FoldOperator``): the inner net under ``Parameters`` / ``"Net"``; ``"Recurrence"``
``ValidatedParameter[{out -> in, ...}]`` (default ``{"Output" -> "State"}``), ``"ConstantPorts"``,
``"OutputPorts"`` and hidden ``$InputNames`` (the mapped inputs), ``$StateNames``, ``$OutputNames``,
``$SequenceLength``; the node's ``"States"`` are the inner net's state inputs. [DOC] (reference page) the
output is the sequence of states s_1 .. s_n, s_i = net[<|"Input" -> x_i, "State" -> s_(i-1)|>], from the zero
state s_0; an initial state fed in a NetGraph (``src -> NetPort[layer, "State"]``) is refused as unsupported.
"""
from __future__ import annotations

import numpy as np

from .expr import head_name
from .inputform import to_inputform
from .layers import _params, _unwrap, rule
from .netassoc import _Unsupported, convert_node, port_dims


def _names(p, key, default) -> list:
    v = p.get(key, default)
    return [v] if isinstance(v, str) else list(v) if isinstance(v, list) else default


def _recurrences(ctx, node, path) -> list:
    """``[(output port, state input port), ...]`` of the inner net."""
    rec = _unwrap(_params(node).get("Recurrence", [["Output", "State"]]))
    rec = rec if isinstance(rec, list) else [rec]
    pairs = []
    for r in rec:
        if head_name(r) == "Rule" and len(r.args) == 2 and all(isinstance(a, str) for a in r.args):
            pairs.append(tuple(r.args))
        elif isinstance(r, list) and len(r) == 2 and all(isinstance(a, str) for a in r):
            pairs.append(tuple(r))
        elif isinstance(r, str):
            pairs.append((r, r))
        else:
            ctx.fail(path, f"bad NetFoldOperator recurrence {to_inputform(r)[:60]}")
    return pairs


def _step(ctx, path, v, t):
    return ctx.builder.layer("take", [v], attrs={"axis": 0, "indices": t}, path=path)


def _ports(ctx, node, path, inputs):
    """The mapped and constant input ports; a fed state port is unsupported (only the zero initial state)."""
    p = _params(node)
    mapped, consts = _names(p, "$InputNames", ["Input"]), _names(p, "ConstantPorts", [])
    fed = [k for k in inputs if k not in mapped and k not in consts]
    if fed:
        raise _Unsupported(f"initial state port(s) {fed} fed (only the default zero initial state)")
    if any(k not in inputs for k in mapped + consts) or not mapped:
        ctx.fail(path, f"NetFoldOperator ports {list(inputs)} disagree with its inputs {mapped + consts}")
    return mapped, consts


def _stack(ctx, path, rows, shape):
    rows = [ctx.builder.layer("reshape", [r], attrs={"shape": (1, *shape)}, path=path) for r in rows]
    return rows[0] if len(rows) == 1 else ctx.builder.layer("concat", rows, attrs={"axis": 0}, path=path)


@rule("NetFold", "NetFoldOperator", "FoldOperator")
def _fold(ctx, node, path, inputs):
    """The inner net once per step (unrolled), its states fed back, its output stacked on a new first axis."""
    from .layers_seq import _inner_net  # layers_seq imports layers, which imports this module

    inner, sub = _inner_net(ctx, node, path), f"{path}/Parameters/Net"
    rec, (mapped, consts) = _recurrences(ctx, node, path), _ports(ctx, node, path, inputs)
    inner_ins = inner.get("Inputs") if isinstance(inner.get("Inputs"), dict) else {}
    if any(s not in inner_ins for _, s in rec):
        ctx.fail(path, f"recurrence {rec} names ports the inner net does not have")
    state = {s: ctx.builder.constant(np.zeros(port_dims(ctx, inner_ins[s], sub)), path=path) for _, s in rec}
    out_port = next(iter(node.get("Outputs") or {"Output": None}))
    rows = []
    for t in range(port_dims(ctx, node["Inputs"][mapped[0]], path)[0]):
        outs = convert_node(ctx, inner, sub, {**{k: _step(ctx, path, inputs[k], t) for k in mapped},
                                              **{k: inputs[k] for k in consts}, **state})
        if any(v is None for v in outs.values()):
            raise _Unsupported("the folded net is not supported")
        if any(o not in outs for o, _ in rec) or out_port not in outs:
            ctx.fail(path, f"the folded net has no output port among {[o for o, _ in rec] + [out_port]}")
        state = {s: outs[o] for o, s in rec}
        rows.append(outs[out_port])
    return _stack(ctx, path, rows, port_dims(ctx, inner["Outputs"][out_port], sub))
