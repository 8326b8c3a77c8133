"""WL emitter: printer goldens, every case evaluated in Woxi (compact and expanded) vs the reference,
the expanded form's size limit."""
from __future__ import annotations

import numpy as np
import pytest

from tests.cases import CASES, CASE_BY_NAME, sample_inputs
from wlbridge.emit.wl import to_wl
from wlbridge.emit.wlprint import (Arr, Call, Divide, Neg, Num, Plus, Power, Sym, Times, Tmpl, fmt_array,
                                   fmt_exact, fmt_real, to_text)
from wlbridge.errors import ConversionError, ExpressionTooLargeError, OptionError
from wlbridge.ir import NetBuilder


# ---- printer goldens ------------------------------------------------------------------------
@pytest.mark.parametrize("value, text", [
    (1.3040000451301372, "1.3040000451301372`"), (1.5e-10, "1.5`*^-10"), (-2.0, "-2.`"), (0.25, "0.25`"),
    (1e-5, "1.`*^-5"), (5e-324, "5.`*^-324"), (1.7976931348623157e308, "1.7976931348623157`*^308"),
    (1e16, "1.`*^16"), (123456789.0, "123456789.`"), (-0.0, "-0.`"), (0.0, "0.`"), (1e-4, "0.0001`"),
    (float("inf"), "Infinity"), (float("-inf"), "-Infinity"), (np.float32(0.1), "0.10000000149011612`"),
])
def test_real_numbers(value, text):
    assert fmt_real(value) == text
    assert fmt_array(np.array([value, value])) == "{" + text + ", " + text + "}"


@pytest.mark.parametrize("value, text", [(0.75, "3/4"), (-2.0, "-2"), (0.1, "3602879701896397/36028797018963968"),
                                         (1e-3, "1152921504606847/1152921504606846976")])
def test_exact_rationals(value, text):
    assert fmt_exact(value) == text


def test_nan_is_a_clear_error():
    with pytest.raises(ConversionError, match="NaN"):
        fmt_array(np.array([1.0, np.nan]))


def test_nan_weight_error_names_the_layer():
    b = NetBuilder("demo")
    x = b.input("x", (2,))
    net = b.build([b.layer("linear", [x], params={"weight": np.array([[1.0, np.nan], [0.0, 1.0]])}, path="/fc1")])
    for form in ("compact", "expanded"):
        with pytest.raises(ConversionError, match=r"demo: /fc1 \(linear\): parameter 'weight' contains NaN"):
            to_wl(net, form=form)


def test_precedence_and_parentheses():
    x, y = Sym("x"), Sym("y")
    assert to_text(Times([Num(-1.5), Plus([x, y])])) == "-1.5` (x + y)"
    assert to_text(Plus([x, Times([Num(-2.0), y])])) == "x - 2.` y"
    assert to_text(Plus([x, Neg(Num(-2.0))])) == "x - (-2.`)"
    assert to_text(Power(Neg(x), Num(2.0))) == "(-x)^2.`"
    assert to_text(Power(x, Num(-1.0))) == "x^(-1.`)"
    assert to_text(Divide(Plus([x, y]), Times([x, y]))) == "(x + y)/(x y)"
    assert to_text(Times([x, Num(-3.0)])) == "x (-3.`)"
    assert to_text(Call("Exp", [Neg(x)])) == "Exp[-x]"
    assert to_text(Tmpl("Ramp[#] - $s Ramp[-#]", Plus([x, y]), {"s": -0.5})) == "Ramp[x + y] - (-0.5`) Ramp[-(x + y)]"
    assert to_text(Times([Tmpl("# LogisticSigmoid[#]", x), y])) == "(x LogisticSigmoid[x]) y"
    assert to_text(Arr(np.array([[0.5]])), exact=True) == "{{1/2}}"
    assert to_text(Power(Num(0.5), x), exact=True) == "(1/2)^x"


def test_compact_golden_text():
    b = NetBuilder("golden")
    x = b.input("x", (2,))
    h = b.layer("linear", [x], params={"weight": np.array([[0.5, -1.5e-10], [2.0, 3.0]]), "bias": np.array([0.0, -1.0])})
    h = b.layer("elementwise", [h], attrs={"fn": "elu", "fn_params": {"alpha": 0.5}})
    net = b.build([b.layer("softmax", [h], attrs={"axis": 0})])
    assert to_wl(net) == (
        "Function[{x}, With[{h1 = {{0.5`, -1.5`*^-10}, {2.`, 3.`}} . x + {0.`, -1.`}}, "
        "With[{h2 = Map[Function[t, Piecewise[{{t, t > 0}}, 0.5` (Exp[t] - 1)]], h1, {1}]}, "
        "Function[v, With[{e = Exp[v - Max[v]]}, e/Total[e]]][h2]]]]")
    assert to_wl(net, call="sequence").startswith("Function[{x1, x2}, With[{x = {x1, x2}}, With[{h1 = ")


def test_expanded_golden_text():
    net = CASE_BY_NAME["seed_net"].build()
    text = to_wl(net, form="expanded", call="sequence")
    assert text.startswith("Function[{x1, x2, x3}, {")
    assert text.count("LogisticSigmoid[") == 2 * (2 + 2 * 2)
    listed = to_wl(net, form="expanded")
    assert listed.startswith("Function[{x}, With[{x1 = x[[1]], x2 = x[[2]], x3 = x[[3]]}, {")


# ---- size limit -----------------------------------------------------------------------------
def tanh_chain(depth: int, width: int = 2):
    b = NetBuilder(f"tanh{depth}")
    v = b.input("x", (width,))
    g = np.random.default_rng(depth)
    for _ in range(depth):
        v = b.layer("linear", [v], params={"weight": g.standard_normal((width, width)), "bias": g.standard_normal(width)})
        v = b.layer("elementwise", [v], attrs={"fn": "tanh"})
    return b.build([v])


def test_expanded_size_grows_geometrically_and_compact_linearly():
    exp = [len(to_wl(tanh_chain(d), form="expanded")) for d in (2, 4, 6, 8)]
    comp = [len(to_wl(tanh_chain(d))) for d in (2, 4, 6, 8)]
    assert all(b / a > 3.0 for a, b in zip(exp, exp[1:]))  # x2 per layer at width 2
    assert all(b / a < 2.0 for a, b in zip(comp, comp[1:]))


def test_expanded_refuses_past_max_size():
    net = tanh_chain(24)
    with pytest.raises(ExpressionTooLargeError, match=r"form='compact'") as e:
        to_wl(net, form="expanded")
    assert "max_size=2,000,000" in str(e.value)
    with pytest.raises(ExpressionTooLargeError, match="max_size=1,000"):
        to_wl(tanh_chain(6), form="expanded", max_size=1000)
    assert to_wl(net).count("With[") == 47  # compact is fine


def test_expanded_refuses_wide_layers_before_building():
    b = NetBuilder("wide")
    x = b.input("x", (3000,))
    net = b.build([b.layer("linear", [x], params={"weight": np.ones((1000, 3000))})])
    with pytest.raises(ExpressionTooLargeError, match="at least 3,000,000"):
        to_wl(net, form="expanded")


def test_settings_are_validated():
    net = CASE_BY_NAME["identity"].build()
    with pytest.raises(OptionError, match="unknown option 'digits'.*valid options: form, call, exact, max_size"):
        to_wl(net, digits=3)
    with pytest.raises(OptionError, match="call must be one of 'list', 'sequence'"):
        to_wl(net, call="tuple")


def test_names_are_sanitised():
    b = NetBuilder("onnxish")
    x = b.input("input.1", (2,))
    h = b.layer("elementwise", [x], attrs={"fn": "tanh"}, name="/fc/Tanh_output_0")
    net = b.build([b.layer("elementwise", [h], attrs={"fn": "sigmoid"})], input_names=["a_1", "w"])
    assert to_wl(net) == "Function[{input1}, With[{fcTanhOutput0 = Tanh[input1]}, LogisticSigmoid[fcTanhOutput0]]]"
    assert to_wl(net, call="sequence", form="expanded") == "Function[{va1, vw}, {LogisticSigmoid[Tanh[va1]], " \
                                                         "LogisticSigmoid[Tanh[vw]]}]"


# ---- evaluation in Woxi -----------------------------------------------------------------------
def _woxi():
    pytest.importorskip("woxi")
    from wlbridge.check.engines import WoxiEngine
    return WoxiEngine()


def _check(engine, net, code, call, xs, rtol):
    r = engine.apply(code, xs, call=call, output_shapes=net.output_shapes)
    assert r.ok, f"{r.problem} {r.messages}\n{code[:2000]}"
    ref = net(*xs)
    for got, want in zip(r.values, ref if isinstance(ref, list) else [ref]):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


GRAPHS = [c for c in CASES if "graph" in c.tags or c.name in ("reduce_all", "embedding", "scalar_fn")]


@pytest.mark.woxi
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_woxi_compact_and_expanded(case):
    engine = _woxi()
    net = case.build()
    xs = sample_inputs(net, 4, seed=3)
    _check(engine, net, to_wl(net), "list", xs, 1e-9)
    _check(engine, net, to_wl(net, form="expanded", call="sequence"), "sequence", xs, 1e-9)


@pytest.mark.woxi
@pytest.mark.parametrize("case", GRAPHS, ids=lambda c: c.name)
def test_woxi_other_call_styles(case):
    engine = _woxi()
    net = case.build()
    xs = sample_inputs(net, 3, seed=4)
    _check(engine, net, to_wl(net, call="sequence"), "sequence", xs, 1e-9)
    _check(engine, net, to_wl(net, form="expanded", call="list"), "list", xs, 1e-9)


@pytest.mark.woxi
def test_woxi_exact_weights():
    engine = _woxi()
    net = CASE_BY_NAME["seed_net"].build()
    xs = sample_inputs(net, 3, seed=5)
    code = to_wl(net, exact=True)
    assert "/" in code and "`" not in code.split("With")[1].split("}}")[0]
    _check(engine, net, code, "list", xs, 1e-12)
    _check(engine, net, to_wl(net, form="expanded", exact=True), "list", xs, 1e-12)


@pytest.mark.woxi
def test_woxi_long_chain_uses_a_flat_module():
    engine = _woxi()
    b = NetBuilder("long")
    v = b.input("x", (2,))
    for i in range(150):
        v = b.layer("linear", [v], params={"weight": np.eye(2) * 0.9 + 0.05, "bias": np.full(2, 0.01)})
        v = b.layer("elementwise", [v], attrs={"fn": "tanh"})
    net = b.build([v])
    code = to_wl(net)
    assert code.startswith("Function[{x}, Module[{h1, h2, ") and "With[" not in code
    _check(engine, net, code, "list", sample_inputs(net, 3, seed=9), 1e-9)


def test_large_weights_use_a_flat_module(monkeypatch):
    import wlbridge.emit.wl as wl_module

    net = CASE_BY_NAME["seed_net"].build()
    assert "Module[" not in to_wl(net)
    monkeypatch.setattr(wl_module, "MAX_WITH_CHARS", 100)
    code = to_wl(net)
    assert code.startswith("Function[{x}, Module[{h1, ") and "With[{h" not in code


def test_expanded_bound_counts_output_positions_of_strided_conv():
    b = NetBuilder("strided")
    x = b.input("x", (1, 40, 40))
    net = b.build([b.layer("conv", [x], params={"weight": np.ones((1, 1, 2, 2))}, attrs={"stride": (20, 20)})])
    text = to_wl(net, form="expanded", max_size=30)  # 4 outputs x 4 weights: well under the bound
    assert text.count("x") >= 16
