"""Per-layer checks: one layer of the emitted code corrupted, for each op family of the case table,
is named (value, op) by the per-layer table in Woxi, Mathics3 and sympy, by bisection, by a failed
``check`` itself (no per_layer asked), and through the kernel path (the stand-in kernel)."""
from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest

from wlbridge.check.engines import get_engines
from wlbridge.check.perlayer import Compact, PerLayerUnavailable, engine_bisect, engine_table, first_divergence, sympy_table
from wlbridge.check.report import CODE_RTOL
from wlbridge.reference import trace

from .cases import CASE_BY_NAME, CASES, sample_inputs

TOL = dict(rtol=CODE_RTOL, atol=None)
SHIFT = 0.125


def _families() -> list[tuple[str, int]]:
    """(case, entry index): for each op of the case table, the first case whose compact code binds a layer of it."""
    seen, picked = set(), []
    for c in CASES:
        net = c.build()
        for k, e in enumerate(Compact.parse(net.to_wl(), net).entries):
            if e.op not in seen and e.op != "input":
                seen.add(e.op)
                picked.append((c.name, k))
    return picked


FAMILIES = _families()


def _corrupted(name: str, k: int, call: str = "list"):
    """The net, its inputs and reference values, and its compact code with entry ``k`` shifted by SHIFT."""
    net = CASE_BY_NAME[name].build()
    layout = Compact.parse(net.to_wl(call=call), net, call)
    entry = layout.entries[k]
    entry.text = f"({entry.text}) + {SHIFT}"
    xs = sample_inputs(net, 3, seed=1)
    return net, layout, entry, xs, trace(net, *xs)


@pytest.fixture(scope="module")
def woxi():
    engine = get_engines("woxi")[0]
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def mathics():
    engine = get_engines("mathics")[0]
    yield engine
    engine.close()


def test_every_op_family_of_the_case_table_is_covered():
    ops = {f for c in CASES for f in (layer.op for layer in c.build().layers)}
    covered = {Compact.parse(CASE_BY_NAME[n].build().to_wl(), CASE_BY_NAME[n].build()).entries[k].op
               for n, k in FAMILIES}
    assert len(FAMILIES) >= 20
    # ops that never get a binding of their own (folded into a neighbour, or an input port's constant)
    assert ops - covered <= {"constant", "identity", "flatten", "reshape"}, ops - covered


@pytest.mark.parametrize("name,k", FAMILIES, ids=[f"{n}-{k}" for n, k in FAMILIES])
def test_a_corrupted_layer_is_found_in_woxi(woxi, name, k):
    net, layout, entry, xs, values = _corrupted(name, k)
    rows = engine_table(woxi, layout, xs, values, call="list", tol=TOL)
    first = first_divergence(rows)
    assert (first.value, first.op) == (entry.value, entry.op)
    assert all(r.passed for r in rows[:k])  # everything before it agrees
    np.testing.assert_allclose(first.max_abs, SHIFT, rtol=1e-6)
    if all(r.passed is False for r in rows[k:]):  # bisection assumes the error stays (not so under a softmax's shift)
        found = engine_bisect(woxi, layout, xs, values, call="list", tol=TOL)
        assert (found.value, found.op, found.note) == (entry.value, entry.op, "found by bisection")


@pytest.mark.parametrize("name,k", [f for f in FAMILIES if "mathics_heavy" not in CASE_BY_NAME[f[0]].tags],
                         ids=lambda v: str(v))
def test_a_corrupted_layer_is_found_in_mathics(mathics, name, k):
    net, layout, entry, xs, values = _corrupted(name, k)
    first = first_divergence(engine_table(mathics, layout, [x[:1] for x in xs], trace(net, *[x[:1] for x in xs]),
                                          call="list", tol=TOL))
    assert (first.value, first.op) == (entry.value, entry.op)
    np.testing.assert_allclose(first.max_abs, SHIFT, rtol=1e-6)


SYMPY_FAMILIES = [f for f in FAMILIES if "data_dependent" not in CASE_BY_NAME[f[0]].tags]  # sympy refuses those


@pytest.mark.parametrize("name,k", SYMPY_FAMILIES, ids=[f"{n}-{k}" for n, k in SYMPY_FAMILIES])
def test_a_corrupted_sympy_layer_is_found(name, k):
    from wlbridge.emit.sympy_layers import layer_steps

    net, _, entry, xs, values = _corrupted(name, k)
    steps = layer_steps(net)
    i = next(i for i, (layer, _) in enumerate(steps) if layer.output == entry.value)
    layer, fn = steps[i]
    steps[i] = (layer, lambda *a, fn=fn: np.asarray(fn(*a)) + SHIFT)
    rows = sympy_table(net, xs, values, tol=TOL, steps=steps)
    first = first_divergence(rows)
    assert (first.value, first.op) == (entry.value, entry.op)
    np.testing.assert_allclose(first.max_abs, SHIFT, rtol=1e-6)
    assert first_divergence(sympy_table(net, xs, values, tol=TOL)) is None


@pytest.mark.parametrize("name", ["residual", "cnn", "lstm", "multi_input"])
def test_a_failed_check_names_its_first_diverging_layer(woxi, name):
    k = 1 if name != "multi_input" else 0
    net, layout, entry, _, _ = _corrupted(name, k)
    report = net.check(engine=woxi, code=layout.text(), samples=8, sympy=False, progress=False)
    assert not report.passed
    d = report.divergence
    assert (d.evaluator, d.value, d.op) == ("woxi", entry.value, entry.op)
    assert f"first diverging layer in woxi: {entry.value} ({entry.op}" in str(report)
    data = report.to_dict()
    assert data["first_divergence"]["value"] == entry.value
    schema = json.loads(open("wlbridge/check/report_schema.json").read())
    jsonschema.validate(data, schema)


def test_per_layer_table_on_a_passing_check(woxi):
    net = CASE_BY_NAME["seed_net"].build()
    report = net.check(engine=woxi, samples=8, per_layer=True, progress=False)
    assert report.passed and report.divergence is None
    assert [r.value for r in report.layers if r.evaluator == "woxi"] == [e.value for e in
                                                                          Compact.parse(net.to_wl(), net).entries]
    assert {r.evaluator for r in report.layers} == {"woxi", "sympy"}
    assert max(r.max_abs for r in report.layers) < 1e-12
    jsonschema.validate(report.to_dict(), json.loads(open("wlbridge/check/report_schema.json").read()))


def test_sequence_call_and_module_form(woxi, monkeypatch):
    net, layout, entry, xs, values = _corrupted("residual", 2, call="sequence")
    assert layout.entries[0].op == "input"  # the port's scalars bound to a list first
    first = first_divergence(engine_table(woxi, layout, xs, values, call="sequence", tol=TOL))
    assert first.value == entry.value
    import wlbridge.emit.wl as wl

    monkeypatch.setattr(wl, "MAX_WITH_DEPTH", 1)  # the flat Module[...] form of long chains
    net = CASE_BY_NAME["residual"].build()
    layout = Compact.parse(net.to_wl(), net)
    assert layout.module and layout.text() == net.to_wl()
    layout.entries[1].text = f"({layout.entries[1].text}) + {SHIFT}"
    first = first_divergence(engine_table(woxi, layout, xs, values, call="list", tol=TOL))
    assert (first.value, first.op) == (layout.entries[1].value, "elementwise")


def test_code_that_is_not_the_compact_form():
    net = CASE_BY_NAME["residual"].build()
    with pytest.raises(PerLayerUnavailable):
        Compact.parse(net.to_wl(form="expanded"), net)
    report = net.check(engine="woxi", code=net.to_wl(form="expanded").replace("0.", "0.1", 1), samples=4,
                       sympy=False, progress=False)
    assert not report.passed and report.divergence is None
    assert any(n.startswith("per layer: not in the WL engines") for n in report.notes)


def test_an_engine_error_in_a_layer_is_its_divergence(woxi):
    net = CASE_BY_NAME["residual"].build()
    layout = Compact.parse(net.to_wl(), net)
    layout.entries[2].text = "Undefined`Thing[" + layout.entries[2].text + "]"
    xs = sample_inputs(net, 2, seed=0)
    first = first_divergence(engine_table(woxi, layout, xs, trace(net, *xs), call="list", tol=TOL))
    assert first.value == layout.entries[2].value and math.isinf(first.max_abs) and first.note


def test_kernel_path_finds_the_corrupted_layer(tmp_path_factory):
    from .kernel_backends import kernel_for

    kernel = kernel_for("standin", tmp_path_factory)
    net, layout, entry, _, _ = _corrupted("residual", 2)
    report = net.check(engine="wolfram", kernel=kernel, code=layout.text(), samples=4, sympy=False,
                       progress=False, per_layer=True)
    assert not report.passed
    assert (report.divergence.evaluator, report.divergence.value, report.divergence.op) == \
        ("wolfram", entry.value, entry.op)
    np.testing.assert_allclose(report.divergence.max_abs, SHIFT, rtol=1e-6)


def test_a_failed_check_in_mathics_names_the_layer_on_its_worst_sample(mathics):
    net, layout, entry, _, _ = _corrupted("concat_graph", 1)
    report = net.check(engine=mathics, code=layout.text(), samples=6, sympy=False, progress=False)
    d = report.divergence
    assert not report.passed and (d.evaluator, d.value, d.op) == ("mathics", entry.value, entry.op)
    np.testing.assert_allclose(d.max_abs, SHIFT, rtol=1e-6)


def test_a_costly_table_is_replaced_by_bisection(woxi, monkeypatch):
    import wlbridge.check.perlayer as perlayer

    monkeypatch.setattr(perlayer, "TABLE_NUMBERS", 1)  # every table "too costly"
    net, layout, entry, _, _ = _corrupted("seed_net", 1)
    report = net.check(engine=woxi, code=layout.text(), samples=8, sympy=False, progress=False)
    d = report.divergence
    assert (d.value, d.op, d.note) == (entry.value, entry.op, "found by bisection")
