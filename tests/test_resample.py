"""Padding, resizing and transposed convolution (issue 10) from torch and ONNX, against torch's forward."""
from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import wlbridge as wb  # noqa: E402

pytestmark = [pytest.mark.torch]
SHAPE = (3, 4, 5)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


CASES = {
    "pad_constant": lambda: Fn(lambda x: F.pad(x, (2, 1, 1, 0), value=0.5)),
    "pad_crop": lambda: Fn(lambda x: F.pad(x, (1, -2, -1, 1))),
    "pad_reflect": lambda: nn.ReflectionPad2d((1, 2, 3, 0)),
    "pad_replicate": lambda: nn.ReplicationPad2d(2),
    "pad_circular": lambda: Fn(lambda x: F.pad(x, (1, 2, 0, 1), mode="circular")),
    "nearest_scale": lambda: nn.Upsample(scale_factor=2),
    "nearest_size": lambda: Fn(lambda x: F.interpolate(x, size=(7, 3))),
    "bilinear": lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
    "bilinear_align": lambda: Fn(lambda x: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=True)),
    "bilinear_down": lambda: Fn(lambda x: F.interpolate(x, scale_factor=0.6, mode="bilinear")),
    "conv_transpose": lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
    "conv_transpose_groups": lambda: nn.ConvTranspose2d(3, 6, (2, 3), stride=(1, 3), padding=(0, 2), groups=3,
                                                        dilation=(2, 1)),
    "conv_transpose_1d": lambda: Fn(lambda x: F.conv_transpose1d(x.flatten(2), torch.ones(3, 2, 3, dtype=x.dtype),
                                                                 stride=2)),
}


# the exporter spells these with Slice of a variable (the slicing ops of issue 10's other half)
ONNX_SLICES = {"conv_transpose_1d", "pad_circular", "pad_crop"}


def _module(name):
    torch.manual_seed(0)
    return CASES[name]().double().eval()


@pytest.mark.parametrize("name", CASES)
def test_torch_matches_forward(name):
    m = _module(name)
    net = wb.from_torch(m, SHAPE)
    x = np.random.default_rng(1).normal(size=(3, *SHAPE))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-13)


@pytest.mark.onnx
@pytest.mark.parametrize("name", [n for n in CASES if n not in ONNX_SLICES])
def test_onnx_export_matches_torch(name):
    onnx = pytest.importorskip("onnx")
    m = _module(name).float()
    f = io.BytesIO()
    torch.onnx.export(m, torch.zeros(1, *SHAPE), f, dynamo=False)
    net = wb.from_onnx(onnx.load_from_string(f.getvalue()), origin=False)
    x = np.random.default_rng(2).normal(size=(3, *SHAPE)).astype(np.float32)
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.onnx
def test_onnx_resize_coordinate_modes_against_onnx_reference():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    x = np.random.default_rng(3).normal(size=(2, 3, 4, 5))
    for mode, coord, nearest in [("nearest", "half_pixel", "round_prefer_floor"), ("nearest", "asymmetric", "ceil"),
                                 ("linear", "half_pixel", "floor"), ("linear", "align_corners", "floor"),
                                 ("linear", "asymmetric", "floor"), ("nearest", "pytorch_half_pixel", "round_prefer_ceil")]:
        sizes = numpy_helper.from_array(np.array([2, 3, 7, 3], dtype=np.int64), "sizes")
        node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode,
                                coordinate_transformation_mode=coord, nearest_mode=nearest)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 3, 4, 5])],
                                  [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], [sizes])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        want = ReferenceEvaluator(model).run(None, {"x": x})[0]
        net = wb.from_onnx(model, origin=False)
        np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-13, err_msg=f"{mode} {coord} {nearest}")


@pytest.mark.woxi
def test_decoder_compact_checks_in_woxi_and_sympy():
    pytest.importorskip("woxi")
    torch.manual_seed(0)
    m = nn.Sequential(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                      nn.ReflectionPad2d(1), nn.Upsample(scale_factor=2, mode="bilinear")).double().eval()
    report = wb.from_torch(m, (3, 3, 2)).check(engine="woxi", samples=4)
    assert report.passed, str(report)
    assert report.max_rel_err <= 1e-12
