"""The conversion loop: graph inputs, initializers, constant folding, one rule per node."""
from __future__ import annotations

import re

from typing import Sequence

import numpy as np

from ...errors import ConversionError, FormatError, UnsupportedLayerError, WlbridgeError
from ...ir import Net, NetBuilder
from ...recurrent import drop_unused
from . import moved, shapes, validate
from .context import BatchAxisError, BatchDependentError, Const, Ctx, Moved, Sym, Unsupported, Var
from .registry import lookup

# what a rule raises on a node its checks did not foresee: reported as that node's error
_RULE_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError,
                AssertionError)

_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}
# ops that take a shape tensor with the batch size in it (a ``Sym``) and do per-sample work with it
_PER_SAMPLE = {"Reshape", "Expand", "Tile", "ConstantOfShape", "Slice", "Resize", "Upsample", "Pad"}


def opset_of(proto) -> int:
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return 0  # only other domains: every node is then listed as unsupported


EXPORTER_NAMES = {"", "main_graph", "torch_jit", "torch-jit-export", "graph", "model"}  # names no one gave
_CLASS = re.compile(r"""\[['"]([\w.]+)['"]""")


def net_name(graph) -> str:
    """The graph's own name; for the names exporters write by themselves (``main_graph``, ``torch_jit``), the
    root module's class that torch's dynamo exporter records on every node, so a module, its ``.pt2`` and its
    dynamo ONNX export have one name. From the model alone: a path, its bytes and its ``ModelProto`` agree."""
    if graph.name not in EXPORTER_NAMES:
        return graph.name
    for node in graph.node[:1]:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.class_hierarchy":
                found = _CLASS.match(prop.value)
                if found:
                    return found.group(1).rsplit(".", 1)[-1]
    return graph.name or "onnx"


def convert_graph(proto, *, batch: bool, input_names: Sequence[str] | None = None, source: str = "") -> Net:
    graph = proto.graph
    opset = opset_of(proto)
    b = NetBuilder(net_name(graph))
    src = f"onnx: {source}" if source else "onnx"
    env: dict[str, object] = {t.name: Const(validate.initializer(t, src)) for t in graph.initializer}
    batch_size = _inputs(b, graph, env, batch, src)
    ctx = Ctx(b, opset, batch, batch_size, types=_elem_types(graph), source=src)
    bad, dead = [], set()
    shapes, tainted = _inferred_shapes(graph), set()
    for i, node in enumerate(graph.node):
        _node(ctx, node, i, env, bad, dead, shapes, tainted)
    if bad:
        raise UnsupportedLayerError(src, bad)
    if not graph.output:
        raise FormatError(f"{src}: the graph declares no outputs")
    missing = [o.name for o in graph.output if o.name not in env]
    if missing:
        raise FormatError(f"{src}: graph output(s) {missing} are not produced by any node (or are an optional "
                          "output of a node that wlbridge does not produce)")
    outs = [_output(ctx, env[o.name]) for o in graph.output]
    drop_unused(b, [o.name for o in outs], getattr(ctx, "optional_values", set()))
    meta = {"source": "onnx", "opset": opset, **model_facts(proto), "data_dependent": list(ctx.data_dependent)}
    return b.build([o.name for o in outs], input_names=input_names, meta=meta)


def model_facts(proto) -> dict:
    """What ``wlbridge info`` says of an ONNX file: opset per domain, producer, symbolic axes per graph
    input (the data-dependent parts come from the rules: ``ctx.data_dependent``)."""
    inits = {t.name for t in proto.graph.initializer}
    axes = {}
    for i in proto.graph.input:
        if i.name in inits or not i.type.HasField("tensor_type"):
            continue
        sym = {k: d.dim_param or "?" for k, d in enumerate(i.type.tensor_type.shape.dim) if not d.HasField("dim_value")}
        if sym:
            axes[i.name] = sym
    producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p)
    return {"opsets": {o.domain or "ai.onnx": int(o.version) for o in proto.opset_import},
            "producer": producer, "symbolic_axes": axes}


def _elem_types(graph) -> dict[str, int]:
    """ONNX element type of every value shape inference typed."""
    out = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        if vi.type.HasField("tensor_type"):
            out[vi.name] = vi.type.tensor_type.elem_type
    out.update({t.name: t.data_type for t in graph.initializer})
    return out


def _inputs(b: NetBuilder, graph, env, batch: bool, src: str = "onnx") -> int:
    """Declare the graph inputs (initializers listed as inputs are weights); the batch size or -1."""
    sizes = set()
    for inp in graph.input:
        if inp.name in env:
            continue
        if not inp.type.HasField("tensor_type"):
            raise ConversionError(f"{src}: input {inp.name!r} is not a tensor ({inp.type.WhichOneof('value')})")
        t = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if any(d is not None and d < 0 for d in dims):
            raise FormatError(f"{src}: input {inp.name!r} has negative dims {dims}")
        if batch and not dims:
            raise BatchAxisError(f"{src}: input {inp.name!r} is a scalar: it has no batch axis")
        if batch:
            sizes.add(-1 if dims[0] is None else dims[0])
            dims = dims[1:]
        if any(d is None for d in dims):
            shown = [d.dim_param or d.dim_value or "?" for d in t.shape.dim]
            raise ConversionError(f"{src}: input {inp.name!r} has a dynamic shape {shown}; only the first "
                                  "(batch) axis may stay symbolic; for a sequence model's time axis pass "
                                  "sequence_length=")
        dtype = validate.np_dtype(t.elem_type, f"input {inp.name!r}", src)
        env[inp.name] = Var(b.input(inp.name, dims, dtype), tuple(dims))
    if len(sizes - {-1}) > 1:
        raise BatchAxisError(f"{src}: graph inputs have different batch sizes {sorted(sizes)}: their first "
                             "axes broadcast against each other; convert with batch_axis=False")
    return sizes.pop() if len(sizes) == 1 else -1


def _inferred_shapes(graph) -> dict[str, list]:
    """Shapes ONNX shape inference gave the intermediate values (None for a symbolic axis)."""
    out = {}
    for vi in graph.value_info:
        t = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if t is not None and t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return out


def _stand_in(ctx: Ctx, name: str, shapes: dict):
    """Zeros of an unsupported node's inferred output shape, so that later nodes still convert (and
    report their own problems); None when the shape is not known."""
    dims = shapes.get(name)
    if dims is None or (ctx.batch and not dims):
        return None
    dims = dims[1:] if ctx.batch else dims
    if any(d is None for d in dims):
        return None
    try:
        return ctx.emit("constant", [], params={"value": np.zeros(dims)})
    except ConversionError:
        return None


def _node(ctx: Ctx, node, i: int, env, bad: list, dead: set, shapes: dict | None = None,
          tainted: set | None = None) -> None:
    """Convert one node. Outputs of unsupported nodes are ``dead`` or stand-ins (``tainted``, as is
    everything computed from them: an error there is a consequence, not reported)."""
    tainted = set() if tainted is None else tainted
    if any(n in tainted for n in node.input):
        tainted.update(node.output)
        try:
            return _convert_node(ctx, node, i, env, bad, dead, shapes, tainted)
        except ConversionError:
            dead.update(node.output)
            return
    return _convert_node(ctx, node, i, env, bad, dead, shapes, tainted)


def _convert_node(ctx: Ctx, node, i: int, env, bad: list, dead: set, shapes, tainted: set) -> None:
    import onnx

    ctx.path, ctx.op_type = node.name or f"{node.op_type}_{i}", node.op_type
    try:
        ctx.attrs = {a.name: _attr(onnx.helper.get_attribute_value(a)) for a in node.attribute}
    except (ValueError, TypeError) as e:  # undecodable strings, unknown attribute types
        raise ctx.error(f"unreadable attribute: {e}", FormatError) from None
    names = list(node.input)
    if any(n in dead for n in names):
        dead.update(node.output)
        return
    missing = [n for n in names if n and n not in env]
    if missing:
        raise ctx.error(f"input(s) {missing} are not defined before use", FormatError)
    ins = [env[n] if n else None for n in names]
    while ins and ins[-1] is None:
        ins.pop()
    try:
        if node.domain not in ("", "ai.onnx") and (node.domain, node.op_type) != ("ai.onnx.ml", "ZipMap"):
            raise Unsupported(f"custom domain {node.domain!r}")
        validate.node(ctx, node)
        outs = _apply(ctx, node, ins)
    except Unsupported as e:
        bad.append((ctx.path, f"{node.op_type}, opset {ctx.opset}", str(e)))
        for name in node.output:
            v = _stand_in(ctx, name, shapes or {}) if name else None
            if v is None:
                dead.add(name)
            else:
                env[name] = v
                tainted.add(name)
        return
    outs = outs if isinstance(outs, list) else [outs]
    for name, v in zip(node.output, outs):
        if name:
            env[name] = v
    dead.update(n for n in node.output[len(outs):] if n)


def _apply(ctx: Ctx, node, ins):
    """Fold the node or run its rule; an unforeseen exception names the node and op."""
    try:
        symbolic = any(isinstance(x, Sym) for x in ins)
        known = ins and all(isinstance(x, (Const, Sym)) for x in ins if x is not None)
        if known and node.op_type not in _NO_FOLD and not _per_sample(node.op_type, ins):
            if not symbolic:
                validate.fold_size(ctx, node, ins)
            outs = shapes.evaluate(ctx, node, ins) or _fold(node, ins, ctx.opset)
            validate.folded(ctx, node, outs)
            return outs
        if symbolic and node.op_type not in _PER_SAMPLE:
            raise ctx.error(f"{node.op_type} uses the batch size as a value: the per-sample output would "
                            "depend on the batch size", BatchDependentError)
        for x in ins:
            if isinstance(x, Moved) and node.op_type not in moved.OPS:
                ctx.var(x)  # refused: the batch axis is not first
        fn = lookup(node.op_type, ctx.opset)
        if fn is None:
            raise Unsupported("")
        return fn(ctx, node, ins)
    except (Unsupported, WlbridgeError):
        raise
    except RecursionError:
        raise ctx.error("nested too deeply", FormatError) from None
    except _RULE_ERRORS as e:
        raise ctx.error(f"invalid node ({type(e).__name__}: {str(e)[:200]}); if the node is valid ONNX, "
                        "this is a bug in wlbridge, please report it", FormatError) from e


def _per_sample(op: str, ins) -> bool:
    """Whether a shape tensor holding the batch size is this node's target shape (per-sample work for its
    rule) rather than its data (evaluated by ``shapes.py``)."""
    shape_ins = ins if op == "ConstantOfShape" else ins[1:]
    return op in _PER_SAMPLE and any(isinstance(x, Sym) for x in shape_ins)


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def _fold(node, ins, opset: int) -> list:
    """Evaluate a node whose inputs are all constants with ``onnx.reference``."""
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(node, opsets={"": opset})
        feeds = {n: x.value for n, x in zip(node.input, ins) if n and x is not None}
        return [Const(np.asarray(v)) for v in ev.run(None, feeds)]
    except Exception as e:
        raise Unsupported(f"cannot fold constant node: {type(e).__name__}: {e}") from None


def _output(ctx: Ctx, v) -> Var:
    ctx.path, ctx.op_type = "<output>", "output"
    return v if isinstance(v, Var) else ctx.var(v)
