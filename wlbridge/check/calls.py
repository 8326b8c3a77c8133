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


def syntax_error(code: str) -> str | None:
    """Where ``code`` stops being WL, in its own lines and columns (Mathics3's parser), or None when it parses
    (or Mathics3 is not installed: the engines then report what they find).

    >>> syntax_error("Function[{x},\\n  x +* 2]")  # doctest: +SKIP
    "line 2, column 6: near '  x +* 2]'"
    """
    try:
        from mathics.core.parser.parser import Parser
        from mathics_scanner.errors import IncompleteSyntaxError
        from mathics_scanner.errors import SyntaxError as WLSyntaxError
        from mathics_scanner.feed import MultiLineFeeder
    except ImportError:
        return None
    parser = Parser()
    try:
        parser.parse(MultiLineFeeder(code, "<code>"))
    except IncompleteSyntaxError:
        return "incomplete input (a bracket or string is not closed)"
    except WLSyntaxError as e:
        pos = e.args[0] if e.args and isinstance(e.args[0], int) else parser.tokeniser.pos
        return _where(code, pos)
    except Exception:  # noqa: BLE001 - a parser that fails in its own way is no verdict on the code
        return None
    return None


def _where(code: str, pos: int) -> str:
    line = code.count("\n", 0, pos) + 1
    start = code.rfind("\n", 0, pos) + 1
    end = code.find("\n", pos)
    text = code[start:end if end >= 0 else len(code)]
    return f"line {line}, column {pos - start + 1}: near {text[max(0, pos - start - 30):pos - start + 30]!r}"
