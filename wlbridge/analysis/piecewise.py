"""The piecewise forms of a piecewise-linear net over a box: flat (``form="piecewise"``: one ``Piecewise`` per
output over the linear regions) and, in :mod:`wlbridge.analysis.tree`, the decision tree (``form="tree"``).

**The box is required**: the regions are enumerated over ``box=(lower, upper)`` (scalars, or one bound per
input scalar); without it the forms refuse with a :class:`~wlbridge.errors.WlbridgeError`. **Inside the box**
the form equals the net (every region's affine map on its polytope; the last region is the fallback of each
``Piecewise``, so points on shared boundaries never fall through). **Outside the box** it is undefined, and
says so: WL ``Indeterminate``, sympy ``nan``, LaTeX "undefined outside B". The box is stated once, the
conditions of the regions once (WL: ``With[{c1 = ..., ...}, ...]`` shared by all outputs). The variables
are generated (``x1, x2, ...``, the input scalars in order), never pasted from the net's input names.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (1,))
>>> net = b.build([b.layer("elementwise", [x], attrs={"fn": "relu"})])
>>> print(piecewise_wl(net, box=(-1, 2), call="sequence"))
Function[{x1}, With[{c1 = x1 <= 0.`}, If[-1.` <= x1 <= 2.`, {Piecewise[{{0.`, c1}}, x1]}, {Indeterminate}]]]
>>> piecewise_sympy(net, box=(-1, 2))
Matrix([[Piecewise((nan, (x1 > 2.0) | (x1 < -1)), (0, x1 <= 0), (x1, True))]])
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate as sp_evaluate

from ..errors import WlbridgeError
from .affine_text import LatexText, SympyText, WLText, inner_rows

DEFAULT_MAX_REGIONS = 10_000


def regions_of(net, box, *, minimal: bool = False, max_regions: int = DEFAULT_MAX_REGIONS, form: str = "piecewise"):
    """The net's :class:`~wlbridge.analysis.regions.LinearRegions` over ``box`` (required: ``(lower, upper)``)."""
    from .regions import linear_regions

    lower, upper = parse_box(net, box, form)
    return linear_regions(net, lower, upper, minimal=minimal, max_regions=max_regions)


def parse_box(net, box, form: str = "piecewise") -> tuple[np.ndarray, np.ndarray]:
    """``box=(lower, upper)`` as two float arrays, one bound per input scalar; a clear error otherwise."""
    n = sum(p.size for p in net.inputs)
    if box is None:
        raise WlbridgeError(f"{net.name}: form={form!r} needs box=(lower, upper), the input box its linear regions "
                            f"are enumerated over (e.g. box=(-1, 1), or one bound per input scalar, {n} here); "
                            "the form is Indeterminate outside it")
    try:
        lower, upper = box
        lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)).copy()
        upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy()
    except (TypeError, ValueError) as e:
        raise WlbridgeError(f"{net.name}: box must be (lower, upper) with scalars or {n} bounds each "
                            f"(one per input scalar), got {box!r}") from e
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper)) and np.all(upper > lower)):
        raise WlbridgeError(f"{net.name}: the box needs finite bounds with lower < upper in every coordinate, "
                            f"got {box!r}")
    return lower, upper


# ---- the flat form, from regions ---------------------------------------------------------------
def _conditions(regions):
    """Per region, its rows inside the box (the box is stated once)."""
    return [list(zip(*inner_rows(r.H, r.g, regions.lower, regions.upper))) for r in regions]


def _n_out(regions) -> int:
    return regions.regions[0].b.size if len(regions) else 0


def flat_wl(regions, *, call: str = "list", digits: int | None = None) -> str:
    """WL ``Function``: ``With`` the regions' conditions ``c1, c2, ...`` once, ``If`` inside the box a
    ``Piecewise`` per output (the last region the fallback), else ``Indeterminate``."""
    p = WLText(regions.lower.size, digits)
    rows = _conditions(regions)[:-1]
    names = [f"c{i + 1}" for i in range(len(rows))]
    outs = []
    for o in range(_n_out(regions)):
        maps = [p.affine(r.A[o], r.b[o]) for r in regions]
        cases = ", ".join(f"{{{m}, {c}}}" for m, c in zip(maps, names))
        outs.append(f"Piecewise[{{{cases}}}, {maps[-1]}]" if cases else maps[-1])
    body = (f"If[{p.box(regions.lower, regions.upper)}, {{{', '.join(outs)}}}, "
            f"{{{', '.join(['Indeterminate'] * len(outs))}}}]")
    if names:
        body = f"With[{{{', '.join(f'{c} = {p.conj(r)}' for c, r in zip(names, rows))}}}, {body}]"
    return p.function(body, call)


def flat_sympy(regions, *, digits: int | None = None) -> sp.Matrix:
    """sympy ``Matrix`` (one row) of ``Piecewise`` outputs in ``x1..xn``: ``nan`` outside the box first."""
    p = SympyText(regions.lower.size, digits)
    with sp_evaluate(False):  # no canonicalisation: Piecewise would compare every pair of conditions (minutes)
        conds = [p.conj(r) for r in _conditions(regions)[:-1]] + [sp.true]
        outside = p.outside(regions.lower, regions.upper)
        rows = [[sp.Piecewise((sp.nan, outside), *[(p.affine(r.A[o], r.b[o]), c) for r, c in zip(regions, conds)])
                 for o in range(_n_out(regions))]]
    return sp.Matrix(rows)


def flat_latex(regions, *, digits: int | None = None) -> str:
    """LaTeX: the box ``B`` once, then ``cases`` per output."""
    p = LatexText(regions.lower.size, digits)
    conds, rs = _conditions(regions), list(regions)
    out = [f"{p.box(regions.lower, regions.upper)}\\quad\\text{{(undefined outside }}B\\text{{)}}"]
    for o in range(_n_out(regions)):
        lines = [f"{p.affine(r.A[o], r.b[o])} & \\text{{if }} {p.conj(c)}" for r, c in zip(rs[:-1], conds)]
        last = rs[-1]
        lines.append(f"{p.affine(last.A[o], last.b[o])} & \\text{{{'otherwise in ' if lines else 'on '}}}B")
        out.append(f"y_{{{o + 1}}} = \\begin{{cases}}\n" + " \\\\\n".join(lines) + "\n\\end{cases}")
    return "\n".join(out)


# ---- the public entry points: a net and its box ------------------------------------------------
def piecewise_wl(net, *, box, minimal: bool = False, call: str = "list", digits: int | None = None,
                 max_regions: int = DEFAULT_MAX_REGIONS) -> str:
    """WL ``Function`` of the flat piecewise form of ``net`` over ``box=(lower, upper)``; ``minimal=True``
    drops implied inequalities (one LP each); ``digits`` rounds the printed numbers."""
    _call(call)
    return flat_wl(regions_of(net, box, minimal=minimal, max_regions=max_regions), call=call, digits=digits)


def piecewise_sympy(net, *, box, minimal: bool = False, digits: int | None = None,
                    max_regions: int = DEFAULT_MAX_REGIONS) -> sp.Matrix:
    """sympy ``Matrix`` of ``Piecewise`` outputs over ``box`` (``nan`` outside it)."""
    return flat_sympy(regions_of(net, box, minimal=minimal, max_regions=max_regions), digits=digits)


def piecewise_latex(net, *, box, minimal: bool = False, digits: int | None = None,
                    max_regions: int = DEFAULT_MAX_REGIONS) -> str:
    """LaTeX ``cases`` per output over ``box`` (6 significant digits unless ``digits`` says otherwise)."""
    return flat_latex(regions_of(net, box, minimal=minimal, max_regions=max_regions), digits=digits)


def _call(call: str) -> None:
    if call not in ("list", "sequence"):
        raise WlbridgeError(f"call must be 'list' or 'sequence', got {call!r}")

