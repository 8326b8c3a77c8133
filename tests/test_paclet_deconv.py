"""The paclet's DeconvolutionLayer and ResizeLayer rules in the embedded engines: its Function equals wlbridge's
Python reading of the same association (layers_misc.py ``_deconvolution``, layers_resize.py) on samples.
Deconvolutions come from torch ``ConvTranspose`` through ``from_torch`` and the wlnet writer (the association
``save_wlnet`` writes); Resize layers are read only, so theirs are built by hand."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc
from wlbridge.frontends.wolfram.netwriter import assoc_from_net

from .paclet_nets import wl_text
from .test_paclet import _check_shared, mathics, woxi  # noqa: F401 - the engine fixtures
from .test_wolfram_seq import _chain, _node


# ---- Deconvolution: torch ConvTranspose -> IR -> the written DeconvolutionLayer ------------------------

UP2 = dict(stride=2, padding=1, output_padding=1, groups=2)
DECONVS = {  # name: (input dims, output channels, ConvTranspose keywords)
    "1d_stride2_pad1_outpad1_groups2": ((4, 5), 4, dict(kernel_size=3, **UP2)),
    "1d_stride3_crop": ((2, 4), 3, dict(kernel_size=2, stride=3, padding=1)),
    "2d_stride2_pad1_outpad1_groups2": ((4, 3, 4), 2, dict(kernel_size=3, **UP2)),
    "2d_dilation_asym_kernel": ((2, 3, 2), 3, dict(kernel_size=(2, 3), stride=(1, 2), padding=(0, 1), dilation=2)),
    "2d_nobias": ((2, 2, 3), 2, dict(kernel_size=2, bias=False)),
    "3d_stride2": ((2, 2, 2, 3), 2, dict(kernel_size=2, stride=2, padding=(1, 0, 1), output_padding=(1, 0, 1))),
}
# Mathics3 (pure Python) is slow: one tiny case per layer
MATHICS_DECONV = ((2, 2, 2), 2, dict(kernel_size=2, stride=2, padding=(1, 0), output_padding=(1, 0), groups=2))


def deconv_assoc(dims, out_channels, kw, seed=5):
    """The association ``save_wlnet`` writes for a torch ConvTranspose (one DeconvolutionLayer) and its IR net."""
    torch = pytest.importorskip("torch")
    cls = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)[len(dims) - 2]
    torch.manual_seed(seed)
    m = cls(dims[0], out_channels, **kw).double().eval()
    assoc = assoc_from_net(wb.from_torch(m, input_shape=dims))
    assert [n["Type"] for n in assoc["Nodes"].values()] == ["Deconvolution"]
    return assoc, m


def _check_deconv(engine, dims, out_channels, kw, n):
    """The paclet against the Python reading of the written association, which is checked against torch."""
    torch = pytest.importorskip("torch")
    assoc, m = deconv_assoc(dims, out_channels, kw)
    net = net_from_assoc(assoc, source="deconv")
    x = np.random.default_rng(1).normal(size=(2, *dims))
    with torch.no_grad():
        np.testing.assert_allclose(net(x), m(torch.tensor(x)).numpy(), rtol=1e-12, atol=1e-13)
    _check_shared(engine, assoc, net, "Compact", n)


@pytest.mark.woxi
@pytest.mark.parametrize("name", list(DECONVS))
def test_deconvolution_woxi(woxi, name):
    _check_deconv(woxi, *DECONVS[name], 2)


@pytest.mark.woxi
def test_deconvolution_expanded_woxi(woxi):
    assoc, _ = deconv_assoc((2, 3), 2, dict(kernel_size=2, stride=2, padding=1, output_padding=1, groups=2))
    _check_shared(woxi, assoc, net_from_assoc(assoc, source="deconv"), "Expanded", 2)


@pytest.mark.mathics
def test_deconvolution_mathics(mathics):
    _check_deconv(mathics, *MATHICS_DECONV, 1)


# ---- Resize: hand-built ResizeLayer associations -----------------------------------------------------------

ALL = Symbol("All")


def scaled(r):
    return call("Scaled", r)


def resize_assoc(spec, ins, out, **params):
    return _chain([_node("Resize", {"Specification": call("ValidatedParameter", spec), **params}, ins, out)], ins, out)


RESIZES = {  # name: (spec, input dims, output dims, parameters)
    "linear_1d_size": ([7], (2, 3), (2, 7), {}),
    "linear_1d_scaled": ([scaled(3.5)], (2, 3), (2, 11), {"Resampling": "Linear"}),
    "linear_2d_mixed": ([5, scaled(2.5)], (2, 2, 3), (2, 5, 8), {}),
    "linear_2d_all": ([6, ALL], (1, 3, 2), (1, 6, 2), {}),
    "linear_2d_down_to_one": ([scaled(call("Rational", 1, 2)), 1], (2, 5, 3), (2, 3, 1), {}),
    "linear_interleaved": ([4, 3], (3, 2, 2), (4, 3, 2), {"Interleaving": Symbol("True")}),
    "linear_upsample_x2": ([scaled(2), scaled(2)], (2, 3, 3), (2, 6, 6), {"Resampling": "Linear"}),
    "nearest_2d_x2": ([scaled(2), scaled(2)], (2, 2, 3), (2, 4, 6), {"Resampling": "Nearest"}),
    "nearest_1d_x3": ([scaled(3)], (2, 4), (2, 12), {"Resampling": "Nearest"}),
    "nearest_2d_x2_x3": ([scaled(2), scaled(3)], (1, 2, 2), (1, 4, 6), {"Resampling": "Nearest"}),
    "nearest_interleaved": ([scaled(2), scaled(2)], (2, 3, 2), (4, 6, 2),
                            {"Resampling": "Nearest", "Interleaving": Symbol("True")}),
}
MATHICS_RESIZE = ([scaled(2), 3], (1, 2, 2), (1, 4, 3), {})


@pytest.mark.woxi
@pytest.mark.parametrize("name", list(RESIZES))
def test_resize_woxi(woxi, name):
    spec, ins, out, params = RESIZES[name]
    assoc = resize_assoc(spec, ins, out, **params)
    _check_shared(woxi, assoc, net_from_assoc(assoc, source=name), "Compact", 2)


@pytest.mark.woxi
def test_resize_expanded_woxi(woxi):
    assoc = resize_assoc([4, scaled(2)], (1, 2, 2), (1, 4, 4))
    _check_shared(woxi, assoc, net_from_assoc(assoc, source="resize"), "Expanded", 2)


@pytest.mark.woxi
def test_upsample_bilinear_align_corners_is_the_read_resize(woxi):
    """torch ``nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)`` = the Linear ResizeLayer read."""
    torch = pytest.importorskip("torch")
    assoc = resize_assoc([scaled(2), scaled(2)], (2, 3, 4), (2, 6, 8))
    x = np.random.default_rng(2).normal(size=(2, 2, 3, 4))
    up = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    net = net_from_assoc(assoc, source="up")
    np.testing.assert_allclose(net(x), up(torch.tensor(x)).numpy(), rtol=1e-13, atol=1e-14)
    _check_shared(woxi, assoc, net, "Compact", 2)


@pytest.mark.mathics
def test_resize_mathics(mathics):
    spec, ins, out, params = MATHICS_RESIZE
    assoc = resize_assoc(spec, ins, out, **params)
    _check_shared(mathics, assoc, net_from_assoc(assoc, source="resize"), "Compact", 1)


@pytest.mark.woxi
@pytest.mark.parametrize("params,reason", [({"Resampling": "Nearest"}, "integer k"),
                                           ({"Resampling": "Linear", "Scheme": "Bin"}, "Scheme"),
                                           ({"Resampling": "Cubic"}, "Cubic")])
def test_unsupported_resize_gives_the_paclets_message(woxi, params, reason):
    r, msgs = woxi.run(f"NetAssociationToFunction[{wl_text(resize_assoc([6], (2, 3), (2, 6), **params), woxi.number)}]")
    assert str(r).endswith("$Failed")
    assert len(msgs) == 1 and "1 unsupported layer(s): Nodes/1 (Resize): " in msgs[0] and reason in msgs[0], msgs


@pytest.mark.woxi
@pytest.mark.parametrize("change,reason", [
    ({"Parameters": {"Interleaving": Symbol("True")}}, "Interleaving -> True"),
    ({"Arrays": {"Weights": np.ones((2, 2, 2, 2))}}, "Weights have the wrong rank"),
    ({"Parameters": {"ChannelGroups": 3}}, "ChannelGroups"),
])
def test_refused_deconvolution_gives_the_paclets_message(woxi, change, reason):
    assoc, _ = deconv_assoc((2, 3), 2, dict(kernel_size=2, stride=2))
    node = assoc["Nodes"]["1"]
    for key, value in change.items():
        node[key] = {**node[key], **value}
    r, msgs = woxi.run(f"NetAssociationToFunction[{wl_text(assoc, woxi.number)}]")
    assert str(r).endswith("$Failed")
    assert len(msgs) == 1 and "1 unsupported layer(s): Nodes/1 (Deconvolution): " in msgs[0] and reason in msgs[0], msgs
