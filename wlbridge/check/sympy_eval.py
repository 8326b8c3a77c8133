"""Evaluate a net's sympy form (``net.to_sympy``) numerically on a batch, for ``check``.

The expanded form is a sympy ``Matrix`` (or expression) in the input symbols; it is compiled with
``lambdify`` and run on the whole batch at once.
"""
from __future__ import annotations

import numpy as np


def evaluate_sympy(net, xs, form: str = "compact") -> list[np.ndarray]:
    """One array per output (batch first), from ``net.to_sympy(form=form)``."""
    import sympy as sp

    obj = net.to_sympy(form=form)
    if isinstance(obj, (sp.MatrixBase, sp.Expr)):
        return [_lambdify_matrix(net, obj, xs).reshape((len(xs[0]), *net.output_shape))]
    raise NotImplementedError(f"sympy form of type {type(obj).__name__}")


def _flat_inputs(net, xs) -> list[np.ndarray]:
    flat = np.concatenate([np.asarray(x, dtype=np.float64).reshape(len(x), -1) for x in xs], axis=1)
    return [flat[:, i] for i in range(flat.shape[1])]


def _lambdify_matrix(net, expr, xs) -> np.ndarray:
    import sympy as sp

    symbols = sp.symbols(net.input_names)
    entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
    fn = sp.lambdify(symbols, entries, modules="numpy")
    n = len(xs[0])
    cols = [np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in fn(*_flat_inputs(net, xs))]
    return np.stack(cols, axis=1)
