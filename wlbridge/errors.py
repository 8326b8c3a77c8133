"""One exception tree for everything wlbridge raises on bad input or failed checks.

>>> from wlbridge.errors import UnsupportedLayerError
>>> e = UnsupportedLayerError("torch", [("features.2", "LSTMCell", "recurrent cells are not supported")])
>>> print(e)
torch: 1 unsupported layer: features.2 (LSTMCell): recurrent cells are not supported
>>> print(UnsupportedLayerError("onnx", [("/a", "LSTM", "recurrent"), ("/b", "TopK", ""), ("/c", "LSTM", "recurrent")]))
onnx: 3 unsupported layers: /a, /c (LSTM): recurrent; /b (TopK)
"""
from __future__ import annotations

from typing import Sequence


class WlbridgeError(Exception):
    """Base class: every error wlbridge raises on purpose derives from it."""


class FormatError(WlbridgeError):
    """A file or object is not what it claims to be (bad bytes, bad structure, bad shapes)."""


class ConversionError(WlbridgeError):
    """The net is well-formed but cannot be turned into the IR (e.g. shapes disagree)."""


class UnsupportedLayerError(WlbridgeError):
    """Some layers or ops have no rule. Lists *all* of them at once.

    ``items`` are ``(path, op, reason)`` triples; ``reason`` may be empty.
    """

    def __init__(self, source: str, items: Sequence[tuple[str, str, str]]):
        self.source = source
        self.items = list(items)
        n = len(self.items)
        groups: dict[tuple[str, str], list[str]] = {}  # one entry per kind (op and reason), in order
        for path, op, why in self.items:
            groups.setdefault((op, why), []).append(path or "<root>")
        parts = [f"{_listing(paths)} ({op})" + (f": {why}" if why else "") for (op, why), paths in groups.items()]
        noun = "layer" if n == 1 else "layers"
        super().__init__(f"{source}: {n} unsupported {noun}: " + "; ".join(parts))


def _listing(paths: list[str]) -> str:
    """Distinct paths in order, a repeated one with its count (``a [3 nodes], b``)."""
    counts: dict[str, int] = {}
    for p in paths:
        counts[p] = counts.get(p, 0) + 1
    return ", ".join(p if n == 1 else f"{p} [{n} nodes]" for p, n in counts.items())


class ExpressionTooLargeError(WlbridgeError):
    """An expanded form would exceed its size limit; the compact form is the way out."""


class EngineNotFoundError(WlbridgeError):
    """A requested evaluation engine (Wolfram Engine, Woxi, Mathics3) is not available."""


class EngineError(WlbridgeError):
    """An engine failed to evaluate code (crash, parse error, time-out)."""


class CheckFailedError(WlbridgeError):
    """Raised by ``check(..., raise_on_failure=True)`` when emitted code disagrees with the net."""

    def __init__(self, report):
        self.report = report
        super().__init__(str(report))



class OptionError(WlbridgeError, TypeError, ValueError):
    """An unknown keyword option, or an option with a value it cannot take; the message lists the valid
    ones. Also a ``TypeError`` / ``ValueError``, as Python raises for a bad keyword or value."""
