"""C emitter: a self-contained C99 function in double precision (only ``<math.h>``), with its header.

``void NAME(const double *x, double *y)`` reads the input scalars (all ports, flattened row-major, in
order) and writes the output scalars (all outputs, flattened, in order). The body is the scalar
interpretation of the IR (:mod:`wlbridge.emit.scalar`): one array ``v<k>`` per layer, one statement per
element, except linear layers on vectors (static weight arrays and a loop); weights are round-trip
decimal literals. Identifiers are generated (``v<k>``, ``w<k>``, ``t<k>``); the net's own names
appear only in comments, escaped.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder("tiny"); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> code = to_c(b.build([b.layer("elementwise", [h], attrs={"fn": "relu"})]))
>>> print(code.source.split("{", 1)[1])
<BLANKLINE>
    /* linear */
    static const double w1[1][2] = {
        {1.5, (-2.0)}};
    static const double b1[1] = {0.25};
    double v1[1];
    for (int i = 0; i < 1; i++) {
        double s = b1[i];
        for (int j = 0; j < 2; j++) s += w1[i][j] * x[0 + j];
        v1[i] = s;
    }
    /* elementwise */
    double v2[1];
    v2[0] = (fmax(0, v1[0]));
    y[0] = v2[0];
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
from .shortest import repr_text

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
SUPPORT = scalar.SUPPORT  # every layer goes through the scalar interpreter (what ``wlbridge info`` reports)
ACTIVATION_SUPPORT: dict[str, str | None] = {name: None for name in ACTIVATIONS}  # each from its sympy form

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
    "trunc": "trunc(#)",
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
        c = {"greater": ">", "less": "<", "greater_equal": ">=", "less_equal": "<=", "equal": "==",
             "not_equal": "!="}[op]
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
        if _ATOM.fullmatch(x):
            return x
        self.k += 1
        name = f"t{self.k}"
        self.lines.append(f"    const double {name} = {x};")
        return name


_ATOM = re.compile(r"[A-Za-z_]\w*(\[\d+\])?|\(?-?[\d.e+-]+\)?")
_ELEM = re.compile(r"([A-Za-z_]\w*)\[(\d+)\]")


def _contiguous(arr) -> tuple[str, int] | None:
    """(array name, offset) when the elements are ``a[off], a[off+1], ...``; else None."""
    ms = [_ELEM.fullmatch(e) for e in arr.reshape(-1)]
    if not ms or not all(ms) or len({m.group(1) for m in ms}) != 1:
        return None
    off = int(ms[0].group(2))
    if any(int(m.group(2)) != off + t for t, m in enumerate(ms)):
        return None
    return ms[0].group(1), off


_NEGATIVE = re.compile(r"(?:^|(?<= ))(-[^,]+)")


def _array(a) -> str:
    """A C initializer of ``a``; rows of finite numbers through :func:`.shortest.repr_text` (each number as
    :func:`literal` writes it)."""
    if a.ndim == 1:
        if np.isfinite(a).all():
            return "{" + _NEGATIVE.sub(r"(\1)", repr_text(a)[1:-1]) + "}"
        return "{" + ", ".join(literal(float(v)) for v in a) + "}"
    return "{\n        " + ",\n        ".join(_array(r) for r in a) + "}"


def _linear_loop(lines, layer, k, src):
    """A linear layer on a vector as static weights and a loop; returns the output element names."""
    w = np.asarray(layer.params["weight"], dtype=np.float64)
    b = layer.params.get("bias")
    b = np.zeros(w.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
    m, n = w.shape
    name, off = src
    lines.append(f"    static const double w{k}[{m}][{n}] = {_array(w)};")
    lines.append(f"    static const double b{k}[{m}] = {_array(b)};")
    lines.append(f"    double v{k}[{m}];")
    lines.append(f"    for (int i = 0; i < {m}; i++) {{\n        double s = b{k}[i];\n"
                 f"        for (int j = 0; j < {n}; j++) s += w{k}[i][j] * {name}[{off} + j];\n"
                 f"        v{k}[i] = s;\n    }}")
    out = scalar.obj((m,))
    for i in range(m):
        out[i] = f"v{k}[{i}]"
    return out


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
        src = _contiguous(env[layer.inputs[0]]) if layer.op == "linear" and layer.inputs else None
        if src is not None and len(net.shapes[layer.inputs[0]]) == 1:
            env[layer.output] = _linear_loop(lines, layer, k, src)
            continue
        out = scalar.run_layer(A, layer, [env[i] for i in layer.inputs], net.shapes[layer.output])
        if all(_ATOM.fullmatch(e) for e in out.reshape(-1)):
            env[layer.output] = out  # a rearrangement of existing values
            continue
        lines.append(f"    double v{k}[{max(out.size, 1)}];")
        named = scalar.obj(out.shape)
        for i, (idx, e) in enumerate(np.ndenumerate(out)):
            lines.append(f"    v{k}[{i}] = {e};")
            named[idx] = f"v{k}[{i}]"
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
