"""Python emitter: standalone numpy source ``def f(x): ...`` (batch axis first; exact weight literals).

Elementwise functions and ``scalar_fn`` bodies are printed from their sympy forms by the same
numpy printer the sympy emitter uses; the printer records the modules the source needs.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])
>>> src = to_python(net)
>>> ns = {}; exec(src, ns)
>>> ns["f"](np.array([1.0, 0.5])).round(6).tolist()
[0.635149]
"""
from __future__ import annotations

import re

import numpy as np
import sympy as sp

from .._options import keywords
from ..ops import ACTIVATIONS, OPS
from . import scalar
from .shortest import repr_text
from .names import Namespace, check_identifier, docstring
from ._geom import full_padding, geometry, norm_axis, pool_counts
from .sympy import NumpyPrinter, SympyAlgebra
from .._rules import registrar

RULES: dict = {}
SUPPORT: dict[str, str | None] = {op: None for op in OPS}

HELPERS = {
    "erf": "erf = numpy.vectorize(math.erf, otypes=[float])",
    "gamma": ("def gamma(x):\n    def one(v):\n        try:\n            return math.gamma(v)\n"
              "        except (ValueError, OverflowError):\n            return math.inf\n"
              "    return numpy.vectorize(one, otypes=[float])(x)"),
    "lgamma": ("def lgamma(x):\n    def one(v):\n        try:\n            return math.lgamma(v)\n"
               "        except (ValueError, OverflowError):\n            return math.inf\n"
               "    return numpy.vectorize(one, otypes=[float])(x)"),
    "softmax": ("def softmax(x, axis):\n    e = numpy.exp(x - x.max(axis=axis, keepdims=True))\n"
                "    return e / e.sum(axis=axis, keepdims=True)"),
    "log_softmax": ("def log_softmax(x, axis):\n    z = x - x.max(axis=axis, keepdims=True)\n"
                    "    return z - numpy.log(numpy.exp(z).sum(axis=axis, keepdims=True))"),
    "windows": ("def windows(x, kernel, stride, dil, out):\n"
                "    for k in itertools.product(*[range(n) for n in kernel]):\n"
                "        idx = tuple(slice(k[i] * dil[i], k[i] * dil[i] + (out[i] - 1) * stride[i] + 1, stride[i])\n"
                "                    for i in range(len(kernel)))\n"
                "        yield k, x[(slice(None), slice(None)) + idx]"),
    "conv": ("def conv(x, w, b, stride, dil, pad, groups, out):\n"
             "    x = numpy.pad(x, [(0, 0), (0, 0)] + list(pad))\n"
             "    og, cg = w.shape[0] // groups, w.shape[1]\n"
             "    y = numpy.zeros((x.shape[0], w.shape[0]) + tuple(out))\n"
             "    for k, v in windows(x, w.shape[2:], stride, dil, out):\n"
             "        wk = w[(slice(None), slice(None)) + k]\n"
             "        for g in range(groups):\n"
             "            y[:, g * og:(g + 1) * og] += numpy.einsum('oc,bc...->bo...', wk[g * og:(g + 1) * og],\n"
             "                                                      v[:, g * cg:(g + 1) * cg])\n"
             "    return y if b is None else y + b.reshape((1, -1) + (1,) * len(out))"),
    "pool": ("def pool(x, kind, kernel, stride, dil, pad, out, counts):\n"
             "    fill = -numpy.inf if kind == 'max' else 0.0\n"
             "    x = numpy.pad(x, [(0, 0), (0, 0)] + list(pad), constant_values=fill)\n"
             "    views = [v for _, v in windows(x, kernel, stride, dil, out)]\n"
             "    if kind == 'max':\n        return numpy.max(views, axis=0)\n"
             "    total = numpy.sum(views, axis=0)\n"
             "    return total if counts is None else total / counts"),
}
HELPER_IMPORTS = {"erf": {"math"}, "gamma": {"math"}, "lgamma": {"math"}, "windows": {"itertools"}}
HELPER_NEEDS = {"conv": ["windows"], "pool": ["windows"]}


rule = registrar(RULES, "Python")


class Source:
    """Collects constants, helper functions, imports and body lines while the rules run."""

    def __init__(self, names: Namespace):
        self.names = names
        self.consts: list[str] = []
        self.helpers: list[str] = []
        self.imports = {"numpy"}
        self.lines: list[str] = []
        self.printer = NumpyPrinter()

    def const(self, name: str, a) -> str:
        name = self.names(name)
        a = np.asarray(a, dtype=np.float64)
        text = repr_text(a) if a.ndim else repr(float(a))
        text = text.replace("inf", "numpy.inf")
        self.consts.append(f"{name} = numpy.array({text})")
        return name

    def helper(self, name: str) -> str:
        for dep in HELPER_NEEDS.get(name, []):
            self.helper(dep)
        if name not in self.helpers:
            self.helpers.append(name)
            self.imports |= HELPER_IMPORTS.get(name, set())
        return name

    def expr(self, e: sp.Expr) -> str:
        code = self.printer.doprint(e)
        for mod in self.printer.module_imports:
            self.imports.add(mod.split(".")[0])
        for fn in ("erf", "gamma", "lgamma"):
            if re.search(rf"(?<![\w.]){fn}\(", code):
                self.helper(fn)
        return code


LOCALS = {"single", "n", "t", "windows"} | set(HELPERS)  # the generated module's own names


@keywords
def to_python(net, *, name: str = "f") -> str:
    """Standalone numpy source of ``net``: ``def f(x): ...`` taking one input or a batch.

    Every value name goes through a ``"python"`` :class:`~wlbridge.emit.names.Namespace` (module
    constants included); ``name`` must be a plain identifier (else ``ConversionError``)."""
    check_identifier(name, "python", LOCALS)
    ident = Namespace("python", LOCALS | {name})
    src = Source(ident)
    ports = [ident(p.name) for p in net.inputs]
    env = {p.name: n for p, n in zip(net.inputs, ports)}
    src.lines.append(f"single = numpy.ndim({ports[0]}) == {len(net.inputs[0].shape)}")
    for p, n in zip(net.inputs, ports):
        src.lines.append(f"{n} = numpy.asarray({n}, dtype=numpy.float64)")
        src.lines.append(f"{n} = {n}[None] if single else {n}")
    src.lines.append(f"n = len({ports[0]})")
    for layer in net.layers:
        out = ident(layer.output)
        code = RULES[layer.op](src, layer, *[env[i] for i in layer.inputs], out=out, shapes=net.shapes)
        src.lines.append(f"{out} = {code}")
        env[layer.output] = out
    outs = [f"({env[o]}[0] if single else {env[o]})" for o in net.outputs]
    src.lines.append("return " + (outs[0] if len(outs) == 1 else "[" + ", ".join(outs) + "]"))
    head = [f"import {m}" for m in sorted(src.imports)]
    helpers = [HELPERS[h] for h in src.helpers]
    body = "\n".join("    " + line for line in src.lines)
    doc = f'    """{docstring(net.name)}: generated by wlbridge; inputs batch-first or single."""'
    return "\n".join(head + [""] + src.consts + [""] + helpers + [""] +
                     [f"def {name}({', '.join(ports)}):", doc, body]) + "\n"


@rule("constant")
def _constant(src, layer, out, shapes):
    return src.const(out.upper() + "_VALUE", layer.params["value"]) + "[None]"


@rule("identity")
def _identity(src, layer, x, out, shapes):
    return x



@rule("elementwise")
def _elementwise(src, layer, x, out, shapes):
    t = sp.Symbol("t")
    e = ACTIVATIONS[layer.attrs["fn"]].sympy_fn(t, layer.attrs.get("fn_params"))
    return f"(lambda t: {src.expr(e)})({x})"


@rule("scalar_fn")
def _scalar_fn(src, layer, *xs, out, shapes):
    args = [sp.Symbol(f"a{k + 1}") for k in range(len(xs))]
    e = scalar.scalar_body(SympyAlgebra(), layer.attrs["body"], args)
    code = src.expr(e)
    xs = _ranked(layer, xs, shapes)
    return f"numpy.broadcast_to((lambda {', '.join(map(str, args))}: {code})({', '.join(xs)}), " \
           f"(n,) + {tuple(shapes[layer.output])})"


def _ranked(layer, xs, shapes):
    """Operands with unit axes inserted after the batch axis so that ranks agree (IR broadcasting)."""
    r = len(shapes[layer.output])
    out = []
    for x, v in zip(xs, layer.inputs):
        s = tuple(shapes[v])
        out.append(x if len(s) == r else f"{x}.reshape((-1,) + {(1,) * (r - len(s)) + s})")
    return out


_BIN = {"add": "numpy.add", "mul": "numpy.multiply", "max": "numpy.maximum", "min": "numpy.minimum",
        "sub": "numpy.subtract", "div": "numpy.divide", "pow": "numpy.power"}


@rule(*_BIN)
def _binary(src, layer, *xs, out, shapes):
    xs = _ranked(layer, xs, shapes)
    code = xs[0]
    for x in xs[1:]:
        code = f"{_BIN[layer.op]}({code}, {x})"
    return code


@rule("linear")
def _linear(src, layer, x, out, shapes):
    w = src.const(out.upper() + "_W", layer.params["weight"])
    code = f"{x} @ {w}.T"
    if layer.params.get("bias") is not None:
        code += " + " + src.const(out.upper() + "_B", layer.params["bias"])
    return code


@rule("matmul")
def _matmul(src, layer, x, out, shapes):
    return f"{x} @ {src.const(out.upper() + '_W', layer.params['weight'])}"


@rule("prelu")
def _prelu(src, layer, x, out, shapes):
    s = src.const(out.upper() + "_SLOPE", layer.params["slope"])
    return f"numpy.where({x} >= 0, {x}, {s} * {x})"


def _bax(layer, shape, default=-1):
    return norm_axis(layer.attrs.get("axis", default), len(shape)) + 1


@rule("softmax", "log_softmax")
def _softmax(src, layer, x, out, shapes):
    return f"{src.helper(layer.op)}({x}, {_bax(layer, shapes[layer.inputs[0]])})"


@rule("batchnorm")
def _batchnorm(src, layer, x, out, shapes):
    shape = shapes[layer.inputs[0]]
    ax = _bax(layer, shape, 0)
    rs = tuple(-1 if i == ax else 1 for i in range(len(shape) + 1))
    k = np.asarray(layer.params["scale"], np.float64) / np.sqrt(np.asarray(layer.params["var"], np.float64)
                                                               + float(layer.attrs.get("eps", 1e-5)))
    names = [src.const(out.upper() + s, v) for s, v in
             (("_MEAN", layer.params["mean"]), ("_K", k), ("_BIAS", layer.params["bias"]))]
    m, kk, b = (f"{n}.reshape({rs})" for n in names)
    return f"({x} - {m}) * {kk} + {b}"


@rule("flatten", "reshape")
def _reshape(src, layer, x, out, shapes):
    return f"{x}.reshape((n,) + {tuple(shapes[layer.output])})"


@rule("transpose")
def _transpose(src, layer, x, out, shapes):
    return f"{x}.transpose({(0, *[int(p) + 1 for p in layer.attrs['perm']])})"


@rule("concat")
def _concat(src, layer, *xs, out, shapes):
    return f"numpy.concatenate([{', '.join(xs)}], axis={_bax(layer, shapes[layer.inputs[0]], 0)})"


@rule("reduce")
def _reduce(src, layer, x, out, shapes):
    r = len(shapes[layer.inputs[0]])
    axes = tuple(sorted({norm_axis(a, r) + 1 for a in layer.attrs["axes"]}))
    fn = {"mean": "mean", "sum": "sum", "max": "max"}[layer.attrs["kind"]]
    return f"numpy.{fn}({x}, axis={axes}, keepdims={bool(layer.attrs.get('keepdims', False))})"


@rule("embedding")
def _embedding(src, layer, x, out, shapes):
    return f"{src.const(out.upper() + '_W', layer.params['weight'])}[{x}.astype(numpy.int64)]"


@rule("conv")
def _conv(src, layer, x, out, shapes):
    w = src.const(out.upper() + "_W", layer.params["weight"])
    b = src.const(out.upper() + "_B", layer.params["bias"]) if layer.params.get("bias") is not None else "None"
    stride, dil, pad = geometry(layer, layer.params["weight"].ndim - 2)
    groups = int(layer.attrs.get("groups", 1))
    return f"{src.helper('conv')}({x}, {w}, {b}, {stride}, {dil}, {pad}, {groups}, {tuple(shapes[layer.output][1:])})"


@rule("pool")
def _pool(src, layer, x, out, shapes):
    kernel = tuple(layer.attrs["kernel"])
    stride, dil, pad = geometry(layer, len(kernel))
    in_sp, out_sp = shapes[layer.inputs[0]][1:], tuple(shapes[layer.output][1:])
    full = full_padding(in_sp, out_sp, kernel, stride, dil, pad)
    kind = layer.attrs["kind"]
    counts = src.const(out.upper() + "_COUNTS", pool_counts(layer, in_sp, out_sp)) if kind == "avg" else "None"
    return f"{src.helper('pool')}({x}, {kind!r}, {kernel}, {stride}, {dil}, {full}, {out_sp}, {counts})"


@rule("take")
def _take(src, layer, x, out, shapes):
    ax = norm_axis(layer.attrs.get("axis", 0), len(shapes[layer.inputs[0]])) + 1
    idx = layer.attrs["indices"]
    idx = int(idx) if isinstance(idx, (int, np.integer)) else [int(i) for i in idx]
    return f"numpy.take({x}, {idx!r}, axis={ax})"


@rule("pad")
def _pad_op(src, layer, x, out, shapes):
    pads = [(0, 0)] + [tuple(int(v) for v in p) for p in layer.attrs["pads"]]
    return f"numpy.pad({x}, {pads}, constant_values={float(layer.attrs.get('value', 0.0))!r})"


@rule("lstm", "gru", "rnn")
def _recurrent(src, layer, x, out, shapes):
    """The unrolled layer (``recurrent.expand``), one line per step op, names prefixed by ``out``."""
    from ..recurrent import expand

    sub = expand(layer, shapes[layer.inputs[0]])
    env = {"x": x}
    for L in sub.layers:
        name = f"{out}_{L.output}"
        code = RULES[L.op](src, L, *[env[i] for i in L.inputs], out=name, shapes=sub.shapes)
        src.lines.append(f"{name} = {code}")
        env[L.output] = name
    return env[sub.outputs[0]]


@rule("slice")
def _slice(src, layer, x, out, shapes):
    from ._geom import slice_spans

    return f"{x}[:, " + ", ".join(f"{a}:{b if b >= 0 else ''}:{c}" for a, b, c in slice_spans(layer)) + "]"


@rule("adaptive_pool")
def _adaptive_pool(src, layer, x, out, shapes):
    size = tuple(int(d) for d in layer.attrs["output_size"])
    return f"{src.helper('adaptive_pool')}({x}, {layer.attrs['kind']!r}, {size})"


@rule("layernorm")
def _layernorm(src, layer, x, out, shapes):
    ax = norm_axis(layer.attrs.get("axis", -1), len(shapes[layer.inputs[0]])) + 1
    scale, bias = (src.const(out.upper() + s, layer.params[k]) if k in layer.params else "None"
                   for k, s in (("scale", "_SCALE"), ("bias", "_BIAS")))
    return f"{src.helper('layernorm')}({x}, {ax}, {float(layer.attrs.get('eps', 1e-5))!r}, {scale}, {bias})"


@rule("batch_matmul")
def _batch_matmul(src, layer, a, b, out, shapes):
    a, b = _ranked(layer, [a, b], shapes)
    return f"numpy.matmul({a}, {b})"


HELPERS["adaptive_pool"] = (
    "def adaptive_pool(x, kind, size):\n"
    "    wins = [[(i * n // o, -(-(i + 1) * n // o)) for i in range(o)] for n, o in zip(x.shape[2:], size)]\n"
    "    fn = numpy.max if kind == 'max' else numpy.mean\n"
    "    y = numpy.empty(x.shape[:2] + tuple(size))\n"
    "    for pos in numpy.ndindex(*size):\n"
    "        part = x[(slice(None), slice(None)) + tuple(slice(*wins[i][p]) for i, p in enumerate(pos))]\n"
    "        y[(slice(None), slice(None)) + pos] = fn(part, axis=tuple(range(2, x.ndim)))\n"
    "    return y")
HELPERS["layernorm"] = (
    "def layernorm(x, ax, eps, scale, bias):\n"
    "    axes = tuple(range(ax, x.ndim))\n"
    "    c = x - x.mean(axis=axes, keepdims=True)\n"
    "    y = c / numpy.sqrt((c * c).mean(axis=axes, keepdims=True) + eps)\n"
    "    y = y if scale is None else y * scale\n"
    "    return y if bias is None else y + bias")


from . import python_heads  # noqa: E402,F401 - argmax, comparisons, where, one_hot, casts, dynamic slices

missing = set(OPS) - set(RULES)
if missing:  # pragma: no cover
    raise ImportError(f"ops without a Python rule: {sorted(missing)}")
