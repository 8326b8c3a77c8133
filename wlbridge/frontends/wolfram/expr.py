"""A small Wolfram Language expression tree: data only, never evaluated.

Atoms are Python ``str`` (WL strings), ``int``, ``float``, :class:`Symbol` (context stripped) and
numpy arrays (packed arrays / NumericArrays). ``list`` is a WL ``List``, ``dict`` an ``Association``
(keys in order) and :class:`Expr` any other normal expression ``head[args...]``.

>>> e = Expr(Symbol("TensorT"), ([3], Symbol("RealT")))
>>> head_name(e), e.args[0]
('TensorT', [3])
>>> Symbol("NeuralNetworks`Private`ScalarSymbol")
Symbol('ScalarSymbol')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Symbol:
    """A WL symbol; the context (anything up to the last backtick) is stripped."""

    name: str

    def __post_init__(self):
        object.__setattr__(self, "name", self.name.rsplit("`", 1)[-1])

    def __repr__(self) -> str:
        return f"Symbol({self.name!r})"


@dataclass(frozen=True, eq=False)
class Expr:
    """A normal expression ``head[args...]`` (not List, Association or Rule inside associations)."""

    head: Any
    args: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "args", tuple(self.args))

    def __eq__(self, other) -> bool:
        return isinstance(other, Expr) and equal(self.head, other.head) and len(self.args) == len(other.args) \
            and all(equal(a, b) for a, b in zip(self.args, other.args))

    def __hash__(self) -> int:  # consistent with ``equal``: atoms only, so lists and arrays are fine
        return hash((repr(self.head), len(self.args),
                     tuple(a for a in self.args if isinstance(a, (str, int, float, Symbol)))))

    def __repr__(self) -> str:
        return f"Expr({self.head!r}, {list(self.args)!r})"


def equal(a, b) -> bool:
    """Structural equality that also compares numpy arrays (dtype, shape and values)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
            and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return False
    return a == b and type(a) is type(b)


def S(name: str) -> Symbol:
    """Shorthand for :class:`Symbol`."""
    return Symbol(name)


def call(head: str, *args) -> Expr:
    """``call("NetPath", "Inputs", "Input")`` is ``NetPath["Inputs", "Input"]``."""
    return Expr(Symbol(head), args)


def head_name(x) -> str | None:
    """The head's symbol name of a normal expression, 'List', 'Association', or None for atoms."""
    if isinstance(x, Expr):
        return x.head.name if isinstance(x.head, Symbol) else None
    if isinstance(x, list):
        return "List"
    if isinstance(x, dict):
        return "Association"
    return None


def is_symbol(x, name: str | None = None) -> bool:
    return isinstance(x, Symbol) and (name is None or x.name == name)
