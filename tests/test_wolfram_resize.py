"""ResizeLayer read (align_corners bilinear = MXNet SpatialTransformer; nearest = MXNet UpSampling) and the
``log_softmax`` / ``adaptive_pool`` writers (NetGraphs of their parts, or one PoolingLayer) read back exactly."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc
from wlbridge.frontends.wolfram.netwriter import assoc_from_net
from wlbridge.frontends.wolfram.wlnet import load_wlnet

from .cases import CASE_BY_NAME
from .test_wolfram_seq import _chain, _node

ALL = Symbol("All")
G = np.random.default_rng(31)


def scaled(r):
    return call("Scaled", r)


def resize_net(spec, ins, out, **params):
    node = _node("Resize", {"Specification": call("ValidatedParameter", spec), **params}, ins, out)
    return net_from_assoc(_chain([node], ins, out), source="resize.wlnet")


def mxnet_bilinear(x, out_hw):
    """MXNet SpatialTransformer, identity affine, as its CPU code reads: target grid -1 + k 2/(out - 1),
    source (g + 1)(in - 1)/2, bilinear weights, neighbours past the edge count 0; x is {batch, c, h, w}."""
    (ih, iw), (oh, ow) = x.shape[2:], out_hw
    y = np.zeros(x.shape[:2] + (oh, ow))
    for h in range(oh):
        for w in range(ow):
            yr = (-1 + h * 2.0 / (oh - 1) + 1) * (ih - 1) / 2
            xr = (-1 + w * 2.0 / (ow - 1) + 1) * (iw - 1) / 2
            ty, tx = int(np.floor(yr)), int(np.floor(xr))
            wy, wx = 1.0 - (yr - ty), 1.0 - (xr - tx)
            for dy, dx, wt in ((0, 0, wy * wx), (0, 1, wy * (1 - wx)),
                               (1, 0, (1 - wy) * wx), (1, 1, (1 - wy) * (1 - wx))):
                if 0 <= ty + dy < ih and 0 <= tx + dx < iw:
                    y[:, :, h, w] += wt * x[:, :, ty + dy, tx + dx]
    return y


LINEAR = {  # spec, input dims (channels first), output dims
    "1d_size": ([10], (2, 3), (2, 10)),
    "1d_scaled": ([scaled(3.5)], (2, 3), (2, 11)),  # Ceiling[3.5 * 3]
    "1d_all": ([ALL], (2, 3), (2, 3)),
    "2d_sizes": ([10, 4], (1, 2, 3), (1, 10, 4)),
    "2d_mixed": ([10, scaled(2.5)], (1, 2, 3), (1, 10, 8)),
    "2d_all": ([10, ALL], (2, 2, 3), (2, 10, 3)),
    "2d_down": ([3, scaled(call("Rational", 1, 2))], (2, 5, 6), (2, 3, 3)),
}


@pytest.mark.parametrize("name", list(LINEAR))
def test_linear_resize_is_mxnet_spatial_transformer(name):
    spec, ins, out = LINEAR[name]
    net = resize_net(spec, ins, out, Resampling="Linear")
    x = G.normal(size=(3, *ins))
    if len(ins) == 3:
        want = mxnet_bilinear(x, out[1:])
    else:  # the definition's 1-D path: {c, n} -> {c, n, 1} broadcast to 3 columns, resampled, middle column
        want = mxnet_bilinear(np.repeat(x[..., None], 3, axis=-1), (out[1], 3))[..., 1]
    got = net(x)
    assert got.shape == (3, *out)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


def test_linear_resize_matches_torch_align_corners():
    torch = pytest.importorskip("torch")
    net = resize_net([7, scaled(1.5)], (3, 4, 6), (3, 7, 9))
    x = G.normal(size=(2, 3, 4, 6))
    want = torch.nn.functional.interpolate(torch.tensor(x), size=(7, 9), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(net(x), want.numpy(), rtol=1e-13, atol=1e-14)


def test_interleaved_resize_keeps_the_last_axis():
    net = resize_net([5, 4], (3, 2, 2), (5, 4, 2), Interleaving=Symbol("True"))
    x = G.normal(size=(2, 3, 2, 2))
    want = mxnet_bilinear(np.moveaxis(x, -1, 1), (5, 4))
    np.testing.assert_allclose(net(x), np.moveaxis(want, 1, -1), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("spec,ins,out,reps", [([scaled(2), scaled(2)], (2, 2, 3), (2, 4, 6), (2, 2)),
                                               ([scaled(3)], (2, 4), (2, 12), (3,)),
                                               ([scaled(2), scaled(3)], (1, 2, 2), (1, 4, 6), (2, 3))])
def test_nearest_resize_repeats_elements(spec, ins, out, reps):
    net = resize_net(spec, ins, out, Resampling="Nearest")
    x = G.normal(size=(2, *ins))
    want = x
    for a, k in enumerate(reps):
        want = want.repeat(k, axis=a + 2)
    np.testing.assert_array_equal(net(x), want)


@pytest.mark.parametrize("params,why", [({"Resampling": "Nearest"}, "integer k"),
                                        ({"Resampling": "Linear", "Scheme": "Bin"}, "Scheme"),
                                        ({"Resampling": "Cubic"}, "Cubic")])
def test_unsupported_resize_forms_say_why(params, why):
    with pytest.raises(UnsupportedLayerError, match=why):
        resize_net([6], (2, 3), (2, 6), **params)


def test_resize_output_port_must_match_the_specification():
    with pytest.raises(FormatError, match="output port"):
        resize_net([scaled(2.5)], (2, 3), (2, 7))


def test_resize_net_writes_and_reads_back(tmp_path):
    net = resize_net([5, scaled(2)], (2, 3, 3), (2, 5, 6))
    back = _round_trip(net, tmp_path, (2, 3, 3))
    assert back.shapes[back.outputs[0]] == (2, 5, 6)


# ---- writers -----------------------------------------------------------------------------------------
def _round_trip(net, tmp_path, in_dims, scale=1.0):
    wb.save_wlnet(net, tmp_path / "net.wlnet")
    back = load_wlnet(tmp_path / "net.wlnet")
    x = np.random.default_rng(32).normal(size=(4, *in_dims)) * scale
    np.testing.assert_allclose(back(x), net(x), rtol=1e-15, atol=0)
    return back


def _one_op(op, shape, **attrs):
    b = wb.NetBuilder()
    x = b.input("x", shape)
    return b.build([b.layer(op, [x], attrs=attrs)])


def _inner_types(net):
    (node,) = assoc_from_net(net)["Nodes"].values()
    return node["Type"], [n["Type"] for n in node.get("Nodes", {}).values()]


@pytest.mark.parametrize("shape,axis", [((50,), -1), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1)])
def test_log_softmax_written_as_its_parts(shape, axis, tmp_path):
    net = _one_op("log_softmax", shape, axis=axis)
    assert _inner_types(net) == ("Graph", ["Aggregation", "Replicate", "Threading", "Elementwise", "Aggregation",
                                           "Elementwise", "Replicate", "Threading"])
    back = _round_trip(net, tmp_path, shape, scale=30.0)  # logits spread over ~±100
    x = np.random.default_rng(33).normal(size=(4, *shape)) * 30.0
    np.testing.assert_array_equal(back(x), net(x))


@pytest.mark.parametrize("shape,size,kind,node", [
    ((2, 8), (4,), "avg", "Pooling"), ((2, 5), (4,), "max", "Pooling"),  # 5 -> 4: size 2, stride 1
    ((2, 6, 5), (3, 2), "avg", "Pooling"), ((3, 4, 4), (1, 1), "max", "Pooling"),
    ((2, 5), (3,), "avg", "Graph"), ((2, 5), (3,), "max", "Graph"),
    ((2, 5, 7), (3, 4), "avg", "Graph"), ((2, 5, 7), (3, 4), "max", "Graph"), ((1, 2, 2), (3, 3), "avg", "Graph")])
def test_adaptive_pool_round_trip(shape, size, kind, node, tmp_path):
    net = _one_op("adaptive_pool", shape, kind=kind, output_size=list(size))
    assert _inner_types(net)[0] == node
    _round_trip(net, tmp_path, shape)


@pytest.mark.parametrize("name", ["adaptive_avg_uneven", "adaptive_max_upsample", "log_softmax_axis1", "log_softmax"])
def test_shared_cases_round_trip(name, tmp_path):
    net = CASE_BY_NAME[name].build()
    _round_trip(net, tmp_path, net.inputs[0].shape)


def test_adaptive_pool_with_too_many_uneven_windows_is_refused():
    with pytest.raises(UnsupportedLayerError, match="more than 64"):
        assoc_from_net(_one_op("adaptive_pool", (1, 10, 10), kind="avg", output_size=[7, 10]))


def test_torch_log_softmax_and_adaptive_pool_through_wlnet(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    m = nn.Sequential(nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(), nn.LogSoftmax(dim=-1)).double()
    net = wb.from_torch(m, input_shape=(2, 5, 7))
    back = _round_trip(net, tmp_path, (2, 5, 7))
    x = np.random.default_rng(34).normal(size=(3, 2, 5, 7))
    with torch.no_grad():
        np.testing.assert_allclose(back(x), m(torch.tensor(x)).numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("level,axis", [(1, 0), (2, 1), (3, 2), (-1, 2), (-2, 1)])
def test_replicate_at_any_level(level, axis, tmp_path):
    """ReplicateLayer[n, level] inserts n copies at ``level`` (negative: rank + 2 + level), as its definition's
    Writer does; the log_softmax writer replicates at the softmax axis."""
    node = _node("Replicate", {"Specification": call("ValidatedParameter", 3), "Level": level}, (2, 4),
                 np.insert(np.array([2, 4]), axis, 3).tolist())
    net = net_from_assoc(_chain([node], (2, 4), tuple(np.insert(np.array([2, 4]), axis, 3))), source="rep")
    x = G.normal(size=(2, 2, 4))
    np.testing.assert_array_equal(net(x), np.repeat(np.expand_dims(x, axis + 1), 3, axis=axis + 1))
    assert _inner_types(net) == ("Replicate", [])
    _round_trip(net, tmp_path, (2, 4))


@pytest.mark.woxi
@pytest.mark.parametrize("op,shape,attrs", [("log_softmax", (6,), {"axis": -1}),
                                            ("adaptive_pool", (2, 4), {"kind": "avg", "output_size": [2]}),
                                            ("adaptive_pool", (2, 5), {"kind": "max", "output_size": [3]}),
                                            ("adaptive_pool", (2, 5, 4), {"kind": "avg", "output_size": [3, 3]})])
def test_paclet_reads_the_written_parts_in_woxi(op, shape, attrs):
    """The paclet's NetAssociationToFunction on the written NetGraphs (a Replicate at a level past 1, i.e.
    log_softmax on a later axis of a matrix, is not read by the paclet yet)."""
    pytest.importorskip("woxi")
    from .test_paclet import Woxi, _check_shared

    net = _one_op(op, shape, **attrs)
    _check_shared(Woxi(), assoc_from_net(net), net, "Compact", 2)
