"""WL emitter in Mathics3 (a second, independent WL implementation): the cases that are quick there."""
from __future__ import annotations

import numpy as np
import pytest

from tests.cases import CASES, CASE_BY_NAME, sample_inputs
from wlbridge.emit.wl import to_wl

pytestmark = pytest.mark.mathics
SMALL = [c for c in CASES if "mathics_heavy" not in c.tags]


@pytest.fixture(scope="module")
def mathics():
    pytest.importorskip("mathics")
    from wlbridge.check.engines import MathicsEngine
    return MathicsEngine()


def _check(engine, net, code, call, xs):
    r = engine.apply(code, xs, call=call, output_shapes=net.output_shapes)
    assert r.ok, f"{r.problem} {r.messages}\n{code[:2000]}"
    ref = net(*xs)
    for got, want in zip(r.values, ref if isinstance(ref, list) else [ref]):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", SMALL, ids=lambda c: c.name)
def test_mathics_compact(mathics, case):
    net = case.build()
    _check(mathics, net, to_wl(net), "list", sample_inputs(net, 2, seed=6))


@pytest.mark.parametrize("name", ["seed_net", "residual", "multi_input", "conv1d", "pool_avg", "scalar_fn"])
def test_mathics_expanded(mathics, name):
    net = CASE_BY_NAME[name].build()
    _check(mathics, net, to_wl(net, form="expanded", call="sequence"), "sequence", sample_inputs(net, 2, seed=7))
