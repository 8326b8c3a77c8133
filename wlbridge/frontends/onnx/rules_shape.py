"""Shape ops: Constant, Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Gather, Expand,
Tile, ConstantOfShape (per sample when their shape holds the batch size, see ``shapes.py``); Cast: ``rules_heads``."""
from __future__ import annotations

import math

import numpy as np

from . import moved
from .context import BatchAxisError, Const, Ctx, Moved, Sym, Unsupported, Var
from .registry import rule

_B = "batch"  # stands for the batch axis in full ONNX shapes


def full_shape(ctx: Ctx, x: Var) -> list:
    return ([_B] if ctx.batch else []) + list(x.shape)


def ir_shape(ctx: Ctx, full: list) -> tuple[int, ...]:
    """A full ONNX shape (with the batch marker) back to an IR shape; the batch axis must lead."""
    if ctx.batch:
        if not full or full[0] != _B or _B in full[1:]:
            raise ctx.error(f"output shape {full} moves the batch axis", BatchAxisError)
        full = full[1:]
    return tuple(int(d) for d in full)


def const_ints(ctx: Ctx, x, what: str, batch=-1, at=()) -> list[int]:
    """A constant (or shape tensor) input as ints; the symbolic batch size reads as ``batch`` at the
    positions ``at`` (a target shape's first entry) and is refused anywhere else."""
    if isinstance(x, Sym):
        from .shapes import per_sample_dims

        return per_sample_dims(ctx, x, what, batch, at)
    if not isinstance(x, Const):
        raise Unsupported(f"{what} is not constant (dynamic shapes are not supported)")
    return [int(v) for v in np.asarray(x.value).reshape(-1)]


@rule("Constant", 1)
def _constant(ctx: Ctx, node, ins):
    import onnx

    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in ctx.attrs:
            v = ctx.attrs[key]
            return Const(onnx.numpy_helper.to_array(v) if key == "value" else np.asarray(v))
    raise Unsupported(f"Constant with attribute {sorted(ctx.attrs)}")


@rule("Shape", 1)
def _shape(ctx: Ctx, node, ins):
    from .shapes import SHAPE_OPS

    return SHAPE_OPS["Shape"][0](ctx, node, ins)


@rule("Size", 1)
def _size(ctx: Ctx, node, ins):
    from .shapes import SHAPE_OPS

    return SHAPE_OPS["Size"][0](ctx, node, ins)


@rule("Reshape", 1)
def _reshape_attr(ctx: Ctx, node, ins):
    return _reshape_to(ctx, ctx.var(ins[0]), [int(d) for d in ctx.attrs["shape"]])


@rule("Reshape", 5)
def _reshape(ctx: Ctx, node, ins):
    return _reshape_to(ctx, ctx.var(ins[0]), const_ints(ctx, ins[1], "the target shape", batch=_B, at=(0,)))


def _reshape_to(ctx: Ctx, x: Var, target: list[int]):
    full = full_shape(ctx, x)
    if not ctx.attrs.get("allowzero", 0):
        target = [full[i] if d == 0 and i < len(full) else d for i, d in enumerate(target)]
    if ctx.batch:
        head, target = target[0], target[1:]
        if head not in (_B, -1, ctx.batch_size) or (head == -1 and -1 in target):
            raise ctx.error(f"reshape to {[head, *target]} mixes the batch axis", BatchAxisError)
    size = math.prod(x.shape)
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target = [size // known if d == -1 and known else d for d in target]
    if math.prod(target) != size:
        raise ctx.error(f"reshape of {list(x.shape)} to {target} changes the sample size", BatchAxisError)
    return ctx.reshape(x, target)


@rule("Flatten", 1)
def _flatten(ctx: Ctx, node, ins):
    x = ctx.var(ins[0])
    r = ctx.rank(x)
    a = int(ctx.attrs.get("axis", 1)) % r if r else 0
    if ctx.batch and a != 1:  # the output is 2-D: any other axis merges the batch axis
        raise ctx.error(f"Flatten at axis {a} merges the batch axis", BatchAxisError)
    if ctx.batch:
        return x if len(x.shape) == 1 else ctx.emit("flatten", [x])
    return ctx.reshape(x, (math.prod(x.shape[:a]), math.prod(x.shape[a:])))


def _axes(ctx: Ctx, ins, since_input: int) -> list[int] | None:
    if ctx.opset >= since_input:
        return None if len(ins) < 2 or ins[1] is None else const_ints(ctx, ins[1], "axes")
    return ctx.attrs.get("axes")


def _squeeze(ctx: Ctx, node, ins):
    if isinstance(ins[0], Moved):
        axes = _axes(ctx, ins, 13) or [a for a, d in enumerate(moved.shape(ins[0])) if d == 1]
        if len(axes) != 1 or moved.shape(ins[0])[axes[0]] != 1:
            raise ctx.error(f"Squeeze of axes {axes} of a value whose batch axis was moved", BatchAxisError)
        return moved.drop_axis(ctx, ins[0], axes[0])
    x = ctx.var(ins[0])
    full, r = full_shape(ctx, x), ctx.rank(x)
    axes = _axes(ctx, ins, 13)
    drop = {i for i, d in enumerate(full) if d == 1} if axes is None else {a % r for a in axes}
    return ctx.reshape(x, ir_shape(ctx, [d for i, d in enumerate(full) if i not in drop]))


def _unsqueeze(ctx: Ctx, node, ins):
    x = ctx.var(ins[0])
    full = full_shape(ctx, x)
    axes = _axes(ctx, ins, 13) or []
    r = len(full) + len(axes)
    for a in sorted(a % r for a in axes):
        full.insert(a, 1)
    return ctx.reshape(x, ir_shape(ctx, full))


rule("Squeeze", 1)(_squeeze)
rule("Unsqueeze", 1)(_unsqueeze)


@rule("Transpose", 1)
def _transpose(ctx: Ctx, node, ins):
    x = ins[0] if isinstance(ins[0], Moved) else ctx.var(ins[0])
    r = ctx.rank(x)
    perm = list(ctx.attrs.get("perm") or reversed(range(r)))
    if ctx.batch and (isinstance(x, Moved) or perm[0] != 0):  # brought back later (see moved.py)
        return moved.transpose(ctx, x, perm)
    if ctx.batch:
        if perm[0] != 0:
            raise ctx.error(f"perm {perm} moves the batch axis", BatchAxisError)
        perm = [p - 1 for p in perm[1:]]
    if perm == list(range(len(perm))):
        return x
    return ctx.emit("transpose", [x], attrs={"perm": tuple(perm)})


@rule("Concat", 1)
def _concat(ctx: Ctx, node, ins):
    r = max(ctx.rank(x) for x in ins)
    a = ctx.axis(int(ctx.attrs.get("axis", 1 if ctx.opset < 4 else 0)), r)
    xs = [ctx.var(x, r) for x in ins]
    xs = [x for x in xs if x.shape[a] != 0]
    return xs[0] if len(xs) == 1 else ctx.emit("concat", xs, attrs={"axis": a})


@rule("Expand", 8)
def _expand(ctx: Ctx, node, ins):
    """Expand(x, shape) = x + zeros(shape) under ONNX (bidirectional) broadcasting."""
    from .rules_math import broadcast_args

    if isinstance(ins[1], Sym) and ins[1].value.size < ctx.rank(ins[0]):
        raise ctx.error(f"Expand to {list(ins[1].value)}: the batch size is not the first axis", BatchAxisError)
    shape = [max(d, 1) for d in const_ints(ctx, ins[1], "the target shape", at=(0,))]  # -1: the batch size
    if isinstance(ins[0], Const):  # a constant expanded to the batch: the same constant in every sample
        value = np.broadcast_to(ins[0].value, np.broadcast_shapes(ins[0].value.shape, tuple(shape)))
        return ctx.var(Const(np.ascontiguousarray(value)))
    zeros = Const(np.zeros(shape, dtype=np.float32))
    if zeros.value.size == 1 and zeros.value.ndim <= ctx.rank(ins[0]):
        return ins[0]
    return ctx.emit("add", broadcast_args(ctx, [ins[0], zeros]))


@rule("Gather", 1)
def _gather(ctx: Ctx, node, ins):
    data, idx = ins
    if isinstance(data, Const) and isinstance(idx, Var) and data.value.ndim == 2 and ctx.attrs.get("axis", 0) == 0:
        return ctx.emit("embedding", [idx], params={"weight": data.value})
    if isinstance(data, Moved):
        if not isinstance(idx, Const) or idx.value.ndim:
            ctx.var(data)  # refused: more than one index of a moved value
        return moved.drop_axis(ctx, data, int(ctx.attrs.get("axis", 0)), int(idx.value))
    if isinstance(data, Var):
        from .rules_tensor import gather_var

        return gather_var(ctx, data, idx)
    raise Unsupported("Gather of a constant with computed indices (other than an embedding table)")


@rule("ConstantOfShape", 9)
def _constant_of_shape(ctx: Ctx, node, ins):
    """Zeros (or the ``value``) of a shape led by the batch size: the constant of one sample."""
    import onnx

    dims = const_ints(ctx, ins[0], "the shape", batch=_B, at=(0,))
    if not ctx.batch or not dims or dims[0] != _B:
        raise ctx.error(f"ConstantOfShape of {dims}: the batch size is not its first axis", BatchAxisError)
    v = ctx.attrs.get("value")
    fill = onnx.numpy_helper.to_array(v).reshape(-1)[0] if v is not None else 0.0
    return ctx.emit("constant", [], params={"value": np.full(dims[1:], fill, dtype=np.float64)})


@rule("Tile", 6)
def _tile(ctx: Ctx, node, ins):
    """Tile per sample: the batch axis repeats once (or a constant of batch 1 repeats to the batch);
    each other axis repeated ``r`` times is one ``take`` of its indices cycled."""
    reps = const_ints(ctx, ins[1], "repeats", batch=_B, at=(0,))
    x = ins[0]
    if ctx.batch:
        lead_one = isinstance(x, Const) and x.value.ndim == len(reps) and x.value.shape[0] == 1
        if reps[0] != 1 and not (reps[0] in (_B, ctx.batch_size) and lead_one):
            raise ctx.error(f"Tile with repeats {reps} repeats the batch axis", BatchAxisError)
        reps = reps[1:]
    x = ctx.var(x)
    for ax, r in enumerate(reps):
        if r != 1:
            n = x.shape[ax]
            x = ctx.emit("take", [x], attrs={"axis": ax, "indices": [i % n for i in range(n * r)]})
    return x
