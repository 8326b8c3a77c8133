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
from fractions import Fraction

import numpy as np

from ..errors import ConversionError
from . import shortest


# ---- numbers ---------------------------------------------------------------------------------
def _fmt_one(v: float) -> str:
    r = repr(v)
    if "e" not in r:
        if r.endswith("inf"):
            return "Infinity" if v > 0 else "-Infinity"
        return (r[:-1] if r.endswith(".0") else r) + "`"
    mant, ex = r.split("e")
    return f"{mant if '.' in mant else mant + '.'}`*^{int(ex)}"


def fmt_reals(values) -> list[str]:
    """WL text of many float64 values at once (shortest round-trip digits, backtick, ``*^``)."""
    a = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(a).any():
        raise ConversionError("cannot print NaN as a WL number (a weight or constant is NaN)")
    if a.size == 0:
        return []
    text = _fast_array(a)
    return [_fmt_one(v) for v in a.tolist()] if text is None else text[1:-1].split(", ")


def fmt_real(v: float) -> str:
    """One float64 as WL text: ``fmt_real(1.5e-10) == '1.5`*^-10'``."""
    v = float(v)
    if v != v:
        raise ConversionError("cannot print NaN as a WL number (a weight or constant is NaN)")
    return _fmt_one(v)


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


_BRACES = bytes.maketrans(b"[]", b"{}")


def fmt_array(a: np.ndarray, exact: bool = False) -> str:
    """A nested WL list of a float array: orjson's shortest digits (:mod:`.shortest`), then C-speed edits;
    the same text as each number's :func:`fmt_real`."""
    a = np.asarray(a, dtype=np.float64)
    if exact or a.size == 0:
        return _fmt_exact_array(a)
    if np.isnan(a).any():
        raise ConversionError("cannot print NaN as a WL number (a weight or constant is NaN)")
    if a.ndim == 0:
        return _fmt_one(float(a))
    text = _fast_array(a)
    return nest_texts([_fmt_one(v) for v in a.ravel().tolist()], a.shape) if text is None else text


_SENTINEL = 1.2345678901234567e300  # stands in for the rare numbers; its text holds an 'e', no other one does


def _fast_array(a: np.ndarray) -> str | None:
    """orjson's ``[[1.0,-1.5e-7],...]`` rewritten to ``{{1.`, -1.5`*^-7}, ...}``; None with infinities.

    orjson writes |v| < 1e-4 and |v| >= 1e16 otherwise than :func:`_fmt_one` (``1e-7``, ``0.00001``):
    those few are printed by it, in place of a sentinel number dumped where they were."""
    flat = a.ravel()
    mag = np.abs(flat)
    rare = np.flatnonzero(((mag < 1e-4) & (mag > 0)) | (mag >= 1e16))
    if rare.size:
        a = a.copy()
        a.flat[rare] = _SENTINEL
    s = shortest.dump(a)
    if s is None:
        return None
    s = s.replace(b",", b"`, ")  # a backtick after each number but the last
    for k in range(a.ndim - 1, 0, -1):  # ']`, [' between sublists: the backtick goes before the brackets
        s = s.replace(b"]" * k + b"`, " + b"[" * k, b"`" + b"]" * k + b", " + b"[" * k)
    s = b"`".join((memoryview(s)[:-a.ndim], s[-a.ndim:]))  # and after the last (one copy)
    if (flat == np.trunc(flat)).any():  # '2.0`' -> '2.`' (only whole numbers end in '.0')
        s = s.replace(b".0`", b".`")
    if rare.size:
        pieces = s.split(_SENTINEL_TEXT)
        out = [pieces[0]]
        for v, piece in zip(flat[rare].tolist(), pieces[1:]):
            out += [_fmt_one(v).encode(), piece]
        s = b"".join(out)
    return s.translate(_BRACES).decode()


_SENTINEL_TEXT = shortest.dump(np.array([_SENTINEL]))[1:-1] + b"`"


def _empty(shape) -> str:
    return "{}" if shape[0] == 0 else "{" + ", ".join([_empty(shape[1:])] * shape[0]) + "}"


def _fmt_exact_array(a: np.ndarray) -> str:
    toks = [fmt_exact(v) for v in a.ravel().tolist()]
    return toks[0] if a.ndim == 0 else nest_texts(toks, a.shape)


def nest_texts(toks: list[str], shape) -> str:
    """WL nested lists of ``shape`` from its elements' texts in C order.

    >>> nest_texts(["1", "2", "3", "4"], (2, 2)), nest_texts([], (2, 0))
    ('{{1, 2}, {3, 4}}', '{{}, {}}')
    """
    if not toks:
        return _empty(shape)
    for n in reversed(shape):
        toks = ["{" + ", ".join(toks[i:i + n]) + "}" for i in range(0, len(toks), n)]
    return toks[0]


# ---- strings ---------------------------------------------------------------------------------
def fmt_string(s: str) -> str:
    """A WL string literal (backslash, quote and newline escaped).

    >>> print(fmt_string('a "b"\\\\c'))
    "a \\"b\\"\\\\c"
    """
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
