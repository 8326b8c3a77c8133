"""Rules for elementwise torch functions: every ``ops.ACTIVATIONS`` row, arithmetic, comparisons.

An activation row is found by its torch names (``Activation.torch``): adding a row to the table
adds the functional (``F.elu``), tensor-method (``x.elu()``) and aten (``aten.elu``) forms here
and the module form (``nn.ELU``) in ``modules.py``. Row parameters are read by name, which is how
torch names them too (``negative_slope``, ``alpha``, ``beta``, ``threshold``, ``min_val``, ...).
"""
from __future__ import annotations

import math

import torch

from ...ops import ACTIVATIONS, SELU_ALPHA, SELU_SCALE, Activation
from .context import Ctx, is_number, rule
from .values import Cond, Unsupported, V


def torch_rows() -> dict[str, Activation]:
    """Activation rows by their lowercase torch function names (``relu``, ``leaky_relu``, ...)."""
    out = {}
    for row in ACTIVATIONS.values():
        for n in row.torch:
            if n.isidentifier() and n == n.lower():
                out[n] = row
    return out


FUNCTION_ROWS = torch_rows()


def row_params(row: Activation, a: dict) -> dict:
    """The row's parameters found among the bound arguments ``a`` (defaults otherwise)."""
    return {k: float(a[k]) for k in row.params if k in a and a[k] is not None}


def apply_row(ctx: Ctx, row: Activation, x, params: dict) -> V:
    params = {k: v for k, v in params.items() if v != row.params[k]}
    return ctx.activation(x, row.name, params or None)


def activation_rule(ctx: Ctx, name: str, a: dict):
    """The generic rule for a function / method named like an activation row."""
    row = FUNCTION_ROWS[name]
    return apply_row(ctx, row, a["self"], row_params(row, a))


def activation_sig(name: str) -> tuple[str, ...]:
    return ("self", *FUNCTION_ROWS[name].params)


@rule("gelu", sig="self approximate")
def _gelu(ctx: Ctx, op, a):
    approx = a.get("approximate", "none")
    if approx not in ("none", "tanh"):
        raise Unsupported(f"approximate={approx!r}")
    return ctx.activation(a["self"], "gelu" if approx == "none" else "gelu_tanh")


@rule("elu", sig="self alpha scale input_scale")
def _elu(ctx: Ctx, op, a):
    alpha, scale, iscale = (float(a.get(k, 1.0)) for k in ("alpha", "scale", "input_scale"))
    if scale == 1.0 and iscale == 1.0:
        return apply_row(ctx, ACTIVATIONS["elu"], a["self"], {"alpha": alpha})
    if math.isclose(alpha, SELU_ALPHA, rel_tol=1e-15) and math.isclose(scale, SELU_SCALE, rel_tol=1e-15) \
            and iscale == 1.0:
        return ctx.activation(a["self"], "selu")
    if scale == 1.0 and iscale == 1.0 / alpha:
        return apply_row(ctx, ACTIVATIONS["celu"], a["self"], {"alpha": alpha})
    x = ctx.value(a["self"])
    neg = ("mul", scale * alpha, ("sub", ("exp", ("mul", iscale, x)), 1.0))
    return ctx.scalar(("where", ("greater", x, 0.0), ("mul", scale, x), neg))


@rule("rrelu", sig="self lower upper training")
def _rrelu(ctx: Ctx, op, a):
    if a.get("training", False):
        raise Unsupported("rrelu with training=True draws random slopes")
    return apply_row(ctx, ACTIVATIONS["rrelu"], a["self"], row_params(ACTIVATIONS["rrelu"], a))


@rule("rrelu_with_noise", "rrelu_with_noise_functional", sig="self noise lower upper training")
def _rrelu_noise(ctx: Ctx, op, a):
    out = _rrelu(ctx, op, a)
    return (out, None) if op.endswith("functional") else out


@rule("clamp", sig="self min max")
def _clamp(ctx: Ctx, op, a):
    x, lo, hi = ctx.value(a["self"]), a.get("min"), a.get("max")
    if is_number(lo) and is_number(hi):
        return apply_row(ctx, ACTIVATIONS["clip"], x, {"min_val": float(lo), "max_val": float(hi)})
    if lo is not None:
        x = binary(ctx, "max", x, lo)
    if hi is not None:
        x = binary(ctx, "min", x, hi)
    return x


@rule("clamp_min", sig="self min")
def _clamp_min(ctx: Ctx, op, a):
    return binary(ctx, "max", ctx.value(a["self"]), a["min"])


@rule("clamp_max", sig="self max")
def _clamp_max(ctx: Ctx, op, a):
    return binary(ctx, "min", ctx.value(a["self"]), a["max"])


@rule("hardtanh", sig="self min_val max_val")
def _hardtanh(ctx: Ctx, op, a):
    lo, hi = float(a.get("min_val", -1.0)), float(a.get("max_val", 1.0))
    if (lo, hi) == (0.0, 6.0):
        return ctx.activation(a["self"], "relu6")
    return apply_row(ctx, ACTIVATIONS["clip"], a["self"], {"min_val": lo, "max_val": hi})


# ---- arithmetic ------------------------------------------------------------------------------
def binary(ctx: Ctx, op: str, x, y) -> V:
    """``x op y`` for IR values, numbers and constant tensors, broadcasting as torch does."""
    if isinstance(x, V) and isinstance(y, V):
        if x.rank != y.rank:
            raise Unsupported(f"operands of shapes {list(x.shape)} and {list(y.shape)} (without the batch "
                              "axis) broadcast against the batch axis")
        return ctx.emit(op, [x, y])
    if is_number(x) or is_number(y):
        return ctx.scalar((op, x, y))
    if isinstance(x, torch.Tensor) and isinstance(y, V):
        return ctx.emit(op, [ctx.const(x, y), y])
    if isinstance(y, torch.Tensor) and isinstance(x, V):
        return ctx.emit(op, [x, ctx.const(y, x)])
    ctx.value(x if not isinstance(x, V) else y)  # raises with a description
    raise Unsupported(f"{op} of {x!r} and {y!r}")


def _scaled(ctx: Ctx, y, alpha):
    if alpha in (None, 1):
        return y
    if isinstance(y, torch.Tensor) or is_number(y):
        return y * alpha
    return ctx.scalar(("mul", float(alpha), y))


@rule("add", sig="self other alpha")
def _add(ctx: Ctx, op, a):
    return binary(ctx, "add", a["self"], _scaled(ctx, a["other"], a.get("alpha")))


@rule("sub", sig="self other alpha")
def _sub(ctx: Ctx, op, a):
    return binary(ctx, "sub", a["self"], _scaled(ctx, a["other"], a.get("alpha")))


@rule("rsub", sig="self other alpha")
def _rsub(ctx: Ctx, op, a):
    return binary(ctx, "sub", a["other"], _scaled(ctx, a["self"], a.get("alpha")))


@rule("mul", sig="self other")
def _mul(ctx: Ctx, op, a):
    return binary(ctx, "mul", a["self"], a["other"])


@rule("div", sig="self other rounding_mode")
def _div(ctx: Ctx, op, a):
    if a.get("rounding_mode") is not None:
        raise Unsupported(f"rounding_mode={a['rounding_mode']!r}")
    return binary(ctx, "div", a["self"], a["other"])


@rule("pow", sig="self exponent")
def _pow(ctx: Ctx, op, a):
    return binary(ctx, "pow", a["self"], a["exponent"])


@rule("maximum", "fmax", sig="self other")
def _maximum(ctx: Ctx, op, a):
    return binary(ctx, "max", a["self"], a["other"])


@rule("minimum", "fmin", sig="self other")
def _minimum(ctx: Ctx, op, a):
    return binary(ctx, "min", a["self"], a["other"])


@rule("pos", "positive")
def _pos(ctx: Ctx, op, a):
    return ctx.value(a["self"])


_UNARY_BODIES = {
    "expm1": lambda x: ("sub", ("exp", x), 1.0),
    "log1p": lambda x: ("log", ("add", 1.0, x)),
    "rsqrt": lambda x: ("div", 1.0, ("sqrt", x)),
    "log2": lambda x: ("div", ("log", x), math.log(2.0)),
    "log10": lambda x: ("div", ("log", x), math.log(10.0)),
    "exp2": lambda x: ("pow", 2.0, x),
    "erfc": lambda x: ("sub", 1.0, ("erf", x)),
}


def _unary_body(ctx: Ctx, op, a):
    return ctx.scalar(_UNARY_BODIES[op](ctx.value(a["self"])))


for _n in _UNARY_BODIES:
    rule(_n)(_unary_body)


# ---- comparisons and where ---------------------------------------------------------------------
_COMPARE = {"gt": "greater", "lt": "less", "ge": "greater_equal", "le": "less_equal"}  # eq, ne: heads.py


@rule(*_COMPARE, sig="self other")
def _compare(ctx: Ctx, op, a):
    x, y = a["self"], a["other"]
    for v in (x, y):
        if isinstance(v, torch.Tensor) and not is_number(v):
            raise Unsupported("comparison with a constant tensor")
    return ctx.cond((_COMPARE[op], x, y))


@rule("where", sig="condition self other")
def _where(ctx: Ctx, op, a):
    c = a["condition"]
    if isinstance(c, V):  # a computed 0/1 (or bool) tensor: nonzero is true
        c = ctx.cond(("not_equal", c, 0.0))
    if not isinstance(c, Cond):
        raise Unsupported("torch.where needs a condition computed from the input (x > 0, ...)")
    like = c.args[0]
    x, y = (ctx.const(v, like) if isinstance(v, torch.Tensor) and not is_number(v) else v
            for v in (a["self"], a["other"]))
    return ctx.scalar(("where", c, x, y))
