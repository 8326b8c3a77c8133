"""Piecewise-constant heads and data-dependent indexing: ArgMax/ArgMin, Equal, Not/And/Or/Xor, Where on a
computed condition, OneHot, Cast to integers and back, and Slice/Gather whose start is computed from the
input values (the IR's ``dynamic_slice``).

A computed Slice window must have a fixed size: ``ends`` is ``starts`` plus a constant (as exporters write
``x[i:i + 3]``), found by following both back through reshapes, concatenations and constant offsets.
The IR clamps the window inside the axis; where the ONNX graph would return a shorter slice there, no
fixed-shape net can follow it.
"""
from __future__ import annotations

import numpy as np

from ...dtypes import layer_dtypes
from .context import BatchAxisError, Cmp, Const, Ctx, Unsupported, Var
from .registry import rule
from .rules_math import broadcast_args, combine, materialize
from .rules_shape import const_ints

_FLIP = {"greater": "less_equal", "less_equal": "greater", "less": "greater_equal", "greater_equal": "less",
         "equal": "not_equal", "not_equal": "equal"}


def _arg_extreme(ctx: Ctx, node, ins):
    x = ctx.var(ins[0])
    ax = ctx.axis(int(ctx.attrs.get("axis", 0)), ctx.rank(x))
    op = "argmax" if ctx.op_type == "ArgMax" else "argmin"
    attrs = {"axis": ax, "keepdims": bool(ctx.attrs.get("keepdims", 1))}
    n = x.shape[ax]
    if not int(ctx.attrs.get("select_last_index", 0)) or n == 1:
        return ctx.emit(op, [x], attrs=attrs)
    # the last extreme on ties: n - 1 minus the first extreme of the reversed axis
    first = ctx.emit(op, [ctx.emit("take", [x], attrs={"axis": ax, "indices": list(range(n - 1, -1, -1))})], attrs=attrs)
    return ctx.emit("sub", [ctx.emit("constant", [], params={"value": np.int64(n - 1)}), first])


rule("ArgMax", 1)(_arg_extreme)
rule("ArgMin", 1)(_arg_extreme)


@rule("Equal", 1)
def _equal(ctx: Ctx, node, ins):
    if any(ctx.types.get(n) == 8 for n in node.input):  # TensorProto.STRING
        raise Unsupported("Equal of strings (the IR computes with numbers)")
    return combine(ctx, "equal", ins)


@rule("Not", 1)
def _not(ctx: Ctx, node, ins):
    x = ins[0]
    if isinstance(x, Cmp) and x.body[0] in _FLIP:
        return Cmp((_FLIP[x.body[0]], *x.body[1:]), x.args, x.shape)
    return combine(ctx, "equal", [x, Const(np.zeros((), dtype=np.float32))])


def _logical(ctx: Ctx, node, ins):
    """And / Or / Xor of 0/1 values: min / max / not equal."""
    xs = broadcast_args(ctx, [materialize(ctx, x) if isinstance(x, Cmp) else x for x in ins])
    if ctx.op_type == "Xor":
        return ctx.emit("compare", xs, attrs={"kind": "not_equal"})
    return ctx.emit("min" if ctx.op_type == "And" else "max", xs)


for _op in ("And", "Or", "Xor"):
    rule(_op, 1)(_logical)


def where_var(ctx: Ctx, ins) -> Var:
    """Where on a computed 0/1 condition (a cast, an Equal's result, ...): the IR's ``where``."""
    xs = [materialize(ctx, x) if isinstance(x, Cmp) else x for x in ins]
    return ctx.emit("where", broadcast_args(ctx, xs))


@rule("OneHot", 9)
def _one_hot(ctx: Ctx, node, ins):
    idx, depth, values = ins
    if not isinstance(depth, Const) or not isinstance(values, Const):
        raise Unsupported("OneHot with a computed depth or values")
    idx = ctx.var(materialize(ctx, idx) if isinstance(idx, Cmp) else idx)
    off, on = (float(v) for v in np.asarray(values.value).reshape(-1)[:2])
    ax = ctx.axis(int(ctx.attrs.get("axis", -1)), ctx.rank(idx) + 1)
    return ctx.emit("one_hot", [idx], attrs={"depth": int(np.asarray(depth.value).reshape(-1)[0]), "axis": ax,
                                             "off": off, "on": on, "dtype": np.asarray(values.value).dtype.name})


def _is_float(dtype) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


@rule("Cast", 1)
def _cast(ctx: Ctx, node, ins):
    import onnx

    to = ctx.types.get(node.input[1]) if ctx.op_type == "CastLike" else ctx.attrs.get("to")
    to = None if not to else np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))
    if to is None or not (to in (np.float32, np.float64) or np.issubdtype(to, np.integer) or to == np.bool_):
        raise Unsupported(f"Cast of a variable to {to} (float32/float64 are the identity in the float64 IR, "
                          "integers and bool are supported, narrower floats round)")
    x = materialize(ctx, ins[0]) if isinstance(ins[0], Cmp) else ctx.var(ins[0])
    if _is_float(to) and _is_float(layer_dtypes(ctx.builder)[x.name]):
        return x  # float to float: the identity in the float64 IR
    return ctx.emit("cast", [x], attrs={"to": to.name})


rule("CastLike", 15)(_cast)


# ---- data-dependent indexing -------------------------------------------------------------------

def _graph(ctx: Ctx):
    """The IR built so far: its layers by output name and every value's shape."""
    from types import SimpleNamespace

    from ...shapes import infer_shapes

    b = ctx.builder
    return {la.output: la for la in b.layers}, infer_shapes(SimpleNamespace(name=b.name, inputs=b.inputs,
                                                                            layers=b.layers))


def _offset(graph, name: str, k: int) -> tuple:
    """Element ``k`` (flat) of IR value ``name`` as ``(base, offset)``: a constant is ``(None, c)``; a value
    plus or minus a constant is the value's base with the constant added; reshapes, picks from a vector and
    concatenations of vectors are followed to the element they hold; anything else is its own base
    ``((name, k), 0)``."""
    layers, shapes = graph
    la = layers.get(name)
    if la is None:
        return (name, k), 0.0
    if la.op == "constant":
        v = np.asarray(la.params["value"]).reshape(-1)
        return None, float(v[k if v.size > 1 else 0])
    if la.op in ("reshape", "flatten", "identity"):
        return _offset(graph, la.inputs[0], k)
    if la.op == "take" and len(shapes[la.inputs[0]]) == 1:
        idx = la.attrs["indices"]
        return _offset(graph, la.inputs[0], idx if isinstance(idx, int) else idx[k])
    if la.op == "concat" and len(shapes[name]) == 1:
        for i in la.inputs:
            if k < shapes[i][0]:
                return _offset(graph, i, k)
            k -= shapes[i][0]
    if la.op in ("add", "sub") and len(la.inputs) == 2:
        (ba, ca), (bb, cb) = (_offset(graph, i, k if int(np.prod(shapes[i])) > 1 else 0) for i in la.inputs)
        if bb is None and ba is not None:
            return ba, ca + (cb if la.op == "add" else -cb)
        if ba is None and bb is not None and la.op == "add":
            return bb, ca + cb
    return (name, k), 0.0


def _start(ctx: Ctx, v: Var, k: int) -> Var:
    """Element ``k`` of a computed starts vector as a scalar IR value."""
    flat = ctx.reshape(v, (int(np.prod(v.shape)),))
    return ctx.emit("take", [flat], attrs={"axis": 0, "indices": k})


def dynamic_slice(ctx: Ctx, ins) -> Var:
    """Slice whose starts are computed from the input values; ``ends`` must be ``starts`` plus constants."""
    _per_sample_only(ctx, "start")
    x = ctx.var(ins[0])
    starts, ends = ins[1], ins[2]
    n = int(np.prod(ctx.onnx_shape(starts)))
    axes = const_ints(ctx, ins[3], "axes") if len(ins) > 3 and ins[3] is not None else list(range(n))
    steps = const_ints(ctx, ins[4], "steps") if len(ins) > 4 and ins[4] is not None else [1] * n
    if any(s != 1 for s in steps):
        raise Unsupported("Slice with a computed start and a step other than 1")
    s_var = starts if isinstance(starts, Var) else ctx.var(starts)
    e_var = ends if isinstance(ends, Var) else ctx.var(ends)
    graph = _graph(ctx)
    ir_axes, sizes, ks, fixed = [], [], [], ([], [], [])
    for k, a in enumerate(axes):
        (bs, os_), (be, oe) = _offset(graph, s_var.name, k), _offset(graph, e_var.name, k)
        if bs is None and be is None:  # a constant start and end on this axis: an ordinary slice first
            for part, v in zip(fixed, (int(os_), int(oe), a)):
                part.append(v)
            continue
        if bs != be or not float(oe - os_).is_integer():
            raise Unsupported("Slice whose window size depends on the input values (ends is not starts plus a "
                              "constant): the output shape would be data-dependent")
        ir_axes.append(ctx.axis(a, ctx.rank(x)))
        sizes.append(int(oe - os_))
        ks.append(k)
    if fixed[0]:
        from .rules_tensor import _slice

        x = _slice(ctx, x, *fixed, None)
    _discardable(ctx, graph[0], e_var.name)
    return ctx.emit("dynamic_slice", [x, *[_start(ctx, s_var, k) for k in ks]],
                    attrs={"axes": ir_axes, "sizes": sizes})


def _discardable(ctx: Ctx, layers: dict, name: str) -> None:
    """The computed ends (and what only they read) are dropped when nothing else needs them: the window's size
    is known, its end is never evaluated (``recurrent.drop_unused``)."""
    from .rules_recurrent import _optional

    todo = [name]
    while todo:
        v = todo.pop()
        if v in layers:
            _optional(ctx, Var(v, ()))
            todo.extend(layers[v].inputs)


def _per_sample_only(ctx: Ctx, what: str) -> None:
    """Refuse a batched index tensor (ONNX indexes across the samples with it); note the node for ``info``."""
    if ctx.batch:
        raise ctx.error("indices computed from the input carry the batch axis", BatchAxisError)
    ctx.data_dependent.append(f"{ctx.path} ({ctx.op_type}): {what} computed from the input values")


def dynamic_gather(ctx: Ctx, data: Var, idx) -> Var:
    """Gather of a variable at computed indices: one ``dynamic_slice`` of size 1 per index, joined."""
    _per_sample_only(ctx, "indices")
    idx = materialize(ctx, idx) if isinstance(idx, Cmp) else idx
    ax = ctx.axis(int(ctx.attrs.get("axis", 0)), ctx.rank(data))
    parts = [ctx.emit("dynamic_slice", [data, _start(ctx, idx, k)], attrs={"axes": [ax], "sizes": [1]})
             for k in range(int(np.prod(idx.shape)))]
    y = parts[0] if len(parts) == 1 else ctx.emit("concat", parts, attrs={"axis": ax})
    return ctx.reshape(y, (*data.shape[:ax], *idx.shape, *data.shape[ax + 1:]))


# ---- scatters at constant positions; the data-dependent ones refused with the reason ---------------------

def _scatter(ctx: Ctx, ins, targets) -> Var:
    """``data`` with the listed flat positions taken from ``updates`` (``targets[j]``: where update element
    ``j`` goes): one ``take`` of the joined flat data and updates, later updates winning as in ONNX."""
    if ctx.batch:
        raise ctx.error("a scatter writes at fixed positions of the batch axis", BatchAxisError)
    if ctx.attrs.get("reduction", "none") != "none":
        raise Unsupported(f"reduction={ctx.attrs['reduction']!r} (only 'none' is supported)")
    data, updates = ctx.var(ins[0]), ctx.var(ins[2])
    n, m = int(np.prod(data.shape)), int(np.prod(updates.shape))
    pick = np.arange(n)
    pick[np.asarray(targets, dtype=np.int64)] = n + np.arange(m)
    joined = ctx.emit("concat", [ctx.reshape(data, (n,)), ctx.reshape(updates, (m,))], attrs={"axis": 0})
    return ctx.reshape(ctx.emit("take", [joined], attrs={"axis": 0, "indices": [int(i) for i in pick]}), data.shape)


def _constant_indices(ctx: Ctx, idx, op: str) -> np.ndarray:
    if not isinstance(idx, Const):
        raise Unsupported(f"data-dependent indexing: {op} at positions computed from the input values (writing "
                          "at a computed position is not supported; a slice at a computed start is)")
    return np.asarray(idx.value).astype(np.int64)


@rule("ScatterND", 11)
def _scatter_nd(ctx: Ctx, node, ins):
    idx = _constant_indices(ctx, ins[1], "ScatterND")
    shape = ctx.onnx_shape(ins[0])
    flat = np.arange(int(np.prod(shape))).reshape(shape)
    k = idx.shape[-1]
    targets = np.concatenate([np.ravel(flat[tuple(t)]) for t in idx.reshape(-1, k)]) if idx.size else []
    return _scatter(ctx, ins, targets)


@rule("ScatterElements", 11)
def _scatter_elements(ctx: Ctx, node, ins):
    idx = _constant_indices(ctx, ins[1], "ScatterElements")
    shape = ctx.onnx_shape(ins[0])
    ax = int(ctx.attrs.get("axis", 0)) % len(shape)
    pos = np.indices(idx.shape)
    pos[ax] = np.where(idx < 0, idx + shape[ax], idx)
    return _scatter(ctx, ins, np.ravel_multi_index(tuple(pos), shape).reshape(-1))


rule("Scatter", 9)(_scatter_elements)  # deprecated at 11: the same semantics


@rule("Range", 11)
def _range(ctx: Ctx, node, ins):
    raise Unsupported("data-dependent indexing: Range with bounds computed from the input values (its length "
                      "would depend on them)")
