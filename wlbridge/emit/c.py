"""C emitter: a self-contained C99 function in double precision (only ``<math.h>``), with its header.

``void NAME(const double *x, double *y)`` reads the input scalars (all ports, flattened row-major, in
order) and writes the output scalars (all outputs, flattened, in order). The body is the scalar
interpretation of the IR (:mod:`wlbridge.emit.scalar`) with one ``const double`` per computed element,
weights as round-trip decimal literals. Identifiers are generated (``v<k>_<i>``, ``t<k>``); the net's
own names appear only in comments, escaped.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder("tiny"); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> code = to_c(b.build([b.layer("elementwise", [h], attrs={"fn": "relu"})]))
>>> print(code.source.split("{", 1)[1])
<BLANKLINE>
    /* linear */
    const double v1_0 = (0.25 + 1.5 * x[0] + (-2.0) * x[1]);
    /* elementwise */
    const double v2_0 = (fmax(0, v1_0));
    y[0] = v2_0;
}
<BLANKLINE>
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import ConversionError
from ..ops import ACTIVATIONS
from . import scalar

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# C forms where sympy's form loses accuracy against the numpy reference (expm1, log1p, stable sigmoid);
# ``#`` is the argument (a temporary), ``$name`` a parameter
C_OVERRIDES = {
    "sigmoid": "(# >= 0 ? 1.0 / (1.0 + exp(-#)) : exp(#) / (1.0 + exp(#)))",
    "elu": "(# > 0 ? # : $alpha * expm1(fmin(#, 0.0)))",
    "selu": "$scale * (# > 0 ? # : $alpha * expm1(fmin(#, 0.0)))",
    "celu": "(# > 0 ? # : $alpha * expm1(fmin(#, 0.0) / $alpha))",
    "softplus": "($beta * # > $threshold ? # : log1p(exp(fmin($beta * #, 709.0))) / $beta)",
    "logsigmoid": "(fmin(#, 0.0) - log1p(exp(-fabs(#))))",
    "mish": "# * tanh(# > 709.0 ? # : log1p(exp(#)))",
    "silu": "# * (# >= 0 ? 1.0 / (1.0 + exp(-#)) : exp(#) / (1.0 + exp(#)))",
    "gelu": "0.5 * # * (1.0 + erf(# * 0.7071067811865476))",
    "round": "nearbyint(#)",
    "leaky_relu": "(# >= 0 ? # : $negative_slope * #)",
    "softsign": "# / (1.0 + fabs(#))",
    "hardsigmoid": "fmin(fmax(# + 3.0, 0.0), 6.0) / 6.0",
    "hardswish": "# * fmin(fmax(# + 3.0, 0.0), 6.0) / 6.0",
    "clip": "fmin(fmax(#, $min_val), $max_val)",
    "gamma": "tgamma(#)",
}

PREAMBLE = """#include <math.h>
#ifndef M_PI
#define M_PI 3.141592653589793
#endif
#ifndef M_SQRT2
#define M_SQRT2 1.4142135623730951
#endif
"""


@dataclass(frozen=True)
class CCode:
    """The emitted C: ``source`` (the function), ``header`` (its prototype and sizes), ``name``, sizes."""

    name: str
    source: str
    header: str
    n_inputs: int
    n_outputs: int

    def __str__(self) -> str:
        return self.source


def literal(v: float) -> str:
    """A C double literal that reads back bit-exactly (``inf``/``nan`` as macros)."""
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    text = repr(float(v))
    return f"({text})" if text.startswith("-") else text


def comment(text: str) -> str:
    """Text safe inside a C block comment: no ``*/``, no newlines."""
    return re.sub(r"[\r\n]+", " ", str(text)).replace("*/", "* /")


@functools.lru_cache(maxsize=None)
def _template(name: str, params: tuple) -> str:
    p = dict(params)
    if name in C_OVERRIDES:
        text = C_OVERRIDES[name]
        for k in sorted(p, key=len, reverse=True):
            text = text.replace(f"${k}", literal(float(p[k])))
        return text
    arg = sp.Symbol("ARG")
    code = sp.ccode(ACTIVATIONS[name].sympy_fn(arg, p), standard="C99")
    return re.sub(r"\bARG\b", "#", re.sub(r"\s*\n\s*", " ", code))


class CAlgebra:
    """Scalar algebra of C expression strings; ``share`` declares a temporary."""

    stable = True  # softmax and friends through a shared max (like the compact forms)
    exact = False

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.k = 0

    def const(self, v):
        return literal(float(v))

    def add(self, ts):
        return ts[0] if len(ts) == 1 else "(" + " + ".join(ts) + ")"

    def mul(self, fs):
        return fs[0] if len(fs) == 1 else " * ".join(fs)

    def neg(self, x):
        return f"(-{x})"

    def sub(self, a, b):
        return f"({a} - {b})"

    def div(self, a, b):
        return f"({a} / ({b}))"

    def pow(self, a, b):
        return f"pow({a}, {b})"

    def max(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = f"fmax({out}, {x})"
        return out

    def min(self, xs):
        out = xs[0]
        for x in xs[1:]:
            out = f"fmin({out}, {x})"
        return out

    def exp(self, x):
        return f"exp({x})"

    def log(self, x):
        return f"log({x})"

    def act(self, name, params, x):
        row = ACTIVATIONS[name]
        text = _template(name, tuple(sorted(row.full_params(params).items())))
        if text.count("#") > 1:
            x = self.share(x)
        return "(" + text.replace("#", x) + ")"

    def cmp(self, op, a, b):
        c = {"greater": ">", "less": "<", "greater_equal": ">=", "less_equal": "<="}[op]
        return f"(double)({a} {c} {b})"

    def where(self, c, a, b):
        return f"(({c}) != 0 ? {a} : {b})"

    def select(self, idx, choices):
        i = self.share(idx)
        out = choices[-1]
        for k in range(len(choices) - 2, -1, -1):
            out = f"((long)({i}) == {k} ? {choices[k]} : {out})"
        return out

    def share(self, x):
        if _IDENT.match(x) or re.fullmatch(r"x\[\d+\]|\(?-?[\d.e+-]+\)?", x):
            return x
        self.k += 1
        name = f"t{self.k}"
        self.lines.append(f"    const double {name} = {x};")
        return name


def to_c(net, name: str = "wlbridge_net") -> CCode:
    """The net as a C99 function ``void name(const double *x, double *y)`` and its header."""
    if not _IDENT.match(name):
        raise ConversionError(f"{net.name}: C function name {name!r} is not a C identifier")
    lines: list[str] = []
    A = CAlgebra(lines)
    env, pos = {}, 0
    for port in net.inputs:
        arr = scalar.obj(port.shape)
        flat = arr.reshape(-1)
        for i in range(port.size):
            flat[i] = f"x[{pos + i}]"
        env[port.name] = arr
        pos += port.size
    for k, layer in enumerate(net.layers, 1):
        lines.append(f"    /* {comment(layer.op)} {comment(layer.path)} */".replace("  */", " */"))
        out = scalar.run_layer(A, layer, [env[i] for i in layer.inputs], net.shapes[layer.output])
        named = scalar.obj(out.shape)
        for i, (idx, e) in enumerate(np.ndenumerate(out)):
            if _IDENT.match(e) or e.startswith("x["):
                named[idx] = e
                continue
            v = f"v{k}_{i}"
            lines.append(f"    const double {v} = {e};")
            named[idx] = v
        env[layer.output] = named
    n_out = 0
    for o in net.outputs:
        for e in env[o].reshape(-1):
            lines.append(f"    y[{n_out}] = {e};")
            n_out += 1
    doc = (f"/* {comment(net.name)}: generated by wlbridge. x: {pos} input scalars ({comment(', '.join(net.input_names))}),\n"
           f"   y: {n_out} output scalars, row-major, in the order of the net's outputs. */\n")
    source = (PREAMBLE + doc + f"void {name}(const double *x, double *y)\n{{\n" + "\n".join(lines) + "\n}\n")
    guard = f"{name.upper()}_H"
    header = (f"#ifndef {guard}\n#define {guard}\n{doc}#define {name.upper()}_N_INPUTS {pos}\n"
              f"#define {name.upper()}_N_OUTPUTS {n_out}\nvoid {name}(const double *x, double *y);\n#endif\n")
    return CCode(name, source, header, pos, n_out)
