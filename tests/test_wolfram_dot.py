"""DotLayer, NetMapThreadOperator and NetMapOperator (issue 10): products of two variables and per-element
maps in Wolfram net associations, laid out as the paclet's definition files say (wlbridge/frontends/wolfram/
layers_dot.py); read, written back by ``save_wlnet`` and run by the paclet in Woxi."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import FormatError, UnsupportedLayerError
from wlbridge.frontends.wolfram.expr import call
from wlbridge.frontends.wolfram.netassoc import net_from_assoc
from wlbridge.frontends.wolfram.netwriter import assoc_from_net

from .test_wolfram_seq import T

G = np.random.default_rng(30)


def _graph(node, ins: dict, out):
    """A NetGraph of one node fed by the graph's inputs "a", "b", ... in port order "1", "2", ..."""
    names = list(ins)
    edges = [call("Rule", call("NetPath", "Nodes", "n", "Inputs", port), call("NetPath", "Inputs", name))
             for port, name in zip(node["Inputs"], names)]
    edges.append(call("Rule", call("NetPath", "Outputs", "Output"), call("NetPath", "Nodes", "n", "Outputs", "Output")))
    return {"Type": "Graph", "Nodes": {"n": node}, "Edges": edges,
            "Inputs": {n: T(*d) for n, d in ins.items()}, "Outputs": {"Output": T(*out)}}


def _dot(*dims, out):
    return {"Type": "Dot", "Arrays": {}, "Parameters": {},
            "Inputs": {str(i + 1): T(*d) for i, d in enumerate(dims)}, "Outputs": {"Output": T(*out)}}


def _map_thread(inner, level, ins, out):
    return {"Type": "NetMapThread", "Arrays": {}, "Parameters": {"Net": inner, "Level": call("ValidatedParameter", level)},
            "Inputs": {str(i + 1): T(*d) for i, d in enumerate(ins)}, "Outputs": {"Output": T(*out)}}


DOTS = {  # name: (input dims, output dims, numpy)
    "matrix_matrix": ([(2, 3), (3, 4)], (2, 4), lambda a, b: a @ b),
    "matrix_vector": ([(2, 3), (3,)], (2,), lambda a, b: np.einsum("nij,nj->ni", a, b)),
    "vector_vector": ([(3,), (3,)], (), lambda a, b: np.einsum("ni,ni->n", a, b)),
    "tensor_matrix": ([(2, 2, 3), (3, 4)], (2, 2, 4), lambda a, b: np.einsum("nabi,nij->nabj", a, b)),
    "three_inputs": ([(2, 3), (3, 4), (4,)], (2,), lambda a, b, c: np.einsum("nij,njk,nk->ni", a, b, c)),
}


def _inputs(dims, n=3, seed=31):
    g = np.random.default_rng(seed)
    return [g.normal(size=(n, *d)) for d in dims]


@pytest.mark.parametrize("name", list(DOTS))
def test_dot_layer_is_wl_dot(name, tmp_path):
    dims, out, want = DOTS[name]
    ins = {chr(97 + i): d for i, d in enumerate(dims)}
    net = net_from_assoc(_graph(_dot(*dims, out=out), ins, out), source=name)
    xs = _inputs(dims)
    np.testing.assert_allclose(net(*xs), want(*xs), rtol=1e-13)
    wb.save_wlnet(net, tmp_path / "dot.wlnet")
    np.testing.assert_allclose(wb.load(tmp_path / "dot.wlnet")(*xs), want(*xs), rtol=1e-13)


@pytest.mark.parametrize("level,dims,out", [
    (1, [(2, 3, 4), (2, 4, 5)], (2, 3, 5)),
    (2, [(2, 2, 3, 4), (2, 2, 4, 3)], (2, 2, 3, 3)),
    ({"1": 1, "2": 0}, [(2, 3, 4), (4, 5)], (2, 3, 5)),
])
def test_net_map_thread_of_dot_is_one_batch_matmul(level, dims, out, tmp_path):
    node = _map_thread(_dot(dims[0][-2:], dims[1][-2:], out=out[-2:]), level, dims, out)
    net = net_from_assoc(_graph(node, {"a": dims[0], "b": dims[1]}, out), source="mapdot")
    assert [L.op for L in net.layers] == ["batch_matmul"]
    a, b = _inputs(dims)
    want = a @ (b if b.ndim == a.ndim else b[:, None])  # an unmapped input is the same for every element
    np.testing.assert_allclose(net(a, b), want, rtol=1e-13)
    wb.save_wlnet(net, tmp_path / "mapdot.wlnet")
    np.testing.assert_allclose(wb.load(tmp_path / "mapdot.wlnet")(a, b), want, rtol=1e-13)


def test_net_map_thread_of_another_net_is_reported():
    inner = {"Type": "Total", "Arrays": {}, "Parameters": {}, "Inputs": {"1": T(3), "2": T(3)},
             "Outputs": {"Output": T(3)}}
    node = _map_thread(inner, 1, [(2, 3), (2, 3)], (2, 3))
    with pytest.raises(UnsupportedLayerError, match=r"Nodes/n.*other than a DotLayer"):
        net_from_assoc(_graph(node, {"a": (2, 3), "b": (2, 3)}, (2, 3)), source="maptotal")


def test_dot_inputs_that_do_not_chain_are_a_format_error():
    with pytest.raises(FormatError, match=r"\[2, 3\] and \[4\] do not chain"):
        net_from_assoc(_graph(_dot((2, 3), (4,), out=(2,)), {"a": (2, 3), "b": (4,)}, (2,)), source="bad")


def test_broadcast_leading_axes_are_refused_by_the_writer_with_the_reason():
    b = wb.NetBuilder("bmm")
    x, y = b.input("x", (2, 3, 4)), b.input("y", (1, 4, 5))
    with pytest.raises(UnsupportedLayerError, match="broadcast"):
        assoc_from_net(b.build([b.layer("batch_matmul", [x, y])]))


def test_mapped_linear_over_two_axes_is_nested_net_map_operators(tmp_path):
    b = wb.NetBuilder("maplin")
    x = b.input("x", (2, 3, 4))
    w, bias = G.normal(size=(5, 4)), G.normal(size=5)
    net = b.build([b.layer("linear", [x], params={"weight": w, "bias": bias})])
    outer = assoc_from_net(net)["Nodes"]["1"]
    assert outer["Type"] == "NetMap" and outer["Parameters"]["$SequenceLength"] == 2
    assert outer["Parameters"]["Net"]["Type"] == "NetMap"
    assert outer["Parameters"]["Net"]["Parameters"]["Net"]["Type"] == "Linear"
    wb.save_wlnet(net, tmp_path / "maplin.wlnet")
    back = wb.load(tmp_path / "maplin.wlnet")
    assert [L.op for L in back.layers] == ["linear"]
    xs = _inputs([(2, 3, 4)])[0]
    np.testing.assert_allclose(back(xs), xs @ w.T + bias, rtol=1e-14)


CASES = ["matrix_vector", "three_inputs", "map_thread", "map_thread_broadcast", "map_linear"]


@pytest.mark.parametrize("engine,case", [("woxi", c) for c in CASES] +
                         [("mathics", c) for c in ("map_thread_broadcast", "map_linear")])
def test_paclet_runs_the_written_products(engine, case):
    """The paclet's NetAssociationToFunction on the written associations, in Woxi and Mathics3."""
    pytest.importorskip(engine)
    from .test_paclet import Mathics, Woxi, _check_shared

    b = wb.NetBuilder(case)
    if case in DOTS:
        dims, out, _ = DOTS[case]
        net = net_from_assoc(_graph(_dot(*dims, out=out), {chr(97 + i): d for i, d in enumerate(dims)}, out),
                             source=case)
    elif case == "map_linear":
        x = b.input("x", (2, 3, 4))
        net = b.build([b.layer("linear", [x], params={"weight": G.normal(size=(5, 4)), "bias": G.normal(size=5)})])
    else:
        x = b.input("x", (2, 3, 4))
        y = b.input("y", (2, 4, 5) if case == "map_thread" else (4, 5))
        net = b.build([b.layer("batch_matmul", [x, y])])
    _check_shared(Woxi() if engine == "woxi" else Mathics(), assoc_from_net(net), net, "Compact", 2)
