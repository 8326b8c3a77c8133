""".wlnet reader and writer: the three real files (when present), every container layout, bad files."""
from __future__ import annotations

import re

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, WlbridgeError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.wlnet import load_wlnet, read_wlnet_raw, save_wlnet, write_wlnet_raw
from tests.wolfram_files import T, chain, f32, lay, real_file, rng

h5py = pytest.importorskip("h5py")
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402


def raw_arrays(path):
    with h5py.File(path) as f:
        return [f["Arrays"][str(k)][()].astype(np.float64) for k in range(1, len(f["Arrays"]) + 1)]


# ---- independent numpy forwards (straight from the HDF5 arrays, not through the IR) ------------

def conv2d(x, w, b, pad):
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = sliding_window_view(xp, w.shape[2:], axis=(1, 2))  # c, h, w, kh, kw
    return np.einsum("chwij,ocij->ohw", win, w) + b[:, None, None]


def bn(x, g, beta, mean, var, eps):
    s = (slice(None), None, None)
    return g[s] * (x - mean[s]) / np.sqrt(var[s] + eps) + beta[s]


def maxpool(x, k):
    c, h, w = x.shape
    return x[:, :h // k * k, :w // k * k].reshape(c, h // k, k, w // k, k).max(axis=(2, 4))


def test_wis22_mlp_against_numpy():
    path = real_file("WIS22_net.wlnet")
    net = wb.load(path)
    text = str(net)
    assert net.param_count == 10 + 10 + 100 + 10 + 10 + 1 and net.input_shape == () and net.output_shape == ()
    assert "tanh" in text and "Nodes/3/Nodes/1/Nodes/1" in text and net.meta["wl_version"] == "13.0.3"
    w1, b1, w2, b2, w3, b3 = raw_arrays(path)
    xs = np.linspace(-2, 2, 41)
    ref = np.array([(w3 @ np.tanh(w2 @ np.tanh(w1 @ [x] + b1) + b2) + b3)[0] for x in xs])
    np.testing.assert_allclose(net(xs), ref, rtol=1e-12, atol=1e-14)
    assert np.all(np.abs(ref) < 10) and np.ptp(ref) > 1e-3  # a smooth non-constant fit


def test_ml_supergroup_cnn_against_numpy():
    path = real_file("ML_Supergroup_Demo_Net.wlnet")
    net = load_wlnet(path)
    assert net.input_shape == (1, 10, 10) and net.output_shape == (100,)
    assert [L.op for L in net.layers].count("conv") == 3 and net.param_count == 586344
    a = raw_arrays(path)
    x = rng(1).random((1, 10, 10))
    h = x
    for i in range(3):
        w, b, g, beta, mean, var = a[6 * i: 6 * i + 6]
        h = np.maximum(bn(conv2d(h, w, b, 0), g, beta, mean, var, 0.001), 0)
    h = np.maximum(h.reshape(-1), 0)
    h = np.maximum(a[18] @ h + a[19], 0)
    ref = a[20] @ h + a[21]
    np.testing.assert_allclose(net(x), ref, rtol=1e-10, atol=1e-12)


def test_eigenjs7_cnn_with_image_encoder_against_numpy():
    path = real_file("eigenjs7_trainedNet1.wlnet")
    net = load_wlnet(path)
    assert net.input_shape == (3, 32, 32) and net.output_shape == (10,)
    assert net.meta["encoders"] == {"Input": "Image"} and "Nodes/Conv2/Nodes/4" in str(net)
    a = raw_arrays(path)
    mean = np.array([0.4890060972222224, 0.47970360212418317, 0.47680548039215703])
    var = np.array([0.07000362022242078, 0.06707892612888301, 0.06576089306987722])
    x = rng(2).random((3, 32, 32))
    h = (x - mean[:, None, None]) / np.sqrt(var)[:, None, None]
    for i, k in enumerate([1, 2, 2, 2]):
        w, b, g, beta, mu, v = a[6 * i: 6 * i + 6]
        h = maxpool(np.maximum(bn(conv2d(h, w, b, 1), g, beta, mu, v, 1e-5), 0), k)
    z = a[24] @ maxpool(h, 4).reshape(-1) + a[25]
    ref = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    out = net(x)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-15)
    assert abs(out.sum() - 1) < 1e-12


# ---- the writer reproduces what WL 14.3 writes ---------------------------------------------------

def layer_keys(tree, out=None):
    out = {} if out is None else out
    if isinstance(tree, dict):
        if isinstance(tree.get("Type"), str) and tree["Type"] not in ("Chain", "Graph"):
            out[tree["Type"]] = (list(tree), list(tree["Parameters"]), list(tree["Arrays"]))
        for v in tree.values():
            layer_keys(v, out)
    return out


def h5_layout(path):
    with h5py.File(path) as f:
        lay_ = {}
        for k, ds in f.items():
            if isinstance(ds, h5py.Dataset):
                s = h5py.check_string_dtype(ds.dtype)
                lay_[k] = (ds.dtype.kind, ds.shape, s.encoding if s else None, s.length if s else None)
        arrays = [(k, f["Arrays"][k].dtype, f["Arrays"][k].shape) for k in sorted(f["Arrays"], key=int)]
    return lay_, arrays


def test_writer_matches_real_14_3_layout(tmp_path):
    real = real_file("eigenjs7_trainedNet1.wlnet")
    out = tmp_path / "rewritten.wlnet"
    save_wlnet(load_wlnet(real), out)
    assert h5_layout(out) == h5_layout(real)
    mine, theirs = read_wlnet_raw(out)[0], read_wlnet_raw(real)[0]
    assert layer_keys(mine) == layer_keys(theirs)
    assert mine["Inputs"]["Input"] == theirs["Inputs"]["Input"]  # the same NetEncoder["Image", ...]
    for x, y in zip(raw_arrays(out), raw_arrays(real)):
        np.testing.assert_array_equal(x, y)
    assert read_wlnet_raw(out)[1] == {"Version": "14.3.0", "Unstable": Symbol("False")}
    xs = rng(3).random((3, 3, 32, 32))
    np.testing.assert_array_equal(load_wlnet(out)(xs), load_wlnet(real)(xs))


@pytest.mark.parametrize("name", ["WIS22_net.wlnet", "ML_Supergroup_Demo_Net.wlnet"])
def test_real_files_roundtrip(tmp_path, name):
    real = real_file(name)
    save_wlnet(load_wlnet(real), tmp_path / name)
    a, b = load_wlnet(real), load_wlnet(tmp_path / name)
    x = rng(4).random((5,) + a.input_shape)
    np.testing.assert_array_equal(a(x), b(x))
    mine, theirs = read_wlnet_raw(tmp_path / name)[0]["Outputs"], read_wlnet_raw(real)[0]["Outputs"]
    assert list(mine) == list(theirs)
    for m, t in zip(mine.values(), theirs.values()):  # same port type / decoder kind (its $Version differs)
        assert (m.head, m.args[0], m.args[-1]) == (t.head, t.args[0], t.args[-1]) if m.args else m == t


def test_float32_stays_float32_and_arrays_are_depth_first(tmp_path):
    b = wb.NetBuilder()
    h = b.input("x", (3,))
    ws = []
    for i in range(6):  # 12 arrays: /Arrays/10 must come after /Arrays/9, not after /Arrays/1
        ws.append((f32(4 if i == 0 else 4, 3 if i == 0 else 4, seed=i), f32(4, seed=50 + i)))
        h = b.layer("linear", [h], params={"weight": ws[-1][0], "bias": ws[-1][1]})
        h = b.layer("elementwise", [h], attrs={"fn": "tanh"})
    net = b.build([h])
    save_wlnet(net, tmp_path / "n.wlnet")
    with h5py.File(tmp_path / "n.wlnet") as f:
        assert f["Unstable"][()] == 0 and f["Unstable"].dtype == np.int64
        assert f["Version"][()] == b"14.3.0" and f["Arrays"]["12"].dtype == np.float32
        assert h5py.check_string_dtype(f["Network"].dtype).encoding == "utf-8"
        assert f["Network"][()].startswith(b"1:")
        np.testing.assert_array_equal(f["Arrays"]["11"][()], ws[5][0])
    back = load_wlnet(tmp_path / "n.wlnet")
    x = rng(5).standard_normal((7, 3))
    np.testing.assert_allclose(back(x), net(x), rtol=1e-15)
    assert back.layers[0].params["weight"].dtype == np.float32


# ---- older layouts ---------------------------------------------------------------------------------

def small_assoc():
    w, bias = f32(2, 3), f32(2, seed=1)
    return chain({"1": lay("Linear", {"OutputDimensions": [2]}, {"Weights": call("ExportedArray", 1),
                                                                  "Biases": call("ExportedArray", 2)}, (3,), (2,)),
                  "2": lay("Elementwise", {"Function": call("ValidatedParameter", Symbol("LogisticSigmoid"))},
                           None, (2,), (2,))}, (3,), (2,)), [w, bias]


def expected_small(x, w, b):
    return 1 / (1 + np.exp(-(x @ w.astype(np.float64).T + b)))


@pytest.mark.parametrize("form,legacy,version", [("compress", True, "11.3.5"), ("compress", False, "13.0.3"),
                                                 ("wxf", False, "14.3.0"), ("inputform", True, "11.1.0")])
def test_container_layouts(tmp_path, form, legacy, version):
    assoc, arrays = small_assoc()
    p = tmp_path / "n.wlnet"
    write_wlnet_raw(p, assoc, arrays, version=version, legacy=legacy, network_form=form)
    with h5py.File(p) as f:
        assert ("Unstable" in f) is not legacy
        if legacy:
            assert f["Version"].dtype == np.dtype(f"S{len(version) + 1}")
    x = rng(6).standard_normal((4, 3))
    np.testing.assert_allclose(wb.load(p)(x), expected_small(x, *arrays), rtol=1e-12)


CONNECTIONS = ('"Connections" -> {NetPath["Vertices", "1", "Inputs", "Input"] -> NetPath["Inputs", "Input"], '
               'NetPath["Vertices", "2", "Inputs", "Input"] -> NetPath["Vertices", "1", "Outputs", "Output"], '
               'NetPath["Outputs", "Output"] -> NetPath["Vertices", "2", "Outputs", "Output"]}, ')


@pytest.mark.parametrize("edges", ["", CONNECTIONS])
def test_wl_11_0_file(tmp_path, edges):
    """11.0: Version a Real, InputForm text, Vertices/Connections, DotPlus, ChannelT, bare functions."""
    w, b = f32(4, 6), f32(4, seed=1)
    text = ('<|"Type" -> "Chain", "Vertices" -> <|"1" -> <|"Type" -> "DotPlus", "Arrays" -> <|"Weights" -> '
            'ExportedArray[1], "Biases" -> ExportedArray[2]|>, "Parameters" -> <|"Size" -> 4|>, "Inputs" -> '
            '<|"Input" -> ChannelT[2, TensorT[1, {3}]]|>, "Outputs" -> <|"Output" -> TensorT[1, {4}]|>|>, '
            '"2" -> <|"Type" -> "Elementwise", "Arrays" -> <||>, "Parameters" -> <|"Function" -> Ramp, '
            '"$Rank" -> 1|>, "Inputs" -> <|"Input" -> TensorT[1, {4}]|>, "Outputs" -> <|"Output" -> '
            'TensorT[1, {4}]|>|>|>, ' + edges + '"Inputs" -> <|"Input" -> ChannelT[2, TensorT[1, {3}]]|>, '
            '"Outputs" -> <|"Output" -> TensorT[1, {4}]|>|>')
    p = tmp_path / "old.wlnet"
    with h5py.File(p, "w") as f:
        f["Version"] = 11.0
        f["Network"] = np.array(text.encode(), dtype=f"S{len(text) + 1}")
        g = f.create_group("Arrays")
        g["1"], g["2"] = w, b
    net = load_wlnet(p)
    assert net.input_shape == (2, 3) and net.meta["wl_version"] == "11.0.0"
    x = rng(7).standard_normal((2, 2, 3))
    ref = np.maximum(x.reshape(2, 6) @ w.astype(np.float64).T + b, 0)
    np.testing.assert_allclose(net(x), ref, rtol=1e-12)


# ---- bad files ------------------------------------------------------------------------------------

def test_not_hdf5(tmp_path):
    p = tmp_path / "x.wlnet"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(FormatError, match=str(p.name)):
        load_wlnet(p)
    p.write_bytes(b"hello")
    with pytest.raises(FormatError, match="HDF5"):
        load_wlnet(p)


def test_truncated_file(tmp_path):
    assoc, arrays = small_assoc()
    p = tmp_path / "n.wlnet"
    write_wlnet_raw(p, assoc, arrays)
    data = p.read_bytes()
    for n in (100, len(data) // 2, len(data) - 10):
        p.write_bytes(data[:n])
        with pytest.raises(WlbridgeError):
            load_wlnet(p)


@pytest.mark.parametrize("change,what", [
    (lambda f: f.__delitem__("Arrays/2"), "/Arrays/2, which the file does not hold"),
    (lambda f: f.__delitem__("Network"), "missing dataset /Network"),
    (lambda f: (f.__delitem__("Version"), f.create_dataset("Version", data="9.0")), "unsupported Version"),
    (lambda f: (f.__delitem__("Arrays/1"), f.create_dataset("Arrays/1", data=np.ones((3, 2), np.float32))),
     "Weights shape [3, 2] disagrees"),
    (lambda f: (f.__delitem__("Arrays/2"), f.create_dataset("Arrays/2", data=np.ones(5, np.float32))),
     "bias shape"),
    (lambda f: f.create_dataset("Arrays/x", data=1), "not named by a number"),
])
def test_bad_contents(tmp_path, change, what):
    assoc, arrays = small_assoc()
    p = tmp_path / "n.wlnet"
    write_wlnet_raw(p, assoc, arrays)
    with h5py.File(p, "a") as f:
        change(f)
    with pytest.raises(FormatError, match=re.escape(what)) as e:
        load_wlnet(p)
    assert "n.wlnet" in str(e.value)


def test_declared_type_must_match(tmp_path):
    assoc, arrays = small_assoc()
    assoc["Nodes"]["2"]["Outputs"]["Output"] = T(3)
    p = tmp_path / "n.wlnet"
    write_wlnet_raw(p, assoc, arrays)
    with pytest.raises(FormatError, match=r"Nodes/2: output shape \[2\] disagrees with the declared type \[3\]"):
        load_wlnet(p)


@pytest.mark.woxi
def test_wis22_wl_code_evaluates_in_woxi_like_the_reference():
    pytest.importorskip("woxi")
    net = load_wlnet(real_file("WIS22_net.wlnet"))
    report = net.check(engine="woxi", samples=32, sympy=False)
    assert report.passed and report.max_abs_err < 1e-12, str(report)


@pytest.mark.woxi
def test_generated_cnn_wl_code_evaluates_in_woxi(tmp_path):
    pytest.importorskip("woxi")
    b = wb.NetBuilder()
    x = b.input("x", (2, 5, 5))
    h = b.layer("conv", [x], params={"weight": f32(3, 2, 3, 3), "bias": f32(3, seed=1)}, attrs={"padding": ((1, 1), (1, 1))})
    h = b.layer("batchnorm", [h], params={"scale": np.ones(3, np.float32), "bias": f32(3, seed=2),
                                          "mean": f32(3, seed=3), "var": np.full(3, 2.0, np.float32)})
    h = b.layer("pool", [b.layer("elementwise", [h], attrs={"fn": "relu"})], attrs={"kind": "max", "kernel": (2, 2),
                                                                                    "stride": (2, 2)})
    h = b.layer("linear", [b.layer("flatten", [h])], params={"weight": f32(4, 12, seed=4), "bias": f32(4, seed=5)})
    save_wlnet(b.build([b.layer("softmax", [h])]), tmp_path / "cnn.wlnet")
    report = load_wlnet(tmp_path / "cnn.wlnet").check(engine="woxi", samples=8, sympy=False)
    assert report.passed, str(report)


def test_private_symbols_are_written_with_their_context(tmp_path):
    b = wb.NetBuilder()
    x = b.input("x", (2,))
    save_wlnet(b.build([b.layer("elementwise", [x], attrs={"fn": "selu"})]), tmp_path / "s.wlnet")
    with h5py.File(tmp_path / "s.wlnet") as f:
        from wlbridge.frontends.wolfram.compress import unwrap
        raw = unwrap(f["Network"][()])
    assert b"NeuralNetworks`Private`ScalarFunctionObject" in raw and b"NeuralNetworks`TensorT" not in raw
    np.testing.assert_allclose(load_wlnet(tmp_path / "s.wlnet")(np.array([-1.0, 1.0])),
                               [1.0507009873554805 * 1.6732632423543772 * (np.exp(-1) - 1), 1.0507009873554805],
                               rtol=1e-14)


def test_a_float32_net_read_back_prints_its_input_as_float32(tmp_path):
    """A .wlnet declares no input precision: the input is shown with the net's dtype, not as f64."""
    b = wb.NetBuilder("f32")
    x = b.input("x", (3,), dtype="float32")
    net = b.build([b.layer("linear", [x], params={"weight": np.ones((2, 3), np.float32)})])
    wb.save_wlnet(net, tmp_path / "f32.wlnet")
    back = wb.load(tmp_path / "f32.wlnet")
    assert str(back).splitlines()[0] == "f32(x: f32[3]) -> h1: f32[2]"
