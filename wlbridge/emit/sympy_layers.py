"""The sympy form evaluated a layer at a time on a whole batch: fast enough for ``check`` at CNN scale.

The compact sympy form (:func:`wlbridge.emit.sympy.to_sympy`) has one scalar expression per
element: 400k weights make 400k sympy objects, ~15 s to build and lambdify. Here each layer's
sympy expression is built once, at the size of one element or one matrix product, compiled with
``lambdify`` (wlbridge's numpy printer) and applied to the batch by numpy broadcasting:

- elementwise ops (activations, ``scalar_fn``, add/mul/sub/div/pow/max/min): the scalar rule of
  :mod:`wlbridge.emit.scalar` on one dummy element per input, i.e. the same sympy expression every
  element of the compact form has;
- ``linear`` / ``matmul`` / ``conv``: a sympy ``MatMul`` of matrix symbols (conv through the
  patches of its input, whose positions come from the scalar rules' window geometry);
- softmax / log-softmax: the scalar rule on one row of dummies (with ``cse``);
- batch norm: ``k (x - mean) + bias`` in dummies, per-channel values broadcast;
- rearrangements (flatten, reshape, transpose, concat) and pooling: the scalar rules run on element
  *indices*, then one numpy gather (and a max / sum / mean over each window);
- PReLU: leaky ReLU's sympy expression with the slope as a second dummy;
- any other op (embedding): that layer's element-level sympy, lambdified with ``cse``.

Symbols are sympy ``Dummy`` objects: no user name reaches generated code.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])
>>> layer_function(net)(np.array([[1.0, 0.5]]))[0].round(6).tolist()
[[0.635149]]
"""
from __future__ import annotations

import dataclasses
import functools
import weakref

import numpy as np
import sympy as sp

from ..errors import WlbridgeError
from ..ops import ACTIVATIONS
from . import scalar
from ._geom import full_padding, geometry, norm_axis, pool_counts
from .sympy import SympyAlgebra, lambdify_flat

_ELEMENTWISE = {"elementwise", "scalar_fn", "add", "mul", "max", "min", "sub", "div", "pow"}
_GATHER = {"identity", "flatten", "reshape", "transpose", "concat", "take"}
_RECURRENT = {"lstm", "gru", "rnn"}


_LAYER_FUNCTIONS: dict[int, tuple] = {}  # id(net) -> (weak reference to net, its function): the last two nets


def layer_function(net):
    """A function ``f(*xs) -> [outputs]`` (batch axis first) evaluating ``net`` layer by layer.

    The last two nets' functions are kept (``check`` compiles before it forks, see :func:`warm`), by weak
    reference and built on the net without its source model: the cache never keeps an onnxruntime session
    alive, so a forked child never frees one that its parent made (its destructor waits, in the child, on the
    parent's thread pool: a campaign task hung there)."""
    hit = _LAYER_FUNCTIONS.get(id(net))
    if hit is not None and hit[0]() is net:
        return hit[1]
    bare = dataclasses.replace(net, origin=None) if getattr(net, "origin", None) is not None else net
    steps = layer_steps(bare)
    fn = lambda *xs: [run_steps(bare, steps, xs)[o] for o in bare.outputs]  # noqa: E731
    while len(_LAYER_FUNCTIONS) >= 2:
        _LAYER_FUNCTIONS.pop(next(iter(_LAYER_FUNCTIONS)))
    _LAYER_FUNCTIONS[id(net)] = (weakref.ref(net), fn)
    return fn


def layer_steps(net) -> list:
    """``(layer, f)`` per layer: ``f(*inputs)`` is that layer's compiled sympy expression on a batch."""
    from . import refuse_unsupported
    from .sympy import SUPPORT

    refuse_unsupported(net, SUPPORT, "sympy")  # a computed slice start has no sympy form
    return [(layer, _compile(net, layer)) for layer in net.layers]


def run_steps(net, steps, xs) -> dict[str, np.ndarray]:
    """Every value (input ports, then each layer's output, batch first, by name) from :func:`layer_steps`."""
    n = len(xs[0])
    env = {p.name: np.asarray(x, dtype=np.float64).reshape((n, *p.shape)) for p, x in zip(net.inputs, xs)}
    with np.errstate(all="ignore"):  # inf/nan limits are compared with the reference, not warned
        for layer, step in steps:
            args = [env[i] for i in layer.inputs]
            y = step(*args) if args else np.broadcast_to(step(), (n, *net.shapes[layer.output]))
            env[layer.output] = np.asarray(y, dtype=np.float64)
    return env


def _compile(net, layer):
    ins = [tuple(net.shapes[i]) for i in layer.inputs]
    out = tuple(net.shapes[layer.output])
    if layer.op in _ELEMENTWISE:
        return _elementwise(layer, ins, out)
    if layer.op in _GATHER:
        return _gather(layer, ins, out)
    if layer.op in _RECURRENT:
        return _recurrent(layer, ins, out)
    rule = {"linear": _linear, "matmul": _linear, "conv": _conv, "pool": _pool, "batchnorm": _batchnorm,
            "prelu": _prelu, "pad": _pad,
            "softmax": _rowwise, "log_softmax": _rowwise, "reduce": _reduce, "constant": _constant}.get(layer.op)
    return (rule or _element_level)(layer, ins, out)


def _algebra():
    return SympyAlgebra(stable=True)


def _dummies(n: int) -> list:
    return [sp.Dummy() for _ in range(n)]


def _elementwise(layer, ins, out):
    """One scalar expression of dummies, broadcast over the batch like the rule's ``_map``; compiled once per
    kind of layer (a net's sigmoids share one function)."""
    fn = _elementwise_fn(_signature(layer), layer, tuple(len(s) for s in ins), len(out))

    def step(*xs):
        n = len(xs[0])
        aligned = [x.reshape((n, *(1,) * (len(out) - len(s)), *s)) for x, s in zip(xs, ins)]
        return np.broadcast_to(fn(*aligned), (n, *out))
    return step


def _signature(layer) -> tuple:
    """What an elementwise layer's scalar expression depends on: its op, attributes, constants and the
    activation's row (replaced in a test: a new function)."""
    row = ACTIVATIONS.get(layer.attrs.get("fn")) if layer.op == "elementwise" else None
    return layer.op, _frozen(dict(layer.attrs)), _frozen(dict(layer.params)), id(row)


def _frozen(v):
    """``v`` as a hashable key: arrays by their bytes (``repr`` summarises big ones), dicts sorted."""
    if isinstance(v, np.ndarray):
        return v.dtype.str, v.shape, v.tobytes()
    if isinstance(v, dict):
        return tuple(sorted((str(k), _frozen(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    return repr(v)


_COMPILED: dict[tuple, object] = {}  # compiled scalar functions, shared by layers (and checks) of one kind


def _elementwise_fn(signature, layer, ranks: tuple, out_rank: int):
    key = (signature, ranks, out_rank)
    if key not in _COMPILED:
        if len(_COMPILED) >= 1024:
            _COMPILED.clear()
        ds = _dummies(len(ranks))
        args = [np.full((1,) * r, d, dtype=object) for r, d in zip(ranks, ds)]
        expr = scalar.run_layer(_algebra(), layer, args, (1,) * out_rank).reshape(-1)[0]
        _COMPILED[key] = lambdify_flat(ds, expr)
    return _COMPILED[key]


def warm(net=None) -> None:
    """Build the shared compiled pieces once (imports sympy's printers), and ``net``'s layer function:
    ``check`` calls it before it forks its workers, which then evaluate without compiling again."""
    _matmul_fn(), _bias_fn()
    if net is not None:
        try:
            layer_function(net)
        except WlbridgeError:  # a layer with no sympy form: the sympy row says so itself
            pass


@functools.lru_cache(maxsize=None)
def _matmul_fn():
    """``lambdify`` of the sympy matrix product ``X W``: rows of X are samples (or patches)."""
    r, k, c = sp.Dummy(integer=True), sp.Dummy(integer=True), sp.Dummy(integer=True)
    X, W = sp.MatrixSymbol("X", r, k), sp.MatrixSymbol("W", k, c)
    return sp.lambdify([X, W], sp.MatMul(X, W), modules="numpy")


@functools.lru_cache(maxsize=None)
def _bias_fn():
    d, b = sp.Dummy(), sp.Dummy()
    return lambdify_flat([d, b], d + b)


def _linear(layer, ins, out):
    w = scalar.p64(layer, "weight")
    wt = w.T if layer.op == "linear" else w
    bias = scalar.p64(layer, "bias")
    mm, add = _matmul_fn(), _bias_fn()

    def step(x):
        y = mm(x.reshape(-1, wt.shape[0]), wt)
        if bias is not None:
            y = add(y, bias)
        return y.reshape((len(x), *out))
    return step


def _index_array(shapes) -> list[np.ndarray]:
    """Object arrays of consecutive flat indices, one per input (numbered across inputs)."""
    arrays, start = [], 0
    for s in shapes:
        size = int(np.prod(s, dtype=np.int64))
        a = scalar.obj(s)
        a.reshape(-1)[:] = list(range(start, start + size))
        arrays.append(a)
        start += size
    return arrays


def _as_indices(a: np.ndarray, missing: int) -> np.ndarray:
    return np.array([missing if v is None else v for v in a.reshape(-1)], dtype=np.int64).reshape(a.shape)


def _flat(xs) -> np.ndarray:
    n = len(xs[0])
    return np.concatenate([x.reshape(n, -1) for x in xs], axis=1)


def _gather(layer, ins, out):
    """A rearrangement: the rule run on element indices, then one gather."""
    idx = _as_indices(scalar.run_layer(None, layer, _index_array(ins), out), -1).reshape(-1)
    return lambda *xs: _flat(xs)[:, idx].reshape((len(xs[0]), *out))


def _pad(layer, ins, out):
    """Constant padding: a gather from the input with one extra column holding the pad value."""
    (xi,) = _index_array(ins)
    missing = int(np.prod(ins[0], dtype=np.int64))
    idx = np.pad(_as_indices(xi, missing), [tuple(p) for p in layer.attrs["pads"]], constant_values=missing)
    value = float(layer.attrs.get("value", 0.0))
    return lambda x: _padded_flat(x, value)[:, idx.reshape(-1)].reshape((len(x), *out))


def _recurrent(layer, ins, out):
    """A recurrent layer through its unrolling (:func:`wlbridge.recurrent.expand`), layer by layer."""
    from ..recurrent import expand

    run = layer_function(expand(layer, ins[0]))
    return lambda x: run(x)[0]


def _windows_of(x_shape, pad, kernel, stride, dil, out_sp) -> np.ndarray:
    """Input flat index (or the extra last column for padding) at [channel, kernel offset, *out]."""
    (xi,) = _index_array([x_shape])
    missing = int(np.prod(x_shape))
    views = [v for _, v in scalar._windows(scalar._padded(xi, pad), kernel, stride, dil, out_sp)]
    return np.stack([_as_indices(v, missing) for v in views], axis=1)


def _padded_flat(x, fill: float) -> np.ndarray:
    n = len(x)
    return np.concatenate([x.reshape(n, -1), np.full((n, 1), fill)], axis=1)


def _conv(layer, ins, out):
    w, b = scalar.p64(layer, "weight"), scalar.p64(layer, "bias")
    kernel = w.shape[2:]
    stride, dil, pad = geometry(layer, len(kernel))
    out_sp = out[1:]
    idx = _windows_of(ins[0], pad, kernel, stride, dil, out_sp)  # [c_in, k, *out_sp]
    groups = int(layer.attrs.get("groups", 1))
    og, cg, kk, p = w.shape[0] // groups, w.shape[1], idx.shape[1], int(np.prod(out_sp, dtype=np.int64))
    idx = idx.reshape(groups, cg * kk, p)
    # weights as [group][c * k, o]: the same (channel, offset) order as the patches
    wg = [w[g * og:(g + 1) * og].reshape(og, cg, -1).reshape(og, cg * kk).T for g in range(groups)]
    mm, add = _matmul_fn(), _bias_fn()

    def step(x):
        n = len(x)
        xf = _padded_flat(x, 0.0)
        parts = []
        for g in range(groups):
            patches = xf[:, idx[g]].transpose(0, 2, 1).reshape(n * p, cg * kk)
            parts.append(mm(patches, wg[g]).reshape(n, p, og))
        y = np.concatenate(parts, axis=2).transpose(0, 2, 1)
        if b is not None:
            y = add(y, b[None, :, None])
        return y.reshape((n, *out))
    return step


def _pool(layer, ins, out):
    kernel = tuple(layer.attrs["kernel"])
    stride, dil, pad = geometry(layer, len(kernel))
    out_sp = out[1:]
    idx = _windows_of(ins[0], full_padding(ins[0][1:], out_sp, kernel, stride, dil, pad), kernel, stride, dil,
                      out_sp)
    kind = layer.attrs["kind"]
    counts = pool_counts(layer, ins[0][1:], out_sp) if kind == "avg" else None

    def step(x):
        windows = _padded_flat(x, -np.inf if kind == "max" else 0.0)[:, idx]  # [n, c, k, *out]
        y = windows.max(axis=2) if kind == "max" else windows.sum(axis=2)
        return y / counts if kind == "avg" else y
    return step


def _batchnorm(layer, ins, out):
    ax = norm_axis(layer.attrs.get("axis", 0), len(out))
    k = scalar.p64(layer, "scale") / np.sqrt(scalar.p64(layer, "var") + float(layer.attrs.get("eps", 1e-5)))
    shape = [1] * len(out)
    shape[ax] = -1
    consts = [a.reshape(shape) for a in (k, scalar.p64(layer, "mean"), scalar.p64(layer, "bias"))]
    x, kd, md, bd = _dummies(4)
    fn = lambdify_flat([x, kd, md, bd], kd * (x - md) + bd)
    return lambda v: fn(v, *consts)


def _prelu(layer, ins, out):
    """leaky_relu's sympy expression with the slope as a second dummy, slopes broadcast per element."""
    x, slope = _dummies(2)
    fn = lambdify_flat([x, slope], ACTIVATIONS["leaky_relu"].sympy_fn(x, {"negative_slope": slope}))
    slopes = np.broadcast_to(scalar.p64(layer, "slope"), out)
    return lambda v: fn(v, slopes)


def _rowwise(layer, ins, out):
    """softmax / log-softmax: the rule on one row of dummies, applied to every row."""
    ax = norm_axis(layer.attrs.get("axis", -1), len(out)) + 1
    length = out[ax - 1]
    ds = _dummies(length)
    exprs = list(scalar.run_layer(_algebra(), layer, [np.array(ds + [None], dtype=object)[:-1]], (length,)))
    fn = lambdify_flat(ds, exprs, cse=True)

    def step(x):
        moved = np.moveaxis(x, ax, -1)
        cols = fn(*[moved[..., i] for i in range(length)])
        return np.moveaxis(np.stack([np.broadcast_to(c, moved.shape[:-1]) for c in cols], axis=-1), -1, ax)
    return step


def _reduce(layer, ins, out):
    axes = tuple(sorted({norm_axis(a, len(ins[0])) + 1 for a in layer.attrs["axes"]}))
    how = {"max": np.max, "sum": np.sum}.get(layer.attrs["kind"], np.mean)  # as the scalar rule reads kind
    return lambda x: how(x, axis=axes, keepdims=bool(layer.attrs.get("keepdims", False))).reshape((len(x), *out))


def _constant(layer, ins, out):
    value = scalar.p64(layer, "value")
    return lambda: value


def _element_level(layer, ins, out):
    """The layer's element-level sympy (one expression per output element), lambdified with cse."""
    sizes = [int(np.prod(s, dtype=np.int64)) for s in ins]
    ds = _dummies(sum(sizes))
    args, pos = [], 0
    for s, size in zip(ins, sizes):
        args.append(np.array(ds[pos:pos + size] + [None], dtype=object)[:-1].reshape(s))
        pos += size
    exprs = list(scalar.run_layer(_algebra(), layer, args, out).reshape(-1))
    fn = lambdify_flat(ds, exprs, cse=True)

    def step(*xs):
        flat = _flat(xs) if xs else np.zeros((1, 0))
        n = len(flat)
        cols = fn(*flat.T)
        return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in cols], axis=1
                        ).reshape((n, *out))
    return step
