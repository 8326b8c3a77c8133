"""What the IR can express: one ``Activation`` row per elementwise function, one ``OpSpec`` per op.

Adding an elementwise function is one row in ``ACTIVATIONS``: its numpy form (float64, computed as
torch computes it), its sympy form, its Wolfram Language form and the names it has in each source.
Front ends, emitters, the reference evaluator, the tests and the README's support table all read
these rows.

WL forms are templates in WL syntax: ``#`` is the argument and ``$name`` a parameter, e.g.
``"Ramp[#] - $negative_slope Ramp[-#]"``. ``listable=True`` means the template applied to a whole
array computes it elementwise (every head in it is Listable), so the compact emitter may apply it to
a vector directly; otherwise it maps it over the elements.

>>> ACTIVATIONS["leaky_relu"].numpy_fn(np.array([-2.0, 3.0]), {"negative_slope": 0.1})
array([-0.2,  3. ])
>>> ACTIVATIONS["leaky_relu"].wl_template
'Ramp[#] - $negative_slope Ramp[-#]'
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import sympy as sp

# ----------------------------------------------------------------------------------------------
# numpy helpers (float64, stable, matching torch's CPU kernels to within rounding)

_erf = np.frompyfunc(math.erf, 1, 1)


def _pole(f):
    """``f`` with the poles (ValueError/OverflowError in ``math``) as inf, like WL's ComplexInfinity."""
    def safe(v):
        try:
            return f(v)
        except (ValueError, OverflowError):
            return math.inf
    return np.frompyfunc(safe, 1, 1)


_gamma = _pole(math.gamma)
_lgamma = _pole(math.lgamma)


def np_gamma(x):
    """Elementwise float64 Gamma; poles give inf (like WL's ComplexInfinity)."""
    return np.asarray(_gamma(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def np_lgamma(x):
    """Elementwise float64 log-Gamma; poles give inf."""
    return np.asarray(_lgamma(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def np_erf(x):
    """Elementwise float64 erf through ``math.erf`` (no scipy needed)."""
    return np.asarray(_erf(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def np_sigmoid(x):
    """Overflow-free float64 logistic sigmoid."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def np_softplus(x, beta=1.0, threshold=20.0):
    """torch's softplus: ``log(1 + exp(beta x)) / beta``, linear above ``threshold``."""
    x = np.asarray(x, dtype=np.float64)
    bx = beta * x
    with np.errstate(over="ignore"):
        soft = np.log1p(np.exp(np.minimum(bx, 709.0))) / beta
    return np.where(bx > threshold, x, soft)


def _where_pos(x, pos, neg):
    return np.where(x > 0, pos, neg)


def _sp_piecewise_pos(x, pos, neg):
    return sp.Piecewise((pos, x > 0), (neg, True))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Activation:
    """One elementwise function, in every form wlbridge needs.

    ``numpy(x, **params)`` and ``sympy(x, **params)`` take the argument and the parameters;
    ``wl`` is a WL template (``#`` = argument, ``$name`` = parameter).
    """

    name: str
    numpy: Callable[..., np.ndarray]
    sympy: Callable[..., sp.Expr]
    wl: str
    listable: bool = True
    params: Mapping[str, float] = field(default_factory=dict)
    torch: tuple[str, ...] = ()  # nn class names and functional / tensor-method names
    onnx: tuple[str, ...] = ()  # ONNX op types that map to this row (parameters by the front end)
    wolfram: tuple[str, ...] = ()  # WL symbols / named strings of ElementwiseLayer
    doc: str = ""
    d: str | None = None  # derivative in x (Python syntax, see derivative_body); kinks as torch's autograd

    def derivative(self, params: Mapping[str, Any] | None = None):
        """The derivative as a ``scalar_fn`` body in ``("arg", 1)``; None if the row has none."""
        return None if self.d is None else derivative_body(self.d, self.full_params(params))

    def numpy_fn(self, x, params: Mapping[str, Any] | None = None):
        return self.numpy(np.asarray(x, dtype=np.float64), **self.full_params(params))

    def sympy_fn(self, x, params: Mapping[str, Any] | None = None):
        return self.sympy(x, **self.full_params(params))

    @property
    def wl_template(self) -> str:
        return self.wl

    def wl_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``full_params`` for the WL template: ``Clip`` with min > max gets min = max, which is
        numpy's/ONNX's ``minimum(maximum(x, lo), hi)`` (WL's ``Clip`` differs there)."""
        out = self.full_params(params)
        if self.name == "clip" and out["min_val"] > out["max_val"]:
            out["min_val"] = out["max_val"]
        return out

    def full_params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        out = dict(self.params)
        for k, v in (params or {}).items():
            if k not in out:
                raise TypeError(f"activation {self.name!r}: unknown parameter {k!r}; known: {sorted(out)}")
            out[k] = v
        return out


def _rows(*rows: Activation) -> dict[str, Activation]:
    table: dict[str, Activation] = {}
    for r in rows:
        if r.name in table:
            raise ValueError(f"duplicate activation {r.name!r}")
        table[r.name] = r
    return table


A = Activation
ACTIVATIONS: dict[str, Activation] = _rows(
    A("identity", lambda x: x, lambda x: x, "#", torch=("Identity",), onnx=("Identity",), wolfram=("Identity",), d="1"),
    A("sigmoid", np_sigmoid, lambda x: 1 / (1 + sp.exp(-x)), "LogisticSigmoid[#]",
      torch=("Sigmoid", "sigmoid"), onnx=("Sigmoid",), wolfram=("LogisticSigmoid", "Sigmoid"),
      d="sigmoid(x) * (1 - sigmoid(x))"),
    A("tanh", np.tanh, sp.tanh, "Tanh[#]", torch=("Tanh", "tanh"), onnx=("Tanh",), wolfram=("Tanh",),
      d="1 - tanh(x)**2"),
    A("relu", lambda x: np.maximum(x, 0.0), lambda x: sp.Max(x, 0), "Ramp[#]",
      torch=("ReLU", "relu"), onnx=("Relu",), wolfram=("Ramp", "ReLU", "RectifiedLinearUnit"), d="where(x > 0, 1, 0)"),
    A("relu6", lambda x: np.clip(x, 0.0, 6.0), lambda x: sp.Min(sp.Max(x, 0), 6), "Clip[#, {0., 6.}]",
      torch=("ReLU6", "relu6"), d="where(x > 0, where(x < 6, 1, 0), 0)"),
    A("leaky_relu", lambda x, negative_slope: np.where(x >= 0, x, negative_slope * x),
      lambda x, negative_slope: sp.Piecewise((x, x >= 0), (negative_slope * x, True)),
      "Ramp[#] - $negative_slope Ramp[-#]", params={"negative_slope": 0.01},
      torch=("LeakyReLU", "leaky_relu"), onnx=("LeakyRelu",), d="where(x > 0, 1, negative_slope)"),
    A("rrelu", lambda x, lower, upper: np.where(x >= 0, x, (lower + upper) / 2 * x),
      lambda x, lower, upper: sp.Piecewise((x, x >= 0), ((lower + upper) / 2 * x, True)),
      "Ramp[#] - ($lower + $upper)/2 Ramp[-#]", params={"lower": 1 / 8, "upper": 1 / 3},
      torch=("RReLU", "rrelu"), doc="inference form: slope (lower+upper)/2", d="where(x > 0, 1, (lower + upper) / 2)"),
    A("elu", lambda x, alpha: _where_pos(x, x, alpha * np.expm1(np.minimum(x, 0))),
      lambda x, alpha: _sp_piecewise_pos(x, x, alpha * (sp.exp(x) - 1)),
      "Piecewise[{{#, # > 0}}, $alpha (Exp[#] - 1)]", listable=False, params={"alpha": 1.0},
      torch=("ELU", "elu"), onnx=("Elu",), wolfram=("ELU", "ExponentialLinearUnit"),
      d="where(x > 0, 1, alpha * exp(x))"),
    A("selu", lambda x, alpha, scale: scale * _where_pos(x, x, alpha * np.expm1(np.minimum(x, 0))),
      lambda x, alpha, scale: scale * _sp_piecewise_pos(x, x, alpha * (sp.exp(x) - 1)),
      "$scale Piecewise[{{#, # > 0}}, $alpha (Exp[#] - 1)]", listable=False,
      params={"alpha": SELU_ALPHA, "scale": SELU_SCALE}, torch=("SELU", "selu"), onnx=("Selu",),
      wolfram=("SELU", "ScaledExponentialLinearUnit"), d="scale * where(x > 0, 1, alpha * exp(x))"),
    A("celu", lambda x, alpha: _where_pos(x, x, alpha * np.expm1(np.minimum(x, 0) / alpha)),
      lambda x, alpha: _sp_piecewise_pos(x, x, alpha * (sp.exp(x / alpha) - 1)),
      "Piecewise[{{#, # > 0}}, $alpha (Exp[#/$alpha] - 1)]", listable=False, params={"alpha": 1.0},
      torch=("CELU", "celu"), onnx=("Celu",), d="where(x > 0, 1, exp(x / alpha))"),
    A("gelu", lambda x: 0.5 * x * (1.0 + np_erf(x * 0.7071067811865476)),
      lambda x: x * (1 + sp.erf(x / sp.sqrt(2))) / 2, "# (1 + Erf[#/Sqrt[2]])/2",
      torch=("GELU", "gelu"), onnx=("Gelu",), wolfram=("GELU", "GaussianErrorLinearUnit"),
      d="(1 + erf(x / sqrt(2))) / 2 + x * exp(-x**2 / 2) / sqrt(2 * pi)"),
    A("gelu_tanh", lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
      lambda x: x * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Float(0.044715) * x**3))) / 2,
      "# (1 + Tanh[Sqrt[2/Pi] (# + 0.044715` #^3)])/2",
      torch=("GELU(approximate='tanh')",), doc="GELU with approximate='tanh'",
      d="(1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))) / 2 + x * (1 - tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))**2) * sqrt(2 / pi) * (1 + 3 * 0.044715 * x**2) / 2"),
    A("silu", lambda x: x * np_sigmoid(x), lambda x: x / (1 + sp.exp(-x)), "# LogisticSigmoid[#]",
      torch=("SiLU", "silu"), wolfram=("Swish",), d="sigmoid(x) * (1 + x * (1 - sigmoid(x)))"),
    A("mish", lambda x: x * np.tanh(np_softplus(x, 1.0, np.inf)),
      lambda x: x * sp.tanh(sp.log(1 + sp.exp(x))), "# Tanh[Log[1 + Exp[#]]]",
      torch=("Mish", "mish"), onnx=("Mish",),
      d="tanh(log(1 + exp(x))) + x * (1 - tanh(log(1 + exp(x)))**2) * sigmoid(x)"),
    A("softplus", np_softplus,
      lambda x, beta, threshold: sp.Piecewise((x, beta * x > threshold), (sp.log(1 + sp.exp(beta * x)) / beta, True)),
      "Piecewise[{{#, $beta # > $threshold}}, Log[1 + Exp[$beta #]]/$beta]", listable=False,
      params={"beta": 1.0, "threshold": 20.0}, torch=("Softplus", "softplus"), onnx=("Softplus",),
      wolfram=("SoftRamp", "SoftPlus"), doc="torch's threshold: x where beta*x > threshold",
      d="where(beta * x > threshold, 1, sigmoid(beta * x))"),
    A("softsign", lambda x: x / (1 + np.abs(x)), lambda x: x / (1 + sp.Abs(x)), "#/(1 + Abs[#])",
      torch=("Softsign", "softsign"), onnx=("Softsign",), wolfram=("SoftSign",), d="1 / (1 + abs(x))**2"),
    A("clip", lambda x, min_val, max_val: np.clip(x, min_val, max_val),
      lambda x, min_val, max_val: sp.Min(sp.Max(x, min_val), max_val), "Clip[#, {$min_val, $max_val}]",
      params={"min_val": -1.0, "max_val": 1.0}, torch=("Hardtanh", "hardtanh", "clamp", "clip"),
      onnx=("Clip",), wolfram=("HardTanh",), d="where(x > min_val, where(x < max_val, 1, 0), 0)"),
    A("hardsigmoid", lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,
      lambda x: sp.Min(sp.Max(x + 3, 0), 6) / 6, "Clip[# + 3, {0., 6.}]/6",
      torch=("Hardsigmoid", "hardsigmoid"), wolfram=("HardSigmoid",),
      doc="torch form; ONNX HardSigmoid(alpha, beta) is clip(alpha*x + beta, 0, 1), see onnx_hardsigmoid",
      d="where(x > -3, where(x < 3, 1 / 6, 0), 0)"),
    A("onnx_hardsigmoid", lambda x, alpha, beta: np.clip(alpha * x + beta, 0.0, 1.0),
      lambda x, alpha, beta: sp.Min(sp.Max(alpha * x + beta, 0), 1), "Clip[$alpha # + $beta, {0., 1.}]",
      params={"alpha": 0.2, "beta": 0.5}, onnx=("HardSigmoid",),
      d="where(alpha * x + beta > 0, where(alpha * x + beta < 1, alpha, 0), 0)"),
    A("hardswish", lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
      lambda x: x * sp.Min(sp.Max(x + 3, 0), 6) / 6, "# Clip[# + 3, {0., 6.}]/6",
      torch=("Hardswish", "hardswish"), onnx=("HardSwish",), d="where(x < -3, 0, where(x <= 3, x / 3 + 0.5, 1))"),
    A("logsigmoid", lambda x: np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x))),
      lambda x: -sp.log(1 + sp.exp(-x)), "-Log[1 + Exp[-#]]", torch=("LogSigmoid", "logsigmoid"), d="sigmoid(-x)"),
    A("tanhshrink", lambda x: x - np.tanh(x), lambda x: x - sp.tanh(x), "# - Tanh[#]",
      torch=("Tanhshrink", "tanhshrink"), d="tanh(x)**2"),
    A("hardshrink", lambda x, lambd: np.where(np.abs(x) > lambd, x, 0.0),
      lambda x, lambd: sp.Piecewise((x, sp.Abs(x) > lambd), (0, True)),
      "Piecewise[{{#, Abs[#] > $lambd}}, 0.]", listable=False, params={"lambd": 0.5},
      torch=("Hardshrink", "hardshrink"), d="where(x > lambd, 1, where(x < -lambd, 1, 0))"),
    A("softshrink", lambda x, lambd: np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, 0.0)),
      lambda x, lambd: sp.Piecewise((x - lambd, x > lambd), (x + lambd, x < -lambd), (0, True)),
      "Piecewise[{{# - $lambd, # > $lambd}, {# + $lambd, # < -$lambd}}, 0.]", listable=False,
      params={"lambd": 0.5}, torch=("Softshrink", "softshrink"), d="where(x > lambd, 1, where(x < -lambd, 1, 0))"),
    A("threshold", lambda x, threshold, value: np.where(x > threshold, x, value),
      lambda x, threshold, value: sp.Piecewise((x, x > threshold), (value, True)),
      "Piecewise[{{#, # > $threshold}}, $value]", listable=False, params={"threshold": 0.0, "value": 0.0},
      torch=("Threshold", "threshold"), d="where(x > threshold, 1, 0)"),
    # plain functions (ONNX unary ops, WL primitive elementwise symbols, torch tensor math)
    A("neg", lambda x: -x, lambda x: -x, "-#", torch=("neg",), onnx=("Neg",), d="-1"),
    A("abs", np.abs, sp.Abs, "Abs[#]", torch=("abs",), onnx=("Abs",), wolfram=("Abs",), d="sign(x)"),
    A("exp", np.exp, sp.exp, "Exp[#]", torch=("exp",), onnx=("Exp",), wolfram=("Exp",), d="exp(x)"),
    A("log", np.log, sp.log, "Log[#]", torch=("log",), onnx=("Log",), wolfram=("Log",), d="1 / x"),
    A("sqrt", np.sqrt, sp.sqrt, "Sqrt[#]", torch=("sqrt",), onnx=("Sqrt",), wolfram=("Sqrt",), d="1 / (2 * sqrt(x))"),
    A("square", np.square, lambda x: x**2, "#^2", torch=("square",), wolfram=("Square",), d="2 * x"),
    A("reciprocal", lambda x: 1.0 / x, lambda x: 1 / x, "1/#", torch=("reciprocal",), onnx=("Reciprocal",),
      d="-1 / x**2"),
    A("erf", np_erf, sp.erf, "Erf[#]", torch=("erf",), onnx=("Erf",), wolfram=("Erf",), d="2 / sqrt(pi) * exp(-x**2)"),
    A("sin", np.sin, sp.sin, "Sin[#]", torch=("sin",), onnx=("Sin",), wolfram=("Sin",), d="cos(x)"),
    A("cos", np.cos, sp.cos, "Cos[#]", torch=("cos",), onnx=("Cos",), wolfram=("Cos",), d="-sin(x)"),
    A("tan", np.tan, sp.tan, "Tan[#]", torch=("tan",), onnx=("Tan",), wolfram=("Tan",), d="1 + tan(x)**2"),
    A("asin", np.arcsin, sp.asin, "ArcSin[#]", torch=("asin",), onnx=("Asin",), wolfram=("ArcSin",),
      d="1 / sqrt(1 - x**2)"),
    A("acos", np.arccos, sp.acos, "ArcCos[#]", torch=("acos",), onnx=("Acos",), wolfram=("ArcCos",),
      d="-1 / sqrt(1 - x**2)"),
    A("atan", np.arctan, sp.atan, "ArcTan[#]", torch=("atan",), onnx=("Atan",), wolfram=("ArcTan",),
      d="1 / (1 + x**2)"),
    A("sinh", np.sinh, sp.sinh, "Sinh[#]", torch=("sinh",), onnx=("Sinh",), wolfram=("Sinh",), d="cosh(x)"),
    A("cosh", np.cosh, sp.cosh, "Cosh[#]", torch=("cosh",), onnx=("Cosh",), wolfram=("Cosh",), d="sinh(x)"),
    A("asinh", np.arcsinh, sp.asinh, "ArcSinh[#]", torch=("asinh",), onnx=("Asinh",), wolfram=("ArcSinh",),
      d="1 / sqrt(x**2 + 1)"),
    A("acosh", np.arccosh, sp.acosh, "ArcCosh[#]", torch=("acosh",), onnx=("Acosh",), wolfram=("ArcCosh",),
      d="1 / sqrt(x**2 - 1)"),
    A("atanh", np.arctanh, sp.atanh, "ArcTanh[#]", torch=("atanh",), onnx=("Atanh",), wolfram=("ArcTanh",),
      d="1 / (1 - x**2)"),
    A("sign", np.sign, sp.sign, "Sign[#]", torch=("sign",), onnx=("Sign",), wolfram=("Sign",), d="0"),
    A("floor", np.floor, sp.floor, "Floor[#]", torch=("floor",), onnx=("Floor",), wolfram=("Floor",), d="0"),
    A("ceil", np.ceil, sp.ceiling, "Ceiling[#]", torch=("ceil",), onnx=("Ceil",), wolfram=("Ceiling",), d="0"),
    A("gamma", np_gamma, sp.gamma, "Gamma[#]", torch=(),
      wolfram=("Gamma",), doc="Euler gamma function (WL primitive elementwise function)"),
    A("loggamma", np_lgamma, sp.loggamma, "Re[LogGamma[#]]",
      torch=("lgamma",), wolfram=("LogGamma",), doc="log|Gamma(x)| as torch.lgamma; WL's LogGamma is complex for x < 0, hence Re"),
    A("trunc", np.trunc, lambda x: sp.sign(x) * sp.floor(sp.Abs(x)), "IntegerPart[#]", torch=("trunc",),
      wolfram=("IntegerPart",), doc="round toward zero (ONNX Cast float -> int, torch trunc)", d="0"),
    A("round", np.round, lambda x: sp.Function("round_half_even")(x), "Round[#]",
      torch=("round",), onnx=("Round",), wolfram=("Round",), doc="half to even, as WL, numpy and torch", d="0"),
)
del A


# ----------------------------------------------------------------------------------------------
# Structured ops: what each IR op means, its inputs, params and attrs, and its shape rule.
# Shapes never include the batch axis.

Shape = tuple[int, ...]


@dataclass(frozen=True)
class OpSpec:
    """The contract of one IR op: its arity, parameter names and shape rule."""

    name: str
    doc: str
    arity: int | None  # None: one or more inputs
    params: tuple[str, ...] = ()  # required params; optional ones end in '?'
    attrs: tuple[str, ...] = ()


OPS: dict[str, OpSpec] = {s.name: s for s in [
    OpSpec("constant", "a fixed array (params value)", 0, ("value",)),
    OpSpec("identity", "y = x (Dropout at inference, Identity)", 1),
    OpSpec("elementwise", "y = fn(x) elementwise; fn is an ACTIVATIONS row", 1, (), ("fn", "fn_params")),
    OpSpec("scalar_fn", "y = body(x1, ..., xn) elementwise with broadcasting; body is a scalar AST", None, (),
           ("body",)),
    OpSpec("linear", "y = weight . x + bias on the last axis (weight {out, in})", 1, ("weight", "bias?")),
    OpSpec("prelu", "y = x if x >= 0 else slope * x (slope broadcast to x)", 1, ("slope",)),
    OpSpec("softmax", "softmax along axis", 1, (), ("axis",)),
    OpSpec("log_softmax", "log of softmax along axis", 1, (), ("axis",)),
    OpSpec("batchnorm", "y = scale (x - mean)/sqrt(var + eps) + bias along channel axis", 1,
           ("scale", "bias", "mean", "var"), ("eps", "axis")),
    OpSpec("flatten", "y = x flattened to rank 1 (row-major)", 1),
    OpSpec("reshape", "row-major reshape to attrs shape", 1, (), ("shape",)),
    OpSpec("transpose", "permute axes", 1, (), ("perm",)),
    OpSpec("concat", "join inputs along axis", None, (), ("axis",)),
    OpSpec("add", "sum of the inputs, numpy broadcasting", None),
    OpSpec("sub", "x1 - x2, broadcasting", 2),
    OpSpec("mul", "product of the inputs, broadcasting", None),
    OpSpec("div", "x1 / x2, broadcasting", 2),
    OpSpec("pow", "x1 ^ x2, broadcasting", 2),
    OpSpec("max", "elementwise maximum of the inputs, broadcasting", None),
    OpSpec("min", "elementwise minimum of the inputs, broadcasting", None),
    OpSpec("matmul", "x . weight with a constant weight {in, out} on the last axis", 1, ("weight",)),
    OpSpec("conv", "N-d cross-correlation (channels first), stride, dilation, groups, padding ((lo, hi), ...)",
           1, ("weight", "bias?"), ("stride", "padding", "dilation", "groups")),
    OpSpec("pool", "N-d max / avg / sum pooling (channels first)", 1, (),
           ("kind", "kernel", "stride", "padding", "ceil_mode", "count_include_pad")),
    OpSpec("reduce", "mean / sum / max over axes", 1, (), ("kind", "axes", "keepdims")),
    OpSpec("embedding", "y = weight[x] for 0-based integer indices x", 1, ("weight",)),
    # sequence models (wlbridge/recurrent.py): defined by their unrolling into the ops above
    OpSpec("take", "numpy take along axis: an int index drops the axis, a list of indices keeps it", 1, (),
           ("axis", "indices")),
    OpSpec("lstm", "LSTM over a {T, I} sequence (torch gate order i f g o), zero initial state", 1,
           ("weight_ih", "weight_hh", "bias_ih?", "bias_hh?"), ("hidden", "reverse", "output")),
    OpSpec("gru", "GRU over a {T, I} sequence (torch gate order r z n)", 1,
           ("weight_ih", "weight_hh", "bias_ih?", "bias_hh?"), ("hidden", "reverse", "output", "linear_before_reset")),
    OpSpec("rnn", "Elman RNN over a {T, I} sequence: h = act(W_ih x + b_ih + W_hh h + b_hh)", 1,
           ("weight_ih", "weight_hh", "bias_ih?", "bias_hh?"), ("hidden", "reverse", "output", "activation")),
    OpSpec("pad", "constant padding: pads ((lo, hi), ...) per axis (>= 0) filled with value", 1, (), ("pads", "value")),
    # slicing, indexing, uneven pooling, normalization and products of two variables (issue 10)
    OpSpec("slice", "x[starts[0]:stops[0]:steps[0], ...] on every axis (0-based; a negative step runs down to "
           "stop -1 = past the first element)", 1, (),
           ("starts", "stops", "steps")),
    OpSpec("adaptive_pool", "avg / max pooling to output_size (channels first), torch's windows "
           "[floor(i in/out), ceil((i+1) in/out))", 1, (), ("kind", "output_size")),
    OpSpec("layernorm", "(x - mean)/sqrt(var + eps) over the axes from axis on, times scale plus bias", 1,
           ("scale?", "bias?"), ("axis", "eps")),
    OpSpec("batch_matmul", "x1 @ x2 over the last two axes, leading axes broadcast (numpy matmul of two "
           "variables, ranks >= 2)", 2),
    # piecewise-constant heads and data-dependent indexing (issue 17); integer outputs: see wlbridge/dtypes.py
    OpSpec("argmax", "0-based index of the first maximum along axis (ties: the first, as ONNX and torch)", 1, (),
           ("axis", "keepdims")),
    OpSpec("argmin", "0-based index of the first minimum along axis (ties: the first)", 1, (), ("axis", "keepdims")),
    OpSpec("compare", "1 where x1 <kind> x2 else 0, broadcasting (kind: equal, not_equal, greater, less, "
           "greater_equal, less_equal)", 2, (), ("kind",)),
    OpSpec("where", "x2 where x1 != 0 else x3, broadcasting", 3),
    OpSpec("one_hot", "indices x (truncated to integers; -depth..-1 count from the end, others all off) as "
           "one-hot vectors of length depth on a new axis (of dtype, default int64)", 1, (),
           ("depth", "axis", "off", "on", "dtype")),
    OpSpec("cast", "to an integer dtype: round toward zero; to bool: x != 0; to a float dtype: x", 1, (), ("to",)),
    OpSpec("dynamic_slice", "x[..., s:s+size, ...] on each of axes, the starts s read from the inputs x2, x3, ... "
           "(scalars; negative counts from the end; clamped so the window stays inside)", None, (),
           ("axes", "sizes")),
]}

COMPARISONS = ("equal", "not_equal", "greater", "less", "greater_equal", "less_equal")

# ops whose output is piecewise constant in the inputs (or indexes with them): neither the Jacobian pass nor
# linear regions can say them; each reason names what the op is
NOT_SMOOTH: dict[str, str] = {
    "argmax": "argmax is not piecewise-linear and not differentiable (an index: piecewise constant)",
    "argmin": "argmin is not piecewise-linear and not differentiable (an index: piecewise constant)",
    "compare": "a comparison is not piecewise-linear and not differentiable (0/1: piecewise constant)",
    "where": "where switches on a computed condition: not piecewise-linear, not differentiable at the switch",
    "one_hot": "one_hot is not piecewise-linear and not differentiable (piecewise constant)",
    "cast": "a cast to an integer or bool is not piecewise-linear and not differentiable (piecewise constant)",
    "dynamic_slice": "data-dependent indexing: the slice start is computed from the input values",
}
DATA_DEPENDENT = {"dynamic_slice"}  # ops that index with computed values (net.meta["data_dependent"])


def plain_comparison(body) -> tuple[str, tuple] | None:
    """``(kind, leaves)`` when a ``scalar_fn`` body is one comparison of arguments and constants (the IR's
    ``compare``), else None; front ends turn a comparison used as a number into ``compare`` with it.

    >>> plain_comparison(("greater", ("arg", 1), ("const", 0.5)))
    ('greater', (('arg', 1), ('const', 0.5)))
    """
    kids = body[1:]
    if body[0] in COMPARISONS and any(k[0] == "arg" for k in kids) and all(k[0] in ("arg", "const") for k in kids):
        return body[0], tuple(kids)
    return None

# scalar_fn body AST: ("arg", i) | ("const", float) | (op, *children) with op in SCALAR_OPS or an
# ACTIVATIONS name (unary, default parameters). SCALAR_OPS maps op -> (numpy, sympy, WL head, arity).
SCALAR_OPS: dict[str, tuple[Callable, Callable, str, int | None]] = {
    "add": (np.add, lambda *a: sp.Add(*a), "Plus", None),
    "sub": (np.subtract, lambda a, b: a - b, "Subtract", 2),
    "mul": (np.multiply, lambda *a: sp.Mul(*a), "Times", None),
    "div": (np.divide, lambda a, b: a / b, "Divide", 2),
    "pow": (np.power, lambda a, b: a**b, "Power", 2),
    "max": (np.maximum, lambda *a: sp.Max(*a), "Max", None),
    "min": (np.minimum, lambda *a: sp.Min(*a), "Min", None),
    "greater": (np.greater, lambda a, b: a > b, "Greater", 2),
    "less": (np.less, lambda a, b: a < b, "Less", 2),
    "greater_equal": (np.greater_equal, lambda a, b: a >= b, "GreaterEqual", 2),
    "less_equal": (np.less_equal, lambda a, b: a <= b, "LessEqual", 2),
    "where": (np.where, lambda c, a, b: sp.Piecewise((a, c), (b, True)), "If", 3),
    "equal": (np.equal, lambda a, b: sp.Eq(a, b), "Equal", 2),
    "not_equal": (np.not_equal, lambda a, b: sp.Ne(a, b), "Unequal", 2),
}


def derivative_body(text: str, params: Mapping[str, float]):
    """Parse a derivative column (``"where(x > 0, 1, negative_slope)"``) into a ``scalar_fn`` body.

    Syntax: ``x``, numbers, parameter names, ``pi``, ``+ - * / **``, comparisons, ``where(c, a, b)`` and
    calls of activation rows. Parsed with :mod:`ast` (never evaluated).

    >>> derivative_body("where(x > 0, 1, s)", {"s": 0.1})
    ('where', ('greater', ('arg', 1), ('const', 0.0)), ('const', 1.0), ('const', 0.1))
    """
    import ast

    bins = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
    cmps = {ast.Gt: "greater", ast.Lt: "less", ast.GtE: "greater_equal", ast.LtE: "less_equal"}

    def walk(n):
        if isinstance(n, ast.Expression):
            return walk(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return ("const", float(n.value))
        if isinstance(n, ast.Name):
            if n.id == "x":
                return ("arg", 1)
            if n.id == "pi":
                return ("const", math.pi)
            return ("const", float(params[n.id]))
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return ("sub", ("const", 0.0), walk(n.operand))
        if isinstance(n, ast.BinOp) and type(n.op) in bins:
            return (bins[type(n.op)], walk(n.left), walk(n.right))
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in cmps:
            return (cmps[type(n.ops[0])], walk(n.left), walk(n.comparators[0]))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            name = n.func.id
            if name == "where" or name in ACTIVATIONS:
                return (name, *[walk(a) for a in n.args])
        raise ValueError(f"derivative {text!r}: unsupported syntax {ast.dump(n)[:60]}")

    return walk(ast.parse(text, mode="eval"))


def activation(name: str) -> Activation:
    """The row for ``name``; a KeyError names the known rows."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}") from None


def by_source_name(source: str) -> dict[str, Activation]:
    """Map each name an activation has in ``source`` ('torch', 'onnx' or 'wolfram') to its row."""
    out: dict[str, Activation] = {}
    for row in ACTIVATIONS.values():
        for n in getattr(row, source):
            out[n] = row
    return out
