"""One decorator factory for the rule tables (reference, shapes, emitters, passes, Wolfram reader/writer).

>>> TABLE: dict = {}
>>> rule = registrar(TABLE, "demo")
>>> @rule("a", "b")
... def f(): ...
>>> sorted(TABLE)
['a', 'b']
"""
from __future__ import annotations

from typing import Callable


def registrar(table: dict, what: str) -> Callable:
    """``@rule(name, ...)`` storing the function under each name in ``table``; a name given twice is an
    error naming ``what`` (the table)."""
    def rule(*names: str):
        def register(fn):
            for name in names:
                if name in table:
                    raise ValueError(f"duplicate {what} rule for {name!r}")
                table[name] = fn
            return fn
        return register
    return rule
