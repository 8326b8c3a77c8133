"""Symbolic (parametric) forms: the architecture as a formula in weight-matrix symbols.

``to_sympy(weights="symbolic")`` gives ``W3*tanh(W2*tanh(W1*x + b1) + b2) + b3`` with sympy
``MatrixSymbol``s ``W1, b1, ...`` (``x`` the input column); ``activations="symbolic"`` keeps the
activations as undefined functions ``σ, φ, ψ, ...`` (one per distinct activation). The result carries
the numbers: :meth:`SymbolicForm.numeric` puts them back. ``to_wl`` gives the same in WL (``W1 . x``,
symbols ``W1``, ``b1``; activations ``σ[...]`` as WL symbols), with the values as replacement rules.
Supported: chains and sums of linear/matmul layers and elementwise activations (identity, add, sub,
flatten of a vector); other ops raise one ``UnsupportedLayerError`` naming all of them, each with its reason.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("elementwise", [b.layer("linear", [x], params={"weight": np.eye(2), "bias": np.ones(2)})], attrs={"fn": "tanh"})
>>> net = b.build([b.layer("linear", [h], params={"weight": np.ones((1, 2))})])
>>> form = symbolic_sympy(net, activations="symbolic")
>>> form.expr
W2*σ(W1*x + b1)
>>> form.numeric(np.array([0.5, -1.0])).round(6).tolist()
[0.905148]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..errors import UnsupportedLayerError
from ..ops import ACTIVATIONS

GREEK = ["σ", "φ", "ψ", "χ", "ρ", "τ", "η", "κ"]
WL_GREEK = {"σ": "\\[Sigma]", "φ": "\\[Phi]", "ψ": "\\[Psi]", "χ": "\\[Chi]", "ρ": "\\[Rho]", "τ": "\\[Tau]",
            "η": "\\[Eta]", "κ": "\\[Kappa]"}


class Apply(ElementwiseApplyFunction):
    """``f`` applied to each element of a matrix expression, printed as ``f(arg)``."""

    def __new__(cls, function, expr, label):
        label = label if isinstance(label, sp.Symbol) else sp.Symbol(label)
        return sp.MatrixExpr.__new__(cls, function, expr, label)

    @property
    def _label(self) -> str:
        return self.args[2].name

    def _sympystr(self, printer):
        return f"{self._label}({printer._print(self.expr)})"

    def _latex(self, printer):
        return f"{printer._print(sp.Symbol(self._label))}\\left({printer._print(self.expr)}\\right)"

    def doit(self, **hints):
        arg = self.expr.doit(**hints)
        return arg.applyfunc(self.function) if isinstance(arg, sp.MatrixBase) else Apply(self.function, arg, self._label)


@dataclass
class SymbolicForm:
    """``expr`` in ``x`` and the weight symbols; ``weights`` maps each symbol to its array; ``functions``
    maps each symbolic activation name to its ACTIVATIONS row and parameters."""

    expr: sp.MatrixExpr
    x: sp.MatrixSymbol
    weights: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return str(self.expr)

    def numeric(self, x) -> np.ndarray:
        """The formula with the numbers put back, evaluated at one input ``x`` (float64)."""
        subs = {s: sp.Matrix(np.atleast_2d(v.T).T if v.ndim == 1 else v) for s, v in self.weights.items()}
        subs[self.x] = sp.Matrix(np.asarray(x, dtype=np.float64).reshape(-1, 1))
        t = sp.Symbol("t")
        funcs = {sp.Function(name): sp.Lambda(t, ACTIVATIONS[fn].sympy_fn(t, params))
                 for name, (fn, params) in self.functions.items()}
        out = self.expr.xreplace(subs).doit()
        out = out.replace(lambda e: isinstance(e, sp.core.function.AppliedUndef) and e.func in funcs,
                          lambda e: funcs[e.func](*e.args))
        return np.array(sp.N(out, 17), dtype=np.float64).reshape(-1)


class _Walker:
    def __init__(self, net, activations):
        self.net, self.symbolic_acts = net, activations == "symbolic"
        self.k = 0
        self.weights: dict = {}
        self.functions: dict = {}
        self.labels: dict = {}

    def weight(self, prefix, arr):
        name = f"{prefix}{self.k}"
        s = sp.MatrixSymbol(name, *(arr.shape if arr.ndim == 2 else (arr.shape[0], 1)))
        self.weights[s] = np.asarray(arr, dtype=np.float64)
        return s

    def activation(self, fn, params):
        row = ACTIVATIONS[fn]
        key = (fn, tuple(sorted(row.full_params(params).items())))
        t = sp.Dummy("t")
        if not self.symbolic_acts:
            return fn, sp.Lambda(t, row.sympy_fn(t, params))
        if key not in self.labels:
            label = GREEK[len(self.labels)] if len(self.labels) < len(GREEK) else f"f{len(self.labels) + 1}"
            self.labels[key] = label
            self.functions[label] = (fn, dict(key[1]))
        label = self.labels[key]
        return label, sp.Lambda(t, sp.Function(label)(t))


_REASONS = {  # why an op has no form in weight-matrix symbols (see _why)
    "conv": "a convolution's weights are a kernel, not a matrix applied to a vector",
    "pool": "pooling is not a matrix product or an elementwise function",
    "adaptive_pool": "pooling is not a matrix product or an elementwise function",
    "batchnorm": "a normalization (net.simplify() folds a BatchNorm after a linear layer into it)",
    "layernorm": "a normalization over the vector (mean and variance of its entries) is not elementwise",
    "softmax": "softmax mixes the vector's entries (not elementwise)",
    "log_softmax": "log_softmax mixes the vector's entries (not elementwise)",
    "constant": "a constant tensor (only the weights of linear layers become symbols)",
    "scalar_fn": "an elementwise expression of several operands or constants (only single activations)",
    "mul": "a product of activations (only matrix times vector)",
    "div": "a quotient of activations",
    "batch_matmul": "a product of two activations (only weight matrix times vector)",
    "reduce": "a reduction of the vector's entries",
}


def _why(net, layer) -> str:
    """The reason ``layer`` has no symbolic (weight-matrix) form."""
    shapes = [list(net.shapes[i]) for i in layer.inputs]
    if layer.op in ("linear", "matmul", "identity", "flatten"):
        return f"input of shape {shapes[0]}: only vectors (the form is matrices applied to a column x)"
    if layer.op in ("add", "sub"):
        return f"operands of shapes {shapes} broadcast (only sums of equal-length vectors)"
    return _REASONS.get(layer.op, f"{layer.op} is not a matrix product or an elementwise activation")


def _stand_in(shape):
    """A symbol for an unsupported layer's vector output (None for other shapes)."""
    return sp.MatrixSymbol("_", shape[0], 1) if len(shape) == 1 else None


def _structure(net) -> str | None:
    """Why the net as a whole has no symbolic form (None if it may have one)."""
    if len(net.inputs) != 1 or len(net.inputs[0].shape) != 1:
        return f"inputs of shapes {[list(p.shape) for p in net.inputs]}: needs one vector input"
    if len(net.outputs) != 1:
        return f"{len(net.outputs)} outputs: needs one"
    return None


def _walk(net, activations):
    if _structure(net):
        raise UnsupportedLayerError(f"{net.name}: symbolic form", [("<root>", "net", _structure(net))])
    w = _Walker(net, activations)
    x = sp.MatrixSymbol("x", net.inputs[0].shape[0], 1)
    env = {net.inputs[0].name: x}
    bad = []
    for layer in net.layers:
        args = [env.get(i) for i in layer.inputs]
        op = layer.op
        if any(a is None for a in args):  # downstream of an unsupported non-vector: nothing to check
            env[layer.output] = None
            continue
        if op in ("linear", "matmul") and len(net.shapes[layer.inputs[0]]) == 1:
            w.k += 1
            weight = np.asarray(layer.params["weight"], dtype=np.float64)
            out = w.weight("W", weight if op == "linear" else weight.T) * args[0]
            if layer.params.get("bias") is not None:
                out = out + w.weight("b", np.asarray(layer.params["bias"], dtype=np.float64))
        elif op == "elementwise":
            label, fn = w.activation(layer.attrs["fn"], layer.attrs.get("fn_params"))
            out = args[0] if layer.attrs["fn"] == "identity" else Apply(fn, args[0], label)
        elif op in ("identity", "flatten") and len(net.shapes[layer.inputs[0]]) == 1:
            out = args[0]
        elif op in ("add", "sub") and all(net.shapes[i] == net.shapes[layer.output] for i in layer.inputs):
            out = sp.MatAdd(*args) if op == "add" else args[0] - args[1]
        else:
            bad.append((layer.path or layer.output, op, _why(net, layer)))
            out = _stand_in(net.shapes[layer.output])  # so that the layers after it are checked too
        env[layer.output] = out
    if bad:
        raise UnsupportedLayerError(f"{net.name}: symbolic form", bad)
    return SymbolicForm(env[net.outputs[0]], x, w.weights, w.functions), w


def symbolic_sympy(net, activations: str = "numeric") -> SymbolicForm:
    """The architecture formula with ``MatrixSymbol`` weights (see the module docstring)."""
    return _walk(net, activations)[0]


def symbolic_wl(net, activations: str = "numeric") -> str:
    """WL: ``{Function[{x}, W2 . σ[W1 . x + b1]], {W1 -> {{...}}, ...}}`` — the formula and the values.

    Symbolic activations are WL symbols (``\\[Sigma]``) applied to vectors; numeric ones use the WL
    templates of ``ACTIVATIONS`` mapped over the vector."""
    from .wlnumbers import fmt_array

    form = symbolic_sympy(net, activations)

    def wl(e):
        if isinstance(e, sp.MatrixSymbol):
            return e.name
        if isinstance(e, Apply):
            label = e._label
            if label in WL_GREEK:
                return f"{WL_GREEK[label]}[{wl(e.expr)}]"
            row = ACTIVATIONS[label]
            body = row.wl_template
            for k, v in row.wl_params(None).items():
                body = body.replace(f"${k}", fmt_array(np.float64(v)))
            return f"Map[({body}) &, {wl(e.expr)}]"
        if isinstance(e, sp.MatMul):
            return " . ".join(wl(a) for a in e.args)
        if isinstance(e, sp.MatAdd):
            return "(" + " + ".join(wl(a) for a in e.args) + ")"
        raise TypeError(f"no WL form for {type(e).__name__}")

    rules = ", ".join(f"{s.name} -> {fmt_array(v.reshape(-1) if v.ndim == 2 and v.shape[1] == 1 else v)}"
                      for s, v in form.weights.items())
    return f"{{Function[{{x}}, {wl(form.expr)}], {{{rules}}}}}"
