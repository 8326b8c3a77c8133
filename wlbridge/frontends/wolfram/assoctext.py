"""A net as the plain WL association the WLBridge paclet's ``NetAssociationToFunction`` takes, as text.

The association is the one ``wb.save_wxf`` writes inside ``NetChain[...]`` (layer ``"Type"``s,
``"Arrays"`` as nested lists of machine reals, ``"Parameters"``, ``"Inputs"`` / ``"Outputs"`` port
types ``TensorT[{dims}, RealT]``, ``"Nodes"`` and, for graphs, ``"Edges"``); see docs/mathematica.md.
Reals are printed exactly (shortest round-trip digits and a backtick); ``positional=True`` writes them
without ``*^`` exponents, which Woxi 0.3 reads exactly.

>>> import wlbridge as wb
>>> b = wb.NetBuilder("t"); x = b.input("x", (2,))
>>> net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> to_wl_association(net)[:45]
'<|"Type" -> "Chain", "Nodes" -> <|"1" -> <|"T'
"""
from __future__ import annotations

import numpy as np

from ...emit.wlnumbers import fmt_real, fmt_real_positional, fmt_string
from .expr import Expr, Symbol


def to_wl_association(net, *, positional: bool = False) -> str:
    """``net`` as the WL text of its plain net association (for ``NetAssociationToFunction``)."""
    from .netwriter import assoc_from_net

    return wl_text(assoc_from_net(net), fmt_real_positional if positional else fmt_real)


def wl_text(v, number=fmt_real) -> str:
    """WL InputForm text of a plain association tree (numbers exact, symbols without context)."""
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, Expr):
        return wl_text(v.head, number) + "[" + ", ".join(wl_text(a, number) for a in v.args) + "]"
    if isinstance(v, dict):
        return "<|" + ", ".join(f"{wl_text(k, number)} -> {wl_text(x, number)}" for k, x in v.items()) + "|>"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(wl_text(x, number) for x in v) + "}"
    if isinstance(v, np.ndarray):
        return wl_text(v.tolist(), number)
    if isinstance(v, str):
        return fmt_string(v)
    if v is None:
        return "None"
    if isinstance(v, (bool, np.bool_)):
        return "True" if v else "False"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return number(float(v))
