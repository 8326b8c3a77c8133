"""ReLU-like activations as ``Max``/``Min`` in the sympy forms, each argument written once or twice.

``Piecewise((x, x >= 0), (a x, True))`` holds its argument twice and a condition sympy must carry through
every later layer; in an expanded form the copies multiply layer by layer (a 4-6-6-5-2 ReLU/LeakyReLU/ELU
net: 434k operations, and ``lambdify`` of it never finished). ``Max``/``Min`` forms hold no conditions,
``cse`` shares the argument, and numpy evaluates them as ``amax``/``amin``. The values are the same
(``Max(x, 0) + a Min(x, 0)`` is ``x`` or ``a x`` exactly; ELU's ``exp(Min(x, 0)) - 1`` is ``0`` for ``x > 0``).

>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> kink_form("leaky_relu", x, {"negative_slope": 0.1}) == sp.Max(x, 0) + 0.1 * sp.Min(x, 0), kink_form("tanh", x, {})
(True, None)
"""
from __future__ import annotations

from typing import Mapping

import sympy as sp


def _elu(x, alpha):
    return sp.Max(x, 0) + alpha * (sp.exp(sp.Min(x, 0)) - 1)


_FORMS = {
    "leaky_relu": lambda x, p: sp.Max(x, 0) + p["negative_slope"] * sp.Min(x, 0),
    "rrelu": lambda x, p: sp.Max(x, 0) + (p["lower"] + p["upper"]) / 2 * sp.Min(x, 0),
    "elu": lambda x, p: _elu(x, p["alpha"]),
    "selu": lambda x, p: p["scale"] * _elu(x, p["alpha"]),
    "celu": lambda x, p: sp.Max(x, 0) + p["alpha"] * (sp.exp(sp.Min(x, 0) / p["alpha"]) - 1),
}


def kink_form(name: str, x, params: Mapping[str, float]):
    """The ``Max``/``Min`` form of activation ``name`` at ``x`` (full parameters), or None: keep the row's own."""
    form = _FORMS.get(name)
    return None if form is None else form(x, params)
