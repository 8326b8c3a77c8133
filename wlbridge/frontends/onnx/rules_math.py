"""Elementwise, arithmetic and dense ops: activations, Add..Pow, Gemm, MatMul, Softmax, Clip, Where."""
from __future__ import annotations

import numpy as np

from ...ops import by_source_name
from .context import BatchAxisError, Cmp, Const, Ctx, Unsupported, Var
from .registry import rule

# ONNX attribute -> parameter of the ACTIVATIONS row (defaults come from the ONNX schema)
ONNX_PARAMS = {
    "LeakyRelu": {"alpha": "negative_slope"},
    "Elu": {"alpha": "alpha"},
    "Selu": {"alpha": "alpha", "gamma": "scale"},
    "Celu": {"alpha": "alpha"},
    "HardSigmoid": {"alpha": "alpha", "beta": "beta"},
}
# ONNX Softplus has no threshold: above 40 log(1 + e^x) == x in float64
FIXED_PARAMS = {"Softplus": {"threshold": 40.0}}


def schema_default(op_type: str, opset: int, name: str):
    import onnx

    attr = onnx.defs.get_schema(op_type, opset).attributes[name]
    return onnx.helper.get_attribute_value(attr.default_value)


def activation_rule(op_type: str):
    """The converter for an ONNX op named in an ``ops.ACTIVATIONS`` row, or None."""
    row = by_source_name("onnx").get(op_type)
    if row is None:
        return None

    def _activation(ctx: Ctx, node, ins):
        params = dict(FIXED_PARAMS.get(op_type, {}))
        for onnx_name, ours in ONNX_PARAMS.get(op_type, {}).items():
            v = ctx.attrs.get(onnx_name)
            params[ours] = float(schema_default(op_type, ctx.opset, onnx_name) if v is None else v)
        fn = row.name
        if op_type == "Gelu" and ctx.attrs.get("approximate", "none") == "tanh":
            fn = "gelu_tanh"
        attrs = {"fn": fn, "fn_params": params} if params else {"fn": fn}
        return ctx.emit("elementwise", [ctx.var(ins[0])], attrs=attrs)

    return _activation


# ---- arithmetic with broadcasting -------------------------------------------------------------

def broadcast_args(ctx: Ctx, xs) -> list[Var]:
    """Inputs of a broadcasting op as IR values; constants lose the batch axis."""
    ranks = {ctx.rank(x) for x in xs if not isinstance(x, Const)}
    top = max(ctx.rank(x) for x in xs)
    if ctx.batch and (len(ranks) > 1 or top not in ranks):
        raise ctx.error(f"broadcasting ranks {sorted(ctx.rank(x) for x in xs)} moves the batch axis",
                        BatchAxisError)
    return [ctx.var(x, top) for x in xs]


def _arith(ir_op: str):
    def convert(ctx: Ctx, node, ins):
        return ctx.emit(ir_op, broadcast_args(ctx, ins))
    convert.__name__ = f"_{ir_op}"
    return convert


for _onnx, _ir in [("Add", "add"), ("Sub", "sub"), ("Mul", "mul"), ("Div", "div"), ("Pow", "pow"),
                   ("Sum", "add"), ("Max", "max"), ("Min", "min")]:
    rule(_onnx, 1)(_arith(_ir))


@rule("Mod", 10)
def _mod(ctx: Ctx, node, ins):
    """a mod b from exact parts: ``a - b floor(a / b)`` (``fmod=0``, the divisor's sign) or with the
    quotient truncated toward zero (``fmod=1``, C's fmod: the dividend's sign)."""
    a, b = broadcast_args(ctx, ins)
    q = ctx.emit("div", [a, b])
    if ctx.attrs.get("fmod", 0):
        mag = ctx.emit("elementwise", [ctx.emit("elementwise", [q], attrs={"fn": "abs"})], attrs={"fn": "floor"})
        t = ctx.emit("mul", [ctx.emit("elementwise", [q], attrs={"fn": "sign"}), mag])
    else:
        t = ctx.emit("elementwise", [q], attrs={"fn": "floor"})
    return ctx.emit("sub", [a, ctx.emit("mul", [b, t])])


@rule("Mean", 1)
def _mean(ctx: Ctx, node, ins):
    total = ctx.emit("add", broadcast_args(ctx, ins)) if len(ins) > 1 else ctx.var(ins[0])
    return ctx.emit("mul", [total, ctx.var(Const(np.array(1.0 / len(ins))))])


# ---- dense ------------------------------------------------------------------------------------

def _const(ctx: Ctx, x, what: str) -> np.ndarray:
    if not isinstance(x, Const):
        raise Unsupported(f"{what} is not constant (a product of two variables has no IR op)")
    return x.value


def _scaled(a: np.ndarray, k: float) -> np.ndarray:
    return a if k == 1.0 else np.asarray(a, dtype=np.float64) * k


@rule("Gemm", 1)
def _gemm(ctx: Ctx, node, ins):
    if isinstance(ins[1], Var):
        from .rules_tensor import gemm_vars

        return gemm_vars(ctx, ins)
    a, b = ins[0], _const(ctx, ins[1], "B")
    alpha, beta = float(ctx.attrs.get("alpha", 1.0)), float(ctx.attrs.get("beta", 1.0))
    weight = _scaled(np.ascontiguousarray(b if ctx.attrs.get("transB", 0) else b.T), alpha)  # {N, K}
    x = ctx.var(a)
    if ctx.attrs.get("transA", 0):
        if ctx.batch:
            raise ctx.error("transA=1 puts the batch axis last; convert with batch_axis=False", BatchAxisError)
        x = ctx.emit("transpose", [x], attrs={"perm": (1, 0)})
    c = ins[2] if len(ins) > 2 else None
    bias, extra = _gemm_bias(ctx, c, beta, weight.shape[0])
    y = ctx.emit("linear", [x], params={"weight": weight, "bias": bias})
    return y if extra is None else ctx.emit("add", broadcast_args(ctx, [y, extra]))


def _gemm_bias(ctx: Ctx, c, beta: float, n: int):
    """(bias vector or None, other addend or None) for Gemm's C."""
    if c is None or beta == 0.0:
        return None, None
    if not isinstance(c, Const):
        return None, c  # a variable C is simply added
    v = _scaled(c.value, beta)
    if v.size == 1:
        return np.full(n, v.reshape(()), dtype=v.dtype), None
    if v.ndim == 1 or (v.ndim == 2 and v.shape[0] == 1):
        return np.ascontiguousarray(np.broadcast_to(v.reshape(-1), (n,))), None
    return None, Const(v)


@rule("MatMul", 1)
def _matmul(ctx: Ctx, node, ins):
    a, b = ins
    if isinstance(a, Const) and isinstance(b, Var):
        return _const_matmul(ctx, a.value, b)
    if isinstance(a, Var) and isinstance(b, Var):
        from .rules_tensor import matmul_vars

        return matmul_vars(ctx, a, b)
    w = _const(ctx, b, "B")
    while w.ndim > 2 and w.shape[0] == 1:
        w = w[0]
    if w.ndim > 2:
        raise Unsupported(f"batched MatMul with a constant of shape {list(w.shape)}")
    x = ctx.var(a)
    if w.ndim == 1:
        y = ctx.emit("matmul", [x], params={"weight": w.reshape(-1, 1)})
        return ctx.reshape(y, y.shape[:-1])
    return ctx.emit("matmul", [x], params={"weight": w})


def _const_matmul(ctx: Ctx, c: np.ndarray, x: Var):
    """C @ X = (X^T @ C^T)^T on the last two axes of X."""
    if c.ndim != 2 or len(x.shape) < 2:
        raise Unsupported(f"MatMul of a constant {list(c.shape)} and a variable {list(ctx.onnx_shape(x))}")
    perm = (*range(len(x.shape) - 2), len(x.shape) - 1, len(x.shape) - 2)
    xt = ctx.emit("transpose", [x], attrs={"perm": perm})
    y = ctx.emit("matmul", [xt], params={"weight": np.ascontiguousarray(c.T)})
    return ctx.emit("transpose", [y], attrs={"perm": perm})


# ---- softmax ----------------------------------------------------------------------------------

def _softmax_rules(op_type: str, ir_op: str) -> None:
    def _softmax_2d(ctx: Ctx, node, ins):
        """Opset < 13: coerce to 2-D at ``axis`` (default 1), softmax over the flattened tail."""
        x = ctx.var(ins[0])
        r = ctx.rank(x)
        a = ctx.axis(int(ctx.attrs.get("axis", 1)), r)
        if a == len(x.shape) - 1:
            return ctx.emit(ir_op, [x], attrs={"axis": a})
        flat = ctx.reshape(x, (*x.shape[:a], int(np.prod(x.shape[a:]))))
        return ctx.reshape(ctx.emit(ir_op, [flat], attrs={"axis": a}), x.shape)

    def _softmax_axis(ctx: Ctx, node, ins):
        """Opset >= 13: one axis (default -1)."""
        x = ctx.var(ins[0])
        return ctx.emit(ir_op, [x], attrs={"axis": ctx.axis(int(ctx.attrs.get("axis", -1)), ctx.rank(x))})

    rule(op_type, 1)(_softmax_2d)
    rule(op_type, 13)(_softmax_axis)


_softmax_rules("Softmax", "softmax")
_softmax_rules("LogSoftmax", "log_softmax")


# ---- clip, prelu, identity --------------------------------------------------------------------

def _bounded(ctx: Ctx, x, lo, hi):
    x = ctx.var(x)
    if lo is not None and hi is not None:
        return ctx.emit("elementwise", [x], attrs={"fn": "clip", "fn_params": {"min_val": lo, "max_val": hi}})
    if lo is not None:
        x = ctx.emit("max", [x, ctx.var(Const(np.array(lo)))])
    if hi is not None:
        x = ctx.emit("min", [x, ctx.var(Const(np.array(hi)))])
    return x


@rule("Clip", 1)
def _clip_attrs(ctx: Ctx, node, ins):
    """Opset < 11: bounds are attributes min / max."""
    lo, hi = ctx.attrs.get("min"), ctx.attrs.get("max")
    return _bounded(ctx, ins[0], None if lo is None else float(lo), None if hi is None else float(hi))


@rule("Clip", 11)
def _clip_inputs(ctx: Ctx, node, ins):
    """Opset >= 11: bounds are optional inputs 2 and 3."""
    bounds = []
    for i in (1, 2):
        b = ins[i] if len(ins) > i else None
        if b is not None and not isinstance(b, Const):
            raise Unsupported("Clip bounds that are not constant")
        bounds.append(None if b is None else float(np.asarray(b.value).reshape(())))
    return _bounded(ctx, ins[0], *bounds)


@rule("PRelu", 1)
def _prelu(ctx: Ctx, node, ins):
    x = ctx.var(ins[0])
    slope = _const(ctx, ins[1], "slope")
    r = ctx.rank(x)
    if ctx.opset < 7 and slope.ndim == 1 and slope.size > 1 and r > 2:  # old per-channel form
        slope = slope.reshape(-1, *[1] * (r - 2))
    return ctx.emit("prelu", [x], params={"slope": ctx.ir_const(slope, r)})


@rule("Identity", 1)
def _identity(ctx: Ctx, node, ins):
    return ins[0]


@rule("Dropout", 1)
def _dropout(ctx: Ctx, node, ins):
    training = len(ins) > 2 and (not isinstance(ins[2], Const) or bool(np.asarray(ins[2].value).any()))
    if training or (ctx.attrs.get("is_test", 1) == 0 and ctx.opset < 7):
        raise Unsupported("Dropout in training mode")
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("Dropout with a mask output")
    return ins[0]


# ---- comparisons and Where (fused into one scalar_fn) -----------------------------------------

_CMP = {"Greater": "greater", "Less": "less", "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal"}


def _lift(ctx: Ctx, x, rank: int):
    """(body, args) of a scalar expression for one operand."""
    if isinstance(x, Cmp):
        return x.body, list(x.args)
    if isinstance(x, Const) and x.value.size == 1:
        return ("const", float(np.asarray(x.value, dtype=np.float64).reshape(()))), []
    return ("arg", 1), [ctx.var(x, rank)]


def _renumber(body, k: int):
    if body[0] == "arg":
        return ("arg", body[1] + k)
    if body[0] == "const":
        return body
    return (body[0], *[_renumber(b, k) for b in body[1:]])


def combine(ctx: Ctx, head: str, xs) -> Cmp:
    """One scalar expression ``head(*xs)``; pending comparisons among ``xs`` are inlined."""
    rank = max(ctx.rank(x) for x in xs)
    var_ranks = {ctx.rank(x) for x in xs if not isinstance(x, Const)}
    if ctx.batch and var_ranks != {rank}:
        raise ctx.error(f"broadcasting ranks {sorted(ctx.rank(x) for x in xs)} moves the batch axis",
                        BatchAxisError)
    bodies, args = [], []
    for x in xs:
        body, a = _lift(ctx, x, rank)
        bodies.append(_renumber(body, len(args)))
        args += a
    shapes = [a.shape for a in args]
    return Cmp((head, *bodies), tuple(args), tuple(np.broadcast_shapes(*shapes)) if shapes else ())


def materialize(ctx: Ctx, e: Cmp) -> Var:
    """A pending expression as an IR value; a comparison's value is 0/1 (the IR's ``compare``)."""
    from ...ops import COMPARISONS, plain_comparison

    if not e.args:
        raise Unsupported("a comparison of constants only")
    plain = plain_comparison(e.body)
    if plain:
        xs = [e.args[k[1] - 1] if k[0] == "arg" else ctx.emit("constant", [], params={"value": np.float64(k[1])})
              for k in plain[1]]
        return ctx.emit("compare", xs, attrs={"kind": plain[0]})
    body = ("where", e.body, ("const", 1.0), ("const", 0.0)) if e.body[0] in COMPARISONS else e.body
    return ctx.emit("scalar_fn", list(e.args), attrs={"body": body})


def _cmp_rule(op_type: str, head: str):
    def _compare(ctx: Ctx, node, ins):
        return combine(ctx, head, ins)
    _compare.__name__ = f"_{head}"
    rule(op_type, 1)(_compare)


for _onnx, _head in _CMP.items():
    _cmp_rule(_onnx, _head)


@rule("Where", 1)
def _where(ctx: Ctx, node, ins):
    if isinstance(ins[0], Const) and any(isinstance(x, Var) for x in ins[1:]):  # a constant mask
        mask = ctx.var(Const(np.asarray(ins[0].value, dtype=np.float64)), max(ctx.rank(x) for x in ins))
        ins = [Cmp(("greater", ("arg", 1), ("const", 0.5)), (mask,), mask.shape), *ins[1:]]
    if not isinstance(ins[0], Cmp):
        from .rules_heads import where_var

        return where_var(ctx, ins)
    return materialize(ctx, combine(ctx, "where", ins))


# ---- activations with parameters the ACTIVATIONS rows do not take: one scalar_fn each ----------

def _x():
    return ("arg", 1)


def _c(v) -> tuple:
    return ("const", float(v))


def _shrink_body(a):
    lambd, bias = float(a.get("lambd", 0.5)), float(a.get("bias", 0.0))
    return ("where", ("greater", _x(), _c(lambd)), ("sub", _x(), _c(bias)),
            ("where", ("less", _x(), _c(-lambd)), ("add", _x(), _c(bias)), _c(0.0)))


def _swish_body(a):
    return ("mul", _x(), ("sigmoid", ("mul", _c(a.get("alpha", 1.0)), _x())))


def _thresholded_relu_body(a):
    return ("where", ("greater", _x(), _c(a.get("alpha", 1.0))), _x(), _c(0.0))


def _scalar_rule(op_type: str, since: int, body_of):
    def convert(ctx: Ctx, node, ins):
        return ctx.emit("scalar_fn", [ctx.var(ins[0])], attrs={"body": body_of(ctx.attrs)})
    convert.__name__ = body_of.__name__.removesuffix("_body")
    rule(op_type, since)(convert)


_scalar_rule("Shrink", 9, _shrink_body)
_scalar_rule("Swish", 24, _swish_body)
_scalar_rule("ThresholdedRelu", 10, _thresholded_relu_body)
