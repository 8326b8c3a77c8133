"""Checks of what an ONNX file declares, before a rule or library reads it: node arity and
attributes against the op's schema, element types, initializer sizes, folded-constant sizes.
Every failure is a :class:`~wlbridge.errors.FormatError` naming the node (or value) and op."""
from __future__ import annotations

import numpy as np

from ... import limits
from ...errors import FormatError


def np_dtype(elem_type: int, what: str, source: str = "onnx"):
    """The numpy dtype of an ONNX element type, or a FormatError naming ``what``."""
    import onnx

    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, ValueError, TypeError):
        raise FormatError(f"{source}: {what} has an unknown element type {elem_type}") from None


def initializer(t, source: str = "onnx") -> np.ndarray:
    """An initializer as an array, its declared dims and data checked first."""
    import onnx

    what = f"initializer {t.name!r}"
    if any(d < 0 for d in t.dims):
        raise FormatError(f"{source}: {what} has negative dims {list(t.dims)}")
    dtype = np_dtype(t.data_type, what, source)
    n = int(np.prod(t.dims, dtype=object)) if t.dims else 1
    if n * max(np.dtype(dtype).itemsize, 1) > limits.current().max_constant_bytes:
        raise FormatError(f"{source}: {what} declares {list(t.dims)} elements, more than the "
                          f"{limits.current().max_constant_bytes} byte limit (WLBRIDGE_MAX_CONSTANT_BYTES)")
    try:
        return onnx.numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
        raise FormatError(f"{source}: {what}: data does not match dims {list(t.dims)} and type "
                          f"{np.dtype(dtype).name}: {e}") from None


def node(ctx, node) -> None:
    """Arity and attributes of ``node`` against its schema at the model's opset (when ONNX knows the op)."""
    import onnx

    try:
        schema = onnx.defs.get_schema(node.op_type, ctx.opset, node.domain or "")
    except Exception:  # unknown op or opset: the rule lookup reports it as unsupported
        return
    n_in = len(node.input)
    if n_in < schema.min_input or n_in > schema.max_input:
        raise ctx.error(f"has {n_in} inputs; the schema asks for {schema.min_input} to {schema.max_input}",
                        FormatError)
    if len(node.output) < schema.min_output:
        raise ctx.error(f"has {len(node.output)} outputs; the schema asks for at least {schema.min_output}",
                        FormatError)
    for i, (name, formal) in enumerate(zip(node.input, _formals(schema, n_in))):
        if not name and formal is not None and formal.option == onnx.defs.OpSchema.FormalParameterOption.Single:
            raise ctx.error(f"required input {i} ({formal.name}) is empty", FormatError)
    given = {a.name: a for a in node.attribute}
    missing = [k for k, a in schema.attributes.items() if a.required and k not in given]
    if missing:
        raise ctx.error(f"required attribute(s) {missing} missing", FormatError)
    for k, a in given.items():
        spec = schema.attributes.get(k)
        if spec is not None and a.type and a.type != spec.type:
            raise ctx.error(f"attribute {k!r} has type {onnx.AttributeProto.AttributeType.Name(a.type)}, "
                            f"expected {onnx.AttributeProto.AttributeType.Name(spec.type)}", FormatError)


def _formals(schema, n: int):
    ins = list(schema.inputs)
    out = []
    for i in range(n):
        out.append(ins[i] if i < len(ins) else (ins[-1] if ins else None))
    return out


def fold_size(ctx, node, ins) -> None:
    """Refuse folding a node whose output would exceed ``max_constant_bytes`` (its element count, estimated
    from its inputs for the ops that make large outputs from small inputs, times 8 bytes)."""
    vals = [None if x is None else x.value for x in ins]
    n = _fold_elements(node.op_type, vals, ctx.attrs)
    cap = limits.current().max_constant_bytes
    if n is not None and n * 8 > cap:
        raise ctx.error(f"folding this constant would make {n} elements, more than the {cap} byte limit "
                        "(WLBRIDGE_MAX_CONSTANT_BYTES)", FormatError)


def _fold_elements(op: str, vals, attrs):
    def prod(shape):
        return int(np.prod([max(int(d), 0) for d in np.asarray(shape).reshape(-1)], dtype=object))

    try:
        if op == "ConstantOfShape" and vals:
            return prod(vals[0])
        if op == "Expand" and len(vals) > 1:
            a, s = vals[0], [int(d) for d in np.asarray(vals[1]).reshape(-1)]
            return prod(np.broadcast_shapes(tuple(max(d, 0) for d in s), np.shape(a)))
        if op == "Tile" and len(vals) > 1:
            return np.size(vals[0]) * prod(vals[1])
        if op == "Range" and len(vals) > 2:
            start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in vals[:3])
            return 0 if delta == 0 else max(0, int(np.ceil((limit - start) / delta)))
        if op == "Pad" and len(vals) > 1 and vals[1] is not None:
            pads = np.asarray(vals[1]).reshape(2, -1)
            return prod(np.asarray(np.shape(vals[0])) + pads.sum(axis=0))
    except (ValueError, TypeError, IndexError, OverflowError):
        return None  # the fold reports the malformed input
    return None  # other ops: checked after folding (``folded``)


def folded(ctx, node, outs) -> None:
    cap = limits.current().max_constant_bytes
    for o in outs:
        if o.value.nbytes > cap:
            raise ctx.error(f"folded constant of shape {list(o.value.shape)} exceeds the {cap} byte limit "
                            "(WLBRIDGE_MAX_CONSTANT_BYTES)", FormatError)
