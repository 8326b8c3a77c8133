"""torch rules for the piecewise-constant heads: argmax/argmin, one_hot, ``==``/``!=`` and casts to integers.

Comparisons stay pending conditions (``Cond``) for ``torch.where``; used as numbers they become the IR's
``compare`` (0/1). ``.long()`` / ``.int()`` / ``.to(torch.int64)`` round toward zero as torch does.
"""
from __future__ import annotations

import torch

from ...ops import plain_comparison
from .context import Ctx, is_number, rule
from .values import Cond, Unsupported, V

_EQUALITY = {"eq": "equal", "ne": "not_equal"}  # the orderings (gt, lt, ge, le): elementwise.py


def as_number(ctx: Ctx, c: Cond) -> V:
    """A condition used as a number: 1 where it holds, else 0 (the IR's ``compare`` when it is one)."""
    plain = plain_comparison(c.body)
    if plain:
        xs = [c.args[k[1] - 1] if k[0] == "arg" else ctx.emit("constant", [], params={"value": float(k[1])})
              for k in plain[1]]
        return ctx.emit("compare", xs, attrs={"kind": plain[0]})
    return ctx.emit("scalar_fn", list(c.args), attrs={"body": ("where", c.body, ("const", 1.0), ("const", 0.0))})


def _number(ctx: Ctx, x) -> V:
    return as_number(ctx, x) if isinstance(x, Cond) else ctx.value(x)


@rule("eq", "ne", sig="self other")
def _equality(ctx: Ctx, op, a):
    x, y = a["self"], a["other"]
    for v in (x, y):
        if isinstance(v, torch.Tensor) and not is_number(v):
            raise Unsupported("comparison with a constant tensor")
    x, y = (_number(ctx, v) if isinstance(v, Cond) else v for v in (x, y))
    return ctx.cond((_EQUALITY[op], x, y))


@rule("argmax", "argmin", sig="self dim keepdim")
def _argmax(ctx: Ctx, op, a):
    x = _number(ctx, a["self"])
    dim = a.get("dim")
    if dim is None:
        raise Unsupported(f"{op} over all axes (batch included): give dim=")
    ax = int(dim) % x.rank - x.nb
    if ax < 0:
        raise Unsupported(f"{op} along the batch axis")
    return ctx.emit(op, [x], attrs={"axis": ax, "keepdims": bool(a.get("keepdim", False))})


@rule("one_hot", sig="self num_classes")
def _one_hot(ctx: Ctx, op, a):
    n = int(a.get("num_classes", -1))
    if n < 1:
        raise Unsupported("one_hot without num_classes (the depth would depend on the input values)")
    return ctx.emit("one_hot", [_number(ctx, a["self"])], attrs={"depth": n, "axis": -1, "off": 0.0, "on": 1.0})


@rule("long", "int", "bool", "short", sig="self")
def _to_integer(ctx: Ctx, op, a):
    to = {"long": "int64", "int": "int32", "bool": "bool", "short": "int16"}[op]
    return ctx.emit("cast", [_number(ctx, a["self"])], attrs={"to": to})


def cast_to(ctx: Ctx, x, dtype: torch.dtype) -> V:
    """``x.to(dtype)``: integers and bool as the IR's ``cast``, floats as they are (an integer value is cast
    back to float)."""
    x = _number(ctx, x)
    name = str(dtype).removeprefix("torch.")
    if dtype.is_floating_point:
        return ctx.emit("cast", [x], attrs={"to": "float32"}) if _is_integer(ctx, x) else x
    return ctx.emit("cast", [x], attrs={"to": name})


def _is_integer(ctx: Ctx, x: V) -> bool:
    from ...dtypes import layer_dtypes

    return layer_dtypes(ctx.builder)[x.name] not in ("float64", "float32", "float16", "bfloat16")


@rule("_assert_tensor_metadata", sig="a *rest")
def _assert_metadata(ctx: Ctx, op, a):
    """``torch.export`` checks the dtype before a cast (``aten._assert_tensor_metadata``): nothing to compute."""
    return None
