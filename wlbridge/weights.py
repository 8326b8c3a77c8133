"""How many weights a net has and of which dtype, counted as the sources count them: trainable
parameters apart from buffers (batch norm running statistics) and from constants the front end made
(encoders' mean images, folded tensors), which are no parameters of the source net.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> p = {k: np.ones(2, np.float32) for k in ("scale", "bias", "mean", "var")}
>>> h = b.layer("batchnorm", [b.layer("linear", [x], params={"weight": np.ones((2, 2), np.float32)})], params=p)
>>> print(weight_summary(b.build([b.layer("add", [h, b.constant(np.zeros(2))])])))
12 (float32): 8 trainable, 4 buffers (batch norm running mean and variance); 2 constants (float64)
"""
from __future__ import annotations

import numpy as np

BUFFERS = {"batchnorm": ("mean", "var")}  # op -> params that are running statistics, not trained


def weight_counts(net) -> dict[str, dict[str, int]]:
    """``{"trainable" | "buffers" | "constants": {dtype name: count}}``."""
    out: dict[str, dict[str, int]] = {"trainable": {}, "buffers": {}, "constants": {}}
    for layer in net.layers:
        for name, v in layer.params.items():
            if v is None:
                continue
            kind = "constants" if layer.op == "constant" else \
                "buffers" if name in BUFFERS.get(layer.op, ()) else "trainable"
            dt = np.asarray(v).dtype.name
            out[kind][dt] = out[kind].get(dt, 0) + int(np.asarray(v).size)
    return out


def weight_summary(net) -> str:
    """One line: the weights (trainable + buffers) with their dtype(s), then the constants apart."""
    c = weight_counts(net)
    weights = {**c["trainable"]}
    for dt, n in c["buffers"].items():
        weights[dt] = weights.get(dt, 0) + n
    n_train, n_buf = sum(c["trainable"].values()), sum(c["buffers"].values())
    dts = ", ".join(sorted(weights)) or net.dtype.name
    text = f"{n_train + n_buf} ({dts})"
    if n_buf:
        text += f": {n_train} trainable, {n_buf} buffers (batch norm running mean and variance)"
    if c["constants"]:
        n = sum(c["constants"].values())
        text += f"; {n} constant{'s' if n != 1 else ''} ({', '.join(sorted(c['constants']))})"
    return text
