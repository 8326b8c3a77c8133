"""WL InputForm text of expression trees: a data-only parser (11.0 ``.wlnet`` files) and a printer.

The parser accepts numbers, strings, symbols, ``head[args]``, ``{lists}``, ``<|associations|>``,
``->`` and ``:>`` and nothing else: no operators, no evaluation. The printer writes reals exactly
(shortest round-trip digits, a backtick, ``*^`` exponents) so Woxi, Mathics3 and Wolfram read back
the same doubles.

>>> parse('<|"Type" -> "DotPlus", "Size" -> 3, "Eps" -> 1.`*^-5, "W" -> ExportedArray[1]|>')
{'Type': 'DotPlus', 'Size': 3, 'Eps': 1e-05, 'W': Expr(Symbol('ExportedArray'), [1])}
>>> to_inputform({"a": [1, 0.1, 1e-05, -2.5e+20], "f": Symbol("Tanh")})
'<|"a" -> {1, 0.1`, 1.`*^-5, -2.5`*^20}, "f" -> Tanh|>'
"""
from __future__ import annotations

import math
import re

import numpy as np

from ...emit.wlnumbers import fmt_real, fmt_string
from ... import limits
from ...errors import FormatError
from .compress import MAX_DEPTH, build, parse_real
from .expr import Expr, Symbol

_TOKEN = re.compile(r"""
    (?P<ws>\s+|\(\*.*?\*\))
  | (?P<num>\d+\.?\d*(?:`[\d.]*)?(?:\*\^-?\d+)?|\.\d+(?:`[\d.]*)?(?:\*\^-?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<sym>[A-Za-z$][A-Za-z0-9$`]*)
  | (?P<op>->|:>|<\||\|>|[\[\]{},\-])
""", re.VERBOSE | re.DOTALL)
_ESC = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse(text: str, *, source: str = "<inputform>"):
    """Parse data-only InputForm text into an expression tree (FormatError on anything else)."""
    cap = limits.current().max_text_chars
    if len(text) > cap:
        raise FormatError(f"{source}: InputForm text of {len(text)} characters, more than the {cap} limit "
                          "(WLBRIDGE_MAX_TEXT_CHARS)")
    toks = list(_tokens(text, source))
    p = _Parser(toks, source)
    value = p.expr(0)
    if p.i != len(toks):
        p.fail("unexpected text after the expression")
    return value


def _tokens(text: str, source: str):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FormatError(f"{source}: InputForm: unsupported text {text[pos:pos + 20]!r} at offset {pos}")
        pos = m.end()
        if m.lastgroup != "ws":
            yield m.lastgroup, m.group(), m.start()


class _Parser:
    def __init__(self, toks, source):
        self.toks, self.i, self.source = toks, 0, source

    def fail(self, what):
        at = self.toks[self.i][2] if self.i < len(self.toks) else "end"
        raise FormatError(f"{self.source}: InputForm: {what} at offset {at}")

    def peek(self):
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def next(self):
        if self.i >= len(self.toks):
            self.fail("unexpected end of text")
        self.i += 1
        return self.toks[self.i - 1]

    def expect(self, s):
        if self.next()[1] != s:
            self.i -= 1
            self.fail(f"expected {s!r}")

    def expr(self, depth):
        if depth > MAX_DEPTH:
            self.fail(f"nested deeper than {MAX_DEPTH}")
        lhs = self.primary(depth)
        if self.peek() in ("->", ":>"):
            op = self.next()[1]
            return Expr(Symbol("Rule" if op == "->" else "RuleDelayed"), (lhs, self.expr(depth + 1)))
        return lhs

    def seq(self, close, depth):
        items = []
        if self.peek() == close:
            self.next()
            return items
        cap = limits.current().max_assoc_keys
        while True:
            items.append(self.expr(depth + 1))
            if len(items) > cap:
                self.fail(f"more than {cap} elements in one expression (WLBRIDGE_MAX_ASSOC_KEYS)")
            tok = self.next()[1]
            if tok == close:
                return items
            if tok != ",":
                self.i -= 1
                self.fail(f"expected ',' or {close!r}")

    def primary(self, depth):
        kind, tok, _ = self.next()
        if kind == "num":
            value = _number(tok)
        elif tok == "-" and self.peek() is not None and self.toks[self.i][0] == "num":
            value = -_number(self.next()[1])
        elif kind == "str":
            value = re.sub(r"\\(.)", lambda m: _ESC.get(m.group(1), m.group(1)), tok[1:-1])
        elif kind == "sym":
            value = Symbol(tok)
        elif tok == "{":
            value = self.seq("}", depth)
        elif tok == "<|":
            value = build(Symbol("Association"), self.seq("|>", depth))
        else:
            self.i -= 1
            self.fail(f"unexpected {tok!r}")
        while self.peek() == "[":
            self.next()
            value = build(value, self.seq("]", depth))
        return value


def _number(tok: str):
    if "." in tok or "`" in tok or "*^" in tok:
        return parse_real(tok)
    return int(tok)


# ----------------------------------------------------------------------------------------------
# printer


def real_text(x: float) -> str:
    """Exact WL text of a double: ``0.25```, ``1.5`*^-10``, ``DirectedInfinity[1]``, ``Indeterminate``."""
    x = float(x)
    if math.isnan(x):
        return "Indeterminate"
    if math.isinf(x):
        return "DirectedInfinity[1]" if x > 0 else "DirectedInfinity[-1]"
    return fmt_real(x)


def to_inputform(x) -> str:
    """WL text of an expression tree; arrays print as nested lists, reals exactly."""
    if isinstance(x, bool):
        return "True" if x else "False"
    if x is None:
        return "None"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return real_text(x)
    if isinstance(x, str):
        return fmt_string(x)
    if isinstance(x, Symbol):
        return x.name
    if isinstance(x, np.ndarray):
        return to_inputform(x.tolist()) if x.ndim else to_inputform(x.item())
    if isinstance(x, (list, tuple)):
        return "{" + ", ".join(map(to_inputform, x)) + "}"
    if isinstance(x, dict):
        return "<|" + ", ".join(f"{to_inputform(k)} -> {to_inputform(v)}" for k, v in x.items()) + "|>"
    if isinstance(x, Expr):
        if isinstance(x.head, Symbol) and x.head.name in ("Rule", "RuleDelayed") and len(x.args) == 2:
            op = " -> " if x.head.name == "Rule" else " :> "
            return to_inputform(x.args[0]) + op + to_inputform(x.args[1])
        return to_inputform(x.head) + "[" + ", ".join(map(to_inputform, x.args)) + "]"
    raise TypeError(f"cannot print {type(x).__name__} as WL text")
