"""One rule per Wolfram layer ``"Type"``: ``rule(ctx, node, path, inputs) -> IR value``.

``inputs`` maps the layer's input port names to IR values (a list for the pre-11.3.2 tuple edge of
a ``ListT`` port). Array dimensions are Wolfram's, i.e. the HDF5 dataset shapes.
"""
from __future__ import annotations

import math

import numpy as np

from ..._rules import registrar
from ...ops import by_source_name
from .expr import Symbol, head_name, is_symbol
from .inputform import to_inputform
from .netassoc import _Unsupported, port_dims
from .scalarfn import ScalarFunctionError, from_scalar_function

RULES: dict = {}
PRECHECKS: dict = {}  # type -> check(ctx, node, path) raising _Unsupported, for layers fed by unsupported ones


rule = registrar(RULES, "Wolfram layer")


def _params(node) -> dict:
    p = node.get("Parameters", {})
    return p if isinstance(p, dict) else {}


def _one(ctx, node, path, inputs):
    if len(inputs) != 1:
        ctx.fail(path, f"expected one input port, got {list(inputs)}")
    x = next(iter(inputs.values()))
    if isinstance(x, list):
        ctx.fail(path, "a single-input layer is fed a list of sources")
    return x


def _in_dims(ctx, node, path):
    return port_dims(ctx, _first_port(ctx, node, "Inputs", path), path)


def _out_dims(ctx, node, path):
    return port_dims(ctx, _first_port(ctx, node, "Outputs", path), path)


def _first_port(ctx, node, key, path):
    ports = node.get(key) if isinstance(node, dict) else None
    if not isinstance(ports, dict) or not ports:
        ctx.fail(path, f"layer has no {key} port")
    return next(iter(ports.values()))


def _unwrap(v):
    """``ValidatedParameter[f]`` -> ``f`` (11.0 files store ``f`` bare)."""
    return v.args[0] if head_name(v) == "ValidatedParameter" and len(v.args) == 1 else v


def _ints(ctx, v, n, path, what, least=1):
    """An int, a list of n ints (each >= ``least``), or None -> tuple of n ints (None stays None)."""
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v] * n
    if not isinstance(v, list) or len(v) != n or \
            not all(isinstance(i, int) and not isinstance(i, bool) and least <= i < 2**31 for i in v):
        ctx.fail(path, f"{what} must be {n} integer(s) >= {least}, got {to_inputform(v)[:60]}")
    return tuple(v)


@rule("Linear", "DotPlus")
def _linear(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    w = ctx.array(node, "Weights", path)
    b = ctx.array(node, "Biases", path, required=False)
    ind, outd = _in_dims(ctx, node, path), _out_dims(ctx, node, path)
    if w.ndim != 2 or w.shape != (math.prod(outd), math.prod(ind)):
        ctx.fail(path, f"Weights shape {list(w.shape)} disagrees with input {list(ind)} and output {list(outd)}")
    if len(ind) != 1:
        x = ctx.builder.layer("flatten", [x], path=path)
    y = ctx.builder.layer("linear", [x], params={"weight": w, "bias": b}, path=path)
    if len(outd) != 1:
        y = ctx.builder.layer("reshape", [y], attrs={"shape": outd}, path=path)
    return y


def scalar_function(ctx, f, path, nargs: int):
    """An elementwise WL function -> ("elementwise", row name) or ("scalar_fn", body AST)."""
    f = _unwrap(f)
    name = f.name if isinstance(f, Symbol) else f if isinstance(f, str) else None
    row = by_source_name("wolfram").get(name) if name else None
    if row is not None and nargs == 1:
        return "elementwise", row.name
    if head_name(f) == "ScalarFunctionObject":
        try:
            return "scalar_fn", from_scalar_function(f)
        except ScalarFunctionError as e:
            raise _Unsupported(f"custom function: {e}") from None
    raise _Unsupported(f"function {to_inputform(f)[:60]} has no IR form")


def _check_function(ctx, node, path):
    nargs = len(node.get("Inputs", {})) if node.get("Type") == "Threading" else 1
    f = _unwrap(_params(node).get("Function"))
    if not (node.get("Type") == "Threading" and isinstance(f, Symbol) and f.name in THREAD_OPS):
        scalar_function(ctx, f, path, nargs)


PRECHECKS["Elementwise"] = PRECHECKS["Threading"] = _check_function
PRECHECKS["Convolution"] = PRECHECKS["Pooling"] = lambda ctx, node, path: _spatial_common(ctx, node, path)


@rule("Elementwise")
def _elementwise(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    kind, what = scalar_function(ctx, _params(node).get("Function"), path, 1)
    if kind == "elementwise":
        return ctx.builder.layer("elementwise", [x], attrs={"fn": what}, path=path)
    return ctx.builder.layer("scalar_fn", [x], attrs={"body": what}, path=path)


@rule("Softmax")
def _softmax(ctx, node, path, inputs):
    level = _params(node).get("Level", -1)
    if not isinstance(level, int) or level == 0:
        ctx.fail(path, f"bad Softmax level {to_inputform(level)[:40]}")
    return ctx.builder.layer("softmax", [_one(ctx, node, path, inputs)],
                             attrs={"axis": level if level < 0 else level - 1}, path=path)


@rule("Dropout")
def _dropout(ctx, node, path, inputs):
    return _one(ctx, node, path, inputs)  # identity at inference


@rule("BatchNormalization")
def _batchnorm(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    p = _params(node)
    names = node.get("Arrays", {})
    scale = "Scaling" if "Scaling" in names else "Gamma"
    bias = "Biases" if "Biases" in names else "Beta"
    arrs = {k: ctx.array(node, n, path, required=n != bias) for k, n in
            (("scale", scale), ("bias", bias), ("mean", "MovingMean"), ("var", "MovingVariance"))}
    if arrs["bias"] is None:
        arrs["bias"] = np.zeros_like(arrs["mean"])
    eps = p.get("Epsilon", 0.001)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool):
        ctx.fail(path, f"bad Epsilon {to_inputform(eps)[:40]}")
    axis = -1 if is_symbol(p.get("Interleaving"), "True") else 0
    return ctx.builder.layer("batchnorm", [x], params=arrs, attrs={"eps": float(eps), "axis": axis}, path=path)


@rule("Flatten")
def _flatten(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    level = _params(node).get("Level", Symbol("Infinity"))
    if is_symbol(level, "Infinity") or head_name(level) == "DirectedInfinity":
        return ctx.builder.layer("flatten", [x], path=path)
    return ctx.builder.layer("reshape", [x], attrs={"shape": _out_dims(ctx, node, path)}, path=path)


@rule("Reshape")
def _reshape(ctx, node, path, inputs):
    return ctx.builder.layer("reshape", [_one(ctx, node, path, inputs)],
                             attrs={"shape": _out_dims(ctx, node, path)}, path=path)


def port_order(ports) -> list:
    """Multiport names "1", "2", ... in numeric order (other names as given)."""
    try:
        return sorted(ports, key=int)
    except ValueError:
        return list(ports)


def multiport(ctx, node, path, inputs) -> list:
    """Inputs "1", "2", ... in order, or the list of a pre-11.3.2 tuple edge."""
    if len(inputs) == 1 and isinstance(next(iter(inputs.values())), list):
        return next(iter(inputs.values()))
    return [inputs[k] for k in port_order(inputs)]


@rule("Catenate")
def _catenate(ctx, node, path, inputs):
    level = _params(node).get("Level", 1)
    if not isinstance(level, int) or level == 0:
        ctx.fail(path, f"bad Catenate level {to_inputform(level)[:40]}")
    return ctx.builder.layer("concat", multiport(ctx, node, path, inputs),
                             attrs={"axis": level - 1 if level > 0 else level}, path=path)


@rule("Total")
def _total(ctx, node, path, inputs):
    return ctx.builder.layer("add", multiport(ctx, node, path, inputs), path=path)


THREAD_OPS = {"Plus": "add", "Times": "mul", "Subtract": "sub", "Divide": "div", "Power": "pow",
              "Min": "min", "Max": "max"}


@rule("Threading")
def _threading(ctx, node, path, inputs):
    xs = multiport(ctx, node, path, inputs)
    f = _unwrap(_params(node).get("Function"))
    if isinstance(f, Symbol) and f.name in THREAD_OPS:
        return ctx.builder.layer(THREAD_OPS[f.name], xs, path=path)
    kind, what = scalar_function(ctx, f, path, len(xs))
    if kind == "elementwise":
        return ctx.builder.layer("elementwise", xs, attrs={"fn": what}, path=path)
    return ctx.builder.layer("scalar_fn", xs, attrs={"body": what}, path=path)


def _padding(ctx, v, n, path):
    if v is None:
        return ((0, 0),) * n
    if isinstance(v, list) and v and all(isinstance(q, list) for q in v):
        pairs = [_ints(ctx, q, 2, path, "PaddingSize pair", 0) for q in v]
        if len(pairs) != n:
            ctx.fail(path, f"PaddingSize has {len(pairs)} pairs for {n} dimensions")
        return tuple(pairs)
    return tuple((q, q) for q in _ints(ctx, v, n, path, "PaddingSize", 0))


def _spatial_common(ctx, node, path):
    p = _params(node)
    if is_symbol(p.get("Interleaving"), "True"):
        raise _Unsupported("Interleaving -> True (channels last) is not supported")
    n = p.get("Dimensionality", len(_in_dims(ctx, node, path)) - 1)
    if not isinstance(n, int) or not 1 <= n <= 3:
        ctx.fail(path, f"bad Dimensionality {to_inputform(n)[:20]}")
    return p, n


@rule("Convolution")
def _convolution(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    p, n = _spatial_common(ctx, node, path)
    w = ctx.array(node, "Weights", path)
    attrs = {"stride": _ints(ctx, p.get("Stride", 1), n, path, "Stride"),
             "dilation": _ints(ctx, p.get("Dilation", 1), n, path, "Dilation"),
             "padding": _padding(ctx, p.get("PaddingSize"), n, path),
             "groups": _ints(ctx, p.get("ChannelGroups", p.get("$GroupNumber", 1)), 1, path, "ChannelGroups")[0]}
    if w.ndim != n + 2:
        ctx.fail(path, f"Weights shape {list(w.shape)} is not {{out, in, {n} kernel dims}}")
    return ctx.builder.layer("conv", [x], params={"weight": w, "bias": ctx.array(node, "Biases", path, False)},
                             attrs=attrs, path=path)


POOL_KINDS = {"Max": "max", "Mean": "avg", "Total": "sum"}


@rule("Pooling")
def _pooling(ctx, node, path, inputs):
    x = _one(ctx, node, path, inputs)
    p, n = _spatial_common(ctx, node, path)
    f = _unwrap(p.get("Function", Symbol("Max")))
    if not isinstance(f, Symbol) or f.name not in POOL_KINDS:
        raise _Unsupported(f"pooling function {to_inputform(f)[:40]}")
    kernel = _ints(ctx, p.get("KernelSize"), n, path, "KernelSize")
    if is_symbol(p.get("$MXGlobalPool"), "True"):
        kernel = tuple(_in_dims(ctx, node, path)[1:])
    attrs = {"kind": POOL_KINDS[f.name], "kernel": kernel,
             "stride": _ints(ctx, p.get("Stride", 1), n, path, "Stride"),
             "padding": _padding(ctx, p.get("PaddingSize"), n, path),
             "ceil_mode": p.get("$MXPoolingConvention") == "full",
             "count_include_pad": not is_symbol(p.get("$IgnorePadding"), "True")}
    return ctx.builder.layer("pool", [x], attrs=attrs, path=path)


@rule("Embedding")
def _embedding(ctx, node, path, inputs):
    """WL indices are 1-based: the IR subtracts 1 before its 0-based ``embedding``."""
    x = _one(ctx, node, path, inputs)
    w = ctx.array(node, "Weights", path)
    ctx.meta["index_base"] = 1
    one = ctx.builder.constant(np.array(1.0), path=path)
    idx = ctx.builder.layer("sub", [x, one], path=path)
    return ctx.builder.layer("embedding", [idx], params={"weight": w}, path=path)


from . import layers_attention, layers_misc, layers_seq, layers_dot, layers_bidir  # noqa: E402,F401 - register the attention, sequence, product and other rules
from . import layers_resize  # noqa: E402,F401 - ResizeLayer
from . import layers_fold  # noqa: E402,F401 - NetFoldOperator
