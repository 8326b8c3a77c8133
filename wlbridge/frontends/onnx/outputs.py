"""Classifier graphs (scikit-learn through skl2onnx): which outputs the IR keeps.

A classifier graph has a label output (``ArgMax`` of the probabilities, mapped to the class labels:
integers or strings) and a probability output, often behind ``ZipMap`` (a list of label -> probability
maps). The IR computes numbers: the label output is dropped (it is the class with the largest
probability, ``classes[argmax(p)]``; the classes are kept in ``Net.meta["classes"]`` when they are
in the graph) and ``ZipMap`` is read as the probability tensor it wraps, columns in class order.
Nodes that no kept output needs are removed, so the ``ArgMax`` chain never has to convert.
"""
from __future__ import annotations


def _is_number_tensor(vi) -> bool:
    import onnx

    t = vi.type
    if not t.HasField("tensor_type"):
        return False
    return t.tensor_type.elem_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                                       onnx.TensorProto.BFLOAT16)


def classifier_outputs(proto):
    """``(proto, notes)``: ZipMap bypassed, non-numeric outputs dropped, unneeded nodes removed."""
    import onnx

    g = proto.graph
    zipmaps = {n.output[0]: n for n in g.node if n.op_type == "ZipMap"}
    kept, notes, classes = [], [], None
    for out in g.output:
        if out.name in zipmaps:
            z = zipmaps[out.name]
            classes = _classes(z)
            vi = _value_info(g, z.input[0]) or onnx.helper.make_tensor_value_info(z.input[0], onnx.TensorProto.FLOAT, None)
            kept.append(vi)
            notes.append(f"output {out.name!r} (ZipMap) is read as the probability tensor {z.input[0]!r}, "
                         "columns in class order")
        elif _is_number_tensor(out) or not out.type.HasField("tensor_type"):
            kept.append(out)
        else:
            notes.append(f"output {out.name!r} (class labels, argmax of the probabilities) is dropped: "
                         "the IR computes numbers")
    if not notes or not kept:
        return proto, []
    new = onnx.ModelProto.FromString(proto.SerializeToString())
    del new.graph.output[:]
    new.graph.output.extend(kept)
    _prune(new.graph)
    return new, notes if classes is None else notes + [f"classes: {classes}"]


def _classes(zipmap):
    import onnx

    for a in zipmap.attribute:
        if a.name in ("classlabels_int64s", "classlabels_strings"):
            v = onnx.helper.get_attribute_value(a)
            return [x.decode() if isinstance(x, bytes) else int(x) for x in v]
    return None


def _value_info(g, name):
    for vi in [*g.value_info, *g.output, *g.input]:
        if vi.name == name and vi.type.HasField("tensor_type"):
            return vi
    return None


def _prune(g) -> None:
    """Remove the nodes no graph output depends on (in place)."""
    need = {o.name for o in g.output}
    keep = []
    for node in reversed(g.node):
        if any(o in need for o in node.output):
            keep.append(node)
            need.update(i for i in node.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
