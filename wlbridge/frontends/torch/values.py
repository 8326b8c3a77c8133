"""What a torch graph node turns into while it is converted.

* :class:`V` -- an IR value (a tensor with a batch axis in torch; its IR shape omits the batch axis,
  except in a graph read as one whole sample of batch size 1, see ``sample.py``);
* :class:`Cond` -- a lazy boolean elementwise expression (``x > 0``) waiting for a ``where``;
* a ``torch.Tensor`` -- a constant (a parameter, a buffer or a folded constant expression);
* :data:`BATCH` -- the batch size (``x.size(0)``), which the IR never fixes;
* :data:`UNKNOWN` -- the result of an unsupported node, so later nodes can still be inspected;
* any other Python value (ints, floats, tuples, strings, dtypes) as is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class V:
    """An IR value: its name in the net and its shape without the batch axis.

    ``nb`` is the number of torch axes in front of ``shape``: 1 (the batch axis), or 0 when the
    whole tensor is one sample (a graph converted as one sample of batch size 1).
    """

    name: str
    shape: Shape
    nb: int = 1

    @property
    def rank(self) -> int:
        """The rank in torch, batch axis included."""
        return len(self.shape) + self.nb


@dataclass(frozen=True)
class Cond:
    """A boolean elementwise expression: a ``scalar_fn`` body over ``args`` (1-based ``("arg", i)``)."""

    body: tuple
    args: tuple[V, ...]


class _Marker:
    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name


BATCH = _Marker("BATCH")
UNKNOWN = _Marker("UNKNOWN")


class Unsupported(Exception):
    """Raised inside a rule: this node cannot be converted; the message says why."""


def flat(x: Any):
    """Every leaf of nested lists / tuples / dicts."""
    if isinstance(x, (list, tuple)):
        for e in x:
            yield from flat(e)
    elif isinstance(x, dict):
        for e in x.values():
            yield from flat(e)
    else:
        yield x


def is_dynamic(x: Any) -> bool:
    """Whether ``x`` depends on the net input (an IR value, a condition or the batch size)."""
    return any(isinstance(e, (V, Cond)) or e is BATCH for e in flat(x))


def has_unknown(x: Any) -> bool:
    return any(e is UNKNOWN for e in flat(x))
