"""The WLBridge paclet in the embedded engines (Woxi, Mathics3): it loads without messages, its pure
part turns plain net associations into Functions (compact and expanded, list and sequence calls) that
agree with the numpy reference, and its activation table is generated from ``ops.ACTIVATIONS``."""
from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from wlbridge import paclet
from wlbridge.ir import NetBuilder
from wlbridge.emit.wlnumbers import fmt_real_positional
from wlbridge.paclet import wl_real

from .paclet_nets import Call, Chain, T, edge, sym, wl_text

RTOL, ATOL = 1e-9, 1e-12
rng = np.random.default_rng(7)


# ---- engines ------------------------------------------------------------------------------------

def _parse(text: str):
    """Nested lists of machine numbers printed by Woxi (``1.5*^-10``) -> Python lists."""
    if re.search(r"[A-Za-z$]", text.replace("*^", "")):
        raise AssertionError(f"not numbers: {text[:200]}")
    return ast.literal_eval(text.replace("*^", "e").replace("{", "[").replace("}", "]"))


class Woxi:
    name, number = "woxi", staticmethod(fmt_real_positional)  # Woxi 0.3 reads *^ with 1 ulp error

    def __init__(self):
        self.woxi = pytest.importorskip("woxi")
        self.load = self.run(paclet.load_code())

    def run(self, code):
        r = self.woxi.evaluate(code)
        # Woxi knows the names NetEncoder/NetDecoder and warns when a net association holds one
        return r.result, [w for w in r.warnings if "not yet implemented in Woxi" not in w or "NetDecoder" not in w]

    def numbers(self, code):
        text, msgs = self.run(code)
        assert not msgs, msgs
        return _parse(text)


class Mathics:
    name, number = "mathics", staticmethod(wl_real)

    def __init__(self):
        pytest.importorskip("mathics")
        try:  # the check helper's adapter: one shared session with the shims for Ramp, Clip, ...
            from wlbridge.check.engines import mathics_session
            self.s = mathics_session()
        except ImportError:
            from mathics.core.load_builtin import import_and_load_builtins
            from mathics.session import MathicsSession
            import_and_load_builtins()
            self.s = MathicsSession()
            self.s.evaluate('$IterationLimit = 10^9; If[Names["System`Ramp"] === {}, SetAttributes[Ramp, Listable]; '
                            'Ramp[x_?NumericQ] := Max[0., x]]; If[Names["System`Clip"] === {}, '
                            'Clip[x_?NumericQ, {lo_, hi_}] := Min[Max[x, lo], hi]; Clip[x_List, b_List] := Map[Clip[#, b] &, x]]')
            self.s.evaluation.out = []
        self.load = self.run(paclet.load_code())

    def run(self, code):
        r = self.s.evaluate(code)
        msgs = [str(m.text) if hasattr(m, "text") else str(m) for m in self.s.evaluation.out]
        self.s.evaluation.out = []
        return r, msgs

    def numbers(self, code):
        r, msgs = self.run(code)
        assert not msgs, msgs
        return r.to_python()


@pytest.fixture(scope="module")
def woxi():
    return Woxi()


@pytest.fixture(scope="module")
def mathics():
    return Mathics()


@pytest.fixture(params=["woxi", "mathics"])
def engine(request):
    return request.getfixturevalue(request.param)


# ---- nets ---------------------------------------------------------------------------------------

def W(o, i):
    return rng.normal(size=(o, i)) / np.sqrt(i)


def sfo_x_plus_half_tanh():
    """``# + 0.5 Tanh[#] &`` as Wolfram compiles it (ScalarFunctionObject SSA)."""
    s = lambda k: Call("ScalarSymbol", (k,))  # noqa: E731
    table = {s(2): [sym("Tanh"), s(1)], s(3): [sym("Times"), 0.5, s(2)], s(4): [sym("Plus"), s(1), s(3)]}
    return Call("ScalarFunctionObject", ([s(1)], s(4), table))


def graph_residual():
    """x -> Linear -> Tanh; Total[x, tanh]; Catenate[x, total]; Threading[Times][cat, cat]; Linear."""
    w1, b1, w2 = W(3, 3), rng.normal(size=3), W(2, 6)
    b = NetBuilder("graph")
    x = b.input("x", (3,))
    h = b.layer("elementwise", [b.layer("linear", [x], params={"weight": w1, "bias": b1})], attrs={"fn": "tanh"})
    tot = b.layer("add", [x, h])
    cat = b.layer("concat", [x, tot], attrs={"axis": 0})
    sq = b.layer("mul", [cat, cat])
    net = b.build([b.layer("linear", [sq], params={"weight": w2})])
    node = lambda t, ins, out, **kw: {"Type": t, "Arrays": kw.get("arrays", {}), "Parameters": kw.get("params", {}),  # noqa: E731
                                      "Inputs": ins, "Outputs": {"Output": T(*out)}}
    nodes = {
        "lin": node("Linear", {"Input": T(3)}, (3,), arrays={"Weights": w1, "Biases": b1}),
        "tanh": node("Elementwise", {"Input": T(3)}, (3,), params={"Function": Call("ValidatedParameter", (sym("Tanh"),))}),
        "total": node("Total", {"1": T(3), "2": T(3)}, (3,)),
        "cat": node("Catenate", {"1": T(3), "2": T(3)}, (6,), params={"Level": 1}),
        "times": node("Threading", {"1": T(6), "2": T(6)}, (6,), params={"Function": Call("ValidatedParameter", (sym("Times"),))}),
        "out": node("Linear", {"Input": T(6)}, (2,), arrays={"Weights": w2, "Biases": None}),
    }
    edges = [edge(("Nodes", "out", "Inputs", "Input"), ("Nodes", "times", "Outputs", "Output")),  # out of order on purpose
             edge(("Nodes", "lin", "Inputs", "Input"), ("Inputs", "Input")),
             edge(("Nodes", "tanh", "Inputs", "Input"), ("Nodes", "lin", "Outputs", "Output")),
             edge(("Nodes", "total", "Inputs", "1"), ("Inputs", "Input")),
             edge(("Nodes", "total", "Inputs", "2"), ("Nodes", "tanh", "Outputs", "Output")),
             edge(("Nodes", "cat", "Inputs", "1"), ("Inputs", "Input")),
             edge(("Nodes", "cat", "Inputs", "2"), ("Nodes", "total", "Outputs", "Output")),
             edge(("Nodes", "times", "Inputs", "1"), ("Nodes", "cat", "Outputs", "Output")),
             edge(("Nodes", "times", "Inputs", "2"), ("Nodes", "cat", "Outputs", "Output")),
             edge(("Outputs", "Output"), ("Nodes", "out", "Outputs", "Output"))]
    return {"Type": "Graph", "Nodes": nodes, "Edges": edges, "Inputs": {"Input": T(3)},
            "Outputs": {"Output": T(2)}}, net


def graph_two_inputs():
    """Inputs a, b (2 each) -> Threading[Max] -> Linear."""
    w = W(3, 2)
    b = NetBuilder("two")
    xa, xb = b.input("ina", (2,)), b.input("inb", (2,))
    net = b.build([b.layer("linear", [b.layer("max", [xa, xb])], params={"weight": w})])
    nodes = {"max": {"Type": "Threading", "Arrays": {}, "Parameters": {"Function": Call("ValidatedParameter", (sym("Max"),))},
                     "Inputs": {"1": T(2), "2": T(2)}, "Outputs": {"Output": T(2)}},
             "lin": {"Type": "Linear", "Arrays": {"Weights": w, "Biases": None}, "Parameters": {},
                     "Inputs": {"Input": T(2)}, "Outputs": {"Output": T(3)}}}
    edges = [edge(("Nodes", "max", "Inputs", "1"), ("Inputs", "a")), edge(("Nodes", "max", "Inputs", "2"), ("Inputs", "b")),
             edge(("Nodes", "lin", "Inputs", "Input"), ("Nodes", "max", "Outputs", "Output")),
             edge(("Outputs", "Output"), ("Nodes", "lin", "Outputs", "Output"))]
    return {"Type": "Graph", "Nodes": nodes, "Edges": edges, "Inputs": {"a": T(2), "b": T(2)},
            "Outputs": {"Output": T(3)}}, net


def image_encoder():
    """NetEncoder["Image"] input: the function takes the image tensor; (x - mean)/sqrt(var) per channel."""
    mean, var, w = np.array([0.5, 0.25]), np.array([0.04, 0.09]), W(2, 18)
    ch = Chain((2, 3, 3)).flatten().linear(w)
    a = ch.assoc()
    a["Inputs"] = {"Input": Call("NetEncoder", ("Image", {"ImageSize": Call("ValidatedParameter", ([3, 3],)),
                                                          "ColorSpace": "RGB", "MeanImage": list(mean),
                                                          "VarianceImage": list(var), "Interleaving": sym("False")},
                                                T(2, 3, 3)))}
    b = NetBuilder("image")
    x = b.input("x", (2, 3, 3))
    x = b.layer("sub", [x, b.constant(mean.reshape(2, 1, 1))])
    x = b.layer("div", [x, b.constant(np.sqrt(var).reshape(2, 1, 1))])
    return a, b.build([b.layer("linear", [b.layer("flatten", [x])], params={"weight": w})])


def _cases():
    c = {}
    ch = Chain((3,)).linear(W(4, 3), rng.normal(size=4)).act("Tanh", "tanh").linear(W(2, 4), rng.normal(size=2))
    c["mlp_tanh"] = (ch.assoc(), ch.net())
    ch = (Chain((4,)).linear(W(5, 4), rng.normal(size=5)).act("Ramp", "relu").dropout()
          .linear(W(5, 5), rng.normal(size=5)).act("LogisticSigmoid", "sigmoid").linear(W(3, 5)).softmax())
    c["mlp_softmax_no_edges"] = (ch.assoc(edges=False), ch.net())
    ch = (Chain((3,)).linear(W(4, 3), rng.normal(size=4)).act("'SELU'", "selu").act("'GELU'", "gelu")
          .act("'HardTanh'", "clip").act("'SoftPlus'", "softplus").act("'Swish'", "silu").act("'SoftSign'", "softsign")
          .act(sfo_x_plus_half_tanh(), ("add", ("arg", 1), ("mul", ("const", 0.5), ("tanh", ("arg", 1))))))
    c["named_and_custom"] = (ch.assoc(), ch.net())
    ch = Chain((2, 3)).batchnorm(rng).flatten().linear(W(2, 6), rng.normal(size=2)).function_layer("Tanh", "tanh")
    c["batchnorm_function_layer"] = (ch.assoc(), ch.net())
    ch = (Chain((2, 5, 5)).conv(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride=2, pad=1).act("Ramp", "relu")
          .pool("Max", 2).flatten().linear(W(2, 12), rng.normal(size=2)))
    c["conv2d_pool_max"] = (ch.assoc(), ch.net())
    ch = (Chain((4, 6, 6)).conv(rng.normal(size=(4, 2, 2, 2)), None, dilation=2, groups=2)
          .pool("Mean", 2, stride=2).flatten())
    c["conv2d_groups_dilation_mean"] = (ch.assoc(), ch.net())
    ch = Chain((2, 7)).conv(rng.normal(size=(3, 2, 3)), rng.normal(size=3), stride=2).pool("Total", 2).flatten()
    c["conv1d_pool_total"] = (ch.assoc(), ch.net())
    ch = Chain((4,)).linear(W(6, 4), rng.normal(size=6)).reshape((2, 3)).softmax().flatten()
    c["reshape_softmax_rows"] = (ch.assoc(), ch.net())
    ch = Chain((3,)).linear(W(1, 3), rng.normal(size=1))
    c["scalar_decoder"] = (ch.assoc(decoder="Scalar"), ch.net(decoder="Scalar"))
    c["graph_residual"] = graph_residual()
    c["graph_two_inputs"] = graph_two_inputs()
    c["image_encoder"] = image_encoder()
    return c


CASES = _cases()


def _inputs(net, n):
    return [rng.normal(size=(n, *p.shape)) for p in net.inputs]


def _arg_text(xs, i, call, number):
    if call == "List":
        return ", ".join(wl_text(x[i], number) for x in xs)
    return ", ".join(wl_text(v, number) for v in np.concatenate([x[i].ravel() for x in xs]))


def run_function(engine, assoc, xs, form, call):
    """Evaluate NetAssociationToFunction[assoc, ...] on every sample in ``xs`` inside ``engine``."""
    fn = f'wlbF = NetAssociationToFunction[{wl_text(assoc, engine.number)}, "Form" -> "{form}", "Call" -> "{call}"]'
    _, msgs = engine.run(fn)
    assert not msgs, msgs
    calls = ", ".join(f"wlbF[{_arg_text(xs, i, call, engine.number)}]" for i in range(len(xs[0])))
    return np.array(engine.numbers("{" + calls + "}"), dtype=np.float64)


# ---- tests --------------------------------------------------------------------------------------

def test_loads_without_messages(engine):
    result, msgs = engine.load
    assert msgs == []
    n, msgs = engine.run("Length[$WLBridgeActivations]")
    assert msgs == [] and int(str(n)) == len(paclet.ACTIVATIONS)


def test_activation_table_is_up_to_date():
    """Fails when ops.ACTIVATIONS changed and `python -m wlbridge.paclet` was not re-run."""
    assert paclet.activation_table_wl() in paclet.activation_table_path().read_text(encoding="utf-8")
    assert paclet.main(["--check"]) == 0


def test_slot_code_substitutes_every_parameter():
    assert paclet.slot_code("$scale Piecewise[{{#, # > 0}}, $alpha (Exp[#] - 1)]", ["alpha", "scale"]) == \
        "#3 Piecewise[{{#1, #1 > 0}}, #2 (Exp[#1] - 1)]"
    with pytest.raises(ValueError, match="parameter"):
        paclet.slot_code("$beta #", ["alpha"])


# expanded formulas grow with depth (softmax repeats its argument): the deep cases are checked compact only
HEAVY = {"mlp_softmax_no_edges", "named_and_custom", "conv2d_pool_max", "conv2d_groups_dilation_mean"}
FORMS = [("Compact", "List"), ("Compact", "Sequence"), ("Expanded", "List"), ("Expanded", "Sequence")]


# Mathics3 builds a Function in seconds (pure Python): it checks this subset, the rest is marked slow
MATHICS_FAST = {("mlp_tanh", "Compact", "List"), ("mlp_tanh", "Expanded", "Sequence"), ("graph_two_inputs", "Compact", "List"),
                ("named_and_custom", "Compact", "List"), ("conv1d_pool_total", "Compact", "Sequence"),
                ("scalar_decoder", "Expanded", "List"), ("image_encoder", "Compact", "List")}
MATRIX = [(c, f, k) for c in sorted(CASES) for f, k in FORMS if f == "Compact" or c not in HEAVY]


@pytest.mark.parametrize("case,form,call", MATRIX)
def test_function_equals_reference_woxi(woxi, case, form, call):
    if case == "image_encoder":
        pytest.skip("Woxi 0.3 evaluates NetEncoder[...] to $Failed: the association cannot be written in Woxi")
    check_case(woxi, case, form, call)


@pytest.mark.parametrize("case,form,call", [pytest.param(*m, marks=() if m in MATHICS_FAST else pytest.mark.slow)
                                            for m in MATRIX])
def test_function_equals_reference_mathics(mathics, case, form, call, request):
    if (case, form, call) not in MATHICS_FAST and "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow in Mathics3: run with -m slow")
    check_case(mathics, case, form, call)


def check_case(engine, case, form, call):
    assoc, net = CASES[case]
    n = 3 if engine.name == "woxi" else 1
    xs = _inputs(net, n)
    got = run_function(engine, assoc, xs, form, call)
    want = np.asarray(net(*xs), dtype=np.float64)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=RTOL, atol=ATOL)


def test_compact_form_has_one_binding_per_layer(engine):
    assoc, _ = CASES["mlp_tanh"]
    text, msgs = engine.run(f"ToString[NetAssociationToFunction[{wl_text(assoc, engine.number)}], InputForm]")
    text = str(text).replace(" ", "")
    assert not msgs
    assert text.startswith('"Function[{x},With[{h1=') or text.startswith("Function[{x},With[{h1=")
    assert "With[{h2=Tanh[h1]}" in text and "With[{h3=" in text and "h4" not in text


def test_expanded_form_is_a_formula_in_the_inputs(engine):
    assoc, _ = CASES["mlp_tanh"]
    text, msgs = engine.run(f'ToString[NetAssociationToFunction[{wl_text(assoc, engine.number)}, "Form" -> "Expanded", '
                            f'"Call" -> "Sequence", "InputNames" -> {{"a", "b", "c"}}], InputForm]')
    text = str(text).replace(" ", "")
    assert not msgs
    assert text.strip('"').startswith("Function[{a,b,c},{") and "With" not in text and "Tanh[" in text


def test_unsupported_layers_are_listed_together(engine):
    ch = Chain((3,)).linear(W(2, 3))
    a = ch.assoc(edges=False)
    a["Nodes"]["2"] = {"Type": "LSTM", "Inputs": {"Input": T(2)}, "Outputs": {"Output": T(2)}}
    a["Nodes"]["3"] = {"Type": "CTCLoss", "Inputs": {"Input": T(2)}, "Outputs": {"Output": T(2)}}
    a["Outputs"] = {"Output": T(2)}
    r, msgs = engine.run(f"NetAssociationToFunction[{wl_text(a, engine.number)}]")
    assert str(r).endswith("$Failed")
    assert len(msgs) == 1 and "2 unsupported" in msgs[0] and "Nodes/2 (LSTM)" in msgs[0] and "Nodes/3 (CTCLoss)" in msgs[0]


def test_bad_options_and_input(engine):
    assoc, _ = CASES["mlp_tanh"]
    for opt, what in (('"Form" -> "Tiny"', "Form"), ('"InputNames" -> {"a"}', "InputNames")):
        r, msgs = engine.run(f'NetAssociationToFunction[{wl_text(assoc, engine.number)}, "Call" -> "Sequence", {opt}]')
        assert str(r).endswith("$Failed") and len(msgs) == 1 and what in msgs[0]
    r, msgs = engine.run("NetAssociationToFunction[<|\"Nodes\" -> 1|>]")
    assert str(r).endswith("$Failed") and "Type" in msgs[0]
    r, msgs = engine.run("NetToFunction[3]")
    assert str(r).endswith("$Failed") and "neural network framework" in msgs[0]


@pytest.mark.parametrize("names", [["E", "b", "c"], ["C", "b", "c"], ["h1", "b", "c"], ["x", "b", "c"],
                                   ["o", "b", "c"], ["a", "a", "c"], ["a b", "b", "c"]])
def test_input_names_that_clash_are_refused(woxi, names):
    """System symbols, the Function's own locals and duplicates would silently change what it computes."""
    assoc, _ = CASES["mlp_tanh"]
    r, msgs = woxi.run(f'NetAssociationToFunction[{wl_text(assoc, woxi.number)}, "Call" -> "Sequence", '
                       f'"InputNames" -> {wl_text(names, woxi.number)}]')
    assert str(r).endswith("$Failed") and len(msgs) == 1 and "InputNames" in msgs[0]


def test_ports_whose_letters_agree_get_distinct_symbols(woxi):
    assoc, net = graph_two_inputs()
    assoc = {**assoc, "Inputs": {"a_b": T(2), "ab": T(2)},
             "Edges": [edge(("Nodes", "max", "Inputs", "1"), ("Inputs", "a_b")),
                       edge(("Nodes", "max", "Inputs", "2"), ("Inputs", "ab"))] + assoc["Edges"][2:]}
    text, msgs = woxi.run(f"ToString[NetAssociationToFunction[{wl_text(assoc, woxi.number)}], InputForm]")
    assert not msgs and str(text).strip('"').startswith("Function[{inabv1, inabv2}")
    xs = _inputs(net, 3)
    got = run_function(woxi, assoc, xs, "Compact", "List")
    np.testing.assert_allclose(got, net(*xs), rtol=RTOL, atol=ATOL)


def test_embedding_compact_only(engine):
    w = rng.normal(size=(5, 2))
    a = {"Type": "Chain", "Nodes": {"1": {"Type": "Embedding", "Arrays": {"Weights": w}, "Parameters": {},
                                          "Inputs": {"Input": Call("TensorT", ([3], Call("IndexIntegerT", (5,))))},
                                          "Outputs": {"Output": T(3, 2)}}},
         "Inputs": {"Input": Call("TensorT", ([3], Call("IndexIntegerT", (5,))))}, "Outputs": {"Output": T(3, 2)}}
    got = engine.numbers(f"NetAssociationToFunction[{wl_text(a, engine.number)}][{{5, 1, 2}}]")
    np.testing.assert_array_equal(np.array(got), w[[4, 0, 1]])
    r, msgs = engine.run(f'NetAssociationToFunction[{wl_text(a, engine.number)}, "Form" -> "Expanded"]')
    assert str(r).endswith("$Failed") and "Compact" in msgs[0]


# ---- the shared IR table (tests/cases.py) through the wlfiles writer --------------------------------

def _shared_cases():
    """(name, assoc, net) for every case of tests/cases.py that has a Wolfram form."""
    try:
        from wlbridge.frontends.wolfram.netwriter import assoc_from_net

        from .cases import CASES as SHARED
    except ImportError:
        return []
    from wlbridge.errors import UnsupportedLayerError

    out = []
    for c in SHARED:
        net = c.build()
        try:
            out.append(pytest.param(c.name, assoc_from_net(net), net, id=c.name,
                                    marks=() if "mathics_heavy" not in c.tags else pytest.mark.slow))
        except UnsupportedLayerError:
            continue
    return out


SHARED_CASES = _shared_cases()
# Mathics3 takes seconds per net: a few representative cases; the rest of the table runs in Woxi
MATHICS_SHARED = {"act_selu_params", "act_leaky_relu", "softmax_axis0", "residual", "pool_avg_exclude"}


def _check_shared(engine, assoc, net, form, n):
    from .cases import sample_inputs

    xs = sample_inputs(net, n, seed=3)
    call = ", ".join(f"wlbF[{_arg_text(xs, i, 'List', engine.number)}]" for i in range(n))
    fn = f'wlbF = NetAssociationToFunction[{wl_text(assoc, engine.number)}, "Form" -> "{form}"]'
    _, msgs = engine.run(fn)
    assert not msgs, msgs
    got = engine.numbers("Map[If[AssociationQ[#], Values[#], #] &, {" + call + "}]")
    want = net(*xs)
    want = [want] if len(net.outputs) == 1 else want
    for k, w in enumerate(want):
        g = np.array([row[k] if len(net.outputs) > 1 else row for row in got], dtype=np.float64)
        rtol = 1e-5 if net.dtype == np.float32 else RTOL
        np.testing.assert_allclose(g.reshape(w.shape), w, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name,assoc,net", SHARED_CASES)
def test_shared_cases_woxi(woxi, name, assoc, net):
    _check_shared(woxi, assoc, net, "Compact", 4)
    if name.startswith("act_") or name in ("residual", "concat_graph", "batchnorm", "reshape", "float32"):
        _check_shared(woxi, assoc, net, "Expanded", 2)


@pytest.mark.parametrize("name,assoc,net", [p for p in SHARED_CASES if p.values[0] in MATHICS_SHARED])
def test_shared_cases_mathics(mathics, name, assoc, net):
    _check_shared(mathics, assoc, net, "Compact", 1)


def test_a_single_layer_association(woxi):
    """NetToFunction[LinearLayer[...]]: NData of a layer is the layer's own association."""
    w, b = W(2, 3), rng.normal(size=2)
    layer = {"Type": "Linear", "Arrays": {"Weights": w, "Biases": b}, "Parameters": {"OutputDimensions": [2]},
             "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(2)}}
    x = rng.normal(size=3)
    got = woxi.numbers(f"NetAssociationToFunction[{wl_text(layer, woxi.number)}][{wl_text(x, woxi.number)}]")
    np.testing.assert_allclose(got, w @ x + b, rtol=RTOL)
