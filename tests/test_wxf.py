""".wxf front end: Export["net.wxf", net] bytes (NetChain[assoc, meta], NumericArrays inline)."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, WlbridgeError
from wlbridge.frontends.wolfram.wxf import decode_wxf, load_wxf, net_from_wxf, save_wxf, wxf_from_net
from tests.wolfram_files import f32, rng

pytest.importorskip("wolframclient")
from wolframclient.serializers import export  # noqa: E402


class _WL:
    """``wl.Name`` without keeping wolframclient's ``wl`` factory in the module (doctest trips on it)."""

    def __getattr__(self, name):
        from wolframclient.language import wl as factory

        return getattr(factory, name)


wl = _WL()


def NN(name):
    """A NeuralNetworks` symbol, written with its context as BinarySerialize does."""
    return getattr(wl, "NeuralNetworks`" + name)


def tensor(*dims):
    return NN("TensorT")(list(dims), NN("RealT"))


def linear_tanh_chain(w, b):
    """NetChain[<|...|>, <|...|>] built directly with wolframclient (independent of our writer)."""
    lin = {"Type": "Linear", "Arrays": {"Weights": w, "Biases": b},
           "Parameters": {"OutputDimensions": [2], "$OutputSize": 2, "$InputSize": 3, "$InputDimensions": [3]},
           "Inputs": {"Input": tensor(3)}, "Outputs": {"Output": tensor(2)}}
    tanh = {"Type": "Elementwise", "Arrays": {}, "Parameters": {"Function": NN("ValidatedParameter")(wl.Tanh),
                                                                "$Dimensions": [2]},
            "Inputs": {"Input": tensor(2)}, "Outputs": {"Output": tensor(2)}}
    P = NN("NetPath")
    edges = [wl.Rule(P("Nodes", "1", "Inputs", "Input"), P("Inputs", "Input")),
             wl.Rule(P("Nodes", "2", "Inputs", "Input"), P("Nodes", "1", "Outputs", "Output")),
             wl.Rule(P("Outputs", "Output"), P("Nodes", "2", "Outputs", "Output"))]
    assoc = {"Type": "Chain", "Nodes": {"1": lin, "2": tanh}, "Edges": edges,
             "Inputs": {"Input": tensor(3)}, "Outputs": {"Output": tensor(2)}}
    return wl.NetChain(assoc, {"Version": "14.3.0", "Unstable": False}), assoc


def test_netchain_wxf_from_wolframclient(tmp_path):
    w, b = f32(2, 3), f32(2, seed=1)
    expr, assoc = linear_tanh_chain(w, b)
    data = export(expr, target_format="wxf")
    x = rng().standard_normal((5, 3))
    ref = np.tanh(x @ w.astype(np.float64).T + b)
    np.testing.assert_allclose(net_from_wxf(data, source="kernel")(x), ref, rtol=1e-12)
    bare = net_from_wxf(export(assoc, target_format="wxf"), source="kernel")  # a bare association
    np.testing.assert_allclose(bare(x), ref, rtol=1e-12)
    p = tmp_path / "net.wxf"
    p.write_bytes(export(expr, target_format="wxf", compress=True))
    assert p.read_bytes().startswith(b"8C:")
    net = wb.load(p)
    assert net.layers[0].params["weight"].dtype == np.float32 and net.meta["wl_version"] == "14.3.0"
    np.testing.assert_allclose(net(x), ref, rtol=1e-12)


def test_save_wxf_roundtrip(tmp_path):
    b = wb.NetBuilder()
    x = b.input("x", (2, 4, 4))
    h = b.layer("conv", [x], params={"weight": f32(3, 2, 2, 2), "bias": f32(3, seed=2)}, attrs={"padding": ((1, 0), (0, 1))})
    h = b.layer("pool", [h], attrs={"kind": "max", "kernel": (2, 2), "stride": (2, 2)})
    h = b.layer("flatten", [h])
    h = b.layer("linear", [h], params={"weight": f32(2, 12, seed=3), "bias": f32(2, seed=4)})
    net = b.build([b.layer("softmax", [h])])
    save_wxf(net, tmp_path / "n.wxf")
    back = load_wxf(tmp_path / "n.wxf")
    xs = rng(1).standard_normal((3, 2, 4, 4))
    np.testing.assert_allclose(back(xs), net(xs), rtol=1e-12)
    tree = decode_wxf((tmp_path / "n.wxf").read_bytes())
    assert tree.head.name == "NetChain" and tree.args[1]["Version"] == "14.3.0"
    assert isinstance(tree.args[0]["Nodes"]["1"]["Arrays"]["Weights"], np.ndarray)


def test_symbols_carry_their_contexts():
    b = wb.NetBuilder()
    x = b.input("x", (2,))
    data = wxf_from_net(b.build([b.layer("elementwise", [x], attrs={"fn": "leaky_relu"})]))
    assert b"NeuralNetworks`TensorT" in data and b"NeuralNetworks`Private`ScalarFunctionObject" in data
    assert b"System`" not in data


@pytest.mark.parametrize("data,what", [
    (b"8:\x99", "bad WXF"),
    (b"7:abc", "not WXF"),
    (b"8C:" + zlib.compress(b"\0" * 10), "bad WXF"),
    (b"8C:notzlib", "zlib"),
    (b"8:f\x01s\x04Listi", "bad WXF"),
    (lambda: export(wl.Plus(1, 2), target_format="wxf"), "not NetChain"),
    (lambda: export({"Type": 3}, target_format="wxf"), "not an association with a \"Type\""),
])
def test_bad_wxf(data, what):
    with pytest.raises(FormatError, match=what):
        net_from_wxf(data() if callable(data) else data, source="k.wxf")


def test_wxf_bomb_and_depth():
    with pytest.raises(FormatError, match="exceeds"):
        decode_wxf(b"8C:" + zlib.compress(b"\0" * (4 << 20)), max_output=1 << 20)
    deep = b"8:" + b"f\x01s\x01g" * 100_000 + b"C\x00"
    with pytest.raises(WlbridgeError):
        net_from_wxf(deep, source="deep.wxf")
