"""The live-kernel front end. Without a kernel: the WXF payloads it sends decode back exactly and the
WL it sends parses. With a kernel (``WOLFRAM_KERNEL`` set; marker ``wolfram``): from_wolfram, the
origin evaluator, NetToFunction / NetToPlainData / ImportPythonNet and the FunctionLayer round trip: these
need the neural net framework, so they are real-kernel-only (the protocol itself runs through the kernel
stand-in in tests/test_kernel_standin.py and tests/test_kernel_table.py)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from wlbridge.frontends.wolfram import kernel

wolframclient = pytest.importorskip("wolframclient")


def _roundtrip(expr):
    from wolframclient.deserializers import binary_deserialize
    from wolframclient.serializers import export

    return binary_deserialize(export(expr, target_format="wxf"))


def test_evaluation_payload_decodes_bit_exactly():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(5, 3)) * 10.0 ** rng.integers(-300, 300, size=(5, 3)),
          np.array([[np.nextafter(0.0, 1.0), -0.0, 1e-310], [np.pi, -np.e, 2.0**-1074]])[:, :, None]]
    code = kernel.evaluation_code("trained", ["a", "b"], ["Output"])
    back = _roundtrip(kernel.evaluation_payload(code, xs))
    assert str(back.head) == f"ToExpression[{code!r}]" or back.head.args[0] == code
    for sent, got in zip(xs, back.args):
        got = np.asarray(got)
        assert got.dtype == np.float64 and got.shape == sent.shape
        np.testing.assert_array_equal(got.view(np.uint64), sent.view(np.uint64))


def test_evaluation_code_feeds_ports_by_name():
    one = kernel.evaluation_code("trained", ["Input"], ["Output"])
    assert "(trained)[wlbridgeA1, TargetDevice -> \"CPU\"]" in one
    two = kernel.evaluation_code("NetGraph[x]", ["a", "b\"c"], ["o1", "o2"], precision="Real64")
    assert '<|"a" -> wlbridgeA1, "b\\"c" -> wlbridgeA2|>' in two and 'WorkingPrecision -> "Real64"' in two
    assert '{r["o1"], r["o2"]}' in two
    with pytest.raises(ValueError, match="precision"):
        kernel.evaluation_code("t", ["Input"], ["Output"], precision="Real16")
    with pytest.raises(TypeError, match="symbol name or WL code"):
        kernel.evaluation_code("  ", ["Input"], ["Output"])


@pytest.mark.woxi
def test_kernel_code_parses_in_woxi():
    """The WL sent to the kernel is syntactically valid (Woxi parses it; it cannot run nets)."""
    woxi = pytest.importorskip("woxi")
    for code in (kernel.evaluation_code("trained", ["a", "b"], ["o1", "o2"]),
                 kernel.function_layer_code("trained", "Function[{x}, Tanh[x]]", (3,))):
        r = woxi.evaluate(f"Length[Hold[{code}]]")
        assert r.result == "1", (r.result, r.warnings)


def test_wired_in_the_public_api():
    import wlbridge as wb

    assert wb.from_wolfram.__doc__ and "kernel" in wb.from_wolfram.__doc__
    assert kernel.from_wolfram.__kwdefaults__["input_names"] is None


# ---- with a kernel --------------------------------------------------------------------------------

needs_kernel = pytest.mark.skipif(not os.environ.get("WOLFRAM_KERNEL"), reason="set WOLFRAM_KERNEL to run")


@pytest.fixture(scope="module")
def session():
    s = kernel.kernel_session(os.environ["WOLFRAM_KERNEL"])
    from wolframclient.language import wlexpr

    s.evaluate(wlexpr('SeedRandom[1]; trained = NetInitialize[NetChain[{LinearLayer[5], Tanh, LinearLayer[4], '
                      'ElementwiseLayer["SELU"], DropoutLayer[], LinearLayer[2], SoftmaxLayer[]}, "Input" -> 3]]; '
                      'graph = NetInitialize[NetGraph[<|"l" -> LinearLayer[3], "t" -> Tanh, "s" -> TotalLayer[], '
                      '"c" -> CatenateLayer[], "o" -> LinearLayer[2]|>, {NetPort["Input"] -> "l" -> "t", '
                      '{NetPort["Input"], "t"} -> "s", {"s", "t"} -> "c" -> "o"}, "Input" -> 3]]; '
                      'conv = NetInitialize[NetChain[{ConvolutionLayer[3, 2, "Stride" -> 2, "PaddingSize" -> 1], '
                      'Ramp, PoolingLayer[2], FlattenLayer[], LinearLayer[2]}, "Input" -> {2, 6, 6}]];'))
    yield s
    s.terminate()


@pytest.mark.wolfram
@needs_kernel
@pytest.mark.parametrize("name", ["trained", "graph", "conv"])
def test_from_wolfram_agrees_with_the_kernel(session, name):
    import wlbridge as wb

    net = wb.from_wolfram(session, name)
    x = np.random.default_rng(1).uniform(-1, 1, size=(16, *net.inputs[0].shape))
    got = net.origin.evaluate(x)[0]
    np.testing.assert_allclose(net(x), got, rtol=1e-5, atol=1e-6)  # float32 in the kernel
    x64 = kernel.evaluation_code(name, ["Input"], ["Output"], precision="Real64")
    np.testing.assert_allclose(net(x), kernel.evaluate_in_kernel(session, x64, [x])[0], rtol=1e-9, atol=1e-12)


@pytest.mark.wolfram
@needs_kernel
@pytest.mark.parametrize("form,call", [("Compact", "List"), ("Expanded", "Sequence")])
def test_net_to_function_in_the_kernel(session, form, call):
    """The classic validation f[1, 2, 3] - trained[{1, 2, 3}], for many inputs."""
    kernel.load_paclet(session)
    x = np.random.default_rng(2).uniform(-1, 1, size=(32, 3))
    apply = "f[Sequence @@ #] &" if call == "Sequence" else "f"
    code = (f'Function[{{xs}}, With[{{f = WLBridge`NetToFunction[trained, "Form" -> "{form}", "Call" -> "{call}"]}}, '
            f'Max[Abs[Map[{apply}, xs] - Normal[trained[xs, WorkingPrecision -> "Real64"]]]]]]')
    diff = session.evaluate(kernel.evaluation_payload(code, [x]))
    assert float(diff) < 1e-12


@pytest.mark.wolfram
@needs_kernel
def test_function_layer_round_trip(session):
    import wlbridge as wb

    net = wb.from_wolfram(session, "trained")
    assert kernel.check_function_layer(session, "trained", net) < 1e-5


@pytest.mark.wolfram
@needs_kernel
def test_import_python_net(session, tmp_path):
    """Python writes .wxf (wb.save_wxf); the kernel imports it and agrees with the numpy reference."""
    import wlbridge as wb
    from wolframclient.language import wlexpr

    net = wb.from_wolfram(session, "graph")
    path = tmp_path / "graph.wxf"
    wb.save_wxf(net, path)
    kernel.load_paclet(session)
    session.evaluate(wlexpr(f'imported = WLBridge`ImportPythonNet["{path.as_posix()}"];'))
    x = np.random.default_rng(3).uniform(-1, 1, size=(8, 3))
    got = kernel.evaluate_in_kernel(session, kernel.evaluation_code("imported", ["Input"], ["Output"], "Real64"), [x])
    np.testing.assert_allclose(got[0], net(x), rtol=1e-9, atol=1e-12)


# ---- the bytes NetToPlainData sends, read by the wlfiles reader (no kernel) ------------------------

def _to_wolframclient(v):
    """paclet_nets' plain association as wolframclient objects (symbols as a kernel writes them)."""
    from wolframclient.language.expression import WLFunction, WLSymbol

    from wlbridge.frontends.wolfram.expr import Expr, Symbol

    if isinstance(v, Symbol):
        ctx = "NeuralNetworks`" if v.name in ("TensorT", "RealT", "NetPath", "ValidatedParameter") else ""
        ctx = "NeuralNetworks`Private`" if v.name in ("ScalarFunctionObject", "ScalarSymbol") else ctx
        return WLSymbol(ctx + v.name)
    if isinstance(v, Expr):
        return WLFunction(_to_wolframclient(v.head), *[_to_wolframclient(a) for a in v.args])
    if isinstance(v, dict):
        return {_to_wolframclient(k): _to_wolframclient(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_wolframclient(x) for x in v]
    if v is None:
        return WLSymbol("None")
    return v  # numbers, strings; numpy arrays go as NumericArrays


@pytest.mark.parametrize("case", ["mlp_tanh", "named_and_custom", "batchnorm_function_layer", "conv2d_pool_max",
                                  "graph_residual", "graph_two_inputs", "scalar_decoder", "reshape_softmax_rows",
                                  "image_encoder"])
def test_plain_data_bytes_read_by_the_python_front_end(case):
    """``BinarySerialize[NetToPlainData[net]]`` as the kernel sends it -> net_from_wxf -> same numbers."""
    from wolframclient.serializers import export

    from wlbridge.frontends.wolfram.wxf import net_from_wxf

    from .test_paclet import CASES

    assoc, want = CASES[case]
    data = export(_to_wolframclient(assoc), target_format="wxf")
    net = net_from_wxf(data, source=f"wolfram:{case}")
    xs = [np.random.default_rng(4).normal(size=(5, *p.shape)) for p in want.inputs]
    np.testing.assert_allclose(np.asarray(net(*xs)), np.asarray(want(*xs)), rtol=1e-12, atol=1e-14)
