"""The conversion context: emits IR layers, tracks shapes, collects unsupported nodes.

Rules (``rules.py``, ``modules.py``) call ``ctx.emit`` / ``ctx.scalar`` / ``ctx.const`` and raise
:class:`~.values.Unsupported` when a node cannot be expressed; the graph walker records those.
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ...ir import Layer, NetBuilder
from ...shapes import RULES as SHAPE_RULES
from .values import BATCH, Cond, Unsupported, V

Rule = Callable[..., Any]
RULES: dict[str, tuple[Rule, tuple[str, ...]]] = {}

# Python operator / method spellings -> one canonical name (also the aten name)
ALIASES = {"truediv": "div", "true_divide": "div", "divide": "div", "multiply": "mul", "subtract": "sub",
           "negative": "neg", "log_sigmoid": "logsigmoid", "clip": "clamp", "concat": "cat",
           "concatenate": "cat", "absolute": "abs", "arccos": "acos", "arcsin": "asin", "arctan": "atan",
           "greater": "gt", "less": "lt", "greater_equal": "ge", "less_equal": "le",
           "_threshold": "threshold"}
FOREIGN = {"stochastic_depth"}  # functions outside torch (torchvision.ops, fx-wrapped) converted by name


def rule(*names: str, sig: str = "self"):
    """Register a rule for torch functions / tensor methods / aten ops called ``names``.

    ``sig`` gives the positional parameter names used when the callee has no introspectable
    signature (C builtins, tensor methods); ``*name`` collects the remaining positional arguments.
    """
    params = tuple(sig.split())

    def register(fn):
        for n in names:
            if n in RULES:
                raise ValueError(f"duplicate torch rule for {n!r}")
            RULES[n] = (fn, params)
        return fn
    return register


def op_name(target) -> str:
    """The canonical name of an fx/aten call target: ``torch.relu``, ``'relu_'``, ``aten.relu.default`` -> relu."""
    if isinstance(target, str):
        name = target
    elif isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        name = target._schema.name if isinstance(target, torch._ops.OpOverload) else target._qualified_op_name
        if not name.startswith("aten::"):
            return name  # a custom op namespace: never matched by a built-in rule
        name = name[len("aten::"):]
    else:
        mod = getattr(target, "__module__", None) or ""
        name = getattr(target, "__name__", repr(target))
        if name in FOREIGN:
            return name  # e.g. torchvision.ops.stochastic_depth, matched by its name
        if not (mod.startswith("torch") or mod in ("_operator", "operator", "builtins", "math")):
            return f"{mod}.{getattr(target, '__qualname__', name)}"
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]  # in-place variants compute the same values
    return ALIASES.get(name, name)


def bind(target, args: Sequence, kwargs: dict, params: tuple[str, ...]) -> dict[str, Any]:
    """Arguments by name: the aten schema or Python signature when there is one, else ``params``."""
    if isinstance(target, torch._ops.OpOverload):
        params = tuple(a.name for a in target._schema.arguments)
    elif inspect.isfunction(target) and (target.__module__ or "").startswith("torch"):
        try:
            sig = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            sig = ()
        if sig and all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in sig):
            params = tuple(p.name for p in sig)  # else (*args, **kwargs) wrappers: keep the declared names
    out: dict[str, Any] = {}
    for i, a in enumerate(args):
        if i >= len(params):
            raise Unsupported(f"unexpected positional argument {i}")
        if params[i].startswith("*"):
            rest = tuple(args[i:])
            out[params[i][1:]] = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
            break
        out[params[i]] = a
    out.update(kwargs)
    if "input" in out and "self" not in out:
        out["self"] = out.pop("input")
    return out


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (torch appends whole graphs to some)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


BFLOAT16_NOTE = ("bfloat16 weights and inputs are read as float32 (exact: every bfloat16 is a float32; numpy has "
                 "no bfloat16); the source net itself still runs in bfloat16")


def to_numpy(t) -> np.ndarray:
    """A detached copy (IR params must not change when the module trains further)."""
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy().copy()


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) or (
        isinstance(x, torch.Tensor) and x.numel() == 1 and x.ndim == 0)


class Ctx:
    """State of one conversion: the builder, the current node path and the unsupported list."""

    def __init__(self, name: str, dtype: torch.dtype, batch_size: int | None = None, nb: int = 1):
        self.builder = NetBuilder(name)
        self.dtype = dtype
        self.np_dtype = np.dtype("float32" if dtype == torch.bfloat16 else str(dtype).replace("torch.", ""))
        self.notes: list[str] = [BFLOAT16_NOTE] if dtype == torch.bfloat16 else []
        self.batch_size = batch_size  # a static batch size baked into an exported graph, if any
        self.path = ""
        self.aten = False  # True for exported (aten) graphs, whose multi-output ops return tuples
        self.nb = nb  # 1: axis 0 is the batch axis; 0: every tensor is one whole sample (see sample.py)
        self.unsupported: list[tuple[str, str, str]] = []
        self.inputs: list[str] = []

    def input(self, name: str, shape: Sequence[int]) -> V:
        self.inputs.append(self.builder.input(name, shape, self.np_dtype))
        return V(name, tuple(shape), self.nb)

    @contextlib.contextmanager
    def scope(self, *names: str):
        """Emit the layers of a submodule under its module path (``layers.0`` + ``self_attn``)."""
        outer = self.path
        self.path = ".".join(p for p in (outer, *names) if p)
        try:
            yield
        finally:
            self.path = outer

    def emit(self, op: str, inputs: Sequence[V], *, params: dict | None = None, attrs: dict | None = None) -> V:
        params = {k: (to_numpy(v) if isinstance(v, torch.Tensor) else np.asarray(v))
                  for k, v in (params or {}).items() if v is not None}
        layer = Layer(op, tuple(v.name for v in inputs), "", params, dict(attrs or {}), self.path)
        try:
            shape = SHAPE_RULES[op](layer, *[v.shape for v in inputs])
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise Unsupported(f"{op}: {e}") from None
        name = self.builder.layer(op, [v.name for v in inputs], params=params, attrs=attrs, path=self.path)
        return V(name, tuple(int(d) for d in shape), self.nb)

    def activation(self, x, fn: str, params: dict | None = None) -> V:
        x = self.value(x)
        attrs = {"fn": fn}
        if params:
            attrs["fn_params"] = {k: float(v) for k, v in params.items()}
        return self.emit("elementwise", [x], attrs=attrs)

    def value(self, x) -> V:
        """``x`` as an IR value (a condition or constant here means an unsupported use)."""
        if isinstance(x, V):
            return x
        if isinstance(x, Cond):  # a comparison used as a number: 0/1
            from .heads import as_number

            return as_number(self, x)
        raise Unsupported(f"expected a tensor computed from the input, got {_describe(x)}")

    def const(self, t, like: V) -> V:
        """A constant tensor as an IR ``constant`` that broadcasts against ``like`` as it does in torch."""
        t = torch.as_tensor(t)
        if t.ndim > len(like.shape):
            if t.ndim > like.rank or t.shape[0] != 1:
                raise Unsupported(f"constant of shape {list(t.shape)} broadcasts along the batch axis")
            t = t.reshape(t.shape[1:])
        return self.emit("constant", [], params={"value": t})

    # ---- scalar_fn bodies ------------------------------------------------------------------
    def expr(self, x, args: list[V]):
        """A ``scalar_fn`` body for ``x``: an op tree ``(op, child, ...)`` or an operand."""
        if isinstance(x, tuple) and x and isinstance(x[0], str):
            return (x[0], *[self.expr(c, args) for c in x[1:]])
        if isinstance(x, V):
            if x not in args:
                args.append(x)
            return ("arg", args.index(x) + 1)
        if isinstance(x, Cond):
            return _remap(x.body, x.args, args)
        if is_number(x):
            return ("const", float(x))
        raise Unsupported(f"elementwise operand {_describe(x)} is not a number or a tensor")

    def scalar(self, tree) -> V:
        """Emit a ``scalar_fn`` layer for an op tree over values and numbers."""
        args: list[V] = []
        body = self.expr(tree, args)
        if not args:
            raise Unsupported("elementwise expression does not depend on the input")
        if len({a.rank for a in args}) > 1:
            raise Unsupported(f"operands of ranks {sorted({a.rank for a in args})} broadcast against the batch axis")
        return self.emit("scalar_fn", args, attrs={"body": body})

    def cond(self, tree) -> Cond:
        args: list[V] = []
        return Cond(self.expr(tree, args), tuple(args))


def _remap(body, old: Sequence[V], new: list[V]):
    if body[0] == "arg":
        v = old[body[1] - 1]
        if v not in new:
            new.append(v)
        return ("arg", new.index(v) + 1)
    if body[0] == "const":
        return body
    return (body[0], *[_remap(b, old, new) for b in body[1:]])


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a constant tensor of shape {list(x.shape)}"
    if x is BATCH:
        return "the batch size"
    return repr(x)

