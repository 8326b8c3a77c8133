"""One shape per model (issue 16.4): the same transformer, LSTM classifier and CNN converted from torch
(``from_torch``), ``.pt2`` (torch.export with a static example batch of 1) and ONNX (dynamo and legacy
exporters) have the same signature (port shapes and dtypes; names aside), the same name (the module's class; the
legacy ONNX exporter records no module: its graph is main_graph) and outputs."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import wlbridge as wb

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytestmark = [pytest.mark.torch, pytest.mark.onnx]
nn = torch.nn


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.lstm, self.fc = nn.Embedding(50, 8), nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 3)

    def forward(self, tok):
        _, (h, _) = self.lstm(self.emb(tok))
        return self.fc(h[-1])


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
        self.enc, self.fc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False), nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.enc(x).mean(dim=1))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 2))


MODELS = {"transformer": (Transformer, (6, 16), torch.float32, "(f32[6,16]) -> f32[2]"),
          "lstm": (LSTMClassifier, (12,), torch.long, "(i64[12]) -> f32[3]"),
          "cnn": (_cnn, (1, 8, 8), torch.float32, "(f32[1,8,8]) -> f32[2]")}


def signature(net) -> str:
    """The first line of ``str(net)`` without names: ``(f32[6,16]) -> f32[2]``."""
    line = str(net).splitlines()[0]
    return re.sub(r"[\w.]+: ", "", line[line.index("("):])


def _sample(shape, dtype, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 50, (n, *shape), generator=g) if dtype == torch.long else torch.randn(n, *shape, generator=g)


@pytest.mark.parametrize("name", MODELS)
def test_every_route_gives_the_same_signature_and_outputs(name, tmp_path):
    make, shape, dtype, expect = MODELS[name]
    torch.manual_seed(0)
    module = make().eval()
    x1 = _sample(shape, dtype, 1, 1)  # the exporters' example: a static batch of 1
    torch.export.save(torch.export.export(module, (x1,)), tmp_path / "m.pt2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x1,), tmp_path / "dynamo.onnx", dynamo=True, verbose=False)
        torch.onnx.export(module, (x1,), tmp_path / "legacy.onnx", dynamo=False)
    nets = {"from_torch": wb.from_torch(module, shape, dtype=dtype),
            **{f: wb.load(tmp_path / f) for f in ("m.pt2", "dynamo.onnx", "legacy.onnx")}}
    assert {route: signature(net) for route, net in nets.items()} == dict.fromkeys(nets, expect)
    cls = type(module).__name__  # the module's name; the legacy exporter records no module
    assert {route: net.name for route, net in nets.items()} == {"from_torch": cls, "m.pt2": cls, "dynamo.onnx": cls,
                                                               "legacy.onnx": "main_graph"}
    xs = _sample(shape, dtype, 4, 2)
    with torch.no_grad():
        ref = module(xs).numpy()
    for route, net in nets.items():
        got = net(xs.numpy())
        assert got.shape == (4, *net.output_shape) == ref.shape, route
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5, err_msg=route)
        if net.origin is not None:  # the source evaluator takes the same batches (one sample at a time inside)
            np.testing.assert_allclose(net.origin.evaluate(xs.numpy())[0], ref, rtol=1e-5, atol=1e-6, err_msg=route)


def test_a_genuine_size_one_axis_that_the_outputs_drop_stays():
    """Leading 1s on the inputs but not on every output: not the batch axis, the sample stays whole."""
    from wlbridge.frontends.batchaxis import leading_one_as_batch

    b = wb.NetBuilder("keep")
    x = b.input("x", (1, 3))
    net = b.build([b.layer("reshape", [x], attrs={"shape": (3,)})])
    assert leading_one_as_batch(net, None) is net
    b = wb.NetBuilder("drop")
    x = b.input("x", (1, 3))
    y = b.layer("elementwise", [x], attrs={"fn": "tanh"})
    out = leading_one_as_batch(b.build([y]), None)
    assert signature(out) == "(f32[3]) -> f32[3]"
    np.testing.assert_allclose(out(np.array([[0.5, -1.0, 2.0]])), np.tanh([[0.5, -1.0, 2.0]]), rtol=1e-15)
