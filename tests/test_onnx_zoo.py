"""The public-shaped ONNX zoo (tests/onnx_zoo.py): every net converts, matches onnxruntime to float32
rounding at another batch size than exported with, passes the Woxi check, and ``info`` names its opset,
producer and symbolic batch axis."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.onnx, pytest.mark.torch]

from tests import onnx_zoo  # noqa: E402

import wlbridge as wb  # noqa: E402
from wlbridge.cli import describe  # noqa: E402

CASES = [pytest.param(name, exporter, opset, id=f"{name}-{exporter}-{opset}",
                      marks=[pytest.mark.slow] if exporter == "dynamo" else [])
         for name, entry in onnx_zoo.ZOO.items() for exporter, opset in entry.exports]
# the exporter itself changes the function here: opsets 9 and 10 write bilinear interpolation as Upsample /
# Resize-10 "linear", whose coordinates are asymmetric (torch: half-pixel); wlbridge follows the file (onnxruntime)
NOT_TORCH = {("generator", "legacy", 9), ("generator", "legacy", 10)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    done = {}

    def get(name, exporter, opset):
        key = (name, exporter, opset)
        if key not in done:
            path = tmp_path_factory.mktemp("zoo") / f"{name}-{exporter}-{opset}.onnx"
            done[key] = onnx_zoo.export(name, exporter, opset, path)
        return done[key]
    return get


@pytest.mark.parametrize("name,exporter,opset", CASES)
def test_zoo_net_matches_onnxruntime_and_passes_woxi(exported, name, exporter, opset):
    module, path = exported(name, exporter, opset)
    net = wb.load(path)
    shape = onnx_zoo.ZOO[name].input_shape
    assert net.input_shape == shape  # the batch axis is kept apart
    torch.manual_seed(10)
    x = torch.randn(5, *shape)  # exported with batch 2
    got = net(x.numpy().astype(np.float64))
    np.testing.assert_allclose(got, net.origin.evaluate(x.numpy())[0], rtol=1e-5, atol=1e-6)
    if (name, exporter, opset) not in NOT_TORCH:
        np.testing.assert_allclose(got, module(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    report = net.check(engine="woxi", samples=3)
    assert report.passed, report.verdict


@pytest.mark.parametrize("name,exporter,opset", [c for c in CASES if c.values[1] == "legacy"][:2])
def test_info_names_opset_producer_and_symbolic_batch(exported, name, exporter, opset):
    _, path = exported(name, exporter, opset)
    net = wb.load(path)
    text = describe(net)
    assert f"opsets:      ai.onnx {opset}" in text
    assert f"producer:    pytorch {torch.__version__.split('+')[0]}" in text
    assert "symbolic:    x[0] = batch_size" in text
    assert net.meta["data_dependent"] == [] and "data-dependent:" not in text


@pytest.mark.parametrize("name", ["vit", "control"])
def test_zoo_net_exported_with_a_fixed_batch_of_two_converts_per_sample(tmp_path, name):
    """Without dynamic_axes the class token is Expand-ed (the zeros built) to batch 2: a constant equal in
    every sample of the fixed batch is one sample's constant."""
    module, path = onnx_zoo.export(name, "legacy", 11, tmp_path / f"{name}.onnx", dynamic=False)
    net = wb.load(path)
    assert net.input_shape == onnx_zoo.ZOO[name].input_shape
    torch.manual_seed(11)
    x = torch.randn(2, *net.input_shape)
    np.testing.assert_allclose(net(x.numpy().astype(np.float64)), module(x).detach().numpy(), rtol=1e-5, atol=1e-6)
