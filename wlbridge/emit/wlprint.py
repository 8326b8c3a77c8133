"""A small Wolfram Language expression tree and its printer (numbers printed exactly, fast arrays).

Emitters build trees of these nodes straight from the IR; text is produced only at the edge, by
:func:`to_text`, which memoises shared subtrees and parenthesises by WL precedence.

>>> x = Sym("x")
>>> to_text(Plus([Num(0.5), Times([Num(-1.25), x]), Neg(Power(x, Num(2.0)))]))
'0.5` - 1.25` x - x^2.`'
>>> to_text(Times([x, Plus([x, Num(1.0)])]))
'x (x + 1.`)'
>>> to_text(Arr(np.array([[1.0, -2.5e-7], [3.0, 4.0]])))
'{{1.`, -2.5`*^-7}, {3.`, 4.`}}'
>>> to_text(Num(0.75), exact=True), to_text(Power(Num(-0.75), x), exact=True)
('3/4', '(-3/4)^x')
"""
from __future__ import annotations

import math
import re
import sys
from typing import Sequence

import numpy as np

from ..errors import ConversionError
from .wlnumbers import fmt_array, fmt_exact, fmt_real, fmt_reals  # noqa: F401 - re-exported

ATOM = 1000
PREC = {"Power": 590, "Dot": 490, "Neg": 480, "Divide": 470, "Times": 400, "Plus": 310,
        "Greater": 290, "Less": 290, "GreaterEqual": 290, "LessEqual": 290, "Equal": 290,
        "Unequal": 290, "And": 215}
INFIX = {"Dot": " . ", "Greater": " > ", "Less": " < ", "GreaterEqual": " >= ", "LessEqual": " <= ",
         "Equal": " == ", "Unequal": " != ", "And": " && "}


# ---- nodes -----------------------------------------------------------------------------------
class Node:
    """Base node; ``size`` is the tree size (leaf count plus heads), shared subtrees counted each time."""

    __slots__ = ("size",)
    prec = ATOM


class Sym(Node):
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name, self.size = name, 1


class Num(Node):
    __slots__ = ("value",)

    def __init__(self, value: float):
        self.value, self.size = float(value), 1

    @property
    def prec(self):
        return PREC["Neg"] if (self.value < 0 or math.copysign(1, self.value) < 0) else ATOM


class Int(Node):
    """An exact integer (levels, indices, spans)."""

    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value, self.size = int(value), 1

    @property
    def prec(self):
        return PREC["Neg"] if self.value < 0 else ATOM


class Arr(Node):
    """A numeric array literal (printed vectorised)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = np.asarray(array, dtype=np.float64)
        self.size = int(self.array.size) + 1


class Raw(Node):
    """Literal WL text with a given precedence (e.g. ``All``, ``2 ;; 5 ;; 2``)."""

    __slots__ = ("text", "_prec")

    def __init__(self, text: str, prec: int = ATOM):
        self.text, self._prec, self.size = text, prec, 1

    @property
    def prec(self):
        return self._prec


class Call(Node):
    __slots__ = ("head", "args")

    def __init__(self, head: str, args: Sequence[Node]):
        self.head, self.args = head, tuple(args)
        self.size = 1 + sum(a.size for a in self.args)


class Apply(Node):
    """``f[args]`` for a non-symbol head, e.g. ``Function[v, ...][x]``."""

    __slots__ = ("f", "args")

    def __init__(self, f: Node, args: Sequence[Node]):
        self.f, self.args = f, tuple(args)
        self.size = f.size + sum(a.size for a in self.args)


class ListN(Node):
    __slots__ = ("items",)

    def __init__(self, items: Sequence[Node]):
        self.items = tuple(items)
        self.size = 1 + sum(a.size for a in self.items)


class Op(Node):
    """An infix operator: Plus, Times, Dot, Power, Divide, comparisons, And."""

    __slots__ = ("kind", "args")

    def __init__(self, kind: str, args: Sequence[Node]):
        self.kind, self.args = kind, tuple(args)
        self.size = 1 + sum(a.size for a in self.args)

    @property
    def prec(self):
        return PREC[self.kind]


class Neg(Node):
    __slots__ = ("arg",)
    prec = PREC["Neg"]

    def __init__(self, arg: Node):
        self.arg, self.size = arg, arg.size + 1


class Part(Node):
    __slots__ = ("expr", "index")

    def __init__(self, expr: Node, index: Sequence[Node]):
        self.expr, self.index = expr, tuple(index)
        self.size = 1 + expr.size + sum(i.size for i in self.index)


class Tmpl(Node):
    """An ops.py WL template: ``#`` is the argument, ``$name`` a parameter (numbers)."""

    __slots__ = ("pieces", "arg", "_prec")

    def __init__(self, template: str, arg: Node, params: dict[str, float] | None = None):
        self.pieces = _split_template(template, params or {})
        self.arg = arg
        n_arg = sum(1 for p in self.pieces if p[0] == "#")
        self.size = 1 + len(self.pieces) + n_arg * arg.size
        self._prec = ATOM if _single_call(template) else 0

    @property
    def prec(self):
        return self._prec


class With(Node):
    """``With[{a = e1, b = e2}, body]``; ``bindings`` are (name, node) pairs."""

    __slots__ = ("bindings", "body")

    def __init__(self, bindings: Sequence[tuple[str, Node]], body: Node):
        self.bindings, self.body = tuple(bindings), body
        self.size = 1 + body.size + sum(1 + n.size for _, n in self.bindings)


def Plus(args):  # noqa: N802 - WL head names
    args = list(args)
    return args[0] if len(args) == 1 else Op("Plus", args)


def Times(args):  # noqa: N802
    args = list(args)
    return args[0] if len(args) == 1 else Op("Times", args)


def Power(a, b):  # noqa: N802
    return Op("Power", [a, b])


def Divide(a, b):  # noqa: N802
    return Op("Divide", [a, b])


def Dot(a, b):  # noqa: N802
    return Op("Dot", [a, b])


def Subtract(a, b):  # noqa: N802
    return Op("Plus", [a, Neg(b)])


_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)|#")


def _split_template(template: str, params: dict) -> list[tuple]:
    """Pieces: ('t', text) | ('#', bare) | ('n', value, bare); bare = fills a whole argument slot."""
    out, pos = [], 0
    for m in _PARAM.finditer(template):
        out.append(("t", template[pos:m.start()]))
        before, after = template[:m.start()].rstrip(), template[m.end():].lstrip()
        bare = before[-1:] in ("[", ",", "{") and after[:1] in ("]", ",", "}")
        if m.group(0) == "#":
            out.append(("#", bare))
        else:
            if m.group(1) not in params:
                raise ConversionError(f"WL template {template!r}: no value for ${m.group(1)}")
            out.append(("n", float(params[m.group(1)]), bare))
        pos = m.end()
    out.append(("t", template[pos:]))
    return [p for p in out if p != ("t", "")]


def _single_call(template: str) -> bool:
    m = re.match(r"^[A-Z][A-Za-z]*\[", template)
    if not m or not template.endswith("]"):
        return False
    depth = 0
    for i, c in enumerate(template):
        depth += c == "["
        depth -= c == "]"
        if depth == 0 and i > m.end() - 1:
            return i == len(template) - 1
    return False


# ---- printer ---------------------------------------------------------------------------------
def fill(text: str, deferred: list[str]) -> str:
    """``text`` with each deferred-array marker replaced by the array's text."""
    if not deferred:
        return text
    pieces = text.split(MARK)
    pieces[1::2] = [deferred[int(i)] for i in pieces[1::2]]
    return "".join(pieces)


def filled_len(text: str, deferred: list[str]) -> int:
    """``len(fill(text, deferred))`` without building it."""
    if MARK not in text:
        return len(text)
    pieces = text.split(MARK)
    return sum(map(len, pieces[0::2])) + sum(len(deferred[int(i)]) for i in pieces[1::2])


# A raw newline never occurs inside a WL string literal (fmt_string escapes it), a NUL never outside one:
# the pair marks a deferred array, so no text of the net can be taken for one.
MARK = "\n\x00"
DEFER_CHARS = 4096  # arrays at least this long are deferred (see Printer)


class Printer:
    """Prints a node tree; memoises by node identity so shared subtrees print once.

    With ``deferred`` (a list), long array literals are appended to it and printed as a short marker,
    so the nesting around them joins short strings; :func:`fill` puts them in, one copy at the end.
    """

    def __init__(self, exact: bool = False, deferred: list[str] | None = None):
        self.exact = exact
        self.memo: dict[int, str] = {}
        self.deferred = deferred

    def num(self, v: float) -> str:
        return fmt_exact(v) if self.exact else fmt_real(v)

    def text(self, node: Node) -> str:
        key = id(node)
        got = self.memo.get(key)
        if got is None:
            got = self.memo[key] = getattr(self, "_" + type(node).__name__)(node)
        return got

    def wrap(self, node: Node, prec: int) -> str:
        t = self.text(node)
        return f"({t})" if _node_prec(node, self.exact) < prec else t

    def _Sym(self, n):
        return n.name

    def _Num(self, n):
        return self.num(n.value)

    def _Int(self, n):
        return str(n.value)

    def _Raw(self, n):
        return n.text

    def _Arr(self, n):
        text = fmt_array(n.array, self.exact)
        if self.deferred is None or len(text) < DEFER_CHARS:
            return text
        self.deferred.append(text)
        return f"{MARK}{len(self.deferred) - 1}{MARK}"

    def _Call(self, n):
        return n.head + "[" + ", ".join(self.text(a) for a in n.args) + "]"

    def _Apply(self, n):
        return self.wrap(n.f, ATOM) + "[" + ", ".join(self.text(a) for a in n.args) + "]"

    def _ListN(self, n):
        return "{" + ", ".join(self.text(a) for a in n.items) + "}"

    def _Part(self, n):
        return self.wrap(n.expr, ATOM) + "[[" + ", ".join(self.text(i) for i in n.index) + "]]"

    def _With(self, n):
        binds = ", ".join(f"{name} = {self.text(v)}" for name, v in n.bindings)
        return "With[{" + binds + "}, " + self.text(n.body) + "]"

    def _Neg(self, n):
        t = self.wrap(n.arg, PREC["Times"])
        return "-" + (f"({t})" if t.startswith("-") else t)

    def _Tmpl(self, n):
        out = []
        for p in n.pieces:
            if p[0] == "t":
                out.append(p[1])
            elif p[0] == "#":
                out.append(self.text(n.arg) if p[1] else self.wrap(n.arg, ATOM))
            else:
                t = self.num(p[1])
                out.append(t if p[2] or not _needs_parens(t) else f"({t})")
        return "".join(out)

    def _Op(self, n):
        return getattr(self, "_op_" + n.kind, self._op_infix)(n)

    def _op_infix(self, n):
        p = PREC[n.kind]
        return INFIX[n.kind].join(self.wrap(a, p + 1) for a in n.args)

    def _op_Plus(self, n):
        p = PREC["Plus"]
        parts = [self.wrap(n.args[0], p)]
        for a in n.args[1:]:
            t = self.wrap(a, p + 1)
            parts.append(" - " + t[1:] if t.startswith("-") else " + " + t)
        return "".join(parts)

    def _op_Times(self, n):
        p = PREC["Times"]
        parts = [self.wrap(n.args[0], p)]
        for prev, a in zip(n.args, n.args[1:]):
            t = self.wrap(a, p + 1)
            t = f"({t})" if t.startswith("-") else t
            parts.append(("*" if self._needs_star(prev, parts[-1], t) else " ") + t)
        return "".join(parts)

    def _needs_star(self, prev: Node, prev_text: str, text: str) -> bool:
        """An explicit ``*`` where Woxi 0.3 misreads the implicit product (same meaning in WL).

        Woxi reads ``a/f[b] c`` as ``a/(f[b] c)`` and fails to parse ``f[a] s[[2]]``
        (docs/upstream/woxi-parse-precedence.md).
        """
        quotient = _quotient(prev)
        if quotient is not None and "[" in self.text(quotient.args[1]):
            return True
        return "[" in prev_text and _leads_with_part(text)

    def _op_Divide(self, n):
        p = PREC["Divide"]
        return self.wrap(n.args[0], p) + "/" + self.wrap(n.args[1], p + 1)

    def _op_Power(self, n):
        p = PREC["Power"]
        return self.wrap(n.args[0], p + 1) + "^" + self.wrap(n.args[1], p)


def _quotient(node: Node) -> Op | None:
    """The Divide that ``node`` prints as when it is a factor (``a/b`` or ``-a/b``), else None."""
    while isinstance(node, Neg):
        node = node.arg
    return node if isinstance(node, Op) and node.kind == "Divide" else None


def _leads_with_part(t: str) -> bool:
    """Whether printed factor ``t`` starts with a Part (``s[[2]]``, ``f[v][[1]]^2``, ``(v)[[1]]``)."""
    depth = 0
    for i, c in enumerate(t):
        if depth == 0 and t.startswith("[[", i):
            return True
        if depth == 0 and i and c in " ^/.*+-<>=&;":
            return False
        depth += (c in "([{") - (c in ")]}")
    return False


def _needs_parens(t: str) -> bool:
    return t.startswith("-") or "/" in t


def _node_prec(node: Node, exact: bool) -> int:
    if exact and isinstance(node, Num) and not float(node.value).is_integer() and math.isfinite(node.value):
        return PREC["Divide"] if node.value > 0 else PREC["Neg"]
    if exact and isinstance(node, Arr):
        return ATOM
    return node.prec


def to_text(node: Node, exact: bool = False) -> str:
    """Print ``node`` as WL text."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        return Printer(exact).text(node)
    finally:
        sys.setrecursionlimit(old)
