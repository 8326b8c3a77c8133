"""ONNX ``LSTM``, ``GRU``, ``RNN`` -> IR recurrent ops (one per direction and sequence of the batch).

Gates are reordered to torch's layout (LSTM i o f c -> i f c o, GRU z r h -> r z h). Supported:
the default activations (RNN: Tanh or Relu), zero or absent initial states, no peepholes, no
``clip``, ``sequence_lens`` absent or all equal to the sequence length, both ``layout`` values.
With ``batch_axis=True`` only ``layout=1`` (batch first) converts; without a batch axis (what
``torch.onnx.export`` graphs of ``batch_first`` modules need, as they transpose the batch axis
away) every sequence of the sample's batch is run on its own.
"""
from __future__ import annotations

import numpy as np

from .context import BatchAxisError, Const, Ctx, Unsupported, Var
from .registry import rule

OPS = {"LSTM": ("lstm", 4, [0, 2, 3, 1], ["Sigmoid", "Tanh", "Tanh"]),
       "GRU": ("gru", 3, [1, 0, 2], ["Sigmoid", "Tanh"]),
       "RNN": ("rnn", 1, [0], None)}


def _blocks(a: np.ndarray, order, h: int) -> np.ndarray:
    return np.concatenate([a[k * h:(k + 1) * h] for k in order], axis=0)


def _check(ctx: Ctx, ins, kind: str, t: int) -> str | None:
    """Refuse what the IR op cannot express; returns the RNN activation (None for LSTM/GRU)."""
    if any(not isinstance(v, Const) for v in ins[1:] if v is not None):
        raise Unsupported("weights, biases, sequence_lens and initial states must be constant")
    if len(ins) > 4 and ins[4] is not None and np.any(ins[4].value != t):
        raise Unsupported("sequence_lens differing from the sequence length")
    for k in (5, 6):
        if len(ins) > k and ins[k] is not None and np.any(ins[k].value):
            raise Unsupported("a non-zero initial state")
    if len(ins) > 7 and ins[7] is not None and np.any(ins[7].value):
        raise Unsupported("peephole weights P")
    if ctx.attrs.get("clip") is not None or ctx.attrs.get("input_forget", 0):
        raise Unsupported("clip / input_forget")
    acts = ctx.attrs.get("activations")
    dirs = 2 if ctx.attrs.get("direction", "forward") == "bidirectional" else 1
    if kind == "RNN":
        acts = acts or ["Tanh"] * dirs
        if len(set(acts)) != 1 or acts[0] not in ("Tanh", "Relu"):
            raise Unsupported(f"activations {acts} (only Tanh or Relu)")
        return acts[0].lower()
    if acts and acts != OPS[kind][3] * dirs:
        raise Unsupported(f"activations {acts} (only the defaults {OPS[kind][3]})")
    return None


def _direction_params(ins, d: int, order, h: int, g: int) -> dict:
    p = {"weight_ih": _blocks(ins[1].value[d], order, h), "weight_hh": _blocks(ins[2].value[d], order, h)}
    if len(ins) > 3 and ins[3] is not None:
        bias = ins[3].value[d]
        p["bias_ih"], p["bias_hh"] = _blocks(bias[:g * h], order, h), _blocks(bias[g * h:], order, h)
    return p


def _optional(ctx: Ctx, v: Var) -> Var:
    if not hasattr(ctx, "optional_values"):
        ctx.optional_values = set()
    ctx.optional_values.add(v.name)
    return v


def _run(ctx: Ctx, op, x: Var, params: list, attrs: dict, lstm: bool):
    """Every direction over one {T, I} sequence: (sequences, last states, last cells)."""
    seqs, hs, cs = [], [], []
    for d, p in enumerate(params):
        rev = d == 1 or ctx.attrs.get("direction") == "reverse"
        seq = ctx.emit(op, [x], params=p, attrs={**attrs, "reverse": rev, "output": "sequence"})
        seqs.append(seq)
        hs.append(_optional(ctx, ctx.emit("take", [seq], attrs={"axis": 0, "indices": 0 if rev else seq.shape[0] - 1})))
        if lstm:
            cs.append(_optional(ctx, ctx.emit(op, [x], params=p, attrs={**attrs, "reverse": rev, "output": "cell"})))
    return seqs, hs, cs


def _stack(ctx: Ctx, vs: list[Var], axis: int, optional: bool = False) -> Var:
    """The values (equal shapes) stacked on a new ``axis`` (``optional``: dropped when unused)."""
    mark = (lambda v: _optional(ctx, v)) if optional else (lambda v: v)  # noqa: E731
    shape = vs[0].shape
    parts = [mark(ctx.reshape(v, (*shape[:axis], 1, *shape[axis:]))) for v in vs]
    return parts[0] if len(parts) == 1 else mark(ctx.emit("concat", parts, attrs={"axis": axis}))


def _recurrent(kind: str):
    op, g, order, _ = OPS[kind]

    def convert(ctx: Ctx, node, ins):
        x = ctx.var(ins[0])
        layout = int(ctx.attrs.get("layout", 0))
        h = int(ctx.attrs.get("hidden_size") or ins[2].value.shape[-1])
        if ctx.batch and layout == 0:  # the batch axis is the second: retried without one (batch_axis="auto")
            raise ctx.error("layout=0 (sequence first) with a batch axis; convert with batch_axis=False",
                            BatchAxisError)
        t = x.shape[0] if ctx.batch or layout == 0 else x.shape[1]
        act = _check(ctx, ins, kind, t)
        attrs = {"hidden": h}
        if kind == "RNN":
            attrs["activation"] = act
        if kind == "GRU":
            attrs["linear_before_reset"] = bool(ctx.attrs.get("linear_before_reset", 0))
        params = [_direction_params(ins, d, order, h, g) for d in range(ins[1].value.shape[0])]
        if ctx.batch:  # X {T, I} per sample; Y {T, D, H}, Y_h and Y_c {D, H}
            seqs, hs, cs = _run(ctx, op, x, params, attrs, kind == "LSTM")
            return [_stack(ctx, seqs, 1), _stack(ctx, hs, 0, True)] + ([_stack(ctx, cs, 0, True)] if cs else [])
        n = x.shape[1] if layout == 0 else x.shape[0]
        runs = [_run(ctx, op, ctx.emit("take", [x], attrs={"axis": 1 - layout, "indices": b}), params, attrs,
                     kind == "LSTM") for b in range(n)]
        seq_axis, state_axis = (2, 1) if layout == 0 else (0, 0)
        y = _stack(ctx, [_stack(ctx, r[0], 1) for r in runs], seq_axis)
        outs = [y] + [_stack(ctx, [_stack(ctx, r[k], 0, True) for r in runs], state_axis, True)
                      for k in (1, 2) if runs[0][k]]
        return outs

    convert.__name__ = f"_{op}"
    return convert


for _kind in OPS:
    rule(_kind, 7)(_recurrent(_kind))
