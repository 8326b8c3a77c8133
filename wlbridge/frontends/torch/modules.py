"""Rules for ``torch.nn`` leaf modules (fx ``call_module`` nodes), keyed by class name.

Activation modules need no rule of their own: a class named in an ``ops.ACTIVATIONS`` row's
``torch`` field (``nn.ELU`` -> ``elu``) converts with the row's parameters read from the module's
attributes of the same name (``alpha``, ``negative_slope``, ``beta``, ``threshold``, ``min_val``, ...).
"""
from __future__ import annotations

from typing import Callable

import torch

from ...ops import ACTIVATIONS, Activation
from .context import Ctx
from .elementwise import _gelu, apply_row
from .layers import (make_adaptive, make_batchnorm, make_conv, make_embedding, make_linear, make_pool, make_prelu,
                     make_softmax)
from .shape_ops import _flatten, _unflatten
from .values import Unsupported

MODULE_RULES: dict[str, Callable] = {}

CLASS_ROWS: dict[str, Activation] = {n: row for row in ACTIVATIONS.values() for n in row.torch
                                     if n.isidentifier() and n[0].isupper()}


def module_rule(*names: str):
    def register(fn):
        for n in names:
            if n in MODULE_RULES:
                raise ValueError(f"duplicate module rule for {n!r}")
            MODULE_RULES[n] = fn
        return fn
    return register


def module_rule_for(m: torch.nn.Module) -> Callable | None:
    """The rule for a leaf module: by its class or the nearest ``torch.nn`` base class."""
    for cls in type(m).__mro__:
        if not (cls.__module__ or "").startswith("torch.nn"):
            continue
        if cls.__name__ in MODULE_RULES:
            return MODULE_RULES[cls.__name__]
        if cls.__name__ in CLASS_ROWS:
            return _activation_module
    return None


def _activation_module(ctx: Ctx, m, x):
    row = next(CLASS_ROWS[c.__name__] for c in type(m).__mro__ if c.__name__ in CLASS_ROWS)
    params = {k: float(getattr(m, k)) for k in row.params if isinstance(getattr(m, k, None), (int, float))}
    return apply_row(ctx, row, x, params)


@module_rule("GELU")
def _gelu_module(ctx: Ctx, m, x):
    return _gelu(ctx, "gelu", {"self": x, "approximate": m.approximate})


@module_rule("Hardtanh")
def _hardtanh_module(ctx: Ctx, m, x):
    from .elementwise import _hardtanh

    return _hardtanh(ctx, "hardtanh", {"self": x, "min_val": m.min_val, "max_val": m.max_val})


@module_rule("Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
def _identity(ctx: Ctx, m, x, *rest):
    return ctx.value(x)  # dropout at inference (the module is converted in eval mode)


@module_rule("Linear")
def _linear(ctx: Ctx, m, x):
    return make_linear(ctx, x, m.weight, m.bias)


@module_rule("Embedding")
def _embedding_module(ctx: Ctx, m, x):
    if m.max_norm is not None:
        raise Unsupported("max_norm (the forward renormalizes the weight rows it reads)")
    return make_embedding(ctx, x, m.weight)


@module_rule("Flatten")
def _flatten_module(ctx: Ctx, m, x):
    return _flatten(ctx, "flatten", {"self": x, "start_dim": m.start_dim, "end_dim": m.end_dim})


@module_rule("Unflatten")
def _unflatten_module(ctx: Ctx, m, x):
    return _unflatten(ctx, "unflatten", {"self": x, "dim": m.dim, "sizes": m.unflattened_size})


@module_rule("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
def _batchnorm(ctx: Ctx, m, x):
    return make_batchnorm(ctx, x, m.weight, m.bias, m.running_mean, m.running_var, m.eps)


@module_rule("Conv1d", "Conv2d", "Conv3d")
def _conv(ctx: Ctx, m, x):
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r} (only 'zeros')")
    return make_conv(ctx, x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)


@module_rule("MaxPool1d", "MaxPool2d", "MaxPool3d")
def _max_pool(ctx: Ctx, m, x):
    if m.return_indices:
        raise Unsupported("return_indices=True")
    n = int(type(m).__name__[-2])
    return make_pool(ctx, x, "max", n, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)


@module_rule("AvgPool1d", "AvgPool2d", "AvgPool3d")
def _avg_pool(ctx: Ctx, m, x):
    n = int(type(m).__name__[-2])
    return make_pool(ctx, x, "avg", n, m.kernel_size, m.stride, m.padding, 1, m.ceil_mode, m.count_include_pad,
                     getattr(m, "divisor_override", None))


@module_rule("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")
def _adaptive_avg(ctx: Ctx, m, x):
    return make_adaptive(ctx, x, "avg", int(type(m).__name__[-2]), m.output_size)


@module_rule("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d")
def _adaptive_max(ctx: Ctx, m, x):
    if m.return_indices:
        raise Unsupported("return_indices=True")
    return make_adaptive(ctx, x, "max", int(type(m).__name__[-2]), m.output_size)


@module_rule("Softmax", "LogSoftmax", "Softmin")
def _softmax(ctx: Ctx, m, x):
    name = type(m).__name__
    return make_softmax(ctx, x, m.dim, log=name == "LogSoftmax", negate=name == "Softmin")


@module_rule("Softmax2d")
def _softmax2d(ctx: Ctx, m, x):
    return make_softmax(ctx, x, -3)


@module_rule("PReLU")
def _prelu(ctx: Ctx, m, x):
    return make_prelu(ctx, x, m.weight)


def unsupported_reason(m: torch.nn.Module) -> str:
    """Why a module has no rule, for the error message."""
    name = type(m).__name__
    if isinstance(m, torch.nn.RNNCellBase):  # nn.LSTM/GRU/RNN have rules; their cells do not
        return "recurrent cells are not supported: use nn.LSTM/GRU/RNN over the whole sequence (batch_first=True)"
    if not (type(m).__module__ or "").startswith("torch.nn"):
        return "custom leaf module (not traced through)"
    return f"no rule for torch.nn.{name}"


__all__ = ["MODULE_RULES", "module_rule_for", "unsupported_reason"]
