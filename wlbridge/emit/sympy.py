"""sympy emitter: the net as sympy expressions, compact (per-layer assignments) or expanded.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.array([[1.5, -2.0]]), "bias": np.array([0.25])})
>>> net = b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})], input_names=["u", "v"])
>>> to_sympy(net, form="expanded")
Matrix([[tanh(1.5*u - 2.0*v + 0.25)]])
>>> c = to_sympy(net)
>>> c.assignments[0]
(h1, Matrix([[1.5*u - 2.0*v + 0.25]]))
>>> c.lambdify()(np.array([[1.0, 0.5]])).round(6).tolist()
[[0.635149]]
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate as sp_evaluate
from sympy.printing.numpy import NumPyPrinter

from .._options import choice, keywords
from ..ops import ACTIVATIONS, SCALAR_OPS, np_erf, np_gamma, np_lgamma
from . import scalar
from ._size import check_elementwise_size, check_size
from .sympy_kinks import kink_form
from .names import Namespace
from . import refuse_unsupported

RULES = scalar.RULES  # the sympy emitter is the scalar interpreter with a sympy algebra
SUPPORT: dict[str, str | None] = {**scalar.SUPPORT, "dynamic_slice": "data-dependent indexing (a slice start "
                                   "computed from the input values) has no sympy form; use WL, Python or C"}
ACTIVATION_SUPPORT: dict[str, str | None] = {name: None for name in ACTIVATIONS}


class SympyAlgebra:
    """Scalar algebra of sympy expressions; ``share`` adds a per-element symbol in compact form."""

    def __init__(self, exact: bool = False, stable: bool = False, share=None):
        self.exact, self.stable = exact, stable
        self._share = share

    def const(self, v):
        v = float(v)
        if v in (float("inf"), float("-inf")):
            return sp.oo if v > 0 else -sp.oo
        return sp.Rational(Fraction(v)) if self.exact else sp.Float(v)

    def add(self, ts):
        return ts[0] if len(ts) == 1 else sp.Add(*ts)

    def neg_inf(self, x) -> bool:
        """``x`` is -oo or a sum with a -oo term (a score masked by a constant -inf)."""
        return x == -sp.oo or (isinstance(x, sp.Add) and -sp.oo in x.args)

    def mul(self, fs):
        return fs[0] if len(fs) == 1 else sp.Mul(*fs)

    def neg(self, x):
        return -x

    def sub(self, a, b):
        return sp.Add(a, -b)

    def div(self, a, b):
        return sp.Mul(a, sp.Pow(b, -1))

    def pow(self, a, b):
        return sp.Pow(a, b)

    def max(self, xs):
        return sp.Max(*xs)

    def min(self, xs):
        return sp.Min(*xs)

    def exp(self, x):
        return sp.exp(x)

    def log(self, x):
        return sp.log(x)

    def act(self, name, params, x):
        row = ACTIVATIONS[name]
        kink = kink_form(name, x, row.full_params(params))  # Max/Min, not Piecewise: see emit/sympy_kinks.py
        return row.sympy_fn(x, params) if kink is None else kink

    def cmp(self, op, a, b):
        return SCALAR_OPS[op][1](a, b)

    def where(self, c, a, b):
        if not isinstance(c, (bool, sp.logic.boolalg.BooleanAtom, sp.logic.boolalg.BooleanFunction, sp.Rel)):
            c = sp.Ne(c, 0)  # a numeric condition: nonzero is true, as in numpy.where
        if isinstance(c, sp.Basic) and c.has(sp.Piecewise):  # a test on a Piecewise (one_hot of an argmax)
            return _raw_piecewise((a, c), (b, sp.true))  # sympy would fold it into ITE and fail
        return sp.Piecewise((a, c), (b, True))

    def select(self, idx, choices):
        pieces = [(c, sp.Eq(idx, k)) for k, c in enumerate(choices[:-1])]
        return sp.Piecewise(*pieces, (choices[-1], True))

    def share(self, x):
        return x if self._share is None else self._share(x)


def _raw_piecewise(*pairs):
    """``Piecewise(*pairs)`` built as it is: ``ExprCondPair`` folds a condition holding a Piecewise into an ``ITE``,
    which sympy 1.14 cannot canonicalize ("Illegal operator StrictLessThan")."""
    from sympy.functions.elementary.piecewise import ExprCondPair

    return sp.Basic.__new__(sp.Piecewise, *[sp.Tuple.__new__(ExprCondPair, e, c) for e, c in pairs])


def as_sympy(arr: np.ndarray):
    """A scalar as an Expr, rank 1 as a column Matrix, rank 2 as a Matrix, higher ranks as an Array."""
    if arr.ndim == 0:
        return arr[()]
    if arr.ndim == 1:
        return sp.Matrix(len(arr), 1, list(arr))
    if arr.ndim == 2:
        return sp.Matrix(arr.shape[0], arr.shape[1], list(arr.reshape(-1)))
    return sp.Array(arr.tolist())


def sympy_names() -> Namespace:
    """The namespace of one sympy form (``CompactSympy.__str__`` ends in ``output = ...``)."""
    return Namespace("sympy", reserved={"output"})


def input_symbols(net, names: Namespace | None = None) -> tuple[list[sp.Symbol], dict[str, np.ndarray]]:
    """The input scalars' symbols (``net.input_names`` made safe, given out first by a ``"sympy"``
    :class:`~wlbridge.emit.names.Namespace`, so the same in every form) and the ports as object arrays."""
    names = names or sympy_names()
    syms = [sp.Symbol(names(n)) for n in net.input_names]
    env, pos = {}, 0
    for port in net.inputs:
        arr = scalar.obj(port.shape)
        flat = arr.reshape(-1)
        for i in range(port.size):
            flat[i] = syms[pos + i]
        pos += port.size
        env[port.name] = arr
    return syms, env


class NumpyPrinter(NumPyPrinter):
    """sympy's NumPy printer with float64 literals in full (round-trip) precision and a vectorised erf."""

    def _print_Float(self, e):
        return repr(float(e))

    def _print_Add(self, e):  # always parenthesised: skips sympy's slow precedence analysis
        return "(" + " + ".join(self._print(a) for a in e.args) + ")"

    def _print_Mul(self, e):
        return "(" + "*".join(self._print(a) for a in e.args) + ")"

    def _print_erf(self, e):
        return f"erf({self._print(e.args[0])})"

    def _print_gamma(self, e):
        return f"gamma({self._print(e.args[0])})"

    def _print_loggamma(self, e):
        return f"lgamma({self._print(e.args[0])})"

    def _print_Function(self, e):
        if e.func.__name__ == "round_half_even":  # ops.py's name for WL/numpy/torch rounding
            return f"numpy.round({self._print(e.args[0])})"
        return super()._print_Function(e)


NUMPY_EXTRA = {"erf": np_erf, "gamma": np_gamma, "lgamma": np_lgamma, "functools": functools, "math": math}


def lambdify_flat(inputs, exprs, cse=None):
    """``sympy.lambdify`` with wlbridge's printer and numpy helpers (erf without scipy)."""
    return sp.lambdify(inputs, exprs, modules=[NUMPY_EXTRA, "numpy"], printer=NumpyPrinter, cse=cse or False)


@dataclass
class CompactSympy:
    """Per-layer assignments; ``replacements`` are the element-level (Symbol, Expr) pairs in order."""

    inputs: list
    assignments: list
    outputs: list
    replacements: list = field(repr=False)
    input_shapes: list = field(repr=False)
    output_shapes: list = field(repr=False)
    listing: list = field(default_factory=list, repr=False)  # assignments and the shared t's they read, in order

    def __str__(self) -> str:
        lines = [f"{name} = {value}" for name, value in (self.listing or self.assignments)]
        outs = self.outputs[0] if len(self.outputs) == 1 else self.outputs
        return "\n".join(lines + [f"output = {outs}"])

    def lambdify(self):
        """A numpy callable: f(x) (or f(x, y) for several ports), batch axis first or a single input."""
        flat = [e for out in self.outputs for e in flatten_output(out)]
        fn = lambdify_flat(self.inputs, flat, cse=lambda exprs: (self.replacements, exprs))
        return _batched(fn, self.input_shapes, self.output_shapes)


def flatten_output(out) -> list:
    """The elements of one output (Expr, Matrix or Array) in row-major order."""
    if isinstance(out, sp.MatrixBase):
        return list(out)
    if isinstance(out, sp.NDimArray):
        return list(sp.flatten(out))
    return [out]


def _batched(fn, in_shapes, out_shapes):
    def call(*xs):
        xs = [np.asarray(x, dtype=np.float64) for x in xs]
        single = xs[0].shape == tuple(in_shapes[0])
        cols = []
        for x, s in zip(xs, in_shapes):
            cols.extend((x[None] if single else x).reshape(-1 if x.size else 0, int(np.prod(s))).T)
        batch = 1 if single else xs[0].shape[0]
        vals = [np.broadcast_to(np.asarray(v, dtype=np.float64), (batch,)) for v in fn(*cols)]
        outs, pos = [], 0
        for s in out_shapes:
            n = int(np.prod(s))
            arr = np.stack(vals[pos:pos + n], axis=-1).reshape((batch, *s)) if n else np.zeros((batch, *s))
            outs.append(arr[0] if single else arr)
            pos += n
        return outs[0] if len(outs) == 1 else outs
    return call


DEFAULT_MAX_SIZE = 200_000  # expanded form: sympy trees are ~100x slower to build and lambdify than WL text
DEFAULT_COMPACT_MAX_SIZE = 1_000_000  # compact form: ~15k nodes/s to build (a 256-512-512-10 MLP, 0.4M: ~30 s)


@keywords
def to_sympy(net, *, form: str = "compact", exact: bool = False, max_size: int | None = None):
    """The net as sympy: ``expanded`` gives Matrix/Expr outputs in the input symbols; ``compact`` a
    :class:`CompactSympy` with one assignment per layer and a ``lambdify()`` method. Either form is
    refused with ``ExpressionTooLargeError`` when its size estimate passes ``max_size`` nodes (default
    ``DEFAULT_MAX_SIZE`` expanded, ``DEFAULT_COMPACT_MAX_SIZE`` compact: the compact form holds one
    sympy expression per element, and a 3x32x32 CNN is millions of nodes)."""
    choice("form", form, ("compact", "expanded"))
    refuse_unsupported(net, SUPPORT, "sympy")
    if form == "expanded":
        check_size(net, DEFAULT_MAX_SIZE if max_size is None else max_size)
        return _expanded(net, exact)
    check_elementwise_size(net, DEFAULT_COMPACT_MAX_SIZE if max_size is None else max_size)
    return _compact(net, exact)


def _expanded(net, exact):
    _, env = input_symbols(net)
    A = SympyAlgebra(exact=exact, stable=False)
    with sp_evaluate(False):
        for layer in net.layers:
            env[layer.output] = scalar.run_layer(A, layer, [env[i] for i in layer.inputs], net.shapes[layer.output])
    outs = [as_sympy(env[o]) for o in net.outputs]
    return outs[0] if len(outs) == 1 else outs


def _compact(net, exact):
    names = sympy_names()
    syms, env = input_symbols(net, names)
    replacements: list = []
    counter = [0]

    def share(expr):
        if expr.is_Atom:
            return expr
        counter[0] += 1
        s = sp.Symbol(names(f"t{counter[0]}"))
        replacements.append((s, expr))
        return s

    A = SympyAlgebra(exact=exact, stable=True, share=share)
    assignments, listing = [], []
    for layer in net.layers:
        shared = len(replacements)
        with sp_evaluate(False):  # no canonicalisation: sympy's assumption system dominates otherwise
            out = scalar.run_layer(A, layer, [env[i] for i in layer.inputs], net.shapes[layer.output])
        listing.extend(replacements[shared:])  # temporaries (t1, t2, ...) the printed layers refer to
        if all(isinstance(e, sp.Atom) for e in out.reshape(-1)):
            env[layer.output] = out  # a rearrangement of existing symbols or constants
            continue
        base = names(layer.output)
        named = scalar.obj(out.shape)
        for i in np.ndindex(out.shape):
            s = sp.Symbol(names(base + "".join(f"_{k}" for k in i)))
            replacements.append((s, out[i]))
            named[i] = s
        assignments.append((sp.Symbol(base), as_sympy(out)))
        listing.append(assignments[-1])
        env[layer.output] = named
    outs = [as_sympy(env[o]) for o in net.outputs]
    return CompactSympy(syms, assignments, outs, replacements, [p.shape for p in net.inputs],
                        [net.shapes[o] for o in net.outputs], listing)
