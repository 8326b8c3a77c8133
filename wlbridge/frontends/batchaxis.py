"""One shape per model: a graph converted as one whole sample of batch size 1 gets its batch axis back.

torch.export with a static example batch of 1, or an ONNX graph of static batch 1, that mixes the batch
axis with the others (torch's attention, recurrent layers in ONNX) converts only as one whole sample,
the leading 1 included: a TransformerEncoder was ``x[1,6,16] -> [1,2]`` from ``.pt2`` and ONNX but
``x[6,16] -> [2]`` from ``from_torch``. The rule: the exporter marked that axis as the batch (the
program's / graph's first input axis, the one the retry fixed to 1), and **every** input and output
of the sample keeps it as a leading 1. Then it is the batch axis: the ports drop it, and a reshape
inside restores it, so the net computes the same function of each sample. A sample whose inputs or
outputs do not all start with a 1 of their own (or whose output would be left without an axis) is
left whole: a genuine size-1 axis that the graph does not carry through is not a batch axis.
"""
from __future__ import annotations

import dataclasses
import re

from ..ir import Layer, Net, Origin, Port

NOTE = "the leading axis of size 1 of every input and output (a static batch of 1) is read as the batch axis"


def leading_one_as_batch(net: Net, origin: Origin | None) -> Net:
    """``net`` (inputs and outputs of one whole sample) with the leading 1 as the batch axis and ``origin``
    (the source on batches along that axis) as its origin; ``net`` itself when the rule does not hold."""
    ins = [p.shape for p in net.inputs]
    outs = net.output_shapes
    if not all(len(s) >= 2 and s[0] == 1 for s in ins + outs):
        return net
    taken = {p.name for p in net.inputs} | {layer.output for layer in net.layers}
    fresh = _fresh_names(taken)
    inner = {p.name: next(fresh) for p in net.inputs}
    head = [Layer("reshape", (p.name,), inner[p.name], attrs={"shape": tuple(p.shape)}, path="batch axis")
            for p in net.inputs]
    body = [dataclasses.replace(layer, inputs=tuple(inner.get(v, v) for v in layer.inputs)) for layer in net.layers]
    out_names = [next(fresh) for _ in net.outputs]
    tail = [Layer("reshape", (o,), new, attrs={"shape": tuple(s[1:])}, path="batch axis")
            for o, new, s in zip(net.outputs, out_names, outs)]
    notes = [n for n in net.meta.get("notes", []) if n != NOTE] + [NOTE]
    return Net(tuple(Port(p.name, tuple(p.shape[1:]), p.dtype) for p in net.inputs), tuple(out_names),
               tuple(head + body + tail), tuple(net.input_names), net.name, origin, {**net.meta, "notes": notes})


def _fresh_names(taken):
    """``h<k>`` names after the highest one in use."""
    k = max([int(m.group(1)) for n in taken if (m := re.fullmatch(r"h(\d+)", n))] + [0])
    while True:
        k += 1
        if f"h{k}" not in taken:
            yield f"h{k}"
