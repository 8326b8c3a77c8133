"""IR -> net association (the writer side): one rule per IR op building a Wolfram layer.

The association has the keys and hidden parameters WL 14.3 writes (compare
``eigenjs7_trainedNet1.wlnet``); arrays are inline numpy arrays until :func:`export_arrays`
swaps them for ``ExportedArray[k]`` in depth-first order. Ops with no Wolfram layer are collected
into one :class:`UnsupportedLayerError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..._rules import registrar
from ...errors import UnsupportedLayerError
from ...ir import Net
from ...ops import ACTIVATIONS
from .expr import Expr, Symbol, call
from .scalarfn import ScalarFunctionError, activation_body, to_scalar_function

WRITE_VERSION = "14.3.0"
# $PrimitiveUnaryElementwiseFunctions (wlnet-format.md §3.4): written as bare symbols
PRIMITIVES = {"ArcCos", "ArcCosh", "ArcSin", "ArcSinh", "ArcTan", "ArcTanh", "Cosh", "Sinh", "Gamma", "LogGamma",
              "LogisticSigmoid", "Ramp", "SoftRamp", "Tanh", "Sin", "Cos", "Tan", "Log", "Exp", "Sqrt", "Square",
              "Abs", "Round", "Ceiling", "Floor", "Sign", "Erf"}
WRITERS: dict = {}
FUSIONS: list = []  # fn(_Graph): fold an IR pattern into one Wolfram layer (g.skip / g.prebuilt)


class _Skip(Exception):
    """The op cannot be written; the message says why."""


writer = registrar(WRITERS, "Wolfram writer")


def T(dims) -> Expr:
    return call("TensorT", [int(d) for d in dims], Symbol("RealT"))


def ports(ins, out) -> dict:
    names = ["Input"] if len(ins) == 1 else [str(i + 1) for i in range(len(ins))]
    return {"Inputs": dict(zip(names, (T(d) for d in ins))), "Outputs": {"Output": T(out)}}


def layer(kind, arrays, params, ins, out) -> dict:
    return {"Type": kind, "Arrays": arrays, "Parameters": params, **ports(ins, out)}


@dataclass
class _Graph:
    net: Net
    alias: dict = field(default_factory=dict)  # value -> the value it equals (identity, fused flatten)
    fused: dict = field(default_factory=dict)  # linear output -> dims of the flatten's input
    nodes: dict = field(default_factory=dict)
    where: dict = field(default_factory=dict)  # IR value -> NetPath of the port producing it
    edges: list = field(default_factory=list)
    unsupported: list = field(default_factory=list)
    skip: set = field(default_factory=set)  # layers folded into a later node (see netwriter_misc.FUSIONS)
    prebuilt: dict = field(default_factory=dict)  # value -> (node assoc, input values) of a folded pattern

    coders: dict = field(default_factory=dict)  # input/output value -> NetEncoder/NetDecoder port type

    def src(self, v):
        return self.where.get(self.alias.get(v, v))


def assoc_from_net(net: Net) -> dict:
    """The WL net association of ``net`` (NetChain if it is a chain, else NetGraph), arrays inline."""
    from .netwriter_misc import expand_layernorm

    net = expand_layernorm(net)
    g = _Graph(net)
    _plan(g)
    in_names = ["Input"] if len(net.inputs) == 1 else [p.name for p in net.inputs]
    for name, p in zip(in_names, net.inputs):
        g.where[p.name] = call("NetPath", "Inputs", name)
    _coders(g, in_names)
    for fuse in FUSIONS:  # after the coders, which alias an image encoder's mean/variance layers away
        fuse(g)
    for layer_ in net.layers:
        if layer_.output in g.alias or layer_.output in g.skip:
            continue
        _node(g, layer_)
    if g.unsupported:
        raise UnsupportedLayerError(f"{net.name} -> Wolfram", g.unsupported)
    out_names = ["Output"] if len(net.outputs) == 1 else [f"Output{i + 1}" for i in range(len(net.outputs))]
    for name, o in zip(out_names, net.outputs):
        g.edges.append(call("Rule", call("NetPath", "Outputs", name), g.src(o)))
    kind = "Chain" if _is_chain(g, in_names) else "Graph"
    return {"Type": kind, "Nodes": g.nodes, "Edges": g.edges,
            "Inputs": {n: g.coders.get(p.name, T(p.shape)) for n, p in zip(in_names, net.inputs)},
            "Outputs": {n: g.coders.get(o, T(net.shapes[g.alias.get(o, o)])) for n, o in zip(out_names, net.outputs)}}


def _coders(g: _Graph, in_names) -> None:
    """Scalar / Class decoders on outputs and Image encoders on inputs, from the IR and ``net.meta``."""
    producer = {L.output: L for L in g.net.layers}
    for o in g.net.outputs:
        L = producer.get(o)
        if L is not None and L.op == "reshape" and tuple(L.attrs["shape"]) == () \
                and g.net.shapes[L.inputs[0]] == (1,):
            g.alias[o] = L.inputs[0]
            g.coders[o] = call("NetDecoder", "Scalar", {"$Version": WRITE_VERSION}, T((1,)))
        elif g.net.meta.get("labels") and len(g.net.shapes[o]) == 1 \
                and len(g.net.meta["labels"]) == g.net.shapes[o][0]:
            labels = list(g.net.meta["labels"])
            g.coders[o] = call("NetDecoder", "Class", {"Labels": labels, "Dimensions": len(labels),
                                                       "$Version": WRITE_VERSION}, T(g.net.shapes[o]))
    enc = g.net.meta.get("image_encoder") or {}
    for name, p in zip(in_names, g.net.inputs):
        info = enc.get(name) if len(g.net.inputs) > 1 else next(iter(enc.values()), None)
        if info is None or len(p.shape) != 3:
            continue
        for L in g.net.layers:
            if L.path.startswith(f"Inputs/{name}/") and L.op in ("constant", "sub", "div"):
                g.alias[L.output] = p.name
        c, h, w = p.shape
        g.coders[p.name] = call("NetEncoder", "Image", {
            "ImageSize": call("ValidatedParameter", [w, h]), "ColorSpace": info.get("color_space") or "RGB",
            "ColorChannels": c, "Interleaving": Symbol("False"), "MeanImage": info.get("MeanImage", Symbol("None")),
            "VarianceImage": info.get("VarianceImage", Symbol("None")), "DataTransposed": Symbol("False"),
            "Method": "Stretch", "Resampling": call("ValidatedParameter", Symbol("Automatic")),
            "Padding": call("GrayLevel", 0), "Alignment": Symbol("Center"), "$Version": WRITE_VERSION}, T(p.shape))


def _plan(g: _Graph) -> None:
    """Identity layers become aliases; a flatten read only by a linear folds into the Linear layer."""
    uses: dict = {}
    for L in g.net.layers:
        for i in L.inputs:
            uses[i] = uses.get(i, 0) + 1
    for o in g.net.outputs:
        uses[o] = uses.get(o, 0) + 1
    producer = {L.output: L for L in g.net.layers}
    for L in g.net.layers:
        if L.op == "identity" or (L.op == "elementwise" and L.attrs.get("fn") == "identity"):
            g.alias[L.output] = g.alias.get(L.inputs[0], L.inputs[0])
        if L.op == "linear" and L.inputs[0] in producer and producer[L.inputs[0]].op == "flatten" \
                and uses[L.inputs[0]] == 1:
            flat = producer[L.inputs[0]]
            g.alias[flat.output] = flat.inputs[0]
            g.fused[L.output] = g.net.shapes[flat.inputs[0]]


def _node(g: _Graph, L) -> None:
    if L.output in g.prebuilt:
        assoc, srcs = g.prebuilt[L.output]
        return _add_node(g, assoc, srcs, L.output)
    shapes = g.net.shapes
    ins = [shapes[g.alias.get(i, i)] if L.output not in g.fused else g.fused[L.output] for i in L.inputs]
    fn = WRITERS.get(L.op)
    try:
        if fn is None:
            raise _Skip("no Wolfram layer for this op")
        if L.op in ("linear", "matmul") and L.output not in g.fused and len(ins[0]) > 1:
            from .netwriter_seq import mapped  # a vector LinearLayer mapped over the leading axes
            assoc = mapped(fn(L, [ins[0][-1:]], shapes[L.output][-1:]), ins[0], shapes[L.output])
        else:
            assoc = fn(L, ins, shapes[L.output])
    except (_Skip, ScalarFunctionError) as e:
        g.unsupported.append((L.path or L.output, L.op, str(e)))
        return
    _add_node(g, assoc, L.inputs, L.output)


def _add_node(g: _Graph, assoc: dict, srcs, output: str) -> None:
    name = str(len(g.nodes) + 1)
    g.nodes[name] = assoc
    for port, v in zip(assoc["Inputs"], srcs):
        g.edges.append(call("Rule", call("NetPath", "Nodes", name, "Inputs", port), g.src(v)))
    g.where[output] = call("NetPath", "Nodes", name, "Outputs", "Output")


def _is_chain(g: _Graph, in_names) -> bool:
    if len(in_names) != 1 or len(g.net.outputs) != 1:
        return False
    prev = call("NetPath", "Inputs", in_names[0])
    for e in g.edges:
        dst, src = e.args
        if src != prev or (dst.args[0] == "Nodes" and dst.args[3] != "Input"):
            return False
        prev = call("NetPath", "Nodes", *dst.args[1:2], "Outputs", "Output") if dst.args[0] == "Nodes" else None
    return True


def export_arrays(assoc):
    """Replace inline arrays by ``ExportedArray[k]`` (k from 1, depth-first); returns (assoc, arrays)."""
    arrays: list = []

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("Arrays"), dict) and "Type" in x:
                x = {**x, "Arrays": {k: _export(v, arrays) for k, v in x["Arrays"].items()}}
            return {k: walk(v) if k != "Arrays" else v for k, v in x.items()}
        return x

    return walk(assoc), arrays


def _export(v, arrays):
    if isinstance(v, np.ndarray):
        arrays.append(v)
        return call("ExportedArray", len(arrays))
    return v


# ---- one writer per IR op --------------------------------------------------------------------

@writer("linear")
def _linear(L, ins, out):
    w, b = L.params["weight"], L.params.get("bias")
    return layer("Linear", {"Weights": w, "Biases": b},
                 {"OutputDimensions": [int(w.shape[0])], "$OutputSize": int(w.shape[0]),
                  "$InputSize": int(w.shape[1]), "$InputDimensions": list(ins[0])}, ins, out)


def elementwise_function(fn: str, params=None):
    """A WL primitive symbol for default-parameter primitives, else a ScalarFunctionObject."""
    row = ACTIVATIONS[fn]
    full = row.full_params(params)
    prim = [n for n in row.wolfram if n in PRIMITIVES]
    if prim and full == dict(row.params):
        return Symbol(prim[0])
    return to_scalar_function(expand_body(activation_body(fn, params)), 1)


def expand_body(body):
    """Rewrite activation nodes that are not WL primitives through their sympy form."""
    if body[0] in ("arg", "const"):
        return body
    kids = tuple(expand_body(b) for b in body[1:])
    row = ACTIVATIONS.get(body[0])
    if row is not None and not any(n in PRIMITIVES for n in row.wolfram):
        return expand_body(activation_body(body[0], None, kids[0]))
    return (body[0], *kids)


@writer("elementwise")
def _elementwise(L, ins, out):
    f = elementwise_function(L.attrs["fn"], L.attrs.get("fn_params"))
    return layer("Elementwise", {}, {"Function": call("ValidatedParameter", f), "$Dimensions": list(ins[0])},
                 ins, out)


@writer("scalar_fn")
def _scalar_fn(L, ins, out):
    f = to_scalar_function(expand_body(L.attrs["body"]), len(ins))
    if len(ins) == 1:
        return layer("Elementwise", {}, {"Function": call("ValidatedParameter", f), "$Dimensions": list(ins[0])},
                     ins, out)
    return _threading_layer(f, ins, out)


def _threading_layer(f, ins, out):
    if any(tuple(d) != tuple(out) for d in ins):
        raise _Skip("inputs of different shapes (broadcasting) have no ThreadingLayer form here")
    return layer("Threading", {}, {"Function": call("ValidatedParameter", f), "$Dimensions": list(out)}, ins, out)


THREAD_HEADS = {"add": "Plus", "mul": "Times", "sub": "Subtract", "div": "Divide", "pow": "Power",
                "min": "Min", "max": "Max"}


@writer("add", "mul", "sub", "div", "pow", "min", "max")
def _threading(L, ins, out):
    if L.op == "add" and all(tuple(d) == tuple(out) for d in ins):
        return layer("Total", {}, {"$Dimensions": list(out)}, ins, out)
    return _threading_layer(Symbol(THREAD_HEADS[L.op]), ins, out)


@writer("softmax")
def _softmax(L, ins, out):
    ax = int(L.attrs.get("axis", -1))
    return layer("Softmax", {}, {"Level": ax if ax < 0 else ax + 1}, ins, out)


@writer("batchnorm")
def _batchnorm(L, ins, out):
    ax = int(L.attrs.get("axis", 0)) % len(ins[0])
    if ax not in (0, len(ins[0]) - 1) or (ax != 0 and len(ins[0]) == 1 and False):
        raise _Skip(f"batchnorm on axis {ax}: WL normalizes the first (or, interleaved, the last) axis")
    inter = ax != 0
    p = L.params
    return layer("BatchNormalization",
                 {"Scaling": p["scale"], "Biases": p["bias"], "MovingMean": p["mean"], "MovingVariance": p["var"]},
                 {"Momentum": 0.9, "Epsilon": float(L.attrs.get("eps", 1e-5)), "Interleaving": Symbol(str(inter)),
                  "$Channels": int(ins[0][ax]),
                  "$SpatialDimensions": list(ins[0][:-1] if inter else ins[0][1:])}, ins, out)


@writer("flatten")
def _flatten(L, ins, out):
    return layer("Flatten", {}, {"Level": call("DirectedInfinity", 1)}, ins, out)


@writer("reshape")
def _reshape(L, ins, out):
    return layer("Reshape", {}, {"Dimensions": call("ValidatedParameter", [int(d) for d in out])}, ins, out)


@writer("concat")
def _concat(L, ins, out):
    ax = int(L.attrs.get("axis", 0))
    return layer("Catenate", {}, {"Level": ax + 1 if ax >= 0 else ax}, ins, out)


def _pairs(pad, n):
    return [[int(a), int(b)] for a, b in (pad or ((0, 0),) * n)]


@writer("conv")
def _conv(L, ins, out):
    w = L.params["weight"]
    n = w.ndim - 2
    g = int(L.attrs.get("groups", 1))
    return layer("Convolution", {"Weights": w, "Biases": L.params.get("bias")},
                 {"OutputChannels": int(w.shape[0]), "KernelSize": list(w.shape[2:]),
                  "Stride": list(L.attrs.get("stride") or (1,) * n),
                  "PaddingSize": _pairs(L.attrs.get("padding"), n),
                  "Dilation": list(L.attrs.get("dilation") or (1,) * n), "ChannelGroups": g,
                  "Dimensionality": n, "Interleaving": Symbol("False"), "$InputChannels": int(ins[0][0]),
                  "$InputSize": list(ins[0][1:]), "$OutputSize": list(out[1:]),
                  "$WeightsInputChannels": int(w.shape[1])}, ins, out)


@writer("pool")
def _pool(L, ins, out):
    kernel = list(L.attrs["kernel"])
    n = len(kernel)
    pad = _pairs(L.attrs.get("padding"), n)
    ignore = not L.attrs.get("count_include_pad", True)
    if L.attrs.get("dilation") and any(d != 1 for d in L.attrs["dilation"]):
        raise _Skip("dilated pooling has no PoolingLayer form")
    return layer("Pooling", {},
                 {"KernelSize": kernel, "Stride": list(L.attrs.get("stride") or (1,) * n), "PaddingSize": pad,
                  "Function": Symbol({"max": "Max", "avg": "Mean", "sum": "Total"}[L.attrs["kind"]]),
                  "Dimensionality": n, "Interleaving": Symbol("False"), "$Channels": int(ins[0][0]),
                  "$InputSize": list(ins[0][1:]), "$OutputSize": list(out[1:]),
                  "$MXPoolingConvention": "full" if L.attrs.get("ceil_mode") else "valid",
                  "$MXGlobalPool": Symbol("False"), "$IgnorePadding": Symbol(str(bool(ignore))),
                  "$InputType": T(()), "$OutputType": T(())}, ins, out)


from . import netwriter_seq  # noqa: E402,F401 - registers the sequence-op writers
from . import netwriter_misc  # noqa: E402,F401 - constants, Part, Aggregation, Normalization, Replicate
from . import netwriter_bidir  # noqa: E402,F401 - NetBidirectionalOperator of a bidirectional recurrent layer
from . import netwriter_parts  # noqa: E402,F401 - log_softmax, adaptive_pool as NetGraphs of their parts
