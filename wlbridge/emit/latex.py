r"""LaTeX emitter: one readable equation per layer, small weights inline, larger ones named.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])
>>> print(to_latex(net))
\begin{aligned}
h_{1} &= \begin{pmatrix} 1.5 & -2 \end{pmatrix} x + \begin{pmatrix} 0.25 \end{pmatrix} \\
h_{2} &= \tanh{\left(h_{1} \right)}
\end{aligned}
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..ops import ACTIVATIONS, OPS
from .names import Namespace, latex_symbol, latex_text
from .._rules import registrar

RULES: dict = {}
SUPPORT: dict[str, str | None] = {op: None for op in OPS}
INLINE = 16  # arrays up to this many numbers print inline
LISTED = 256  # up to this many are listed under the equations; larger ones by shape only


rule = registrar(RULES, "LaTeX")


def num(v: float, digits: int = 6) -> str:
    s = f"{float(v):.{digits}g}"
    if "e" in s:
        m, e = s.split("e")
        return rf"{m} \cdot 10^{{{int(e)}}}"
    return s.replace("inf", r"\infty")


def pmatrix(a) -> str:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return num(a)
    rows = a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)
    if a.ndim == 1:
        rows = a.reshape(-1, 1) if a.size > 1 else a.reshape(1, 1)
    body = r" \\ ".join(" & ".join(num(v) for v in r) for r in rows)
    return r"\begin{pmatrix} " + body + r" \end{pmatrix}"


class Doc:
    def __init__(self):
        self.where: list[str] = []
        self.defs: dict[str, str] = {}

    def array(self, name: str, a) -> str:
        a = np.asarray(a, dtype=np.float64)
        if a.size <= INLINE and a.ndim <= 2:
            return pmatrix(a)
        dims = r" \times ".join(map(str, a.shape)) or "1"
        if a.size <= LISTED and a.ndim <= 2:
            self.where.append(f"{name} &= {pmatrix(a)}")
        else:
            self.where.append(rf"{name} &\in \mathbb{{R}}^{{{dims}}}")
        return name


def to_latex(net) -> str:
    """A LaTeX ``aligned`` block: one equation per layer, then named weights and function definitions
    (the compact form; ``Net.to_latex`` also writes the expanded and piecewise ones)."""
    doc = Doc()
    names = Namespace("latex")
    var = {p.name: latex_symbol(names(p.name)) for p in net.inputs}
    lines = []
    for k, layer in enumerate(net.layers, 1):
        args = [var[i] for i in layer.inputs]
        var[layer.output] = latex_symbol(names(layer.output))
        lines.append(f"{var[layer.output]} &= " + RULES[layer.op](doc, layer, args, k))
    lines += doc.where + [f"{name} &= {body}" for name, body in doc.defs.items()]
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


@rule("linear")
def _linear(doc, layer, args, k):
    w = doc.array(f"W_{{{k}}}", layer.params["weight"])
    b = layer.params.get("bias")
    return f"{w} {args[0]}" + ("" if b is None else f" + {doc.array(f'b_{{{k}}}', b)}")


@rule("matmul")
def _matmul(doc, layer, args, k):
    return f"{args[0]} {doc.array(f'W_{{{k}}}', layer.params['weight'])}"


@rule("elementwise")
def _elementwise(doc, layer, args, k):
    fn = layer.attrs["fn"]
    row = ACTIVATIONS[fn]
    t = sp.Symbol("t")
    expr = row.sympy_fn(t, layer.attrs.get("fn_params"))
    if sp.count_ops(expr) <= 2:
        return sp.latex(expr, symbol_names={t: args[0]})
    name = r"\operatorname{" + fn.replace("_", r"\_") + "}"
    doc.defs[f"{name}(t)"] = sp.latex(expr)
    return f"{name}\\left({args[0]}\\right)"


_SYMBOL = {"add": " + ", "sub": " - ", "mul": r" \odot ", "div": " / "}


@rule(*_SYMBOL)
def _infix(doc, layer, args, k):
    return _SYMBOL[layer.op].join(args)


@rule("batch_matmul")
def _batch_matmul(doc, layer, args, k):
    return f"{args[0]} {args[1]}"


@rule("pow")
def _pow(doc, layer, args, k):
    return f"{args[0]}^{{{args[1]}}}"


@rule("max", "min")
def _maxmin(doc, layer, args, k):
    return rf"\{layer.op}\left({', '.join(args)}\right)"


@rule("constant")
def _constant(doc, layer, args, k):
    return doc.array(f"C_{{{k}}}", layer.params["value"])


@rule("softmax", "log_softmax")
def _softmax(doc, layer, args, k):
    name = r"\operatorname{softmax}" if layer.op == "softmax" else r"\log\operatorname{softmax}"
    return f"{name}_{{\\text{{axis }} {layer.attrs.get('axis', -1)}}}\\left({args[0]}\\right)"


@rule("batchnorm")
def _batchnorm(doc, layer, args, k):
    p = {n: doc.array(f"{s}_{{{k}}}", layer.params[n]) for n, s in
         (("scale", r"\gamma"), ("bias", r"\beta"), ("mean", r"\mu"), ("var", r"\sigma^2"))}
    eps = num(layer.attrs.get("eps", 1e-5))
    return rf"{p['scale']} \odot \frac{{{args[0]} - {p['mean']}}}{{\sqrt{{{p['var']} + {eps}}}}} + {p['bias']}"


@rule("identity", "flatten", "reshape", "transpose", "concat", "reduce", "prelu", "conv", "pool",
      "embedding", "scalar_fn", "take", "lstm", "gru", "rnn", "pad")
@rule("slice", "adaptive_pool", "layernorm", "argmax", "argmin", "compare", "where", "one_hot", "cast",
      "dynamic_slice")
def _generic(doc, layer, args, k):
    attrs = ", ".join(f"\\text{{{a}}}={_attr(v)}" for a, v in layer.attrs.items() if a != "body")
    params = [doc.array(f"{n[0].upper()}_{{{k}}}", v) for n, v in layer.params.items()]
    inner = ", ".join(args + params) + (f"; {attrs}" if attrs else "")
    return rf"\operatorname{{{layer.op.replace('_', chr(92) + '_')}}}\left({inner}\right)"


def _attr(v) -> str:
    return latex_text(str(v))
