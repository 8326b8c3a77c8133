"""``save_wlnet`` for the IR ops behind Part, Replicate, Aggregation, Normalization, Deconvolution and the
constant layers (issue 10): each Wolfram layer read -> written -> read gives the same forward, and the
written node types are the natural Wolfram layers."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc
from wlbridge.frontends.wolfram.netwriter import assoc_from_net
from wlbridge.frontends.wolfram.wlnet import load_wlnet

from .test_wolfram_seq import T, _chain, _node

ALL = Symbol("All")
G = np.random.default_rng(20)


def _round_trip(net, tmp_path, in_dims):
    path = tmp_path / "net.wlnet"
    wb.save_wlnet(net, path)
    back = load_wlnet(path)
    x = np.random.default_rng(21).normal(size=(3, *in_dims))
    np.testing.assert_allclose(back(x), net(x), rtol=1e-15, atol=0)
    return back


def _written_types(net):
    return [n["Type"] for n in assoc_from_net(net)["Nodes"].values()]


CASES = {
    "part_last": (("Part", {"Specification": [-1]}, (2, 3, 4), (3, 4)), ["SequenceLast"]),
    "part_first": (("Part", {"Specification": 1}, (2, 3, 4), (3, 4)), ["Part"]),
    "part_span": (("Part", {"Specification": [ALL, call("Span", 2, ALL)]}, (2, 3, 4), (2, 2, 4)), ["Part"]),
    "part_list_level3": (("Part", {"Specification": [ALL, 2, [4, 1, 1]]}, (2, 3, 4), (2, 3)), ["Part", "Part"]),
    "replicate": (("Replicate", {"Specification": 3, "Level": 1}, (2, 4), (3, 2, 4)), ["Replicate"]),
    "replicate_level2": (("Replicate", {"Specification": 3, "Level": 2}, (2, 4), (2, 3, 4)), ["Replicate"]),
    "replicate_last": (("Replicate", {"Specification": 3, "Level": -1}, (2, 4), (2, 4, 3)), ["Replicate"]),
    "aggregate_mean": (("Aggregation", {"Function": Symbol("Mean")}, (2, 3, 4), (2,)), ["Aggregation"]),
    "aggregate_max_level": (("Aggregation", {"Function": Symbol("Max"), "Levels": [1, -1]}, (2, 3, 4), (3,)),
                            ["Aggregation"]),
    "aggregate_total": (("Aggregation", {"Function": Symbol("Total"), "Levels": 2}, (2, 3, 4), (2, 4)),
                        ["Aggregation"]),
    "constant_plus": (("ConstantPlus", {}, (2, 3), (2, 3), {"Biases": G.normal(size=(2, 3))}), ["ConstantPlus"]),
    "constant_times": (("ConstantTimes", {}, (2, 3), (2, 3), {"Scaling": G.normal(size=(2, 3))}), ["ConstantTimes"]),
    "normalization": (("Normalization", {"Epsilon": 0.001}, (2, 3, 4), (2, 3, 4),
                       {"Scaling": G.normal(size=2), "Biases": G.normal(size=2)}), ["Normalization"]),
    "normalization_levels": (("Normalization", {"Epsilon": 0.01, "AggregationLevels": [-1]}, (2, 5), (2, 5),
                              {"Scaling": G.normal(size=2), "Biases": G.normal(size=2)}), ["Normalization"]),
    "normalization_same": (("Normalization", {"Epsilon": 0.01, "AggregationLevels": [-1], "ScalingLevels": "Same"},
                            (2, 5), (2, 5), {"Scaling": G.normal(size=5), "Biases": G.normal(size=5)}),
                           ["Normalization"]),
    "normalization_same_vector": (("Normalization", {"Epsilon": 0.01, "AggregationLevels": [1],
                                                     "ScalingLevels": "Same"},
                                   (5,), (5,), {"Scaling": G.normal(size=5), "Biases": G.normal(size=5)}),
                                  ["Normalization"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_layer_round_trip(name, tmp_path):
    (kind, params, ins, out, *arrays), types = CASES[name]
    net = net_from_assoc(_chain([_node(kind, params, ins, out, *arrays)], ins, out), source=name)
    assert _written_types(net) == types
    back = _round_trip(net, tmp_path, ins)
    assert _written_types(back) == types


def test_deconvolution_round_trip_matches_torch(tmp_path):
    """A DeconvolutionLayer is read as zero insertion and a convolution and written back as one layer."""
    torch = pytest.importorskip("torch")
    m = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    node = _node("Deconvolution", {"OutputChannels": 3, "KernelSize": [3, 3], "Stride": [2, 2], "PaddingSize": [1, 1]},
                 (2, 4, 5), (3, 7, 9), {"Weights": m.weight.detach().numpy(), "Biases": m.bias.detach().numpy()})
    net = net_from_assoc(_chain([node], (2, 4, 5), (3, 7, 9)), source="deconv")
    back = _round_trip(net, tmp_path, (2, 4, 5))
    assert _written_types(net) == _written_types(back) == ["Deconvolution"]
    x = np.random.default_rng(22).normal(size=(2, 2, 4, 5))
    with torch.no_grad():
        np.testing.assert_allclose(back(x), m(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-13)


DECONVS = {  # (dims, kwargs): torch ConvTranspose -> one DeconvolutionLayer
    "1d_stride3": ((2, 4), dict(kernel_size=2, stride=3)),
    "2d_groups_dilation": ((4, 3, 3), dict(kernel_size=3, stride=2, padding=2, groups=2, dilation=2)),
    "2d_output_padding": ((2, 3, 4), dict(kernel_size=3, stride=2, padding=1, output_padding=1)),
    "2d_stride1_nobias": ((2, 3, 3), dict(kernel_size=2, bias=False)),
    "3d": ((1, 2, 2, 3), dict(kernel_size=2, stride=2)),
}


@pytest.mark.parametrize("name", list(DECONVS))
def test_torch_conv_transpose_writes_as_deconvolution(name, tmp_path):
    torch = pytest.importorskip("torch")
    dims, kw = DECONVS[name]
    cls = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)[len(dims) - 2]
    torch.manual_seed(3)
    m = cls(dims[0], 4, **kw).double().eval()
    net = wb.from_torch(m, input_shape=dims)
    assert _written_types(net) == ["Deconvolution"]
    back = _round_trip(net, tmp_path, dims)
    x = np.random.default_rng(26).normal(size=(2, *dims))
    with torch.no_grad():
        np.testing.assert_allclose(back(x), m(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-13)


def test_constant_array_in_a_graph(tmp_path):
    graph = {"Type": "Graph", "Nodes": {
        "c": {"Type": "ConstantArray", "Arrays": {"Array": G.normal(size=(1, 3))}, "Parameters": {}, "Inputs": {},
              "Outputs": {"Output": T(1, 3)}},
        "cat": {"Type": "Catenate", "Arrays": {}, "Parameters": {"Level": 1},
                "Inputs": {"1": T(2, 3), "2": T(1, 3)}, "Outputs": {"Output": T(3, 3)}}},
        "Edges": [call("Rule", call("NetPath", "Nodes", "cat", "Inputs", "1"), call("NetPath", "Inputs", "Input")),
                  call("Rule", call("NetPath", "Nodes", "cat", "Inputs", "2"), call("NetPath", "Nodes", "c", "Outputs", "Output")),
                  call("Rule", call("NetPath", "Outputs", "Output"), call("NetPath", "Nodes", "cat", "Outputs", "Output"))],
        "Inputs": {"Input": T(2, 3)}, "Outputs": {"Output": T(3, 3)}}
    net = net_from_assoc(graph, source="const")
    back = _round_trip(net, tmp_path, (2, 3))
    assert sorted(_written_types(back)) == ["Catenate", "ConstantArray"]
    if importlib.util.find_spec("woxi") is not None:  # the paclet too
        from .test_paclet import Woxi, _check_shared

        _check_shared(Woxi(), assoc_from_net(back), back, "Compact", 2)


def test_normalization_without_scaling_writes_unit_arrays(tmp_path):
    """The IR pattern alone (no scale or shift, as another source could build it) is one NormalizationLayer."""
    b = wb.NetBuilder("ln")
    x = b.input("x", (2, 4))
    m = b.layer("reduce", [x], attrs={"kind": "mean", "axes": [1], "keepdims": True})
    d = b.layer("sub", [x, m])
    v = b.layer("reduce", [b.layer("mul", [d, d])], attrs={"kind": "mean", "axes": [1], "keepdims": True})
    s = b.layer("elementwise", [b.layer("add", [v, b.constant(np.array(1e-5))])], attrs={"fn": "sqrt"})
    net = b.build([b.layer("div", [d, s])])
    assert _written_types(net) == ["Normalization"]
    _round_trip(net, tmp_path, (2, 4))


def test_torch_reductions_write_as_aggregation(tmp_path):
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 2)

        def forward(self, x):
            h = self.lstm(x)[0]
            return torch.cat([self.fc(h.mean(dim=1)), h.amax(dim=1, keepdim=True).sum(dim=-1)], dim=-1)

    m = Net().double().eval()
    net = wb.from_torch(m, input_shape=(5, 3))
    back = _round_trip(net, tmp_path, (5, 3))
    assert "Aggregation" in str(assoc_from_net(back))
    x = np.random.default_rng(23).normal(size=(4, 5, 3))
    with torch.no_grad():
        np.testing.assert_allclose(back(x), m(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-13)


def test_ops_without_a_wolfram_layer_are_listed_together(tmp_path):
    b = wb.NetBuilder("two")
    x = b.input("x", (1, 100))
    h = b.layer("adaptive_pool", [x], attrs={"kind": "avg", "output_size": (67,)})  # 67 uneven windows
    h = b.layer("sub", [h, b.layer("reduce", [h], attrs={"kind": "max", "axes": [1], "keepdims": True})])
    h = b.layer("reshape", [h], attrs={"shape": (67,)})  # ^ {1, 67} - {1, 1} broadcasts
    y = b.layer("matmul", [h], params={"weight": np.eye(67)})  # a vector times a constant: a LinearLayer
    with pytest.raises(UnsupportedLayerError) as e:
        wb.save_wlnet(b.build([y]), tmp_path / "unused.wlnet")
    assert [item[1] for item in e.value.items] == ["adaptive_pool", "sub"]
    assert not (tmp_path / "unused.wlnet").exists()  # nothing is written when a layer is refused


def test_matmul_is_a_linear_layer(tmp_path):
    b = wb.NetBuilder("mm")
    x = b.input("x", (3,))
    w = G.normal(size=(3, 2))
    net = b.build([b.layer("matmul", [x], params={"weight": w})])
    assert _written_types(net) == ["Linear"]
    back = load_wlnet(_save(net, tmp_path))
    xs = G.normal(size=(4, 3))
    np.testing.assert_allclose(back(xs), xs @ w, rtol=1e-14)


def _save(net, tmp_path):
    wb.save_wlnet(net, tmp_path / "n.wlnet")
    return tmp_path / "n.wlnet"


@pytest.mark.torch
@pytest.mark.onnx
def test_onnx_layer_norm_writes_as_normalization(tmp_path):
    """The legacy exporter's LayerNorm (ReduceMean, Sub, Pow, ..., Sqrt, Div, Mul, Add) is written as one
    NormalizationLayer with ScalingLevels "Same" (LayerNorm scales the normalized axis)."""
    torch = pytest.importorskip("torch")
    onnx = pytest.importorskip("onnx")
    import io
    import warnings

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.LayerNorm(6)).eval()
    with torch.no_grad():
        m[1].weight.normal_(), m[1].bias.normal_()
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.zeros(1, 3),), f, dynamo=False, opset_version=16)
    net = wb.from_onnx(onnx.load_from_string(f.getvalue()))
    assert _written_types(net) == ["Linear", "Normalization"]
    back = _round_trip(net, tmp_path, (3,))
    x = np.random.default_rng(24).normal(size=(4, 3)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(back(x), m(torch.tensor(x)).numpy(), rtol=2e-5, atol=2e-6)


def test_embedding_round_trip_keeps_one_based_indices(tmp_path):
    w = G.normal(size=(6, 2))
    idx = call("TensorT", [3], call("IndexIntegerT", 6))
    emb = {"Type": "Embedding", "Arrays": {"Weights": w}, "Parameters": {"OutputDimension": 2, "ClassCount": 6},
           "Inputs": {"Input": idx}, "Outputs": {"Output": T(3, 2)}}
    assoc = {"Type": "Chain", "Nodes": {"1": emb, "2": _node("Flatten", {}, (3, 2), (6,))},
             "Inputs": {"Input": idx}, "Outputs": {"Output": T(6)}}
    net = net_from_assoc(assoc, source="emb")
    written = assoc_from_net(net)
    assert [n["Type"] for n in written["Nodes"].values()] == ["Embedding", "Flatten"]
    assert written["Inputs"]["Input"] == idx
    wb.save_wlnet(net, tmp_path / "emb.wlnet")
    back = load_wlnet(tmp_path / "emb.wlnet")
    xs = np.array([[1, 6, 2], [3, 3, 4]], dtype=float)
    np.testing.assert_array_equal(back(xs), w[xs.astype(int) - 1].reshape(2, 6))


def test_zero_based_embedding_is_refused_with_the_reason():
    b = wb.NetBuilder("emb0")
    x = b.input("x", (2,))
    with pytest.raises(UnsupportedLayerError, match="counts from 1"):
        assoc_from_net(b.build([b.layer("embedding", [x], params={"weight": np.eye(3)})]))


@pytest.mark.parametrize("method", ["Fixed", "Reflected", "Periodic"])
def test_index_padding_round_trip(method, tmp_path):
    node = _node("Padding", {"PaddingSize": [[0, 0], [1, 2]], "Padding": method}, (2, 4), (2, 7))
    net = net_from_assoc(_chain([node], (2, 4), (2, 7)), source="pad")
    assert _written_types(_round_trip(net, tmp_path, (2, 4))) == ["Part"]


def test_net_map_operator_round_trip_via_wxf(tmp_path):
    """NetMapOperator is read unrolled (Part, the inner layer, Reshape, Catenate); written that way to .wxf."""
    w, bias = G.normal(size=(2, 3)), G.normal(size=2)
    inner = {"Type": "Linear", "Arrays": {"Weights": w, "Biases": bias}, "Parameters": {"OutputDimensions": [2]},
             "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(2)}}
    mapped = {"Type": "NetMapOperator", "Nodes": {"Net": inner}, "Arrays": {}, "Parameters": {},
              "Inputs": {"Input": T(4, 3)}, "Outputs": {"Output": T(4, 2)}}
    net = net_from_assoc(_chain([mapped], (4, 3), (4, 2)), source="map")
    wb.save_wxf(net, tmp_path / "map.wxf")
    back = wb.load(tmp_path / "map.wxf")
    x = np.random.default_rng(25).normal(size=(3, 4, 3))
    np.testing.assert_allclose(back(x), x @ w.T + bias, rtol=1e-14)


@pytest.mark.parametrize("name", ["normalization_same", "normalization_same_vector", "aggregate_mean"])
def test_paclet_reads_layer_norms_and_aggregations_in_mathics(name):
    """Mathics3 has no Ordering and leaves Transpose[x, perm] unevaluated: the paclet leaves an identity
    permutation out, so a layer norm (the last level) and an aggregation of the last levels run there."""
    pytest.importorskip("mathics")
    from .test_paclet import Mathics, _check_shared

    (kind, params, ins, out, *arrays), _ = CASES[name]
    net = net_from_assoc(_chain([_node(kind, params, ins, out, *arrays)], ins, out), source=name)
    _check_shared(Mathics(), assoc_from_net(net), net, "Compact", 1)


@pytest.mark.woxi
@pytest.mark.parametrize("name", [n for n in CASES if n != "part_last"])
def test_paclet_reads_the_written_layers_in_woxi(name):
    """The paclet's NetAssociationToFunction (what Mathematica users run) on the written associations."""
    pytest.importorskip("woxi")
    from .test_paclet import Woxi, _check_shared

    (kind, params, ins, out, *arrays), _ = CASES[name]
    net = net_from_assoc(_chain([_node(kind, params, ins, out, *arrays)], ins, out), source=name)
    _check_shared(Woxi(), assoc_from_net(net), net, "Compact", 3)


# ---- ParametricRamp (PReLU) ------------------------------------------------------------------------
@pytest.mark.parametrize("levels,slope_shape,dims", [(None, (3,), (3, 2, 2)), ([1, 3], (2, 4), (2, 3, 4)),
                                                     ([], (), (2, 3))])
def test_parametric_ramp_round_trip(levels, slope_shape, dims, tmp_path):
    slope = G.uniform(-0.5, 0.5, size=slope_shape)
    params = {} if levels is None else {"Levels": levels}
    net = net_from_assoc(_chain([_node("ParametricRamp", params, dims, dims, {"Slope": slope})], dims, dims),
                         source="pramp")
    x = np.random.default_rng(22).normal(size=(3, *dims))
    axes = [0] if levels is None else [k - 1 for k in levels]
    full = slope.reshape([dims[k] if k in axes else 1 for k in range(len(dims))])
    np.testing.assert_allclose(net(x), np.where(x >= 0, x, full * x), rtol=1e-15)
    back = _round_trip(net, tmp_path, dims)
    assert [L.op for L in back.layers] == (["scalar_fn"] if not levels and levels is not None else ["prelu"])


def test_torch_prelu_is_written_as_parametric_ramp(tmp_path):
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.PReLU(3)).double().eval()
    with torch.no_grad():
        m[1].weight.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64))
    net = wb.from_torch(m, (2, 5, 5))
    assert _written_types(net) == ["Convolution", "ParametricRamp"]
    back = _round_trip(net, tmp_path, (2, 5, 5))
    x = np.random.default_rng(23).normal(size=(2, 2, 5, 5))
    with torch.no_grad():
        np.testing.assert_allclose(back(x), m(torch.tensor(x)).numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.woxi
@pytest.mark.parametrize("levels", [None, [1, 3]])
def test_paclet_reads_parametric_ramp_in_woxi(levels):
    pytest.importorskip("woxi")
    from .test_paclet import Woxi, _check_shared

    dims, shape = ((3, 2, 2), (3,)) if levels is None else ((2, 3, 4), (2, 4))
    node = _node("ParametricRamp", {} if levels is None else {"Levels": levels}, dims, dims,
                 {"Slope": G.uniform(-0.5, 0.5, size=shape)})
    assoc = _chain([node], dims, dims)
    _check_shared(Woxi(), assoc, net_from_assoc(assoc, source="pramp"), "Compact", 3)


def test_normalization_same_levels_is_a_layer_norm():
    """ScalingLevels "Same": one scale and bias per normalized element (torch's LayerNorm), not per position."""
    scale, bias = G.normal(size=5), G.normal(size=5)
    node = _node("Normalization", {"Epsilon": 0.01, "AggregationLevels": [-1], "ScalingLevels": "Same"}, (2, 5),
                 (2, 5), {"Scaling": scale, "Biases": bias})
    net = net_from_assoc(_chain([node], (2, 5), (2, 5)), source="same")
    x = np.random.default_rng(24).normal(size=(3, 2, 5))
    m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(net(x), scale * (x - m) / np.sqrt(v + 0.01) + bias, rtol=1e-13)


def test_torch_layer_norm_is_written_with_one_scale_per_feature():
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.LayerNorm(6)).double().eval()
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-1, 1)
    net = wb.from_torch(m, (3, 4))
    nodes = list(assoc_from_net(net)["Nodes"].values())
    norm = nodes[-1]
    assert norm["Type"] == "Normalization" and norm["Parameters"]["ScalingLevels"] == "Same"
    np.testing.assert_array_equal(norm["Arrays"]["Scaling"], m[1].weight.detach().numpy())
    x = np.random.default_rng(25).normal(size=(2, 3, 4))
    with torch.no_grad():
        np.testing.assert_allclose(net(x), m(torch.tensor(x)).numpy(), rtol=1e-13, atol=1e-14)
