"""Real architectures (issue 10): torchvision-like classifiers, a transformer encoder, slicing and
splitting, scikit-learn MLPs through skl2onnx, every unsupported layer at once, weight counts.

The classifiers are the compact stand-ins of tests/models_zoo.py (random weights, eval mode), checked
through ``from_torch`` and through ONNX export against torch's own forward to float32 rounding.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import wlbridge as wb

torch = pytest.importorskip("torch")
nn = torch.nn
pytestmark = pytest.mark.torch

from tests.models_zoo import ZOO, build  # noqa: E402

@pytest.fixture
def slow_only(request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: run with -m slow")


LEGACY_EXPORT = [n for n in ZOO if n not in ("vgg11", "alexnet")]  # torch's legacy exporter refuses uneven pooling


def _input(name, n=2):
    return np.random.default_rng(1).standard_normal((n, *ZOO[name][1])).astype(np.float32)


def _assert_float32_close(got, want):
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


def _onnx_bytes(m, x, **kw):
    import onnx

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), f, input_names=["x"], **kw)
    return onnx.load_from_string(f.getvalue())


# ---- torchvision-like classifiers ---------------------------------------------------------------
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_from_torch_matches_torch(name):
    m, x = build(name), _input(name)
    net = wb.from_torch(m, ZOO[name][1])
    _assert_float32_close(net(x), m(torch.tensor(x)).detach().numpy())


@pytest.mark.onnx
@pytest.mark.parametrize("name", LEGACY_EXPORT)
def test_zoo_via_onnx_export_matches_torch(name):
    pytest.importorskip("onnx")
    m, x = build(name), _input(name)
    net = wb.from_onnx(_onnx_bytes(m, torch.tensor(x), dynamo=False, dynamic_axes={"x": {0: "N"}}))
    _assert_float32_close(net(x), m(torch.tensor(x)).detach().numpy())


@pytest.mark.slow
@pytest.mark.onnx
@pytest.mark.parametrize("name", ["vgg11", "alexnet"])
def test_uneven_adaptive_pooling_via_dynamo_export(name, tmp_path, slow_only):
    """The dynamo exporter writes AdaptiveAvgPool2d((7, 7)) on a 2x2 map as Transpose/GatherND/Where."""
    pytest.importorskip("onnxscript")
    m, x = build(name), _input(name, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.tensor(x),), tmp_path / "m.onnx", dynamo=True, input_names=["x"],
                          external_data=False)
    net = wb.from_onnx(tmp_path / "m.onnx")
    assert "take" in {layer.op for layer in net.layers}
    _assert_float32_close(net(x), m(torch.tensor(x)).detach().numpy())


class Drop(nn.Module):
    def __init__(self, training: bool):
        super().__init__()
        self.active = training

    def forward(self, x):
        from tests.models_zoo import stochastic_depth

        return stochastic_depth(x, 0.2, "row", self.active).tanh()


def test_stochastic_depth_is_the_identity_at_inference_only():
    net = wb.from_torch(Drop(False).eval(), (3,))
    assert [layer.op for layer in net.layers] == ["elementwise"]
    with pytest.raises(wb.UnsupportedLayerError, match=r"stochastic_depth\): stochastic_depth with training=True"):
        wb.from_torch(Drop(True).eval(), (3,))


# ---- transformer encoder ------------------------------------------------------------------------
def _encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).double().eval()


@pytest.mark.woxi
def test_transformer_encoder_from_torch_checks_in_woxi_and_sympy():
    pytest.importorskip("woxi")
    enc = _encoder()
    net = wb.from_torch(enc, (5, 16))
    ops = {layer.op for layer in net.layers}
    assert {"batch_matmul", "softmax", "layernorm"} <= ops
    report = net.check(engine="woxi", samples=3)
    assert report.passed, report
    assert report.max_rel_err <= 1e-12


def _written_types(assoc) -> set:
    types = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("Type"), str):
                types.add(node["Type"])
            for v in node.values():
                walk(v)

    walk(assoc)
    return types


def test_transformer_encoder_saved_as_wlnet_loads_back_equal(tmp_path):
    """Per-token linear maps as NetMapOperator[LinearLayer], attention products as DotLayer mapped over the
    heads by NetMapThreadOperator; the file reads back to the same forward, equal to torch's."""
    pytest.importorskip("h5py")
    from wlbridge.frontends.wolfram.netwriter import assoc_from_net

    enc = _encoder()
    net = wb.from_torch(enc, (5, 16))
    assert {"NetMap", "NetMapThread", "Dot", "Linear", "Normalization", "Softmax"} <= _written_types(
        assoc_from_net(net))
    wb.save_wlnet(net, tmp_path / "encoder.wlnet")
    back = wb.load(tmp_path / "encoder.wlnet")
    assert sum(L.op == "linear" for L in back.layers) == 12  # mapped linears read as one op, not per token
    x = np.random.default_rng(7).normal(size=(3, 5, 16))
    np.testing.assert_allclose(back(x), net(x), rtol=1e-14, atol=1e-15)
    with torch.no_grad():
        np.testing.assert_allclose(back(x), enc(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.woxi
def test_written_transformer_association_runs_in_the_paclet_in_woxi():
    """What a Mathematica user runs on the written net: the paclet's NetAssociationToFunction."""
    pytest.importorskip("woxi")
    from wlbridge.frontends.wolfram.netwriter import assoc_from_net

    from .test_paclet import Woxi, _check_shared

    net = wb.from_torch(_encoder(), (5, 16))
    _check_shared(Woxi(), assoc_from_net(net), net, "Compact", 2)


@pytest.mark.onnx
def test_transformer_encoder_via_onnx_saved_as_wlnet(tmp_path):
    """ONNX's one sample of batch size 1 {1, 5, 16}, its 1 the batch axis: nested NetMapOperators and a level-2
    NetMapThreadOperator."""
    pytest.importorskip("onnx")
    pytest.importorskip("h5py")
    enc = _encoder()
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    net = wb.from_onnx(_onnx_bytes(enc, x, dynamo=False, dynamic_axes={"x": {0: "N"}}))
    wb.save_wlnet(net, tmp_path / "encoder.wlnet")
    back = wb.load(tmp_path / "encoder.wlnet")
    assert back.input_shape == net.input_shape == (5, 16)
    xs = np.random.default_rng(8).normal(size=(2, 5, 16))
    np.testing.assert_allclose(back(xs), net(xs), rtol=1e-14, atol=1e-15)


@pytest.mark.onnx
def test_transformer_encoder_via_onnx_matches_onnxruntime():
    pytest.importorskip("onnx")
    enc = _encoder()
    x = torch.randn(1, 5, 16, dtype=torch.float64)
    net = wb.from_onnx(_onnx_bytes(enc, x, dynamo=False, dynamic_axes={"x": {0: "N"}}))
    # MatMul/Transpose mix the batch axis: one sample of batch size 1, whose 1 is the batch axis again
    assert net.input_shape == (5, 16) and net.output_shapes == [(5, 16)]
    assert all(layer.path.startswith(("/layers.", "batch axis")) for layer in net.layers)  # the exporter's node names
    np.testing.assert_allclose(net(x.numpy()), net.origin.evaluate(x.numpy())[0], rtol=1e-12, atol=1e-13)
    with torch.no_grad():
        np.testing.assert_allclose(net(x.numpy()), enc(x).numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.slow
@pytest.mark.woxi
@pytest.mark.onnx
def test_transformer_encoder_via_onnx_checks_in_woxi_and_sympy(slow_only):
    pytest.importorskip("woxi")
    enc = _encoder()
    net = wb.from_onnx(_onnx_bytes(enc, torch.randn(1, 5, 16, dtype=torch.float64), dynamo=False,
                                   dynamic_axes={"x": {0: "N"}}))
    report = net.check(engine="woxi", samples=3)
    assert report.passed and report.max_rel_err <= 1e-12, report


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        out, weights = self.mha(x, x, x)
        per_head = self.mha(x, x, x, need_weights=True, average_attn_weights=False)[1]
        sdpa = nn.functional.scaled_dot_product_attention(x, x, x)
        return out, weights, per_head, sdpa, torch.bmm(x, x.transpose(1, 2)), x @ x.transpose(-1, -2)


def test_attention_parts_match_torch():
    torch.manual_seed(1)
    m = Attention().double().eval()
    net = wb.from_torch(m, (4, 8))
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    for got, want in zip(net(x.numpy()), m(x)):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_attention_needs_batch_first():
    with pytest.raises(wb.UnsupportedLayerError, match="batch_first=False"):
        wb.from_torch(nn.TransformerEncoderLayer(8, 2, 16).eval(), (4, 8))


def test_batch_first_false_message_says_what_to_do():
    """What the message says (set the flag on the existing modules: no new weights) converts, equal to torch."""
    torch.manual_seed(2)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2, enable_nested_tensor=False)
    enc = enc.double().eval()
    x = torch.randn(3, 4, 8, dtype=torch.float64)
    with torch.no_grad():
        want = enc(x.transpose(0, 1)).transpose(0, 1).numpy()
    with pytest.raises(wb.UnsupportedLayerError, match=r"set `layer\.self_attn\.batch_first = True` on each"):
        wb.from_torch(enc, (4, 8))
    for layer in enc.layers:
        layer.self_attn.batch_first = True
    np.testing.assert_allclose(wb.from_torch(enc, (4, 8))(x.numpy()), want, rtol=1e-12, atol=1e-13)
    mha = nn.MultiheadAttention(8, 2).double().eval()
    with pytest.raises(wb.UnsupportedLayerError, match=r"set `module\.batch_first = True`"):
        wb.from_torch(Wrap(mha), (4, 8))


class Wrap(nn.Module):
    """Self-attention of a MultiheadAttention module."""

    def __init__(self, mha):
        super().__init__()
        self.mha = mha

    def forward(self, x):
        return self.mha(x, x, x, need_weights=False)[0]


def test_attention_layers_carry_their_module_paths():
    net = wb.from_torch(_encoder(), (5, 16))
    paths = [layer.path for layer in net.layers]
    assert all(p.startswith("layers.") for p in paths), paths
    assert {"layers.0.self_attn", "layers.0.self_attn.out_proj", "layers.1.norm1", "layers.1.linear2"} <= set(paths)
    nested = wb.from_torch(nn.Sequential(nn.Identity(), _encoder()), (5, 16))
    assert {layer.path for layer in nested.layers} == {f"1.{p}" for p in paths}
    mha = wb.from_torch(Attention().double().eval(), (4, 8))
    assert {"mha", "mha.out_proj"} <= {layer.path for layer in mha.layers}


# ---- slicing and splitting ----------------------------------------------------------------------
class Slicing(nn.Module):
    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        c = torch.cat([b, a[:, :, 1:]], 2)[:, 0:1]
        d = x[:, 1] + x[..., 2, 0:1, :]
        e, f = torch.split(x, [1, 3], 1)
        g = torch.narrow(x, 3, 1, 2)[:, :, ::2]
        h = x[:, torch.tensor([3, 0])].unbind(1)[0]
        parts = [c, d, e, f, g, h, x.select(2, -1), x.index_select(3, torch.tensor([4, 4, 0]))]
        return torch.cat([p.flatten(1) for p in parts], 1)


@pytest.mark.woxi
def test_slicing_from_torch_checks_in_woxi():
    pytest.importorskip("woxi")
    net = wb.from_torch(Slicing(), (4, 5, 5), dtype="float64")
    assert {"slice", "take"} <= {layer.op for layer in net.layers}
    report = net.check(engine="woxi", samples=4)
    assert report.passed and report.max_abs_err == 0.0, report


@pytest.mark.onnx
def test_slicing_via_onnx_export():
    pytest.importorskip("onnx")
    x = torch.randn(2, 4, 5, 5)
    net = wb.from_onnx(_onnx_bytes(Slicing(), x, dynamo=False, dynamic_axes={"x": {0: "N"}}))
    np.testing.assert_allclose(net(x.numpy()), Slicing()(x).numpy(), rtol=1e-6, atol=1e-6)


# ---- scikit-learn MLPs through skl2onnx ----------------------------------------------------------
def _sklearn():
    pytest.importorskip("onnx")
    pytest.importorskip("skl2onnx")
    return pytest.importorskip("sklearn.neural_network")


@pytest.mark.onnx
@pytest.mark.parametrize("classes", [2, 3])
def test_mlp_classifier_probabilities(classes):
    nnmod = _sklearn()
    from skl2onnx import to_onnx

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    clf = nnmod.MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, rng.integers(0, classes, 60))
        net = wb.from_onnx(to_onnx(clf, X[:1]))
    assert net.output_shapes == [(classes,)]
    assert any("dropped" in n for n in net.meta["notes"]) and f"classes: {list(range(classes))}" in net.meta["notes"]
    np.testing.assert_allclose(net(X[:10]), clf.predict_proba(X[:10]), rtol=1e-12, atol=1e-14)


@pytest.mark.onnx
def test_mlp_regressor_one_target_and_the_broken_two_target_graph():
    nnmod = _sklearn()
    from skl2onnx import to_onnx

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = nnmod.MLPRegressor(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(X, rng.standard_normal(60))
        net = wb.from_onnx(to_onnx(reg, X[:1]))
        np.testing.assert_allclose(net(X[:10]).reshape(-1), reg.predict(X[:10]), rtol=1e-12, atol=1e-14)
        reg2 = nnmod.MLPRegressor(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(X, rng.standard_normal((60, 2)))
        onx = to_onnx(reg2, X[:1])
    # skl2onnx reshapes the {N, 2} predictions to {-1, 1}: the real reason comes first
    with pytest.raises(wb.ConversionError, match=r"reshape of \[2\] to \[1\] changes the sample size"):
        wb.from_onnx(onx)


# ---- every unsupported layer at once --------------------------------------------------------------
class TwoUnsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 4, batch_first=True, proj_size=2)  # projections: not supported
        self.gru = nn.GRU(2, 4, batch_first=True, bias=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        b, t, c = y.size()
        y = y.reshape(b, t // 1, c)  # size arithmetic after an unsupported layer: no layer of its own
        z, _ = self.gru(torch.special.bessel_j0(y))
        return self.fc(z.cumsum(1))


def test_every_unsupported_layer_is_reported_once_past_the_first():
    with pytest.raises(wb.UnsupportedLayerError) as e:
        wb.from_torch(TwoUnsupported().eval(), (3, 4))
    kinds = sorted(op for _, op, _ in e.value.items)
    assert kinds == ["LSTM", "cumsum", "special_bessel_j0"], e.value.items  # the GRU between them converts
    assert str(e.value).startswith("torch: 3 unsupported layers: rnn (LSTM)")


@pytest.mark.onnx
def test_onnx_unsupported_nodes_after_an_unsupported_node_are_reported():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as T
    from onnx import helper

    nodes = [helper.make_node("Hardmax", ["x"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Hardmax", ["b"], ["c"], name="second"),
             helper.make_node("TopK", ["c", "k"], ["y", "i"], name="third")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", T.FLOAT, ["N", 2])],
                          [onnx.numpy_helper.from_array(np.array([2], np.int64), "k")])
    with pytest.raises(wb.UnsupportedLayerError) as e:
        wb.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert [p for p, _, _ in e.value.items] == ["first", "second", "third"]
    assert str(e.value).startswith("onnx: 3 unsupported layers: first, second (Hardmax, opset 17); third (TopK")


# ---- info: weights as the source counts them ----------------------------------------------------
def test_info_counts_trainable_weights_and_buffers_apart():
    from wlbridge.cli import describe

    m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 2)).eval()
    net = wb.from_torch(m, (1, 4, 4))
    trainable = sum(p.numel() for p in m.parameters())
    buffers = sum(b.numel() for n, b in m.named_buffers() if "running" in n)
    line = next(s for s in describe(net).splitlines() if s.startswith("parameters:"))
    assert line == (f"parameters:  {trainable + buffers} (float32): {trainable} trainable, {buffers} buffers "
                    "(batch norm running mean and variance)")


@pytest.mark.onnx
@pytest.mark.parametrize("trans, alpha, beta", [((0, 0), 1.0, 1.0), ((1, 1), 0.5, 2.0)])
def test_onnx_gemm_and_matmul_of_two_variables(trans, alpha, beta):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as T
    from onnx import helper

    ta, tb = trans
    sa, sb = ((4, 3) if ta else (3, 4)), ((2, 4) if tb else (4, 2))
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], transA=ta, transB=tb, alpha=alpha, beta=beta),
             helper.make_node("MatMul", ["g", "d"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, T.DOUBLE, s) for n, s in
                                       (("a", sa), ("b", sb), ("d", (2, 3)))],
                          [helper.make_tensor_value_info("y", T.DOUBLE, (3, 3))],
                          [onnx.numpy_helper.from_array(np.arange(2.0), "c")])
    net = wb.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))
    r = np.random.default_rng(0)
    a, b, d = r.standard_normal(sa), r.standard_normal(sb), r.standard_normal((2, 3))
    want = (alpha * (a.T if ta else a) @ (b.T if tb else b) + beta * np.arange(2.0)) @ d
    np.testing.assert_allclose(net(a, b, d), want, rtol=1e-14, atol=1e-14)


@pytest.mark.woxi
@pytest.mark.parametrize("value", [np.zeros((2, 3)), np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])])
def test_scalar_fn_with_a_uniform_constant_threads_in_wl(value):
    """A constant that WL's list threading would shorten (uniform along trailing axes) is spelled out for
    MapThread: constant masks of attention graphs (Where with a constant condition)."""
    pytest.importorskip("woxi")
    from wlbridge.ir import NetBuilder

    b = NetBuilder("mask")
    x = b.input("x", (2, 3))
    body = ("where", ("greater", ("arg", 2), ("const", 0.5)), ("const", 0.0), ("arg", 1))
    net = b.build([b.layer("scalar_fn", [x, b.constant(value)], attrs={"body": body})])
    assert net.check(engine="woxi", samples=3).passed


@pytest.mark.onnx
def test_onnx_layer_normalization_with_mean_and_inv_std_dev_outputs():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as T
    from onnx import helper

    g = helper.make_graph([helper.make_node("LayerNormalization", ["x", "s", "b"], ["y", "mean", "inv"], axis=1,
                                            epsilon=1e-3)], "g",
                          [helper.make_tensor_value_info("x", T.DOUBLE, ("N", 3, 2))],
                          [helper.make_tensor_value_info(n, T.DOUBLE, None) for n in ("y", "mean", "inv")],
                          [onnx.numpy_helper.from_array(np.arange(1.0, 7.0).reshape(3, 2), "s"),
                           onnx.numpy_helper.from_array(np.ones((3, 2)), "b")])
    net = wb.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    for got, want in zip(net(x), net.origin.evaluate(x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


class Masked(nn.Module):
    """Constant attention masks: causal, boolean (both conventions) and additive float."""

    def __init__(self, n=5):
        super().__init__()
        torch.manual_seed(2)
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        blocked = torch.rand(n, n) > 0.5
        blocked.fill_diagonal_(False)
        self.register_buffer("blocked", blocked)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(n))

    def forward(self, x):
        sdpa = nn.functional.scaled_dot_product_attention
        return (sdpa(x, x, x, is_causal=True), sdpa(x, x, x, attn_mask=~self.blocked),
                self.mha(x, x, x, attn_mask=self.blocked)[0], self.enc(x, mask=self.causal, is_causal=True))


@pytest.mark.woxi
def test_constant_attention_masks_check_in_woxi():
    pytest.importorskip("woxi")
    m = Masked().double().eval()
    net = wb.from_torch(m, (5, 8))
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    for got, want in zip(net(x.numpy()), m(x)):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-13)
    assert net.check(engine="woxi", samples=2).passed


def test_flip_and_negative_onnx_slice_steps():
    class Flip(nn.Module):
        def forward(self, x):
            return torch.cat([x.flip(2), torch.flip(x, [1, 2])], 1)

    x = torch.randn(2, 3, 4, dtype=torch.float64)
    net = wb.from_torch(Flip(), (3, 4))
    np.testing.assert_array_equal(net(x.numpy()), Flip()(x).numpy())
    assert "-1" in net.to_wl()
