"""The forms of :class:`~wlbridge.analysis.regions.LinearRegions`: ``Piecewise`` in sympy and WL, ``cases`` in LaTeX.

Conditions are the rows of each region's ``H x <= g`` (box rows included); outside the box the value
is undefined (sympy ``nan``, WL ``Indeterminate``). The variables are generated (``x1, x2, ...``, the
input scalars in order), never pasted from the net's input names.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..emit.wlnumbers import fmt_real as wl_real

def variables(net) -> list[str]:
    """Generated variable names ``x1, x2, ...`` (one per input scalar, in order): user and file names never
    reach the code (a name like ``E`` or ``Pi`` would be a WL constant)."""
    return [f"x{i + 1}" for i in range(len(net.input_names))]


def _rows(region, out: int):
    return region.A[out], region.b[out]


def _coef(w):
    return 1 if w == 1 else -1 if w == -1 else sp.Float(float(w))


def to_sympy(regions) -> sp.Matrix:
    xs = sp.symbols(variables(regions.net), real=True)

    def affine(a, c):
        return sum((_coef(w) * x for w, x in zip(a, xs) if w != 0), sp.Float(float(c)) if c != 0 else 0)

    def cond(r):
        parts = []
        for h, g in zip(r.H, r.g):
            lhs = affine(h, 0)
            parts.append(sp.Le(lhs, sp.Float(float(g)) if g != 0 else 0, evaluate=False) if lhs != 0 else sp.true)
        return sp.And(*parts)

    conds = [cond(r) for r in regions]
    m = regions.regions[0].b.size if len(regions) else 0
    return sp.Matrix([[sp.Piecewise(*[(affine(*_rows(r, o)), c) for r, c in zip(regions, conds)], (sp.nan, True))
                       for o in range(m)]])


def _wl_affine(a, c, xs) -> str:
    terms = [x if w == 1 else f"-{x}" if w == -1 else f"{wl_real(float(w))} {x}" for w, x in zip(a, xs) if w != 0]
    if c != 0 or not terms:
        terms.append(wl_real(float(c)))
    return " + ".join(terms)


def _wl_cond(r, xs) -> str:
    return " && ".join(f"{_wl_affine(h, 0.0, xs) if np.any(h) else '0.'} <= {wl_real(float(g))}" for h, g in zip(r.H, r.g))


def to_wl(regions, call: str = "list") -> str:
    xs = variables(regions.net)
    conds = [_wl_cond(r, xs) for r in regions]
    m = regions.regions[0].b.size if len(regions) else 0
    outs = []
    for o in range(m):
        cases = ", ".join(f"{{{_wl_affine(*_rows(r, o), xs)}, {c}}}" for r, c in zip(regions, conds))
        outs.append(f"Piecewise[{{{cases}}}, Indeterminate]")
    body = "{" + ", ".join(outs) + "}"
    if call == "sequence":
        return f"Function[{{{', '.join(xs)}}}, {body}]"
    binds = ", ".join(f"{x} = x[[{i + 1}]]" for i, x in enumerate(xs))
    return f"Function[{{x}}, With[{{{binds}}}, {body}]]"


def to_latex(regions) -> str:
    xs = [sp.Symbol(n) for n in variables(regions.net)]
    m = regions.regions[0].b.size if len(regions) else 0

    def tex(a, c):
        terms = [(x if w == 1 else -x if w == -1 else sp.Float(float(w), 6) * x) for w, x in zip(a, xs) if w != 0]
        return sp.latex(sum(terms, sp.Float(float(c), 6) if c != 0 or not terms else 0))

    out = []
    for o in range(m):
        lines = [f"{tex(*_rows(r, o))} & \\text{{if }} " + ",\\ ".join(
            f"{tex(h, 0)} \\le {sp.latex(sp.Float(float(g), 6))}" for h, g in zip(r.H, r.g) if np.any(h))
            for r in regions]
        out.append(f"y_{{{o + 1}}} = \\begin{{cases}}\n" + " \\\\\n".join(lines) + "\n\\end{cases}")
    return "\n".join(out)
