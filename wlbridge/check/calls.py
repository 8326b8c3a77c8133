"""How a given WL ``Function`` wants to be called: ``f[{x1, x2, ...}]`` (list) or ``f[x1, x2, ...]`` (sequence).

>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (3,)); net = b.build([x])
>>> detect_call("Function[{a, b, c}, a + b + c]", net), detect_call("Function[{x}, x]", net)
('sequence', 'list')
>>> function_arity("(* mine *) Function[{x, y}, x y]"), function_arity("Tanh[#] &") is None
(2, True)
"""
from __future__ import annotations

import re

FUNCTION_PARAMS = re.compile(r"\s*(?:\(\*.*?\*\)\s*)*Function\[\s*\{([^{}\[\]]*)\}\s*,", re.S)


def function_arity(code: str) -> int | None:
    """The number of parameters of ``Function[{p1, p2, ...}, body]`` (None for other function forms)."""
    m = FUNCTION_PARAMS.match(code)
    return None if m is None else len([p for p in m.group(1).split(",") if p.strip()])


def detect_call(code: str, net) -> str | None:
    """'list' when the Function takes one parameter per input port, 'sequence' when one per input
    scalar, None when its parameters cannot be read (slot functions ``... &``) or fit neither."""
    n = function_arity(code)
    if n is None:
        return None
    if n == len(net.inputs):
        return "list"
    return "sequence" if n == len(net.input_names) else None
