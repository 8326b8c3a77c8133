"""Shape sub-graphs over a symbolic batch axis, evaluated at conversion time for every opset.

Exporters compute shapes in the graph: ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``, a class
token ``Expand``-ed to the batch, zero padding from ``ConstantOfShape``. When the batch size is
symbolic, ``Shape`` of a value gives a :class:`~.context.Sym`: an integer tensor whose entries are ints
or expressions in :data:`BATCH`. :func:`evaluate` runs the shape ops on constants and such tensors with
numpy (object arrays for ``Sym``), in each op's attribute or input form (opset 1 to the newest), so
nothing goes through ``onnx.reference`` that fails on old forms. Where a shape tensor meets a
variable: a ``Reshape``/``Expand``/``Tile`` target or ``ConstantOfShape`` shape whose first entry is
the batch size is per-sample work (:func:`per_sample_dims`); any other use of the batch size is
refused with :class:`~.context.BatchDependentError` (the per-sample output would depend on it).

>>> import numpy as np
>>> s = pack(np.array([BATCH, 3, 4], dtype=object), np.int64)
>>> s.value, pack(s.value[1:] * 2, np.int64).value
(array([batch, 3, 4], dtype=object), array([6, 8]))
>>> pack(s.value * 2, np.int64).value
array([2*batch, 6, 8], dtype=object)
"""
from __future__ import annotations

import operator

import numpy as np
import sympy as sp

from .context import BATCH, BatchDependentError, Const, Ctx, Sym, Unsupported

__all__ = ["BATCH", "evaluate", "pack", "per_sample_dims", "SHAPE_OPS"]


def pack(arr, dtype) -> Const | Sym:
    """An evaluated tensor as a ``Const`` (no symbol left) or a ``Sym``."""
    arr = np.asarray(arr, dtype=object) if not isinstance(arr, np.ndarray) else arr
    dtype = np.dtype(dtype)
    if arr.dtype != object:
        return Const(arr.astype(dtype, copy=False))
    flat = [_plain(e) for e in arr.reshape(-1)]
    if any(isinstance(e, sp.Basic) for e in flat):
        return Sym(np.array(flat + [None], dtype=object)[:-1].reshape(arr.shape), dtype)
    return Const(np.array(flat, dtype=dtype).reshape(arr.shape))


def _plain(e):
    """A sympy number as a Python number; an expression in BATCH stays symbolic."""
    if isinstance(e, sp.Basic):
        if e.free_symbols:
            return e
        if e in (sp.true, sp.false):
            return bool(e)
        return int(e) if e.is_integer else float(e)
    return e.item() if isinstance(e, np.generic) else e


def _obj(x) -> np.ndarray:
    v = x.value
    return v if v.dtype == object else v.astype(object)


def _ints(ctx: Ctx, x, what: str) -> list[int]:
    if isinstance(x, Sym):
        raise ctx.error(f"{what} depends on the batch size ({list(x.value.reshape(-1))})", BatchDependentError)
    return [int(v) for v in np.asarray(x.value).reshape(-1)]


def _is_int(x) -> bool:
    return isinstance(x, Sym) or x.value.dtype.kind in "iub"


# ---- per op ------------------------------------------------------------------------------------

def _shape(ctx, node, ins):
    from .context import Moved, Var

    x = ins[0]
    if isinstance(x, (Var, Moved)):
        size = BATCH if ctx.batch_size < 0 else ctx.batch_size
        full = [size if i == 0 else d for i, d in zip(_onnx_axes(ctx, x), ctx.onnx_shape(x))]
    else:
        full = list(x.value.shape)
    start, end = ctx.attrs.get("start", 0), ctx.attrs.get("end", None)
    return pack(np.array(full + [None], dtype=object)[:-1][start:end], np.int64)


def _onnx_axes(ctx, x) -> list:
    """Which full ONNX axis of the IR value each axis of ``x`` is (0: the batch axis; -1: none)."""
    from .context import Moved

    if isinstance(x, Moved):
        return list(x.perm)
    return list(range(len(x.shape) + 1)) if ctx.batch else [-1] * len(x.shape)


def _size(ctx, node, ins):
    shape = _shape(ctx, node, ins)
    return pack(np.array([np.prod(_obj(shape))], dtype=object).reshape(()), np.int64)


def _axes_of(ctx, ins, since: int) -> list[int] | None:
    """``axes`` as an attribute (before ``since``) or as the optional second input."""
    if ctx.opset < since:
        a = ctx.attrs.get("axes")
        return None if a is None else [int(v) for v in a]
    return None if len(ins) < 2 or ins[1] is None else _ints(ctx, ins[1], "axes")


def _unsqueeze(ctx, node, ins):
    x = ins[0]
    axes = _axes_of(ctx, ins, 13) or []
    r = x.value.ndim + len(axes)
    return _same(x, np.expand_dims(x.value, tuple(sorted(a % r for a in axes))))


def _squeeze(ctx, node, ins):
    x = ins[0]
    axes = _axes_of(ctx, ins, 13)
    v = x.value
    return _same(x, np.squeeze(v) if axes is None else np.squeeze(v, tuple(a % v.ndim for a in axes)))


def _same(x, value):
    return pack(value, x.dtype if isinstance(x, Sym) else x.value.dtype)


def _gather(ctx, node, ins):
    x, idx = ins
    ax = int(ctx.attrs.get("axis", 0))
    return _same(x, np.take(x.value, np.asarray(_ints(ctx, idx, "the indices")).reshape(idx.value.shape), axis=ax))


def _slice(ctx, node, ins):
    x = ins[0]
    if ctx.opset < 10:
        starts, ends, axes, steps = ctx.attrs["starts"], ctx.attrs["ends"], ctx.attrs.get("axes"), None
    else:
        starts, ends = _ints(ctx, ins[1], "starts"), _ints(ctx, ins[2], "ends")
        axes = _ints(ctx, ins[3], "axes") if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ctx, ins[4], "steps") if len(ins) > 4 and ins[4] is not None else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.value.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        if st == 0:
            raise ctx.error("Slice with step 0")
        index[int(a) % x.value.ndim] = slice(int(s), int(e), int(st))
    return _same(x, x.value[tuple(index)])


def _concat(ctx, node, ins):
    ins = [x for x in ins if x is not None]
    ax = int(ctx.attrs.get("axis", 1 if ctx.opset < 4 else 0))
    dtype = next((x.dtype for x in ins if isinstance(x, Sym)), ins[0].value.dtype)
    if not any(isinstance(x, Sym) for x in ins):
        return Const(np.concatenate([x.value for x in ins], axis=ax))
    return pack(np.concatenate([_obj(x) for x in ins], axis=ax), dtype)


def _reshape(ctx, node, ins):
    x = ins[0]
    target = [int(d) for d in ctx.attrs["shape"]] if ctx.opset < 5 else _ints(ctx, ins[1], "the target shape")
    if not ctx.attrs.get("allowzero", 0):
        target = [x.value.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return _same(x, x.value.reshape(target))


def _flatten(ctx, node, ins):
    v = ins[0].value
    a = int(ctx.attrs.get("axis", 1)) % (v.ndim or 1)
    return _same(ins[0], v.reshape(int(np.prod(v.shape[:a])), -1))


def _transpose(ctx, node, ins):
    return _same(ins[0], np.transpose(ins[0].value, ctx.attrs.get("perm")))


def _identity(ctx, node, ins):
    return ins[0]


def _cast(ctx, node, ins):
    import onnx

    to = ctx.attrs.get("to") if node.op_type == "Cast" else ctx.types.get(node.input[1])
    if not to:
        raise Unsupported("CastLike whose target type is not known")
    to = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))
    x = ins[0]
    if to.kind not in "fiub" or (isinstance(x, Const) and x.value.dtype.kind not in "fiub"):
        return None  # strings, bfloat16, float8: onnx.reference knows their rounding
    if isinstance(x, Const):
        return Const(x.value.astype(to))
    if to.kind == "b":
        return pack(np.vectorize(lambda e: sp.Ne(e, 0), otypes=[object])(x.value), to)
    return Sym(x.value, to)


def _binary(fn):
    def apply(ctx, node, ins):
        a, b = ins
        out = np.vectorize(lambda p, q: fn(ctx, p, q, a), otypes=[object])(_obj(a), _obj(b))
        return _same(a, out)
    return apply


def _arith(op):
    return _binary(lambda ctx, p, q, a: op(p, q))


def _div(ctx, p, q, a):
    if isinstance(a, Const) and a.value.dtype.kind == "f":
        return p / q
    if isinstance(p, sp.Basic) or isinstance(q, sp.Basic):
        r = sp.floor(sp.sympify(p) / q)
        return r
    r = abs(p) // abs(q)  # ONNX integer Div truncates toward zero
    return r if (p < 0) == (q < 0) else -r


def _truth(ctx, r) -> bool:
    r = sp.sympify(r)
    if r in (sp.true, sp.false):
        return bool(r)
    raise ctx.error(f"whether {r} holds depends on the batch size", BatchDependentError)


def _compare(rel):
    def apply(ctx, node, ins):
        a, b = ins
        holds = np.vectorize(lambda p, q: _truth(ctx, rel(sp.sympify(p), sp.sympify(q))), otypes=[object])
        out = holds(_obj(a), _obj(b))
        return Const(np.asarray(out, dtype=bool))
    return apply


def _logic(fn):
    def apply(ctx, node, ins):
        return Const(np.asarray(fn(*[x.value for x in ins]), dtype=bool))
    return apply


def _variadic(fn):
    def apply(ctx, node, ins):
        out = _obj(ins[0])
        for x in ins[1:]:
            out = np.vectorize(lambda p, q: fn(p, q), otypes=[object])(out, _obj(x))
        return _same(ins[0], out)
    return apply


def _max(p, q):
    return sp.Max(p, q) if isinstance(p, sp.Basic) or isinstance(q, sp.Basic) else max(p, q)


def _min(p, q):
    return sp.Min(p, q) if isinstance(p, sp.Basic) or isinstance(q, sp.Basic) else min(p, q)


def _unary(fn):
    def apply(ctx, node, ins):
        return _same(ins[0], np.vectorize(fn, otypes=[object])(_obj(ins[0])))
    return apply


def _where(ctx, node, ins):
    c, a, b = ins
    cond = np.asarray(_ints(ctx, c, "the condition"), dtype=bool).reshape(c.value.shape)
    dtype = a.dtype if isinstance(a, Sym) else a.value.dtype
    if not isinstance(a, Sym) and not isinstance(b, Sym):
        return Const(np.where(cond, a.value, b.value).astype(dtype))
    return pack(np.where(cond, _obj(a), _obj(b)), dtype)


def _reduce(fn):
    def apply(ctx, node, ins):
        x = ins[0]
        axes = _axes_of(ctx, ins, 18 if node.op_type != "ReduceSum" else 13)
        keep = bool(ctx.attrs.get("keepdims", 1))
        if axes is None and ctx.attrs.get("noop_with_empty_axes", 0):
            return x
        axes = tuple(range(x.value.ndim)) if not axes else tuple(a % x.value.ndim for a in axes)
        return _same(x, fn(_obj(x), axis=axes, keepdims=keep))
    return apply


def _constant_of_shape(ctx, node, ins):
    import onnx

    v = ctx.attrs.get("value")
    fill = onnx.numpy_helper.to_array(v).reshape(-1) if v is not None else np.zeros(1, np.float32)
    return Const(np.full(_ints(ctx, ins[0], "the shape"), fill[0], dtype=fill.dtype))


def _expand(ctx, node, ins):
    x, shape = ins
    target = _ints(ctx, shape, "the target shape")
    return _same(x, np.broadcast_to(x.value, np.broadcast_shapes(x.value.shape, tuple(target))).copy())


def _tile(ctx, node, ins):
    reps = _ints(ctx, ins[1], "repeats")
    return _same(ins[0], np.tile(ins[0].value, reps))


def _range(ctx, node, ins):
    start, limit, delta = (_obj(x).reshape(()).item() for x in ins)
    n = sp.ceiling(sp.sympify(limit - start) / delta)
    if isinstance(n, sp.Basic) and n.free_symbols:
        raise ctx.error(f"Range of {n} elements: the length depends on the batch size", BatchDependentError)
    dtype = ins[0].dtype if isinstance(ins[0], Sym) else ins[0].value.dtype
    return pack(np.array([start + i * delta for i in range(max(int(n), 0))] + [None], dtype=object)[:-1], dtype)


def _clip(ctx, node, ins):
    x = ins[0]
    if ctx.opset < 11:
        lo, hi = ctx.attrs.get("min"), ctx.attrs.get("max")
    else:
        lo, hi = [ins[i].value.reshape(()).item() if len(ins) > i and ins[i] is not None else None for i in (1, 2)]
    if isinstance(x, Const):  # numpy's loops, in the tensor's own dtype
        v = x.value
        v = v if lo is None else np.maximum(v, np.asarray(lo, v.dtype))
        return Const(v if hi is None else np.minimum(v, np.asarray(hi, v.dtype)))
    v = _obj(x)
    if lo is not None:
        v = np.vectorize(lambda e: _max(e, lo), otypes=[object])(v)
    if hi is not None:
        v = np.vectorize(lambda e: _min(e, hi), otypes=[object])(v)
    return _same(x, v)


# op -> (evaluator, kind): "move" ops work on any dtype (and every opset's form, which onnx.reference does
# not); "int" ops on integer/bool tensors holding the batch size (constants alone go to onnx.reference)
SHAPE_OPS = {
    "Shape": (_shape, "move"), "Size": (_size, "move"), "Unsqueeze": (_unsqueeze, "move"),
    "Squeeze": (_squeeze, "move"), "Gather": (_gather, "move"), "Slice": (_slice, "move"),
    "Concat": (_concat, "move"), "Reshape": (_reshape, "move"), "Flatten": (_flatten, "move"),
    "Transpose": (_transpose, "move"), "Identity": (_identity, "move"), "Cast": (_cast, "move"),
    "CastLike": (_cast, "move"), "Where": (_where, "move"), "ConstantOfShape": (_constant_of_shape, "move"),
    "Expand": (_expand, "move"), "Tile": (_tile, "move"),
    "Add": (_arith(operator.add), "int"), "Sub": (_arith(operator.sub), "int"),
    "Mul": (_arith(operator.mul), "int"), "Div": (_binary(_div), "int"),
    "Mod": (_arith(operator.mod), "int"), "Neg": (_unary(operator.neg), "int"), "Abs": (_unary(abs), "int"),
    "Max": (_variadic(_max), "int"), "Min": (_variadic(_min), "int"),
    "Equal": (_compare(sp.Eq), "int"), "Less": (_compare(sp.Lt), "int"), "Greater": (_compare(sp.Gt), "int"),
    "LessOrEqual": (_compare(sp.Le), "int"), "GreaterOrEqual": (_compare(sp.Ge), "int"),
    "Not": (_logic(np.logical_not), "int"), "And": (_logic(np.logical_and), "int"),
    "Or": (_logic(np.logical_or), "int"), "Xor": (_logic(np.logical_xor), "int"),
    "ReduceProd": (_reduce(np.prod), "int"), "ReduceSum": (_reduce(np.sum), "int"),
    "ReduceMax": (_reduce(np.max), "int"), "ReduceMin": (_reduce(np.min), "int"),
    "Range": (_range, "int"), "Clip": (_clip, "move"),
}


def evaluate(ctx: Ctx, node, ins) -> list | None:
    """Evaluate a node whose inputs are all constants or shape tensors; None when this module does not
    evaluate it (the caller folds it with ``onnx.reference``)."""
    entry = SHAPE_OPS.get(node.op_type)
    symbolic = any(isinstance(x, Sym) for x in ins)
    if entry is not None and entry[1] == "int" and not symbolic:
        return None  # arithmetic on constants: onnx.reference, in numpy's vectorized loops
    if entry is None or (entry[1] == "int" and not all(_is_int(x) for x in ins if x is not None)):
        if symbolic:
            raise ctx.error(f"{node.op_type} uses the batch size as a value: the per-sample output would depend "
                            "on the batch size", BatchDependentError)
        return None
    fn, _ = entry
    if node.op_type == "Where" and not symbolic and ins[1].value.dtype.kind == "f":
        return None  # float Where: onnx.reference keeps its dtype rules
    out = fn(ctx, node, ins)
    if out is None and symbolic:
        raise ctx.error(f"{node.op_type} of the batch size to this type is not evaluated", BatchDependentError)
    return None if out is None else [out]


def per_sample_dims(ctx: Ctx, shape, what: str, batch=-1, at=(0,)) -> list:
    """A shape input (Const or Sym) as ints; an entry that is exactly the batch size, at a position in
    ``at``, becomes ``batch``; any other use of the batch size in it is refused."""
    if isinstance(shape, Const):
        return [int(v) for v in shape.value.reshape(-1)]
    out = []
    for i, e in enumerate(shape.value.reshape(-1)):
        e = _plain(e)
        if isinstance(e, sp.Basic):
            if e != BATCH or i not in at:
                raise ctx.error(f"{what} {list(shape.value.reshape(-1))} depends on the batch size",
                                BatchDependentError)
            out.append(batch)
        else:
            out.append(int(e))
    return out
