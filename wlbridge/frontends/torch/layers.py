"""Rules for structured torch ops: linear, conv, pooling, batch norm, softmax, reductions, prelu.

Each ``make_*`` function is shared by the functional / aten rule here and the module rule in
``modules.py``, so ``nn.Conv2d``, ``F.conv2d`` and ``aten.convolution`` convert alike.
"""
from __future__ import annotations

import torch

from .context import Ctx, rule
from .shape_ops import batched_dim
from .values import Unsupported, V


def const_param(x, what: str):
    """A parameter that must be a constant tensor (not computed from the input)."""
    if x is None or isinstance(x, torch.Tensor):
        return x
    raise Unsupported(f"{what} computed from the input (only constant {what}s are supported)")


# ---- linear ----------------------------------------------------------------------------------------
def make_linear(ctx: Ctx, x, weight, bias=None) -> V:
    x, w, b = ctx.value(x), const_param(weight, "weight"), const_param(bias, "bias")
    if w.ndim == 1:
        raise Unsupported("linear with a 1-d weight")
    return ctx.emit("linear", [x], params={"weight": w, "bias": b})


@rule("linear", sig="self weight bias")
def _linear(ctx: Ctx, op, a):
    return make_linear(ctx, a["self"], a["weight"], a.get("bias"))


def make_embedding(ctx: Ctx, x, weight) -> V:
    """Rows of a constant ``{vocabulary, features}`` weight at 0-based integer indices (``padding_idx`` only
    matters for training: its row is in the weight)."""
    x, w = ctx.value(x), const_param(weight, "weight")
    if w.ndim != 2:
        raise Unsupported("embedding with a weight that is not a matrix")
    return ctx.emit("embedding", [x], params={"weight": w})


@rule("embedding", sig="weight indices padding_idx scale_grad_by_freq sparse")
def _embedding(ctx: Ctx, op, a):
    return make_embedding(ctx, a["indices"], a["weight"])


@rule("addmm", sig="self mat1 mat2 beta alpha")
def _addmm(ctx: Ctx, op, a):
    beta, alpha = a.get("beta", 1), a.get("alpha", 1)
    w = const_param(a["mat2"], "weight")
    bias = const_param(a["self"], "bias")
    if bias is not None and bias.ndim == 2:
        if bias.shape[0] != 1:
            raise Unsupported("addmm bias varies along the batch axis")
        bias = bias[0]
    return make_linear(ctx, a["mat1"], (alpha * w).T, beta * bias if bias is not None else None)


@rule("mm", "matmul", sig="self other")
def _mm(ctx: Ctx, op, a):
    w = a.get("other", a.get("mat2"))
    if isinstance(w, V) and isinstance(a["self"], V):
        from .attention import make_matmul

        return make_matmul(ctx, a["self"], w)
    if not isinstance(w, torch.Tensor) or w.ndim != 2:
        raise Unsupported("matrix product with something other than a constant 2-d matrix")
    return make_linear(ctx, a["self"], w.T)


# ---- convolution -----------------------------------------------------------------------------------
def tup(v, n: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        v = tuple(int(e) for e in v)
        return v * n if len(v) == 1 else v
    return (int(v),) * n


def conv_padding(padding, kernel, dilation) -> list[list[int]]:
    n = len(kernel)
    if padding == "valid":
        return [[0, 0]] * n
    if padding == "same":
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [[t // 2, t - t // 2] for t in total]  # torch puts the odd element on the right
    return [[p, p] for p in tup(padding, n)]


def make_conv(ctx: Ctx, x, weight, bias, stride=1, padding=0, dilation=1, groups=1) -> V:
    x, w, b = ctx.value(x), const_param(weight, "weight"), const_param(bias, "bias")
    n = w.ndim - 2
    if x.rank != n + 2:
        raise Unsupported(f"{n}-d convolution of a rank-{x.rank} tensor (unbatched input?)")
    dil = tup(dilation, n)
    attrs = {"stride": list(tup(stride, n)), "padding": conv_padding(padding, w.shape[2:], dil),
             "dilation": list(dil), "groups": int(groups)}
    return ctx.emit("conv", [x], params={"weight": w, "bias": b}, attrs=attrs)


@rule("conv1d", "conv2d", "conv3d", sig="self weight bias stride padding dilation groups")
def _conv(ctx: Ctx, op, a):
    return make_conv(ctx, a["self"], a["weight"], a.get("bias"), a.get("stride", 1), a.get("padding", 0),
                     a.get("dilation", 1), a.get("groups", 1))


@rule("convolution", "_convolution",
      sig="self weight bias stride padding dilation transposed output_padding groups")
def _convolution(ctx: Ctx, op, a):
    if a.get("transposed"):
        raise Unsupported("transposed convolution")
    return make_conv(ctx, a["self"], a["weight"], a.get("bias"), a["stride"], a["padding"], a["dilation"],
                     a["groups"])


# ---- pooling ---------------------------------------------------------------------------------------
def make_pool(ctx: Ctx, x, kind: str, n: int, kernel, stride=None, padding=0, dilation=1, ceil_mode=False,
              count_include_pad=True, divisor_override=None) -> V:
    x = ctx.value(x)
    if x.rank != n + 2:
        raise Unsupported(f"{n}-d pooling of a rank-{x.rank} tensor (unbatched input?)")
    if divisor_override is not None:
        raise Unsupported("divisor_override")
    k = tup(kernel, n)
    attrs = {"kind": kind, "kernel": list(k), "stride": list(tup(stride, n) if stride not in (None, [], ()) else k),
             "padding": [[p, p] for p in tup(padding, n)], "ceil_mode": bool(ceil_mode)}
    if kind == "avg":
        attrs["count_include_pad"] = bool(count_include_pad)
    if tup(dilation, n) != (1,) * n:
        attrs["dilation"] = list(tup(dilation, n))
    return ctx.emit("pool", [x], attrs=attrs)


@rule("max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
      "max_pool3d_with_indices", sig="self kernel_size stride padding dilation ceil_mode return_indices")
def _max_pool(ctx: Ctx, op, a):
    if a.get("return_indices"):
        raise Unsupported("return_indices=True")
    y = make_pool(ctx, a["self"], "max", int(op[8]), a["kernel_size"], a.get("stride"), a.get("padding", 0),
                  a.get("dilation", 1), a.get("ceil_mode", False))
    return (y, None) if op.endswith("indices") else y


@rule("avg_pool1d", "avg_pool2d", "avg_pool3d",
      sig="self kernel_size stride padding ceil_mode count_include_pad divisor_override")
def _avg_pool(ctx: Ctx, op, a):
    return make_pool(ctx, a["self"], "avg", int(op[8]), a["kernel_size"], a.get("stride"), a.get("padding", 0),
                     1, a.get("ceil_mode", False), a.get("count_include_pad", True), a.get("divisor_override"))


def make_adaptive(ctx: Ctx, x, kind: str, n: int, output_size) -> V:
    x = ctx.value(x)
    if x.rank != n + 2:
        raise Unsupported(f"{n}-d adaptive pooling of a rank-{x.rank} tensor")
    ins = x.shape[1:]
    sizes = tuple(output_size) if isinstance(output_size, (list, tuple)) else (output_size,)
    sizes = sizes * n if len(sizes) == 1 else sizes
    outs = [i if o is None else int(o) for i, o in zip(ins, sizes)]
    if all(o == 1 for o in outs):
        return ctx.emit("reduce", [x], attrs={"kind": {"avg": "mean"}.get(kind, kind), "axes": list(range(1, n + 1)), "keepdims": True})
    if any(i % o for i, o in zip(ins, outs)):  # uneven (or overlapping, upsampling) windows
        return ctx.emit("adaptive_pool", [x], attrs={"kind": kind, "output_size": outs})
    k = [i // o for i, o in zip(ins, outs)]
    return make_pool(ctx, x, kind, n, k, k)


@rule("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "_adaptive_avg_pool2d",
      "_adaptive_avg_pool3d", sig="self output_size")
def _adaptive_avg(ctx: Ctx, op, a):
    return make_adaptive(ctx, a["self"], "avg", int(op.rstrip("d")[-1]), a["output_size"])


@rule("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", sig="self output_size return_indices")
def _adaptive_max(ctx: Ctx, op, a):
    if a.get("return_indices"):
        raise Unsupported("return_indices=True")
    y = make_adaptive(ctx, a["self"], "max", int(op.rstrip("d")[-1]), a["output_size"])
    return (y, None) if ctx.aten else y  # aten returns (values, indices), F only the values


# ---- normalization -----------------------------------------------------------------------------
def make_batchnorm(ctx: Ctx, x, weight, bias, mean, var, eps) -> V:
    x = ctx.value(x)
    if mean is None or var is None:
        raise Unsupported("batch norm without running statistics normalizes with batch statistics")
    mean, var = const_param(mean, "running mean"), const_param(var, "running variance")
    c = mean.shape[0]
    w = const_param(weight, "weight") if weight is not None else torch.ones(c, dtype=mean.dtype)
    b = const_param(bias, "bias") if bias is not None else torch.zeros(c, dtype=mean.dtype)
    return ctx.emit("batchnorm", [x], params={"scale": w, "bias": b, "mean": mean, "var": var},
                    attrs={"eps": float(eps), "axis": 0})


@rule("batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
      sig="self weight bias running_mean running_var training momentum eps")
def _batch_norm(ctx: Ctx, op, a):
    if a.get("training", False):
        raise Unsupported("batch norm in training mode normalizes with batch statistics")
    y = make_batchnorm(ctx, a["self"], a.get("weight"), a.get("bias"), a.get("running_mean"),
                       a.get("running_var"), a.get("eps", 1e-5))
    return y if op == "batch_norm" else (y, None, None)


# ---- softmax, reductions, prelu -----------------------------------------------------------------
def implicit_softmax_dim(rank: int) -> int:
    """torch's legacy choice when ``dim`` is None (nn.Softmax() / F.softmax(x))."""
    return 0 if rank in (0, 1, 3) else 1


def make_softmax(ctx: Ctx, x, dim, log: bool = False, negate: bool = False) -> V:
    x = ctx.value(x)
    dim = implicit_softmax_dim(x.rank) if dim is None else int(dim)
    axis = batched_dim(dim, x.rank, nb=x.nb)
    if negate:
        x = ctx.activation(x, "neg")
    return ctx.emit("log_softmax" if log else "softmax", [x], attrs={"axis": axis})


@rule("softmax", "log_softmax", "_softmax", "_log_softmax", "softmin", sig="self dim dtype")
def _softmax(ctx: Ctx, op, a):
    return make_softmax(ctx, a["self"], a.get("dim"), "log" in op, op == "softmin")


_REDUCE = {"mean": "mean", "sum": "sum", "amax": "max"}


@rule(*_REDUCE, sig="self dim keepdim dtype")
def _reduce(ctx: Ctx, op, a):
    x, dims = ctx.value(a["self"]), a.get("dim")
    if dims is None or (isinstance(dims, (list, tuple)) and not dims):
        raise Unsupported(f"{op} over all axes includes the batch axis")
    dims = [dims] if isinstance(dims, int) else list(dims)
    axes = [batched_dim(int(d), x.rank, nb=x.nb) for d in dims]
    return ctx.emit("reduce", [x], attrs={"kind": _REDUCE[op], "axes": axes, "keepdims": bool(a.get("keepdim"))})


@rule("max", sig="self dim keepdim")
def _max(ctx: Ctx, op, a):
    other = a.get("dim", a.get("other"))
    if isinstance(other, int) and not isinstance(other, bool):
        y = _reduce(ctx, "amax", {"self": a["self"], "dim": other, "keepdim": a.get("keepdim", False)})
        return (y, None)
    if other is None:
        raise Unsupported("max over all axes includes the batch axis")
    from .elementwise import binary

    return binary(ctx, "max", a["self"], other)


def make_prelu(ctx: Ctx, x, weight) -> V:
    x, w = ctx.value(x), const_param(weight, "weight")
    if w.ndim != 1:
        raise Unsupported(f"prelu weight of shape {list(w.shape)}")
    if w.numel() > 1 and (not x.shape or x.shape[0] != w.numel()):
        raise Unsupported(f"prelu with {w.numel()} slopes for input {list(x.shape)}")
    slope = w.reshape(w.numel(), *[1] * (len(x.shape) - 1)) if x.shape else w.reshape(())
    return ctx.emit("prelu", [x], params={"slope": slope})


@rule("prelu", "_prelu_kernel", sig="self weight")
def _prelu(ctx: Ctx, op, a):
    return make_prelu(ctx, a["self"], a["weight"])
