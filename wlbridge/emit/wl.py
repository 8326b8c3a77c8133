"""WL emitter: the net as a Wolfram Language ``Function[...]`` (compact or expanded), our own printer.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "sigmoid"})])
>>> print(to_wl(net))
Function[{x}, With[{h1 = {{1.5`, -2.`}} . x + {0.25`}}, LogisticSigmoid[h1]]]
>>> print(to_wl(net, form="expanded", call="sequence"))
Function[{x1, x2}, {LogisticSigmoid[0.25` + 1.5` x1 - 2.` x2]}]
>>> print(to_wl(net, form="expanded", exact=True))
Function[{x}, With[{x1 = x[[1]], x2 = x[[2]]}, {LogisticSigmoid[1/4 + 3/2 x1 - 2 x2]}]]
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from .._options import choice, keywords
from ..errors import ConversionError, ExpressionTooLargeError
from .options import CALLS
from ._size import check_size
from ..ops import ACTIVATIONS, OPS, SCALAR_OPS
from . import scalar, wl_compact
from .names import Namespace
from .wl_compact import V
from .wlprint import (Call, Divide, Int, ListN, Neg, Node, Num, Op, Part, Plus, Power, Printer, Sym, Times,
                      Tmpl, Subtract, With, fill, filled_len)

RULES = wl_compact.RULES  # compact form; the expanded form is scalar.RULES with WLAlgebra
if set(OPS) - set(RULES):  # pragma: no cover
    raise ImportError(f"ops without a compact WL rule: {sorted(set(OPS) - set(RULES))}")
SUPPORT: dict[str, str | None] = {op: None for op in OPS}
ACTIVATION_SUPPORT: dict[str, str | None] = {name: None for name in ACTIVATIONS}
DEFAULT_MAX_SIZE = 2_000_000
MAX_WITH_DEPTH = 200
MAX_WITH_CHARS = 1_000_000


class WLAlgebra:
    """Scalar algebra of WL nodes (used by the expanded form and by ``scalar_fn`` bodies)."""

    stable = False

    def const(self, v):
        return Num(v)

    def add(self, ts):
        return Plus(ts)

    def neg_inf(self, x) -> bool:
        """``x`` is -Infinity or a sum with a -Infinity term (a score masked by a constant -inf)."""
        if isinstance(x, Op) and x.kind == "Plus":
            return any(self.neg_inf(a) for a in x.args)
        return isinstance(x, Num) and x.value == -np.inf

    def mul(self, fs):
        return Times(fs)

    def neg(self, x):
        return Neg(x)

    def sub(self, a, b):
        return Subtract(a, b)

    def div(self, a, b):
        return Divide(a, b)

    def pow(self, a, b):
        return Power(a, b)

    def max(self, xs):
        return Call("Max", xs)

    def min(self, xs):
        return Call("Min", xs)

    def exp(self, x):
        return Call("Exp", [x])

    def log(self, x):
        return Call("Log", [x])

    def act(self, name, params, x):
        row = ACTIVATIONS[name]
        return x if row.wl == "#" else Tmpl(row.wl, x, row.wl_params(params))

    def cmp(self, op, a, b):
        if op in ("equal", "not_equal"):  # exact: WL's == on reals has a tolerance, a - b == 0 has none
            a, b = (a, b) if isinstance(b, Num) and b.value == 0 else (Subtract(a, b), Int(0))
        return Op(SCALAR_OPS[op][2], [a, b])

    def where(self, c, a, b):
        return Call("If", [c, a, b])

    def select(self, idx, choices):
        return Part(ListN(choices), [Plus([Call("Round", [idx]), Int(1)])])

    def share(self, x):
        return x


class Ctx(NamedTuple):
    shapes: dict
    algebra: WLAlgebra


@keywords
def to_wl(net, *, form: str = "compact", call: str = "list", exact: bool = False,
          max_size: int = DEFAULT_MAX_SIZE) -> str:
    """WL ``Function[...]`` text of ``net``. ``compact``: one ``With`` per layer (size linear in the
    parameters); ``expanded``: one closed form per output scalar (refused past ``max_size`` nodes)."""
    choice("form", form, ("compact", "expanded"))
    choice("call", call, CALLS)
    _no_nan_weights(net)
    if form == "compact":
        return _compact(net, call, exact)
    return _expanded(net, call, exact, max_size)


def _no_nan_weights(net) -> None:
    """WL has no NaN machine number: name the layer whose weights hold one (before printing starts)."""
    for layer in net.layers:
        for k, v in layer.params.items():
            if v is not None and np.issubdtype(v.dtype, np.floating) and np.isnan(v).any():
                raise ConversionError(f"{net.name}: {layer.path or layer.output} ({layer.op}): parameter {k!r} "
                                      "contains NaN, which has no WL machine-number form")


def _nested(arr: np.ndarray) -> Node:
    if arr.ndim == 0:
        return arr[()]
    return ListN([_nested(a) for a in arr]) if arr.ndim > 1 else ListN(list(arr))


def _input_syms(net, names: Namespace) -> tuple[list[str], dict[str, np.ndarray]]:
    syms = [names(n) for n in net.input_names]
    env, pos = {}, 0
    for port in net.inputs:
        arr = scalar.obj(port.shape)
        flat = arr.reshape(-1)
        for i in range(port.size):
            flat[i] = Sym(syms[pos + i])
        pos += port.size
        env[port.name] = arr
    return syms, env


def _function(params: list[str], binds: list[tuple[str, Node]], body: Node, exact: bool) -> str:
    """``Function[{params}, With[{b1 = ...}, With[{b2 = ...}, body]]]`` printed without deep recursion.

    Past ``MAX_WITH_DEPTH`` bindings (WL's $RecursionLimit is 1024, Woxi's parser stops near 500
    nested With) or ``MAX_WITH_CHARS`` characters of bindings (Woxi's parser rescans every enclosing
    bracket: a 13 MB chain of 13 With parses in ~400 s, the flat form in ~200 s) the chain is one
    flat ``Module[{b1, ...}, b1 = ...; ...; body]`` instead.
    """
    p = Printer(exact, deferred=[])  # long arrays are put in once, at the end (no copy per nesting level)
    head = "Function[{" + ", ".join(params) + "}, "
    texts = [(name, _print(p, node)) for name, node in binds]
    parts = [head]
    if len(binds) > MAX_WITH_DEPTH or sum(filled_len(t, p.deferred) for _, t in texts) > MAX_WITH_CHARS:
        parts.append("Module[{" + ", ".join(n for n, _ in binds) + "}, ")
        for name, t in texts:
            parts += [name, " = ", t, "; "]
        return fill("".join(parts + [_print(p, body), "]]"]), p.deferred)
    for name, t in texts:
        parts += ["With[{", name, " = ", t, "}, "]
    return fill("".join(parts + [_print(p, body), "]" * len(binds), "]"]), p.deferred)


def _print(printer: Printer, node: Node) -> str:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        return printer.text(node)
    finally:
        sys.setrecursionlimit(old)


def _compact(net, call, exact) -> str:
    params, binds, body, _ = _compact_parts(net, call)
    return _function(params, binds, body, exact)


def compact_bindings(net, call: str = "list") -> list[tuple[str, str]]:
    """The compact form's ``With`` bindings in order, as (WL symbol, the net value it holds: an input
    port or a layer's output); last ``(None, value)`` when the body is the last layer itself."""
    _, binds, body, origins = _compact_parts(net, call)
    names = [name for name, _ in binds] + ([None] if len(origins) > len(binds) else [])  # None: the body
    return list(zip(names, origins))


def _compact_parts(net, call):
    names = Namespace("wl")
    ctx = Ctx(net.shapes, WLAlgebra())
    binds: list[tuple[str, Node]] = []
    origins: list = []  # the net value each binding holds
    env: dict[str, V] = {}
    if call == "list":
        params = [names(p.name) for p in net.inputs]
        for port, n in zip(net.inputs, params):
            env[port.name] = V(Sym(n), tuple(port.shape))
    else:
        params, arrays = _input_syms(net, names)
        for port in net.inputs:
            node = _nested(arrays[port.name])
            if port.shape:
                binds.append((names(port.name), node))
                origins.append(port.name)
                node = Sym(binds[-1][0])
            env[port.name] = V(node, tuple(port.shape))
    n_ports = len(binds)
    for layer in net.layers:
        node = wl_compact.RULES[layer.op](ctx, layer, *[env[i] for i in layer.inputs])
        shape = net.shapes[layer.output]
        if not isinstance(node, Sym) and layer.op != "constant":
            binds.append((names(layer.output), node))
            origins.append(layer.output)
            node = Sym(binds[-1][0])
        env[layer.output] = V(node, shape)
    outs = [env[o].node for o in net.outputs]
    if len(outs) == 1 and len(binds) > n_ports and isinstance(outs[0], Sym) and binds[-1][0] == outs[0].name:
        body = binds.pop()[1]  # the last layer is the body itself (its origin stays, one past the binds)
    else:
        body = outs[0] if len(outs) == 1 else ListN(outs)
    return params, binds, body, origins


def _lower_bound(layer, args, out_shape) -> int:
    """A cheap lower bound of the tree size a weighted layer adds (before building it): every nonzero
    weight appears once per output position it is used at."""
    w = layer.params.get("weight")
    if w is None or layer.op not in ("linear", "matmul", "conv"):
        return 0
    reps = out_shape[1:] if layer.op == "conv" else args[0].shape[:-1]
    return int(np.count_nonzero(w)) * int(np.prod(reps, dtype=np.int64))


def _too_large(net, size: int, max_size: int, where: str) -> ExpressionTooLargeError:
    return ExpressionTooLargeError(
        f"{net.name}: the expanded form would have {where}{size:,} nodes, over max_size={max_size:,}; "
        f"use form='compact' (one With per layer, size linear in the parameter count) or raise max_size")


def _expanded(net, call, exact, max_size) -> str:
    check_size(net, max_size)
    names = Namespace("wl")
    A = WLAlgebra()
    params, env = _input_syms(net, names)
    for layer in net.layers:
        args = [env[i] for i in layer.inputs]
        bound = _lower_bound(layer, args, net.shapes[layer.output])
        if bound > max_size:
            raise _too_large(net, bound, max_size, "at least ")
        out = scalar.run_layer(A, layer, args, net.shapes[layer.output])
        biggest = max((e.size for e in out.reshape(-1)), default=0)
        if biggest > max_size:
            raise _too_large(net, biggest, max_size, "at least ")
        env[layer.output] = out
    outs = [_nested(env[o]) for o in net.outputs]
    body = outs[0] if len(outs) == 1 else ListN(outs)
    if body.size > max_size:
        raise _too_large(net, body.size, max_size, "")
    binds = []
    if call == "list":
        lists = [names(p.name) for p in net.inputs]
        pos = 0
        for port, pname in zip(net.inputs, lists):
            for k, idx in enumerate(np.ndindex(*port.shape)):
                binds.append((params[pos + k], Part(Sym(pname), [Int(i + 1) for i in idx]) if idx else Sym(pname)))
            pos += port.size
        return _function(lists, [], _with_all(binds, body), exact)
    return _function(params, [], body, exact)


def _with_all(binds, body):
    return With(binds, body) if binds else body

