"""The real Wolfram nets of issue #3, end to end: load, convert (compact / expanded WL, sympy), check.

The files are unlicensed copies kept outside the repository (``../shared/fixtures/wlnet``, see
tests/wolfram_files.py); every test skips cleanly without them. Timings on a loaded 2-core machine:
Woxi takes a few seconds per CNN check, Mathics3 ~35 s per eigenjs7 sample (madd-bound, ~4 k
multiply-adds per second), so Mathics3 checks a cheap part of each CNN here and the whole nets
under ``-m slow``; so does Woxi for ML_Supergroup, whose 13 MB of code takes Woxi minutes to parse.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import wlbridge as wb
from tests.wolfram_files import real_file
from wlbridge.check.sympy_eval import evaluate_sympy
from wlbridge.cli import main
from wlbridge.ir import Net, NetBuilder

WIS22 = "WIS22_net.wlnet"
EIGENJS7 = "eigenjs7_trainedNet1.wlnet"
ML = "ML_Supergroup_Demo_Net.wlnet"


def load(name: str) -> Net:
    return wb.load(real_file(name))


def part(net: Net, start: str | None = None, end: str | None = None) -> Net:
    """The layers of ``net`` strictly after value ``start`` (or from the input) up to ``end``."""
    names = [layer.output for layer in net.layers]
    lo = names.index(start) + 1 if start else 0
    hi = names.index(end) + 1 if end else len(names)
    b = NetBuilder(f"{net.name}[{start or ''}:{end or ''}]")
    if start:
        b.input(start, net.shapes[start])
    else:
        b.input(net.inputs[0].name, net.inputs[0].shape)
    for layer in net.layers[lo:hi]:
        b.layer(layer.op, layer.inputs, params=layer.params, attrs=layer.attrs, path=layer.path, name=layer.output)
    return b.build([end or net.outputs[0]])


def slow_only(request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: run with -m slow")


def assert_passed(report, engines, samples, atol=1e-12):
    assert report.passed, str(report)
    rows = {r.evaluator: r for r in report.rows}
    for e in engines:
        assert rows[e].passed and rows[e].samples == samples, str(report)
        assert rows[e].max_abs <= atol, str(report)


# ---- WIS22: 1 -> 10 -> 10 -> 1 Tanh ----------------------------------------------------------
def test_wis22_structure_and_forms():
    net = load(WIS22)
    assert net.input_shape == () and net.output_shape == ()
    assert [layer.op for layer in net.layers] == ["flatten", "linear", "elementwise", "linear", "elementwise",
                                                  "linear", "reshape"]
    assert net.param_count == 10 + 10 + 100 + 10 + 10 + 1
    expanded = net.to_wl(form="expanded")
    assert expanded.count("Tanh[") == 10 + 10 * 10 and "With[{h" not in expanded
    assert net.to_wl().count("With[{h") == 6
    x = np.linspace(-2.0, 2.0, 7)
    for form in ("compact", "expanded"):
        got = evaluate_sympy(net, [x], form=form)[0]
        np.testing.assert_allclose(got, net(x), rtol=1e-12, atol=1e-12)


@pytest.mark.woxi
@pytest.mark.mathics
@pytest.mark.parametrize("form", ["compact", "expanded"])
def test_wis22_checks_in_woxi_and_mathics(form):
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    report = load(WIS22).check(engine="embedded", samples=16, form=form)
    assert_passed(report, ["woxi", "mathics", "sympy"], 16)


# ---- eigenjs7_trainedNet1 (14.3): 3x32x32 image, 4 x conv+BN+ReLU+max pool, linear, softmax ---
def test_eigenjs7_structure_and_compact_code():
    net = load(EIGENJS7)
    assert net.input_shape == (3, 32, 32) and net.output_shape == (10,)
    ops = [layer.op for layer in net.layers]
    assert ops.count("conv") == 4 and ops.count("batchnorm") == 4 and ops.count("pool") == 5
    assert ops[-1] == "softmax" and net.param_count == 576
    code = net.to_wl()
    assert code.count("With[{h") == 20 and len(code) < 40 * net.param_count
    assert code.count(" . Flatten[{pad[[All, ") == 4  # each conv: one Dot with the stacked views
    assert "Map[Function[c, {{Max[c]}}], h20]" in code  # the 4x4 pool over a 4x4 map
    assert re.search(r"h9 = With\[\{pad = PadRight\[PadLeft\[h7,", code)  # the 1x1 pool is the identity


@pytest.mark.woxi
def test_eigenjs7_checks_in_woxi():
    pytest.importorskip("woxi")
    report = load(EIGENJS7).check(engine="woxi", samples=4, sympy=False)
    assert_passed(report, ["woxi"], 4)


@pytest.mark.mathics
def test_eigenjs7_head_checks_in_mathics():
    """Both max pools, flatten, linear and softmax on real weights (conv, batch norm and ReLU on
    real weights: the ML_Supergroup block below; the whole net: under -m slow)."""
    pytest.importorskip("mathics")
    report = part(load(EIGENJS7), start="h19").check(engine="mathics", samples=1, sympy=False)
    assert_passed(report, ["mathics"], 1)


@pytest.mark.slow
@pytest.mark.mathics
def test_eigenjs7_checks_in_mathics(request):
    slow_only(request)
    pytest.importorskip("mathics")
    report = load(EIGENJS7).check(engine="mathics", samples=1, sympy=False, mathics_budget=600)
    assert_passed(report, ["mathics"], 1)


# ---- ML_Supergroup_Demo_Net (11.3.5): 1x10x10, 3 x conv+BN+ReLU, 1024 -> 500 -> 100 ----------
def test_ml_supergroup_structure_and_compact_code():
    net = load(ML)
    assert net.input_shape == (1, 10, 10) and net.output_shape == (100,)
    assert [layer.op for layer in net.layers].count("conv") == 3 and net.param_count == 586_344
    code = net.to_wl()
    # past a million characters the layers are one flat Module (Woxi parses it twice as fast)
    assert code.startswith("Function[{x}, Module[{h1, h2, ") and len(code) < 25 * net.param_count
    assert code.count(" . Flatten[{x[[All, ") + code.count(" . Flatten[{h") == 3


@pytest.mark.woxi
def test_ml_supergroup_conv_trunk_checks_in_woxi():
    pytest.importorskip("woxi")
    report = part(load(ML), end="h10").check(engine="woxi", samples=4, sympy=False)
    assert_passed(report, ["woxi"], 4)


@pytest.mark.mathics
def test_ml_supergroup_first_block_checks_in_mathics():
    pytest.importorskip("mathics")
    report = part(load(ML), end="h3").check(engine="mathics", samples=1, sympy=False)
    assert_passed(report, ["mathics"], 1)


@pytest.mark.slow
@pytest.mark.woxi
def test_ml_supergroup_checks_in_woxi(request):
    slow_only(request)
    pytest.importorskip("woxi")
    report = load(ML).check(engine="woxi", samples=2, sympy=False)
    assert_passed(report, ["woxi"], 2)


# ---- the command line -------------------------------------------------------------------------
@pytest.mark.woxi
def test_cli_check_eigenjs7_in_woxi(capsys):
    pytest.importorskip("woxi")
    assert main(["check", str(real_file(EIGENJS7)), "--engine", "woxi", "--samples", "4"]) == 0
    out = capsys.readouterr().out
    assert "check eigenjs7_trainedNet1: 4 samples (seed 0), engine woxi" in out and "PASSED" in out
    row = re.search(r"^\s+woxi\s+4\s+(\S+)\s+(\S+)\s.*\bok$", out, re.M)
    assert row and float(row.group(1)) < 1e-12, out


@pytest.mark.parametrize("name, shapes, params", [
    (EIGENJS7, ["x: f32[3,32,32]", "h5: f32[1,32,32] = conv", "h21: f32[8,1,1] = pool", "h24: f32[10] = softmax"],
     "parameters:  570 (float32): 540 trainable, 30 buffers (batch norm running mean and variance); "
     "6 constants (float64)"),
    (ML, ["x: f32[1,10,10]", "h1: f32[16,8,8] = conv", "h10: f32[1024] = flatten", "h14: f32[100] = linear"],
     "parameters:  586344"),
])
def test_cli_info(capsys, name, shapes, params):
    assert main(["info", str(real_file(name))]) == 0
    out = capsys.readouterr().out
    for s in shapes + [params, "emit wl:     all"]:
        assert s in out, out
