"""``from_torch``: trace an ``nn.Module`` with ``torch.fx`` and convert the graph."""
from __future__ import annotations

import copy
import warnings
from typing import Any, Sequence

import numpy as np
import torch
import torch.fx

from ...errors import ConversionError, UnsupportedLayerError, WlbridgeError
from ...ir import Net, Origin
from . import attention, elementwise, heads, layers, recurrent, resample_rules, shape_ops, tensor_ops  # noqa: F401 - register the rules
from .context import Ctx, first_line, to_numpy
from .graph import run_graph
from .values import V

_TRAIN_SENSITIVE = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._BatchNorm, torch.nn.RReLU)


def from_torch(module, input_shape=None, *, input_names: Sequence[str] | None = None, dtype=None) -> Net:
    """Convert ``module`` for inputs of ``input_shape`` (no batch axis; a list of shapes for several inputs).

    ``dtype`` (default: the dtype of the module's floating parameters, else torch's default) is
    the dtype of the input port and of ``Net.origin``'s forward runs. A ``torch.export.ExportedProgram``
    converts like a ``.pt2`` file (its own input shapes, batch axis included; no ``input_shape``).
    """
    if isinstance(module, torch.export.ExportedProgram):
        from .exported import from_exported_program

        if input_shape is not None or dtype is not None:
            raise ConversionError("torch: an ExportedProgram has its own input shapes and dtype: give neither "
                                  "input_shape nor dtype")
        return from_exported_program(module, input_names=input_names)
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"torch: expected a torch.nn.Module or torch.export.ExportedProgram, got "
                              f"{type(module).__name__}")
    if input_shape is None:
        raise ConversionError("torch: from_torch(module, input_shape) needs the input shape (no batch axis)")
    shapes = _shapes(input_shape)
    tdtype = _dtype(module, dtype)
    name = type(module).__name__
    _warn_training(module)
    model = recurrent.as_sequence_net(_eval_copy(module))
    expected = _run(model, shapes, tdtype, name)
    traced = _Root(model) if len(shapes) == 1 and _is_leaf(model) else model
    try:
        graph_module = torch.fx.symbolic_trace(traced)
    except Exception as e:  # noqa: BLE001 - fx raises TraceError, TypeError, NotImplementedError, ...
        return _via_export(model, shapes, tdtype, name, input_names, e)
    ctx = Ctx(name, tdtype)
    placeholders = iter(_placeholders(ctx, graph_module.graph, shapes))
    outs = run_graph(ctx, graph_module.graph, lambda node: next(placeholders), root=graph_module,
                     path_of=_path if traced is not model else None,
                     shape_info=lambda: _propagate_shapes(graph_module, shapes, tdtype))
    net = finish(ctx, outs, input_names, Origin("torch", make_evaluate(model, tdtype), _np_name(tdtype)))
    _check_shapes(net, expected)
    return net


class _Root(torch.nn.Module):
    """Holds a single ``torch.nn`` layer so that fx records it as one module call, not its internals."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(x)


def _propagate_shapes(graph_module, shapes, dtype) -> None:
    """torch's own shapes into every node's ``meta`` (for the stand-ins of unsupported nodes)."""
    from torch.fx.passes.shape_prop import ShapeProp

    with torch.no_grad():
        ShapeProp(graph_module).propagate(*[torch.zeros((2, *s), dtype=dtype) for s in shapes])


def _is_leaf(model) -> bool:
    return torch.fx.Tracer().is_leaf_module(model, "")


def _path(node) -> str:
    if node.op == "call_module":
        return node.target[len("layer."):] if node.target.startswith("layer.") else ""
    return node.name


def _shapes(input_shape) -> list[tuple[int, ...]]:
    try:
        if len(input_shape) and all(isinstance(s, (list, tuple, torch.Size)) for s in input_shape):
            shapes = [tuple(int(d) for d in s) for s in input_shape]
        else:
            shapes = [tuple(int(d) for d in input_shape)]
    except (TypeError, ValueError):
        raise ConversionError(f"torch: input_shape must be a tuple of ints (without the batch axis) or a "
                              f"list of such tuples, got {input_shape!r}") from None
    if any(d <= 0 for s in shapes for d in s):
        raise ConversionError(f"torch: input_shape {input_shape!r} has a non-positive size")
    return shapes


def _dtype(module, dtype) -> torch.dtype:
    if dtype is not None:
        if isinstance(dtype, torch.dtype):
            return dtype
        try:
            return getattr(torch, np.dtype(dtype).name)
        except (TypeError, AttributeError):
            raise ConversionError(f"torch: unknown dtype {dtype!r}") from None
    for t in (*module.parameters(), *module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _np_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _warn_training(module) -> None:
    live = sorted(n or type(module).__name__ for n, m in module.named_modules()
                  if m.training and isinstance(m, _TRAIN_SENSITIVE))
    if live:
        warnings.warn(f"torch: {', '.join(live)} in training mode; converted with inference (eval) behaviour "
                      "(Dropout = identity, BatchNorm with running statistics); call module.eval() to "
                      "silence this", UserWarning, stacklevel=3)


def _eval_copy(module):
    try:
        return copy.deepcopy(module).eval()
    except Exception as e:  # noqa: BLE001
        raise ConversionError(f"torch: cannot copy {type(module).__name__} to convert it in eval mode: {e}") from None


def _run(model, shapes, dtype, name) -> list[tuple[int, ...]]:
    """Run the module once on a zero batch: a wrong ``input_shape`` fails here with torch's message."""
    try:
        with torch.no_grad():
            out = model(*[torch.zeros((2, *s), dtype=dtype) for s in shapes])
    except Exception as e:  # noqa: BLE001
        msg = first_line(e)
        shown = shapes[0] if len(shapes) == 1 else shapes
        hint = _integer_hint(model, shapes, dtype)
        if hint:
            raise ConversionError(f"torch: {name} {hint}") from None
        raise ConversionError(f"torch: {name} does not accept inputs of input_shape {shown} (plus a batch "
                              f"axis): {msg}") from None
    return [tuple(t.shape[1:]) for t in _tensors(out)]


def _integer_hint(model, shapes, dtype) -> str:
    """When a float input fails and integer indices run (an ``nn.Embedding`` first): say which ``dtype=`` to pass."""
    if not dtype.is_floating_point:
        return ""
    try:
        with torch.no_grad():
            model(*[torch.zeros((2, *s), dtype=torch.long) for s in shapes])
    except Exception:  # noqa: BLE001 - integers do not help either: torch's own message is the one to show
        return ""
    lookups = [path or "<root>" for path, m in model.named_modules()
               if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))]
    where = f" (nn.Embedding at {', '.join(lookups)})" if lookups else ""
    return (f"takes integer indices as input{where}, not {dtype}: pass dtype=torch.long, as in "
            "wlbridge.from_torch(module, input_shape, dtype=torch.long)")


def _tensors(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _tensors(o)]
    return []


def make_evaluate(model, dtype: torch.dtype):
    """``Net.origin.evaluate``: numpy batches in, numpy batches out (no grad, the module's dtype)."""
    def evaluate(*xs):
        with torch.no_grad():
            out = model(*[torch.tensor(np.asarray(x), dtype=dtype) for x in xs])  # copies: in-place ops
        return [to_numpy(t) for t in _tensors(out)]
    return evaluate


def _placeholders(ctx: Ctx, graph: torch.fx.Graph, shapes) -> list[Any]:
    nodes = [n for n in graph.nodes if n.op == "placeholder"]
    if len(nodes) < len(shapes):
        raise ConversionError(f"torch: {ctx.builder.name}.forward takes {len(nodes)} input(s), "
                              f"{len(shapes)} input shapes given")
    names = ["x"] if len(shapes) == 1 else [str(n.target).lstrip("*") for n in nodes[:len(shapes)]]
    values: list[Any] = [ctx.input(nm, s) for nm, s in zip(names, shapes)]
    for n in nodes[len(shapes):]:
        if not n.args:
            raise ConversionError(f"torch: {ctx.builder.name}.forward argument {n.name!r} has no default "
                                  f"and no input_shape")
        values.append(n.args[0])
    return values


def finish(ctx: Ctx, outs: list[Any], input_names, origin: Origin) -> Net:
    """Raise for unsupported nodes or non-tensor outputs, else build the net."""
    if ctx.unsupported:
        raise UnsupportedLayerError("torch", ctx.unsupported)
    names: list[str] = []
    inputs = set(ctx.inputs)
    recurrent.drop_unused_states(ctx, [v.name for v in outs if isinstance(v, V)])
    for i, v in enumerate(outs):
        if not isinstance(v, V):
            raise ConversionError(f"torch: output {i} of {ctx.builder.name} is not a tensor computed from "
                                  f"the input ({v!r})")
        if v.name in inputs or v.name in names:
            ctx.path = f"output.{i}"
            v = ctx.emit("identity", [v])
        names.append(v.name)
    try:
        return ctx.builder.build(names, input_names=input_names, origin=origin,
                                 meta={"source": "torch", **({"notes": list(ctx.notes)} if ctx.notes else {})})
    except WlbridgeError:
        raise
    except Exception as e:  # noqa: BLE001
        raise ConversionError(f"torch: {ctx.builder.name}: {e}") from None


def _check_shapes(net: Net, expected: list[tuple[int, ...]]) -> None:
    got = [tuple(s) for s in net.output_shapes]
    if got != expected:
        raise ConversionError(f"torch: {net.name}: converted output shapes {got} differ from torch's {expected} "
                              "(a wlbridge bug: please report it with the module)")


def _via_export(model, shapes, dtype, name, input_names, fx_error: Exception) -> Net:
    """fx could not trace the module (Python control flow on shapes, ...): try ``torch.export``."""
    from .exported import export_module, from_exported_program

    try:
        ep = export_module(model, shapes, dtype)
    except Exception as e:  # noqa: BLE001
        raise ConversionError(
            f"torch: cannot trace {name}.forward: {first_line(fx_error)}. Data-dependent Python control flow (if/for on tensor "
            "values) cannot be converted; express it with tensor ops (torch.where, ...). torch.export failed "
            f"too: {first_line(e)}") from None
    origin = Origin("torch", make_evaluate(model, dtype), _np_name(dtype))
    return from_exported_program(ep, input_names=input_names, origin=origin, name=name)
