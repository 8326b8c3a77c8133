"""A graph of static batch size 1 that mixes the batch axis with the others, read as one whole sample.

torch's attention in aten (``MultiheadAttention``, ``TransformerEncoderLayer`` exported with
``torch.export``) works in the (L, N, E) layout: it transposes, selects and reshapes the batch axis
with the others. With a static batch size of 1 the program is still one function of one sample: the
whole input tensor, leading 1 included, is the sample (``V.nb == 0``: torch axes are IR axes), as the
ONNX front end reads torch's legacy attention export; when every input and output of the sample keeps
that leading 1, it is the batch axis again (``frontends/batchaxis.py``). Only rules that know ``V.nb`` run in that mode
(:func:`converts_whole_sample`); every other op is reported as unsupported there.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import ConversionError, UnsupportedLayerError, WlbridgeError
from ...ir import Net, Origin

NOTE = ("the graph mixes the batch axis with the others (torch's attention in aten): converted as one "
        "sample of batch size 1")

# rules outside elementwise.py / shape_ops.py / tensor_ops.py (all of whose rules know V.nb) that do
_AXIS_AWARE = {"linear", "addmm", "mm", "matmul", "bmm", "softmax", "log_softmax", "_softmax", "_log_softmax",
               "softmin", "mean", "sum", "amax", "max", "layer_norm", "native_layer_norm",
               "scaled_dot_product_attention"}
_MODULES = ("elementwise", "shape_ops", "tensor_ops")


def converts_whole_sample(name: str) -> bool:
    """Whether the rule for op ``name`` converts a tensor without a batch axis (``V.nb == 0``)."""
    from .context import RULES
    from .elementwise import FUNCTION_ROWS

    if name in FUNCTION_ROWS or name in _AXIS_AWARE:
        return True
    fn = RULES.get(name, (None,))[0]
    return fn is not None and fn.__module__.rsplit(".", 1)[-1] in _MODULES


def mixes_batch(error: UnsupportedLayerError, batch_size: int | None) -> bool:
    """Whether a failed conversion may succeed as one sample: a static batch of 1, refused on the batch axis."""
    return batch_size == 1 and any("batch axis" in why or "batch size" in why for _, _, why in error.items)


def retry(convert: Callable[[], Net], first: UnsupportedLayerError) -> Net:
    """``convert()`` (the graph as one sample); when it fails too, an error naming both reasons."""
    try:
        net = convert()
    except WlbridgeError as second:
        why = f"{first}; as one sample of batch size 1 it does not convert either: {second}"
        if isinstance(second, UnsupportedLayerError):
            err = UnsupportedLayerError(second.source, second.items)  # the retry's items: the real blockers
            err.args = (why,)
            raise err from None
        raise type(second)(why) from None
    bad = [list(s) for s in net.output_shapes if not s or s[0] != 1]
    if bad:
        raise ConversionError(f"{first}; as one sample of batch size 1 the outputs have shapes {bad}: their "
                              "first axis is not the batch axis (the graph mixes samples)")
    return net


def per_sample(origin: Origin) -> Origin:
    """``origin`` (batches of the program's inputs) for batches of whole samples ``{n, 1, ...}``."""
    def evaluate(*xs):
        xs = [np.asarray(x) for x in xs]
        n = len(xs[0])
        outs = origin.evaluate(*[x.reshape(n * x.shape[1], *x.shape[2:]) for x in xs])
        return [np.asarray(o).reshape(n, 1, *np.shape(o)[1:]) for o in outs]
    return Origin(origin.name, evaluate, origin.dtype)
