"""Rounded display: the net with every weight rounded to ``digits`` significant decimal digits.

``to_wl(digits=3)``, ``to_sympy(digits=3)`` and ``to_latex(digits=3)`` emit this net, so the printed
formula is short and honest: ``check(digits=3)`` compares the rounded code with the *exact* net and
reports the error the rounding introduces (it fails when that exceeds the tolerance).

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> net = b.build([b.layer("linear", [x], params={"weight": np.array([[0.123456, -98765.4]])})])
>>> round_weights(net, 3).layers[0].params["weight"].tolist()
[[0.123, -98800.0]]
"""
from __future__ import annotations

import dataclasses

import numpy as np


def round_significant(a, digits: int | str) -> np.ndarray:
    """``a`` rounded to ``digits`` significant decimal digits (float64; 0, inf and nan unchanged);
    ``digits="float32"``: each value's shortest decimal that reads back as the same float32.

    >>> round_significant([0.1, 1 / 3], "float32").tolist()
    [0.1, 0.33333334]
    """
    if digits == "float32":
        short = lambda v: float(str(np.float32(v)))  # noqa: E731 - numpy prints float32s shortest-unique
    elif isinstance(digits, int) and not isinstance(digits, bool) and digits >= 1:
        short = lambda v: float(f"{v:.{digits}g}")  # noqa: E731
    else:
        raise ValueError(f"digits must be a positive integer or 'float32', got {digits!r}")
    a = np.asarray(a, dtype=np.float64)
    return np.vectorize(short, otypes=[np.float64])(a) if a.size else a


def round_weights(net, digits: int | str):
    """A copy of ``net`` whose float weights are rounded to ``digits`` significant digits (or ``"float32"``)."""
    layers = []
    for layer in net.layers:
        params = {k: (round_significant(v, digits) if np.issubdtype(np.asarray(v).dtype, np.floating) else v)
                  for k, v in layer.params.items()}
        layers.append(dataclasses.replace(layer, params=params))
    return dataclasses.replace(net, layers=tuple(layers), origin=None)
