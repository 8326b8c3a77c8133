"""Rules for shape bookkeeping: size/shape, reshape, flatten, (un)squeeze, permute, cat, stack, casts.

torch shapes include the batch axis (axis 0); IR shapes do not. A rule that would move or merge
the batch axis raises :class:`Unsupported`. A value of a graph read as one whole sample (``V.nb == 0``,
see ``sample.py``) has no batch axis: its torch axes are its IR axes.
"""
from __future__ import annotations

import math

import torch

from .context import Ctx, rule
from .values import BATCH, UNKNOWN, Unsupported, V


def batched_dim(d: int, rank: int, what: str = "dim", nb: int = 1) -> int:
    """A torch dim (``nb`` batch axes included) as an IR axis; negative dims stay negative."""
    if not -rank <= d < rank:
        raise Unsupported(f"{what}={d} out of range for a rank-{rank} tensor")
    if not nb:
        return d
    if d == 0 or d == -rank:
        raise Unsupported(f"{what}={d} is the batch axis")
    return d - 1 if d > 0 else d


def reshape(ctx: Ctx, x: V, shape) -> V:
    """Reshape to ``shape`` (IR, no batch axis); a no-op reshape emits nothing."""
    shape = tuple(int(d) for d in shape)
    if shape == x.shape:
        return x
    if len(shape) == 1:
        return ctx.emit("flatten", [x])
    return ctx.emit("reshape", [x], attrs={"shape": list(shape)})


def _resolve(rest, size: int, full) -> tuple[int, ...]:
    rest = [int(d) for d in rest]
    if rest.count(-1) > 1:
        raise Unsupported(f"shape {full} has more than one -1")
    known = math.prod(d for d in rest if d != -1)
    if -1 in rest:
        if known == 0 or size % known:
            raise Unsupported(f"cannot reshape {size} elements per sample to {full}")
        rest[rest.index(-1)] = size // known
    if math.prod(rest) != size:
        raise Unsupported(f"cannot reshape {size} elements per sample to {full}")
    return tuple(rest)


@rule("view", "reshape", "_unsafe_view", sig="self *shape")
def _view(ctx: Ctx, op, a):
    x, shape = ctx.value(a["self"]), list(a["shape"] if "shape" in a else a["size"])
    size = math.prod(x.shape)
    if not shape:
        raise Unsupported("reshape to a scalar")
    if not x.nb:
        if any(d is BATCH for d in shape):
            raise Unsupported(f"reshape to {shape} uses the batch size")
        return reshape(ctx, x, _resolve(shape, size, shape))
    first, rest = shape[0], shape[1:]
    if -1 in rest or any(d is BATCH for d in rest):
        ok = first is BATCH or first == ctx.batch_size
    else:
        ok = first is BATCH or first == ctx.batch_size or (first == -1 and math.prod(rest) == size)
    if not ok:
        raise Unsupported(f"reshape to {shape} does not keep the batch axis first")
    if any(d is BATCH for d in rest):
        raise Unsupported(f"reshape to {shape} moves the batch size")
    return reshape(ctx, x, _resolve(rest, size, shape))


@rule("flatten", sig="self start_dim end_dim")
def _flatten(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    r, nb = x.rank, x.nb
    s, e = int(a.get("start_dim", 0)) % r, int(a.get("end_dim", -1)) % r
    if nb and s == 0 and e > 0:
        raise Unsupported(f"flatten(start_dim={a.get('start_dim', 0)}) merges the batch axis")
    if s >= e:
        return x
    shape = (*x.shape[:s - nb], math.prod(x.shape[s - nb:e - nb + 1]), *x.shape[e - nb + 1:])
    return reshape(ctx, x, shape)


@rule("unflatten", sig="self dim sizes")
def _unflatten(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    d = batched_dim(int(a["dim"]), x.rank, nb=x.nb) % len(x.shape)
    sizes = _resolve(a["sizes"], x.shape[d], list(a["sizes"]))
    return reshape(ctx, x, (*x.shape[:d], *sizes, *x.shape[d + 1:]))


@rule("unsqueeze", sig="self dim")
def _unsqueeze(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    d = int(a["dim"]) % (x.rank + 1) - x.nb
    if d < 0:
        raise Unsupported("unsqueeze(0) puts a new axis before the batch axis")
    return reshape(ctx, x, (*x.shape[:d], 1, *x.shape[d:]))


@rule("squeeze", sig="self dim")
def _squeeze(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    dims = a.get("dim")
    if dims is None and x.nb:
        raise Unsupported("squeeze() without dim may squeeze the batch axis")
    dims = range(x.rank) if dims is None else [dims] if isinstance(dims, int) else list(dims)
    axes = {batched_dim(int(d), x.rank, nb=x.nb) % len(x.shape) for d in dims}
    return reshape(ctx, x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


@rule("permute", sig="self *dims")
def _permute(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    dims = [int(d) % x.rank for d in a["dims"]]
    if x.nb and dims[0] != 0:
        raise Unsupported(f"permute{tuple(a['dims'])} moves the batch axis")
    perm = [d - x.nb for d in dims[x.nb:]]
    return x if perm == sorted(perm) else ctx.emit("transpose", [x], attrs={"perm": perm})


@rule("transpose", "swapaxes", sig="self dim0 dim1")
def _transpose(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    i, j = (batched_dim(int(a[k]), x.rank, nb=x.nb) % len(x.shape) for k in ("dim0", "dim1"))
    perm = list(range(len(x.shape)))
    perm[i], perm[j] = perm[j], perm[i]
    return x if i == j else ctx.emit("transpose", [x], attrs={"perm": perm})


@rule("t")
def _t(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    if not x.nb and x.rank == 2:
        return ctx.emit("transpose", [x], attrs={"perm": [1, 0]})
    if x.rank > 1:
        raise Unsupported("t() swaps the batch axis")
    return x


@rule("cat", sig="tensors dim")
def _cat(ctx: Ctx, op, a):
    xs = [ctx.value(t) for t in a["tensors"]]
    if len({x.rank for x in xs}) > 1:
        raise Unsupported("cat of tensors of different rank")
    axis = batched_dim(int(a.get("dim", 0)), xs[0].rank, nb=xs[0].nb)
    return xs[0] if len(xs) == 1 else ctx.emit("concat", xs, attrs={"axis": axis})


@rule("stack", sig="tensors dim")
def _stack(ctx: Ctx, op, a):
    xs = [ctx.value(t) for t in a["tensors"]]
    d = int(a.get("dim", 0)) % (xs[0].rank + 1) - xs[0].nb
    if d < 0:
        raise Unsupported("stack(dim=0) stacks along the batch axis")
    parts = [reshape(ctx, x, (*x.shape[:d], 1, *x.shape[d:])) for x in xs]
    return parts[0] if len(parts) == 1 else ctx.emit("concat", parts, attrs={"axis": d})


# ---- identities and casts ---------------------------------------------------------------------
@rule("contiguous", "clone", "detach", "alias", "lift_fresh_copy", "float", "double", "to", "type",
      "type_as", "_to_copy", "requires_grad", sig="self *rest")
def _same(ctx: Ctx, op, a):
    from .heads import cast_to

    if op in ("float", "double"):
        return cast_to(ctx, a["self"], torch.float32)
    for v in list(a.get("rest", ())) + list(a.values()):
        if isinstance(v, torch.dtype):
            if v.is_complex:
                raise Unsupported(f"cast to {v}")
            return cast_to(ctx, a["self"], v)  # integers round toward zero; an integer back to float
    return ctx.value(a["self"])


@rule("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
      "feature_dropout", sig="self p train")
def _dropout(ctx: Ctx, op, a):
    if a.get("training", a.get("train", True)):
        raise Unsupported("dropout is active (training=True; F.dropout defaults to it): pass "
                          "training=self.training")
    return ctx.value(a["self"])


# ---- sizes -----------------------------------------------------------------------------------------
def _sizes(x: V):
    return (BATCH, *x.shape) if x.nb else x.shape


@rule("size", "sym_size", sig="self dim")
def _size(ctx: Ctx, op, a):
    x = ctx.value(a["self"])
    d = a.get("dim")
    return _sizes(x) if d is None else _sizes(x)[int(d)]


@rule("dim", "ndimension")
def _dim(ctx: Ctx, op, a):
    return ctx.value(a["self"]).rank


@rule("getattr", sig="self name")
def _getattr(ctx: Ctx, op, a):
    obj, name = a["self"], a["name"]
    if isinstance(obj, V):
        attrs = {"shape": _sizes(obj), "ndim": obj.rank, "dtype": ctx.dtype, "device": torch.device("cpu"),
                 "is_cuda": False}
        if name in attrs:
            return attrs[name]
    if isinstance(obj, tuple) and len(obj) == 2 and name in ("values", "indices"):  # torch.return_types
        return obj[0 if name == "values" else 1]
    raise Unsupported(f"attribute .{name}")


@rule("getitem", sig="self index")
def _getitem(ctx: Ctx, op, a):
    obj, idx = a["self"], a["index"]
    if isinstance(obj, (tuple, list)):
        out = obj[idx]
        return UNKNOWN if out is UNKNOWN else out
    if isinstance(obj, V):
        from .tensor_ops import index_tensor

        if not obj.nb:
            raise Unsupported("indexing a tensor of a graph read as one whole sample")
        return index_tensor(ctx, obj, idx)
    raise Unsupported("tensor indexing and slicing")
