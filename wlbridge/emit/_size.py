"""A cheap estimate of the expanded form's tree size, made before anything is built.

A rough lower bound: each layer's output scalar holds ``fan_in`` copies of its biggest input scalar: linear/matmul/conv multiply by the weights feeding one output, pool by the
kernel size, reduce by the reduced count, softmax-like ops by the axis length. Both expanded
emitters (WL and sympy) refuse with ``ExpressionTooLargeError`` when the estimate passes the limit.

>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder("p"); x = b.input("x", (1, 8, 8))
>>> y = b.layer("pool", [x], attrs={"kind": "max", "kernel": (2, 2), "stride": (2, 2), "padding": ((0, 0), (0, 0))})
>>> estimate_size(b.build([y]))
64
"""
from __future__ import annotations

import math

from ..errors import ExpressionTooLargeError


def _fan_in(layer, in_shapes) -> int:
    op, a = layer.op, layer.attrs
    x = in_shapes[0] if in_shapes else ()
    if op in ("linear", "matmul"):
        return int(x[-1]) if x else 1
    if op == "conv":
        w = layer.params["weight"]
        return int(math.prod(w.shape[1:]))
    if op == "pool":
        return int(math.prod(a["kernel"]))
    if op == "reduce":
        axes = a.get("axes")
        axes = range(len(x)) if axes is None else axes
        return int(math.prod(x[k] for k in axes))
    if op in ("softmax", "log_softmax"):
        return 2 * int(x[a.get("axis", -1)]) if x else 1
    return 0  # elementwise and rearranging ops: the sum of the input sizes


def estimate_size(net) -> int:
    """Estimated (rough lower bound) node count of the expanded form: output scalars times their estimated size."""
    size = {p.name: 1 for p in net.inputs}
    for layer in net.layers:
        ins = [net.shapes[i] for i in layer.inputs]
        fan = _fan_in(layer, ins)
        sizes = [size[i] for i in layer.inputs] or [1]
        size[layer.output] = fan * max(sizes) if fan else sum(sizes) + 1
        if layer.op in ("lstm", "gru", "rnn"):  # the unrolled steps' estimate, per output scalar
            from ..recurrent import expand

            per = estimate_size(expand(layer, ins[0])) // max(1, math.prod(net.shapes[layer.output]))
            size[layer.output] = max(1, per) * max(sizes)
    return sum(size[o] * math.prod(net.shapes[o]) for o in net.outputs)


def estimate_elementwise_size(net) -> int:
    """Estimated node count of a form with one scalar expression per layer output element (the
    compact sympy form): each element holds ``fan_in`` terms, or one per input for the other ops.

    >>> from wlbridge.ir import NetBuilder
    >>> import numpy as np
    >>> b = NetBuilder("c"); x = b.input("x", (3, 32, 32))
    >>> y = b.layer("conv", [x], params={"weight": np.ones((16, 3, 3, 3))}, attrs={"padding": ((1, 1), (1, 1))})
    >>> estimate_elementwise_size(b.build([y]))  # 16 x 32 x 32 outputs of 27 terms
    442368
    """
    total = 0
    for layer in net.layers:
        fan = _fan_in(layer, [net.shapes[i] for i in layer.inputs]) or len(layer.inputs)
        total += math.prod(net.shapes[layer.output]) * max(fan, 1)
    return total


def check_elementwise_size(net, max_size: int) -> None:
    """Raise ``ExpressionTooLargeError`` when :func:`estimate_elementwise_size` passes ``max_size``."""
    est = estimate_elementwise_size(net)
    if est > max_size:
        raise ExpressionTooLargeError(
            f"{net.name}: the compact sympy form would have about {est:,} nodes (one expression per element of "
            f"every layer), over max_size={max_size:,}; use to_wl() or to_python() (whole-array code) or raise max_size")


def check_size(net, max_size: int) -> None:
    """Raise ``ExpressionTooLargeError`` when :func:`estimate_size` passes ``max_size``."""
    est = estimate_size(net)
    if est > max_size:
        raise ExpressionTooLargeError(
            f"{net.name}: the expanded form would have at least {est:,} nodes, over max_size={max_size:,}; "
            f"use form='compact' (one assignment per layer, size linear in the parameter count) or raise max_size")
