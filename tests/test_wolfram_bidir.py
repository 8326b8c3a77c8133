"""NetBidirectionalOperator, SequenceMost/SequenceRest and Append/Prepend read from net associations laid
out as Wolfram's layer definitions name them (wlbridge/frontends/wolfram/layers_bidir.py), checked against
torch's bidirectional LSTM/GRU and numpy, written by ``save_wlnet`` (torch's bidirectional layers as one
NetBidirectionalOperator) and read back equal, and run by the paclet in Woxi (one case in Mathics3)."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import assoc_from_net, net_from_assoc
from wlbridge.frontends.wolfram.wlnet import load_wlnet

from .test_wolfram_seq import GRU_GATES, LSTM_GATES, K, N, T, T_LEN, _chain, _gated, _last, _node

TORCH_LSTM = ("InputGate", "ForgetGate", "MemoryGate", "OutputGate")  # torch's i f g o
TORCH_GRU = ("ResetGate", "InputGate", "MemoryGate")  # torch's r z n


def _bidi(fwd, bwd, out_dims, agg=None, length=T_LEN, k=K):
    params = {"ForwardNet": fwd, "BackwardNet": bwd}
    if agg is not None:
        params["Aggregation"] = Symbol(agg)
    return {"Type": "NetBidirectional", "Arrays": {}, "Parameters": params, "Inputs": {"Input": T(length, k)},
            "Outputs": {"Output": T(*out_dims)}}


def lstm_bidi_assoc():
    node = _bidi(_gated("LongShortTermMemory", LSTM_GATES, K, 21), _gated("LongShortTermMemory", LSTM_GATES, K, 22),
                 (T_LEN, 2 * N))
    return _chain([node], (T_LEN, K), (T_LEN, 2 * N))


def _rnn(seed, length=T_LEN):
    g = np.random.default_rng(seed)
    arrays = {"InputWeights": g.normal(size=(N, K)) * 0.5, "StateWeights": g.normal(size=(N, N)) * 0.5,
              "Biases": g.normal(size=N) * 0.5}
    return {"Type": "BasicRecurrent", "Arrays": arrays, "Parameters": {"OutputSize": N},
            "Inputs": {"Input": T(length, K)}, "Outputs": {"Output": T(length, N)}}


def rnn_mean_assoc():
    return _chain([_bidi(_rnn(23), _rnn(24), (T_LEN, N), "Mean")], (T_LEN, K), (T_LEN, N))


def gru_last_assoc():
    """Non-sequential sub-nets (GRU then SequenceLast): both final states joined on the first level."""
    sub = lambda seed: _chain([_gated("GatedRecurrent", GRU_GATES, K, seed), _last()], (T_LEN, K), (N,))  # noqa: E731
    return _chain([_bidi(sub(25), sub(26), (2 * N,), "Catenate")], (T_LEN, K), (2 * N,))


def _load_torch(m, layers: dict, order, gates: int):
    """``layers``: torch suffix ("_l0", "_l0_reverse") -> Wolfram gated node; zero recurrent biases."""
    import torch

    for suffix, node in layers.items():
        a = node["Arrays"]
        cat = lambda s: torch.tensor(np.concatenate([a[g + s] for g in order]))  # noqa: E731
        getattr(m, "weight_ih" + suffix).data = cat("InputWeights")
        getattr(m, "weight_hh" + suffix).data = cat("StateWeights")
        getattr(m, "bias_ih" + suffix).data = cat("Biases")
        getattr(m, "bias_hh" + suffix).data = torch.zeros(gates * N, dtype=torch.float64)
    return m


def test_bidirectional_lstm_equals_torch():
    torch = pytest.importorskip("torch")
    assoc = lstm_bidi_assoc()
    p = assoc["Nodes"]["1"]["Parameters"]
    m = _load_torch(torch.nn.LSTM(K, N, bidirectional=True, batch_first=True).double(),
                    {"_l0": p["ForwardNet"], "_l0_reverse": p["BackwardNet"]}, TORCH_LSTM, 4)
    net = net_from_assoc(assoc, source="bidi")
    assert [(L.op, L.attrs.get("reverse")) for L in net.layers] == [("lstm", False), ("lstm", True), ("concat", None)]
    x = np.random.default_rng(30).normal(size=(4, T_LEN, K))
    with torch.no_grad():
        want = m(torch.tensor(x))[0].numpy()
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-14)


def test_bidirectional_of_final_states_equals_torch_h_n():
    torch = pytest.importorskip("torch")
    assoc = gru_last_assoc()
    p = assoc["Nodes"]["1"]["Parameters"]
    m = _load_torch(torch.nn.GRU(K, N, bidirectional=True, batch_first=True).double(),
                    {"_l0": p["ForwardNet"]["Nodes"]["1"], "_l0_reverse": p["BackwardNet"]["Nodes"]["1"]}, TORCH_GRU, 3)
    x = np.random.default_rng(31).normal(size=(3, T_LEN, K))
    with torch.no_grad():
        h_n = m(torch.tensor(x))[1].numpy()  # {2, batch, N}: forward, backward final states
    np.testing.assert_allclose(net_from_assoc(assoc, source="bidi")(x), np.concatenate([h_n[0], h_n[1]], axis=1),
                               rtol=1e-12, atol=1e-14)


def _numpy_rnn(node, xs):
    a = node["Arrays"]
    s, out = np.zeros((len(xs), N)), []
    for t in range(xs.shape[1]):
        s = np.tanh(xs[:, t] @ a["InputWeights"].T + s @ a["StateWeights"].T + a["Biases"])
        out.append(s)
    return np.stack(out, axis=1)


def test_bidirectional_mean_of_basic_recurrent_layers():
    assoc = rnn_mean_assoc()
    p = assoc["Nodes"]["1"]["Parameters"]
    x = np.random.default_rng(32).normal(size=(3, T_LEN, K))
    want = (_numpy_rnn(p["ForwardNet"], x) + _numpy_rnn(p["BackwardNet"], x[:, ::-1])[:, ::-1]) / 2
    np.testing.assert_allclose(net_from_assoc(assoc, source="bidi")(x), want, rtol=1e-12, atol=1e-14)


def test_varying_length_needs_sequence_length():
    n = call("LengthVar", 7)
    node = _bidi(_gated("LongShortTermMemory", LSTM_GATES, K, 21, n), _gated("LongShortTermMemory", LSTM_GATES, K, 22, n),
                 (n, 2 * N), length=n)
    assoc = _chain([node], (n, K), (n, 2 * N))
    with pytest.raises(UnsupportedLayerError, match="sequence_length"):
        net_from_assoc(assoc, source="varying")
    net = net_from_assoc(assoc, source="varying", sequence_length=T_LEN)
    x = np.random.default_rng(38).normal(size=(2, T_LEN, K))
    np.testing.assert_array_equal(net(x), net_from_assoc(lstm_bidi_assoc(), source="fixed")(x))
    assert net_from_assoc(assoc, source="varying", sequence_length=3).output_shape == (3, 2 * N)


def test_sequence_most_and_rest():
    x = np.random.default_rng(33).normal(size=(2, T_LEN, K))
    for kind, want in (("SequenceMost", x[:, :-1]), ("SequenceRest", x[:, 1:])):
        net = net_from_assoc(_chain([_node(kind, {}, (T_LEN, K), (T_LEN - 1, K))], (T_LEN, K), (T_LEN - 1, K)),
                             source=kind)
        np.testing.assert_array_equal(net(x), want)
    with pytest.raises(FormatError, match="length 2 or more"):
        net_from_assoc(_chain([_node("SequenceMost", {}, (1, K), (0, K))], (1, K), (0, K)), source="short")


def edit_graph(kind):
    """A NetGraph feeding its inputs Input {T, K} and Element {K} to one Append/Prepend layer."""
    path = lambda *p: call("NetPath", *p)  # noqa: E731
    node = {"Type": kind, "Arrays": {}, "Parameters": {}, "Inputs": {"Input": T(T_LEN, K), "Element": T(K)},
            "Outputs": {"Output": T(T_LEN + 1, K)}}
    edges = [call("Rule", path("Nodes", "1", "Inputs", "Input"), path("Inputs", "Input")),
             call("Rule", path("Nodes", "1", "Inputs", "Element"), path("Inputs", "Element")),
             call("Rule", path("Outputs", "Output"), path("Nodes", "1", "Outputs", "Output"))]
    return {"Type": "Graph", "Nodes": {"1": node}, "Edges": edges, "Inputs": {"Input": T(T_LEN, K), "Element": T(K)},
            "Outputs": {"Output": T(T_LEN + 1, K)}}


@pytest.mark.parametrize("kind", ["Append", "Prepend"])
def test_append_and_prepend(kind, tmp_path):
    g = np.random.default_rng(34)
    x, e = g.normal(size=(2, T_LEN, K)), g.normal(size=(2, K))
    net = net_from_assoc(edit_graph(kind), source=kind)
    parts = [x, e[:, None]] if kind == "Append" else [e[:, None], x]
    np.testing.assert_array_equal(net(x, e), np.concatenate(parts, axis=1))
    wb.save_wlnet(net, tmp_path / "edit.wlnet")
    np.testing.assert_array_equal(load_wlnet(tmp_path / "edit.wlnet")(x, e), net(x, e))


def test_unsupported_aggregation_and_sub_net_are_reported():
    bad = lstm_bidi_assoc()
    bad["Nodes"]["1"]["Parameters"]["Aggregation"] = Symbol("Max")
    with pytest.raises(UnsupportedLayerError, match="Aggregation Max"):
        net_from_assoc(bad, source="bad")
    odd = lstm_bidi_assoc()
    odd["Nodes"]["1"]["Parameters"]["BackwardNet"]["Type"] = "Mystery"
    with pytest.raises(UnsupportedLayerError, match="Mystery"):
        net_from_assoc(odd, source="odd")


def _written_types(net):
    return [n["Type"] for n in assoc_from_net(net)["Nodes"].values()]


@pytest.mark.parametrize("make,types", [(lstm_bidi_assoc, ["NetBidirectional"]),
                                        (rnn_mean_assoc, ["NetBidirectional", "ConstantTimes"]),
                                        (gru_last_assoc, None),
                                        (lambda: _chain([_node("SequenceRest", {}, (T_LEN, K), (T_LEN - 1, K))],
                                                        (T_LEN, K), (T_LEN - 1, K)), ["Part"])],
                         ids=["lstm", "rnn_mean", "gru_last", "rest"])
def test_save_wlnet_round_trip(make, types, tmp_path):
    net = net_from_assoc(make(), source="bidi")
    if types is not None:
        assert _written_types(net) == types
    wb.save_wlnet(net, tmp_path / "bidi.wlnet")
    back = load_wlnet(tmp_path / "bidi.wlnet")
    x = np.random.default_rng(35).normal(size=(3, T_LEN, K))
    np.testing.assert_array_equal(back(x), net(x))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_torch_bidirectional_written_as_net_bidirectional_operator(kind, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = getattr(torch.nn, kind)(K, N, num_layers=2, bidirectional=True, batch_first=True).double()
    if kind == "GRU":  # WL's GatedRecurrentLayer has no recurrent bias of the memory gate
        with torch.no_grad():
            for name, p in m.named_parameters():
                if name.startswith("bias_hh"):
                    p[2 * N:] = 0
    net = wb.from_torch(m, input_shape=(T_LEN, K))
    assert _written_types(net) == ["NetBidirectional", "NetBidirectional"]
    wb.save_wlnet(net, tmp_path / "t.wlnet")
    back = load_wlnet(tmp_path / "t.wlnet")
    assert [L.op for L in back.layers] == [L.op for L in net.layers]
    x = np.random.default_rng(36).normal(size=(3, T_LEN, K))
    with torch.no_grad():
        want = m(torch.tensor(x))[0].numpy()
    np.testing.assert_allclose(back(x), want, rtol=1e-12, atol=1e-14)


def test_reversed_output_used_elsewhere_keeps_the_chains():
    b = wb.NetBuilder("two")
    x = b.input("x", (T_LEN, K))
    g = np.random.default_rng(37)
    p = lambda: {"weight_ih": g.normal(size=(N, K)), "weight_hh": g.normal(size=(N, N)) * 0.3}  # noqa: E731
    f = b.layer("rnn", [x], params=p(), attrs={"hidden": N, "reverse": False, "output": "sequence"})
    r = b.layer("rnn", [x], params=p(), attrs={"hidden": N, "reverse": True, "output": "sequence"})
    net = b.build([b.layer("concat", [f, r], attrs={"axis": -1}), r])
    assert "NetBidirectional" not in _written_types(net)


# ---- the paclet -----------------------------------------------------------------------------------
def _paclet_cases():
    rest = _chain([_node("SequenceMost", {}, (T_LEN, K), (T_LEN - 1, K)),
                   _node("SequenceRest", {}, (T_LEN - 1, K), (T_LEN - 2, K))], (T_LEN, K), (T_LEN - 2, K))
    return {"lstm": lstm_bidi_assoc(), "rnn_mean": rnn_mean_assoc(), "most_rest": rest,
            "append": edit_graph("Append"), "prepend": edit_graph("Prepend")}


@pytest.mark.woxi
@pytest.mark.parametrize("name", list(_paclet_cases()))
def test_paclet_in_woxi(name):
    from .test_paclet import Woxi, _check_shared

    assoc = _paclet_cases()[name]
    _check_shared(Woxi(), assoc, net_from_assoc(assoc, source=name), "Compact", 3)


@pytest.mark.mathics
def test_paclet_bidirectional_lstm_in_mathics():
    from .test_paclet import Mathics, _check_shared

    node = _bidi(_gated("LongShortTermMemory", LSTM_GATES, 2, 27, length=3),
                 _gated("LongShortTermMemory", LSTM_GATES, 2, 28, length=3), (3, 2 * N), length=3, k=2)
    assoc = _chain([node], (3, 2), (3, 2 * N))
    _check_shared(Mathics(), assoc, net_from_assoc(assoc, source="bidi"), "Compact", 1)


@pytest.mark.woxi
def test_paclet_reports_bidirectional_of_chains_unsupported():
    from .test_paclet import Woxi, wl_text

    engine = Woxi()
    r, msgs = engine.run(f"NetAssociationToFunction[{wl_text(gru_last_assoc(), engine.number)}]")
    assert str(r).endswith("$Failed")
    assert len(msgs) == 1 and "Nodes/1 (NetBidirectional): NetBidirectionalOperator of nets other than single " \
        "recurrent layers" in msgs[0]
