"""Geometry shared by the emitters: conv/pool attributes, padding, window counts, broadcasting.

>>> from wlbridge.ir import Layer
>>> layer = Layer("pool", ("x",), "y", attrs={"kind": "avg", "kernel": (3,), "stride": (2,),
...               "padding": ((1, 1),), "count_include_pad": False})
>>> pool_counts(layer, (5,), (3,)).tolist()
[2.0, 3.0, 2.0]
"""
from __future__ import annotations

import numpy as np


def geometry(layer, n: int):
    """(stride, dilation, padding) of a conv/pool layer with ``n`` spatial axes, defaults filled in."""
    stride = tuple(int(s) for s in (layer.attrs.get("stride") or (1,) * n))
    dil = tuple(int(d) for d in (layer.attrs.get("dilation") or (1,) * n))
    pad = tuple((int(p[0]), int(p[1])) for p in (layer.attrs.get("padding") or ((0, 0),) * n))
    return stride, dil, pad


def full_padding(in_sp, out_sp, kernel, stride, dil, pad):
    """Padding per axis that makes every window (incl. ceil-mode overhang) fit: ((lo, hi), ...)."""
    out = []
    for i in range(len(kernel)):
        need = (out_sp[i] - 1) * stride[i] + (kernel[i] - 1) * dil[i] + 1
        out.append((pad[i][0], max(pad[i][1], need - in_sp[i] - pad[i][0])))
    return tuple(out)


def window_positions(o: int, k: int, stride: int, dil: int, lo: int) -> list[int]:
    """Input indices (may be out of range) of window ``o`` along one axis."""
    return [o * stride - lo + j * dil for j in range(k)]


def pool_counts(layer, in_sp, out_sp) -> np.ndarray:
    """Divisor of average pooling at each output position (torch's rules, as in reference.py)."""
    kernel = tuple(layer.attrs["kernel"])
    stride, dil, pad = geometry(layer, len(kernel))
    include = layer.attrs.get("count_include_pad", True)
    per_axis = []
    for i in range(len(kernel)):
        hi_limit = in_sp[i] + pad[i][1] if include else in_sp[i]
        lo_limit = -pad[i][0] if include else 0
        per_axis.append([sum(lo_limit <= p < hi_limit for p in window_positions(o, kernel[i], stride[i], dil[i],
                                                                                pad[i][0]))
                         for o in range(out_sp[i])])
    counts = np.ones(tuple(out_sp))
    for i, c in enumerate(per_axis):
        shape = [1] * len(kernel)
        shape[i] = -1
        counts = counts * np.asarray(c, dtype=np.float64).reshape(shape)
    return counts


def norm_axis(axis: int, rank: int) -> int:
    return axis % rank if rank else 0


def prefix_broadcast(c: np.ndarray, shape) -> np.ndarray:
    """The smallest leading block of ``broadcast_to(c, shape)`` that WL's list threading extends.

    WL's Plus/Times thread lists over the *first* levels, numpy broadcasts the *last* axes; the
    returned array has shape ``shape[:k]`` where every axis from ``k`` on was broadcast.
    """
    c = np.asarray(c, dtype=np.float64)
    full = np.broadcast_to(c, shape)
    padded = (1,) * (len(shape) - c.ndim) + c.shape
    k = max((i + 1 for i, d in enumerate(padded) if d != 1), default=0)
    return np.array(full[tuple(slice(None) for _ in range(k)) + (0,) * (len(shape) - k)])


def adaptive_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows along one axis: [floor(i n_in/n_out), ceil((i+1) n_in/n_out)).

    >>> adaptive_windows(5, 3), adaptive_windows(2, 3)
    ([(0, 2), (1, 4), (3, 5)], [(0, 1), (0, 2), (1, 2)])
    """
    return [((i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)) for i in range(n_out)]


def slice_spans(layer) -> list[tuple[int, int, int]]:
    """(start, stop, step) per axis of a ``slice`` layer (0-based, stop exclusive; -1 = past index 0)."""
    return [(int(a), int(b), int(c)) for a, b, c in zip(layer.attrs["starts"], layer.attrs["stops"],
                                                        layer.attrs["steps"])]


def py_slice(a: int, b: int, c: int) -> slice:
    """A Python slice for a normalized range (a stop of -1 with a negative step means 'through 0')."""
    return slice(a, None if b < 0 else b, c)
