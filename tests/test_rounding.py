"""digits=: rounded display in WL, sympy and LaTeX; check(digits=) reports the rounding's error instead of passing."""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.passes.rounding import round_significant, round_weights

from .test_symbolic import mlp


def test_round_significant():
    a = np.array([0.0, 123456.0, -0.000123456, 1.5, np.inf])
    np.testing.assert_array_equal(round_significant(a, 2), [0.0, 120000.0, -0.00012, 1.5, np.inf])
    with pytest.raises(ValueError, match="positive integer"):
        round_significant(a, 0)


def test_forms_use_rounded_weights():
    net = mlp()
    w = net.layers[0].params["weight"][0, 0]
    assert repr(float(f"{w:.3g}")) + "`" in net.to_wl(digits=3)
    assert repr(float(w)) + "`" in net.to_wl()  # default: exact
    expanded = net.to_sympy(form="expanded", digits=2)
    x = np.random.default_rng(0).standard_normal(3)
    import sympy as sp

    f = sp.lambdify(sorted(expanded.free_symbols, key=str), expanded, "numpy")
    np.testing.assert_allclose(np.ravel(f(*x)), round_weights(net, 2)(x), rtol=1e-12)
    assert "0.13" in net.to_latex(digits=2)


@pytest.mark.woxi
def test_check_reports_rounding_error():
    pytest.importorskip("woxi")
    net = mlp()
    xs = np.random.default_rng(1).standard_normal((16, 3))
    report = net.check(engine="woxi", inputs=[xs], digits=3, sympy=False)
    want = np.max(np.abs(round_weights(net, 3)(xs) - net(xs)))
    assert not report.passed
    assert report.max_abs_err == pytest.approx(want, rel=1e-6)
    assert any("rounded to 3 significant digits" in n for n in report.notes), str(report)
    assert net.check(engine="woxi", inputs=[xs], sympy=False).passed
