"""Rules for slicing and splitting: ``x[:, :2]``, ``x[:, 0]``, ``chunk``, ``split``, ``narrow``, ``select``,
``unbind``, ``index_select`` and aten ``slice``; ``torchvision.ops.stochastic_depth`` (the identity at inference).

Every slice becomes one IR ``slice`` (a range per axis), constant index lists one ``take``; dropped or
added unit axes a ``reshape``. The batch axis can only be kept whole.
"""
from __future__ import annotations

import torch

from .context import Ctx, rule
from .shape_ops import batched_dim, reshape
from .values import BATCH, Unsupported, V


def _int(v, what: str) -> int:
    if v is BATCH:
        raise Unsupported(f"{what} is the batch size")
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return int(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    raise Unsupported(f"{what} {v!r} is not a constant integer")


def slice_axes(ctx: Ctx, x: V, ranges: dict[int, tuple[int, int, int]]) -> V:
    """``x`` sliced on IR axes ``{axis: (start, stop, step)}`` (normalized); full ranges emit nothing."""
    spans = [ranges.get(a, (0, d, 1)) for a, d in enumerate(x.shape)]
    if all(s == (0, d, 1) for s, d in zip(spans, x.shape)):
        return x
    return ctx.emit("slice", [x], attrs={"starts": [s[0] for s in spans], "stops": [s[1] for s in spans],
                                         "steps": [s[2] for s in spans]})


def _range(size: int, start, stop, step) -> tuple[int, int, int]:
    step = 1 if step is None else _int(step, "slice step")
    if step < 1:
        raise Unsupported(f"slice step {step} (only positive steps)")
    start = None if start is None else _int(start, "slice start")
    stop = None if stop is None or stop is BATCH else _int(stop, "slice stop")
    a, b, c = slice(start, stop, step).indices(size)
    return a, max(a, b), c


def narrow_axis(ctx: Ctx, x: V, axis: int, start: int, length: int) -> V:
    return slice_axes(ctx, x, {axis: (start, start + length, 1)})


def select_axis(ctx: Ctx, x: V, axis: int, index: int) -> V:
    """``x`` at ``index`` of IR ``axis``, the axis dropped."""
    n = x.shape[axis]
    if not -n <= index < n:
        raise Unsupported(f"index {index} out of range for an axis of size {n}")
    i = index % n
    y = narrow_axis(ctx, x, axis, i, 1)
    return reshape(ctx, y, x.shape[:axis] + x.shape[axis + 1:])


def split_sizes(ctx: Ctx, x: V, axis: int, sizes) -> tuple[V, ...]:
    if sum(sizes) != x.shape[axis]:
        raise Unsupported(f"split sizes {list(sizes)} do not add up to {x.shape[axis]}")
    out, pos = [], 0
    for s in sizes:
        out.append(narrow_axis(ctx, x, axis, pos, s))
        pos += s
    return tuple(out)


# ---- x[...] ------------------------------------------------------------------------------------------
def index_tensor(ctx: Ctx, x: V, idx) -> V:
    """Basic indexing (ints, slices, None, Ellipsis) and one constant integer index list."""
    items = list(idx) if isinstance(idx, tuple) else [idx]
    if sum(i is Ellipsis for i in items) > 1:
        raise Unsupported("more than one Ellipsis in an index")
    n_axes = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        k = items.index(Ellipsis)
        items[k:k + 1] = [slice(None)] * (x.rank - n_axes)
    items += [slice(None)] * (x.rank - len([i for i in items if i is not None]))
    ranges, out_shape, takes, axis = {}, [], [], 0  # axis counts torch axes, batch included
    for it in items:
        if it is None:
            if axis == 0:
                raise Unsupported("x[None] puts a new axis before the batch axis")
            out_shape.append(1)
            continue
        if axis >= x.rank:
            raise Unsupported(f"too many indices for a rank-{x.rank} tensor")
        if axis == 0:
            if not (isinstance(it, slice) and it.start is None and it.stop in (None, BATCH) and it.step in (None, 1)):
                raise Unsupported(f"index {it!r} on the batch axis (only ':' keeps it)")
        else:
            size = x.shape[axis - 1]
            if isinstance(it, slice):
                ranges[axis - 1] = _range(size, it.start, it.stop, it.step)
                out_shape.append(len(range(*ranges[axis - 1])))
            elif isinstance(it, torch.Tensor) and it.ndim == 1 and not it.is_floating_point() and it.dtype != torch.bool:
                takes.append((axis - 1, [int(v) % size for v in it.tolist()]))
                out_shape.append(len(takes[-1][1]))
            else:
                i = _int(it, "index")
                if not -size <= i < size:
                    raise Unsupported(f"index {i} out of range for an axis of size {size}")
                ranges[axis - 1] = (i % size, i % size + 1, 1)
        axis += 1
    if len(takes) > 1:
        raise Unsupported("more than one index list (advanced indexing)")
    y = slice_axes(ctx, x, ranges)
    for ax, indices in takes:
        y = ctx.emit("take", [y], attrs={"axis": ax, "indices": indices})
    return reshape(ctx, y, tuple(out_shape))


# ---- functions and methods ----------------------------------------------------------------------------
@rule("narrow", sig="self dim start length")
def _narrow(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    ax = batched_dim(_int(a["dim"], "dim"), x.rank, nb=x.nb) % len(x.shape)
    start = _int(a["start"], "start") % x.shape[ax]
    return narrow_axis(ctx, x, ax, start, _int(a["length"], "length"))


@rule("slice", sig="self dim start end step")
def _aten_slice(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    d = _int(a.get("dim", 0), "dim") % x.rank
    start, end, step = a.get("start"), a.get("end"), a.get("step", 1)
    if d == 0 and x.nb:
        if start in (None, 0) and step in (None, 1) and (end is None or end is BATCH or _int(end, "end") >= 2 ** 62
                                                          or end == ctx.batch_size):
            return x
        raise Unsupported("slice of the batch axis")
    size = x.shape[d - x.nb]
    end = None if end is None or end is BATCH or (isinstance(end, int) and end >= 2 ** 62) else end
    return slice_axes(ctx, x, {d - x.nb: _range(size, start, end, step)})


@rule("select", sig="self dim index")
def _select(ctx: Ctx, op, a):
    if isinstance(a["self"], tuple) and _int(a["dim"], "dim") == 0:  # h_n[-1] of an exported RNN's states
        return a["self"][_int(a["index"], "index")]
    x = ctx.value(a["self"])
    ax = batched_dim(_int(a["dim"], "dim"), x.rank, nb=x.nb) % len(x.shape)
    return select_axis(ctx, x, ax, _int(a["index"], "index"))


@rule("unbind", sig="self dim")
def _unbind(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    ax = batched_dim(_int(a.get("dim", 0), "dim"), x.rank, nb=x.nb) % len(x.shape)
    return tuple(select_axis(ctx, x, ax, i) for i in range(x.shape[ax]))


@rule("chunk", sig="self chunks dim")
def _chunk(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    ax = batched_dim(_int(a.get("dim", 0), "dim"), x.rank, nb=x.nb) % len(x.shape)
    n, chunks = x.shape[ax], _int(a["chunks"], "chunks")
    size = -(-n // chunks)
    sizes = [min(size, n - s) for s in range(0, n, size)]
    return split_sizes(ctx, x, ax, sizes)


@rule("split", "split_with_sizes", sig="self split_size_or_sections dim")
def _split(ctx: Ctx, op, a):
    x = ctx.value(a.get("self", a.get("tensor")))
    ax = batched_dim(_int(a.get("dim", 0), "dim"), x.rank, nb=x.nb) % len(x.shape)
    spec = a.get("split_size_or_sections", a.get("split_size", a.get("split_sizes")))
    n = x.shape[ax]
    if isinstance(spec, (list, tuple)):
        sizes = [_int(s, "split size") for s in spec]
    else:
        step = _int(spec, "split size")
        sizes = [min(step, n - s) for s in range(0, n, step)]
    return split_sizes(ctx, x, ax, sizes)


@rule("index_select", sig="self dim index")
def _index_select(ctx: Ctx, op, a):
    x, idx = ctx.value(a["self"]), a["index"]
    if not isinstance(idx, torch.Tensor):
        raise Unsupported("index_select with indices computed from the input")
    ax = batched_dim(_int(a["dim"], "dim"), x.rank, nb=x.nb) % len(x.shape)
    return ctx.emit("take", [x], attrs={"axis": ax, "indices": [int(i) % x.shape[ax] for i in idx.reshape(-1)]})


@rule("stochastic_depth", sig="self p mode training")
def _stochastic_depth(ctx: Ctx, op, a):
    """torchvision.ops.stochastic_depth: the identity at inference (``training=False``) or with p = 0."""
    if a.get("training", True) and float(a.get("p", 0.0)) > 0:
        raise Unsupported("stochastic_depth with training=True drops random samples")
    return ctx.value(a["self"])


@rule("flip", sig="self *dims")
def _flip(ctx: Ctx, op, a):
    """torch.flip: a slice with step -1 on each axis (never the batch axis)."""
    x = ctx.value(a["self"])
    dims = a["dims"]
    dims = [dims] if isinstance(dims, int) else list(dims[0] if len(dims) == 1 and isinstance(dims[0], (list, tuple)) else dims)
    axes = {batched_dim(_int(d, "dim"), x.rank, nb=x.nb) % len(x.shape) for d in dims}
    return slice_axes(ctx, x, {ax: (x.shape[ax] - 1, -1, -1) for ax in axes})
