"""The dtype of every value of a net: integer and bool values where the ops say so, floats elsewhere.

The IR computes in float64 (the reference) and the emitted code in reals; this table says which values
are integers, so that ``str(net)`` shows them (``i64``, ``bool``) and ``check`` compares integer outputs
exactly. An op produces integers by definition (``argmax``, ``compare``, ``cast`` to an integer) or keeps
what its inputs are (rearrangements, sums and products of integers, ``where`` of two integer branches).

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (3,))
>>> k = b.layer("argmax", [x], attrs={"axis": 0, "keepdims": False})
>>> value_dtypes(b.build([k]))[k]
'int64'
"""
from __future__ import annotations

import numpy as np

# ops whose output is an integer when all their (non-constant) inputs are, bool when all are bool
_KEEPS = {"identity", "flatten", "reshape", "transpose", "take", "slice", "concat", "pad", "max", "min", "mul",
          "add", "sub", "dynamic_slice", "reduce"}


def _kind(dtype: str) -> str:
    d = np.dtype(dtype)
    return "bool" if d == np.bool_ else "int" if np.issubdtype(d, np.integer) else "float"


def value_dtypes(net) -> dict[str, str]:
    """``{value name: numpy dtype name}``; floats are the net's own float dtype."""
    return layer_dtypes(net, np.dtype(net.dtype).name)


def layer_dtypes(net, fl: str = "float64") -> dict[str, str]:
    """``value_dtypes`` of anything with ``inputs`` and ``layers`` (a ``NetBuilder`` while it builds), floats
    as ``fl``."""
    out = {p.name: p.dtype if p.dtype and _kind(p.dtype) != "float" else fl for p in net.inputs}
    for layer in net.layers:
        out[layer.output] = _layer_dtype(layer, [out[i] for i in layer.inputs], fl)
    return out


def _layer_dtype(layer, ins: list[str], fl: str) -> str:
    op = layer.op
    if op in ("argmax", "argmin"):
        return "int64"
    if op == "compare":
        return "bool"
    if op == "cast":
        to = np.dtype(layer.attrs["to"]).name
        return fl if _kind(to) == "float" else to
    if op == "constant":
        v = layer.params["value"]
        return v.dtype.name if _kind(v.dtype.name) != "float" else fl
    if op == "one_hot":
        to = np.dtype(layer.attrs.get("dtype", "int64")).name
        return fl if _kind(to) == "float" else to
    if op == "where":
        ins = ins[1:]
    elif op == "dynamic_slice":
        ins = ins[:1]
    elif op not in _KEEPS or (op == "reduce" and layer.attrs.get("kind") == "mean"):
        return fl
    kinds = {_kind(d) for d in ins}
    if kinds == {"bool"} and op not in ("add", "sub", "reduce"):
        return "bool"
    return "int64" if kinds <= {"int", "bool"} else fl


def integer_outputs(net) -> list[bool]:
    """Per output of ``net``: is it an integer (or bool) value, compared exactly by ``check``?"""
    dts = value_dtypes(net)
    return [_kind(dts[o]) != "float" for o in net.outputs]
