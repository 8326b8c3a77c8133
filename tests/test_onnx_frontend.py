"""ONNX front end: hand-built models for the op semantics, torch exports for the round trip."""
from __future__ import annotations

import io
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

import wlbridge as wb  # noqa: E402
from wlbridge.frontends.onnx.context import BatchAxisError  # noqa: E402

pytestmark = pytest.mark.onnx
RNG = np.random.default_rng(0)


def model(nodes, inputs, outputs, inits=(), opset=17):
    """A model from nodes; inputs/outputs as (name, shape) pairs (float32), inits as (name, array)."""
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, T.FLOAT, s) for n, s in inputs],
                          [helper.make_tensor_value_info(n, T.FLOAT, s) for n, s in outputs],
                          [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def ort_run(proto, *xs):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})[0]


# ---- Gemm -------------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha,beta,trans_b,c_shape", [
    (1.0, 1.0, 0, (4,)), (0.5, 2.0, 1, (1, 4)), (-1.5, 0.25, 0, ()), (2.0, 1.0, 1, None)])
def test_gemm_attrs(alpha, beta, trans_b, c_shape):
    a, b = f32(5, 3), f32(*((4, 3) if trans_b else (3, 4)))
    inits = [("B", b)] + ([] if c_shape is None else [("C", f32(*c_shape))])
    node = helper.make_node("Gemm", ["a", "B"] + ([] if c_shape is None else ["C"]), ["y"],
                            alpha=alpha, beta=beta, transB=trans_b)
    m = model([node], [("a", ["N", 3])], [("y", ["N", 4])], inits)
    net = wb.from_onnx(m)
    assert [layer.op for layer in net.layers] == ["linear"]
    bb = (b.T if trans_b else b).astype(np.float64)
    c = 0.0 if c_shape is None else inits[1][1].astype(np.float64)
    want = alpha * a.astype(np.float64) @ bb + beta * c
    np.testing.assert_allclose(net(a), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net(a), ort_run(m, a), rtol=1e-5, atol=1e-6)
    assert net.origin.name == "onnxruntime"
    np.testing.assert_allclose(net.origin.evaluate(a)[0], ort_run(m, a), rtol=0, atol=0)


def test_gemm_trans_a_needs_a_sample_without_batch_axis():
    a, b, c = f32(3, 5), f32(3, 4), f32(5, 4)
    node = helper.make_node("Gemm", ["a", "B", "C"], ["y"], transA=1)
    m = model([node], [("a", [3, 5])], [("y", [5, 4])], [("B", b), ("C", c)])
    with pytest.raises(BatchAxisError, match="transA"):
        wb.from_onnx(m, batch_axis=True)
    net = wb.from_onnx(m)  # auto: falls back to one sample without batch axis
    assert net.input_shape == (3, 5)
    np.testing.assert_allclose(net(a), a.T.astype(np.float64) @ b + c, rtol=1e-6)
    np.testing.assert_allclose(net(a), ort_run(m, a), rtol=1e-5, atol=1e-6)


# ---- Softmax / LogSoftmax axis semantics ------------------------------------------------------

@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_axis_semantics_per_opset(op):
    x = f32(2, 3, 4) * 3
    outs = {}
    for opset in (11, 13):
        m = model([helper.make_node(op, ["x"], ["y"], axis=1)], [("x", ["N", 3, 4])], [("y", ["N", 3, 4])],
                  opset=opset)
        net = wb.from_onnx(m)
        outs[opset] = net(x)
        np.testing.assert_allclose(outs[opset], ort_run(m, x), rtol=1e-5, atol=1e-6)
    x64 = x.astype(np.float64)
    flat = x64.reshape(2, 12)  # opset 11: coerced to 2-D at axis 1
    z = flat - flat.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    want11 = (z - lse if op == "LogSoftmax" else np.exp(z - lse)).reshape(2, 3, 4)
    np.testing.assert_allclose(outs[11], want11, rtol=1e-12, atol=1e-14)
    z = x64 - x64.max(1, keepdims=True)  # opset 13: the single axis 1
    lse = np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(outs[13], z - lse if op == "LogSoftmax" else np.exp(z - lse), rtol=1e-12, atol=1e-14)
    assert np.abs(outs[11] - outs[13]).max() > 0.1


# ---- batch axis, errors -----------------------------------------------------------------------

def test_constants_lose_the_batch_axis():
    c = f32(1, 4)
    m = model([helper.make_node("Mul", ["x", "c"], ["y"])], [("x", ["N", 4])], [("y", ["N", 4])], [("c", c)])
    net = wb.from_onnx(m)
    assert net.input_shape == (4,) and net.layers[0].params["value"].shape == (4,)
    x = f32(3, 4)
    np.testing.assert_allclose(net(x), x.astype(np.float64) * c, rtol=1e-12)


@pytest.mark.parametrize("elem, dtype", [(T.DOUBLE, np.float64), (T.FLOAT, np.float32), (T.FLOAT16, np.float16)])
def test_weightless_net_has_the_declared_input_dtype(elem, dtype):
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Softmax", ["h"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", elem, ["N", 4])],
                          [helper.make_tensor_value_info("y", elem, ["N", 4])])
    net = wb.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert net.param_count == 0 and net.dtype == dtype and net.inputs[0].dtype == np.dtype(dtype).name


def test_rank1_input_has_no_batch_axis():
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=0)], [("x", [5])], [("y", [5])])
    net = wb.from_onnx(m)
    assert net.input_shape == (5,)
    x = f32(5)
    np.testing.assert_allclose(net(x), ort_run(m, x), rtol=1e-5)


def test_softmax_over_batch_axis_is_refused_with_batch_axis_true():
    m = model([helper.make_node("Softmax", ["x"], ["y"], axis=0)], [("x", [4, 5])], [("y", [4, 5])])
    with pytest.raises(BatchAxisError, match=r"Softmax_0 \(Softmax, opset 17\).*batch axis"):
        wb.from_onnx(m, batch_axis=True)
    net = wb.from_onnx(m, batch_axis=False)
    x = f32(4, 5)
    np.testing.assert_allclose(net(x), ort_run(m, x), rtol=1e-5)


def test_dynamic_shape_is_a_clear_error():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [("x", ["N", "M"])], [("y", ["N", "M"])])
    with pytest.raises(wb.ConversionError, match=r"input 'x' has a dynamic shape \['N', 'M'\]"):
        wb.from_onnx(m)


def test_unsupported_ops_are_listed_at_once():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/blk0/Relu"),
             helper.make_node("Hardmax", ["a"], ["b"], name="/blk1/Hardmax"),
             helper.make_node("TopK", ["a", "k"], ["c", "i"], name="/blk2/TopK"),
             helper.make_node("Add", ["b", "c"], ["y"], name="/head/Add")]
    m = model(nodes, [("x", ["N", 4])], [("y", ["N", 2])], [("k", np.array([2], np.int64))], opset=20)
    with pytest.raises(wb.UnsupportedLayerError) as e:
        wb.from_onnx(m)
    assert [(p, op) for p, op, _ in e.value.items] == [("/blk1/Hardmax", "Hardmax, opset 20"),
                                                       ("/blk2/TopK", "TopK, opset 20")]
    assert str(e.value).startswith("onnx: 2 unsupported layers: /blk1/Hardmax (Hardmax, opset 20)")


def test_product_of_a_batch_and_a_fixed_input_is_unsupported_with_reason():
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], [("x", ["N", 3]), ("w", [3, 2])],
              [("y", ["N", 2])])
    with pytest.raises(wb.UnsupportedLayerError, match=r"mm \(MatMul, opset 17\): MatMul of \[-1, 3\] and"):
        wb.from_onnx(m)
    w = f32(3, 2)
    net = wb.from_onnx(m, constants={"w": w})
    x = f32(2, 3)
    np.testing.assert_allclose(net(x), x.astype(np.float64) @ w, rtol=1e-12)


def test_unknown_setting_and_bad_file(tmp_path):
    with pytest.raises(TypeError):
        wb.from_onnx(model([], [("x", [1])], [("x", [1])]), input_shape=(3,))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08not a model at all")
    with pytest.raises(wb.FormatError, match="bad.onnx"):
        wb.load(bad)


# ---- external data, origin fallback -----------------------------------------------------------

def test_external_data_loads_from_the_models_folder(tmp_path):
    w, b = f32(6, 5), f32(6)
    m = model([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], [("x", ["N", 5])], [("y", ["N", 6])],
              [("W", w), ("b", b)])
    path = tmp_path / "sub" / "m.onnx"
    path.parent.mkdir()
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.onnx.data", size_threshold=0)
    assert (path.parent / "m.onnx.data").exists()
    net = wb.load(path)
    assert net.layers[0].params["weight"].dtype == np.float32
    np.testing.assert_array_equal(net.layers[0].params["weight"], w)
    x = f32(4, 5)
    np.testing.assert_allclose(net(x), x.astype(np.float64) @ w.T.astype(np.float64) + b, rtol=1e-12)
    with pytest.raises(wb.FormatError, match="external data that is not loaded"):
        wb.from_onnx(onnx.load(str(path), load_external_data=False))
    (path.parent / "m.onnx.data").unlink()
    with pytest.raises(wb.FormatError, match="external data"):
        wb.load(path)


def test_opset6_model_falls_back_to_onnx_reference():
    import glob
    import os

    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "pytorch-converted", "test_Linear")
    net = wb.load(os.path.join(root, "model.onnx"))
    x = numpy_helper.to_array(onnx.load_tensor(glob.glob(os.path.join(root, "test_data_set_0", "input_0.pb"))[0]))
    y = numpy_helper.to_array(onnx.load_tensor(glob.glob(os.path.join(root, "test_data_set_0", "output_0.pb"))[0]))
    assert net.origin.name in ("onnx.reference", "onnxruntime")
    np.testing.assert_allclose(net(x), y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.origin.evaluate(x)[0], y, rtol=1e-6, atol=1e-7)


def test_registry_rejects_duplicates():
    from wlbridge.frontends.onnx.registry import lookup, rule

    lookup("Relu", 17)  # rules are loaded
    with pytest.raises(ValueError, match="duplicate ONNX rule for Gemm since opset 1"):
        rule("Gemm", 1)(lambda ctx, node, ins: None)


def test_comparison_and_where_fuse_into_one_scalar_fn():
    nodes = [helper.make_node("Greater", ["x", "t"], ["c"]), helper.make_node("Exp", ["x"], ["e"]),
             helper.make_node("Where", ["c", "x", "e"], ["y"])]
    m = model(nodes, [("x", ["N", 3])], [("y", ["N", 3])], [("t", np.array(0.5, np.float32))])
    net = wb.from_onnx(m)
    assert [layer.op for layer in net.layers] == ["elementwise", "scalar_fn"]
    x = f32(4, 3)
    np.testing.assert_allclose(net(x), np.where(x > 0.5, x, np.exp(x.astype(np.float64))), rtol=1e-12)


# ---- round trip: torch -> ONNX -> wlbridge ----------------------------------------------------

def _torch_zoo():
    """Each activation applied to the same hidden layer, concatenated, then a linear head."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Zoo(nn.Module):
        def __init__(self, legacy: bool):
            super().__init__()
            self.inp = nn.Linear(3, 4)
            self.acts = nn.ModuleList([
                nn.ReLU(), nn.LeakyReLU(0.1), nn.ELU(0.5), nn.SELU(), nn.CELU(0.7), nn.Sigmoid(), nn.Tanh(),
                nn.Softplus() if legacy else nn.Softplus(beta=2.0, threshold=3.0), nn.Softsign(), nn.GELU(),
                nn.GELU(approximate="tanh"), nn.Mish(), nn.Hardsigmoid(), nn.Hardswish(), nn.SiLU(),
                nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.PReLU(4), nn.LogSigmoid(), nn.Tanhshrink(), nn.Dropout()])
            self.out = nn.Linear(4 * len(self.acts), 3)

        def forward(self, x):
            h = self.inp(x) * 3.0
            return torch.log_softmax(self.out(torch.cat([a(h) for a in self.acts], dim=1)), dim=1)

    return Zoo


def _torch_cnn(dynamo: bool):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    tail = [nn.AdaptiveAvgPool2d(1)] if dynamo else [nn.AvgPool2d(2, ceil_mode=True)]
    layers = [nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(4, 4, 3, stride=1, padding=1, groups=2, bias=False), nn.BatchNorm2d(4), nn.Tanh(),
              *tail, nn.Flatten(), nn.Linear(4 if dynamo else 16, 5), nn.Softmax(dim=1)]
    m = nn.Sequential(*layers)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for bn in (m[1], m[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return m.eval()


def _export(module, x, path, dynamo: bool, opset: int):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    kw = {} if dynamo else {"dynamic_axes": {"x": {0: "N"}}}
    if dynamo:
        pytest.importorskip("onnxscript")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), input_names=["x"], opset_version=opset, dynamo=dynamo, **kw)
    return path


@pytest.mark.torch
@pytest.mark.parametrize("dynamo,opset", [(False, 17), pytest.param(True, 18, marks=pytest.mark.slow)],
                         ids=["legacy-17", "dynamo-18"])
def test_torch_mlp_activation_zoo_round_trip(tmp_path, dynamo, opset):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = _torch_zoo()(legacy=not dynamo).eval()
    x = torch.randn(6, 3)
    net = wb.load(_export(module, x, tmp_path / "zoo.onnx", dynamo, opset))
    assert net.input_shape == (3,) and net.output_shape == (3,)
    want = module(x).detach().numpy()
    xs = x.numpy()
    np.testing.assert_allclose(net(xs.astype(np.float64)), want, rtol=1e-5, atol=2e-6)
    assert net.origin.name == "onnxruntime"
    np.testing.assert_allclose(net(xs), net.origin.evaluate(xs)[0], rtol=1e-5, atol=2e-6)


@pytest.mark.torch
@pytest.mark.parametrize("dynamo,opset", [(False, 17), pytest.param(True, 18, marks=pytest.mark.slow)],
                         ids=["legacy-17", "dynamo-18"])
def test_torch_cnn_round_trip(tmp_path, dynamo, opset):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    module = _torch_cnn(dynamo)
    x = torch.randn(2, 2, 8, 8)
    net = wb.load(_export(module, x, tmp_path / "cnn.onnx", dynamo, opset))
    assert (tmp_path / "cnn.onnx.data").exists() == dynamo  # torch 2.13's exporter writes a sidecar
    ops = [layer.op for layer in net.layers]
    assert net.input_shape == (2, 8, 8) and net.output_shape == (5,)
    assert {"conv", "linear", "softmax"} <= set(ops)  # the exporters may fold batch norm into conv
    xs = torch.randn(3, 2, 8, 8)  # another batch size than exported with
    want = module(xs).detach().numpy()
    np.testing.assert_allclose(net(xs.numpy().astype(np.float64)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net(xs.numpy()), net.origin.evaluate(xs.numpy())[0], rtol=1e-5, atol=1e-6)


def test_from_onnx_takes_the_serialized_bytes():
    """``wb.from_onnx(f.getvalue())`` as ``wb.from_onnx(onnx.load_from_string(...))``; junk bytes: a FormatError."""
    pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh()).double().eval()
    f = io.BytesIO()
    torch.onnx.export(m, torch.zeros(1, 3, dtype=torch.float64), f, dynamo=False)
    net = wb.from_onnx(f.getvalue())
    x = np.random.default_rng(2).normal(size=(4, 3))
    with torch.no_grad():
        np.testing.assert_allclose(net(x), m(torch.tensor(x)).numpy(), rtol=1e-14)
    np.testing.assert_allclose(net.origin.evaluate(x)[0], net(x), rtol=1e-14)
    with pytest.raises(wb.FormatError, match="not an ONNX model"):
        wb.from_onnx(b"\x00garbage\xff" * 10)
