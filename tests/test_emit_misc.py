"""Python (numpy source) and LaTeX emitters."""
from __future__ import annotations

import numpy as np
import pytest

from tests.cases import CASES, CASE_BY_NAME, sample_inputs
from wlbridge.emit.latex import to_latex
from wlbridge.emit.python import to_python


def _run(src):
    ns: dict = {}
    exec(compile(src, "<wlbridge>", "exec"), ns)
    return ns["f"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_python_source_matches_reference(case):
    net = case.build()
    xs = sample_inputs(net, 5, seed=8)
    f = _run(to_python(net))
    ref, got = net(*xs), f(*xs)
    for g, r in zip(got if isinstance(got, list) else [got], ref if isinstance(ref, list) else [ref]):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)
    one = f(*[x[0] for x in xs])
    first = net(*[x[0] for x in xs])
    for g, r in zip(one if isinstance(one, list) else [one], first if isinstance(first, list) else [first]):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


def test_python_source_is_standalone_with_exact_literals():
    net = CASE_BY_NAME["act_gelu"].build()
    src = to_python(net)
    assert src.startswith("import math\nimport numpy\n")
    w = net.layers[0].params["weight"]
    assert repr(float(w[0, 0])) in src
    assert "wlbridge" not in src.split('"""')[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_latex_renders_every_case(case):
    text = to_latex(case.build())
    assert text.startswith("\\begin{aligned}\n") and text.endswith("\\end{aligned}")
    assert text.count("{") == text.count("}")


def test_latex_small_inline_large_named():
    seed = to_latex(CASE_BY_NAME["seed_net"].build())
    assert "W_{" not in seed and "\\begin{pmatrix}" in seed
    cnn = to_latex(CASE_BY_NAME["cnn"].build())
    assert "W_{6} &= \\begin{pmatrix}" in cnn  # 3 x 18: listed
    assert "W_{1} &\\in \\mathbb{R}^{2 \\times 1 \\times 3 \\times 3}" in cnn
