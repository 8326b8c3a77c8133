"""Evaluate a net's sympy form (``net.to_sympy``) numerically on a batch, for ``check``.

The compact form carries its own ``lambdify()`` (per-layer assignments fed to ``lambdify`` as a
common-subexpression list); the expanded form is one sympy expression per output scalar, compiled
with the emitter's ``lambdify_flat`` and run on the whole batch at once.
"""
from __future__ import annotations

import numpy as np


def evaluate_sympy(net, xs, form: str = "compact", **settings) -> list[np.ndarray]:
    """One array per output (batch first), from ``net.to_sympy(form=form, **settings)``."""
    obj = net.to_sympy(form=form, **settings)
    if hasattr(obj, "lambdify"):
        with np.errstate(over="ignore", under="ignore"):  # inf/0 limits are compared, not warned
            out = obj.lambdify()(*xs)
        return [np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, list) else [out])]
    return _expanded(net, obj if isinstance(obj, list) else [obj], xs)


def _expanded(net, outs, xs) -> list[np.ndarray]:
    from ..emit.sympy import flatten_output, input_symbols, lambdify_flat

    symbols, _ = input_symbols(net)  # the emitter's own (sanitized) symbols, never re-parsed from names
    flat = [e for out in outs for e in flatten_output(out)]
    fn = lambdify_flat(symbols, flat)
    n = len(xs[0])
    cols = np.concatenate([np.asarray(x, dtype=np.float64).reshape(n, -1) for x in xs], axis=1).T
    with np.errstate(over="ignore", under="ignore"):
        raw = fn(*cols)
    values = [np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for v in raw]
    result, pos = [], 0
    for shape in net.output_shapes:
        size = int(np.prod(shape))
        if size == 0:  # zero-size output: nothing to stack
            result.append(np.zeros((n, *shape)))
            continue
        result.append(np.stack(values[pos:pos + size], axis=1).reshape((n, *shape)))
        pos += size
    return result
