"""``nn.LSTM``, ``nn.GRU``, ``nn.RNN`` (batch_first, any num_layers, bidirectional) -> IR recurrent ops.

Each layer and direction is one ``lstm``/``gru``/``rnn`` IR layer over the fixed sequence length of
``input_shape``; a bidirectional layer joins both directions on the feature axis. The module's
result is ``(output, h_n)`` (``(output, (h_n, c_n))`` for LSTM) where ``h_n``/``c_n`` are tuples of
per-layer-and-direction states, so ``h_n[-1]`` and ``torch.cat((h_n[-2], h_n[-1]), 1)`` convert.
"""
from __future__ import annotations

import torch

from ...recurrent import drop_unused
from .context import Ctx, to_numpy
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


def _attrs(m, op: str, reverse: bool, output: str) -> dict:
    attrs = {"hidden": int(m.hidden_size), "reverse": reverse, "output": output}
    if op == "rnn":
        attrs["activation"] = m.nonlinearity
    return attrs


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
        raise Unsupported("only batch_first=True with a {batch, seq, features} input (the IR's batch axis is "
                          "the first; batch_first=False would make the sequence axis the batch axis)")
    dirs = ("", "_reverse") if m.bidirectional else ("",)
    hs, cs = [], []
    for k in range(m.num_layers):
        seqs = []
        for suffix in dirs:
            params, rev = _params(m, k, suffix), suffix == "_reverse"
            seqs.append(ctx.emit(op, [x], params=params, attrs=_attrs(m, op, rev, "sequence")))
            hs.append(_optional(ctx, _last(ctx, seqs[-1], rev)))
            if op == "lstm":
                cs.append(_optional(ctx, ctx.emit(op, [x], params=params, attrs=_attrs(m, op, rev, "cell"))))
        x = seqs[0] if len(seqs) == 1 else ctx.emit("concat", seqs, attrs={"axis": -1})
    return (x, (tuple(hs), tuple(cs))) if op == "lstm" else (x, tuple(hs))


def drop_unused_states(ctx: Ctx, outputs) -> None:
    """Drop the ``h_n``/``c_n`` layers no output depends on (the module rule emits them all)."""
    drop_unused(ctx.builder, outputs, getattr(ctx, "optional_values", set()))


def _optional(ctx: Ctx, v: V) -> V:
    if not hasattr(ctx, "optional_values"):
        ctx.optional_values = set()
    ctx.optional_values.add(v.name)
    return v


def _last(ctx: Ctx, seq: V, rev: bool) -> V:
    """The final hidden state: the sequence output's last step (the first step when reversed)."""
    return ctx.emit("take", [seq], attrs={"axis": 0, "indices": 0 if rev else seq.shape[0] - 1})
