"""The paclet's AttentionLayer and NetMapOperator-of-a-container rules in the embedded engines: its Function
equals wlbridge's Python reading of the same association (layers_attention.py, layers_seq.py) on samples."""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.frontends.wolfram.expr import Symbol, call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc

from .paclet_nets import wl_text
from .test_paclet import _check_shared, mathics, woxi  # noqa: F401 - the engine fixtures
from .test_wolfram_attention import attention_net, bilinear_net, custom_net
from .wolfram_files import NP as P
from .wolfram_files import T
from .wolfram_files import rule as R

NONE = Symbol("None")


def _att(kd, vd, qd, rescale=None, causal=False, heads=False, **kw):
    return attention_net(kd, vd, qd, multi=heads, ScoreRescaling=rescale or NONE,
                         Mask="Causal" if causal else NONE, **kw)


def input_query_net(kd=(5, 3), qd=(2, 3), rescale=None, causal=False, heads=False):
    """Ports Input (key and value) and Query."""
    assoc = _att(kd, kd, qd, rescale, causal, heads, **{"$InputPorts": "InputQuery"})
    layer = assoc["Nodes"]["att"]
    layer["Inputs"] = {"Input": T(*kd), "Query": T(*qd)}
    assoc["Inputs"] = dict(layer["Inputs"])
    assoc["Edges"] = [R(P("Nodes", "att", "Inputs", n), P("Inputs", n)) for n in ("Input", "Query")] + \
        [assoc["Edges"][-1]]
    return assoc


def _bilinear():
    w = np.random.default_rng(11).normal(size=(4, 3))  # {query channels, key channels}
    return _att((5, 3), (5, 2), (2, 4), "DimensionSqrt", scoring=bilinear_net(3, 4, w))


def _bilinear_multi_causal():
    w = np.random.default_rng(12).normal(size=(2, 3))
    return _att((4, 2, 3), (4, 2, 2), (4, 2, 2), "LengthSqrt", causal=True, heads=True, scoring=bilinear_net(3, 2, w))


CASES = {
    "single_head": lambda: _att((5, 3), (5, 4), (2, 3)),
    "one_query": lambda: _att((5, 3), (5, 4), (3,)),
    "rank3_positions": lambda: _att((2, 3, 4), (2, 3, 2), (2, 2, 4)),
    "length_sqrt": lambda: _att((6, 4), (6, 3), (2, 4), "LengthSqrt"),
    "dimension_sqrt": lambda: _att((6, 4), (6, 3), (2, 4), "DimensionSqrt"),
    "causal": lambda: _att((4, 3), (4, 2), (4, 3), causal=True),
    "causal_length_sqrt": lambda: _att((4, 3), (4, 2), (4, 3), "LengthSqrt", causal=True),
    "multi_head": lambda: _att((5, 2, 3), (5, 2, 4), (3, 2, 3), "DimensionSqrt", heads=True),
    "multi_head_causal": lambda: _att((4, 2, 3), (4, 2, 2), (4, 2, 3), causal=True, heads=True),
    "multi_head_one_query": lambda: _att((5, 2, 3), (5, 2, 4), (2, 3), heads=True),
    "bilinear": _bilinear,
    "bilinear_multi_causal": _bilinear_multi_causal,
    "input_query": input_query_net,
}
# "Call" -> "List" with "Form" -> "Expanded" takes at most two ports: the Input/Query form
EXPANDED = {
    "causal_length_sqrt": lambda: input_query_net((4, 3), (4, 3), "LengthSqrt", causal=True),
    "multi_head_one_query": lambda: input_query_net((3, 2, 3), (2, 3), "DimensionSqrt", heads=True),
}
# Mathics3 (pure Python) is slow: four representative settings, tiny sizes, one sample
MATHICS = {
    "causal_length_sqrt": lambda: _att((3, 2), (3, 2), (3, 2), "LengthSqrt", causal=True),
    "multi_head_one_query": lambda: _att((3, 2, 2), (3, 2, 2), (2, 2), "DimensionSqrt", heads=True),
    "multi_head_causal": lambda: _att((3, 2, 2), (3, 2, 2), (3, 2, 2), causal=True, heads=True),
    "bilinear": lambda: _att((3, 2), (3, 2), (2, 3), scoring=bilinear_net(2, 3, np.arange(6.).reshape(3, 2) / 5)),
}


@pytest.mark.woxi
@pytest.mark.parametrize("name", sorted(CASES))
def test_attention_woxi(woxi, name):
    assoc = CASES[name]()
    _check_shared(woxi, assoc, net_from_assoc(assoc, source=name), "Compact", 3)


@pytest.mark.woxi
@pytest.mark.parametrize("name", sorted(EXPANDED))
def test_attention_expanded_woxi(woxi, name):
    assoc = EXPANDED[name]()
    _check_shared(woxi, assoc, net_from_assoc(assoc, source=name), "Expanded", 2)


@pytest.mark.mathics
@pytest.mark.parametrize("name", sorted(MATHICS))
def test_attention_mathics(mathics, name):
    assoc = MATHICS[name]()
    _check_shared(mathics, assoc, net_from_assoc(assoc, source=name), "Compact", 1)


@pytest.mark.woxi
@pytest.mark.parametrize("change,reason", [
    ({"scoring": custom_net(3)}, 'ScoringNet with {"Dot", "Elementwise", "Linear"} (only the "Dot" and'),
    ({"Mask": call("Rule", "Causal", 2)}, "Mask -> "),
    ({"ScoreRescaling": "Bogus"}, 'ScoreRescaling -> "Bogus"'),
])
def test_refused_settings_give_the_paclets_message(woxi, change, reason):
    assoc = attention_net((4, 3), (4, 2), (4, 3), **change)
    r, msgs = woxi.run(f"NetAssociationToFunction[{wl_text(assoc, woxi.number)}]")
    assert str(r).endswith("$Failed")
    assert len(msgs) == 1 and "1 unsupported layer(s): Nodes/att (Attention): " in msgs[0] and reason in msgs[0], msgs


# ---- NetMapOperator of a container ------------------------------------------------------------------

def _node(type_, in_dims, out_dims, arrays=None, params=None):
    return {"Type": type_, "Arrays": arrays or {}, "Parameters": params or {},
            "Inputs": {"Input": T(*in_dims)}, "Outputs": {"Output": T(*out_dims)}}


def _chain(nodes, in_dims, out_dims):
    return {"Type": "Chain", "Nodes": {str(i + 1): n for i, n in enumerate(nodes)},
            "Inputs": {"Input": T(*in_dims)}, "Outputs": {"Output": T(*out_dims)}}


def mapped_chain(steps=3, k=2, n=3, inner_function=Symbol("Tanh")):
    """NetMapOperator[NetChain[{LinearLayer[n], Tanh}]] over ``steps`` vectors of size ``k``, then a Linear."""
    g = np.random.default_rng(21)
    inner = _chain([_node("Linear", (k,), (n,), {"Weights": g.normal(size=(n, k)), "Biases": g.normal(size=n)}),
                    _node("Elementwise", (n,), (n,), params={"Function": call("ValidatedParameter", inner_function)})],
                   (k,), (n,))
    mapped = _node("NetMap", (steps, k), (steps, n), params={"Net": inner})
    last = _node("Linear", (steps, n), (2,), {"Weights": g.normal(size=(2, steps * n)), "Biases": NONE})
    return _chain([mapped, last], (steps, k), (2,))


def mapped_residual_graph(steps=3, k=2):
    """NetMapOperator of a NetGraph: x + Tanh[Linear[x]] per step."""
    g = np.random.default_rng(22)
    nodes = {"lin": _node("Linear", (k,), (k,), {"Weights": g.normal(size=(k, k)), "Biases": g.normal(size=k)}),
             "tanh": _node("Elementwise", (k,), (k,), params={"Function": call("ValidatedParameter", Symbol("Tanh"))}),
             "sum": {"Type": "Total", "Arrays": {}, "Parameters": {}, "Inputs": {"1": T(k), "2": T(k)},
                     "Outputs": {"Output": T(k)}}}
    edges = [R(P("Nodes", "lin", "Inputs", "Input"), P("Inputs", "Input")),
             R(P("Nodes", "tanh", "Inputs", "Input"), P("Nodes", "lin", "Outputs", "Output")),
             R(P("Nodes", "sum", "Inputs", "1"), P("Inputs", "Input")),
             R(P("Nodes", "sum", "Inputs", "2"), P("Nodes", "tanh", "Outputs", "Output")),
             R(P("Outputs", "Output"), P("Nodes", "sum", "Outputs", "Output"))]
    inner = {"Type": "Graph", "Nodes": nodes, "Edges": edges, "Inputs": {"Input": T(k)}, "Outputs": {"Output": T(k)}}
    return _chain([_node("NetMap", (steps, k), (steps, k), params={"Net": inner})], (steps, k), (steps, k))


@pytest.mark.woxi
def test_net_map_of_a_graph_woxi(woxi):
    assoc = mapped_residual_graph()
    _check_shared(woxi, assoc, net_from_assoc(assoc, source="mapg"), "Compact", 3)


@pytest.mark.woxi
@pytest.mark.parametrize("form", ["Compact", "Expanded"])
def test_net_map_of_a_chain_woxi(woxi, form):
    assoc = mapped_chain()
    _check_shared(woxi, assoc, net_from_assoc(assoc, source="map"), form, 3)


@pytest.mark.mathics
def test_net_map_of_a_chain_mathics(mathics):
    assoc = mapped_chain(steps=2)
    _check_shared(mathics, assoc, net_from_assoc(assoc, source="map"), "Compact", 1)


@pytest.mark.woxi
def test_net_map_keeps_the_inner_bindings_inside_the_mapped_function(woxi):
    text, msgs = woxi.run(f"ToString[NetAssociationToFunction[{wl_text(mapped_chain(), woxi.number)}], InputForm]")
    text = str(text).replace(" ", "").strip('"')
    assert not msgs
    # the outer chain has two bindings (the map, the last Linear); the inner ones live in the mapped Function
    assert text.startswith("Function[{x},With[{h") and "Map[Function[{h" in text and "Tanh[h" in text
    assert text.count("With[") == 4, text


@pytest.mark.woxi
def test_net_map_of_a_chain_with_an_unsupported_layer_names_it(woxi):
    assoc = mapped_chain()
    assoc["Nodes"]["1"]["Parameters"]["Net"]["Nodes"]["2"]["Type"] = "Bogus"
    r, msgs = woxi.run(f"NetAssociationToFunction[{wl_text(assoc, woxi.number)}]")
    assert str(r).endswith("$Failed") and len(msgs) == 1
    assert "Nodes/1/Parameters/Net/Nodes/2 (Bogus)" in msgs[0] and "Nodes/1 (NetMap)" in msgs[0], msgs
