"""Recurrent layers (``lstm``, ``gru``, ``rnn``) as their unrolling into primitive IR ops.

One recurrent IR layer is one direction of one layer over a fixed-length ``{T, I}`` sequence,
starting from the zero state, in torch's parameter layout (``weight_ih`` ``{G*H, I}``,
``weight_hh`` ``{G*H, H}``, ``bias_ih``/``bias_hh`` ``{G*H}``; gates i f g o for LSTM, r z n for
GRU). ``attrs``: ``hidden`` H, ``reverse`` (run from the last step to the first), ``output``
(``"sequence"`` ``{T, H}`` in time order, ``"last"`` the final state ``{H}``, ``"cell"`` the final
LSTM cell state), ``linear_before_reset`` (GRU; torch: True, ONNX's default: False) and
``activation`` (RNN: ``tanh`` or ``relu``).

:func:`expand` gives the unrolled net (``take`` a step, ``linear``, ``add``, ``scalar_fn``,
``reshape``, ``concat``): the reference evaluator, the sympy/Python emitters and the expanded WL form
interpret it; the compact WL form has its own rule (one ``With`` per step).

>>> import numpy as np
>>> from wlbridge.ir import Layer
>>> L = Layer("rnn", ("x",), "y", {"weight_ih": np.ones((2, 3)), "weight_hh": np.eye(2)},
...           {"hidden": 2, "output": "last", "activation": "relu"})
>>> print(expand(L, (2, 3)))
rnn(x: f64[2,3]) -> h8: f64[2]
  h1: f64[2,2] = linear(x; weight=f64[2,3])
  h2: f64[2] = constant(value=f64[2])
  h3: f64[2] = take[axis=0, indices=0](h1)
  h4: f64[2] = linear(h2; weight=f64[2,2])
  h5: f64[2] = scalar_fn[body=('relu', ('add', ('arg', 1), ('arg', 2)))](h3, h4)
  h6: f64[2] = take[axis=0, indices=1](h1)
  h7: f64[2] = linear(h5; weight=f64[2,2])
  h8: f64[2] = scalar_fn[body=('relu', ('add', ('arg', 1), ('arg', 2)))](h6, h7)
"""
from __future__ import annotations

import numpy as np

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
OUTPUTS = ("sequence", "last", "cell")


def drop_unused(builder, outputs, optional) -> None:
    """Drop the layers in ``optional`` (value names) that no output depends on: front ends emit a
    recurrent layer's final states (``h_n``, ``c_n``, ``Y_h``, ``Y_c``) whether the model reads them or not."""
    if not optional:
        return
    needed = set(outputs)
    for layer in reversed(builder._layers):
        if layer.output in needed or layer.output not in optional:
            needed.update(layer.inputs)
    builder._layers = [L for L in builder._layers if L.output not in optional or L.output in needed]


def _arg(k):
    return ("arg", k)


def _add(*xs):
    return ("add", *xs)


def check(layer, x) -> tuple[int, ...]:
    """The output shape of a recurrent layer on an input of shape ``x`` (ValueError if they disagree)."""
    h, g = int(layer.attrs["hidden"]), GATES[layer.op]
    wi, wh = layer.params["weight_ih"], layer.params["weight_hh"]
    if len(x) != 2:
        raise ValueError(f"input must be a sequence {{T, features}}, got {list(x)}")
    if wi.shape != (g * h, x[1]) or wh.shape != (g * h, h):
        raise ValueError(f"weights {list(wi.shape)}, {list(wh.shape)} do not fit input {list(x)} and hidden size {h}")
    for k in ("bias_ih", "bias_hh"):
        b = layer.params.get(k)
        if b is not None and b.shape != (g * h,):
            raise ValueError(f"{k} has shape {list(b.shape)}, expected [{g * h}]")
    out = layer.attrs.get("output", "sequence")
    if out not in OUTPUTS or (out == "cell" and layer.op != "lstm"):
        raise ValueError(f"unknown output {out!r}")
    if layer.op == "rnn" and layer.attrs.get("activation", "tanh") not in ("tanh", "relu"):
        raise ValueError(f"unknown activation {layer.attrs.get('activation')!r}")
    return (x[0], h) if out == "sequence" else (h,)


def _bias(layer, name, n):
    b = layer.params.get(name)
    return np.zeros(n) if b is None else np.asarray(b, dtype=np.float64)


def expand(layer, x_shape):
    """The unrolled net of one recurrent layer (input port ``x`` of shape ``x_shape``)."""
    from .ir import NetBuilder

    b = NetBuilder(layer.op)
    x = b.input("x", x_shape)
    h_size, g = int(layer.attrs["hidden"]), GATES[layer.op]
    bi, bh = _bias(layer, "bias_ih", g * h_size), _bias(layer, "bias_hh", g * h_size)
    wi = np.asarray(layer.params["weight_ih"], dtype=np.float64)
    wh = np.asarray(layer.params["weight_hh"], dtype=np.float64)
    fold = bh.copy()
    if layer.op == "gru":
        fold[2 * h_size:] = 0.0  # the n gate's recurrent bias stays inside r * (...)
    bias_x = bi + fold
    xp = b.layer("linear", [x], params={"weight": wi, "bias": bias_x if bias_x.any() else None})
    state = {"h": b.constant(np.zeros(h_size)), "c": b.constant(np.zeros(h_size)) if layer.op == "lstm" else None}
    steps = range(x_shape[0] - 1, -1, -1) if layer.attrs.get("reverse") else range(x_shape[0])
    outs = {}
    step = {"lstm": _lstm_step, "gru": _gru_step, "rnn": _rnn_step}[layer.op]
    for t in steps:
        xt = b.layer("take", [xp], attrs={"axis": 0, "indices": t})
        step(b, layer, xt, state, wh, bh, h_size)
        outs[t] = state["h"]
    kind = layer.attrs.get("output", "sequence")
    if kind == "sequence":
        rows = [b.layer("reshape", [outs[t]], attrs={"shape": (1, h_size)}) for t in range(x_shape[0])]
        y = b.layer("concat", rows, attrs={"axis": 0}) if len(rows) > 1 else rows[0]
    else:
        y = state["c"] if kind == "cell" else state["h"]
    return b.build([y])


def _gates(b, z, g, h_size):
    return [b.layer("take", [z], attrs={"axis": 0, "indices": list(range(k * h_size, (k + 1) * h_size))})
            for k in range(g)]


def _lstm_step(b, layer, xt, state, wh, bh, h_size):
    z = b.layer("add", [xt, b.layer("linear", [state["h"]], params={"weight": wh})])
    i, f, gg, o = _gates(b, z, 4, h_size)
    c = b.layer("scalar_fn", [i, f, gg, o, state["c"]], attrs={"body": _add(
        ("mul", ("sigmoid", _arg(2)), _arg(5)), ("mul", ("sigmoid", _arg(1)), ("tanh", _arg(3))))})
    state["h"] = b.layer("scalar_fn", [o, c], attrs={"body": ("mul", ("sigmoid", _arg(1)), ("tanh", _arg(2)))})
    state["c"] = c


def _gru_step(b, layer, xt, state, wh, bh, h_size):
    """torch: n = tanh(x_n + r (W_hn h + b_hn)); ONNX default (linear_before_reset=0): n = tanh(x_n + W_hn (r h) + b_hn)."""
    h = state["h"]
    xr, xz, xn = _gates(b, xt, 3, h_size)
    new = ("add", ("mul", ("sub", ("const", 1.0), ("sigmoid", _add(_arg(2), _arg(4)))), ("tanh", "N")),
           ("mul", ("sigmoid", _add(_arg(2), _arg(4))), _arg(6)))
    if layer.attrs.get("linear_before_reset", True):
        bn = bh[2 * h_size:]
        hp = b.layer("linear", [h], params={"weight": wh, "bias": np.concatenate([np.zeros(2 * h_size), bn])})
        hr, hz, hn = _gates(b, hp, 3, h_size)
        n = _add(_arg(3), ("mul", ("sigmoid", _add(_arg(1), _arg(5))), _arg(7)))
        state["h"] = b.layer("scalar_fn", [xr, xz, xn, hz, hr, h, hn], attrs={"body": _subst(new, n)})
        return
    hp = b.layer("linear", [h], params={"weight": wh[:2 * h_size]})
    hr, hz = _gates(b, hp, 2, h_size)
    r = b.layer("scalar_fn", [xr, hr], attrs={"body": ("sigmoid", _add(_arg(1), _arg(2)))})
    rh = b.layer("mul", [r, h])
    bn = bh[2 * h_size:]
    hn = b.layer("linear", [rh], params={"weight": wh[2 * h_size:], "bias": bn if bn.any() else None})
    n = _add(_arg(3), _arg(5))
    state["h"] = b.layer("scalar_fn", [xr, xz, xn, hz, hn, h], attrs={"body": _subst(new, n)})


def _subst(body, n):
    if body == "N":
        return n
    if isinstance(body, tuple) and body[0] not in ("arg", "const"):
        return (body[0], *[_subst(c, n) for c in body[1:]])
    return body


def _rnn_step(b, layer, xt, state, wh, bh, h_size):
    hp = b.layer("linear", [state["h"]], params={"weight": wh})
    act = layer.attrs.get("activation", "tanh")
    state["h"] = b.layer("scalar_fn", [xt, hp], attrs={"body": (act, _add(_arg(1), _arg(2)))})
