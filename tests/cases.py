"""The shared harness table: one small net per use case, reused by emitter, check and paclet tests.

``CASES`` lists :class:`Case` rows (``name``, ``build() -> Net``, ``tags``). Tags:
``activation``, ``op``, ``graph``, ``float32``, ``integer_input`` (embedding indices), ``head`` (argmax, comparisons,
casts: no Jacobian, no regions), ``data_dependent`` (a computed slice start: no sympy form),
``mathics_heavy`` (too slow for Mathics3 in a quick test), ``multi_output``, ``scalar_output``.
``sample_inputs(net, n, seed)`` draws a batch per input port (indices for embedding inputs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from wlbridge.ir import Net, NetBuilder
from wlbridge.ops import ACTIVATIONS


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Net]
    tags: frozenset = field(default_factory=frozenset)

    def __repr__(self):
        return f"Case({self.name})"


CASES: list[Case] = []


def case(name: str, *tags: str):
    def register(fn):
        CASES.append(Case(name, fn, frozenset(tags)))
        return fn
    return register


def rng(seed: int = 0):
    return np.random.default_rng(seed)


def W(shape, seed, scale=0.6):
    return rng(seed).standard_normal(shape) * scale


# ---- activations: every row, default parameters, then non-default parameters ----------------
DOMAIN = {"log": "sigmoid", "sqrt": "sigmoid", "asin": "sigmoid", "acos": "sigmoid", "atanh": "sigmoid",
          "reciprocal": "sigmoid", "acosh": "cosh"}
NON_DEFAULT = {"leaky_relu": {"negative_slope": 0.2}, "rrelu": {"lower": 0.1, "upper": 0.4},
               "elu": {"alpha": 0.7}, "selu": {"alpha": 1.5, "scale": 0.9}, "celu": {"alpha": 2.0},
               "softplus": {"beta": 2.0, "threshold": 1.0}, "clip": {"min_val": -0.5, "max_val": 0.3},
               "onnx_hardsigmoid": {"alpha": 0.3, "beta": 0.4}, "hardshrink": {"lambd": 0.3},
               "softshrink": {"lambd": 0.2}, "threshold": {"threshold": 0.1, "value": -2.0}}


def activation_net(fn: str, params=None) -> Net:
    b = NetBuilder(f"act_{fn}")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": W((4, 3), 1), "bias": W(4, 2)})
    if fn in DOMAIN:
        h = b.layer("elementwise", [h], attrs={"fn": DOMAIN[fn]})
    y = b.layer("elementwise", [h], attrs={"fn": fn, "fn_params": dict(params or {})})
    return b.build([y])


for _fn in ACTIVATIONS:
    CASES.append(Case(f"act_{_fn}", lambda fn=_fn: activation_net(fn), frozenset({"activation"})))
for _fn, _params in NON_DEFAULT.items():
    CASES.append(Case(f"act_{_fn}_params", lambda fn=_fn, p=_params: activation_net(fn, p),
                      frozenset({"activation"})))


# ---- one net per op ----------------------------------------------------------------------------
def _chain(name, shape, *layers, tags=()):
    """input -> layers (op, params, attrs) -> output."""
    def build():
        b = NetBuilder(name)
        v = b.input("x", shape)
        for op, params, attrs in layers:
            v = b.layer(op, [v], params=params, attrs=attrs)
        return b.build([v])
    CASES.append(Case(name, build, frozenset({"op", *tags})))


_chain("identity", (3,), ("identity", {}, {}))
_chain("linear_nobias", (3,), ("linear", {"weight": W((2, 3), 3)}, {}))
_chain("linear_rank2", (2, 3), ("linear", {"weight": W((4, 3), 4), "bias": W(4, 5)}, {}))
_chain("matmul", (2, 3), ("matmul", {"weight": W((3, 4), 6)}, {}))
_chain("prelu", (3, 4), ("prelu", {"slope": W((3, 1), 7)}, {}))
_chain("prelu_scalar", (4,), ("prelu", {"slope": np.array([0.25])}, {}))
_chain("softmax", (4,), ("linear", {"weight": W((5, 4), 8)}, {}), ("softmax", {}, {"axis": -1}))
_chain("softmax_axis0", (3, 4), ("softmax", {}, {"axis": 0}))
_chain("log_softmax_axis1", (2, 3, 4), ("log_softmax", {}, {"axis": 1}))
_chain("log_softmax", (5,), ("log_softmax", {}, {"axis": 0}))
_chain("batchnorm", (3, 4), ("batchnorm", {"scale": W(3, 9) + 1, "bias": W(3, 10), "mean": W(3, 11),
                                          "var": np.abs(W(3, 12)) + 0.5}, {"eps": 1e-5, "axis": 0}))
_chain("batchnorm_lastaxis", (2, 3), ("batchnorm", {"scale": W(3, 13) + 1, "bias": W(3, 14), "mean": W(3, 15),
                                                   "var": np.abs(W(3, 16)) + 0.5}, {"eps": 1e-3, "axis": -1}))
_chain("flatten", (2, 3), ("flatten", {}, {}), ("linear", {"weight": W((2, 6), 17)}, {}))
_chain("reshape", (6,), ("reshape", {}, {"shape": (2, 3)}), ("reshape", {}, {"shape": (3, 2, 1)}))
_chain("transpose2", (2, 3), ("transpose", {}, {"perm": (1, 0)}))
_chain("transpose3", (2, 3, 4), ("transpose", {}, {"perm": (2, 0, 1)}))
_chain("conv1d", (2, 7), ("conv", {"weight": W((3, 2, 3), 18), "bias": W(3, 19)},
                          {"stride": (2,), "padding": ((1, 2),), "dilation": (1,), "groups": 1}))
_chain("conv2d", (2, 5, 5), ("conv", {"weight": W((4, 1, 2, 3), 20), "bias": W(4, 21)},
                             {"stride": (1, 2), "padding": ((1, 0), (2, 1)), "dilation": (2, 1), "groups": 2}),
       tags=("mathics_heavy",))
_chain("conv3d", (1, 3, 3, 3), ("conv", {"weight": W((2, 1, 2, 2, 2), 22)}, {}), tags=("mathics_heavy",))
_chain("pool_max", (2, 5, 5), ("pool", {}, {"kind": "max", "kernel": (2, 2), "stride": (2, 2),
                                            "padding": ((1, 1), (0, 0)), "ceil_mode": True}))
_chain("pool_avg", (2, 5, 5), ("pool", {}, {"kind": "avg", "kernel": (3, 3), "stride": (2, 2),
                                            "padding": ((1, 1), (1, 1)), "ceil_mode": True,
                                            "count_include_pad": True}))
_chain("pool_avg_exclude", (1, 5, 4), ("pool", {}, {"kind": "avg", "kernel": (3, 2), "stride": (2, 1),
                                                    "padding": ((1, 1), (1, 0)), "count_include_pad": False}))
_chain("pool_sum_1d", (2, 6), ("pool", {}, {"kind": "sum", "kernel": (3,), "stride": (1,), "dilation": (2,)}))
_chain("pool_global_max", (2, 3, 4), ("pool", {}, {"kind": "max", "kernel": (3, 4), "stride": (3, 4)}))
_chain("pool_global_avg_1d", (3, 5), ("pool", {}, {"kind": "avg", "kernel": (5,), "stride": (1,)}))
_chain("pool_identity", (2, 3, 3), ("pool", {}, {"kind": "max", "kernel": (1, 1), "stride": (1, 1)}),
       ("conv", {"weight": W((3, 2, 1, 1), 23), "bias": W(3, 24)}, {}),
       ("pool", {}, {"kind": "sum", "kernel": (3, 3), "stride": (1, 1)}))
_chain("reduce_mean", (2, 3, 4), ("reduce", {}, {"kind": "mean", "axes": (0, 2), "keepdims": False}))
_chain("reduce_sum_keep", (2, 3), ("reduce", {}, {"kind": "sum", "axes": (-1,), "keepdims": True}))
_chain("reduce_max", (2, 3), ("reduce", {}, {"kind": "max", "axes": (0,)}))
_chain("reduce_all", (2, 3), ("reduce", {}, {"kind": "sum", "axes": (0, 1)}), tags=("scalar_output",))

# issue 10: slicing, indexing, uneven adaptive pooling, layer norm, products of two variables
_chain("slice", (3, 5), ("slice", {}, {"starts": (1, 0), "stops": (3, 5), "steps": (1, 2)}))
_chain("slice_reversed", (3, 4), ("slice", {}, {"starts": (2, 3), "stops": (-1, 0), "steps": (-1, -2)}))
_chain("take_chain", (3, 4), ("take", {}, {"axis": 1, "indices": (3, 0, 0)}),
       ("take", {}, {"axis": 0, "indices": (2,)}))
_chain("adaptive_avg_uneven", (2, 5, 3), ("adaptive_pool", {}, {"kind": "avg", "output_size": (3, 2)}))
_chain("adaptive_max_upsample", (1, 2, 2), ("adaptive_pool", {}, {"kind": "max", "output_size": (3, 3)}))
_chain("layernorm", (2, 3), ("layernorm", {"scale": W((3,), 27), "bias": W((3,), 28)}, {"axis": 1, "eps": 1e-5}))
_chain("layernorm_2axes", (2, 2, 2), ("layernorm", {}, {"axis": 1, "eps": 1e-3}))


@case("attention", "op")
def _attention():
    """softmax(q k^T / 2) v: products and a softmax of computed matrices (batch_matmul)."""
    b = NetBuilder("attention")
    x = b.input("x", (3, 4))
    q = b.layer("linear", [x], params={"weight": W((4, 4), 29)})
    k = b.layer("linear", [x], params={"weight": W((4, 4), 30)})
    kt = b.layer("transpose", [k], attrs={"perm": (1, 0)})
    a = b.layer("softmax", [b.layer("batch_matmul", [q, kt])], attrs={"axis": -1})
    heads = b.layer("reshape", [x], attrs={"shape": (3, 2, 2)})
    ht = b.layer("transpose", [heads], attrs={"perm": (1, 0, 2)})  # {2 heads, 3, 2}
    scores = b.layer("batch_matmul", [ht, b.layer("transpose", [ht], attrs={"perm": (0, 2, 1)})])
    mixed = b.layer("batch_matmul", [a, x])  # {3, 4}
    per_head = b.layer("batch_matmul", [scores, x])  # {2, 3, 3} . {3, 4}: leading axis broadcast
    parts = [mixed, b.layer("reshape", [scores], attrs={"shape": (3, 6)}),
             b.layer("reshape", [per_head], attrs={"shape": (3, 8)})]
    return b.build([b.layer("concat", parts, attrs={"axis": 1})])


@case("constant_add", "op")
def _constant_add():
    b = NetBuilder("constant_add")
    x = b.input("x", (2, 3))
    c = b.constant(W((3,), 23))
    return b.build([b.layer("add", [x, c])])


@case("binary_ops", "op")
def _binary_ops():
    b = NetBuilder("binary_ops")
    x = b.input("x", (2, 3))
    y = b.input("y", (2, 1))
    s = b.layer("elementwise", [x], attrs={"fn": "sigmoid"})
    outs = [b.layer(op, [x, y]) for op in ("add", "sub", "mul", "div", "max", "min")]
    outs.append(b.layer("pow", [s, y]))
    outs.append(b.layer("add", [x, s, y]))
    return b.build([b.layer("concat", outs, attrs={"axis": 0})])


@case("broadcast_ranks", "op", "multi_output")
def _broadcast_ranks():
    """Values of different ranks broadcast like numpy on the non-batch shapes: (3, 1) with (3,)."""
    b = NetBuilder("broadcast_ranks")
    x = b.input("x", (3, 1))
    y = b.input("y", (3,))
    body = ("where", ("less", ("arg", 1), ("arg", 2)), ("arg", 1), ("sub", ("arg", 2), ("const", 2.0)))
    return b.build([b.layer("add", [x, y]), b.layer("div", [y, x]), b.layer("scalar_fn", [x, y], attrs={"body": body})])


@case("scalar_fn", "op")
def _scalar_fn():
    b = NetBuilder("scalar_fn")
    x = b.input("x", (2, 3))
    c = b.constant(W((3,), 24))
    body = ("where", ("greater", ("arg", 1), ("const", 0.1)),
            ("mul", ("arg", 1), ("arg", 2), ("const", 1.5)),
            ("add", ("tanh", ("arg", 1)), ("max", ("arg", 2), ("const", -0.2)), ("div", ("arg", 1), ("const", 4.0))))
    return b.build([b.layer("scalar_fn", [x, c], attrs={"body": body})])


@case("concat_axes", "op")
def _concat_axes():
    b = NetBuilder("concat_axes")
    x = b.input("x", (2, 3))
    h = b.layer("linear", [x], params={"weight": W((2, 3), 25)})
    return b.build([b.layer("concat", [x, h], attrs={"axis": 1})])


@case("embedding", "op", "integer_input")
def _embedding():
    b = NetBuilder("embedding")
    x = b.input("x", (3,))
    e = b.layer("embedding", [x], params={"weight": W((5, 2), 26)})
    return b.build([b.layer("flatten", [e])])


# ---- graphs ------------------------------------------------------------------------------------
@case("seed_net", "graph")
def _seed_net():
    """The motivating example: 3 -> 2 sigmoid -> 2 sigmoid -> 2."""
    b = NetBuilder("seed_net")
    v = b.input("x", (3,))
    for i, (o, n) in enumerate([(2, 3), (2, 2)]):
        v = b.layer("linear", [v], params={"weight": W((o, n), 30 + i), "bias": W(o, 40 + i)}, path=f"{2 * i}")
        v = b.layer("elementwise", [v], attrs={"fn": "sigmoid"}, path=f"{2 * i + 1}")
    v = b.layer("linear", [v], params={"weight": W((2, 2), 50), "bias": W(2, 51)}, path="4")
    return b.build([v])


@case("residual", "graph")
def _residual():
    b = NetBuilder("residual")
    x = b.input("x", (4,))
    h = b.layer("elementwise", [b.layer("linear", [x], params={"weight": W((4, 4), 52), "bias": W(4, 53)})],
                attrs={"fn": "tanh"})
    h = b.layer("linear", [h], params={"weight": W((4, 4), 54)})
    return b.build([b.layer("add", [x, h])])


@case("concat_graph", "graph")
def _concat_graph():
    b = NetBuilder("concat_graph")
    x = b.input("x", (3,))
    a = b.layer("elementwise", [b.layer("linear", [x], params={"weight": W((2, 3), 55)})], attrs={"fn": "relu"})
    c = b.layer("elementwise", [b.layer("linear", [x], params={"weight": W((3, 3), 56)})], attrs={"fn": "gelu"})
    j = b.layer("concat", [a, c], attrs={"axis": 0})
    return b.build([b.layer("linear", [j], params={"weight": W((2, 5), 57), "bias": W(2, 58)})])


@case("multi_input", "graph", "multi_output")
def _multi_input():
    b = NetBuilder("multi_input")
    x = b.input("x", (3,))
    y = b.input("y", (2,))
    hx = b.layer("linear", [x], params={"weight": W((2, 3), 59)})
    hy = b.layer("linear", [y], params={"weight": W((2, 2), 60), "bias": W(2, 61)})
    s = b.layer("elementwise", [b.layer("add", [hx, hy])], attrs={"fn": "softplus"})
    r = b.layer("reduce", [s], attrs={"kind": "sum", "axes": (0,)})
    return b.build([s, r], input_names=["a", "b", "c", "d", "e"])


@case("cnn", "graph", "mathics_heavy")
def _cnn():
    b = NetBuilder("cnn")
    x = b.input("x", (1, 6, 6))
    v = b.layer("conv", [x], params={"weight": W((2, 1, 3, 3), 62), "bias": W(2, 63)},
                attrs={"padding": ((1, 1), (1, 1))})
    v = b.layer("batchnorm", [v], params={"scale": W(2, 64) + 1, "bias": W(2, 65), "mean": W(2, 66),
                                          "var": np.abs(W(2, 67)) + 0.5}, attrs={"eps": 1e-5, "axis": 0})
    v = b.layer("elementwise", [v], attrs={"fn": "relu"})
    v = b.layer("pool", [v], attrs={"kind": "max", "kernel": (2, 2), "stride": (2, 2)})
    v = b.layer("flatten", [v])
    v = b.layer("linear", [v], params={"weight": W((3, 18), 68), "bias": W(3, 69)})
    return b.build([b.layer("softmax", [v], attrs={"axis": -1})])


@case("float32", "graph", "float32")
def _float32():
    b = NetBuilder("float32")
    x = b.input("x", (3,), dtype="float32")
    h = b.layer("linear", [x], params={"weight": W((4, 3), 70).astype(np.float32),
                                       "bias": W(4, 71).astype(np.float32)})
    h = b.layer("elementwise", [h], attrs={"fn": "tanh"})
    return b.build([b.layer("linear", [h], params={"weight": W((2, 4), 72).astype(np.float32)})])


# ---- sequences: take and the recurrent ops (wlbridge/recurrent.py) ------------------------------
@case("take", "op", "graph", "multi_output")
def _take():
    b = NetBuilder("take")
    x = b.input("x", (3, 4))
    row = b.layer("take", [x], attrs={"axis": 0, "indices": 2})
    cols = b.layer("take", [x], attrs={"axis": 1, "indices": [3, 0, 0]})
    return b.build([row, b.layer("take", [cols], attrs={"axis": -1, "indices": [1, 2]})])


@case("pad", "op", "graph")
def _pad_case():
    b = NetBuilder("pad")
    x = b.input("x", (2, 3))
    h = b.layer("pad", [x], attrs={"pads": ((1, 0), (2, 1)), "value": -0.5})
    return b.build([b.layer("pad", [b.layer("elementwise", [h], attrs={"fn": "tanh"})], attrs={"pads": ((0, 1), (0, 0))})])


def _rec_params(op, i, h, seed):
    g = {"lstm": 4, "gru": 3, "rnn": 1}[op] * h
    return {"weight_ih": W((g, i), seed), "weight_hh": W((g, h), seed + 1), "bias_ih": W(g, seed + 2),
            "bias_hh": W(g, seed + 3)}


@case("lstm", "op", "multi_output")
def _lstm():
    b = NetBuilder("lstm")
    x = b.input("x", (2, 2))
    seq = b.layer("lstm", [x], params=_rec_params("lstm", 2, 2, 80), attrs={"hidden": 2, "output": "sequence"})
    cell = b.layer("lstm", [x], params=_rec_params("lstm", 2, 2, 84),
                   attrs={"hidden": 2, "reverse": True, "output": "cell"})
    return b.build([seq, cell])


@case("gru", "op", "multi_output")
def _gru():
    b = NetBuilder("gru")
    x = b.input("x", (2, 2))
    h = b.layer("gru", [x], params=_rec_params("gru", 2, 2, 90), attrs={"hidden": 2, "output": "sequence"})
    last = b.layer("gru", [x], params=_rec_params("gru", 2, 2, 94),
                   attrs={"hidden": 2, "output": "last", "linear_before_reset": False})
    return b.build([h, last])


@case("rnn", "op")
def _rnn():
    b = NetBuilder("rnn")
    x = b.input("x", (2, 2))
    h = b.layer("rnn", [x], params=_rec_params("rnn", 2, 2, 100),
                attrs={"hidden": 2, "output": "sequence", "reverse": True, "activation": "relu"})
    return b.build([b.layer("rnn", [h], params=_rec_params("rnn", 2, 2, 104), attrs={"hidden": 2, "output": "last"})])


# issue 17: piecewise-constant heads (tag "head": no Jacobian, no regions) and data-dependent indexing
@case("argmax_one_hot", "op", "head")
def _argmax_one_hot():
    b = NetBuilder("argmax_one_hot")
    x = b.input("x", (2, 4))
    h = b.layer("linear", [x], params={"weight": W((3, 4), 110), "bias": W(3, 111)})
    k = b.layer("argmax", [h], attrs={"axis": 1, "keepdims": False})
    hot = b.layer("one_hot", [k], attrs={"depth": 3, "axis": 0, "off": -1.0, "on": 2.0})
    hits = b.layer("compare", [hot, b.constant(np.array(2.0))], attrs={"kind": "equal"})
    counts = b.layer("reduce", [hits], attrs={"kind": "sum", "axes": (1,)})
    low = b.layer("argmin", [h], attrs={"axis": 0, "keepdims": True})
    return b.build([counts, low])


@case("compare_where_cast", "op", "head", "multi_output")
def _compare_where_cast():
    b = NetBuilder("compare_where_cast")
    x = b.input("x", (2, 3))
    y = b.input("y", (3,))
    gt = b.layer("compare", [x, y], attrs={"kind": "greater_equal"})
    w = b.layer("where", [gt, x, b.layer("elementwise", [y], attrs={"fn": "tanh"})])
    scaled = b.layer("mul", [x, b.constant(np.array(3.0))])
    to_int = b.layer("cast", [scaled], attrs={"to": "int64"})
    back = b.layer("cast", [to_int], attrs={"to": "float32"})
    nz = b.layer("cast", [b.layer("elementwise", [scaled], attrs={"fn": "round"})], attrs={"to": "bool"})
    lt = b.layer("compare", [y, b.constant(np.array(0.25))], attrs={"kind": "less"})
    return b.build([w, b.layer("add", [back, nz]), lt])


@case("dynamic_slice", "op", "head", "data_dependent")
def _dynamic_slice():
    b = NetBuilder("dynamic_slice")
    x = b.input("x", (3, 5))
    pos = b.input("pos", (2,))
    at = b.layer("mul", [pos, b.constant(np.array([2.0, 4.0]))])
    rows, cols = (b.layer("take", [at], attrs={"axis": 0, "indices": i}) for i in (0, 1))
    patch = b.layer("dynamic_slice", [x, rows, cols], attrs={"axes": (0, 1), "sizes": (2, 3)})
    return b.build([b.layer("elementwise", [patch], attrs={"fn": "tanh"})])


def mlp(sizes, act="relu", seed=0, fn_params=None, name="mlp") -> Net:
    """A ``sizes[0]``-...-``sizes[-1]`` MLP with ``act`` after each hidden layer: normal weights, biases * 0.5."""
    g = rng(seed)
    b = NetBuilder(name)
    v = b.input("x", (sizes[0],))
    for i, (m, n) in enumerate(zip(sizes[1:], sizes)):
        v = b.layer("linear", [v], params={"weight": g.standard_normal((m, n)), "bias": g.standard_normal(m) * 0.5})
        if i < len(sizes) - 2:
            v = b.layer("elementwise", [v], attrs={"fn": act, "fn_params": fn_params or {}})
    return b.build([v])


def net46652(seed=0) -> Net:
    """4-6-6-5-2: ReLU, LeakyReLU(0.1), ELU(1.0) hidden layers (issue 18's expanded-sympy net)."""
    g = rng(seed)
    b = NetBuilder("mixed")
    v = b.input("x", (4,))
    acts = [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("elu", {"alpha": 1.0})]
    for i, (m, n) in enumerate(zip([6, 6, 5, 2], [4, 6, 6, 5])):
        v = b.layer("linear", [v], params={"weight": g.standard_normal((m, n)), "bias": g.standard_normal(m) * 0.5})
        if i < 3:
            v = b.layer("elementwise", [v], attrs={"fn": acts[i][0], "fn_params": acts[i][1]})
    return b.build([v])


CASE_BY_NAME = {c.name: c for c in CASES}
assert len(CASE_BY_NAME) == len(CASES), "duplicate case names"


def sample_inputs(net: Net, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """One batch (``n`` rows) per input port; ports read by an embedding get integer indices."""
    g = rng(seed)
    vocab = {layer.inputs[0]: layer.params["weight"].shape[0] for layer in net.layers if layer.op == "embedding"}
    out = []
    for port in net.inputs:
        if port.name in vocab:
            out.append(g.integers(0, vocab[port.name], size=(n, *port.shape)).astype(np.float64))
        else:
            out.append(g.uniform(-1.5, 1.5, size=(n, *port.shape)))
    return out
