"""Notebook display of nets and reports, and the check plot (issue 12 items 4 and 5)."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check.report import CheckReport, Row
from wlbridge.display import net_latex, report_html, report_markdown
from wlbridge.plot import FLOOR, line_inputs, plot_check

CODE = "Function[{x}, Tanh[{{0.5`, -1.`, 0.25`}, {1.5`, 0.75`, -0.5`}} . x + {0.1`, -0.2`}]]"


def tanh_net(name="tiny"):
    b = wb.NetBuilder(name)
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]]),
                                       "bias": np.array([0.1, -0.2])}, path="<script>alert(1)</script>")
    return b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])


def test_net_display_shows_structure_not_weights():
    net = tanh_net("a|b<i>")
    html, md = net._repr_html_(), net._repr_markdown_()
    assert repr(net) == "<Net a|b<i>: 2 layers, 8 parameters>"
    assert repr(net.layers[0]) == "<Layer h1 = linear(x; weight=f64[2,3], bias=f64[2])  # <script>alert(1)</script>>"
    assert "<script>" not in html and "&lt;script&gt;" in html and "a|b&lt;i&gt;" in html
    assert "<td>f64[2]</td>" in html and "<td>8: weight f64[2,3], bias f64[2]</td>" in html
    assert "a\\|b<i>" in md and "| 2 | `h2` | `elementwise[tanh]` | `h1` | f64[2] |  |  |" in md
    for text in (html, md, repr(net)):
        assert "0.75" not in text and "1.5" not in text


def test_latex_only_for_small_expanded_forms():
    assert net_latex(tanh_net()).startswith(r"$$\left[\begin{matrix}\tanh{\left(")
    b = wb.NetBuilder("wide")
    x = b.input("x", (40,))
    h = b.layer("linear", [x], params={"weight": np.ones((40, 40)), "bias": np.zeros(40)})
    assert b.build([h])._repr_latex_() is None  # 1,600 weights: no formula in the notebook


def test_report_display_colours_results():
    report = CheckReport("n<1>", [Row("woxi", 4, 1e-16, 1e-16, passed=True), Row("mathics", 1, 0.5, 0.1, passed=False,
                                                                             note="off <by> a lot"),
                                  Row("wolfram", passed=None, note="no kernel")], engine="woxi+mathics", samples=4)
    html = report_html(report)
    assert "n&lt;1&gt;" in html and "off &lt;by&gt; a lot" in html and "FAILED" in html
    assert html.count("color:#1a7f37") == 1 and html.count("color:#cf222e") == 2 and "color:#6e7781" in html
    md = report_markdown(report)
    assert "| woxi | 4 | 1.00e-16 |" in md and "❌ FAIL" in md and "➖ skipped" in md and "**FAILED**" in md
    assert repr(report) == str(report) and "mathics: off <by> a lot" in repr(report)


def test_line_inputs_are_a_line():
    t, (xs,) = line_inputs(tanh_net(), points=11, span=2.0, seed=1)
    steps = np.diff(xs, axis=0)
    np.testing.assert_allclose(steps, np.broadcast_to(steps[0], steps.shape), atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(xs[-1] - xs[0]), 4.0, rtol=1e-12)  # |d| = 1, t from -2 to 2


@pytest.mark.woxi
def test_plot_shows_the_net_the_formula_and_the_error():
    pytest.importorskip("matplotlib")
    pytest.importorskip("woxi")
    net = tanh_net()
    fig = net.check(engine="woxi", samples=8).plot(points=50)
    top, bottom = fig.axes
    assert bottom.get_yscale() == "log" and len(top.lines) == 4  # net and formula for 2 outputs
    ref, got = top.lines[0].get_ydata(), top.lines[1].get_ydata()
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    assert "woxi" in top.lines[1].get_label()
    assert np.all(bottom.lines[0].get_ydata() < 1e-14)
    wrong = plot_check(net, CODE.replace("0.25`", "0.35`"), engine="woxi", points=50)
    errors = wrong.axes[1].lines[0].get_ydata()
    assert errors.max() > 0.05 and errors.min() >= FLOOR
