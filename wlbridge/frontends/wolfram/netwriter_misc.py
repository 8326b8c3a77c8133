"""Writers for constants, reductions and the IR patterns the Wolfram reader builds from one layer
(:mod:`.layers_misc`), registered in ``netwriter.WRITERS`` / ``netwriter.FUSIONS``:

- ``matmul`` of a vector and a constant -> ``Linear``;
- ``add`` / ``sub`` / ``mul`` of a value and a constant -> ``ConstantPlus`` (``Biases``) / ``ConstantTimes``
  (``Scaling``), the constant broadcast to the value's shape; any other constant -> ``ConstantArray``;
- ``reduce`` -> ``Aggregation`` (``Max``/``Mean``/``Total`` over ``Levels``), then ``Reshape`` if it keeps dims;
- reshape inserting a level of size 1 then ``take`` of index 0 n times there -> ``Replicate`` (n at that level);
- the mean/variance pattern of ``NormalizationLayer`` (also ONNX exporters' LayerNorm, squared by ``Pow``)
  -> ``Normalization`` (``Scaling``, ``Biases``, ``Epsilon``, ``AggregationLevels``); a scale or shift over the
  normalized levels (LayerNorm's) follows as ``ConstantTimes`` / ``ConstantPlus``;
- ``embedding(x - 1)`` (the reader's form of WL's 1-based indices) -> ``Embedding``;
- ``pad`` -> ``take`` -> ``conv`` of a transposed convolution -> ``Deconvolution`` (``Weights`` ``{in, out, k...}``).

Layouts follow Wolfram's documentation of each layer; none was confirmed on a real ``.wlnet``.
"""
from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from ...ir import Layer, Net
from .expr import Symbol, call
from .netwriter import FUSIONS, _elementwise, _Graph, _linear, _Skip, layer, writer
from .netwriter_seq import _chain


def _index(net):
    producer = {L.output: L for L in net.layers}
    users: dict = {}
    for L in net.layers:
        for v in dict.fromkeys(L.inputs):
            users.setdefault(v, []).append(L)
    return producer, users


def _constant(producer, v):
    L = producer.get(v)
    return None if L is None or L.op != "constant" else np.asarray(L.params["value"])


def _free(g: _Graph, L) -> bool:
    return L is not None and L.output not in g.skip and L.output not in g.prebuilt and L.output not in g.alias


def _sole_user(g: _Graph, users, v):
    """The one layer reading ``v`` when ``v`` is not a net output, else None."""
    u = users.get(v, [])
    return u[0] if len(u) == 1 and v not in g.net.outputs and _free(g, u[0]) else None


# ---- ConstantPlus / ConstantTimes / ConstantArray ----------------------------------------------------
def fuse_constants(g: _Graph) -> None:
    producer, users = _index(g.net)
    for L in g.net.layers:
        if L.op not in ("add", "sub", "mul") or len(L.inputs) != 2 or not _free(g, L):
            continue
        x, c = L.inputs
        if L.op != "sub" and _constant(producer, x) is not None:
            x, c = c, x
        value = _constant(producer, c)
        shape = tuple(g.net.shapes[g.alias.get(x, x)])
        if value is None or _constant(producer, x) is not None or tuple(g.net.shapes[L.output]) != shape:
            continue
        full = np.array(np.broadcast_to(-value if L.op == "sub" else value, shape))
        kind, array = ("ConstantTimes", "Scaling") if L.op == "mul" else ("ConstantPlus", "Biases")
        g.prebuilt[L.output] = (layer(kind, {array: full}, {"$Dimensions": list(shape)}, [shape], shape), [x])
    for L in g.net.layers:  # a constant read only by folded layers is not written on its own
        if L.op == "constant" and L.output not in g.net.outputs \
                and all(u.output in g.prebuilt or u.output in g.skip for u in users.get(L.output, [])):
            g.skip.add(L.output)


@writer("constant")
def _constant_array(L, ins, out):
    return layer("ConstantArray", {"Array": np.asarray(L.params["value"])}, {"$Dimensions": list(out)}, [], out)


@writer("matmul")
def _matmul(L, ins, out):
    """``x . W`` (torch/ONNX MatMul with a constant) is ``LinearLayer`` with ``Weights`` W^T and no biases."""
    w = np.ascontiguousarray(np.asarray(L.params["weight"]).T)
    return _linear(SimpleNamespace(params={"weight": w}), ins, out)


# ---- Aggregation ---------------------------------------------------------------------------------------
AGGREGATE = {"max": "Max", "mean": "Mean", "sum": "Total"}


@writer("reduce")
def _reduce(L, ins, out):
    kind = L.attrs["kind"]
    if kind not in AGGREGATE:
        raise _Skip(f"reduction {kind!r} has no AggregationLayer function")
    rank = len(ins[0])
    levels = sorted({int(a) % rank + 1 for a in L.attrs["axes"]})
    dropped = tuple(n for k, n in enumerate(ins[0]) if k + 1 not in levels)
    node = layer("Aggregation", {}, {"Function": Symbol(AGGREGATE[kind]), "Levels": levels}, ins, dropped)
    if tuple(out) == dropped:
        return node
    reshape = layer("Reshape", {}, {"Dimensions": _dims(out)}, [dropped], out)
    return _chain([node, reshape], ins, out)


def _dims(out):
    return call("ValidatedParameter", [int(d) for d in out])


# ---- Replicate -------------------------------------------------------------------------------------------
def fuse_replicate(g: _Graph) -> None:
    producer, users = _index(g.net)
    for L in g.net.layers:
        idx = L.attrs.get("indices")
        if L.op != "take" or not isinstance(idx, list) or any(idx) or not _free(g, L):
            continue
        R = producer.get(L.inputs[0])
        if R is None or R.op != "reshape" or _sole_user(g, users, R.output) is not L:
            continue
        x, k = R.inputs[0], L.attrs.get("axis", 0)
        dims = tuple(g.net.shapes[x])
        if not 0 <= k <= len(dims) or tuple(g.net.shapes[R.output]) != (*dims[:k], 1, *dims[k:]):
            continue
        g.skip.add(R.output)
        g.prebuilt[L.output] = (layer("Replicate", {}, {"Specification": len(idx), "Level": k + 1}, [dims],
                                      (*dims[:k], len(idx), *dims[k:])), [x])


# ---- Normalization ------------------------------------------------------------------------------------------
def fuse_normalization(g: _Graph) -> None:
    producer, users = _index(g.net)
    for m in g.net.layers:
        found = _normalization(g, producer, users, m)
        if found is None:
            continue
        members, last, node = found
        g.skip.update(members)
        g.prebuilt[last] = (node, [m.inputs[0]])


def _normalization(g, producer, users, m):
    """Match mean -> x - mean -> mean of its square -> + eps -> Sqrt -> divide [-> * scale] [-> + bias]."""
    def mean_of(L, v):
        return L is not None and L.op == "reduce" and L.attrs.get("kind") == "mean" and L.attrs.get("keepdims") \
            and list(L.inputs) == [v]

    if m.op != "reduce" or not _free(g, m) or not mean_of(m, m.inputs[0]):
        return None
    x, axes = m.inputs[0], sorted(m.attrs["axes"])
    d = _sole_user(g, users, m.output)
    if d is None or d.op != "sub" or list(d.inputs) != [x, m.output]:
        return None
    du = {L.op: L for L in users.get(d.output, [])}
    sq, div = du.get("mul", du.get("pow")), du.get("div")
    if len(users.get(d.output, [])) != 2 or sq is None or div is None or not _square(g, producer, users, sq, d.output):
        return None
    v = _sole_user(g, users, sq.output)
    if not mean_of(v, sq.output) or sorted(v.attrs["axes"]) != axes:
        return None
    plus = _sole_user(g, users, v.output)
    eps = None if plus is None or plus.op != "add" or plus.inputs[0] != v.output else _constant(producer, plus.inputs[1])
    root = _sole_user(g, users, plus.output) if eps is not None and eps.size == 1 else None
    if root is None or root.op != "elementwise" or root.attrs.get("fn") != "sqrt" \
            or _sole_user(g, users, root.output) is not div or list(div.inputs) != [d.output, root.output]:
        return None
    members = [m.output, d.output, *(sq.inputs[1:] if sq.op == "pow" else ()), sq.output, v.output, plus.inputs[1],
               plus.output, root.output]
    dims = tuple(g.net.shapes[x])
    rank = len(dims)
    levels = sorted({int(a) % rank for a in axes})
    # the scale and shift after it: over the other levels ("Complement", WL's default: one per channel) or
    # over the normalized levels ("Same": a layer norm's, one per feature)
    modes = {"Complement": tuple(1 if k in levels else n for k, n in enumerate(dims)),
             "Same": tuple(n if k in levels else 1 for k, n in enumerate(dims))}
    arrays, last, mode = {}, div, None
    for op, name, fill in (("mul", "Scaling", 1.0), ("add", "Biases", 0.0)):
        nxt = _sole_user(g, users, last.output)
        c = None if nxt is None or nxt.op != op or nxt.inputs[0] != last.output else _constant(producer, nxt.inputs[1])
        usable = c is not None and _sole_user(g, users, nxt.inputs[1]) is nxt
        fits = [md for md, shape in modes.items() if usable and mode in (None, md) and _fits(c.shape, shape)]
        if fits:
            mode = fits[0]
            members += [last.output, nxt.inputs[1]]
            arrays[name], last = np.array(np.broadcast_to(c, modes[mode])), nxt
        else:
            arrays[name] = fill
    mode = mode or "Complement"
    scaled = tuple(n for k, n in enumerate(dims) if (k in levels) == (mode == "Same"))  # the arrays' dims
    arrays = {k: (np.full(scaled, v, dtype=np.asarray(eps).dtype) if np.ndim(v) == 0 else v.reshape(scaled))
              for k, v in arrays.items()}
    node = layer("Normalization", arrays, {"AggregationLevels": [k + 1 for k in levels], "ScalingLevels": mode,
                                           "Epsilon": float(eps.reshape(())), "$Dimensions": list(dims)}, [dims], dims)
    return members, last.output, node


def _square(g, producer, users, L, d) -> bool:
    """``d * d`` or ``d ^ 2`` (ONNX exporters' LayerNorm) with a constant read only there."""
    if L.op == "mul":
        return list(L.inputs) == [d, d]
    two = _constant(producer, L.inputs[1])
    return L.inputs[0] == d and two is not None and two.size == 1 and float(two.reshape(())) == 2.0 \
        and _sole_user(g, users, L.inputs[1]) is L


def _fits(shape, stats) -> bool:
    try:
        return np.broadcast_shapes(tuple(shape), stats) == stats
    except ValueError:
        return False


# ---- Embedding --------------------------------------------------------------------------------------------
def _index_type(dims, count: int):
    return call("TensorT", [int(d) for d in dims], call("IndexIntegerT", int(count)))


def fuse_embedding(g: _Graph) -> None:
    """``embedding(x - 1)`` (how the reader takes WL's 1-based indices) -> ``Embedding`` on ``x``; an input
    port read only there gets WL's index type."""
    producer, users = _index(g.net)
    inputs = {p.name for p in g.net.inputs}
    for L in g.net.layers:
        sub = producer.get(L.inputs[0]) if L.op == "embedding" else None
        one = None if sub is None or sub.op != "sub" else _constant(producer, sub.inputs[1])
        if one is None or one.size != 1 or float(one.reshape(())) != 1.0 or _sole_user(g, users, sub.output) is not L:
            continue
        x, (count, width) = sub.inputs[0], L.params["weight"].shape
        dims = tuple(g.net.shapes[x])
        node = layer("Embedding", {"Weights": L.params["weight"]},
                     {"OutputDimension": int(width), "ClassCount": int(count), "$Dimensions": list(dims)},
                     [dims], g.net.shapes[L.output])
        node["Inputs"] = {"Input": _index_type(dims, count)}
        g.skip.add(sub.output)
        g.prebuilt[L.output] = (node, [x])
        if x in inputs and len(users.get(x, [])) == 1:
            g.coders[x] = _index_type(dims, count)


@writer("embedding")
def _embedding(L, ins, out):
    raise _Skip("0-based indices (torch, ONNX): WL's EmbeddingLayer counts from 1; feed x + 1 and subtract 1 "
                "before the embedding to write it")


# ---- Deconvolution ------------------------------------------------------------------------------------------
def fuse_deconvolution(g: _Graph) -> None:
    """``pad`` -> ``take`` (zero insertion) -> ``conv``, as :func:`resample.conv_transpose` builds a transposed
    convolution, -> ``Deconvolution``: the parameters are read off the index lists, then accepted only when
    ``conv_transpose`` rebuilds exactly these layers from them."""
    producer, users = _index(g.net)
    for C in g.net.layers:
        found = _deconvolution(g, producer, users, C) if C.op == "conv" and _free(g, C) else None
        if found is not None:
            members, x, node = found
            g.skip.update(members)
            g.prebuilt[C.output] = (node, [x])


def _deconvolution(g, producer, users, C):
    wc = np.asarray(C.params["weight"])
    n, groups = wc.ndim - 2, int(C.attrs.get("groups", 1))
    takes, v = {}, C.inputs[0]
    while producer.get(v) is not None and producer[v].op == "take" and _sole_user(g, users, v) is not None:
        L = producer[v]
        takes[L.attrs.get("axis", 0)] = L
        v = L.inputs[0]
    P = producer.get(v)
    if P is None or P.op != "pad" or _sole_user(g, users, v) is None or len(takes) > n:
        return None
    x = P.inputs[0]
    dims = tuple(g.net.shapes[x])
    dil = list(C.attrs.get("dilation") or (1,) * n)
    stride, pads = [], []
    for a in range(n):
        size = dims[a + 1]
        full = takes[a + 1].attrs["indices"] if a + 1 in takes else list(range(size + 1))
        got = _axis_params(full, size, dil[a] * (wc.shape[a + 2] - 1))
        if got is None:
            return None
        stride.append(got[0])
        pads.append(got[1])
    cout_g = wc.shape[0] // groups
    w = np.flip(np.concatenate([np.swapaxes(wc[k * cout_g:(k + 1) * cout_g], 0, 1) for k in range(groups)]),
                axis=tuple(range(2, wc.ndim)))
    bias = C.params.get("bias")
    if not _rebuilds(g, [P, *(takes[k] for k in sorted(takes)), C], dims, w, bias, stride, pads, dil, groups):
        return None
    out = tuple(g.net.shapes[C.output])
    node = layer("Deconvolution", {"Weights": np.ascontiguousarray(w), "Biases": bias},
                 {"OutputChannels": int(w.shape[1] * groups), "KernelSize": list(w.shape[2:]), "Stride": stride,
                  "PaddingSize": pads, "Dilation": dil, "ChannelGroups": groups, "Dimensionality": n,
                  "Interleaving": Symbol("False"), "$InputChannels": int(dims[0]), "$InputSize": list(dims[1:]),
                  "$OutputSize": list(out[1:])}, [dims], out)
    return [P.output, *(L.output for L in takes.values())], x, node


def _axis_params(full, size: int, edge: int):
    """(stride, [lo, hi] padding) of one axis from its zero-insertion index list (``size`` = the zero)."""
    pos = [j for j, i in enumerate(full) if i != size]
    real = [full[j] for j in pos]
    if not pos or real != list(range(real[0], real[0] + len(real))):
        return None
    s = pos[1] - pos[0] if len(pos) > 1 else 1
    lo = pos[0] - real[0] * s
    hi = len(full) - (size - 1) * s - 1 - lo
    pad = [edge - lo, edge - hi]
    return (s, pad) if s >= 1 and min(pad) >= 0 else None


def _rebuilds(g, layers, dims, w, bias, stride, pads, dil, groups) -> bool:
    from ..resample import conv_transpose
    from ...shapes import RULES
    from ...ir import Layer

    made = []

    class V:
        def __init__(self, shape):
            self.shape = tuple(shape)

    def emit(op, ins, params=None, attrs=None):
        L = Layer(op, tuple(f"v{len(made)}" for _ in ins), f"v{len(made)}",
                  {k: np.asarray(p) for k, p in (params or {}).items() if p is not None}, dict(attrs or {}), "")
        made.append(L)
        return V(RULES[op](L, *[i.shape for i in ins]))

    conv_transpose(emit, V(dims), w, bias, stride, pads, (0,) * len(stride), dil, groups)
    if [L.op for L in made] != [L.op for L in layers]:
        return False
    for a, b in zip(made, layers):
        same = {k: (list(map(list, v)) if k in ("pads", "padding") else v) for k, v in a.attrs.items()}
        want = {k: (list(map(list, b.attrs[k])) if k in ("pads", "padding") else b.attrs.get(k)) for k in a.attrs}
        if _plain(same) != _plain(want) or sorted(a.params) != sorted(b.params) \
                or any(not np.array_equal(a.params[k], np.asarray(b.params[k])) for k in a.params):
            return False
    return True


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x.item() if isinstance(x, np.generic) else x


FUSIONS.extend([fuse_normalization, fuse_replicate, fuse_embedding, fuse_deconvolution, fuse_constants])


# ---- layernorm ------------------------------------------------------------------------------------------------
def expand_layernorm(net: Net) -> Net:
    """``layernorm`` layers rewritten as the mean/variance pattern that becomes ``NormalizationLayer`` (the
    scale and shift over the normalized axes stay separate products and sums with constant arrays)."""
    if not any(L.op == "layernorm" for L in net.layers):
        return net
    layers = []
    for L in net.layers:
        if L.op != "layernorm":
            layers.append(L)
            continue
        dims = net.shapes[L.inputs[0]]
        ax = int(L.attrs.get("axis", -1)) % len(dims)
        axes = list(range(ax, len(dims)))
        stats = tuple(n if k in axes else 1 for k, n in enumerate(dims))
        fresh = iter(f"{L.output}_ln{k}" for k in range(1, 20))

        def add(op, ins, params=None, attrs=None, out=None):
            layers.append(Layer(op, tuple(ins), out or next(fresh), params or {}, attrs or {}, L.path))
            return layers[-1].output

        def const(v):
            return add("constant", [], {"value": np.asarray(v)})

        x = L.inputs[0]
        mean = add("reduce", [x], attrs={"kind": "mean", "axes": axes, "keepdims": True})
        d = add("sub", [x, mean])
        var = add("reduce", [add("mul", [d, d])], attrs={"kind": "mean", "axes": axes, "keepdims": True})
        std = add("elementwise", [add("add", [var, const(float(L.attrs.get("eps", 1e-5)))])], attrs={"fn": "sqrt"})
        steps = [(op, L.params.get(k)) for op, k in (("mul", "scale"), ("add", "bias")) if L.params.get(k) is not None]
        y = add("div", [d, std], out=None if steps else L.output)
        for i, (op, p) in enumerate(steps):
            full = np.broadcast_to(np.asarray(p), tuple(dims[ax:])).reshape(stats)
            y = add(op, [y, const(full)], out=L.output if i == len(steps) - 1 else None)
    return replace(net, layers=tuple(layers))


# ---- ParametricRamp ------------------------------------------------------------------------------------
@writer("prelu")
def _prelu(L, ins, out):
    """``ParametricRampLayer`` with a slope per element of the levels the IR slope varies over."""
    dims = tuple(ins[0])
    slope = np.asarray(L.params["slope"])
    full = slope.reshape((1,) * (len(dims) - slope.ndim) + slope.shape)
    axes = [k for k, n in enumerate(full.shape) if n != 1]
    if not axes:
        return _elementwise(SimpleNamespace(attrs={"fn": "leaky_relu",
                                                   "fn_params": {"negative_slope": float(full.ravel()[0])}}),
                            ins, out)
    kept = full.reshape([dims[k] for k in axes])
    return layer("ParametricRamp", {"Slope": kept}, {"Levels": [k + 1 for k in axes], "$Dimensions": list(dims)},
                 ins, out)
