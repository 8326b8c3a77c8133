"""Wolfram sequence layers (issue 10): LongShortTermMemory, GatedRecurrent, BasicRecurrent, SequenceLast,
SequenceReverse, NetMapOperator read from net associations laid out as Wolfram's layer definitions
name them, checked against torch's LSTM/GRU with the documented equations, written by ``save_wlnet``
and read back equal."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc
from wlbridge.frontends.wolfram.wlnet import load_wlnet

T_LEN, K, N = 5, 3, 4
LSTM_GATES = ("InputGate", "OutputGate", "ForgetGate", "MemoryGate")
GRU_GATES = ("InputGate", "ResetGate", "MemoryGate")


def T(*dims):
    return call("TensorT", list(dims), Symbol("RealT"))


def _gated(kind, gates, k, seed, length=T_LEN):
    g = np.random.default_rng(seed)
    arrays = {}
    for name in gates:
        arrays.update({name + "InputWeights": g.normal(size=(N, k)) * 0.5,
                       name + "StateWeights": g.normal(size=(N, N)) * 0.5, name + "Biases": g.normal(size=N) * 0.5})
    return {"Type": kind, "Arrays": arrays,
            "Parameters": {"OutputSize": N, "Dropout": Symbol("None"), "$InputSize": k, "$SequenceLength": length},
            "Inputs": {"Input": T(length, k)}, "Outputs": {"Output": T(length, N)}}


def _chain(nodes, in_dims, out_dims):
    return {"Type": "Chain", "Nodes": {str(i + 1): n for i, n in enumerate(nodes)},
            "Inputs": {"Input": T(*in_dims)}, "Outputs": {"Output": T(*out_dims)}}


def _last(length=T_LEN):
    return {"Type": "SequenceLast", "Arrays": {}, "Parameters": {}, "Inputs": {"Input": T(length, N)},
            "Outputs": {"Output": T(N)}}


def lstm2_assoc(length=T_LEN):
    return _chain([_gated("LongShortTermMemory", LSTM_GATES, K, 1, length),
                   _gated("LongShortTermMemory", LSTM_GATES, N, 2, length), _last(length)], (length, K), (N,))


def gru_assoc():
    return _chain([_gated("GatedRecurrent", GRU_GATES, K, 3)], (T_LEN, K), (T_LEN, N))


def _torch_lstm(assoc):
    torch = pytest.importorskip("torch")
    m = torch.nn.LSTM(K, N, num_layers=2, batch_first=True).double()
    order = ("InputGate", "ForgetGate", "MemoryGate", "OutputGate")  # torch's i f g o
    for k, key in enumerate(("1", "2")):
        a = assoc["Nodes"][key]["Arrays"]
        cat = lambda suffix: torch.tensor(np.concatenate([a[g + suffix] for g in order]))  # noqa: E731
        getattr(m, f"weight_ih_l{k}").data, getattr(m, f"weight_hh_l{k}").data = cat("InputWeights"), cat("StateWeights")
        getattr(m, f"bias_ih_l{k}").data, getattr(m, f"bias_hh_l{k}").data = cat("Biases"), torch.zeros(4 * N).double()
    return m


def test_lstm_chain_follows_the_documented_equations():
    torch = pytest.importorskip("torch")
    assoc = lstm2_assoc()
    net = net_from_assoc(assoc, source="lstm2")
    x = np.random.default_rng(4).normal(size=(6, T_LEN, K))
    with torch.no_grad():
        out, _ = _torch_lstm(assoc)(torch.tensor(x))
    np.testing.assert_allclose(net(x), out[:, -1].numpy(), rtol=1e-12, atol=1e-14)


def test_gru_follows_the_documented_equations():
    torch = pytest.importorskip("torch")
    assoc = gru_assoc()
    a = assoc["Nodes"]["1"]["Arrays"]
    m = torch.nn.GRU(K, N, batch_first=True).double()
    order = ("ResetGate", "InputGate", "MemoryGate")  # torch's r z n; WL's input gate is torch's update gate
    cat = lambda suffix: torch.tensor(np.concatenate([a[g + suffix] for g in order]))  # noqa: E731
    m.weight_ih_l0.data, m.weight_hh_l0.data, m.bias_ih_l0.data = cat("InputWeights"), cat("StateWeights"), cat("Biases")
    m.bias_hh_l0.data = torch.zeros(3 * N).double()
    x = np.random.default_rng(5).normal(size=(4, T_LEN, K))
    with torch.no_grad():
        want = m(torch.tensor(x))[0].numpy()
    np.testing.assert_allclose(net_from_assoc(assoc, source="gru")(x), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("make", [lstm2_assoc, gru_assoc], ids=["lstm2", "gru"])
def test_save_wlnet_round_trip(make, tmp_path):
    net = net_from_assoc(make(), source="seq")
    path = tmp_path / "seq.wlnet"
    wb.save_wlnet(net, path)
    back = load_wlnet(path)
    assert [L.op for L in back.layers] == [L.op for L in net.layers]
    for a, b in zip(net.layers, back.layers):
        assert a.attrs == b.attrs
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    x = np.random.default_rng(6).normal(size=(3, T_LEN, K))
    np.testing.assert_array_equal(net(x), back(x))


def test_reversed_and_last_state_round_trip(tmp_path):
    """A torch-style reversed RNN returning its final state is written as a chain and read back equal."""
    b = wb.NetBuilder("rev")
    x = b.input("x", (T_LEN, K))
    g = np.random.default_rng(7)
    y = b.layer("rnn", [x], params={"weight_ih": g.normal(size=(N, K)), "weight_hh": g.normal(size=(N, N)) * 0.3,
                                     "bias_ih": g.normal(size=N)}, attrs={"hidden": N, "reverse": True, "output": "last"})
    net = b.build([y])
    wb.save_wlnet(net, tmp_path / "rev.wlnet")
    back = load_wlnet(tmp_path / "rev.wlnet")
    xs = g.normal(size=(3, T_LEN, K))
    np.testing.assert_allclose(back(xs), net(xs), rtol=1e-15, atol=0)


def test_length_var_needs_sequence_length():
    assoc = lstm2_assoc(length=call("LengthVar", 7))
    with pytest.raises(UnsupportedLayerError, match="sequence_length"):
        net_from_assoc(assoc, source="varying")
    net = net_from_assoc(assoc, source="varying", sequence_length=3)
    assert net.input_shape == (3, K) and net.output_shape == (N,)


def test_net_map_operator_maps_the_inner_net():
    g = np.random.default_rng(8)
    w, bias = g.normal(size=(2, K)), g.normal(size=2)
    inner = {"Type": "Linear", "Arrays": {"Weights": w, "Biases": bias}, "Parameters": {"OutputDimensions": [2]},
             "Inputs": {"Input": T(K)}, "Outputs": {"Output": T(2)}}
    mapped = {"Type": "NetMapOperator", "Nodes": {"Net": inner}, "Arrays": {}, "Parameters": {},
              "Inputs": {"Input": T(T_LEN, K)}, "Outputs": {"Output": T(T_LEN, 2)}}
    net = net_from_assoc(_chain([mapped], (T_LEN, K), (T_LEN, 2)), source="map")
    xs = g.normal(size=(3, T_LEN, K))
    np.testing.assert_allclose(net(xs), xs @ w.T + bias, rtol=1e-14)


@pytest.mark.woxi
def test_wolfram_lstm_compact_checks_in_woxi_and_sympy():
    pytest.importorskip("woxi")
    report = net_from_assoc(lstm2_assoc(), source="lstm2").check(engine="woxi", samples=8)
    assert report.passed, str(report)
    assert report.max_rel_err <= 1e-12


@pytest.mark.woxi
@pytest.mark.parametrize("make", [lstm2_assoc, gru_assoc], ids=["lstm2", "gru"])
def test_paclet_net_association_to_function_in_woxi(make):
    """The paclet's NetAssociationToFunction (what Mathematica users run) on the same associations."""
    from .test_paclet import Woxi, _check_shared

    assoc = make()
    _check_shared(Woxi(), assoc, net_from_assoc(assoc, source="seq"), "Compact", 3)


# ---- other layer types (layers_misc.py) ------------------------------------------------------------
def _one_layer(node, in_dims, out_dims):
    return net_from_assoc(_chain([node], in_dims, out_dims), source="one")


def _node(kind, params, in_dims, out_dims, arrays=None):
    return {"Type": kind, "Arrays": arrays or {}, "Parameters": params, "Inputs": {"Input": T(*in_dims)},
            "Outputs": {"Output": T(*out_dims)}}


@pytest.mark.parametrize("method,mode", [(0.5, "constant"), ("Fixed", "edge"), ("Reflected", "reflect"),
                                         ("Periodic", "wrap")])
def test_padding_layer(method, mode):
    net = _one_layer(_node("Padding", {"PaddingSize": [[0, 0], [1, 2]], "Padding": method}, (2, 4), (2, 7)), (2, 4), (2, 7))
    x = np.random.default_rng(9).normal(size=(3, 2, 4))
    kw = {"constant_values": 0.5} if mode == "constant" else {}
    np.testing.assert_array_equal(net(x), np.pad(x, [(0, 0), (0, 0), (1, 2)], mode=mode, **kw))


def test_transpose_part_replicate_aggregation_constants():
    g = np.random.default_rng(10)
    x = g.normal(size=(3, 2, 3, 4))
    tr = _one_layer(_node("Transpose", {"Specification": [2, 3, 1]}, (2, 3, 4), (4, 2, 3)), (2, 3, 4), (4, 2, 3))
    np.testing.assert_array_equal(tr(x), np.stack([np.transpose(s, (2, 0, 1)) for s in x]))  # level k -> level spec[k]
    part = _one_layer(_node("Part", {"Specification": [-1]}, (2, 3, 4), (3, 4)), (2, 3, 4), (3, 4))
    np.testing.assert_array_equal(part(x), x[:, -1])
    rep = _one_layer(_node("Replicate", {"Specification": 2, "Level": 1}, (2, 3, 4), (2, 2, 3, 4)), (2, 3, 4), (2, 2, 3, 4))
    np.testing.assert_array_equal(rep(x), np.stack([x, x], axis=1))
    agg = _one_layer(_node("Aggregation", {"Function": Symbol("Mean")}, (2, 3, 4), (2,)), (2, 3, 4), (2,))
    np.testing.assert_allclose(agg(x), x.mean(axis=(2, 3)), rtol=1e-14)
    c = g.normal(size=(2, 3, 4))
    plus = _one_layer(_node("ConstantTimes", {}, (2, 3, 4), (2, 3, 4), {"Scaling": c}), (2, 3, 4), (2, 3, 4))
    np.testing.assert_allclose(plus(x), x * c, rtol=1e-15)


def test_deconvolution_layer_matches_torch():
    torch = pytest.importorskip("torch")
    m = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    node = _node("Deconvolution", {"OutputChannels": 3, "KernelSize": [3, 3], "Stride": [2, 2], "PaddingSize": [1, 1]},
                 (2, 4, 5), (3, 7, 9), {"Weights": w, "Biases": b})
    net = _one_layer(node, (2, 4, 5), (3, 7, 9))
    x = np.random.default_rng(11).normal(size=(2, 2, 4, 5))
    with torch.no_grad():
        np.testing.assert_allclose(net(x), m(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-13)


def test_pad_and_transpose_round_trip(tmp_path):
    b = wb.NetBuilder("pt")
    x = b.input("x", (2, 3, 4))
    y = b.layer("transpose", [b.layer("pad", [x], attrs={"pads": ((0, 0), (1, 0), (2, 1)), "value": 0.25})],
                attrs={"perm": (2, 0, 1)})
    net = b.build([y])
    wb.save_wlnet(net, tmp_path / "pt.wlnet")
    back = load_wlnet(tmp_path / "pt.wlnet")
    xs = np.random.default_rng(12).normal(size=(2, 2, 3, 4))
    np.testing.assert_array_equal(back(xs), net(xs))


def test_normalization_layer_default_levels():
    g = np.random.default_rng(13)
    s, bias = g.normal(size=2), g.normal(size=2)
    node = _node("Normalization", {"Epsilon": 0.001}, (2, 3, 4), (2, 3, 4), {"Scaling": s, "Biases": bias})
    net = _one_layer(node, (2, 3, 4), (2, 3, 4))
    x = g.normal(size=(3, 2, 3, 4))
    m, v = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    want = (x - m) / np.sqrt(v + 0.001) * s[:, None, None] + bias[:, None, None]
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-13)
