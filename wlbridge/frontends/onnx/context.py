"""The conversion state: ONNX value name -> static constant, IR value or pending comparison.

The IR is batch-free. With ``batch=True`` the first axis of every graph input is the batch axis
and is dropped: an ONNX axis ``a`` is IR axis ``a - 1`` and a constant of shape ``(1, C)`` that
meets a value of rank 2 becomes ``(C,)``. With ``batch=False`` the graph inputs are one sample and
axes and constants are kept as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import sympy as sp

from ...errors import ConversionError
from ...ir import Layer, NetBuilder
from ...shapes import RULES as SHAPE_RULES


class Unsupported(Exception):
    """Raised by a rule: this node cannot be converted (collected, listed with all others)."""


class BatchAxisError(ConversionError):
    """The graph mixes the batch axis with the others; retry with ``batch_axis=False``."""


class BatchDependentError(ConversionError):
    """The per-sample output would depend on the batch size (the graph uses it as a value): refused."""


BATCH = sp.Symbol("batch", integer=True, positive=True)  # the symbolic batch size in shape tensors


@dataclass(frozen=True)
class Const:
    """A value known at conversion time (initializer, Constant, folded subgraph): full ONNX shape."""

    value: np.ndarray


@dataclass(frozen=True)
class Sym:
    """An integer tensor known at conversion time up to the batch size (``shapes.py``): an object array
    of ints and expressions in :data:`BATCH`, and the ONNX dtype it stands for."""

    value: np.ndarray
    dtype: np.dtype


@dataclass(frozen=True)
class Var:
    """An IR value and its batch-free shape."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Moved:
    """``transpose(var, perm)`` in full ONNX axes with the batch axis not first (``moved.py``)."""

    var: Var
    perm: tuple[int, ...]


@dataclass(frozen=True)
class Cmp:
    """A comparison waiting for its ``Where``: a scalar_fn body over ``args`` (Var or Const)."""

    body: tuple
    args: tuple = ()
    shape: tuple[int, ...] = ()


@dataclass
class Ctx:
    builder: NetBuilder
    opset: int
    batch: bool
    batch_size: int = -1  # fixed batch size of the graph inputs, -1 when symbolic
    types: dict[str, int] = field(default_factory=dict)  # ONNX elem type per value name
    path: str = ""
    op_type: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str = "onnx"  # "onnx" or "onnx: <file>", the start of every message
    data_dependent: list = field(default_factory=list)  # "path (op): what" of nodes indexing with input values

    @property
    def nb(self) -> int:
        return 1 if self.batch else 0

    def where(self) -> str:
        return f"{self.path} ({self.op_type}, opset {self.opset})"

    def error(self, msg: str, cls=ConversionError):
        return cls(f"{self.source}: {self.where()}: {msg}")

    # ---- shapes and axes --------------------------------------------------------------------
    def rank(self, v) -> int:
        if isinstance(v, Moved):
            return len(v.perm)
        return v.value.ndim if isinstance(v, (Const, Sym)) else len(v.shape) + self.nb

    def onnx_shape(self, v) -> tuple[int, ...]:
        if isinstance(v, (Const, Sym)):
            return v.value.shape
        if isinstance(v, Moved):
            full = (self.batch_size, *v.var.shape)
            return tuple(full[p] for p in v.perm)
        return ((self.batch_size,) if self.batch else ()) + tuple(v.shape)

    def axis(self, a: int, rank: int) -> int:
        """ONNX axis ``a`` of a rank-``rank`` value as an IR axis (batch axis refused)."""
        if not -rank <= a < rank:
            raise self.error(f"axis {a} out of range for rank {rank}")
        a = a % rank - self.nb
        if a < 0:
            raise self.error("acts on the batch axis (axis 0); convert with batch_axis=False", BatchAxisError)
        return a

    def ir_const(self, c: np.ndarray, rank: int) -> np.ndarray:
        """A constant meeting a batched value of ONNX rank ``rank``, without its batch axis."""
        c = np.asarray(c)
        if not self.batch or c.ndim == 0 or c.ndim < rank:
            return c
        if c.ndim == rank and c.shape[0] == self.batch_size > 1 and (c == c[:1]).all():
            return c[0]  # the same in every sample of a fixed batch (a class token expanded to it)
        if c.ndim > rank or c.shape[0] != 1:
            raise self.error(f"constant of shape {list(c.shape)} varies along the batch axis", BatchAxisError)
        return c[0]

    # ---- emitting layers ----------------------------------------------------------------------
    def emit(self, op: str, inputs: Sequence[Var], *, params=None, attrs=None) -> Var:
        params = {k: np.asarray(v) for k, v in (params or {}).items() if v is not None}
        attrs = dict(attrs or {})
        probe = Layer(op, tuple(v.name for v in inputs), "?", params, attrs, self.path)
        try:
            shape = SHAPE_RULES[op](probe, *[v.shape for v in inputs])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise self.error(f"{op}: {e}") from None
        name = self.builder.layer(op, [v.name for v in inputs], params=params, attrs=attrs, path=self.path)
        return Var(name, tuple(int(d) for d in shape))

    def var(self, x, rank: int | None = None) -> Var:
        """``x`` as an IR value: a Const becomes an IR ``constant`` (batch axis dropped)."""
        if isinstance(x, Var):
            return x
        if isinstance(x, Cmp):
            from .rules_math import materialize

            return materialize(self, x)
        if isinstance(x, Moved):
            raise self.error(f"uses a value whose batch axis a Transpose moved to axis {x.perm.index(0)}",
                             BatchAxisError)
        if isinstance(x, Sym):
            raise self.error(f"uses the batch size as a value ({list(x.value.reshape(-1))[:4]}): the per-sample "
                             "output would depend on the batch size", BatchDependentError)
        value = self.ir_const(x.value, x.value.ndim if rank is None else rank)
        return self.emit("constant", [], params={"value": value})

    def reshape(self, x: Var, shape: Sequence[int]) -> Var:
        shape = tuple(int(d) for d in shape)
        return x if shape == x.shape else self.emit("reshape", [x], attrs={"shape": shape})
