"""The Jacobian of a net as a net: forward mode over the IR, one derivative rule per op.

Every value ``v`` of shape ``S`` gets a tangent value of shape ``(n, *S)`` (``n`` = the number of
input scalars; the leading axis is the input scalar it is differentiated by), built from IR ops, so
the Jacobian net is emitted and checked like any net. Elementwise functions use the derivative
column of their ``ACTIVATIONS`` row; broadcasting ops (add, sub, mul, div, pow, max, min) and
``scalar_fn`` bodies are differentiated symbolically (:func:`diff_body`). Kinks follow torch's
autograd: ReLU'(0) = 0, Hardtanh' = 0 at its bounds, |x|'(0) = 0, max/min split ties in halves,
max pooling takes the first maximum of a window.

The Jacobian net has, for each output ``o`` and input port ``p``, one output of shape
``(*shape(o), *shape(p))`` (``torch.autograd.functional.jacobian``'s layout); it is simplified,
so affine parts fold into constants.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder("f"); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.0, 2.0]]), "bias": np.zeros(1)})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])
>>> jacobian(net)(np.array([0.5, -0.25])).round(6)
array([[1., 2.]])
"""
from __future__ import annotations

import itertools

import numpy as np

from ..errors import ConversionError, UnsupportedLayerError
from ..ir import NetBuilder
from ..ops import ACTIVATIONS, NOT_SMOOTH, SCALAR_OPS
from ..reference import RULES as REFERENCE
from ..shapes import RULES as SHAPES
from .._rules import registrar

RULES: dict = {}


rule = registrar(RULES, "Jacobian")


# ---- symbolic derivatives of scalar_fn bodies ----------------------------------------------------
ZERO, ONE = ("const", 0.0), ("const", 1.0)


def _add(*ts):
    ts = [t for t in ts if t != ZERO]
    return ZERO if not ts else ts[0] if len(ts) == 1 else ("add", *ts)


def _mul(*fs):
    if any(f == ZERO for f in fs):
        return ZERO
    fs = [f for f in fs if f != ONE]
    return ONE if not fs else fs[0] if len(fs) == 1 else ("mul", *fs)


def _sub(a, b):
    return a if b == ZERO else ("sub", a, b)


def substitute(body, args):
    """``body`` with ``("arg", i)`` replaced by ``args[i - 1]``."""
    if body[0] == "arg":
        return args[body[1] - 1]
    if body[0] == "const":
        return body
    return (body[0], *[substitute(b, args) for b in body[1:]])


def _eq(a, b):
    return ("where", ("greater_equal", a, b), ("where", ("less_equal", a, b), ONE, ZERO), ZERO)


def diff_body(body, i: int):
    """d body / d arg_i as a body (None if some function in it has no derivative)."""
    head = body[0]
    if head == "arg":
        return ONE if body[1] == i else ZERO
    if head == "const":
        return ZERO
    kids = list(body[1:])
    if head in ("greater", "less", "greater_equal", "less_equal"):
        return ZERO
    ds = [diff_body(k, i) for k in kids]
    if any(d is None for d in ds):
        return None
    if head == "add":
        return _add(*ds)
    if head == "sub":
        return _sub(ds[0], ds[1]) if ds[0] != ZERO else (ZERO if ds[1] == ZERO else ("sub", ZERO, ds[1]))
    if head == "mul":
        return _add(*[_mul(*kids[:k], ds[k], *kids[k + 1:]) for k in range(len(kids))])
    if head == "div":
        a, b = kids
        return _sub(_mul(ds[0], ("div", ONE, b)), _mul(ds[1], ("div", a, ("pow", b, ("const", 2.0)))))
    if head == "pow":
        a, b = kids
        first = _mul(ds[0], b, ("pow", a, ("sub", b, ONE))) if ds[0] != ZERO else ZERO
        second = _mul(ds[1], body, ("log", a)) if ds[1] != ZERO else ZERO
        return _add(first, second)
    if head in ("max", "min"):
        if len(kids) > 2:
            return diff_body((head, (head, *kids[:-1]), kids[-1]), i)
        a, b = kids
        wins = ("greater", a, b) if head == "max" else ("less", a, b)
        loses = ("less", a, b) if head == "max" else ("greater", a, b)
        return ("where", wins, ds[0], ("where", loses, ds[1], _mul(("const", 0.5), _add(ds[0], ds[1]))))
    if head == "where":
        return ZERO if ds[1] == ZERO and ds[2] == ZERO else ("where", kids[0], ds[1], ds[2])
    row = ACTIVATIONS.get(head)
    if row is None or row.d is None:
        return None
    return _mul(substitute(row.derivative(), [kids[0]]), ds[0])


# ---- the pass --------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, net):
        self.net = net
        self.b = NetBuilder(f"{net.name}_jacobian")
        self.n = sum(p.size for p in net.inputs)
        self.shapes = dict(net.shapes)
        self.taken = set(net.shapes)
        self.k = 0
        self.tangent: dict[str, str | None] = {}

    def fresh(self) -> str:
        while True:
            self.k += 1
            name = f"d{self.k}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def add(self, op, inputs, params=None, attrs=None, path=""):
        name = self.b.layer(op, inputs, params=params, attrs=attrs, path=path, name=self.fresh())
        layer = self.b._layers[-1]
        self.shapes[name] = tuple(int(d) for d in SHAPES[op](layer, *[self.shapes[i] for i in inputs]))
        return name

    def const(self, value):
        return self.add("constant", [], params={"value": np.asarray(value, dtype=np.float64)})

    def rank(self, v) -> int:
        return len(self.shapes[v])

    def lift(self, t, v, rank):
        """Tangent ``t`` of value ``v`` reshaped to ``(n, 1, .., *shape(v))`` of value rank ``rank``."""
        s = self.shapes[v]
        if len(s) >= rank:
            return t
        return self.add("reshape", [t], attrs={"shape": (self.n, *(1,) * (rank - len(s)), *s)})

    def scaled(self, t, body, args, out):
        """``t * body(args)`` (``body`` a scalar_fn body; shortcuts for constants)."""
        if body == ZERO:
            return None
        if body == ONE:
            return t
        if body[0] == "const":
            return self.add("mul", [t, self.const(np.array([body[1]]))])
        return self.add("mul", [t, self.add("scalar_fn", list(args), attrs={"body": body})])


def _inline_recurrent(net):
    """``net`` with each recurrent layer (lstm, gru, rnn) replaced by its unrolling (``recurrent.expand``)."""
    from ..recurrent import GATES, expand

    if not any(layer.op in GATES for layer in net.layers):
        return net
    taken = {p.name for p in net.inputs} | {layer.output for layer in net.layers}
    b = NetBuilder(net.name)
    for p in net.inputs:
        b.input(p.name, p.shape, p.dtype)
    for layer in net.layers:
        if layer.op not in GATES:
            b.layer(layer.op, layer.inputs, params=dict(layer.params), attrs=dict(layer.attrs), path=layer.path,
                    name=layer.output)
            continue
        sub = expand(layer, net.shapes[layer.inputs[0]])
        env = {sub.inputs[0].name: layer.inputs[0]}
        for k, sl in enumerate(sub.layers):
            name = layer.output if sl.output == sub.outputs[0] else f"{layer.output}_u{k}"
            while name != layer.output and name in taken:
                name += "_"
            taken.add(name)
            env[sl.output] = b.layer(sl.op, [env[i] for i in sl.inputs], params=dict(sl.params),
                                     attrs=dict(sl.attrs), path=f"{layer.path}/{sl.output}", name=name)
    return b.build(net.outputs, input_names=net.input_names, meta=net.meta)


def _refuse_integer_inputs(net) -> None:
    """Indices (an embedding's tokens) are not variables one differentiates by: torch's autograd refuses them too."""
    for p in net.inputs:
        if p.dtype is not None and not np.issubdtype(np.dtype(p.dtype), np.floating):
            raise ConversionError(f"{net.name}: jacobian: input {p.name} holds {np.dtype(p.dtype)} values (indices); "
                                  "the outputs are not differentiable in them")


def jacobian(net):
    """A net computing the Jacobian of ``net`` (see the module docstring for the layout and conventions)."""
    _refuse_integer_inputs(net)
    net = _inline_recurrent(net)
    j = _Builder(net)
    ports = net.inputs
    k = 0
    for p in ports:
        j.b.input(p.name, p.shape, p.dtype)
        e = np.zeros((j.n, p.size))
        e[k:k + p.size] = np.eye(p.size)
        j.tangent[p.name] = j.const(e.reshape(j.n, *p.shape))
        k += p.size
    bad = []
    for layer in net.layers:
        j.b.layer(layer.op, layer.inputs, params=dict(layer.params), attrs=dict(layer.attrs), path=layer.path,
                  name=layer.output)
        ts = [j.tangent[i] for i in layer.inputs]
        if all(t is None for t in ts):
            j.tangent[layer.output] = None
            continue
        fn = RULES.get(layer.op)
        out = fn(j, layer, ts) if fn is not None else NotImplemented
        if out is NotImplemented:
            bad.append((layer.path or layer.output, _what(layer), NOT_SMOOTH.get(layer.op, "no derivative rule")))
            out = None
        j.tangent[layer.output] = out
    if bad:
        raise UnsupportedLayerError(f"{net.name}: jacobian", bad)
    outs = []
    for o in net.outputs:
        t = j.tangent[o]
        so = net.shapes[o]
        if t is None:
            t = j.const(np.zeros((j.n, *so)))
        t = j.add("transpose", [t], attrs={"perm": (*range(1, len(so) + 1), 0)})  # (*so, n)
        k = 0
        for p in ports:
            part = t
            if len(ports) > 1:
                sel = np.zeros((j.n, p.size))
                sel[k:k + p.size] = np.eye(p.size)
                part = j.add("matmul", [t], params={"weight": sel})
            if len(p.shape) != 1:
                part = j.add("reshape", [part], attrs={"shape": (*so, *p.shape)})
            outs.append(part)
            k += p.size
    return j.b.build(outs, input_names=net.input_names, meta={**net.meta, "jacobian_of": net.name}).simplify()


def _what(layer) -> str:
    w = layer.attrs.get("fn") or layer.attrs.get("kind")
    return f"{layer.op}[{w}]" if w else layer.op


# ---- rules: (builder, layer, input tangents) -> output tangent (None = zero) --------------------
@rule("identity")
def _identity(j, layer, ts):
    return ts[0]


@rule("elementwise")
def _elementwise(j, layer, ts):
    row = ACTIVATIONS[layer.attrs["fn"]]
    body = row.derivative(layer.attrs.get("fn_params"))
    if body is None:
        return NotImplemented
    return j.scaled(ts[0], body, layer.inputs, layer.output)


def _elementwise_body(layer):
    if layer.op == "scalar_fn":
        return layer.attrs["body"]
    return (layer.op, *[("arg", i + 1) for i in range(len(layer.inputs))])


@rule("scalar_fn", "add", "sub", "mul", "div", "pow", "max", "min")
def _scalar(j, layer, ts):
    body = _elementwise_body(layer)
    rank = j.rank(layer.output)
    parts = []
    for i, (v, t) in enumerate(zip(layer.inputs, ts)):
        if t is None:
            continue
        d = diff_body(body, i + 1)
        if d is None:
            return NotImplemented
        part = j.scaled(j.lift(t, v, rank), d, layer.inputs, layer.output)
        if part is not None:
            parts.append(part)
    if not parts:
        return None
    out = parts[0] if len(parts) == 1 else j.add("add", parts)
    if not _covers(j, parts, layer):  # broadcast the tangent to the full output shape
        out = j.add("add", [out, j.const(np.zeros(j.shapes[layer.output]))])
    return out


def _covers(j, parts, layer) -> bool:
    want = (j.n, *j.shapes[layer.output])
    got = np.broadcast_shapes(*[j.shapes[p] for p in parts])
    return tuple(got) == want


@rule("linear")
def _linear(j, layer, ts):
    return j.add("linear", [ts[0]], params={"weight": layer.params["weight"]})


@rule("matmul")
def _matmul(j, layer, ts):
    return j.add("matmul", [ts[0]], params={"weight": layer.params["weight"]})


@rule("prelu")
def _prelu(j, layer, ts):
    x = layer.inputs[0]
    pos = j.add("scalar_fn", [x], attrs={"body": ("where", ("greater", ("arg", 1), ZERO), ONE, ZERO)})
    neg = j.add("scalar_fn", [x], attrs={"body": ("where", ("greater", ("arg", 1), ZERO), ZERO, ONE)})
    d = j.add("add", [pos, j.add("mul", [neg, j.const(layer.params["slope"])])])  # slope broadcast like the op
    return j.add("mul", [ts[0], d])


def _taxis(axis):
    return axis + 1 if axis >= 0 else axis


@rule("softmax")
def _softmax(j, layer, ts):
    y, t = layer.output, ts[0]
    s = j.add("reduce", [j.add("mul", [y, t])], attrs={"kind": "sum", "axes": (_taxis(layer.attrs.get("axis", -1)),),
                                                       "keepdims": True})
    return j.add("mul", [y, j.add("sub", [t, s])])


@rule("log_softmax")
def _log_softmax(j, layer, ts):
    t = ts[0]
    sm = j.add("softmax", [layer.inputs[0]], attrs={"axis": layer.attrs.get("axis", -1)})
    s = j.add("reduce", [j.add("mul", [sm, t])], attrs={"kind": "sum", "axes": (_taxis(layer.attrs.get("axis", -1)),),
                                                        "keepdims": True})
    return j.add("sub", [t, s])


@rule("batchnorm")
def _batchnorm(j, layer, ts):
    r = j.rank(layer.inputs[0])
    ax = layer.attrs.get("axis", 0) % r
    a = np.asarray(layer.params["scale"], np.float64) / np.sqrt(np.asarray(layer.params["var"], np.float64)
                                                                 + float(layer.attrs.get("eps", 1e-5)))
    shape = [1] * r
    shape[ax] = -1
    return j.add("mul", [ts[0], j.const(a.reshape(shape))])


@rule("flatten", "reshape")
def _reshape(j, layer, ts):
    return j.add("reshape", [ts[0]], attrs={"shape": (j.n, *j.shapes[layer.output])})


@rule("transpose")
def _transpose(j, layer, ts):
    return j.add("transpose", [ts[0]], attrs={"perm": (0, *[p + 1 for p in layer.attrs["perm"]])})


@rule("take")
def _take(j, layer, ts):
    ax = layer.attrs.get("axis", 0)
    return j.add("take", [ts[0]], attrs={**layer.attrs, "axis": _taxis(ax)})


@rule("pad")
def _pad(j, layer, ts):  # linear: the tangent is padded with zeros
    return j.add("pad", [ts[0]], attrs={**layer.attrs, "pads": ((0, 0), *layer.attrs["pads"]), "value": 0.0})


@rule("slice")
def _slice(j, layer, ts):  # linear: the same slice, the tangent axis kept whole
    a = layer.attrs
    return j.add("slice", [ts[0]], attrs={"starts": (0, *a["starts"]), "stops": (j.n, *a["stops"]),
                                          "steps": (1, *a["steps"])})


@rule("adaptive_pool")
def _adaptive_pool(j, layer, ts):
    if layer.attrs["kind"] != "avg":
        return NotImplemented  # max: the argmax mask of uneven windows has no rule yet
    y = j.add("adaptive_pool", [_channels_to_batch(j, ts[0], layer.inputs[0])], attrs=dict(layer.attrs))
    return _batch_to_channels(j, y, layer.output)


@rule("batch_matmul")
def _batch_matmul(j, layer, ts):  # d(A B) = dA B + A dB
    a, b = layer.inputs
    rank = max(j.rank(a), j.rank(b))  # align the leading axes as the primal product does, then the tangent axis
    terms = []
    if ts[0] is not None:
        terms.append(j.add("batch_matmul", [j.lift(ts[0], a, rank), b]))
    if ts[1] is not None:
        lifted = j.add("reshape", [a], attrs={"shape": (1,) * (rank + 1 - j.rank(a)) + tuple(j.shapes[a])})
        terms.append(j.add("batch_matmul", [lifted, j.lift(ts[1], b, rank)]))
    return terms[0] if len(terms) == 1 else j.add("add", terms)


@rule("layernorm")
def _layernorm(j, layer, ts):
    """dy = scale * (dx - mean(dx) - xh * mean(xh dx)) / sigma, means over the normalized axes."""
    x = layer.inputs[0]
    r = j.rank(x)
    ax = layer.attrs.get("axis", -1) % r
    axes = tuple(range(ax, r))
    taxes = tuple(a + 1 for a in axes)
    eps = float(layer.attrs.get("eps", 1e-5))
    xh = j.add("layernorm", [x], attrs={"axis": ax, "eps": eps})
    c = j.add("sub", [x, j.add("reduce", [x], attrs={"kind": "mean", "axes": axes, "keepdims": True})])
    var = j.add("reduce", [j.add("mul", [c, c])], attrs={"kind": "mean", "axes": axes, "keepdims": True})
    inv = j.add("scalar_fn", [var], attrs={"body": ("div", ONE, ("sqrt", ("add", ("arg", 1), ("const", eps))))})
    t = ts[0]
    mt = j.add("reduce", [t], attrs={"kind": "mean", "axes": taxes, "keepdims": True})
    proj = j.add("reduce", [j.add("mul", [t, xh])], attrs={"kind": "mean", "axes": taxes, "keepdims": True})
    d = j.add("mul", [j.add("sub", [j.add("sub", [t, mt]), j.add("mul", [proj, xh])]), inv])
    if "scale" in layer.params:
        scale = np.asarray(layer.params["scale"], dtype=np.float64)
        d = j.add("mul", [d, j.const(np.broadcast_to(scale, j.shapes[x][ax:]).copy())])
    return d


@rule("concat")
def _concat(j, layer, ts):
    parts = [t if t is not None else j.const(np.zeros((j.n, *j.shapes[v]))) for v, t in zip(layer.inputs, ts)]
    return j.add("concat", parts, attrs={"axis": _taxis(layer.attrs.get("axis", 0))})


@rule("reduce")
def _reduce(j, layer, ts):
    if layer.attrs["kind"] not in ("mean", "sum"):
        return NotImplemented
    return j.add("reduce", [ts[0]], attrs={**layer.attrs, "axes": tuple(_taxis(a) for a in layer.attrs["axes"])})


def _channels_to_batch(j, t, v):
    """(n, C, *sp) -> (n*C, *sp): the n tangents as extra channels."""
    s = j.shapes[v]
    return j.add("reshape", [t], attrs={"shape": (j.n * s[0], *s[1:])})


def _batch_to_channels(j, t, v):
    s = j.shapes[v]
    return j.add("reshape", [t], attrs={"shape": (j.n, *s)})


@rule("conv")
def _conv(j, layer, ts):
    w = np.asarray(layer.params["weight"], np.float64)
    g = int(layer.attrs.get("groups", 1))
    attrs = {**layer.attrs, "groups": g * j.n}
    y = j.add("conv", [_channels_to_batch(j, ts[0], layer.inputs[0])],
              params={"weight": np.tile(w, (j.n,) + (1,) * (w.ndim - 1))}, attrs=attrs)
    return _batch_to_channels(j, y, layer.output)


@rule("pool")
def _pool(j, layer, ts):
    if layer.attrs["kind"] == "max":
        return _max_pool(j, layer, ts)
    y = j.add("pool", [_channels_to_batch(j, ts[0], layer.inputs[0])], attrs=dict(layer.attrs))
    return _batch_to_channels(j, y, layer.output)


def _max_pool(j, layer, ts):
    """Sum over window offsets k of [x_k is the window's first maximum] * tangent_k (torch's choice of index)."""
    x, y = layer.inputs[0], layer.output
    sx, sy = j.shapes[x], j.shapes[y]
    kernel = tuple(layer.attrs["kernel"])
    nd = len(kernel)
    stride = tuple(layer.attrs.get("stride") or (1,) * nd)
    dil = tuple(layer.attrs.get("dilation") or (1,) * nd)
    pad = [tuple(p) for p in (layer.attrs.get("padding") or ((0, 0),) * nd)]
    extra = [max(0, (sy[i + 1] - 1) * stride[i] + (kernel[i] - 1) * dil[i] + 1 - (sx[i + 1] + sum(pad[i])))
             for i in range(nd)]
    geom = {"stride": stride, "dilation": dil, "padding": tuple((p[0], p[1] + e) for p, e in zip(pad, extra))}
    C = sx[0]
    tb = _channels_to_batch(j, ts[0], x)
    seen = []  # (value at offset, valid) of earlier offsets
    parts = []
    for off in itertools.product(*[range(k) for k in kernel]):
        one = np.zeros(kernel)
        one[off] = 1.0
        probe = {"weight": np.broadcast_to(one, (C, 1, *kernel)).copy()}
        xk = j.add("conv", [x], params=probe, attrs={**geom, "groups": C})
        valid = REFERENCE["conv"](_Probe(probe, {**geom, "groups": C}), np.ones((1, *sx)))[0]
        vk = j.const(valid)
        # mask: valid and equal to the max, and no earlier valid offset equal to it
        args = [y, xk, vk] + [a for pair in seen for a in pair]
        body = _mul(("where", ("greater", ("arg", 3), ("const", 0.5)), _eq(("arg", 2), ("arg", 1)), ZERO),
                    *[("sub", ONE, ("where", ("greater", ("arg", 5 + 2 * i), ("const", 0.5)),
                                    _eq(("arg", 4 + 2 * i), ("arg", 1)), ZERO)) for i in range(len(seen))])
        mask = j.add("scalar_fn", args, attrs={"body": body})
        gk = _batch_to_channels(j, j.add("conv", [tb], params={"weight": np.tile(probe["weight"], (j.n, 1) + (1,) * nd)},
                                         attrs={**geom, "groups": C * j.n}), y)
        parts.append(j.add("mul", [gk, mask]))
        seen.append((xk, vk))
    return parts[0] if len(parts) == 1 else j.add("add", parts)


class _Probe:
    """A stand-in layer for evaluating a conv rule on constants."""

    def __init__(self, params, attrs):
        self.params, self.attrs = params, attrs


@rule("constant", "embedding")
def _no_tangent(j, layer, ts):
    return None
