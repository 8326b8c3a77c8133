"""Products of two variables in Wolfram nets -> IR ``batch_matmul``: ``DotLayer`` and
``NetMapThreadOperator``.

Layouts from the public NeuralNetworks paclet's definition files (no real ``.wlnet`` with these layers
was available): ``DotLayer`` is type ``"Dot"`` with multiport inputs ``"1"``, ``"2"``, ... and no
parameters, computing WL's ``Dot`` folded over its inputs (the last axis of the left operand against the
first of the right). ``NetMapThreadOperator`` is type ``"NetMapThread"``, its inner net under
``Parameters``/``"Net"``, its ports named as the inner net's, and ``"Level"`` (an integer, or port ->
level with 0 for an input that is not mapped) the number of leading axes mapped over.
"""
from __future__ import annotations

import math

from .layers import _params, _unwrap, multiport, port_order, rule
from . import layers_seq
from .netassoc import _Unsupported, port_dims


def _dot2(ctx, path, a, ad, b, bd):
    """WL ``Dot`` of two arrays as a 2-D ``batch_matmul`` between reshapes."""
    layer = ctx.builder.layer
    if len(ad) == 2 and len(bd) == 2:
        return layer("batch_matmul", [a, b], path=path)
    a2 = layer("reshape", [a], attrs={"shape": (math.prod(ad[:-1]), ad[-1])}, path=path)
    b2 = layer("reshape", [b], attrs={"shape": (bd[0], math.prod(bd[1:]))}, path=path)
    y = layer("batch_matmul", [a2, b2], path=path)
    return layer("reshape", [y], attrs={"shape": tuple(ad[:-1]) + tuple(bd[1:])}, path=path)


@rule("Dot")
def _dot(ctx, node, path, inputs):
    xs = multiport(ctx, node, path, inputs)
    dims = [port_dims(ctx, node["Inputs"][p], path) for p in port_order(node["Inputs"])]  # multiport's order
    if len(xs) < 2 or len(dims) != len(xs):
        ctx.fail(path, f"DotLayer with {len(xs)} inputs")
    y, yd = xs[0], dims[0]
    for x, d in zip(xs[1:], dims[1:]):
        if not yd or not d or yd[-1] != d[0]:
            ctx.fail(path, f"DotLayer inputs of dimensions {list(yd)} and {list(d)} do not chain")
        y, yd = _dot2(ctx, path, y, yd, x, d), yd[:-1] + d[1:]
    return y


@rule("NetMapThread")
def _map_thread(ctx, node, path, inputs):
    """A mapped ``DotLayer`` of two matrices is one ``batch_matmul`` (numpy's broadcast of unmapped inputs)."""
    inner = layers_seq._inner_net(ctx, node, path)
    names = list(node.get("Inputs", {}))
    level = _unwrap(_params(node).get("Level", 1))
    depths = [level.get(n, 1) for n in names] if isinstance(level, dict) else [level] * len(names)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in depths):
        ctx.fail(path, f"bad NetMapThreadOperator level {level!r}")
    if inner.get("Type") != "Dot" or len(names) != 2:
        raise _Unsupported("NetMapThreadOperator of a net other than a DotLayer of two inputs")
    dims = [port_dims(ctx, node["Inputs"][n], path) for n in names]
    if any(len(d) - k != 2 for d, k in zip(dims, depths)):
        raise _Unsupported("NetMapThreadOperator[DotLayer[]] of arrays other than matrices")
    lead = [d[:k] for d, k in zip(dims, depths)]
    if all(lead) and lead[0] != lead[1]:
        ctx.fail(path, f"mapped dimensions {list(lead[0])} and {list(lead[1])} differ")
    return ctx.builder.layer("batch_matmul", [inputs[n] for n in names], path=path)
