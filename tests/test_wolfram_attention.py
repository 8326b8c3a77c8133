"""Wolfram ``AttentionLayer`` ("Type" -> "Attention") read from hand-built net associations laid out as
the paclet's layer definition names them (layers_attention.py), checked against numpy written from the
documented math: scores q_i . k_j, rescaling, causal mask, softmax over the keys, weighted sum of values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wlbridge.errors import UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Expr, Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc
from wlbridge.frontends.wolfram.wlnet import load_wlnet, write_wlnet_raw
from wlbridge.frontends.wolfram.wxf import encode_wxf, load_wxf

from .wolfram_files import NP as P
from .wolfram_files import T
from .wolfram_files import rule as R

NONE = Symbol("None")


def dot_net(k):
    """The paclet's ``toScoringNet["Dot"]``: a Graph with one Dot node fed {Query, Input}."""
    dot = {"Type": "Dot", "Arrays": {}, "Parameters": {}, "Inputs": {"1": T(k), "2": T(k)},
           "Outputs": {"Output": T()}}
    return {"Type": "Graph", "Nodes": {"1": dot},
            "Edges": [R(P("Nodes", "1", "Inputs", "1"), P("Inputs", "Query")),
                      R(P("Nodes", "1", "Inputs", "2"), P("Inputs", "Input")),
                      R(P("Outputs", "Output"), P("Nodes", "1", "Outputs", "Output"))],
            "Inputs": {"Input": T(k), "Query": T(k)}, "Outputs": {"Output": T()}}


def bilinear_net(k, q, w=None):
    """``toScoringNet["Bilinear"]``: a trainable Linear on the key, then Dot with the query."""
    lin = {"Type": "Linear", "Arrays": {"Weights": np.ones((q, k)) if w is None else w, "Biases": NONE},
           "Parameters": {}, "Inputs": {"Input": T(k)}, "Outputs": {"Output": T(q)}}
    net = dot_net(q)
    net["Nodes"] = {"Linear": lin, "Dot": net["Nodes"]["1"]}
    return net


def custom_net(k):
    """A scoring net of three layers: no IR form here."""
    net = bilinear_net(k, k)
    net["Nodes"]["Tanh"] = {"Type": "Elementwise", "Arrays": {}, "Parameters": {"Function": Symbol("Tanh")},
                            "Inputs": {"Input": T()}, "Outputs": {"Output": T()}}
    return net


def attention_net(kd, vd, qd, *, scoring=None, multi=False, **params):
    """A Graph holding one Attention layer fed by the graph's Key, Value and Query inputs."""
    od = qd[:-1] + (vd[-1],)
    p = {"ScoringNet": scoring or dot_net(kd[-1]), "Mask": NONE, "ScoreRescaling": NONE, "Dropout": 0.,
         "MultiHead": Symbol("True" if multi else "False"), "$InputPorts": "KeyValueQuery"}
    p.update(params)
    ports = {"Key": T(*kd), "Value": T(*vd), "Query": T(*qd)}
    layer = {"Type": "Attention", "Arrays": {}, "Parameters": p, "Inputs": ports, "Outputs": {"Output": T(*od)}}
    edges = [R(P("Nodes", "att", "Inputs", n), P("Inputs", n)) for n in ports]
    edges.append(R(P("Outputs", "Output"), P("Nodes", "att", "Outputs", "Output")))
    return {"Type": "Graph", "Nodes": {"att": layer}, "Edges": edges, "Inputs": dict(ports),
            "Outputs": {"Output": T(*od)}}


def documented(K, V, Q, rescale=None, causal=False, heads=False):
    """One sample: for each query vector q_i, softmax_j(s_ij) over the key vectors, sum_j w_ij v_j."""
    if heads:  # {positions.., h, c}: attention per head
        outs = [documented(K[..., h, :], V[..., h, :], Q[..., h, :], rescale, causal) for h in range(K.shape[-2])]
        return np.stack(outs, axis=-2)
    keys, vals = K.reshape(-1, K.shape[-1]), V.reshape(-1, V.shape[-1])
    out = []
    for i, q in enumerate(Q.reshape(-1, Q.shape[-1])):
        s = np.array([q @ kj for kj in keys])
        if rescale == "DimensionSqrt":
            s = s / math.sqrt(K.shape[-1])
        elif rescale == "LengthSqrt":
            s = s / math.sqrt(i + 1 if causal else len(keys))
        if causal:
            s = np.where(np.arange(len(keys)) <= i, s, -np.inf)
        w = np.exp(s - s.max())
        w = w / w.sum()
        out.append(sum(wj * vj for wj, vj in zip(w, vals)))
    return np.array(out).reshape(Q.shape[:-1] + (V.shape[-1],))


def _compare(kd, vd, qd, rescale=None, causal=False, heads=False, **kw):
    params = {"ScoreRescaling": rescale or NONE, "Mask": "Causal" if causal else NONE, **kw}
    net = net_from_assoc(attention_net(kd, vd, qd, multi=heads, **params), source="att")
    g = np.random.default_rng(len(kd) + 7 * len(qd))
    K, V, Q = (g.normal(size=(3, *d)) for d in (kd, vd, qd))
    got = net(K, V, Q)
    want = np.stack([documented(K[b], V[b], Q[b], rescale, causal, heads) for b in range(3)])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    return net


@pytest.mark.parametrize("kd,vd,qd", [((5, 3), (5, 4), (2, 3)), ((5, 3), (5, 4), (3,)),
                                      ((2, 3, 4), (2, 3, 2), (2, 2, 4))], ids=["matrix", "one_query", "rank3"])
def test_single_head_dot_attention(kd, vd, qd):
    _compare(kd, vd, qd)


@pytest.mark.parametrize("rescale", ["LengthSqrt", "DimensionSqrt"])
def test_score_rescaling(rescale):
    _compare((6, 4), (6, 3), (2, 4), rescale)


def test_multi_head():
    _compare((5, 2, 3), (5, 2, 4), (3, 2, 3), "DimensionSqrt", heads=True)


@pytest.mark.parametrize("rescale", [None, "LengthSqrt"])
def test_causal_mask(rescale):
    _compare((4, 3), (4, 2), (4, 3), rescale, causal=True)
    _compare((4, 2, 3), (4, 2, 2), (4, 2, 3), rescale, causal=True, heads=True)


def test_input_query_ports_use_the_input_as_key_and_value():
    assoc = attention_net((5, 3), (5, 3), (2, 3), **{"$InputPorts": "InputQuery"})
    layer = assoc["Nodes"]["att"]
    layer["Inputs"] = {"Input": T(5, 3), "Query": T(2, 3)}
    assoc["Inputs"] = dict(layer["Inputs"])
    assoc["Edges"] = [R(P("Nodes", "att", "Inputs", n), P("Inputs", n)) for n in ("Input", "Query")] + \
        [assoc["Edges"][-1]]
    x, q = np.random.default_rng(3).normal(size=(2, 5, 3)), np.random.default_rng(4).normal(size=(2, 2, 3))
    got = net_from_assoc(assoc, source="iq")(x, q)
    np.testing.assert_allclose(got, np.stack([documented(x[b], x[b], q[b]) for b in range(2)]), rtol=1e-12)


@pytest.mark.parametrize("change,reason", [
    ({"scoring": custom_net(3)}, "ScoringNet with ['Dot', 'Elementwise', 'Linear'] (only the \"Dot\" and"),
    ({"Mask": call("Rule", "Causal", 2)}, "Mask -> "),
    ({"ScoreRescaling": "Bogus"}, "ScoreRescaling -> \"Bogus\""),
])
def test_refused_settings_name_the_reason(change, reason):
    with pytest.raises(UnsupportedLayerError) as e:
        net_from_assoc(attention_net((4, 3), (4, 2), (4, 3), **change), source="refused")
    assert "Nodes/att" in str(e.value) and reason in str(e.value)


def test_attention_weights_port_is_refused():
    assoc = attention_net((4, 3), (4, 2), (2, 3))
    assoc["Nodes"]["att"]["Outputs"]["AttentionWeights"] = T(2, 4)
    with pytest.raises(UnsupportedLayerError, match="AttentionWeights"):
        net_from_assoc(assoc, source="weights")


@pytest.mark.woxi
def test_compact_wl_checks_in_woxi():
    pytest.importorskip("woxi")
    for net in (_compare((5, 2, 3), (5, 2, 4), (3, 2, 3), "DimensionSqrt", heads=True),
                _compare((4, 3), (4, 2), (4, 3), "LengthSqrt", causal=True)):
        report = net.check(engine="woxi", samples=4)
        assert report.passed, str(report)
        assert report.max_rel_err <= 1e-12


def test_multi_head_single_query():
    _compare((5, 2, 3), (5, 2, 4), (2, 3), heads=True)


def test_refused_attention_fed_by_an_unsupported_layer_is_reported_with_it():
    """Every unsupported layer at once: the unknown layer and the refused scoring net, one error."""
    assoc = attention_net((4, 3), (4, 2), (2, 3), scoring=custom_net(3))
    assoc["Nodes"] = {"odd": {"Type": "Bogus", "Arrays": {}, "Parameters": {}, "Inputs": {"Input": T(2, 3)},
                              "Outputs": {"Output": T(2, 3)}}, **assoc["Nodes"]}
    assoc["Edges"] = [R(P("Nodes", "odd", "Inputs", "Input"), P("Inputs", "Query")),
                      R(P("Nodes", "att", "Inputs", "Query"), P("Nodes", "odd", "Outputs", "Output"))] + \
        [e for e in assoc["Edges"] if e.args[0].args[-1] != "Query"]
    with pytest.raises(UnsupportedLayerError) as e:
        net_from_assoc(assoc, source="two")
    assert "Nodes/odd" in str(e.value) and "Nodes/att" in str(e.value) and "ScoringNet" in str(e.value)


@pytest.mark.parametrize("suffix", [".wlnet", ".wxf"])
def test_read_from_a_file(tmp_path, suffix):
    """The association written as Wolfram stores it (Compress string in HDF5, or WXF) reads back the same."""
    assoc = attention_net((5, 2, 3), (5, 2, 4), (5, 2, 3), multi=True, Mask="Causal", ScoreRescaling="DimensionSqrt")
    path = tmp_path / f"att{suffix}"
    if suffix == ".wlnet":
        write_wlnet_raw(path, assoc, [])
        net = load_wlnet(path)
    else:
        path.write_bytes(encode_wxf(Expr(Symbol("NetGraph"), (assoc, {"Version": "14.3.0"}))))
        net = load_wxf(path)
    g = np.random.default_rng(5)
    K, V, Q = (g.normal(size=(2, *d)) for d in ((5, 2, 3), (5, 2, 4), (5, 2, 3)))
    want = np.stack([documented(K[b], V[b], Q[b], "DimensionSqrt", True, True) for b in range(2)])
    np.testing.assert_allclose(net(K, V, Q), want, rtol=1e-12, atol=1e-14)


def test_causal_mask_needs_equal_query_and_key_positions():
    from wlbridge.errors import FormatError

    with pytest.raises(FormatError, match="Nodes/att: causal Attention needs one position axis"):
        net_from_assoc(attention_net((4, 3), (4, 2), (2, 3), Mask="Causal"), source="bad")


def test_bilinear_scoring_maps_the_keys_first():
    """``"Bilinear"`` (AttentionLayer's default): s = q . (W k), W {query channels, key channels}."""
    w = np.random.default_rng(5).normal(size=(2, 3))
    assoc = attention_net((4, 3), (4, 2), (5, 2), scoring=bilinear_net(3, 2, w))
    g = np.random.default_rng(6)
    K, V, Q = g.normal(size=(2, 4, 3)), g.normal(size=(2, 4, 2)), g.normal(size=(2, 5, 2))
    got = net_from_assoc(assoc, source="bilinear")(K, V, Q)
    want = np.stack([documented(K[b] @ w.T, V[b], Q[b]) for b in range(2)])
    np.testing.assert_allclose(got, want, rtol=1e-12)
