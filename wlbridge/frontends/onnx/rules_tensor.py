"""Slicing, splitting and indexing of variables (Slice, Split, Gather), LayerNormalization, MatMul of two
variables, and the classifier outputs of scikit-learn graphs (ZipMap)."""
from __future__ import annotations

import numpy as np

from . import moved
from .context import BatchAxisError, BatchDependentError, Cmp, Const, Ctx, Moved, Unsupported, Var
from .registry import rule
from .rules_shape import const_ints


def _slice_var(ctx: Ctx, x: Var, ranges: dict[int, tuple[int, int, int]]) -> Var:
    spans = [ranges.get(a, (0, d, 1)) for a, d in enumerate(x.shape)]
    if all(s == (0, d, 1) for s, d in zip(spans, x.shape)):
        return x
    return ctx.emit("slice", [x], attrs={"starts": [s[0] for s in spans], "stops": [s[1] for s in spans],
                                         "steps": [s[2] for s in spans]})


def _onnx_range(start: int, end: int, step: int, size: int) -> tuple[int, int, int]:
    """ONNX Slice clamping: [0, size] for a positive step, [-1, size - 1] for a negative one."""
    if step == 0:
        raise Unsupported("Slice with step 0")
    lo, hi = (0, size) if step > 0 else (-1, size - 1)
    start = min(max(start + size if start < 0 else start, lo), hi)
    end = min(max(end + size if end < 0 else end, lo), hi)
    return (start, max(start, end), step) if step > 0 else (start, min(start, end), step)


def _is_whole(start: int, end: int, step: int) -> bool:
    return start == 0 and step == 1 and end >= 2 ** 31 - 1


def _slice(ctx: Ctx, x, starts, ends, axes, steps):
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if isinstance(x, Moved):
        shape, ranges = moved.shape(x), {}
        for a, s, e, st in zip(axes, starts, ends, steps):
            a %= len(shape)
            if shape[a] == "batch" and not _is_whole(s, e, st):
                raise ctx.error("Slice of the batch axis; convert with batch_axis=False", BatchAxisError)
            if shape[a] != "batch":
                ranges[a] = _onnx_range(s, e, st, shape[a])
        return moved.sliced(ctx, x, ranges)
    x = ctx.var(x)
    r = ctx.rank(x)
    ranges = {}
    for a, s, e, st in zip(axes, starts, ends, steps):
        if ctx.batch and a % r == 0:
            if _is_whole(s, e, st) or (s == 0 and st == 1 and e == ctx.batch_size):
                continue
            raise ctx.error("Slice of the batch axis; convert with batch_axis=False", BatchAxisError)
        ax = ctx.axis(a, r)
        ranges[ax] = _onnx_range(s, e, st, x.shape[ax])
    return _slice_var(ctx, x, ranges)


@rule("Slice", 1)
def _slice_attrs(ctx: Ctx, node, ins):
    return _slice(ctx, ins[0], list(ctx.attrs["starts"]), list(ctx.attrs["ends"]), ctx.attrs.get("axes"), None)


@rule("Slice", 10)
def _slice_inputs(ctx: Ctx, node, ins):
    if isinstance(ins[1], (Var, Cmp)) or isinstance(ins[2], (Var, Cmp)):  # computed from the input values
        from .rules_heads import dynamic_slice

        return dynamic_slice(ctx, ins)
    opt = [const_ints(ctx, v, n) if v is not None else None
           for v, n in zip(list(ins[3:5]) + [None] * 2, ("axes", "steps"))]
    ends = const_ints(ctx, ins[2], "ends", batch=None, at=range(np.size(getattr(ins[2], "value", 0))))
    axes = opt[0] if opt[0] is not None else list(range(len(ends)))
    if any(e is None and (not ctx.batch or a % ctx.rank(ins[0]) != 0) for e, a in zip(ends, axes)):
        raise ctx.error(f"Slice ends {list(ins[2].value.reshape(-1))} use the batch size on another axis than "
                        "the batch axis", BatchDependentError)
    ends = [2 ** 63 - 1 if e is None else e for e in ends]  # the batch axis up to the batch size: all of it
    return _slice(ctx, ins[0], const_ints(ctx, ins[1], "starts"), ends, *opt)


def _split(ctx: Ctx, node, ins, sizes):
    if isinstance(ins[0], Moved):
        m = ins[0]
        ax = int(ctx.attrs.get("axis", 0)) % len(m.perm)
        n, k = m.var.shape[moved.source_axis(ctx, m, ax)], len(node.output)
    else:
        x = ctx.var(ins[0])
        ax = ctx.axis(int(ctx.attrs.get("axis", 0)), ctx.rank(x))
        n, k = x.shape[ax], len(node.output)
    if sizes is None:
        if "num_outputs" in ctx.attrs:
            k = int(ctx.attrs["num_outputs"])
        step = -(-n // k)
        sizes = [min(step, n - s) for s in range(0, n, step)]
    if sum(sizes) != n:
        raise ctx.error(f"split sizes {sizes} do not add up to {n}")
    out, pos = [], 0
    for s in sizes:
        if isinstance(ins[0], Moved):
            out.append(moved.sliced(ctx, ins[0], {ax: (pos, pos + s, 1)}))
        else:
            out.append(_slice_var(ctx, x, {ax: (pos, pos + s, 1)}))
        pos += s
    return out


@rule("Split", 1)
def _split_attr(ctx: Ctx, node, ins):
    split = ctx.attrs.get("split")
    if split is None and len(ins) > 1 and ins[1] is not None:
        split = const_ints(ctx, ins[1], "split")
    return _split(ctx, node, ins, list(split) if split else None)


@rule("Split", 13)
def _split_input(ctx: Ctx, node, ins):
    split = const_ints(ctx, ins[1], "split") if len(ins) > 1 and ins[1] is not None else None
    return _split(ctx, node, ins, split)


def gather_var(ctx: Ctx, data: Var, idx) -> Var:
    """Gather of a variable with constant indices: one ``take``, reshaped to the index shape."""
    if isinstance(idx, (Var, Cmp)):  # computed from the input values
        from .rules_heads import dynamic_gather

        return dynamic_gather(ctx, data, idx)
    if not isinstance(idx, Const):
        raise Unsupported("Gather of a variable at indices computed from the batch size")
    r = ctx.rank(data)
    ax = ctx.axis(int(ctx.attrs.get("axis", 0)), r)
    n = data.shape[ax]
    indices = np.asarray(idx.value).astype(np.int64)
    flat = [int(i) % n for i in indices.reshape(-1)]
    y = ctx.emit("take", [data], attrs={"axis": ax, "indices": flat})
    return ctx.reshape(y, (*data.shape[:ax], *indices.shape, *data.shape[ax + 1:]))


@rule("LayerNormalization", 17)
def _layernorm(ctx: Ctx, node, ins):
    x = ctx.var(ins[0])
    ax = ctx.axis(int(ctx.attrs.get("axis", -1)), ctx.rank(x))
    params = {}
    for name, v in (("scale", ins[1] if len(ins) > 1 else None), ("bias", ins[2] if len(ins) > 2 else None)):
        if v is None:
            continue
        if not isinstance(v, Const):
            raise Unsupported(f"LayerNormalization {name} that is not constant")
        params[name] = v.value
    eps = float(ctx.attrs.get("epsilon", 1e-5))
    y = ctx.emit("layernorm", [x], params=params, attrs={"axis": ax, "eps": eps})
    if len(node.output) < 2 or not any(node.output[1:]):
        return y
    axes = list(range(ax, len(x.shape)))  # the optional Mean and InvStdDev outputs (keepdims)
    mean = ctx.emit("reduce", [x], attrs={"kind": "mean", "axes": axes, "keepdims": True})
    sq = ctx.emit("elementwise", [ctx.emit("sub", [x, mean])], attrs={"fn": "square"})
    var = ctx.emit("reduce", [sq], attrs={"kind": "mean", "axes": axes, "keepdims": True})
    inv = ctx.emit("scalar_fn", [var], attrs={"body": ("div", ("const", 1.0), ("sqrt", ("add", ("arg", 1), ("const", eps))))})
    return [y, mean, inv]


def matmul_vars(ctx: Ctx, a: Var, b: Var) -> Var:
    """MatMul of two variables (numpy matmul of stacks of matrices)."""
    if ctx.rank(a) < 2 or ctx.rank(b) < 2 or len(a.shape) < 2 or len(b.shape) < 2:
        raise Unsupported(f"MatMul of {list(ctx.onnx_shape(a))} and {list(ctx.onnx_shape(b))}: only products "
                          "of matrices (or stacks of them) per sample")
    if ctx.batch and ctx.rank(a) != ctx.rank(b):
        raise ctx.error("MatMul of different ranks broadcasts against the batch axis", BatchAxisError)
    return ctx.emit("batch_matmul", [a, b])


@rule("ZipMap", 1)
def _zipmap(ctx: Ctx, node, ins):
    """ai.onnx.ml ZipMap (class label -> probability maps): the probabilities as they are, in class order."""
    return ctx.var(ins[0])


@rule("GatherND", 11)
def _gather_nd(ctx: Ctx, node, ins):
    """GatherND of a variable with constant indices (batch_dims 0): one ``take`` on the merged leading axes."""
    data, idx = ins
    if not isinstance(data, Var) or not isinstance(idx, Const) or ctx.attrs.get("batch_dims", 0):
        raise Unsupported("GatherND other than of a variable with constant indices and batch_dims=0")
    if ctx.batch:
        raise ctx.error("GatherND indexes the batch axis; convert with batch_axis=False", BatchAxisError)
    idx = np.asarray(idx.value).astype(np.int64)
    k = idx.shape[-1]
    lead = data.shape[:k]
    flat = np.ravel_multi_index(tuple(np.moveaxis(idx % np.array(lead), -1, 0)), lead).reshape(-1)
    x = ctx.reshape(data, (int(np.prod(lead)), *data.shape[k:]))
    y = ctx.emit("take", [x], attrs={"axis": 0, "indices": [int(i) for i in flat]})
    return ctx.reshape(y, (*idx.shape[:-1], *data.shape[k:]))


def gemm_vars(ctx: Ctx, ins) -> Var:
    """Gemm with a variable B: alpha op(A) op(B) + beta C as a ``batch_matmul`` (one sample: a 2-D
    B holds no batch axis, so this converts with batch_axis=False)."""
    from .rules_math import broadcast_args

    if ctx.batch:
        raise ctx.error("Gemm of two variables: B's first axis would be the batch axis", BatchAxisError)
    a, b = ctx.var(ins[0]), ins[1]
    if ctx.attrs.get("transA", 0):
        a = ctx.emit("transpose", [a], attrs={"perm": (1, 0)})
    if ctx.attrs.get("transB", 0):
        b = ctx.emit("transpose", [b], attrs={"perm": (1, 0)})
    y = ctx.emit("batch_matmul", [a, b])
    alpha, beta = float(ctx.attrs.get("alpha", 1.0)), float(ctx.attrs.get("beta", 1.0))
    if alpha != 1.0:
        y = ctx.emit("scalar_fn", [y], attrs={"body": ("mul", ("arg", 1), ("const", alpha))})
    c = ins[2] if len(ins) > 2 else None
    if c is None or beta == 0.0:
        return y
    c = Const(np.asarray(c.value, dtype=np.float64) * beta) if isinstance(c, Const) else c
    if beta != 1.0 and isinstance(c, Var):
        c = ctx.emit("scalar_fn", [c], attrs={"body": ("mul", ("arg", 1), ("const", beta))})
    return ctx.emit("add", broadcast_args(ctx, [y, c]))
