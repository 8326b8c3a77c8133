"""NetFoldOperator read from a net association laid out as the paclet's definition names it
(wlbridge/frontends/wolfram/layers_fold.py) against numpy; torch GRUs with a recurrent bias of the memory gate
(b_hn) written by ``save_wlnet`` as NetFoldOperator of the exact torch cell (netwriter_fold.py) and read back
equal to torch; the paclet's fold rule on the written association in Woxi (one case in Mathics3)."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import assoc_from_net, net_from_assoc
from wlbridge.frontends.wolfram.wlnet import load_wlnet

from .test_wolfram_seq import K, N, T, T_LEN, _chain

P = lambda *p: call("NetPath", *p)  # noqa: E731
R = lambda a, b: call("Rule", a, b)  # noqa: E731


def _cell_graph(seed):
    """s' = Tanh[W x + U s + b]: Linear on Input, Linear on State, Threading Plus, Elementwise Tanh."""
    g = np.random.default_rng(seed)
    w, u, b = g.normal(size=(N, K)) * 0.5, g.normal(size=(N, N)) * 0.5, g.normal(size=N) * 0.5
    lin = lambda a, bias, k: {"Type": "Linear", "Arrays": {"Weights": a, "Biases": bias},  # noqa: E731
                              "Parameters": {"OutputDimensions": [N]}, "Inputs": {"Input": T(k)},
                              "Outputs": {"Output": T(N)}}
    add = {"Type": "Threading", "Arrays": {}, "Parameters": {"Function": call("ValidatedParameter", Symbol("Plus"))},
           "Inputs": {"1": T(N), "2": T(N)}, "Outputs": {"Output": T(N)}}
    tanh = {"Type": "Elementwise", "Arrays": {}, "Parameters": {"Function": call("ValidatedParameter", Symbol("Tanh"))},
            "Inputs": {"Input": T(N)}, "Outputs": {"Output": T(N)}}
    edges = [R(P("Nodes", "x", "Inputs", "Input"), P("Inputs", "Input")),
             R(P("Nodes", "s", "Inputs", "Input"), P("Inputs", "State")),
             R(P("Nodes", "f", "Inputs", "1"), P("Nodes", "x", "Outputs", "Output")),
             R(P("Nodes", "f", "Inputs", "2"), P("Nodes", "s", "Outputs", "Output")),
             R(P("Nodes", "t", "Inputs", "Input"), P("Nodes", "f", "Outputs", "Output")),
             R(P("Outputs", "Output"), P("Nodes", "t", "Outputs", "Output"))]
    graph = {"Type": "Graph", "Nodes": {"x": lin(w, b, K), "s": lin(u, None, N), "f": add, "t": tanh}, "Edges": edges,
             "Inputs": {"Input": T(K), "State": T(N)}, "Outputs": {"Output": T(N)}}
    return graph, (w, u, b)


def fold_assoc(seed=40, inputs=None):
    cell, arrays = _cell_graph(seed)
    params = {"Net": cell, "Recurrence": call("ValidatedParameter", [R("Output", "State")]), "ConstantPorts": [],
              "OutputPorts": ["Output"], "$InputNames": ["Input"], "$StateNames": ["State"],
              "$OutputNames": ["Output"], "$SequenceLength": T_LEN}
    node = {"Type": "NetFold", "Arrays": {}, "Parameters": params, "Inputs": inputs or {"Input": T(T_LEN, K)},
            "Outputs": {"Output": T(T_LEN, N)}, "States": {"State": T(N)}}
    return _chain([node], (T_LEN, K), (T_LEN, N)), arrays


def test_fold_equals_numpy():
    assoc, (w, u, b) = fold_assoc()
    x = np.random.default_rng(41).normal(size=(3, T_LEN, K))
    s, want = np.zeros((3, N)), []
    for t in range(T_LEN):
        s = np.tanh(x[:, t] @ w.T + s @ u.T + b)
        want.append(s)
    np.testing.assert_allclose(net_from_assoc(assoc, source="fold")(x), np.stack(want, axis=1),
                               rtol=1e-12, atol=1e-14)


def test_fed_initial_state_is_unsupported():
    chain, _ = fold_assoc(inputs={"Input": T(T_LEN, K), "State": T(N)})
    edges = [R(P("Nodes", "1", "Inputs", p), P("Inputs", p)) for p in ("Input", "State")]
    assoc = {"Type": "Graph", "Nodes": chain["Nodes"], "Edges": edges + [R(P("Outputs", "Output"),
             P("Nodes", "1", "Outputs", "Output"))], "Inputs": {"Input": T(T_LEN, K), "State": T(N)},
             "Outputs": chain["Outputs"]}
    with pytest.raises(UnsupportedLayerError, match="initial state"):
        net_from_assoc(assoc, source="fold")


def test_bad_recurrence_and_unsupported_inner_layer_are_reported():
    bad, _ = fold_assoc()
    bad["Nodes"]["1"]["Parameters"]["Recurrence"] = call("ValidatedParameter", [R("Output", "Memory")])
    with pytest.raises(FormatError, match="Nodes/1.*recurrence"):
        net_from_assoc(bad, source="fold")
    odd, _ = fold_assoc()
    odd["Nodes"]["1"]["Parameters"]["Net"]["Nodes"]["t"]["Type"] = "Mystery"
    with pytest.raises(UnsupportedLayerError, match="Parameters/Net/Nodes/t.*Mystery"):
        net_from_assoc(odd, source="fold")


# ---- torch GRUs with b_hn -------------------------------------------------------------------------

def _torch_gru(layers=1, bidirectional=False, seed=0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.GRU(K, N, num_layers=layers, bidirectional=bidirectional, batch_first=True).double()


def _types(net):
    return [n["Type"] for n in assoc_from_net(net)["Nodes"].values()]


def _round_trip(net, tmp_path):
    wb.save_wlnet(net, tmp_path / "gru.wlnet")
    return load_wlnet(tmp_path / "gru.wlnet")


@pytest.mark.torch
@pytest.mark.parametrize("layers,bidi,types", [
    (1, False, ["NetFold"]), (2, False, ["NetFold", "NetFold"]),
    (2, True, ["NetFold", "Chain", "Catenate", "NetFold", "Chain", "Catenate"])], ids=["one", "two", "bidi2"])
def test_torch_gru_with_b_hn_round_trips(layers, bidi, types, tmp_path):
    torch = pytest.importorskip("torch")
    m = _torch_gru(layers, bidi)
    assert all(p[2 * N:].abs().min() > 0 for name, p in m.named_parameters() if name.startswith("bias_hh"))
    net = wb.from_torch(m, input_shape=(T_LEN, K))
    assert _types(net) == types
    back = _round_trip(net, tmp_path)
    x = np.random.default_rng(42).normal(size=(3, T_LEN, K))
    with torch.no_grad():
        want = m(torch.tensor(x))[0].numpy()
    np.testing.assert_allclose(back(x), want, rtol=1e-12, atol=1e-14)


class _LastState:
    """``h_n[-1]`` of a 2-layer GRU, then a Linear head."""

    def __init__(self):
        import torch

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = torch.nn.GRU(K, N, num_layers=2, batch_first=True)
                self.head = torch.nn.Linear(N, 2)

            def forward(self, x):
                return self.head(self.gru(x)[1][-1])

        torch.manual_seed(1)
        self.m = M().double()


@pytest.mark.torch
def test_torch_gru_final_state_round_trips(tmp_path):
    torch = pytest.importorskip("torch")
    m = _LastState().m
    net = wb.from_torch(m, input_shape=(T_LEN, K))
    assert _types(net) == ["NetFold", "NetFold", "SequenceLast", "Linear"]
    back = _round_trip(net, tmp_path)
    x = np.random.default_rng(43).normal(size=(3, T_LEN, K))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose(back(x), want, rtol=1e-12, atol=1e-14)
    report = back.check(engine="woxi", samples=4)
    assert report.passed and report.max_abs_err <= 1e-12, report


@pytest.mark.parametrize("reverse,output,chain", [
    (True, "last", ["SequenceReverse", "NetFold", "SequenceLast"]), (False, "last", ["NetFold", "SequenceLast"]),
    (True, "sequence", ["SequenceReverse", "NetFold", "SequenceReverse"])])
def test_reversed_and_final_state_gru_ops_are_chains(reverse, output, chain, tmp_path):
    g = np.random.default_rng(44)
    p = {"weight_ih": g.normal(size=(3 * N, K)), "weight_hh": g.normal(size=(3 * N, N)),
         "bias_ih": g.normal(size=3 * N), "bias_hh": g.normal(size=3 * N)}
    b = wb.NetBuilder("g")
    x = b.input("x", (T_LEN, K))
    net = b.build([b.layer("gru", [x], params=p, attrs={"hidden": N, "reverse": reverse, "output": output,
                                                        "linear_before_reset": True})])
    (node,) = assoc_from_net(net)["Nodes"].values()
    assert [n["Type"] for n in node["Nodes"].values()] == chain
    xs = g.normal(size=(3, T_LEN, K))
    np.testing.assert_allclose(_round_trip(net, tmp_path)(xs), net(xs), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("bias", [True, False])
def test_onnx_default_gru_reset_before_linear_is_a_fold(bias, tmp_path):
    """linear_before_reset=0 (ONNX's default): n = tanh(W_in x + b_in + W_hn (r h) + b_hn), any biases."""
    g = np.random.default_rng(45)
    p = {"weight_ih": g.normal(size=(3 * N, K)), "weight_hh": g.normal(size=(3 * N, N))}
    if bias:
        p.update(bias_ih=g.normal(size=3 * N), bias_hh=g.normal(size=3 * N))
    b = wb.NetBuilder("g")
    x = b.input("x", (T_LEN, K))
    net = b.build([b.layer("gru", [x], params=p, attrs={"hidden": N, "output": "sequence",
                                                        "linear_before_reset": False})])
    assert _types(net) == ["NetFold"]
    xs = g.normal(size=(3, T_LEN, K))
    np.testing.assert_allclose(_round_trip(net, tmp_path)(xs), net(xs), rtol=1e-12, atol=1e-14)


@pytest.mark.torch
def test_gru_without_b_hn_stays_gated_recurrent():
    torch = pytest.importorskip("torch")
    m = _torch_gru()
    with torch.no_grad():
        m.bias_hh_l0[2 * N:] = 0
    assert _types(wb.from_torch(m, input_shape=(T_LEN, K))) == ["GatedRecurrent"]


# ---- the paclet -----------------------------------------------------------------------------------

def _written(layers=1, bidi=False, length=T_LEN):
    pytest.importorskip("torch")
    import torch

    torch.manual_seed(2)
    m = torch.nn.GRU(K, N, num_layers=layers, bidirectional=bidi, batch_first=True).double()
    net = wb.from_torch(m, input_shape=(length, K))
    return assoc_from_net(net), net


@pytest.mark.woxi
@pytest.mark.torch
@pytest.mark.parametrize("name", ["hand", "torch_bidi"])
def test_paclet_in_woxi(name):
    from .test_paclet import Woxi, _check_shared

    if name == "hand":
        assoc, _ = fold_assoc()
        net = net_from_assoc(assoc, source="fold")
    else:
        assoc, net = _written(2, True)
    _check_shared(Woxi(), assoc, net, "Compact", 3)


@pytest.mark.mathics
@pytest.mark.torch
def test_paclet_in_mathics():
    from .test_paclet import Mathics, _check_shared

    assoc, net = _written(length=2)
    _check_shared(Mathics(), assoc, net, "Compact", 1)
