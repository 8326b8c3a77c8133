"""Walk an fx graph (``symbolic_trace`` of a module, or an exported program's aten graph) node by node.

Every node becomes a value (see ``values.py``). Nodes whose inputs are all constants are folded by
running them in torch; others go to a rule. Unsupported nodes are collected (with the module path
or the node name) and their results marked unknown, so one pass reports all of them.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.fx

from .context import RULES, Ctx, bind, op_name
from .elementwise import FUNCTION_ROWS, activation_rule, activation_sig
from .modules import module_rule_for, unsupported_reason
from .sample import converts_whole_sample
from .values import UNKNOWN, Unsupported, has_unknown, is_dynamic

Placeholders = Callable[[torch.fx.Node], Any]


def run_graph(ctx: Ctx, graph: torch.fx.Graph, placeholder: Placeholders, *, root=None,
              path_of: Callable[[torch.fx.Node], str] | None = None,
              shape_info: Callable[[], None] | None = None) -> list[Any]:
    """Convert every node; returns the values of the graph's outputs (flattened).

    An unsupported node's result stands in as zeros of the shape torch gives it (``node.meta``; filled
    by ``shape_info()`` on the first need), so the nodes after it convert and report their own problems.
    """
    env: dict[torch.fx.Node, Any] = {}
    shapes_known = [shape_info is None]
    aliases: dict[torch.fx.Node, list[torch.fx.Node]] = {}  # nodes that are one tensor (in-place results)
    outputs: list[Any] = []
    for node in graph.nodes:
        ctx.path = path_of(node) if path_of else (node.target if node.op == "call_module" else node.name)
        if node.op == "placeholder":
            env[node] = placeholder(node)
        elif node.op == "get_attr":
            env[node] = _fetch(root, node.target)
        elif node.op == "output":
            outputs = _flatten_outputs(torch.fx.node.map_arg(node.args[0], lambda n: env[n]))
        else:
            args = torch.fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: env[n])
            n_bad = len(ctx.unsupported)
            env[node] = _call(ctx, node, args, kwargs, root)
            if len(ctx.unsupported) > n_bad and has_unknown(env[node]):
                if not shapes_known[0]:
                    shapes_known[0] = True
                    try:
                        shape_info()
                    except Exception:  # noqa: BLE001 - shape information is an aid for the report only
                        pass
                env[node] = _stand_in(ctx, node)
            target = _mutated(node, root)
            if target is not None:  # later readers of the mutated tensor (and its aliases) see the new value
                group = aliases.setdefault(target, [target])
                group.append(node)
                aliases[node] = group
                for n in group:
                    env[n] = env[node]
    return outputs


def _stand_in(ctx: Ctx, node: torch.fx.Node):
    """Zeros of the node's torch shape (batch axis dropped) per tensor output, else UNKNOWN."""
    from torch.fx.passes.shape_prop import TensorMetadata

    def one(m):
        if isinstance(m, TensorMetadata) or isinstance(m, torch.Tensor):
            try:
                shape = tuple(int(d) for d in m.shape[ctx.nb:])  # a symbolic batch size is never read
                return ctx.emit("constant", [], params={"value": np.zeros(shape)}) if len(m.shape) else UNKNOWN
            except Exception:  # noqa: BLE001 - symbolic sizes, odd metadata: no stand-in then
                return UNKNOWN
        if isinstance(m, (list, tuple)):
            return type(m)(one(e) for e in m) if not hasattr(m, "_fields") else UNKNOWN
        return UNKNOWN

    meta = node.meta.get("tensor_meta", node.meta.get("val"))
    return UNKNOWN if meta is None else one(meta)


def _mutated(node: torch.fx.Node, root):
    """The node an in-place call overwrites (``x.relu_()``, ``F.relu(x, inplace=True)``, ``nn.ReLU(True)``)."""
    if not node.args or not isinstance(node.args[0], torch.fx.Node):
        return None
    if node.op == "call_module":
        inplace = bool(getattr(root.get_submodule(node.target), "inplace", False))
    else:
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        inplace = node.kwargs.get("inplace") is True or (name.endswith("_") and not name.startswith("_"))
    return node.args[0] if inplace else None


def _call(ctx: Ctx, node: torch.fx.Node, args, kwargs, root):
    if node.op == "call_module":
        return _call_module(ctx, root.get_submodule(node.target), args, kwargs)
    name = op_name(node.target)
    known = name in RULES or name in FUNCTION_ROWS
    if has_unknown((args, kwargs)):
        if not known and not _python_arithmetic(node):  # size arithmetic after a failure is no layer
            ctx.unsupported.append((ctx.path, name, _why(node)))
        return UNKNOWN
    if not is_dynamic((args, kwargs)):
        return _fold(ctx, node, name, args, kwargs)
    if not known:
        ctx.unsupported.append((ctx.path, name, _why(node)))
        return UNKNOWN
    if not ctx.nb and not converts_whole_sample(name):
        ctx.unsupported.append((ctx.path, name, "no rule for it on a graph read as one whole sample"))
        return UNKNOWN
    fn, sig = RULES[name] if name in RULES else (activation_rule, activation_sig(name))
    try:
        return fn(ctx, name, bind(node.target, args, kwargs, sig))
    except Unsupported as e:
        ctx.unsupported.append((ctx.path, name, str(e)))
        return UNKNOWN


def _call_module(ctx: Ctx, m: torch.nn.Module, args, kwargs):
    fn = module_rule_for(m)
    name = type(m).__name__
    if fn is None:
        ctx.unsupported.append((ctx.path, name, unsupported_reason(m)))
        return UNKNOWN
    if has_unknown((args, kwargs)):
        return UNKNOWN
    try:
        if kwargs and not getattr(fn, "takes_kwargs", False):
            raise Unsupported(f"keyword arguments {sorted(kwargs)}")
        return fn(ctx, m, *args, **kwargs)
    except Unsupported as e:
        ctx.unsupported.append((ctx.path, name, str(e)))
        return UNKNOWN


def _fold(ctx: Ctx, node: torch.fx.Node, name: str, args, kwargs):
    """Evaluate a node whose inputs are all constants (e.g. ``weight.t()``) in torch."""
    try:
        with torch.no_grad():
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            return node.target(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - torch raises many types; report, do not crash
        ctx.unsupported.append((ctx.path, name, f"constant expression failed: {e}"))
        return UNKNOWN


def _python_arithmetic(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and getattr(node.target, "__module__", "") in ("_operator", "operator",
                                                                                       "builtins", "math")


def _why(node: torch.fx.Node) -> str:
    if node.op == "call_method":
        return f"no rule for tensor method .{node.target}()"
    if isinstance(node.target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return f"no rule for op {node.target}"
    return f"no rule for function {getattr(node.target, '__module__', '')}.{getattr(node.target, '__name__', node.target)}"


def _fetch(root, target: str):
    obj = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj.detach() if isinstance(obj, torch.Tensor) else obj


def _flatten_outputs(out) -> list[Any]:
    if isinstance(out, (list, tuple)):
        return [v for o in out for v in _flatten_outputs(o)]
    if isinstance(out, dict):
        return [v for o in out.values() for v in _flatten_outputs(o)]
    return [out]
