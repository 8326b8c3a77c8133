"""Conversion rules keyed by ``(op_type, since_version)``, as onnx2torch does.

A rule is registered at the opset where the op's semantics last changed; a model with opset ``v``
uses the rule with the greatest ``since_version <= v``. Registering a key twice is an error.

>>> lookup("Softmax", 12).__name__, lookup("Softmax", 13).__name__
('_softmax_2d', '_softmax_axis')
>>> lookup("NoSuchOp", 20) is None
True
"""
from __future__ import annotations

from typing import Callable

RULES: dict[tuple[str, int], Callable] = {}


def rule(op_type: str, since: int = 1):
    """Register a converter ``fn(ctx, node, inputs) -> value | list of values`` for ``op_type``."""
    def register(fn):
        key = (op_type, since)
        if key in RULES:
            raise ValueError(f"duplicate ONNX rule for {op_type} since opset {since}")
        RULES[key] = fn
        return fn
    return register


def lookup(op_type: str, opset: int) -> Callable | None:
    """The rule for ``op_type`` at ``opset``, or None (explicit rules, then ``ops.ACTIVATIONS``)."""
    _load_rules()
    best = max((v for (op, v) in RULES if op == op_type and v <= opset), default=None)
    if best is not None:
        return RULES[(op_type, best)]
    from .rules_math import activation_rule

    return activation_rule(op_type)


def _load_rules() -> None:
    from . import rules_heads, rules_math, rules_nn, rules_recurrent, rules_resample, rules_shape, rules_tensor  # noqa: F401  (registration on import)
