"""The decision-tree form (``form="tree"``) of a piecewise-linear net over a box: each node splits on the piece
of one unit (a ReLU's sign, a clip's segment, a max's winner), unit by unit and layer by layer in the
search's order, as affinitree's tree does; each condition is written once; leaves are the regions' affine
maps (all outputs at once in WL and LaTeX).

Built from the regions alone: each region's pattern and the conditions along it are read by following the
net at the region's witness (an interior point), so the tree holds exactly the regions of the search.
Like the flat form it is the net inside the box and undefined outside (WL ``Indeterminate``, sympy ``nan``).

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.0, -1.0], [0.0, 1.0]])})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "relu"})])
>>> print(tree_wl(net, box=(-1, 1), call="sequence"))  # doctest: +NORMALIZE_WHITESPACE
Function[{x1, x2}, If[-1.` <= x1 <= 1.` && -1.` <= x2 <= 1.`, If[x1 - x2 <= 0.`, If[x2 <= 0.`, {0.`, 0.`},
  {0.`, x2}], If[x2 <= 0.`, {x1 - x2, 0.`}, {x1 - x2, x2}]], {Indeterminate, Indeterminate}]]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate as sp_evaluate

from .affine_text import LatexText, SympyText, WLText
from .piecewise import DEFAULT_MAX_REGIONS, _call, regions_of


@dataclass(frozen=True)
class Leaf:
    """A region: the outputs are ``A x + b`` here."""

    region: int
    A: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class Node:
    """A split on one unit: ``branches[k] = (rows, subtree)``, ``rows`` the half-spaces ``h . x <= g`` of the
    unit's piece ``k``; the last branch is taken when no earlier one holds (its rows are not printed)."""

    branches: tuple

    @property
    def size(self) -> tuple[int, int]:
        """(nodes, leaves) below and including this node."""
        nodes, leaves = 1, 0
        for _, t in self.branches:
            n, m = t.size if isinstance(t, Node) else (0, 1)
            nodes, leaves = nodes + n, leaves + m
        return nodes, leaves


def build_tree(regions):
    """The tree of ``regions`` (a :class:`~wlbridge.analysis.regions.LinearRegions`): a :class:`Node` or,
    with one region, a :class:`Leaf`."""
    traces = [_trace(regions.net, r.witness) for r in regions]
    leaves = [Leaf(i, r.A, r.b) for i, r in enumerate(regions)]
    return _split(list(range(len(leaves))), 0, traces, leaves)


def _split(ids, depth, traces, leaves):
    while True:
        if len(ids) == 1:
            return leaves[ids[0]]
        if depth >= len(traces[ids[0]]):  # two regions with one pattern: cannot happen for a sound search
            raise AssertionError(f"regions {ids} share their activation pattern")
        groups: dict[int, list[int]] = {}
        for i in ids:
            groups.setdefault(traces[i][depth][1], []).append(i)
        if len(groups) > 1:
            break
        depth += 1
    options = traces[ids[0]][depth][0]
    return Node(tuple((tuple(options[j]), _split(groups[j], depth + 1, traces, leaves)) for j in sorted(groups)))


def _trace(net, w):
    """Follow ``net`` at the point ``w``: per unit with several pieces, (its pieces' rows, the piece at ``w``)."""
    from .pieces import affine, layer_pieces  # the search's own rules: one definition of each

    n = w.size
    env, k = {}, 0
    for p in net.inputs:
        A = np.zeros((p.size, n))
        A[:, k:k + p.size] = np.eye(p.size)
        env[p.name] = (A.reshape(*p.shape, n), np.zeros(p.shape))
        k += p.size
    out = []
    for layer in net.layers:
        pieces = layer_pieces(layer)
        if pieces is None:
            env[layer.output] = affine(layer, [env[i] for i in layer.inputs], net.shapes)
            continue
        chosen, table = [], pieces(env, net.shapes)
        for options in map(table.options, range(len(table.first) - 1)):
            j = int(np.argmax([min((g - h @ w for h, g in rows), default=np.inf) for rows, _ in options]))
            chosen.append(options[j][1])
            if len(options) > 1:
                out.append(([rows for rows, _ in options], j))
        A = np.array([a for a, _ in chosen]).reshape(-1, n)
        c = np.array([c for _, c in chosen])
        shape = net.shapes[layer.output]
        env[layer.output] = (A.reshape(*shape, n), c.reshape(shape))
    return out


# ---- printing ----------------------------------------------------------------------------------
def _wl(t, p: WLText) -> str:
    if isinstance(t, Leaf):
        return p.vector(t.A, t.b)
    *first, (_, last) = t.branches
    if len(first) == 1:
        return f"If[{p.conj(first[0][0])}, {_wl(first[0][1], p)}, {_wl(last, p)}]"
    parts = [f"{p.conj(rows)}, {_wl(s, p)}" for rows, s in first]
    return f"Which[{', '.join(parts)}, True, {_wl(last, p)}]"


def _sympy(t, o: int, p: SympyText):
    if isinstance(t, Leaf):
        return p.affine(t.A[o], t.b[o])
    *first, (_, last) = t.branches
    return sp.Piecewise(*[(_sympy(s, o, p), p.conj(rows)) for rows, s in first], (_sympy(last, o, p), True))


def _latex(t, p: LatexText) -> str:
    if isinstance(t, Leaf):
        return p.vector(t.A, t.b)
    *first, (_, last) = t.branches
    lines = [f"{_latex(s, p)} & \\text{{if }} {p.conj(rows)}" for rows, s in first]
    lines.append(f"{_latex(last, p)} & \\text{{otherwise}}")
    return "\\begin{cases}\n" + " \\\\\n".join(lines) + "\n\\end{cases}"


def tree_wl(net, *, box, minimal: bool = False, call: str = "list", digits: int | None = None,
            max_regions: int = DEFAULT_MAX_REGIONS) -> str:
    """WL ``Function`` of the decision tree of ``net`` over ``box=(lower, upper)``: nested ``If`` (``Which`` for
    units of three or more pieces) with the outputs' vector at each leaf; ``Indeterminate`` outside the box.
    ``minimal`` is accepted for symmetry with the flat form and changes nothing (each condition is one unit's)."""
    _call(call)
    regions = regions_of(net, box, max_regions=max_regions, form="tree")
    p = WLText(regions.lower.size, digits)
    outside = "{" + ", ".join(["Indeterminate"] * regions.regions[0].b.size) + "}"
    return p.function(f"If[{p.box(regions.lower, regions.upper)}, {_wl(build_tree(regions), p)}, {outside}]", call)


def tree_sympy(net, *, box, minimal: bool = False, digits: int | None = None,
               max_regions: int = DEFAULT_MAX_REGIONS) -> sp.Matrix:
    """sympy ``Matrix`` (one row) of nested ``Piecewise`` outputs in ``x1..xn`` (``nan`` outside the box)."""
    regions = regions_of(net, box, max_regions=max_regions, form="tree")
    p = SympyText(regions.lower.size, digits)
    tree = build_tree(regions)
    with sp_evaluate(False):  # no canonicalisation (see flat_sympy)
        outside = p.outside(regions.lower, regions.upper)
        rows = [[sp.Piecewise((sp.nan, outside), (_sympy(tree, o, p), True)) for o in range(regions.regions[0].b.size)]]
    return sp.Matrix(rows)


def tree_latex(net, *, box, minimal: bool = False, digits: int | None = None,
               max_regions: int = DEFAULT_MAX_REGIONS) -> str:
    """LaTeX: the box ``B`` once, then ``y = `` nested ``cases`` with the outputs' vector at each leaf."""
    regions = regions_of(net, box, max_regions=max_regions, form="tree")
    p = LatexText(regions.lower.size, digits)
    return (f"{p.box(regions.lower, regions.upper)}\\quad\\text{{(undefined outside }}B\\text{{)}}\n"
            f"y = {_latex(build_tree(regions), p)}")
