"""Simplification passes: an equal Net with fewer, larger-but-not-more-parameters layers.

Each rewrite is exact in real arithmetic (the float64 results differ by rounding only):
identity layers and no-op reshapes go; an inference BatchNorm folds into the linear/conv layer
before it (or the linear layer after it); consecutive affine layers with nothing between merge
(when the merged weight is not larger than the two); layers of constants are evaluated once; layers
no output depends on are dropped. Zero weights are already left out of the expanded forms.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.eye(2) * 2, "bias": np.ones(2)})
>>> h = b.layer("identity", [h])
>>> h = b.layer("linear", [h], params={"weight": np.ones((1, 2)), "bias": np.zeros(1)})
>>> print(simplify(b.build([b.layer("elementwise", [h], attrs={"fn": "relu"})])))
net(x: f64[2]) -> h4: f64[1]
  h3: f64[1] = linear(x; weight=f64[1,2], bias=f64[1])  # merged
  h4: f64[1] = elementwise[fn=relu](h3)
"""
from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from ..ir import Layer, Net
from ..reference import RULES as REFERENCE


def simplify(net: Net) -> Net:
    """An equal net with identities, BatchNorms, affine chains, constant layers and dead layers simplified."""
    layers, outputs = list(net.layers), list(net.outputs)
    inputs = {p.name for p in net.inputs}
    changed = True
    while changed:
        before = len(layers)
        shapes = _shapes(net, layers, outputs)
        layers, outputs = _drop_noops(layers, outputs, inputs, shapes)
        layers = _fold_constants(layers)
        layers = _fold_batchnorm(layers, outputs, shapes)
        layers = _merge_affine(layers, outputs)
        layers = _drop_dead(layers, outputs)
        changed = len(layers) < before
    return dataclasses.replace(net, layers=tuple(layers), outputs=tuple(outputs))


def _shapes(net, layers, outputs):
    return dataclasses.replace(net, layers=tuple(layers), outputs=tuple(outputs)).shapes


def _uses(layers, outputs) -> Counter:
    n = Counter(outputs)
    for layer in layers:
        n.update(layer.inputs)
    return n


def _rename(layers, outputs, old: str, new: str):
    layers = [dataclasses.replace(la, inputs=tuple(new if i == old else i for i in la.inputs)) for la in layers]
    return layers, [new if o == old else o for o in outputs]


def _is_noop(layer, shapes) -> bool:
    if layer.op == "identity":
        return True
    if layer.op == "elementwise" and layer.attrs.get("fn") == "identity":
        return True
    if layer.op in ("reshape", "flatten"):
        return shapes[layer.output] == shapes[layer.inputs[0]]
    if layer.op == "pool":
        a = layer.attrs
        n = len(a["kernel"])
        return (all(k == 1 for k in a["kernel"]) and all(s == 1 for s in (a.get("stride") or (1,) * n))
                and all(tuple(p) == (0, 0) for p in (a.get("padding") or ((0, 0),) * n))
                and shapes[layer.output] == shapes[layer.inputs[0]])
    return False


def _drop_noops(layers, outputs, inputs, shapes):
    out = list(layers)
    for name in [la.output for la in layers]:
        layer = next(la for la in out if la.output == name)
        if not _is_noop(layer, shapes):
            continue
        src = layer.inputs[0]
        if layer.output in outputs and (src in inputs or src in outputs):
            continue  # an output must stay a distinct computed value
        out.remove(layer)
        out, outputs = _rename(out, outputs, layer.output, src)
    return out, outputs


def _fold_constants(layers):
    values: dict[str, np.ndarray] = {}
    out = []
    for layer in layers:
        if layer.op == "constant":
            values[layer.output] = np.asarray(layer.params["value"], dtype=np.float64)
        elif layer.inputs and all(i in values for i in layer.inputs) and layer.op != "embedding":
            v = REFERENCE[layer.op](layer, *[values[i][None] for i in layer.inputs])[0]
            values[layer.output] = v
            layer = Layer("constant", (), layer.output, {"value": v}, {}, layer.path)
        out.append(layer)
    return out


def _single_consumer(layers, outputs, name):
    """The one layer reading ``name``, or None if it is read elsewhere (or is an output)."""
    if name in outputs:
        return None
    readers = [la for la in layers if name in la.inputs]
    return readers[0] if len(readers) == 1 and readers[0].inputs.count(name) == 1 else None


def _bn_affine(bn):
    """(a, c) with batchnorm(x) = a x + c along its channel axis."""
    p = {k: np.asarray(bn.params[k], dtype=np.float64) for k in ("scale", "bias", "mean", "var")}
    a = p["scale"] / np.sqrt(p["var"] + float(bn.attrs.get("eps", 1e-5)))
    return a, p["bias"] - a * p["mean"]


def _bn_axis(bn, shapes):
    rank = len(shapes[bn.inputs[0]])
    return bn.attrs.get("axis", 0) % rank, rank


def _affine_parts(layer):
    """(W {out, in}, b) of a linear or matmul layer."""
    if layer.op == "matmul":
        w = np.asarray(layer.params["weight"], dtype=np.float64).T
    else:
        w = np.asarray(layer.params["weight"], dtype=np.float64)
    b = layer.params.get("bias")
    return w, np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64)


def _linear(out, inp, w, b, path):
    return Layer("linear", (inp,), out, {"weight": w, "bias": b}, {}, path)


def _join(*layers) -> str:
    """The path of a layer made of ``layers`` (their paths joined by '+'; 'merged' if none has one)."""
    return "+".join(la.path for la in layers if la.path) or "merged"


def _fold_batchnorm(layers, outputs, shapes):
    out = list(layers)
    for bn in [la for la in layers if la.op == "batchnorm"]:
        axis, rank = _bn_axis(bn, shapes)
        a, c = _bn_affine(bn)
        prev = next((la for la in out if la.output == bn.inputs[0]), None)
        if prev is not None and _single_consumer(out, outputs, prev.output) is bn:
            new = None
            if prev.op in ("linear", "matmul") and axis == rank - 1:
                w, b = _affine_parts(prev)
                new = _linear(bn.output, prev.inputs[0], a[:, None] * w, a * b + c, _join(prev, bn))
            elif prev.op == "conv" and axis == 0:
                w = np.asarray(prev.params["weight"], dtype=np.float64)
                b = prev.params.get("bias")
                b = np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
                new = dataclasses.replace(prev, output=bn.output, path=_join(prev, bn),
                                          params={"weight": a.reshape(-1, *[1] * (w.ndim - 1)) * w, "bias": a * b + c})
            if new is not None:
                i = out.index(prev)
                out.remove(bn)
                out[i] = new
                continue
        nxt = _single_consumer(out, outputs, bn.output)
        if nxt is not None and nxt.op in ("linear", "matmul") and rank == 1:
            w, b = _affine_parts(nxt)
            i = out.index(nxt)
            out[i] = _linear(nxt.output, bn.inputs[0], w * a[None, :], w @ c + b, _join(bn, nxt))
            out.remove(bn)
    return out


def _merge_affine(layers, outputs):
    out = list(layers)
    for first in layers:
        if first.op not in ("linear", "matmul") or first not in out:
            continue
        second = _single_consumer(out, outputs, first.output)
        if second is None or second.op not in ("linear", "matmul"):
            continue
        w1, b1 = _affine_parts(first)
        w2, b2 = _affine_parts(second)
        if w2.shape[0] * w1.shape[1] > w1.size + w2.size:
            continue  # a bottleneck: merging would add weights
        i = out.index(second)
        out[i] = _linear(second.output, first.inputs[0], w2 @ w1, w2 @ b1 + b2, _join(first, second))
        out.remove(first)
    return out


def _drop_dead(layers, outputs):
    live = set(outputs)
    kept = []
    for layer in reversed(layers):
        if layer.output in live:
            kept.append(layer)
            live.update(layer.inputs)
    return kept[::-1]
