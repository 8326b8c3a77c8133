"""Wolfram's ``AttentionLayer`` (layer ``"Type" -> "Attention"``) -> IR ``batch_matmul``/``softmax`` parts.

The layout below comes from Wolfram's documentation and a public copy of the NeuralNetworks paclet's
``AttentionLayer`` definition (a 12.x one: it has a ``"12.0.0"`` upgrader); it was **not confirmed on a
real file** (no public ``.wlnet`` holds an attention layer). [DOC] is
https://reference.wolfram.com/language/ref/AttentionLayer.html; the type name ``"Attention"`` follows the
paclet's naming of the other layers (``LinearLayer`` -> ``"Linear"``) [UNVERIFIED].

- Ports [CODE]: inputs ``"Key"`` ``{d1..dn, k}``, ``"Value"`` ``{d1..dn, v}``, ``"Query"`` ``{q1..qm, q}``
  (``m`` may be 0: one query vector); with ``"$InputPorts" -> "InputQuery"`` (the historical form) one
  ``"Input"`` port is both key and value. Output ``"Output"`` ``{q1..qm, v}``. The attention weights are
  a metric of the layer, not an output port [CODE].
- Parameters [CODE]: ``"ScoringNet"`` (a net association; ``"Dot"`` is a ``Graph`` with one ``Dot`` node fed
  by ``{Query, Input}``; the default ``"Bilinear"`` adds a trainable ``Linear`` on the key), ``"Mask"``
  (``None`` | ``"Causal"``), ``"ScoreRescaling"`` (``None`` | ``"LengthSqrt"``), hidden ``"$InputPorts"``,
  ``"$InputShape"``, ``"$QueryShape"``, ``"$KeyChannels"``, ... [DOC] adds ``"Dropout"`` (of the weights),
  ``"MultiHead"`` (the penultimate dimension indexes the heads) and a local ``"Causal" -> n`` mask.
- Math [CODE]: scores ``s[i, j] = q_i . k_j`` over the flattened query and key positions; ``"LengthSqrt"``
  divides them by ``Sqrt[number of key positions]``, with the causal mask by ``Sqrt[i]`` for the i-th
  (1-based) query; ``"Causal"`` (query and key positions equal, one axis) drops keys ``j > i``;
  softmax over the keys; output ``sum_j w[i, j] v_j``.
- [3RD] a public third-party WL converter reading real layers (GPT-2 from the Wolfram Neural Net
  Repository) with ``NetExtract``: ports in the order Key, Value, Query; parameters ``"MultiHead"``,
  ``"Mask" -> "Causal"``, ``"ScoreRescaling" -> "DimensionSqrt"`` (divide by ``Sqrt[k]``, the key channels
  per head) and ``"$QueryShape" -> {length, heads}``: multi-head inputs are ``{positions.., heads, channels}``,
  attention per head. [UNVERIFIED] how these appear in a stored association (read here as above).

Supported: the ``"Dot"`` scoring net and ``"Bilinear"`` (its ``Linear`` node's ``Weights`` ``{query channels,
key channels}`` map the keys, no biases: s = q . (W k)), no or either rescaling, ``"Causal"`` or no mask, single or multi
head; dropout is the identity at inference. Anything else is reported unsupported.
"""
from __future__ import annotations

import math

import numpy as np

from .expr import is_symbol
from .inputform import to_inputform
from .layers import PRECHECKS, _params, _unwrap, rule
from .netassoc import _Unsupported, port_dims

RESCALINGS = (None, "LengthSqrt", "DimensionSqrt")


def _option(p: dict, name: str):
    """A string option, or None for a missing / ``None`` / ``Automatic`` value."""
    v = _unwrap(p.get(name))
    return None if v is None or is_symbol(v, "None") or is_symbol(v, "Automatic") else v


def _is_dot_net(net) -> bool:
    """The ``"Dot"`` scoring net: a Graph whose only node is a ``Dot`` layer (or the bare string)."""
    if net == "Dot":
        return True
    nodes = net.get("Nodes") if isinstance(net, dict) and net.get("Type") == "Graph" else None
    return isinstance(nodes, dict) and len(nodes) == 1 and \
        isinstance(node := next(iter(nodes.values())), dict) and node.get("Type") == "Dot"


def _bilinear_node(net):
    """The ``Linear`` node of the ``"Bilinear"`` scoring net (``Linear`` on the key, then ``Dot`` with the
    query; no biases), else None."""
    nodes = net.get("Nodes") if isinstance(net, dict) and net.get("Type") == "Graph" else None
    if not isinstance(nodes, dict) or len(nodes) != 2:
        return None
    kinds = {n.get("Type"): n for n in nodes.values() if isinstance(n, dict)}
    if set(kinds) != {"Linear", "Dot"}:
        return None
    bias = (kinds["Linear"].get("Arrays") or {}).get("Biases")
    return kinds["Linear"] if bias is None or is_symbol(bias, "None") else None


def _settings(node) -> tuple[str | None, bool, bool]:
    """(rescaling, causal, multi_head), or _Unsupported naming the first setting with no IR form."""
    p = _params(node)
    extra = [o for o in node.get("Outputs", {}) if o != "Output"]
    if extra:
        raise _Unsupported(f"output ports {extra} (only \"Output\"; the attention weights are not read)")
    net = _unwrap(p.get("ScoringNet", "Dot"))
    if not _is_dot_net(net) and _bilinear_node(net) is None:
        kinds = sorted({n.get("Type") for n in (net.get("Nodes") or {}).values() if isinstance(n, dict)}) \
            if isinstance(net, dict) and isinstance(net.get("Nodes"), dict) else [to_inputform(net)[:40]]
        raise _Unsupported(f"ScoringNet with {kinds} (only the \"Dot\" and \"Bilinear\" scoring nets; custom "
                           "scoring nets are not supported)")
    rescale = _option(p, "ScoreRescaling")
    if rescale not in RESCALINGS:
        raise _Unsupported(f"ScoreRescaling -> {to_inputform(rescale)[:40]} (only None, \"LengthSqrt\", "
                           "\"DimensionSqrt\")")
    mask = _option(p, "Mask")
    if mask not in (None, "Causal"):
        raise _Unsupported(f"Mask -> {to_inputform(mask)[:40]} (only None or \"Causal\")")
    multi = _unwrap(p.get("MultiHead"))
    return rescale, mask == "Causal", multi is True or is_symbol(multi, "True")


def _check(ctx, node, path):
    _settings(node)


PRECHECKS["Attention"] = _check


def _ports(ctx, node, path, inputs) -> dict:
    """{"Key", "Value", "Query"} -> (IR value, dims); the ``"Input"`` port serves as key and value."""
    names = ("Input", "Query") if "Input" in inputs else ("Key", "Value", "Query")
    if set(inputs) != set(names):
        ctx.fail(path, f"Attention layer ports {sorted(inputs)}: expected {list(names)}")
    if any(isinstance(v, list) for v in inputs.values()):
        ctx.fail(path, "an Attention port is fed a list of sources")
    got = {n: (inputs[n], port_dims(ctx, node["Inputs"][n], path)) for n in names}
    if "Input" in got:
        got["Key"] = got["Value"] = got.pop("Input")
    return got


def _to_heads(ctx, path, x, dims, heads: int | None):
    """``{positions.., c}`` -> ``{P, c}``; multi-head ``{positions.., h, c}`` -> ``{h, P, c}``."""
    b = ctx.builder
    if heads is None:
        return b.layer("reshape", [x], attrs={"shape": (math.prod(dims[:-1]), dims[-1])}, path=path)
    y = b.layer("reshape", [x], attrs={"shape": (math.prod(dims[:-2]), heads, dims[-1])}, path=path)
    return b.layer("transpose", [y], attrs={"perm": (1, 0, 2)}, path=path)


def _shapes(ctx, path, ports, multi: bool, bilinear: bool):
    (_, kd), (_, vd), (_, qd) = ports["Key"], ports["Value"], ports["Query"]
    least = 3 if multi else 2
    if len(kd) < least or len(vd) < least or len(qd) < least - 1:
        ctx.fail(path, f"Attention shapes Key {list(kd)}, Value {list(vd)}, Query {list(qd)}: too few axes")
    lead = -2 if multi else -1
    if kd[:lead] != vd[:lead] or (kd[-1] != qd[-1] and not bilinear) or (multi and not kd[-2] == vd[-2] == qd[-2]):
        ctx.fail(path, f"Attention shapes Key {list(kd)}, Value {list(vd)}, Query {list(qd)} do not fit together")
    return kd, vd, qd, (kd[-2] if multi else None)


def _rescale(ctx, path, scores, rescale, causal, n_keys, n_queries, k):
    if rescale is None:
        return scores
    if rescale == "DimensionSqrt":
        d = np.array(math.sqrt(k))
    elif causal:
        d = np.sqrt(np.arange(1, n_queries + 1, dtype=np.float64)).reshape(n_queries, 1)
    else:
        d = np.array(math.sqrt(n_keys))
    return ctx.builder.layer("div", [scores, ctx.builder.constant(d, path=path)], path=path)


@rule("Attention")
def _attention(ctx, node, path, inputs):
    rescale, causal, multi = _settings(node)
    ports = _ports(ctx, node, path, inputs)
    lin = _bilinear_node(_unwrap(_params(node).get("ScoringNet", "Dot")))
    kd, vd, qd, heads = _shapes(ctx, path, ports, multi, lin is not None)
    b, rank = ctx.builder, 3 if multi else 2
    qdims = ((1,) + qd) if len(qd) == rank - 1 else qd  # one query vector (per head): one position
    n_keys, n_queries = math.prod(kd[:1 - rank]), math.prod(qdims[:1 - rank])  # positions (not heads, channels)
    if causal and (len(kd) != rank or qdims[:-1] != kd[:-1]):
        ctx.fail(path, f"causal Attention needs one position axis shared by Key {list(kd)} and Query {list(qd)}")
    if lin is not None:  # s = q . (W k): W {query channels, key channels} maps the keys first
        w = ctx.array(lin, "Weights", f"{path}/Parameters/ScoringNet/Nodes/Linear")
        if w.shape != (qd[-1], kd[-1]):
            ctx.fail(path, f"Bilinear scoring Weights {list(w.shape)} do not map Key channels {kd[-1]} to "
                           f"Query channels {qd[-1]}")
        ports["Key"] = (b.layer("linear", [ports["Key"][0]], params={"weight": w}, path=path), kd[:-1] + qd[-1:])
        kd = ports["Key"][1]
    k = _to_heads(ctx, path, ports["Key"][0], kd, heads)
    v = _to_heads(ctx, path, ports["Value"][0], vd, heads)
    q = _to_heads(ctx, path, ports["Query"][0], qdims, heads)
    kt = b.layer("transpose", [k], attrs={"perm": tuple(range(rank - 2)) + (rank - 1, rank - 2)}, path=path)
    scores = b.layer("batch_matmul", [q, kt], path=path)
    scores = _rescale(ctx, path, scores, rescale, causal, n_keys, n_queries, kd[-1])
    if causal:
        mask = np.where(np.tri(n_queries, n_keys, dtype=bool), 0.0, -np.inf)
        scores = b.layer("add", [scores, b.constant(mask, path=path)], path=path)
    w = b.layer("softmax", [scores], attrs={"axis": -1}, path=path)
    out = b.layer("batch_matmul", [w, v], path=path)  # {P, v} or {h, P, v}
    if multi:
        out = b.layer("transpose", [out], attrs={"perm": (1, 0, 2)}, path=path)
    shape = qd[:-1] + (vd[-1],)
    return b.layer("reshape", [out], attrs={"shape": shape}, path=path)
