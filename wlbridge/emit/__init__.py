"""Emitters: interpreters over the IR, one rule per op, each with a ``SUPPORT`` table.

``wl`` (our own WL printer; compact and expanded forms), ``sympy`` (compact assignments and expanded
Matrix), ``python`` (standalone numpy source) and ``latex``. ``support()`` gathers the tables for
the README's support table: ``None`` means supported, a string says why not.

>>> table = support()
>>> sorted(table), table["wl"]["conv"]
(['latex', 'python', 'sympy', 'wl'], None)
"""
from __future__ import annotations

EMITTERS = ("wl", "sympy", "python", "latex")


def refuse_unsupported(net, support: dict[str, str | None], emitter: str) -> None:
    """Raise one ``UnsupportedLayerError`` naming every layer of ``net`` that ``emitter``'s ``support`` table
    refuses, each with the table's reason."""
    from ..errors import UnsupportedLayerError

    bad = [(la.path or la.output, la.op, support[la.op]) for la in net.layers if support.get(la.op)]
    if bad:
        raise UnsupportedLayerError(f"{net.name}: {emitter}", bad)


def support() -> dict[str, dict[str, str | None]]:
    """``{emitter: {op: None | reason}}`` for every emitter and every IR op."""
    import importlib

    return {name: dict(importlib.import_module(f"{__name__}.{name}").SUPPORT) for name in EMITTERS}
