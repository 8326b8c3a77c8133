"""ONNX shape sub-graphs over a symbolic batch axis (frontends/onnx/shapes.py) and old op forms (Upsample,
attribute-form Unsqueeze), each compared with onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.onnx

import wlbridge as wb  # noqa: E402
from wlbridge.errors import ConversionError  # noqa: E402
from onnx import TensorProto as T, helper, numpy_helper  # noqa: E402


def _model(nodes, inits, opset, in_shape=("N", 3), out="y"):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info(out, T.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 7
    return m


def _ort(m, x):
    return ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]


def _zero_pad(opset):
    """The control-net pattern: zeros(batch, 2) from Shape -> Gather -> Unsqueeze -> Concat -> ConstantOfShape."""
    unsq = (helper.make_node("Unsqueeze", ["b"], ["b1"], axes=[0]) if opset < 13
            else helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]))
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["b"], axis=0), unsq,
             helper.make_node("Concat", ["b1", "two"], ["zs"], axis=0),
             helper.make_node("ConstantOfShape", ["zs"], ["z"],
                              value=numpy_helper.from_array(np.zeros(1, np.float32))),
             helper.make_node("Concat", ["x", "z"], ["c"], axis=1),
             helper.make_node("MatMul", ["c", "W"], ["y"])]
    inits = {"i0": np.array(0, np.int64), "two": np.array([2], np.int64), "ax0": np.array([0], np.int64),
             "W": np.arange(10, dtype=np.float32).reshape(5, 2) / 7}
    return _model(nodes, inits, opset)


@pytest.mark.parametrize("opset", [9, 11, 13, 17])
def test_zero_padding_built_from_the_batch_size(opset):
    m = _zero_pad(opset)
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (3,) and net.output_shape == (2,)
    x = np.random.default_rng(opset).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=1e-6, atol=1e-6)


def test_class_token_expanded_to_the_batch_with_minus_ones():
    """torch's ``cls.expand(b, -1, -1)``: Where(Equal(shape, -1), 1, shape) over a shape holding the batch."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]),
             helper.make_node("Concat", ["b1", "m1"], ["t"], axis=0),
             helper.make_node("Equal", ["t", "neg"], ["eq"]),
             helper.make_node("Where", ["eq", "ones", "t"], ["t2"]),
             helper.make_node("Expand", ["cls", "t2"], ["c"]),
             helper.make_node("Concat", ["c", "x"], ["y"], axis=1)]
    inits = {"i0": np.array(0, np.int64), "ax0": np.array([0], np.int64), "m1": np.array([-1, -1], np.int64),
             "neg": np.full(3, -1, np.int64), "ones": np.ones(3, np.int64),
             "cls": np.array([[[0.5, -1.5]]], np.float32)}
    m = _model(nodes, inits, 17, ("N", 4, 2))
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (4, 2) and net.output_shape == (5, 2)
    x = np.random.default_rng(0).standard_normal((3, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)


def test_tile_of_a_constant_to_the_batch_and_of_a_variable():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Slice", ["s", "z0", "z1"], ["b1"]),
             helper.make_node("Concat", ["b1", "one"], ["reps"], axis=0),
             helper.make_node("Tile", ["cls", "reps"], ["c"]),
             helper.make_node("Tile", ["x", "rx"], ["xt"]),
             helper.make_node("Concat", ["c", "xt"], ["y"], axis=1)]
    inits = {"z0": np.array([0], np.int64), "z1": np.array([1], np.int64), "one": np.array([1], np.int64),
             "rx": np.array([1, 2], np.int64), "cls": np.array([[7.0, 8.0]], np.float32)}
    m = _model(nodes, inits, 13)
    net = wb.from_onnx(m, origin=False)
    assert net.output_shape == (8,)
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)


def test_tile_of_a_fixed_batch_repeats_samples_so_it_converts_as_one_sample():
    """Tile(x, [2, 1]) of a batch of 2 doubles the batch: not per-sample work (the batch axis is kept whole)."""
    m = _model([helper.make_node("Tile", ["x", "r"], ["y"])], {"r": np.array([2, 1], np.int64)}, 13, (2, 3))
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (2, 3) and net.output_shape == (4, 3)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)


def test_a_net_that_uses_the_batch_size_as_a_value_is_refused():
    """y = x * batch_size: the per-sample output depends on the batch size."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
             helper.make_node("Cast", ["b"], ["bf"], to=T.FLOAT), helper.make_node("Mul", ["x", "bf"], ["y"])]
    m = _model(nodes, {"i0": np.array(0, np.int64)}, 17)
    with pytest.raises(ConversionError, match=r"Mul.*depend on the batch size"):
        wb.from_onnx(m, origin=False)
    x = np.ones((3, 3), np.float32)
    assert _ort(m, x)[0, 0] == 3.0 and _ort(m, x[:2])[0, 0] == 2.0  # what the refusal protects from


def test_reshape_whose_target_scales_the_batch_is_refused():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
             helper.make_node("Mul", ["b", "k"], ["b2"]), helper.make_node("Unsqueeze", ["b2", "ax0"], ["t"]),
             helper.make_node("Reshape", ["x", "t"], ["y"])]
    m = _model(nodes, {"i0": np.array(0, np.int64), "k": np.array(3, np.int64), "ax0": np.array([0], np.int64)}, 17)
    with pytest.raises(ConversionError, match=r"depends on the batch size"):
        wb.from_onnx(m, origin=False)


def test_opset9_unsqueeze_of_constants_folds():
    """onnx.reference fails on the attribute form; the shape evaluator takes every opset's form."""
    nodes = [helper.make_node("Unsqueeze", ["c"], ["c1"], axes=[0, 2]),
             helper.make_node("Squeeze", ["c1"], ["c2"], axes=[0]),
             helper.make_node("Add", ["x", "c2"], ["y"])]
    m = _model(nodes, {"c": np.array([1.0, 2.0, 3.0], np.float32)}, 9, ("N", 3, 1))
    net = wb.from_onnx(m, origin=False)
    x = np.random.default_rng(2).standard_normal((2, 3, 1)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=1e-7)


@pytest.mark.parametrize("op,opset,mode,scales", [
    ("Upsample", 7, "nearest", [1.0, 1, 2, 3]), ("Upsample", 7, "linear", [1.0, 1, 2, 1.5]),
    ("Upsample", 8, "linear", [1.0, 1, 1.5, 2.5]), ("Upsample", 9, "nearest", [1.0, 1, 2, 2]),
    ("Upsample", 9, "nearest", [1.0, 1, 1.5, 2.5]), ("Upsample", 9, "linear", [1.0, 1, 3, 2]),
    ("Resize", 10, "nearest", [1.0, 1, 1.5, 2.5]), ("Resize", 10, "linear", [1.0, 1, 1.5, 2.5])])
def test_upsample_and_resize10_match_onnxruntime(op, opset, mode, scales):
    if opset < 9:
        nodes, inits = [helper.make_node(op, ["x"], ["y"], mode=mode, scales=scales)], {}
    else:
        nodes, inits = [helper.make_node(op, ["x", "s"], ["y"], mode=mode)], {"s": np.float32(scales)}
    m = _model(nodes, inits, opset, ("N", 3, 3, 4))
    net = wb.from_onnx(m, origin=False)
    assert net.output_shape == (3, int(3 * scales[2]), int(4 * scales[3]))
    x = np.random.default_rng(3).standard_normal((2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=1e-6, atol=5e-7)


@pytest.mark.parametrize("pick", ["Gather", "Split", "Slice"])
def test_batch_axis_moved_by_transpose_and_brought_back(pick):
    """``x.permute(1, 0, 2)[i]`` per sample: Transpose moves the batch axis, Gather/Split+Squeeze/Slice+Squeeze
    of an index of the new first axis brings it back (timm's ``qkv.permute(2, 0, 3, 1, 4).unbind(0)``)."""
    t = helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2])
    if pick == "Gather":
        nodes = [t, helper.make_node("Gather", ["t", "i1"], ["y"], axis=0)]
    elif pick == "Split":
        nodes = [t, helper.make_node("Split", ["t", "sizes"], ["a", "b"], axis=0),
                 helper.make_node("Squeeze", ["b", "ax0"], ["y"])]
    else:  # with a slice of the whole batch axis (axis 1 now), as dynamo writes them
        nodes = [t, helper.make_node("Slice", ["t", "i1v", "i2v", "ax0"], ["s0"]),
                 helper.make_node("Slice", ["s0", "z1", "big", "ax1"], ["s"]),
                 helper.make_node("Squeeze", ["s", "ax0"], ["y"])]
    inits = {"i1": np.array(1, np.int64), "sizes": np.array([1, 1], np.int64), "ax0": np.array([0], np.int64),
             "i1v": np.array([1], np.int64), "i2v": np.array([2], np.int64), "z1": np.array([0], np.int64),
             "big": np.array([2 ** 63 - 1], np.int64), "ax1": np.array([1], np.int64)}
    m = _model(nodes, inits, 13, ("N", 2, 3))
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (2, 3) and net.output_shape == (3,)  # the batch axis stays apart
    x = np.random.default_rng(4).standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)


def test_a_moved_batch_axis_used_otherwise_converts_as_one_sample():
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]), helper.make_node("Relu", ["t"], ["y"])]
    m = _model(nodes, {}, 13, (2, 2, 3))
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (2, 2, 3) and net.output_shape == (2, 2, 3)
    x = np.random.default_rng(5).standard_normal((2, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_of_variables_matches_onnxruntime(fmod):
    """fmod=1 against onnxruntime (and np.fmod); fmod=0 on floats (which onnxruntime refuses) against np.mod."""
    m = _model([helper.make_node("Mod", ["x", "b"], ["y"], fmod=fmod)], {"b": np.float32([1.5, -1.5, 0.75])}, 13)
    x = np.random.default_rng(6).uniform(-5, 5, (6, 3)).astype(np.float32)
    net = wb.from_onnx(m, origin=False)
    want = np.mod(x, np.float32([1.5, -1.5, 0.75])) if fmod == 0 else _ort(m, x)
    if fmod == 1:
        np.testing.assert_allclose(want, np.fmod(x, np.float32([1.5, -1.5, 0.75])), rtol=1e-6)
    np.testing.assert_allclose(net(x.astype(np.float64)), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("opset", [7, 11])
def test_clip_of_a_constant_folds_in_its_attribute_and_input_forms(opset):
    """onnx.reference refuses Clip's opset 6-10 attributes; the shape evaluator folds both forms."""
    if opset < 11:
        clip, inits = helper.make_node("Clip", ["c"], ["cc"], min=-1.0, max=1.0), {}
    else:
        clip, inits = helper.make_node("Clip", ["c", "lo", "hi"], ["cc"]), {"lo": np.float32(-1), "hi": np.float32(1)}
    inits["c"] = np.array([-2.0, 0.5, 3.0], np.float32)
    m = _model([clip, helper.make_node("Add", ["x", "cc"], ["y"])], inits, opset)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(wb.from_onnx(m, origin=False)(x), _ort(m, x), rtol=0, atol=0)
    np.testing.assert_allclose(_ort(m, x)[0], [0.0, 1.5, 2.0])


def test_info_facts_of_a_graph_converted_as_one_sample_keep_its_symbolic_axes():
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]), helper.make_node("Relu", ["t"], ["r"]),
             helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0, 2])]
    m = _model(nodes, {}, 13, ("N", 2, 3))
    m.producer_name, m.producer_version = "hand", "1.0"
    net = wb.from_onnx(m, origin=False)
    # Relu of a moved batch axis: one sample of batch 1, whose 1 is the batch axis again (batchaxis.py)
    assert net.input_shape == (2, 3) and net.output_shapes == [(2, 3)]
    assert net.meta["symbolic_axes"] == {"x": {0: "N"}} and net.meta["producer"] == "hand 1.0"
    assert net.meta["opsets"] == {"ai.onnx": 13} and net.meta["data_dependent"] == []


def _batch_size_node_graph(last, extra_inits, in_shape=("N", 3)):
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["b"], axis=0),
             helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]), *last]
    return _model(nodes, {"i0": np.array(0, np.int64), "ax0": np.array([0], np.int64), **extra_inits}, 17, in_shape)


def test_slice_up_to_the_batch_size_keeps_the_batch_and_elsewhere_is_refused():
    ok = _batch_size_node_graph([helper.make_node("Slice", ["x", "z", "b1", "ax0"], ["y"])],
                                {"z": np.array([0], np.int64)})
    net = wb.from_onnx(ok, origin=False)
    x = np.random.default_rng(7).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(ok, x), rtol=0, atol=0)
    bad = _batch_size_node_graph([helper.make_node("Slice", ["x", "z", "b1", "one"], ["y"])],
                                 {"z": np.array([0], np.int64), "one": np.array([1], np.int64)})
    with pytest.raises(ConversionError, match=r"Slice ends .* batch size on another axis"):
        wb.from_onnx(bad, origin=False)


def test_batch_size_as_a_later_entry_of_a_target_shape_is_refused():
    """Reshape(x, [3, batch]) and Expand(c, [1, batch]): the batch size where no batch axis is."""
    rs = _batch_size_node_graph([helper.make_node("Concat", ["three", "b1"], ["t"], axis=0),
                                 helper.make_node("Reshape", ["x", "t"], ["y"])], {"three": np.array([3], np.int64)})
    with pytest.raises(ConversionError, match=r"depends on the batch size"):
        wb.from_onnx(rs, origin=False)
    ex = _batch_size_node_graph([helper.make_node("Concat", ["one", "b1"], ["t"], axis=0),
                                 helper.make_node("Expand", ["x", "t"], ["y"])], {"one": np.array([1], np.int64)})
    with pytest.raises(ConversionError, match=r"depends on the batch size"):
        wb.from_onnx(ex, origin=False)


@pytest.mark.parametrize("opset", [7, 8, 10, 12, 14, 21])
def test_flatten_from_the_batch_size_in_every_opset(opset):
    """``x.view(x.size(0), -1)``: Shape -> Gather -> Unsqueeze -> Concat -> Reshape (attribute axes before 13)."""
    unsq = (helper.make_node("Unsqueeze", ["b"], ["b1"], axes=[0]) if opset < 13
            else helper.make_node("Unsqueeze", ["b", "ax0"], ["b1"]))
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "i0"], ["b"], axis=0), unsq,
             helper.make_node("Concat", ["b1", "m1"], ["t"], axis=0), helper.make_node("Reshape", ["x", "t"], ["y"])]
    inits = {"i0": np.array(0, np.int64), "ax0": np.array([0], np.int64), "m1": np.array([-1], np.int64)}
    m = _model(nodes, inits, opset, ("N", 2, 3))
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (2, 3) and net.output_shape == (6,)
    x = np.random.default_rng(8).standard_normal((3, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)


_ATTR_FORMS = {  # op, opset, attributes: the pre-input forms exporters at opsets 9-11 write, on a variable
    "Unsqueeze": (9, {"axes": [1]}), "Squeeze": (11, {"axes": [1]}),
    "Slice": (9, {"starts": [1, 0], "ends": [3, 2], "axes": [2, 3]}), "ReduceSum": (11, {"axes": [2], "keepdims": 0}),
    "ReduceMean": (9, {"axes": [-1]}), "ReduceMax": (11, {"axes": [1, 3], "keepdims": 1}),
    "Split": (11, {"axis": 2, "split": [1, 2]}), "Pad": (9, {"pads": [0, 0, 1, 0, 0, 0, 0, 2], "value": 0.5}),
    "Clip": (9, {"min": -0.5, "max": 0.25}), "ReduceProd": (11, {"axes": [1, 2], "keepdims": 0})}


@pytest.mark.parametrize("op", sorted(_ATTR_FORMS))
def test_attribute_forms_of_old_opsets_on_variables(op):
    opset, attrs = _ATTR_FORMS[op]
    shape = ("N", 1, 3, 4) if op == "Squeeze" else ("N", 2, 3, 4)
    outs = ["y", "y2"] if op == "Split" else ["y"]
    m = _model([helper.make_node(op, ["x"], outs, **attrs)], {}, opset, shape)
    x = np.random.default_rng(9).standard_normal((2, *shape[1:])).astype(np.float32)
    net = wb.from_onnx(m, origin=False)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=1e-6, atol=1e-7)


def test_shape_of_a_moved_value_names_the_batch_where_it_is():
    """Reshape(Transpose(x), Shape(Transpose(x))): the shape [3, batch, 2] is the moved value's own."""
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]), helper.make_node("Shape", ["t"], ["s"]),
             helper.make_node("Gather", ["t", "i1"], ["g"], axis=0),
             helper.make_node("Slice", ["s", "one", "two"], ["b1"]),  # [batch]
             helper.make_node("Concat", ["b1", "m1"], ["tgt"], axis=0),
             helper.make_node("Reshape", ["g", "tgt"], ["y"])]
    inits = {"i1": np.array(1, np.int64), "one": np.array([1], np.int64), "two": np.array([2], np.int64),
             "m1": np.array([-1], np.int64)}
    m = _model(nodes, inits, 13, ("N", 3, 2))
    net = wb.from_onnx(m, origin=False)
    assert net.input_shape == (3, 2) and net.output_shape == (2,)
    x = np.random.default_rng(10).standard_normal((4, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(net(x.astype(np.float64)), _ort(m, x), rtol=0, atol=0)
