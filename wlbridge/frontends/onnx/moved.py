"""A batch axis moved by a Transpose and brought back: ``permute(2, 0, 3, 1, 4)`` then ``unbind(0)``.

Vision transformers (timm's ``Attention``) reshape ``qkv`` to ``(B, N, 3, H, D)``, permute it to
``(3, B, H, N, D)`` and split off q, k and v along the new first axis. The IR is batch-free, so the
permuted value is kept as a :class:`~.context.Moved`: the IR value before the Transpose and the
permutation. Split, Slice, Squeeze and a Gather of one index act on an axis other than the batch
axis; they commute with the permutation and act on the IR value. When the batch axis is first again
the permutation becomes an IR ``transpose`` (or nothing); any other use of a moved value is refused
(``BatchAxisError``: the graph then converts as one sample).
"""
from __future__ import annotations

from .context import BatchAxisError, Ctx, Moved, Var

OPS = {"Transpose", "Split", "Slice", "Squeeze", "Gather", "Shape", "Size"}  # the ops that take a Moved value


def finish(ctx: Ctx, x: Var, perm) -> Var | Moved:
    """``transpose(x, perm)`` in full ONNX axes: an IR value when the batch axis is first, else Moved."""
    perm = tuple(int(p) for p in perm)
    if perm[0] != 0:
        return Moved(x, perm)
    ir = tuple(p - 1 for p in perm[1:])
    return x if ir == tuple(range(len(ir))) else ctx.emit("transpose", [x], attrs={"perm": ir})


def transpose(ctx: Ctx, x, perm) -> Var | Moved:
    if isinstance(x, Moved):
        return finish(ctx, x.var, [x.perm[p] for p in perm])
    return finish(ctx, x, perm)


def source_axis(ctx: Ctx, m: Moved, a: int) -> int:
    """The IR axis of ``m.var`` that ONNX axis ``a`` of the moved value is."""
    s = m.perm[a % len(m.perm)]
    if s == 0:
        raise ctx.error("acts on the batch axis after a Transpose moved it; convert with batch_axis=False",
                        BatchAxisError)
    return s - 1


def shape(m: Moved) -> list:
    """The moved value's ONNX shape (``"batch"`` for the batch axis)."""
    full = ["batch", *m.var.shape]
    return [full[p] for p in m.perm]


def sliced(ctx: Ctx, m: Moved, ranges: dict[int, tuple[int, int, int]]) -> Moved | Var:
    """Slices along ONNX axes of ``m`` (clamped ``(start, stop, step)`` per axis)."""
    from .rules_tensor import _slice_var

    return finish(ctx, _slice_var(ctx, m.var, {source_axis(ctx, m, a): r for a, r in ranges.items()}), m.perm)


def drop_axis(ctx: Ctx, m: Moved, a: int, index: int = 0) -> Moved | Var:
    """Element ``index`` of ONNX axis ``a`` (Gather of one index, or Squeeze of a size-1 axis)."""
    s = source_axis(ctx, m, a)
    x = m.var
    n = x.shape[s]
    y = ctx.emit("take", [x], attrs={"axis": s, "indices": [index % n]})
    y = ctx.reshape(y, x.shape[:s] + x.shape[s + 1:])
    src = s + 1  # in full ONNX axes
    perm = [p - (p > src) for p in m.perm if p != src]
    return finish(ctx, y, perm)
