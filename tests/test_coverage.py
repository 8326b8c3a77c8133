"""Every IR op and every activation has a rule or an explicit 'unsupported' entry in every emitter."""
from __future__ import annotations

import pytest

from tests.cases import CASES
from wlbridge.emit import latex, python, scalar, sympy as sympy_emit, wl, wl_compact
from wlbridge.ops import ACTIVATIONS, OPS

EMITTERS = {"wl": (wl.SUPPORT, [wl_compact.RULES, scalar.RULES]), "sympy": (sympy_emit.SUPPORT, [scalar.RULES]),
            "python": (python.SUPPORT, [python.RULES]), "latex": (latex.SUPPORT, [latex.RULES])}


@pytest.mark.parametrize("name", EMITTERS)
def test_every_op_has_a_rule_or_an_unsupported_entry(name):
    support, tables = EMITTERS[name]
    assert set(support) == set(OPS), f"{name}: SUPPORT keys differ from ops.OPS"
    for op, reason in support.items():
        if reason is None:
            assert all(op in t for t in tables), f"{name}: {op} marked supported but has no rule"
        else:
            assert isinstance(reason, str) and reason


def test_every_activation_is_printable():
    for table in (wl.ACTIVATION_SUPPORT, sympy_emit.ACTIVATION_SUPPORT):
        assert set(table) == set(ACTIVATIONS)
    for row in ACTIVATIONS.values():
        assert "#" in row.wl or row.wl == "#"


def test_cases_cover_every_op_and_activation():
    used_ops, used_fns = set(), set()
    for case in CASES:
        for layer in case.build().layers:
            used_ops.add(layer.op)
            if layer.op == "elementwise":
                used_fns.add(layer.attrs["fn"])
    assert set(OPS) <= used_ops, sorted(set(OPS) - used_ops)
    assert set(ACTIVATIONS) <= used_fns, sorted(set(ACTIVATIONS) - used_fns)
