"""Net association -> IR, layer by layer: generated files (writer -> reader -> same outputs) and
hand-made associations for the forms only older Wolfram versions write."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import assoc_from_net, assoc_to_wl, net_from_assoc
from wlbridge.frontends.wolfram.scalarfn import to_scalar_function
from wlbridge.frontends.wolfram.wlnet import load_wlnet, read_wlnet_raw, save_wlnet
from wlbridge.ops import ACTIVATIONS
from tests.wolfram_files import NP, T, chain, f32, lay, rng, rule

pytest.importorskip("h5py")


def roundtrip(net, tmp_path, xs, name="n"):
    """Write ``net``, read it back, check the outputs are the same; return the read net and raw assoc."""
    p = tmp_path / f"{name}.wlnet"
    save_wlnet(net, p)
    back = load_wlnet(p)
    outs_a, outs_b = net(*xs), back(*xs)
    for a, b in zip(outs_a if isinstance(outs_a, list) else [outs_a], outs_b if isinstance(outs_b, list) else [outs_b]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    return back, read_wlnet_raw(p)[0]


def build(shape, *steps, shapes=None):
    b = wb.NetBuilder()
    ins = [b.input("x" if shapes is None else f"in{i}", s) for i, s in enumerate(shapes or [shape])]
    h = ins[0]
    for op, kw in steps:
        h = b.layer(op, [h], **kw)
    return b, ins, h


def batch(shape, n=4, seed=0, lo=-1.0, hi=1.0):
    return rng(seed).uniform(lo, hi, (n, *shape))


def node_types(assoc):
    return [n["Type"] for n in assoc["Nodes"].values()]


# ---- Linear --------------------------------------------------------------------------------------

def test_linear_without_bias(tmp_path):
    w = f32(3, 4)
    b, _, h = build((4,), ("linear", {"params": {"weight": w}}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((4,))])
    assert assoc["Nodes"]["1"]["Arrays"]["Biases"] == Symbol("None")
    np.testing.assert_allclose(back(np.ones(4)), w.astype(float).sum(1), rtol=1e-12)


def test_linear_on_a_tensor_folds_the_flatten(tmp_path):
    w, bias = f32(5, 24), f32(5, seed=1)
    b, _, h = build((2, 3, 4), ("flatten", {}), ("linear", {"params": {"weight": w, "bias": bias}}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((2, 3, 4))])
    (node,) = assoc["Nodes"].values()
    assert node["Type"] == "Linear" and node["Parameters"]["$InputDimensions"] == [2, 3, 4]
    assert [L.op for L in back.layers] == ["flatten", "linear"]


def test_linear_with_matrix_output_reshapes():
    w, bias = f32(6, 3), f32(6, seed=1)
    net = net_from_assoc(chain({"1": lay("Linear", {"OutputDimensions": [2, 3]}, {"Weights": w, "Biases": bias},
                                         (3,), (2, 3))}, (3,), (2, 3)), source="t")
    x = batch((3,))
    np.testing.assert_allclose(net(x), (x @ w.astype(float).T + bias).reshape(4, 2, 3), rtol=1e-12)


# ---- Elementwise ----------------------------------------------------------------------------------

def domain(name):
    if name == "acosh":
        return 1.1, 3.0
    if name in ("log", "sqrt", "gamma", "loggamma", "acos", "asin", "atanh"):
        return 0.1, 0.9
    return -3.0, 3.0


@pytest.mark.parametrize("fn", sorted(ACTIVATIONS))
def test_every_activation_roundtrips(tmp_path, fn):
    b, _, h = build((6,), ("elementwise", {"attrs": {"fn": fn}}))
    lo, hi = domain(fn)
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((6,), lo=lo, hi=hi)])
    f = assoc["Nodes"]["1"]["Parameters"]["Function"].args[0] if assoc["Nodes"] else None
    if fn != "identity":
        assert isinstance(f, Symbol) or f.head == Symbol("ScalarFunctionObject")


def test_parametrized_activation_uses_scalar_function(tmp_path):
    b, _, h = build((5,), ("elementwise", {"attrs": {"fn": "leaky_relu", "fn_params": {"negative_slope": 0.2}}}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((5,))])
    sfo = assoc["Nodes"]["1"]["Parameters"]["Function"].args[0]
    assert sfo.head == Symbol("ScalarFunctionObject") and back.layers[0].op == "scalar_fn"
    np.testing.assert_allclose(back(np.array([-1.0, 2, -3, 0, 1])), [-0.2, 2, -0.6, 0, 1], rtol=1e-15)


@pytest.mark.parametrize("name,expect", [("ReLU", lambda x: np.maximum(x, 0)),
                                         ("Sigmoid", lambda x: 1 / (1 + np.exp(-x))),
                                         ("RectifiedLinearUnit", lambda x: np.maximum(x, 0)),
                                         ("ELU", lambda x: np.where(x > 0, x, np.expm1(x)))])
def test_named_function_strings(name, expect):
    el = lay("Elementwise", {"Function": call("ValidatedParameter", name)}, None, (4,), (4,))
    net = net_from_assoc(chain({"1": el}, (4,), (4,)), source="t")
    x = batch((4,))
    np.testing.assert_allclose(net(x), expect(x), rtol=1e-12)


def test_scalar_function_object_as_wolfram_stores_it():
    """Min[6, Max[0, #]] & (ReLU6), as ScalarFunctionObject with a constant via Identity."""
    S = lambda k: call("ScalarSymbol", k)  # noqa: E731
    sfo = call("ScalarFunctionObject", [S(1)], S(4),
               {S(2): [Symbol("Identity"), 6.0], S(3): [Symbol("Max"), 0.0, S(1)], S(4): [Symbol("Min"), S(2), S(3)]})
    el = lay("Elementwise", {"Function": call("ValidatedParameter", sfo)}, None, (3,), (3,))
    net = net_from_assoc(chain({"1": el}, (3,), (3,)), source="t")
    assert net.layers[0].op == "scalar_fn"
    np.testing.assert_allclose(net(np.array([-1.0, 3.0, 9.0])), [0.0, 3.0, 6.0])


def test_function_layer_wrapper():
    inner = lay("Elementwise", {"Function": call("ValidatedParameter", Symbol("Tanh"))}, None, (3,), (3,))
    fl = {"Type": "Function", "Arrays": {}, "Parameters": {"Function": Symbol("Tanh"), "Net": inner},
          "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(3)}}
    net = net_from_assoc(chain({"1": fl}, (3,), (3,)), source="t")
    assert net.layers[0].path == "Nodes/1/Parameters/Net"
    np.testing.assert_allclose(net(np.array([0.5, 1, 2])), np.tanh([0.5, 1, 2]))


# ---- Softmax, Dropout, BatchNorm, Flatten, Reshape ----------------------------------------------

@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_levels(tmp_path, axis):
    b, _, h = build((3, 4), ("softmax", {"attrs": {"axis": axis}}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((3, 4))])
    assert assoc["Nodes"]["1"]["Parameters"]["Level"] == (axis if axis < 0 else axis + 1)


def test_softmax_with_emptied_parameters_and_dropout():
    nodes = {"1": lay("Dropout", {"DropoutProbability": 0.5, "Method": "Dropout"}, None, (4,), (4,)),
             "2": lay("Softmax", {}, None, (4,), (4,))}
    net = net_from_assoc(chain(nodes, (4,), (4,)), source="t")
    x = batch((4,))
    np.testing.assert_allclose(net(x), np.exp(x) / np.exp(x).sum(1, keepdims=True), rtol=1e-12)


def bn_params(c, seed=0):
    r = rng(seed)
    return {"scale": r.uniform(0.5, 2, c).astype(np.float32), "bias": r.normal(size=c).astype(np.float32),
            "mean": r.normal(size=c).astype(np.float32), "var": r.uniform(0.5, 2, c).astype(np.float32)}


def test_batchnorm(tmp_path):
    p = bn_params(3)
    b, _, h = build((3, 2, 2), ("batchnorm", {"params": p, "attrs": {"eps": 1e-3, "axis": 0}}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((3, 2, 2))])
    assert list(assoc["Nodes"]["1"]["Arrays"]) == ["Scaling", "Biases", "MovingMean", "MovingVariance"]


def test_batchnorm_11_3_5_names():
    p = bn_params(2)
    node = lay("BatchNormalization", {"Epsilon": 0.001, "Channels": 2, "Interleaving": Symbol("False")},
               {"Gamma": p["scale"], "Beta": p["bias"], "MovingMean": p["mean"], "MovingVariance": p["var"]},
               (2, 3), (2, 3))
    net = net_from_assoc(chain({"1": node}, (2, 3), (2, 3)), source="t")
    x = batch((2, 3))
    s = (slice(None), None)
    ref = p["scale"][s] * (x - p["mean"][s]) / np.sqrt(p["var"][s].astype(float) + 0.001) + p["bias"][s]
    np.testing.assert_allclose(net(x), ref, rtol=1e-6)  # float32 arrays, float64 maths


def test_flatten_and_reshape(tmp_path):
    b, _, h = build((2, 3, 2), ("flatten", {}), ("reshape", {"attrs": {"shape": (3, 4)}}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((2, 3, 2))])
    assert node_types(assoc) == ["Flatten", "Reshape"]
    assert assoc["Nodes"]["2"]["Parameters"]["Dimensions"] == call("ValidatedParameter", [3, 4])


def test_flatten_with_a_level():
    net = net_from_assoc(chain({"1": lay("Flatten", {"Level": 1}, None, (2, 3, 4), (6, 4))}, (2, 3, 4), (6, 4)),
                         source="t")
    x = batch((2, 3, 4))
    np.testing.assert_array_equal(net(x), x.reshape(4, 6, 4))


# ---- Graphs: Catenate, Total, Threading ---------------------------------------------------------

def two_branch(op, attrs=None, shape=(3,)):
    b = wb.NetBuilder()
    x = b.input("x", shape)
    u = b.layer("linear", [x], params={"weight": f32(3, shape[0], seed=1)})
    v = b.layer("elementwise", [x], attrs={"fn": "tanh"}) if shape == (3,) else x
    return b.build([b.layer(op, [u, v], attrs=attrs or {})])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("op,wl", [("concat", "Catenate"), ("add", "Total"), ("mul", "Threading"),
                                   ("sub", "Threading"), ("div", "Threading"), ("max", "Threading"),
                                   ("min", "Threading"), ("pow", "Threading")])
def test_graph_multiport_layers(tmp_path, op, wl):
    net = two_branch(op)
    lo = 0.2 if op in ("pow", "div") else -1.0
    back, assoc = roundtrip(net, tmp_path, [batch((3,), lo=lo)])
    assert assoc["Type"] == "Graph" and node_types(assoc)[-1] == wl
    assert list(assoc["Nodes"]["3"]["Inputs"]) == ["1", "2"]


def test_multi_input_scalar_function(tmp_path):
    b = wb.NetBuilder()
    x, y = b.input("a", (3,)), b.input("b", (3,))
    body = ("add", ("mul", ("arg", 1), ("tanh", ("arg", 2))), ("const", 0.5))
    net = b.build([b.layer("scalar_fn", [x, y], attrs={"body": body})])
    back, assoc = roundtrip(net, tmp_path, [batch((3,)), batch((3,), seed=1)])
    assert list(assoc["Inputs"]) == ["a", "b"] and node_types(assoc) == ["Threading"]


def test_pre_11_3_2_tuple_edges():
    """One "Input" port of type ListT and an edge from a list of sources."""
    cat = {"Type": "Catenate", "Arrays": {}, "Parameters": {"Level": 1},
           "Inputs": {"Input": call("ListT", 2, T(3))}, "Outputs": {"Output": T(6)}}
    graph = {"Type": "Graph", "Nodes": {"a": lay("Elementwise", {"Function": Symbol("Ramp")}, None, (3,), (3,)),
                                        "cat": cat},
             "Edges": [rule(NP("Nodes", "a", "Inputs", "Input"), NP("Inputs", "Input")),
                       rule(NP("Nodes", "cat", "Inputs", "Input"), [NP("Nodes", "a", "Outputs", "Output"),
                                                                    NP("Inputs", "Input")]),
                       rule(NP("Outputs", "Output"), NP("Nodes", "cat", "Outputs", "Output"))],
             "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(6)}}
    net = net_from_assoc(graph, source="t")
    x = batch((3,))
    np.testing.assert_array_equal(net(x), np.concatenate([np.maximum(x, 0), x], axis=1))


def test_graph_nodes_out_of_order_and_cycles():
    relu = lambda n: lay("Elementwise", {"Function": call("ValidatedParameter", Symbol(n))}, None, (2,), (2,))  # noqa
    g = {"Type": "Graph", "Nodes": {"late": relu("Tanh"), "early": relu("Ramp")},
         "Edges": [rule(NP("Nodes", "late", "Inputs", "Input"), NP("Nodes", "early", "Outputs", "Output")),
                   rule(NP("Nodes", "early", "Inputs", "Input"), NP("Inputs", "Input")),
                   rule(NP("Outputs", "Output"), NP("Nodes", "late", "Outputs", "Output"))],
         "Inputs": {"Input": T(2)}, "Outputs": {"Output": T(2)}}
    net = net_from_assoc(g, source="t")
    np.testing.assert_allclose(net(np.array([-1.0, 2.0])), np.tanh([0.0, 2.0]))
    g["Edges"][1] = rule(NP("Nodes", "early", "Inputs", "Input"), NP("Nodes", "late", "Outputs", "Output"))
    with pytest.raises(FormatError, match="never fed"):
        net_from_assoc(g, source="cyc.wlnet")


# ---- Convolution and Pooling ----------------------------------------------------------------------

@pytest.mark.parametrize("attrs", [{"stride": (1, 1), "padding": ((1, 1), (1, 1)), "groups": 1},
                                   {"stride": (2, 1), "padding": ((0, 1), (2, 0)), "groups": 2, "dilation": (1, 2)}])
def test_convolution(tmp_path, attrs):
    w = f32(4, 4 // attrs["groups"], 3, 2)
    b, _, h = build((4, 7, 6), ("conv", {"params": {"weight": w, "bias": f32(4, seed=3)}, "attrs": attrs}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((4, 7, 6))])
    p = assoc["Nodes"]["1"]["Parameters"]
    assert p["ChannelGroups"] == attrs["groups"] and p["PaddingSize"] == [list(q) for q in attrs["padding"]]


def test_convolution_11_3_5_form():
    """Vector PaddingSize and $GroupNumber."""
    w, bias = f32(2, 1, 3, 3), f32(2, seed=1)
    node = lay("Convolution", {"KernelSize": [3, 3], "Stride": [1, 1], "PaddingSize": [1, 1], "Dilation": [1, 1],
                               "Dimensionality": 2, "Interleaving": Symbol("False"), "$GroupNumber": 1},
               {"Weights": w, "Biases": bias}, (1, 4, 4), (2, 4, 4))
    net = net_from_assoc(chain({"1": node}, (1, 4, 4), (2, 4, 4)), source="t")
    x = batch((1, 4, 4), n=1)[0]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    ref = np.array([[[np.sum(xp[:, i:i + 3, j:j + 3] * w[o]) + bias[o] for j in range(4)] for i in range(4)]
                    for o in range(2)])
    np.testing.assert_allclose(net(x), ref, rtol=1e-6)


@pytest.mark.parametrize("attrs", [
    {"kind": "max", "kernel": (2, 2), "stride": (2, 2)},
    {"kind": "avg", "kernel": (3, 3), "stride": (2, 2), "padding": ((1, 1), (1, 1))},
    {"kind": "sum", "kernel": (2, 3), "stride": (1, 2)},
    {"kind": "max", "kernel": (2, 2), "stride": (2, 2), "ceil_mode": True},
    {"kind": "avg", "kernel": (2, 2), "stride": (2, 2), "padding": ((1, 1), (1, 1)), "count_include_pad": False},
])
def test_pooling(tmp_path, attrs):
    b, _, h = build((2, 5, 5), ("pool", {"attrs": attrs}))
    back, assoc = roundtrip(b.build([h]), tmp_path, [batch((2, 5, 5))])
    p = assoc["Nodes"]["1"]["Parameters"]
    assert p["$MXPoolingConvention"] == ("full" if attrs.get("ceil_mode") else "valid")


def test_pooling_full_convention_is_ceil_mode():
    node = lay("Pooling", {"KernelSize": [2], "Stride": [2], "PaddingSize": [0], "Function": Symbol("Max"),
                           "Dimensionality": 1, "$MXPoolingConvention": "full"}, None, (1, 5), (1, 3))
    net = net_from_assoc(chain({"1": node}, (1, 5), (1, 3)), source="t")
    np.testing.assert_array_equal(net(np.array([[1.0, 5, 2, 3, 9]])), [[5, 3, 9]])


# ---- Embedding, coders ---------------------------------------------------------------------------

def test_embedding_is_one_based():
    w = f32(5, 3)
    node = {"Type": "Embedding", "Arrays": {"Weights": w}, "Parameters": {"OutputDimension": 3, "ClassCount": 5},
            "Inputs": {"Input": T(4, inner=call("IndexIntegerT", 5))}, "Outputs": {"Output": T(4, 3)}}
    net = net_from_assoc(chain({"1": node}, T(4, inner=call("IndexIntegerT", 5)), (4, 3)), source="t")
    assert net.meta["index_base"] == 1 and net.inputs[0].dtype == "int64"
    np.testing.assert_array_equal(net(np.array([1, 5, 2, 2])), w[[0, 4, 1, 1]].astype(float))


def test_class_decoder_and_scalar_encoder(tmp_path):
    w = f32(3, 1)
    enc = call("NetEncoder", "Scalar", {"$Version": "13.0.3"}, T(1))
    dec = call("NetDecoder", "Class", {"Labels": ["cat", "dog", 7], "Dimensions": 3}, T(3))
    nodes = {"1": lay("Linear", {"OutputDimensions": [3]}, {"Weights": w, "Biases": None}, (1,), (3,)),
             "2": lay("Softmax", {"Level": -1}, None, (3,), (3,))}
    net = net_from_assoc(chain(nodes, enc, dec), source="t")
    assert net.input_shape == () and net.meta["labels"] == ["cat", "dog", 7]
    z = np.array([2.0]) * w.astype(float)[:, 0]
    np.testing.assert_allclose(net(np.array(2.0)), np.exp(z) / np.exp(z).sum(), rtol=1e-12)
    back, assoc = roundtrip(net, tmp_path, [np.array([0.5, -1.0])])
    assert assoc["Outputs"]["Output"].args[0] == "Class" and back.meta["labels"] == ["cat", "dog", 7]


# ---- unsupported layers, paths, nesting ----------------------------------------------------------

def test_all_unsupported_layers_in_one_error():
    inner = chain({"a": lay("SpatialTransformation", {}, None, (4,), (4,)),
                   "b": lay("Elementwise", {"Function": call("ValidatedParameter", Symbol("Tanh"))}, None, (4,), (4,))},
                  (4,), (4,))
    net = chain({"1": inner, "2": lay("Transpose", {}, None, (4,), (4,)),
                 "3": lay("Elementwise", {"Function": call("ValidatedParameter", call("Function", 1))}, None,
                          (4,), (4,))}, (4,), (4,))
    with pytest.raises(UnsupportedLayerError) as e:
        net_from_assoc(net, source="many.wlnet")
    paths = [item[0] for item in e.value.items]
    assert paths == ["Nodes/1/Nodes/a", "Nodes/2", "Nodes/3"] and "many.wlnet: 3 unsupported layers" in str(e.value)


def test_writer_collects_unsupported_ops():
    b = wb.NetBuilder()
    x = b.input("x", (2, 100))
    h = b.layer("adaptive_pool", [x], attrs={"kind": "avg", "output_size": (67,)}, path="t1")  # 67 uneven cells
    m = b.layer("reduce", [h], attrs={"kind": "max", "axes": [1], "keepdims": True})
    h = b.layer("sub", [h, m], path="ls")  # broadcasting {2, 67} - {2, 1}
    with pytest.raises(UnsupportedLayerError) as e:
        assoc_from_net(b.build([h]))
    assert [i[0] for i in e.value.items] == ["t1", "ls"]
    assert "more than 64" in e.value.items[0][2] and "broadcasting" in e.value.items[1][2]


def test_assoc_to_wl_text_reads_back_exactly():
    from wlbridge.frontends.wolfram.inputform import parse

    tree = {"Weights": np.array([[0.1, 1e-5], [-2.5e20, 1 / 3]]), "Function": Symbol("Tanh"), "n": 3}
    text = assoc_to_wl(tree)
    assert "1.`*^-5" in text and "e-" not in text
    back = parse(text)
    np.testing.assert_array_equal(np.array(back["Weights"]), tree["Weights"])


def test_assoc_to_wl_evaluates_in_woxi():
    woxi = pytest.importorskip("woxi")
    tree = {"w": [0.1, 1e-05, 1 / 3], "f": Symbol("Tanh")}
    res = woxi.evaluate(f'With[{{a = {assoc_to_wl(tree)}}}, a["w"] . {{1, 1, 1}} - (0.1 + 0.00001 + 1/3.)]')
    assert abs(float(str(res.result))) < 1e-15


def test_scalar_function_writer_and_reader_agree():
    from wlbridge.frontends.wolfram.scalarfn import from_scalar_function

    body = ("where", ("greater", ("arg", 1), ("const", 0.0)), ("arg", 1), ("mul", ("const", 0.1), ("arg", 1)))
    assert from_scalar_function(to_scalar_function(body)) == body


def test_every_wl_primitive_elementwise_symbol_is_read():
    from wlbridge.frontends.wolfram.netwriter import PRIMITIVES

    for name in sorted(PRIMITIVES):
        el = lay("Elementwise", {"Function": call("ValidatedParameter", Symbol(name))}, None, (2,), (2,))
        net = net_from_assoc(chain({"1": el}, (2,), (2,)), source="t")
        (layer,) = net.layers
        assert layer.op == "elementwise" and name in ACTIVATIONS[layer.attrs["fn"]].wolfram, name
    bare = lay("Elementwise", {"Function": Symbol("Ramp"), "$Rank": 1}, None, (2,), (2,))  # 11.0: no wrapper
    np.testing.assert_array_equal(net_from_assoc(chain({"1": bare}, (2,), (2,)), source="t")(np.array([-1.0, 2])),
                                  [0, 2])


@pytest.mark.mathics
def test_assoc_to_wl_evaluates_in_mathics():
    pytest.importorskip("mathics")
    from mathics.core.load_builtin import import_and_load_builtins
    from mathics.session import MathicsSession

    import_and_load_builtins()
    session = MathicsSession()
    xs = [0.1, 1e-05, 1 / 3, -2.5e20]
    tree = {"w": xs, "t": call("TensorT", [3], Symbol("RealT"))}
    out = session.evaluate(f'a = {assoc_to_wl(tree)}; {{Precision[a["w"]], a["t"][[1]]}}')
    assert str(out).replace("System`", "").replace(" ", "") == "{MachinePrecision,{3}}"
    got = session.evaluate(f'{assoc_to_wl(tree)}["w"]').to_python()
    assert [float(v) for v in got] == xs
