"""Rules for layer norm, products of two variables and attention: ``LayerNorm``, ``matmul``/``bmm`` of
activations, ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``
and ``nn.TransformerEncoder`` (converted as their parts, so torch's fused inference fast path never runs).

Attention needs ``batch_first=True`` (the IR's batch axis is the first one) and no masks.
"""
from __future__ import annotations

import math

import torch

from .context import Ctx, rule
from .layers import const_param, make_linear, make_softmax
from .modules import module_rule, module_rule_for
from .shape_ops import reshape
from .values import Unsupported, V


# ---- layer norm ---------------------------------------------------------------------------------
def make_layernorm(ctx: Ctx, x, normalized_shape, weight=None, bias=None, eps=1e-5) -> V:
    x = ctx.value(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(int(d) for d in normalized_shape)
    k = len(shape)
    if k > len(x.shape) or tuple(x.shape[len(x.shape) - k:]) != shape:
        raise Unsupported(f"normalized_shape {list(shape)} is not the trailing shape of {list(x.shape)} "
                          "(without the batch axis)")
    params = {"scale": const_param(weight, "weight"), "bias": const_param(bias, "bias")}
    return ctx.emit("layernorm", [x], params=params, attrs={"axis": len(x.shape) - k, "eps": float(eps)})


@rule("layer_norm", "native_layer_norm", sig="self normalized_shape weight bias eps cudnn_enable")
def _layer_norm(ctx: Ctx, op, a):
    y = make_layernorm(ctx, a["self"], a["normalized_shape"], a.get("weight"), a.get("bias"), a.get("eps", 1e-5))
    return (y, None, None) if op == "native_layer_norm" else y


@module_rule("LayerNorm")
def _layernorm_module(ctx: Ctx, m, x):
    return make_layernorm(ctx, x, m.normalized_shape, m.weight, m.bias, m.eps)


# ---- products of two variables ------------------------------------------------------------------
def make_matmul(ctx: Ctx, a: V, b: V) -> V:
    """``a @ b`` of two activations (torch ranks >= 3: the batch axis plus matrices)."""
    a, b = ctx.value(a), ctx.value(b)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise Unsupported(f"matmul of shapes {list(a.shape)} and {list(b.shape)} (without the batch axis): "
                          "only products of matrices (or stacks of them) per sample")
    if len(a.shape) != len(b.shape):
        raise Unsupported(f"matmul of ranks {a.rank} and {b.rank} broadcasts against the batch axis")
    return ctx.emit("batch_matmul", [a, b])


@rule("bmm", sig="self mat2")
def _bmm(ctx: Ctx, op, a):
    return make_matmul(ctx, a["self"], a["mat2"])


def swap_last(ctx: Ctx, x: V) -> V:
    perm = list(range(len(x.shape)))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return ctx.emit("transpose", [x], attrs={"perm": perm})


def scale(ctx: Ctx, x: V, k: float) -> V:
    return x if k == 1.0 else ctx.scalar(("mul", x, float(k)))


def attention(ctx: Ctx, q: V, k: V, v: V, factor: float | None = None) -> tuple[V, V]:
    """softmax(q k^T factor) v over the last two axes; returns (output, weights)."""
    factor = 1.0 / math.sqrt(q.shape[-1]) if factor is None else factor
    w = make_softmax(ctx, make_matmul(ctx, scale(ctx, q, factor), swap_last(ctx, k)), -1)
    return make_matmul(ctx, w, v), w


@rule("scaled_dot_product_attention", sig="query key value attn_mask dropout_p is_causal scale enable_gqa")
def _sdpa(ctx: Ctx, op, a):
    if a.get("attn_mask") is not None or a.get("is_causal"):
        raise Unsupported("attention masks (attn_mask, is_causal)")
    if float(a.get("dropout_p", 0.0)) > 0:
        raise Unsupported("dropout_p > 0 drops random attention weights")
    q, k, v = (ctx.value(a[n]) for n in ("query", "key", "value"))
    return attention(ctx, q, k, v, a.get("scale"))[0]


# ---- nn.MultiheadAttention ----------------------------------------------------------------------
def _heads(ctx: Ctx, x: V, h: int) -> V:
    """{L, E} -> {h, L, E/h}."""
    n, e = x.shape
    return ctx.emit("transpose", [reshape(ctx, x, (n, h, e // h))], attrs={"perm": [1, 0, 2]})


def make_mha(ctx: Ctx, m, query, key, value, need_weights=True, average_attn_weights=True):
    if not m.batch_first:
        raise Unsupported("batch_first=False puts the batch on axis 1 (construct it with batch_first=True)")
    if m.bias_k is not None or m.add_zero_attn:
        raise Unsupported("add_bias_kv / add_zero_attn")
    q, k, v = (ctx.value(t) for t in (query, key, value))
    if len(q.shape) != 2:
        raise Unsupported(f"query of shape {list(q.shape)} (without the batch axis): expected {{length, embed}}")
    e, h = m.embed_dim, m.num_heads
    b = m.in_proj_bias
    bs = [None] * 3 if b is None else [b[i * e:(i + 1) * e] for i in range(3)]
    if m._qkv_same_embed_dim:
        ws = [m.in_proj_weight[i * e:(i + 1) * e] for i in range(3)]
    else:
        ws = [m.q_proj_weight, m.k_proj_weight, m.v_proj_weight]
    q, k, v = (make_linear(ctx, t, w, bias) for t, w, bias in zip((q, k, v), ws, bs))
    out, weights = attention(ctx, _heads(ctx, q, h), _heads(ctx, k, h), _heads(ctx, v, h))
    out = ctx.emit("transpose", [out], attrs={"perm": [1, 0, 2]})
    out = make_linear(ctx, reshape(ctx, out, (q.shape[0], e)), m.out_proj.weight, m.out_proj.bias)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = ctx.emit("reduce", [weights], attrs={"kind": "mean", "axes": [0], "keepdims": False})
    return out, weights


@module_rule("MultiheadAttention")
def _mha_module(ctx: Ctx, m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
    if key_padding_mask is not None or attn_mask is not None or is_causal:
        raise Unsupported("attention masks (key_padding_mask, attn_mask, is_causal)")
    return make_mha(ctx, m, query, key, value, need_weights, average_attn_weights)


_mha_module.takes_kwargs = True


# ---- transformer encoder ------------------------------------------------------------------------
def _activation(ctx: Ctx, act, x: V) -> V:
    if isinstance(act, torch.nn.Module):
        fn = module_rule_for(act)
        if fn is None:
            raise Unsupported(f"activation module {type(act).__name__}")
        return fn(ctx, act, x)
    name = getattr(act, "__name__", "")
    if name in ("relu", "gelu"):
        return ctx.activation(x, name)
    raise Unsupported(f"activation function {name or act!r}")


def make_encoder_layer(ctx: Ctx, m, x: V) -> V:
    if not m.self_attn.batch_first:
        raise Unsupported("batch_first=False puts the batch on axis 1 (construct it with batch_first=True)")

    def sa(t):
        return make_mha(ctx, m.self_attn, t, t, t, need_weights=False)[0]

    def ff(t):
        return make_linear(ctx, _activation(ctx, m.activation, make_linear(ctx, t, m.linear1.weight, m.linear1.bias)),
                           m.linear2.weight, m.linear2.bias)

    def norm(n, t):
        return make_layernorm(ctx, t, n.normalized_shape, n.weight, n.bias, n.eps)

    def add(s, t):
        return ctx.emit("add", [s, t])

    if m.norm_first:
        x = add(x, sa(norm(m.norm1, x)))
        return add(x, ff(norm(m.norm2, x)))
    x = norm(m.norm1, add(x, sa(x)))
    return norm(m.norm2, add(x, ff(x)))


def _no_masks(kwargs, args):
    if any(v is not None and v is not False for v in (*args, *kwargs.values())):
        raise Unsupported("attention masks (src_mask, src_key_padding_mask, is_causal)")


@module_rule("TransformerEncoderLayer")
def _encoder_layer(ctx: Ctx, m, src, *masks, **kwargs):
    _no_masks(kwargs, masks)
    return make_encoder_layer(ctx, m, ctx.value(src))


@module_rule("TransformerEncoder")
def _encoder(ctx: Ctx, m, src, *masks, **kwargs):
    _no_masks(kwargs, masks)
    x = ctx.value(src)
    for layer in m.layers:
        x = make_encoder_layer(ctx, layer, x)
    if m.norm is not None:
        x = make_layernorm(ctx, x, m.norm.normalized_shape, m.norm.weight, m.norm.bias, m.norm.eps)
    return x


_encoder_layer.takes_kwargs = _encoder.takes_kwargs = True
