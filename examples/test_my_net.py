"""An example cross-system validation suite: a net on the Python side, a closed form on the Wolfram side.

``wlbridge.testing`` gives ``assert_equivalent`` / ``assert_check`` (they fail with the whole check
report) and session fixtures for the WL engines, each skipped when its engine is absent.
Run: ``pytest examples/test_my_net.py`` (it is part of the project's default test run).
"""
import numpy as np
import pytest

import wlbridge as wb
from wlbridge.testing import NotEquivalentError, assert_check, assert_equivalent

pytest_plugins = ["wlbridge.testing"]  # the fixtures: woxi_engine, mathics_engine, wolfram_engine, wl_engines

W1 = np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]])
B1 = np.array([0.1, -0.2])
W2 = np.array([[2.0, -3.0]])
B2 = np.array([0.5])

# The formula as someone wrote it in Mathematica, called f[x1, x2, x3] (the call is read off its parameters).
FORMULA = ("Function[{x1, x2, x3}, {0.5 + 2 Tanh[0.1 + 0.5 x1 - x2 + 0.25 x3] "
           "- 3 Tanh[-0.2 + 1.5 x1 + 0.75 x2 - 0.5 x3]}]")


def my_net():
    """3 -> 2 tanh -> 1, the net under test (in a real suite: wb.load("model.onnx"), wb.from_torch(...))."""
    b = wb.NetBuilder("my-net")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": W1, "bias": B1})
    h = b.layer("elementwise", [h], attrs={"fn": "tanh"})
    return b.build([b.layer("linear", [h], params={"weight": W2, "bias": B2})])


def test_formula_equals_the_net(woxi_engine):
    report = assert_equivalent(my_net(), FORMULA, engine=woxi_engine, samples=32)
    assert report.max_abs_err < 1e-12


def test_a_wrong_formula_fails_with_the_report(woxi_engine):
    wrong = FORMULA.replace("0.25 x3", "0.26 x3")
    with pytest.raises(NotEquivalentError) as failure:  # an AssertionError carrying the report
        assert_equivalent(my_net(), wrong, engine=woxi_engine)
    assert not failure.value.report.passed and "worst sample for woxi" in str(failure.value)


def test_emitted_code_in_every_available_engine(wl_engines):
    report = assert_check(my_net(), engine=wl_engines, samples=4)
    assert {r.evaluator for r in report.rows} >= {"sympy"} | {e.name for e in wl_engines}


@pytest.mark.torch
def test_torch_module_against_the_formula(woxi_engine):
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1)).double().eval()
    with torch.no_grad():
        for layer, w, b in ((module[0], W1, B1), (module[2], W2, B2)):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    report = assert_equivalent(module, FORMULA, input_shape=(3,), engine=woxi_engine, samples=16)
    assert report.rows[0].evaluator == "source (torch)" and report.rows[0].passed
