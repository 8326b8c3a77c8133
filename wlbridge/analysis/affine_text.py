"""Affine maps ``a . x + c``, half-spaces ``h . x <= g`` and the box as WL text, sympy and LaTeX.

The one place the piecewise and tree forms print numbers: ``digits=d`` rounds each printed number to
``d`` significant digits (the forms' "weights" are the regions' coefficients). The variables are
generated (``x1, x2, ...``, one per input scalar), never the net's input names.

>>> import numpy as np
>>> p = WLText(2, digits=3)
>>> p.affine(np.array([1.0, -0.123456]), 2.0), p.le(np.array([0.0, 1.0]), 0.5)
('x1 - 0.123` x2 + 2.`', 'x2 <= 0.5`')
>>> p.box(np.array([-1.0, -1.0]), np.array([1.0, 2.0]))
'-1.` <= x1 <= 1.` && -1.` <= x2 <= 2.`'
>>> str(SympyText(2).affine(np.array([0.5, 0.0]), -1.0))
'0.5*x1 - 1'
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import sympy as sp

from ..emit.wlnumbers import fmt_real
from ..errors import WlbridgeError


def variables(n: int) -> list[str]:
    """Generated variable names ``x1, ..., xn`` (one per input scalar, in order): user and file names never
    reach the code (a name like ``E`` or ``Pi`` would be a WL constant)."""
    return [f"x{i + 1}" for i in range(n)]


def rounder(digits: int | None):
    """``v -> float``: the value rounded to ``digits`` significant digits (``None``: unchanged)."""
    if digits is None:
        return float
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise WlbridgeError(f"digits must be a positive integer (significant digits), got {digits!r}")
    return lambda v: float(f"{float(v):.{digits}g}")


def inner_rows(H, g, lower, upper, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``H x <= g`` that are not the box's own (``x_i <= upper_i``, ``-x_i <= -lower_i``):
    the forms state the box once, not per region."""
    H, g = np.asarray(H, dtype=np.float64), np.asarray(g, dtype=np.float64)
    keep = np.ones(len(g), bool)
    for k, (h, v) in enumerate(zip(H, g)):
        nz = np.flatnonzero(h)
        if len(nz) == 1 and abs(h[nz[0]]) == 1.0:
            i = nz[0]
            bound = upper[i] if h[i] > 0 else -lower[i]
            keep[k] = abs(v - bound) > tol * max(1.0, abs(bound))
    return H[keep], g[keep]


class WLText:
    """WL text in the variables ``x1..xn``."""

    def __init__(self, n: int, digits: int | None = None):
        self.xs, self.r = variables(n), rounder(digits)

    def num(self, v) -> str:
        return fmt_real(self.r(v))

    def affine(self, a: Sequence[float], c: float) -> str:
        terms = []
        for w, x in zip(a, self.xs):
            w = self.r(w)
            if w != 0:
                terms.append(x if w == 1 else f"-{x}" if w == -1 else f"{fmt_real(w)} {x}")
        text = " + ".join(terms).replace("+ -", "- ")
        c = self.r(c)
        if c != 0 or not terms:
            text = f"{text} {'-' if c < 0 else '+'} {fmt_real(abs(c))}" if terms else fmt_real(c)
        return text

    def le(self, h, g) -> str:
        return f"{self.affine(h, 0.0)} <= {self.num(g)}"

    def conj(self, rows) -> str:
        return " && ".join(self.le(h, g) for h, g in rows) or "True"

    def box(self, lower, upper) -> str:
        return " && ".join(f"{self.num(lo)} <= {x} <= {self.num(hi)}" for x, lo, hi in zip(self.xs, lower, upper))

    def vector(self, A, b) -> str:
        return "{" + ", ".join(self.affine(a, c) for a, c in zip(A, b)) + "}"

    def function(self, body: str, call: str) -> str:
        """``Function[{x}, With[{x1 = x[[1]], ...}, body]]`` (``call='list'``) or ``Function[{x1, ...}, body]``."""
        if call == "sequence":
            return f"Function[{{{', '.join(self.xs)}}}, {body}]"
        binds = ", ".join(f"{x} = x[[{i + 1}]]" for i, x in enumerate(self.xs))
        return f"Function[{{x}}, With[{{{binds}}}, {body}]]"


class SympyText:
    """sympy expressions in real symbols ``x1..xn``."""

    def __init__(self, n: int, digits: int | None = None):
        self.xs, self.r = [sp.Symbol(v, real=True) for v in variables(n)], rounder(digits)
        self._nums: dict[float, sp.Expr] = {}  # regions share hyperplanes: each number and row is built once
        self._rows: dict[tuple, sp.Expr] = {}

    def num(self, v):
        v = self.r(v)
        if v not in self._nums:
            self._nums[v] = sp.Integer(int(v)) if v in (0.0, 1.0, -1.0) else sp.Float(v)
        return self._nums[v]

    def affine(self, a, c):
        terms = []
        for w, x in zip(a, self.xs):
            w = self.r(w)
            if w != 0:
                terms.append(x if w == 1 else -x if w == -1 else sp.Mul(self.num(w), x))
        c = self.r(c)
        if c != 0 or not terms:
            terms.append(self.num(c))
        return terms[0] if len(terms) == 1 else sp.Add(*terms)

    def le(self, h, g):
        key = (np.asarray(h, dtype=np.float64).tobytes(), float(g))
        if key not in self._rows:
            self._rows[key] = sp.Le(self.affine(h, 0.0), self.num(g), evaluate=False)
        return self._rows[key]

    def conj(self, rows):
        return _and([self.le(h, g) for h, g in rows]) if rows else sp.true

    def outside(self, lower, upper):
        """The complement of the box (where the forms are ``nan``)."""
        return sp.Or(*[c for x, lo, hi in zip(self.xs, lower, upper)
                       for c in (sp.StrictLessThan(x, self.num(lo)), sp.StrictGreaterThan(x, self.num(hi)))])


def _and(args: list):
    """``And(*args)`` as it stands: sympy's constructor orders and cross-simplifies its relations even unevaluated
    (seconds per hundred regions); a region's rows are distinct half-spaces already."""
    if len(args) == 1:
        return args[0]
    obj = sp.Basic.__new__(sp.And, *args)
    obj._argset = frozenset(args)
    return obj


class LatexText:
    """LaTeX in ``x_{1}..x_{n}`` (6 significant digits unless ``digits`` says otherwise)."""

    def __init__(self, n: int, digits: int | None = None):
        self.s = SympyText(n, 6 if digits is None else digits)
        self.s.xs = [sp.Symbol(f"x_{{{i + 1}}}") for i in range(n)]

    def affine(self, a, c) -> str:
        return sp.latex(self.s.affine(a, c))

    def conj(self, rows) -> str:
        return ",\\ ".join(f"{self.affine(h, 0.0)} \\le {sp.latex(self.s.num(g))}" for h, g in rows)

    def vector(self, A, b) -> str:
        items = [self.affine(a, c) for a, c in zip(A, b)]
        return items[0] if len(items) == 1 else "\\left(" + ",\\ ".join(items) + "\\right)"

    def box(self, lower, upper) -> str:
        return "B = " + " \\times ".join(f"[{sp.latex(self.s.num(lo))}, {sp.latex(self.s.num(hi))}]"
                                         for lo, hi in zip(lower, upper))
