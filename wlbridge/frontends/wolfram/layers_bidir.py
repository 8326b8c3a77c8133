"""``NetBidirectionalOperator`` and the sequence-edit layers of Wolfram nets -> IR.

Layouts from the public NeuralNetworks paclet's layer definition files and Wolfram's documentation (no real
``.wlnet`` with these layers was available):

- ``NetBidirectionalOperator[{fwd, bwd}, agg]``: type ``"NetBidirectional"`` (definition file
  ``NetBidirectionalOperator`` with ``Suffix: "Operator"``), the sub-nets under ``Parameters`` /
  ``"ForwardNet"`` and ``"BackwardNet"``, ``"Aggregation"`` one of ``Catenate`` (the default), ``Total``,
  ``Mean``. The forward net runs on the sequence, the backward net on the reversed sequence and, when the
  output is a sequence (``$SequentialOutput``), its output is reversed back; ``Catenate`` joins them on the
  level after the sequence level (the first level otherwise). A backward net that is one recurrent layer is
  read as that layer with ``reverse=True`` (torch's bidirectional layout: the same IR).
- ``SequenceMost`` / ``SequenceRest``: all but the last / the first element (an IR ``slice`` on axis 0).
- ``Append`` / ``Prepend``: ports ``"Input"`` (a sequence) and ``"Element"`` (one element), WL's
  ``Append[in, elem]`` / ``Prepend[in, elem]`` (a ``reshape`` and a ``concat`` on axis 0).
"""
from __future__ import annotations

from dataclasses import replace

from .expr import head_name, is_symbol
from .inputform import to_inputform
from .layers import _in_dims, _one, _params, _unwrap, rule
from .netassoc import _Unsupported, convert_node, port_dims

RECURRENT = ("LongShortTermMemory", "GatedRecurrent", "BasicRecurrent")
AGGREGATIONS = ("Catenate", "Total", "Mean")


def _sub_net(ctx, node, path, key) -> dict:
    sub = _params(node).get(key) or (node.get("Nodes") or {}).get(key)
    if not isinstance(sub, dict):
        ctx.fail(path, f"{node.get('Type')} without a {key!r} net")
    return sub


def _aggregation(node) -> str:
    agg = _unwrap(_params(node).get("Aggregation", "Catenate"))
    name = agg if isinstance(agg, str) else getattr(agg, "name", None)
    if name not in AGGREGATIONS:
        raise _Unsupported(f"Aggregation {to_inputform(agg)[:40]} (only Catenate, Total or Mean)")
    return name


def _sequential(ctx, node, fwd, path) -> bool:
    """``$SequentialOutput``, or the paclet's rule: a LengthVar first dimension, else rank >= 2 and >= the input's."""
    given = _params(node).get("$SequentialOutput")
    if is_symbol(given, "True") or is_symbol(given, "False"):
        return is_symbol(given, "True")
    t = next(iter((fwd.get("Outputs") or {None: None}).values()))
    if head_name(t) == "TensorT" and t.args and isinstance(t.args[0], list) and t.args[0] \
            and head_name(t.args[0][0]) == "LengthVar":
        return True
    out = port_dims(ctx, t, path)
    return len(out) >= 2 and len(out) >= len(_in_dims(ctx, node, path))


def _run(ctx, sub, path, x):
    outs = convert_node(ctx, sub, path, dict.fromkeys(sub.get("Inputs") or {"Input": None}, x))
    if len(outs) != 1:
        ctx.fail(path, f"sub-net with {len(outs)} outputs")
    (y,) = outs.values()
    if y is None:
        raise _Unsupported("the sub-net is not supported")
    return y


def _reverse(ctx, path, v, n):
    return ctx.builder.layer("take", [v], attrs={"axis": 0, "indices": list(range(n - 1, -1, -1))}, path=path)


def _backward(ctx, bwd, path, x, n, seq):
    """The backward net on the reversed sequence, its output reversed back (for a sequence output)."""
    if bwd.get("Type") in RECURRENT and seq:
        y = _run(ctx, bwd, path, x)
        layers = ctx.builder._layers
        L = layers[-1]
        if L.output == y and L.op in ("lstm", "gru", "rnn") and L.inputs == (x,) and not L.attrs.get("reverse"):
            layers[-1] = replace(L, attrs={**L.attrs, "reverse": True})  # = reverse, run, reverse
            return y
        ctx.fail(path, "a recurrent layer did not convert to one recurrent op")
    y = _run(ctx, bwd, path, _reverse(ctx, path, x, n))
    return _reverse(ctx, path, y, n) if seq else y


@rule("NetBidirectional", "NetBidirectionalOperator", "BidirectionalOperator")
def _bidirectional(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    fwd, bwd = _sub_net(ctx, node, path, "ForwardNet"), _sub_net(ctx, node, path, "BackwardNet")
    agg = _aggregation(node)
    n = _in_dims(ctx, node, path)[0]
    seq = _sequential(ctx, node, fwd, path)
    f = _run(ctx, fwd, f"{path}/Parameters/ForwardNet", x)
    b = _backward(ctx, bwd, f"{path}/Parameters/BackwardNet", x, n, seq)
    layer = ctx.builder.layer
    if agg == "Catenate":
        return layer("concat", [f, b], attrs={"axis": 1 if seq else 0}, path=path)
    total = layer("add", [f, b], path=path)
    if agg == "Total":
        return total
    return layer("mul", [total, ctx.builder.constant(0.5, path=path)], path=path)


def _drop(ctx, node, path, inputs, first: bool):
    dims = _in_dims(ctx, node, path)
    if not dims or dims[0] < 2:
        ctx.fail(path, f"{node.get('Type')} needs a sequence of length 2 or more, got dimensions {list(dims)}")
    starts = [1 if first else 0] + [0] * (len(dims) - 1)
    stops = [dims[0] if first else dims[0] - 1, *dims[1:]]
    return ctx.builder.layer("slice", [_one(ctx, node, path, inputs)], path=path,
                             attrs={"starts": starts, "stops": stops, "steps": [1] * len(dims)})


@rule("SequenceMost")
def _sequence_most(ctx, node, path, inputs):
    return _drop(ctx, node, path, inputs, first=False)


@rule("SequenceRest")
def _sequence_rest(ctx, node, path, inputs):
    return _drop(ctx, node, path, inputs, first=True)


def _join_element(ctx, node, path, inputs, at_end: bool):
    if sorted(inputs) != ["Element", "Input"] or any(isinstance(v, list) for v in inputs.values()):
        ctx.fail(path, f"{node.get('Type')} layer with input ports {list(inputs)} (expected Input and Element)")
    dims = port_dims(ctx, node["Inputs"]["Input"], path)
    if not dims or tuple(port_dims(ctx, node["Inputs"]["Element"], path)) != tuple(dims[1:]):
        ctx.fail(path, f"{node.get('Type')}: the Element is not one element of the Input {list(dims)}")
    e = ctx.builder.layer("reshape", [inputs["Element"]], attrs={"shape": (1, *dims[1:])}, path=path)
    parts = [inputs["Input"], e] if at_end else [e, inputs["Input"]]
    return ctx.builder.layer("concat", parts, attrs={"axis": 0}, path=path)


@rule("Append")
def _append(ctx, node, path, inputs):
    return _join_element(ctx, node, path, inputs, at_end=True)


@rule("Prepend")
def _prepend(ctx, node, path, inputs):
    return _join_element(ctx, node, path, inputs, at_end=False)
