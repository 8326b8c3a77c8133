"""Crash sites the fuzz campaign found, each now a WlbridgeError naming the file, the node or layer
path and the op (regressions: every case here raised a bare Python exception before)."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, WlbridgeError
from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc

# ---- ONNX ----------------------------------------------------------------------------------------


def _onnx(nodes, inits, x_shape=("N", 3), opset=17, outputs=("y",)):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, list(x_shape))],
                          [helper.make_tensor_value_info(o, T.FLOAT, None) for o in outputs],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]), onnx


def _save(tmp_path, model):
    p = tmp_path / "m.onnx"
    p.write_bytes(model.SerializeToString())
    return p


def _gemm(**bias):
    from onnx import helper

    return _onnx([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)],
                 {"W": np.ones((2, 3), np.float32), **bias})[0]


def test_gemm_bias_of_the_wrong_length(tmp_path):
    p = _save(tmp_path, _gemm(b=np.ones(5, np.float32)))
    with pytest.raises(FormatError, match=r"m.onnx: Gemm_0 \(Gemm, opset 17\): invalid node"):
        wb.load(p)


def test_pool_without_its_required_kernel_shape(tmp_path):
    from onnx import helper

    m, _ = _onnx([helper.make_node("MaxPool", ["x"], ["y"], strides=[1, 1])], {}, x_shape=(1, 1, 4, 4))
    with pytest.raises(FormatError, match=r"MaxPool_0 \(MaxPool, opset 17\): required attribute.*kernel_shape"):
        wb.load(_save(tmp_path, m))


def test_attribute_of_the_wrong_type(tmp_path):
    from onnx import helper

    m, _ = _onnx([helper.make_node("Softmax", ["x"], ["y"], axis=[1, 2])], {})
    with pytest.raises(FormatError, match=r"Softmax_0 \(Softmax, opset 17\): attribute 'axis' has type INTS"):
        wb.load(_save(tmp_path, m))


def test_too_few_inputs(tmp_path):
    from onnx import helper

    m, _ = _onnx([helper.make_node("Gemm", ["x"], ["y"])], {})
    with pytest.raises(FormatError, match=r"Gemm_0 \(Gemm, opset 17\): has 1 inputs; the schema asks for 2 to 3"):
        wb.load(_save(tmp_path, m))


def test_initializer_whose_data_does_not_match_its_dims(tmp_path):
    m = _gemm(b=np.ones(2, np.float32))
    m.graph.initializer[0].dims[0] = 7
    with pytest.raises(FormatError, match=r"m.onnx: initializer 'W': data does not match dims \[7, 3\]"):
        wb.load(_save(tmp_path, m))


def test_unknown_element_types(tmp_path):
    m = _gemm(b=np.ones(2, np.float32))
    m.graph.initializer[1].data_type = 99
    with pytest.raises(FormatError, match="initializer 'b' has an unknown element type 99"):
        wb.load(_save(tmp_path, m))
    m = _gemm(b=np.ones(2, np.float32))
    m.graph.input[0].type.tensor_type.elem_type = 99
    with pytest.raises(FormatError, match="input 'x' has an unknown element type 99"):
        wb.load(_save(tmp_path, m))


def test_missing_and_undefined_outputs(tmp_path):
    m = _gemm(b=np.ones(2, np.float32))
    m.graph.output[0].name = "nowhere"
    with pytest.raises(FormatError, match=r"graph output\(s\) \['nowhere'\] are not produced"):
        wb.load(_save(tmp_path, m))
    del m.graph.output[:]
    with pytest.raises(FormatError, match="declares no outputs"):
        wb.load(_save(tmp_path, m))


def test_model_that_no_runtime_accepts(tmp_path):
    """Gemm in opset 1 converts, but neither onnxruntime nor onnx.reference implements it: the net
    loads without a source evaluator (check says the source was not run)."""
    from onnx import helper

    m, _ = _onnx([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1, broadcast=1)],
                 {"W": np.ones((2, 3), np.float32), "b": np.ones(2, np.float32)}, opset=1)
    from wlbridge.frontends.onnx.origin import runner

    with pytest.raises(FormatError, match="m.onnx: neither onnxruntime .* nor onnx.reference"):
        runner(m, "m.onnx")
    assert wb.load(_save(tmp_path, m)).origin is None
    assert wb.from_onnx(m, origin=False)(np.ones(3)).tolist() == [4.0, 4.0]


def test_a_bad_call_stays_a_type_error():
    with pytest.raises(TypeError):
        wb.from_onnx(_gemm(b=np.ones(2, np.float32)), no_such_setting=1)


# ---- Wolfram -------------------------------------------------------------------------------------

def T(*dims):
    return call("TensorT", list(dims), Symbol("RealT"))


def _chain(layer):
    return {"Type": "Chain", "Nodes": {"1": layer}, "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(2)}}


def _linear(**changes):
    lin = {"Type": "Linear", "Arrays": {"Weights": np.ones((2, 3)), "Biases": None},
           "Parameters": {"OutputDimensions": [2]}, "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(2)}}
    return {**lin, **changes}


@pytest.mark.parametrize("bad_type", [["Linear"], {"a": 1}, np.zeros(3)])
def test_layer_type_that_is_not_a_string(bad_type):
    with pytest.raises(FormatError, match=r"net.wlnet: Nodes/1: layer \"Type\" is not a string"):
        net_from_assoc(_chain(_linear(Type=bad_type)), source="net.wlnet")
    with pytest.raises(WlbridgeError):  # at the root, too (upgrade.py once asked an array for its truth)
        net_from_assoc({**_chain(_linear()), "Type": "Chain", "Nodes": {"1": {"Type": bad_type}}}, source="x")


def test_exported_array_with_an_unhashable_index():
    lin = _linear(Arrays={"Weights": call("ExportedArray", [1]), "Biases": None})
    with pytest.raises(FormatError, match=r"Nodes/1: array 'Weights' refers to /Arrays/\[1\]"):
        net_from_assoc(_chain(lin), source="net.wlnet", arrays={1: np.ones((2, 3))})


def test_layer_without_output_ports():
    with pytest.raises(FormatError, match="net.wlnet: Nodes/1"):
        net_from_assoc(_chain(_linear(Outputs={})), source="net.wlnet")


def test_times_with_one_argument_is_its_argument():
    from wlbridge.frontends.wolfram.scalarfn import from_scalar_function

    sfo = call("ScalarFunctionObject", [call("ScalarSymbol", 1)], call("ScalarSymbol", 2),
               {call("ScalarSymbol", 2): [Symbol("Times"), call("ScalarSymbol", 1)]})
    assert from_scalar_function(sfo) == ("arg", 1)


def test_sympy_where_with_a_numeric_condition():
    """A scalar_fn ``where`` whose condition is a number (not a comparison) is nonzero-is-true."""
    sp = pytest.importorskip("sympy")
    b = wb.NetBuilder("w")
    x = b.input("x", (2,))
    body = ("where", ("arg", 1), ("const", 1.0), ("const", -1.0))
    net = b.build([b.layer("scalar_fn", [x], attrs={"body": body, "nargs": 1})])
    m = net.to_sympy(form="expanded")
    x1, x2 = sp.symbols("x1 x2")
    vals = [float(m[0].subs({x1: 0.0})), float(m[1].subs({x2: 3.0}))]
    assert vals == net(np.array([0.0, 3.0])).tolist() == [-1.0, 1.0]


def test_global_pool_on_a_vector(tmp_path):
    from onnx import helper

    m, _ = _onnx([helper.make_node("GlobalAveragePool", ["x"], ["y"])], {})
    with pytest.raises(FormatError, match=r"GlobalAveragePool_0 \(GlobalAveragePool, opset 17\): needs an input of "
                                          r"rank >= 3"):
        wb.load(_save(tmp_path, m))


def test_scalar_function_with_a_constant_body_keeps_its_shape():
    """A WL elementwise function returning a constant (found by the fuzz campaign: the reference gave a
    scalar and the next layer failed)."""
    b = wb.NetBuilder("c")
    x = b.input("x", (2, 3))
    h = b.layer("scalar_fn", [x], attrs={"body": ("const", 2.0), "nargs": 1})
    net = b.build([b.layer("flatten", [h])])
    np.testing.assert_array_equal(net(np.zeros((2, 3))), np.full(6, 2.0))
