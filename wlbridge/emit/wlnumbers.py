"""WL number text: shortest round-trip digits, backtick, ``*^`` exponent; arrays formatted vectorised; string literals.

>>> fmt_real(1.5e-10), fmt_real(-2.0), fmt_real(0.25), fmt_real(float("inf"))
('1.5`*^-10', '-2.`', '0.25`', 'Infinity')
>>> fmt_array(np.array([[1.0, -2.5e-7], [3.0, 4.0]]))
'{{1.`, -2.5`*^-7}, {3.`, 4.`}}'
>>> fmt_exact(0.75), fmt_array(np.array([0.5, -3.0]), exact=True)
('3/4', '{1/2, -3}')
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np

from ..errors import ConversionError


# ---- numbers ---------------------------------------------------------------------------------
def _fmt_one(v: float) -> str:
    r = repr(v)
    if "e" not in r:
        return ("Infinity" if v > 0 else "-Infinity") if r.endswith("inf") else r + "`"
    mant, ex = r.split("e")
    return f"{mant if '.' in mant else mant + '.'}`*^{int(ex)}"


def fmt_reals(values) -> list[str]:
    """WL text of many float64 values at once (shortest round-trip digits, backtick, ``*^``)."""
    a = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(a).any():
        raise ConversionError("cannot print NaN as a WL number (a weight or constant is NaN)")
    if a.size == 0:
        return []
    flat = a.tolist()
    toks = (repr(flat)[1:-1].replace(", ", "`, ") + "`").replace(".0`", ".`").split(", ")
    mag = np.abs(a)
    for i in np.flatnonzero(((mag < 1e-4) & (mag > 0)) | (mag >= 1e16)).tolist():
        toks[i] = _fmt_one(flat[i])
    return toks


def fmt_real(v: float) -> str:
    """One float64 as WL text: ``fmt_real(1.5e-10) == '1.5`*^-10'``."""
    return fmt_reals([float(v)])[0]


def fmt_real_positional(v: float) -> str:
    """Like :func:`fmt_real` but without an exponent (``0.0000015```); Woxi 0.3 reads ``*^`` with 1 ulp error.

    >>> fmt_real_positional(-1.25e-7)
    '-0.000000125`'
    """
    v = float(v)
    if not math.isfinite(v):
        return fmt_real(v)
    return np.format_float_positional(v, unique=True, trim=".") + "`"


def fmt_exact(v: float) -> str:
    """An exact rational ``p/q`` equal to the float64 value."""
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if v != v:
        raise ConversionError("cannot print NaN as a WL number (a weight or constant is NaN)")
    f = Fraction(v)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


_EXP = re.compile(r"e([+-])0*(\d+)`")
_BRACES = str.maketrans("[]", "{}")


def _exp_sub(m: re.Match) -> str:
    single = m.string[m.start() - 2] not in "0123456789."  # repr's mantissa '5' in '5e-324'
    return f"{'.' if single else ''}`*^{'-' if m.group(1) == '-' else ''}{m.group(2)}"


def fmt_array(a: np.ndarray, exact: bool = False) -> str:
    """A nested WL list of a float array, vectorised (one ``repr`` of the nested list, then C-speed edits)."""
    a = np.asarray(a, dtype=np.float64)
    if exact or a.size == 0:
        return _fmt_exact_array(a)
    if np.isnan(a).any():
        raise ConversionError("cannot print NaN as a WL number (a weight or constant is NaN)")
    if a.ndim == 0:
        return fmt_real(float(a))
    s = repr(a.tolist()).replace(", ", "`, ").replace("]", "`]")
    for _ in range(a.ndim - 1):  # '`]`]' -> '`]]' and ']`, [' -> '], [' between sublists
        s = s.replace("]`]", "]]")
    if a.ndim > 1:
        s = s.replace("]`, ", "], ")
    s = s.replace(".0`", ".`")
    if "e" in s:
        s = _EXP.sub(_exp_sub, s)
    if "inf" in s:
        s = s.replace("inf`", "Infinity")
    return s.translate(_BRACES)


def _empty(shape) -> str:
    return "{}" if shape[0] == 0 else "{" + ", ".join([_empty(shape[1:])] * shape[0]) + "}"


def _fmt_exact_array(a: np.ndarray) -> str:
    if a.size == 0:
        return _empty(a.shape)
    toks = [fmt_exact(v) for v in a.ravel().tolist()]
    if a.ndim == 0:
        return toks[0]
    for n in reversed(a.shape):
        toks = ["{" + ", ".join(toks[i:i + n]) + "}" for i in range(0, len(toks), n)] if n else ["{}"]
    return toks[0]


# ---- strings ---------------------------------------------------------------------------------
def fmt_string(s: str) -> str:
    """A WL string literal (backslash, quote and newline escaped).

    >>> print(fmt_string('a "b"\\\\c'))
    "a \\"b\\"\\\\c"
    """
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
