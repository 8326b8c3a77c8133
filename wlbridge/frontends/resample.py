"""Padding, resizing and transposed convolution as primitive IR ops, shared by the front ends.

Each function takes ``emit(op, inputs, params=None, attrs=None) -> value`` (the front end's layer
emitter; values have a batch-free ``.shape``) and builds the op from ``pad`` (constant), ``take``
(index lists: reflect/replicate/wrap padding, nearest resizing, cropping, zero insertion),
``constant``/``mul``/``add`` (linear interpolation weights) and ``conv``:

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (1, 3))
>>> class V:
...     def __init__(self, name, shape): self.name, self.shape = name, shape
>>> def emit(op, ins, params=None, attrs=None):
...     name = b.layer(op, [v.name for v in ins], params=params, attrs=attrs)
...     return V(name, b.build([name]).shapes[name])
>>> y = pad(emit, V(x, (1, 3)), [(0, 0), (2, 1)], "reflect")
>>> b.build([y.name])(np.array([[1.0, 2.0, 3.0]])).tolist()
[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
"""
from __future__ import annotations

import math

import numpy as np

NUMPY_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "edge": "edge",
               "circular": "wrap", "wrap": "wrap"}


def take(emit, x, axis: int, indices):
    idx = [int(i) for i in indices]
    if idx == list(range(x.shape[axis])):
        return x
    return emit("take", [x], attrs={"axis": axis, "indices": idx})


def pad(emit, x, pads, mode: str = "constant", value: float = 0.0):
    """``x`` padded by ``pads`` ((lo, hi) per axis; negative crops) in a numpy/torch ``mode``."""
    pads = [(int(lo), int(hi)) for lo, hi in pads]
    if NUMPY_MODES.get(mode, mode) == "constant":
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
        if any(lo or hi for lo, hi in grow):
            x = emit("pad", [x], attrs={"pads": grow, "value": float(value)})
        for a, (lo, hi) in enumerate(pads):  # negative pads crop
            x = take(emit, x, a, range(-min(lo, 0), x.shape[a] + min(hi, 0)))
        return x
    for a, (lo, hi) in enumerate(pads):
        if lo or hi:
            x = take(emit, x, a, _indices(x.shape[a], lo, hi, NUMPY_MODES[mode]))
    return x


def _indices(n: int, lo: int, hi: int, mode: str) -> list[int]:
    idx = np.pad(np.arange(n), (max(lo, 0), max(hi, 0)), mode=mode)
    return idx[max(-lo, 0):len(idx) - max(-hi, 0)].tolist()


# ---- resizing ------------------------------------------------------------------------------------
def source_coords(n_in: int, n_out: int, scale: float | None, mode: str) -> np.ndarray:
    """Input coordinates of the output positions (ONNX ``coordinate_transformation_mode``)."""
    x = np.arange(n_out, dtype=np.float64)
    if mode == "align_corners":  # ONNX: the resized length is n_in * scale when scales are given (unfloored)
        length = n_out if scale is None else n_in * float(scale)
        return x * (n_in - 1) / (length - 1) if length != 1 else np.zeros(n_out)
    scale = n_out / n_in if scale is None else float(scale)
    if mode == "asymmetric":
        return x / scale
    if mode == "pytorch_half_pixel" and n_out == 1:
        return np.zeros(1)
    if mode in ("half_pixel", "pytorch_half_pixel"):
        return (x + 0.5) / scale - 0.5
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise ValueError(f"coordinate transformation {mode!r}")


def nearest_index(src: np.ndarray, n_in: int, rule: str) -> np.ndarray:
    """ONNX ``nearest_mode``: floor, ceil, round_prefer_floor, round_prefer_ceil."""
    if rule == "floor":
        i = np.floor(src)
    elif rule == "ceil":
        i = np.ceil(src)
    elif rule == "round_prefer_ceil":
        i = np.floor(src + 0.5)
    else:
        i = np.ceil(src - 0.5)
    return np.clip(i, 0, n_in - 1).astype(int)


def resize(emit, x, sizes, scales, mode: str, coord: str, nearest: str = "floor"):
    """``x`` resized on each axis whose size changes (``sizes`` per axis; ``scales`` per axis or None)."""
    for a, n_out in enumerate(sizes):
        n_in = x.shape[a]
        scale = None if scales is None else scales[a]
        if n_out == n_in and (scale is None or scale == 1):
            continue
        src = source_coords(n_in, n_out, scale, coord)
        if mode == "nearest":
            x = take(emit, x, a, nearest_index(src, n_in, nearest))
        elif mode == "linear":
            x = _linear_axis(emit, x, a, np.clip(src, 0, n_in - 1), n_in)
        else:
            raise ValueError(f"resize mode {mode!r}")
    return x


def _linear_axis(emit, x, a: int, src: np.ndarray, n_in: int):
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    shape = (len(src),) + (1,) * (len(x.shape) - a - 1)
    x0, x1 = take(emit, x, a, i0), take(emit, x, a, i1)
    c0 = emit("constant", [], params={"value": (1.0 - w1).reshape(shape)})
    c1 = emit("constant", [], params={"value": w1.reshape(shape)})
    return emit("add", [emit("mul", [x0, c0]), emit("mul", [x1, c1])])


# ---- transposed convolution ------------------------------------------------------------------------
def conv_transpose(emit, x, weight, bias, stride, padding, output_padding, dilation, groups: int):
    """ConvTranspose (weight ``{in, out/groups, k...}``, channels first) as zero insertion, padding
    (or cropping) and a stride-1 convolution with the flipped, transposed kernel."""
    w = np.asarray(weight)
    n = w.ndim - 2
    kernel = w.shape[2:]
    x = emit("pad", [x], attrs={"pads": [(0, 0)] + [(0, 1)] * n, "value": 0.0})  # one zero per axis, at the end
    for a in range(n):
        size = x.shape[a + 1] - 1  # the appended zero sits at index `size`
        inserted = []
        for i in range(size):
            inserted += [i] + [size] * (stride[a] - 1)
        inserted = inserted[:(size - 1) * stride[a] + 1]
        edge = dilation[a] * (kernel[a] - 1)
        lo, hi = edge - padding[a][0], edge - padding[a][1] + output_padding[a]
        full = [size] * max(lo, 0) + inserted[max(-lo, 0):] + [size] * max(hi, 0)
        full = full[:len(full) + min(hi, 0)] if hi < 0 else full
        x = take(emit, x, a + 1, full)
    cin, cout_g = w.shape[0], w.shape[1]
    cin_g = cin // groups
    flipped = np.flip(w, axis=tuple(range(2, w.ndim)))
    wc = np.concatenate([np.swapaxes(flipped[g * cin_g:(g + 1) * cin_g], 0, 1) for g in range(groups)], axis=0)
    attrs = {"stride": [1] * n, "padding": [(0, 0)] * n, "dilation": list(dilation), "groups": int(groups)}
    return emit("conv", [x], params={"weight": wc, "bias": bias}, attrs=attrs)


def out_size(n_in: int, scale: float) -> int:
    return int(math.floor(n_in * scale))
