"""``ScalarFunctionObject`` SSA tables <-> the ``scalar_fn`` body AST of :data:`wlbridge.ops.SCALAR_OPS`.

Wolfram compiles custom elementwise functions to
``ScalarFunctionObject[{ScalarSymbol[1], ...}, ScalarSymbol[out], <|ScalarSymbol[k] -> {op, args...}|>]``
where ``op`` is a System symbol (Plus, Times, Tanh, ...), a named string, or ``Identity`` for a
constant. Reading inlines the table (never evaluating anything); writing builds the table back.

>>> ssa = to_scalar_function(("add", ("arg", 1), ("mul", ("const", 2.0), ("tanh", ("arg", 1)))))
>>> from_scalar_function(ssa)
('add', ('arg', 1), ('mul', ('const', 2.0), ('tanh', ('arg', 1))))
"""
from __future__ import annotations

from ...ops import ACTIVATIONS, SCALAR_OPS, by_source_name
from .compress import MAX_DEPTH
from .expr import Expr, Symbol, call, head_name

# WL head -> SCALAR_OPS name (and back)
WL_OPS = {spec[2]: name for name, spec in SCALAR_OPS.items()}
MAX_SSA = 100_000


class ScalarFunctionError(ValueError):
    """The function uses something with no scalar_fn form; the message says what."""


def _ssa_key(x):
    if head_name(x) == "ScalarSymbol" and len(x.args) == 1 and isinstance(x.args[0], int):
        return x.args[0]
    return None


def from_scalar_function(obj) -> tuple:
    """The body AST of a ``ScalarFunctionObject`` expression (``ScalarFunctionError`` if unsupported)."""
    if head_name(obj) != "ScalarFunctionObject" or len(obj.args) != 3:
        raise ScalarFunctionError("not a ScalarFunctionObject[inputs, output, ssa]")
    ins, out, table = obj.args
    if not isinstance(ins, list) or not isinstance(table, dict) or len(table) > MAX_SSA:
        raise ScalarFunctionError("malformed ScalarFunctionObject")
    args = {_ssa_key(s): i + 1 for i, s in enumerate(ins)}
    ssa = {_ssa_key(k): v for k, v in table.items()}
    return _node(out, args, ssa, {}, 0)


def _node(x, args, ssa, memo, depth):
    if depth > MAX_DEPTH:
        raise ScalarFunctionError(f"SSA chain deeper than {MAX_DEPTH}")
    if isinstance(x, bool) or isinstance(x, Symbol):
        raise ScalarFunctionError(f"unsupported operand {x!r}")
    if isinstance(x, (int, float)):
        return ("const", float(x))
    k = _ssa_key(x)
    if k is None:
        raise ScalarFunctionError(f"unsupported operand {x!r}")
    if k in args:
        return ("arg", args[k])
    if k not in memo:
        if k not in ssa:
            raise ScalarFunctionError(f"ScalarSymbol[{k}] is not defined")
        memo[k] = _op(ssa[k], args, ssa, memo, depth + 1)
    return memo[k]


def _op(entry, args, ssa, memo, depth):
    if not isinstance(entry, list) or not entry:
        raise ScalarFunctionError(f"SSA entry is not {{op, args...}}: {entry!r}")
    op, rest = entry[0], entry[1:]
    name = op.name if isinstance(op, Symbol) else op if isinstance(op, str) else None
    if name == "Identity" and len(rest) == 1:
        return _node(rest[0], args, ssa, memo, depth)
    if name == "Clip" and len(rest) == 2 and isinstance(rest[1], list) and len(rest[1]) == 2:
        lo, hi = (_node(v, args, ssa, memo, depth) for v in rest[1])
        return ("min", ("max", _node(rest[0], args, ssa, memo, depth), lo), hi)
    kids = tuple(_node(a, args, ssa, memo, depth) for a in rest)
    if name in WL_OPS:
        arity = SCALAR_OPS[WL_OPS[name]][3]
        if arity is not None and len(kids) != arity or arity is None and not kids:
            raise ScalarFunctionError(f"{name} with {len(kids)} arguments")
        if arity is None and len(kids) == 1:  # Times[x] is x, as in WL
            return kids[0]
        return (WL_OPS[name], *kids)
    if name == "Minus" and len(kids) == 1:
        return ("mul", ("const", -1.0), kids[0])
    row = by_source_name("wolfram").get(name)
    if row is not None and len(kids) == 1:
        return (row.name, kids[0])
    raise ScalarFunctionError(f"unsupported scalar operation {name or op!r}")


def to_scalar_function(body, nargs: int | None = None) -> Expr:
    """A ``ScalarFunctionObject`` expression computing the body AST (inverse of ``from_scalar_function``)."""
    n = nargs or _max_arg(body)
    table: dict = {}
    memo: dict = {}

    def sym(k):
        return call("ScalarSymbol", k)

    def emit(node, depth=0):
        if depth > MAX_DEPTH:
            raise ScalarFunctionError(f"body nested deeper than {MAX_DEPTH}")
        if node[0] == "arg":
            return sym(node[1])
        key = repr(node)
        if key in memo:
            return memo[key]
        if node[0] == "const":
            entry = [Symbol("Identity"), float(node[1])]
        elif node[0] in SCALAR_OPS:
            entry = [Symbol(SCALAR_OPS[node[0]][2]), *(emit(c, depth + 1) for c in node[1:])]
        elif node[0] in ACTIVATIONS and ACTIVATIONS[node[0]].wolfram:
            entry = [_wl_name(ACTIVATIONS[node[0]].wolfram[0]), emit(node[1], depth + 1)]
        else:
            raise ScalarFunctionError(f"{node[0]!r} has no Wolfram scalar form")
        s = sym(n + 1 + len(table))
        table[s] = entry
        memo[key] = s
        return s

    out = emit(body)
    return call("ScalarFunctionObject", [sym(i + 1) for i in range(n)], out, table)


def _wl_name(name: str):
    """Symbols for System functions, strings for named functions ("SELU", ...)."""
    return Symbol(name) if name[0].isupper() and name not in _NAMED else name


_NAMED = {"ReLU", "RectifiedLinearUnit", "Sigmoid", "SELU", "ScaledExponentialLinearUnit", "GELU",
          "GaussianErrorLinearUnit", "Swish", "SoftPlus", "SoftSign", "HardTanh", "HardSigmoid", "ELU",
          "ExponentialLinearUnit", "Mish"}


def _max_arg(node) -> int:
    if node[0] == "arg":
        return node[1]
    if node[0] == "const":
        return 0
    return max([_max_arg(c) for c in node[1:]] + [1])


# ---- sympy -> body AST (the writer uses it for activations that are not WL primitives) -------

def _sympy_rules():
    import sympy as sp

    return {sp.Add: "add", sp.Mul: "mul", sp.Max: "max", sp.Min: "min",
            sp.StrictGreaterThan: "greater", sp.StrictLessThan: "less",
            sp.GreaterThan: "greater_equal", sp.LessThan: "less_equal",
            sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.erf: "erf", sp.Abs: "abs", sp.sign: "sign",
            sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.sinh: "sinh", sp.cosh: "cosh",
            sp.asin: "asin", sp.acos: "acos", sp.atan: "atan", sp.floor: "floor", sp.ceiling: "ceil"}


def sympy_to_body(expr, args: dict) -> tuple:
    """A sympy expression in the symbols ``args`` (symbol -> 1-based index) as a body AST."""
    import sympy as sp

    if expr in args:
        return ("arg", args[expr])
    if expr.is_number:
        return ("const", float(expr))
    if isinstance(expr, sp.Pow):
        base, e = expr.args
        if base == sp.E:
            return ("exp", sympy_to_body(e, args))
        return ("pow", sympy_to_body(base, args), sympy_to_body(e, args))
    if isinstance(expr, sp.Piecewise):
        (val, cond), rest = expr.args[0], expr.args[1:]
        if cond == sp.true or not rest:
            return sympy_to_body(val, args)
        return ("where", sympy_to_body(cond, args), sympy_to_body(val, args),
                sympy_to_body(sp.Piecewise(*rest), args))
    name = _sympy_rules().get(type(expr)) or _sympy_rules().get(expr.func)
    if name is None:
        raise ScalarFunctionError(f"no scalar form for sympy {expr.func.__name__}")
    return (name, *(sympy_to_body(a, args) for a in expr.args))


def activation_body(name: str, params=None, child=("arg", 1)) -> tuple:
    """The body AST of an ACTIVATIONS row (with its parameters) applied to ``child``."""
    import sympy as sp

    x = sp.Symbol("x", real=True)
    body = sympy_to_body(ACTIVATIONS[name].sympy_fn(x, params), {x: 1})
    return _subst(body, child)


def _subst(body, child):
    if body[0] == "arg":
        return child
    if body[0] == "const":
        return body
    return (body[0], *(_subst(b, child) for b in body[1:]))
