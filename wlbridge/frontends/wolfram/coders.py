"""NetEncoder / NetDecoder ports -> IR inputs and outputs.

- ``NetEncoder["Image", ...]``: the IR input is the image tensor (values in [0, 1], channels first
  unless ``"Interleaving" -> True``); the encoder's normalization is emitted as IR ``sub``/``div``
  layers by constants: ``(x - MeanImage) / Sqrt[VarianceImage]``, so the formula shows it.
- ``NetEncoder["Scalar"]`` / ``["Boolean"]``: a scalar input (shape ``()``) reshaped to the tensor.
- ``NetDecoder["Scalar"]``: the output becomes a scalar (shape ``()``).
- ``NetDecoder["Class"]``: the output stays the probability vector; ``net.meta["labels"]`` holds
  the labels (ints, strings or WL text of other expressions).
Other coders are listed as unsupported. What was done is recorded in ``net.meta["encoders"]`` /
``net.meta["decoders"]``.
"""
from __future__ import annotations

import numpy as np

from .expr import head_name, is_symbol
from .inputform import to_inputform


def input_port(ctx, name: str, t, value_name: str) -> str:
    from .netassoc import _Unsupported, is_index_type, port_dims

    b = ctx.builder
    try:
        dims = port_dims(ctx, t, f"Inputs/{name}")
    except _Unsupported as e:
        ctx.unsupported.append((f"Inputs/{name}", "input", str(e)))
        return None
    if head_name(t) != "NetEncoder":
        return b.input(value_name, dims, "int64" if is_index_type(t) else None)
    kind, params = t.args[0], (t.args[1] if len(t.args) > 2 and isinstance(t.args[1], dict) else {})
    ctx.meta.setdefault("encoders", {})[name] = kind
    if kind in ("Scalar", "Boolean"):
        x = b.input(value_name, ())
        return b.layer("reshape", [x], attrs={"shape": dims}, path=f"Inputs/{name}") if dims != () else x
    if kind == "Image":
        from .netassoc import _Unsupported
        try:
            return _image(ctx, name, params, dims, b.input(value_name, dims))
        except _Unsupported:
            return None
    ctx.unsupported.append((f"Inputs/{name}", f"NetEncoder[{kind!r}]", "only Image, Scalar and Boolean encoders"))
    return None


def _image(ctx, name, params, dims, x):
    """(x - mean) / sqrt(variance), per channel, with the encoder's MeanImage / VarianceImage."""
    path = f"Inputs/{name}"
    inter = is_symbol(params.get("Interleaving"), "True")
    ctx.meta.setdefault("image_encoder", {})[name] = {
        "shape": list(dims), "interleaving": inter, "color_space": params.get("ColorSpace"),
        "note": "input is the image tensor in [0, 1]; normalization (x - mean)/sqrt(variance) is in the IR"}
    for key in ("MeanImage", "VarianceImage"):
        if isinstance(params.get(key), (list, int, float)):
            ctx.meta["image_encoder"][name][key] = params[key]
    for key, fn, op in (("MeanImage", lambda v: v, "sub"), ("VarianceImage", np.sqrt, "div")):
        v = params.get(key)
        if v is None or is_symbol(v, "None") or is_symbol(v, "Automatic"):
            continue
        arr = _channel_values(ctx, v, dims, inter, f"{path}/{key}")
        c = ctx.builder.constant(fn(arr), path=f"{path}/{key}")
        x = ctx.builder.layer(op, [x, c], path=f"{path}/{key}")
    return x


def _channel_values(ctx, v, dims, inter, path):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return np.array(float(v))
    arr = np.asarray(v, dtype=np.float64) if isinstance(v, (list, np.ndarray)) else None
    if arr is None or arr.ndim != 1 or not dims or arr.shape[0] != (dims[-1] if inter else dims[0]):
        from .netassoc import _Unsupported
        ctx.unsupported.append((path, "NetEncoder[\"Image\"]", f"per-channel list expected, got {to_inputform(v)[:60]}"))
        raise _Unsupported
    return arr if inter else arr.reshape((-1,) + (1,) * (len(dims) - 1))


def output_port(ctx, name: str, t, value):
    if head_name(t) != "NetDecoder" or not t.args:
        return value
    kind = t.args[0]
    params = t.args[1] if len(t.args) > 2 and isinstance(t.args[1], dict) else {}
    ctx.meta.setdefault("decoders", {})[name] = kind
    if kind == "Scalar":
        return ctx.builder.layer("reshape", [value], attrs={"shape": ()}, path=f"Outputs/{name}")
    if kind == "Class":
        labels = params.get("Labels", [])
        ctx.meta["labels"] = [x if isinstance(x, (int, float, str)) else to_inputform(x)
                              for x in (labels if isinstance(labels, list) else [])]
    return value
