"""ONNX front end: ``from_onnx(model) -> Net`` for a path or an ``onnx.ModelProto``.

Initializers become weights (dtype kept); nodes whose inputs are all known are folded at
conversion time; every other node goes through a rule keyed by ``(op_type, since_version)``
(``registry.py``) or, for elementwise functions, through the ``onnx`` names in ``ops.ACTIVATIONS``.

**Batch axis.** The IR is batch-free. ``batch_axis=True`` drops the first axis of every graph
input (its size may be symbolic); ``False`` keeps the graph inputs whole (one sample, for models
without a batch axis); ``"auto"`` (default) takes ``True`` when every graph input has rank >= 2
and the graph keeps the batch axis apart, else ``False``. Shape arithmetic on a symbolic batch size
(``Shape -> Gather -> Concat -> Reshape``, ``ConstantOfShape``/``Expand`` of the batch) is evaluated
by ``shapes.py``; a graph whose per-sample output depends on the batch size is refused. ``net.meta``
holds the file's ``opsets``, ``producer``, ``symbolic_axes`` and ``data_dependent`` parts (``info``).
A graph that mixes the batch axis with the others converts as one sample of batch size 1; when every
input and output of that sample starts with that 1, it is read as the batch axis again
(``frontends/batchaxis.py``): one shape per model, by every route.

>>> import numpy as np, onnx
>>> from onnx import helper, numpy_helper, TensorProto as T
>>> g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "b"], ["h"], transB=1),
...                        helper.make_node("Relu", ["h"], ["y"])], "g",
...     [helper.make_tensor_value_info("x", T.FLOAT, ["N", 2])], [helper.make_tensor_value_info("y", T.FLOAT, ["N", 1])],
...     [numpy_helper.from_array(np.array([[1., -1.]], np.float32), "W"), numpy_helper.from_array(np.zeros(1, np.float32), "b")])
>>> net = from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), origin=False)
>>> print(net)
g(x: f32[2]) -> h2: f32[1]
  h1: f32[1] = linear(x; weight=f32[1,2], bias=f32[1])  # Gemm_0
  h2: f32[1] = elementwise[fn=relu](h1)  # Relu_1
>>> net(np.array([3.0, 1.0]))
array([2.])
"""
from __future__ import annotations

import dataclasses
import os

from pathlib import Path
from typing import Any, Mapping, Sequence

from ...errors import ConversionError, FormatError, UnsupportedLayerError, WlbridgeError
from ...ir import Net
from ..batchaxis import leading_one_as_batch
from ..guard import guarded, regular_file
from .convert import convert_graph
from .context import BatchAxisError
from .outputs import classifier_outputs

__all__ = ["from_onnx", "load_model"]


@guarded("onnx")
def from_onnx(model, *, input_names: Sequence[str] | None = None, batch_axis: bool | str = "auto",
              constants: Mapping[str, Any] | None = None, origin: bool = True,
              sequence_length: int | None = None) -> Net:
    """Convert an ONNX model (path, serialized bytes or ``ModelProto``) to a :class:`~wlbridge.ir.Net`.

    ``constants`` freezes graph inputs to given arrays (ONNX node tests pass weights as inputs);
    ``origin=False`` skips building the onnxruntime session used by ``check``;
    ``sequence_length`` fixes symbolic input axes after the first (a sequence model's time axis).
    """
    if batch_axis not in (True, False, "auto"):
        raise ConversionError(f"batch_axis must be True, False or 'auto', got {batch_axis!r}")
    proto = load_model(model)
    if constants:
        proto = freeze_inputs(proto, constants)
    if sequence_length is not None:
        from .seqlen import fix_sequence_length

        proto = fix_sequence_length(proto, sequence_length)
    proto = _infer(proto)
    proto, notes = classifier_outputs(proto)
    batch = _auto_batch(proto) if batch_axis == "auto" else batch_axis
    source = str(model) if isinstance(model, (str, os.PathLike)) else ""
    origin_proto = proto
    try:
        net = convert_graph(proto, batch=batch, input_names=input_names, source=source)
    except BatchAxisError as first:
        if batch_axis != "auto" or not batch:
            raise
        one = _batch_of_one(proto)
        try:
            net = convert_graph(one, batch=False, input_names=input_names, source=source)
        except UnsupportedLayerError:  # unsupported layers block either way: they are the reason to show
            raise
        except WlbridgeError as second:  # the reason is the batch axis; say what the retry met too
            raise type(first)(f"{first}; converting one sample instead (batch_axis=False) failed too: "
                              f"{second}") from None
        if one is not proto and any(not s or s[0] != 1 for s in net.output_shapes):
            raise type(first)(f"{first}; as one sample (batch size 1) the outputs have shapes "
                              f"{[list(s) for s in net.output_shapes]}: their first axis is not the batch "
                              "axis (the graph mixes samples)") from None
        if one is not proto:  # the file's symbolic axes, which the batch of one fixed
            from .convert import model_facts

            net = dataclasses.replace(net, meta={**net.meta, "symbolic_axes": model_facts(proto)["symbolic_axes"]},
                                      input_names=tuple(net.input_names))
        whole, net = net, leading_one_as_batch(net, None)
        if net is not whole:  # its source runs one sample (batch of 1) at a time
            origin_proto = one
    if notes:
        import warnings

        warnings.warn("onnx: " + "; ".join(notes), UserWarning, stacklevel=2)
        net = dataclasses.replace(net, meta={**net.meta, "notes": [*net.meta.get("notes", []), *notes]},
                                  input_names=tuple(net.input_names))
    if origin:
        from .origin import make_origin

        net = _with_origin(net, make_origin(origin_proto, net, source=source or "onnx"))
    return net


def load_model(model):
    """A ``ModelProto`` from a path (external data resolved from its folder), the serialized bytes, or a
    ``ModelProto``."""
    import onnx

    if isinstance(model, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(model))

    if isinstance(model, onnx.ModelProto):
        ext = [t.name for t in model.graph.initializer
               if t.data_location == onnx.TensorProto.EXTERNAL and not t.HasField("raw_data")]
        if ext:
            raise FormatError(f"onnx: initializers {ext[:3]} are in external data that is not loaded; "
                              "pass the model's path instead (its folder holds the data file)")
        return model
    path = Path(model)
    regular_file(path)  # before onnx.load: a FIFO or /dev/zero never ends
    try:
        proto = onnx.load(str(path), load_external_data=False)
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(proto, str(path.parent))
    except (OSError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
        raise FormatError(f"{path}: cannot read the ONNX model or its external data: {e}") from None
    except Exception as e:  # protobuf DecodeError and friends
        raise FormatError(f"{path}: not an ONNX model: {type(e).__name__}: {e}") from None
    return proto


def _from_bytes(data: bytes):
    import onnx

    from ... import limits

    cap = limits.current().max_file_bytes
    if len(data) > cap:
        raise FormatError(f"onnx: {len(data)} bytes, more than the {cap} byte limit (WLBRIDGE_MAX_FILE_BYTES)")
    try:
        proto = onnx.load_from_string(data)
    except Exception as e:  # protobuf DecodeError and friends
        raise FormatError(f"onnx: the bytes are not an ONNX model: {type(e).__name__}: {e}") from None
    return load_model(proto)


def freeze_inputs(proto, constants: Mapping[str, Any]):
    """A copy of ``proto`` with the named graph inputs turned into initializers."""
    import numpy as np
    import onnx

    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    names = {i.name: i for i in proto.graph.input}
    for name, value in constants.items():
        if name not in names:
            raise ConversionError(f"onnx: constants: {name!r} is not a graph input; inputs: {sorted(names)}")
        dtype = onnx.helper.tensor_dtype_to_np_dtype(names[name].type.tensor_type.elem_type)
        proto.graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        proto.graph.input.remove(names[name])
    return proto


def _infer(proto):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # inference is an aid: conversion does its own shape checks
        return proto


def _batch_of_one(proto):
    """A copy of ``proto`` whose graph inputs have a symbolic first axis fixed to 1: a graph that mixes
    the batch axis with the others converts as one fixed sample (batch size 1)."""
    import onnx

    inits = {t.name for t in proto.graph.initializer}
    dims = [i.type.tensor_type.shape.dim for i in proto.graph.input if i.name not in inits]
    if not any(d and not d[0].HasField("dim_value") for d in dims):
        return proto
    proto = onnx.ModelProto.FromString(proto.SerializeToString())
    for i in proto.graph.input:
        d = i.type.tensor_type.shape.dim
        if i.name not in inits and d and not d[0].HasField("dim_value"):
            d[0].dim_value = 1
    return _infer(proto)


def _auto_batch(proto) -> bool:
    inits = {t.name for t in proto.graph.initializer}
    ranks = [len(i.type.tensor_type.shape.dim) for i in proto.graph.input if i.name not in inits]
    return bool(ranks) and min(ranks) >= 2


def _with_origin(net: Net, origin) -> Net:
    import dataclasses

    return dataclasses.replace(net, origin=origin, input_names=tuple(net.input_names))
