"""Shortest round-trip digits of float64 arrays at C speed: ``orjson`` (Ryu) in place of ``repr``.

``orjson.dumps`` writes each double in the shortest digits that read back to the same bits, like
``repr``, ~20x faster, but in its own layout: no spaces, ``1e-7`` (repr: ``1e-07``) and positional
``0.00001`` for 1e-5 <= |v| < 1e-4 (repr: ``1e-05``); it refuses NaN and writes infinities as ``null``.
:func:`repr_text` rewrites that, byte for byte, into ``repr(a.tolist())`` (property-tested against it);
the WL printer (:mod:`.wlnumbers`) rewrites :func:`dump` straight into WL's forms.

>>> repr_text(np.array([[2.0, -1.5e-7], [1e-5, 1e16]]))
'[[2.0, -1.5e-07], [1e-05, 1e+16]]'
"""
from __future__ import annotations

import re

import numpy as np
import orjson

_OPT = orjson.OPT_SERIALIZE_NUMPY
_NEG_EXPONENT = re.compile(rb"e-(\d)(?!\d)")  # orjson 'e-7' -> repr 'e-07'
_FIVE = re.compile(rb"0\.0000(?<![\d.]0\.0000)([1-9])(\d*)")  # orjson '0.000012' = repr '1.2e-05'


def dump(a: np.ndarray) -> bytes | None:
    """orjson's text of a float array as float64 (nested lists), or None if it has NaN or infinities."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        return None
    return orjson.dumps(a, option=_OPT)


def repr_text(a) -> str:
    """``repr(np.asarray(a, float64).tolist())``, the same text, from orjson's digits."""
    a = np.asarray(a, dtype=np.float64)
    text = dump(a) if a.ndim and a.size else None
    if text is None:
        return repr(a.tolist())
    text = text.replace(b",", b", ")
    if b"e-" in text:
        text = _NEG_EXPONENT.sub(rb"e-0\1", text)
    if b"0.0000" in text:
        text = _FIVE.sub(rb"\1.\2e-05", text).replace(b".e-05", b"e-05")  # repr: '1e-05', not '1.e-05'
    return text.decode()
