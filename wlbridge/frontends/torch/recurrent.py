"""``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` (batch_first, any num_layers, bidirectional) and the aten ops
``lstm``/``gru``/``rnn_tanh``/``rnn_relu`` of exported programs -> IR recurrent ops.

Each layer and direction is one ``lstm``/``gru``/``rnn`` IR layer over the fixed sequence length of
``input_shape``; a bidirectional layer joins both directions on the feature axis. The module's
result is ``(output, h_n)`` (``(output, (h_n, c_n))`` for LSTM) where ``h_n``/``c_n`` are tuples of
per-layer-and-direction states, so ``h_n[-1]`` and ``torch.cat((h_n[-2], h_n[-1]), 1)`` convert.
"""
from __future__ import annotations

import torch

from ...recurrent import drop_unused
from .context import Ctx, rule, to_numpy
from .modules import module_rule
from .values import Unsupported, V

OPS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}


def _zero_state(hx) -> bool:
    tensors = [hx] if isinstance(hx, torch.Tensor) else list(hx) if isinstance(hx, (tuple, list)) else [hx]
    return all(isinstance(t, torch.Tensor) and not t.any() for t in tensors)


def _params(m, k: int, suffix: str) -> dict:
    p = {n: to_numpy(getattr(m, f"{n}_l{k}{suffix}")) for n in ("weight_ih", "weight_hh")}
    if m.bias:
        p.update({n: to_numpy(getattr(m, f"{n}_l{k}{suffix}")) for n in ("bias_ih", "bias_hh")})
    return p


def _attrs(op: str, hidden: int, reverse: bool, output: str, activation: str) -> dict:
    attrs = {"hidden": int(hidden), "reverse": reverse, "output": output}
    if op == "rnn":
        attrs["activation"] = activation
    return attrs


BATCH_FIRST = ("only batch_first=True with a {batch, seq, features} input: wlbridge's batch axis is the first, "
               "so set `module.batch_first = True` (same weights) and pass input_shape=(seq, features)")


@module_rule("LSTM", "GRU", "RNN")
def _recurrent(ctx: Ctx, m, x, hx=None):
    op = OPS[type(m).__name__] if type(m).__name__ in OPS else next(
        OPS[c.__name__] for c in type(m).__mro__ if c.__name__ in OPS)
    x = ctx.value(x)
    if hx is not None and not _zero_state(hx):
        raise Unsupported("a non-zero initial state (only the default zero state)")
    if getattr(m, "proj_size", 0):
        raise Unsupported("recurrent projections (proj_size > 0) are not supported")
    if len(x.shape) != 2 or not m.batch_first:
        raise Unsupported(BATCH_FIRST)
    dirs = ("", "_reverse") if m.bidirectional else ("",)
    weights = [[_params(m, k, suffix) for suffix in dirs] for k in range(m.num_layers)]
    return unroll(ctx, op, x, weights, int(m.hidden_size), getattr(m, "nonlinearity", "tanh"))


def unroll(ctx: Ctx, op: str, x: V, weights, hidden: int, activation: str = "tanh"):
    """Stacked (bidirectional when a layer has two weight dicts) recurrent layers over ``x``: returns
    ``(output, h_n)`` or, for LSTM, ``(output, (h_n, c_n))`` with per-layer-and-direction state tuples."""
    hs, cs = [], []
    for layer_weights in weights:
        seqs = []
        for d, params in enumerate(layer_weights):
            rev = d == 1
            seqs.append(_optional(ctx, ctx.emit(op, [x], params=params,
                                                attrs=_attrs(op, hidden, rev, "sequence", activation))))
            hs.append(_optional(ctx, _last(ctx, seqs[-1], rev)))
            if op == "lstm":
                cs.append(_optional(ctx, ctx.emit(op, [x], params=params,
                                                  attrs=_attrs(op, hidden, rev, "cell", activation))))
        x = seqs[0] if len(seqs) == 1 else _optional(ctx, ctx.emit("concat", seqs, attrs={"axis": -1}))
    return (x, (tuple(hs), tuple(cs))) if op == "lstm" else (x, tuple(hs))


# ---- aten ops of torch.export programs (.pt2) ------------------------------------------------------------
class ZeroState:
    """``torch.zeros`` of a shape holding the batch size: the default initial state of an exported RNN."""

    def __repr__(self) -> str:
        return "torch.zeros(batch-sized shape), supported only as a recurrent layer's initial state"


ATEN = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn", "rnn_relu": "rnn"}


@rule("zeros", sig="size")
def _zeros(ctx: Ctx, name, a):
    """Only as a recurrent layer's initial state (a batch-sized zero tensor is not an IR value)."""
    return ZeroState()


@rule(*ATEN, sig="self hx params has_biases num_layers dropout train bidirectional batch_first")
def _aten_recurrent(ctx: Ctx, name, a):
    op = ATEN[name]
    x = ctx.value(a["self"])  # bind() names the first argument self
    hx = a["hx"] if isinstance(a["hx"], (list, tuple)) else [a["hx"]]
    if not all(isinstance(h, ZeroState) or (isinstance(h, torch.Tensor) and not h.any()) for h in hx):
        raise Unsupported("a non-zero initial state (only the default zero state)")
    if len(x.shape) != 2 or not a["batch_first"]:
        raise Unsupported(BATCH_FIRST)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")[:4 if a["has_biases"] else 2]
    flat = [to_numpy(p) for p in a["params"]]
    dirs = 2 if a["bidirectional"] else 1
    if len(flat) != int(a["num_layers"]) * dirs * len(names):  # LSTM projections add a weight_hr per layer
        raise Unsupported("recurrent projections (proj_size > 0) or an unexpected weight list are not supported")
    per = [dict(zip(names, flat[i:i + len(names)])) for i in range(0, len(flat), len(names))]
    hidden = per[0]["weight_hh"].shape[1]
    out, states = unroll(ctx, op, x, [per[k:k + dirs] for k in range(0, len(per), dirs)],
                         hidden, "relu" if name == "rnn_relu" else "tanh")
    return (out, *states) if op == "lstm" else (out, states)


class SequenceOutput(torch.nn.Module):
    """A bare recurrent module as a net: one sample is its ``{seq, features}`` input, the result its
    output sequence (the ``h_n``/``c_n`` tensors have the batch axis second: wrap the module to use them)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def as_sequence_net(model):
    """``model`` itself, or for a bare ``nn.LSTM``/``GRU``/``RNN`` (already a private copy) a
    :class:`SequenceOutput` of it with ``batch_first=True``: either layout has the same per-sample result."""
    if not any(c.__name__ in OPS and c.__module__.startswith("torch.nn") for c in type(model).__mro__):
        return model
    model.batch_first = True
    return SequenceOutput(model)


def drop_unused_states(ctx: Ctx, outputs) -> None:
    """Drop the recurrent layers no output depends on (the module rule emits them all: every direction's
    sequence, their ``concat``, ``h_n``/``c_n``; ``h_n[-1]`` of a bidirectional net needs one direction)."""
    drop_unused(ctx.builder, outputs, getattr(ctx, "optional_values", set()))


def _optional(ctx: Ctx, v: V) -> V:
    if not hasattr(ctx, "optional_values"):
        ctx.optional_values = set()
    ctx.optional_values.add(v.name)
    return v


def _last(ctx: Ctx, seq: V, rev: bool) -> V:
    """The final hidden state: the sequence output's last step (the first step when reversed)."""
    return ctx.emit("take", [seq], attrs={"axis": 0, "indices": 0 if rev else seq.shape[0] - 1})
