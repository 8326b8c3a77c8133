"""``sequence_length=``: fix the symbolic non-batch axes of the graph inputs (a sequence model's time
axis, exported with ``dynamic_axes``) to one length, so that the net unrolls over it."""
from __future__ import annotations

from ...errors import ConversionError


def fix_sequence_length(proto, length: int):
    """A copy of ``proto`` whose graph inputs have ``length`` for every symbolic axis after the first."""
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise ConversionError(f"onnx: sequence_length must be a positive integer, got {length!r}")
    out = type(proto)()
    out.CopyFrom(proto)
    inits = {t.name for t in out.graph.initializer}
    for inp in out.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        for d in list(inp.type.tensor_type.shape.dim)[1:]:
            if not d.HasField("dim_value"):
                d.ClearField("dim_param")
                d.dim_value = length
    return out
