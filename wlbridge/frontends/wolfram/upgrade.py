"""Old net associations rewritten to the current key names, as Wolfram's upgraders do.

Only renames that the IR conversion depends on: 11.0 containers used ``"Vertices"``/``"Layers"`` and
``"Connections"`` instead of ``"Nodes"`` and ``"Edges"``. Layer-level changes (``DotPlus`` ->
``Linear``, ``Gamma``/``Beta`` -> ``Scaling``/``Biases``, vector padding, ``$GroupNumber``,
``ListT`` tuple edges, ``ChannelT``, bare elementwise functions) are read directly by the rules.

>>> upgrade({"Type": "Chain", "Vertices": {"1": {"Type": "Flatten"}}, "Connections": []}, "demo")
{'Type': 'Chain', 'Nodes': {'1': {'Type': 'Flatten'}}, 'Edges': []}
"""
from __future__ import annotations

from ...errors import FormatError
from .compress import MAX_DEPTH
from .expr import Expr, head_name

RENAMES = {"Vertices": "Nodes", "Layers": "Nodes", "Connections": "Edges"}


def _rename_paths(x):
    """``NetPath["Vertices", ...]`` -> ``NetPath["Nodes", ...]`` inside one edge."""
    if isinstance(x, list):
        return [_rename_paths(a) for a in x]
    if head_name(x) == "NetPath":
        return Expr(x.head, tuple(RENAMES.get(a, a) if isinstance(a, str) else a for a in x.args))
    if head_name(x) in ("Rule", "RuleDelayed"):
        return Expr(x.head, tuple(_rename_paths(a) for a in x.args))
    return x


def upgrade(node, source: str, depth: int = 0):
    """A copy of ``node`` with container keys renamed, recursively (Function nets included)."""
    if depth > MAX_DEPTH:
        raise FormatError(f"{source}: the net is nested deeper than {MAX_DEPTH}")
    if not isinstance(node, dict):
        return node
    kind = node.get("Type")
    if not isinstance(kind, str):  # the converter reports it, with the node's path
        return node
    if kind in ("Chain", "Graph"):
        node = {RENAMES.get(k, k) if isinstance(k, str) else k: v for k, v in node.items()}
        if isinstance(node.get("Edges"), list):
            node["Edges"] = [_rename_paths(e) for e in node["Edges"]]
        if isinstance(node.get("Nodes"), dict):
            node["Nodes"] = {k: upgrade(v, source, depth + 1) for k, v in node["Nodes"].items()}
    elif kind == "Function" and isinstance(node.get("Parameters"), dict) and "Net" in node["Parameters"]:
        params = dict(node["Parameters"])
        params["Net"] = upgrade(params["Net"], source, depth + 1)
        node = {**node, "Parameters": params}
    return node
