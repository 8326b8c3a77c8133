"""Rules for layer norm, products of two variables and attention: ``LayerNorm``, ``matmul``/``bmm`` of
activations, ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``, ``nn.TransformerEncoderLayer``
and ``nn.TransformerEncoder`` (converted as their parts, so torch's fused inference fast path never runs).

Attention needs ``batch_first=True`` (the IR's batch axis is the first one); masks must be constant
{L, S} arrays (or ``is_causal``): they become a constant added to the scores (-inf where masked).
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


def additive_mask(mask, is_causal: bool, shape, allowed_true: bool) -> torch.Tensor | None:
    """A constant mask as the float added to the attention scores {..., L, S} (-inf where masked).

    ``allowed_true``: a boolean mask marks the allowed positions (F.scaled_dot_product_attention) or
    the masked ones (nn.MultiheadAttention's attn_mask)."""
    n, s = shape[-2], shape[-1]
    out = None
    if is_causal:
        out = torch.zeros(n, s, dtype=torch.float64).masked_fill(~torch.ones(n, s, dtype=torch.bool).tril(), -math.inf)
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise Unsupported("an attention mask computed from the input")
        if mask.dtype == torch.bool:
            blocked = ~mask if allowed_true else mask
            mask = torch.zeros(mask.shape, dtype=torch.float64).masked_fill(blocked, -math.inf)
        if mask.ndim > 2 and all(d == 1 for d in mask.shape[:-2]):
            mask = mask.reshape(mask.shape[-2:])  # {1, 1, L, S} (aten MultiheadAttention): the same for every head
        if mask.ndim > 2:
            raise Unsupported(f"attention mask of shape {list(mask.shape)} (only {{L, S}} masks)")
        out = mask.double() if out is None else out + mask.double()
    return out


def attention(ctx: Ctx, q: V, k: V, v: V, factor: float | None = None, mask=None) -> tuple[V, V]:
    """softmax(q k^T factor + mask) v over the last two axes; returns (output, weights)."""
    factor = 1.0 / math.sqrt(q.shape[-1]) if factor is None else factor
    scores = make_matmul(ctx, scale(ctx, q, factor), swap_last(ctx, k))
    if mask is not None:
        scores = ctx.emit("add", [scores, ctx.emit("constant", [], params={"value": mask})])
    w = make_softmax(ctx, scores, -1)
    return make_matmul(ctx, w, v), w


@rule("scaled_dot_product_attention", sig="query key value attn_mask dropout_p is_causal scale enable_gqa")
def _sdpa(ctx: Ctx, op, a):
    if float(a.get("dropout_p", 0.0)) > 0:
        raise Unsupported("dropout_p > 0 drops random attention weights")
    q, k, v = (ctx.value(a[n]) for n in ("query", "key", "value"))
    mask = additive_mask(a.get("attn_mask"), bool(a.get("is_causal")), (q.shape[-2], k.shape[-2]), True)
    return attention(ctx, q, k, v, a.get("scale"), mask)[0]


# ---- nn.MultiheadAttention ----------------------------------------------------------------------
def _heads(ctx: Ctx, x: V, h: int) -> V:
    """{L, E} -> {h, L, E/h}."""
    n, e = x.shape
    return ctx.emit("transpose", [reshape(ctx, x, (n, h, e // h))], attrs={"perm": [1, 0, 2]})


def make_mha(ctx: Ctx, m, query, key, value, need_weights=True, average_attn_weights=True, mask=None):
    if not m.batch_first:
        raise Unsupported("batch_first=False puts the batch on axis 1: set `module.batch_first = True` (same "
                          "weights) and feed {batch, seq, features}")
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
    out, weights = attention(ctx, _heads(ctx, q, h), _heads(ctx, k, h), _heads(ctx, v, h), mask=mask)
    out = ctx.emit("transpose", [out], attrs={"perm": [1, 0, 2]})
    out = reshape(ctx, out, (q.shape[0], e))
    with ctx.scope("out_proj"):
        out = make_linear(ctx, out, m.out_proj.weight, m.out_proj.bias)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = ctx.emit("reduce", [weights], attrs={"kind": "mean", "axes": [0], "keepdims": False})
    return out, weights


@module_rule("MultiheadAttention")
def _mha_module(ctx: Ctx, m, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
    if key_padding_mask is not None:
        raise Unsupported("key_padding_mask (a mask per sample)")
    if is_causal and attn_mask is None:
        raise Unsupported("is_causal without attn_mask (torch requires the mask too)")
    q, k = ctx.value(query), ctx.value(key)
    mask = additive_mask(attn_mask, False, (q.shape[0], k.shape[0]), False)
    return make_mha(ctx, m, query, key, value, need_weights, average_attn_weights, mask)


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


def make_encoder_layer(ctx: Ctx, m, x: V, mask=None) -> V:
    if not m.self_attn.batch_first:
        raise Unsupported("batch_first=False puts the batch on axis 1: set `layer.self_attn.batch_first = True` "
                          "on each layer (same weights) and feed {batch, seq, features}")

    def sa(t):
        with ctx.scope("self_attn"):
            return make_mha(ctx, m.self_attn, t, t, t, need_weights=False, mask=mask)[0]

    def ff(t):
        with ctx.scope("linear1"):
            t = make_linear(ctx, t, m.linear1.weight, m.linear1.bias)
        with ctx.scope("activation" if isinstance(m.activation, torch.nn.Module) else ""):
            t = _activation(ctx, m.activation, t)
        with ctx.scope("linear2"):
            return make_linear(ctx, t, m.linear2.weight, m.linear2.bias)

    def norm(name, t):
        n = getattr(m, name)
        with ctx.scope(name):
            return make_layernorm(ctx, t, n.normalized_shape, n.weight, n.bias, n.eps)

    def add(s, t):
        return ctx.emit("add", [s, t])

    if m.norm_first:
        x = add(x, sa(norm("norm1", x)))
        return add(x, ff(norm("norm2", x)))
    x = norm("norm1", add(x, sa(x)))
    return norm("norm2", add(x, ff(x)))


def _src_mask(x: V, mask=None, src_key_padding_mask=None, is_causal=None):
    """The constant additive mask of an encoder call (``mask``/``src_mask``, optionally causal)."""
    if src_key_padding_mask is not None:
        raise Unsupported("src_key_padding_mask (a mask per sample)")
    if is_causal and mask is None:
        return additive_mask(None, True, (x.shape[0], x.shape[0]), False)
    return additive_mask(mask, False, (x.shape[0], x.shape[0]), False)


@module_rule("TransformerEncoderLayer")
def _encoder_layer(ctx: Ctx, m, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
    x = ctx.value(src)
    return make_encoder_layer(ctx, m, x, _src_mask(x, src_mask, src_key_padding_mask, is_causal))


@module_rule("TransformerEncoder")
def _encoder(ctx: Ctx, m, src, mask=None, src_key_padding_mask=None, is_causal=None):
    x = ctx.value(src)
    additive = _src_mask(x, mask, src_key_padding_mask, is_causal)
    for i, layer in enumerate(m.layers):
        with ctx.scope(f"layers.{i}"):
            x = make_encoder_layer(ctx, layer, x, additive)
    if m.norm is not None:
        with ctx.scope("norm"):
            x = make_layernorm(ctx, x, m.norm.normalized_shape, m.norm.weight, m.norm.bias, m.norm.eps)
    return x


_encoder_layer.takes_kwargs = _encoder.takes_kwargs = True
