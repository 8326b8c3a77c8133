"""Scalar rules of the piecewise-constant heads and of data-dependent slicing (sympy, WL expanded, C).

Comparisons, ``where`` and casts are ``scalar_fn`` bodies (:func:`head_body`), so every emitter that prints
bodies prints them; ``argmax`` is the nested choice ``where(x_k > Max(x_0..x_k-1), k, argmax(x_0..x_k-1))``
(the first maximum on ties); a computed slice start picks among the windows with the algebra's ``select``.
"""
from __future__ import annotations

import numpy as np

from ._geom import norm_axis

_ONE, _ZERO = ("const", 1.0), ("const", 0.0)


def head_body(layer) -> tuple:
    """The ``scalar_fn`` body (``ops.SCALAR_OPS`` AST over ``("arg", k)``) of a compare / where / cast layer."""
    if layer.op == "compare":  # a - b against 0: exact in IEEE arithmetic, and WL compares reals with a tolerance
        return ("where", (layer.attrs["kind"], ("sub", ("arg", 1), ("arg", 2)), _ZERO), _ONE, _ZERO)
    if layer.op == "where":
        return ("where", ("not_equal", ("arg", 1), _ZERO), ("arg", 2), ("arg", 3))
    to = np.dtype(layer.attrs["to"])
    if to == np.bool_:
        return ("where", ("not_equal", ("arg", 1), _ZERO), _ONE, _ZERO)
    return ("trunc", ("arg", 1)) if np.issubdtype(to, np.integer) else ("arg", 1)


def as_scalar_fn(layer):
    """``layer`` (compare / where / cast) as the equal ``scalar_fn`` layer."""
    from ..ir import Layer

    return Layer("scalar_fn", layer.inputs, layer.output, {}, {"body": head_body(layer)}, layer.path)


def register(rule, RULES, obj, along) -> None:
    """Add the rules to the scalar table (called once by :mod:`wlbridge.emit.scalar`)."""

    @rule("compare", "where", "cast")
    def _as_body(A, layer, *xs):
        return RULES["scalar_fn"](A, as_scalar_fn(layer), *xs)

    @rule("argmax", "argmin")
    def _argmax(A, layer, x):
        ax = norm_axis(layer.attrs.get("axis", 0), x.ndim)
        y = along(x, ax, lambda zs: [arg_extreme(A, zs, layer.op == "argmax")] + [None] * (len(zs) - 1))
        y = np.take(y, [0], axis=ax)
        return y if layer.attrs.get("keepdims", True) else y.reshape(tuple(d for i, d in enumerate(y.shape) if i != ax))

    @rule("one_hot")
    def _one_hot(A, layer, x):
        depth = int(layer.attrs["depth"])
        on, off = A.const(float(layer.attrs.get("on", 1.0))), A.const(float(layer.attrs.get("off", 0.0)))
        out = obj((*x.shape, depth))
        for i in np.ndindex(x.shape):
            t = A.share(A.act("trunc", {}, x[i]))
            for k in range(depth):
                hit = A.where(A.cmp("equal", t, A.const(float(k - depth))), on, off)
                out[i + (k,)] = A.where(A.cmp("equal", t, A.const(float(k))), on, hit)
        return np.moveaxis(out, -1, norm_axis(layer.attrs.get("axis", -1), x.ndim + 1))

    @rule("dynamic_slice")
    def _dynamic_slice(A, layer, x, *starts):
        for a, size, s in zip(layer.attrs["axes"], layer.attrs["sizes"], starts):
            x = dynamic_window(A, x, norm_axis(a, x.ndim), int(size), s.reshape(-1)[0])
        return x


def arg_extreme(A, zs, largest: bool):
    """The 0-based index of the first largest (smallest) of ``zs`` as nested ``where``."""
    zs = [A.share(z) for z in zs]
    idx, best = A.const(0.0), zs[0]
    for k in range(1, len(zs)):
        beats = A.cmp("greater" if largest else "less", zs[k], best)
        idx = A.where(beats, A.const(float(k)), idx)
        best = A.share((A.max if largest else A.min)(zs[:k + 1]))
    return idx


def clamped(A, s, dim: int, size: int):
    """The start as ``reference.clamped_start`` computes it, in the algebra ``A``."""
    t = A.share(A.act("trunc", {}, s))
    t = A.where(A.cmp("less", t, A.const(0.0)), A.add([t, A.const(float(dim))]), t)
    return A.min([A.max([t, A.const(0.0)]), A.const(float(dim - size))])


def dynamic_window(A, x, ax: int, size: int, s):
    """``x[..., k:k+size, ...]`` on axis ``ax`` with ``k`` the clamped start ``s``: per element, a ``select``
    among the ``dim - size + 1`` windows."""
    dim = x.shape[ax]
    if size == dim:
        return x
    k = A.share(clamped(A, s, dim, size))
    moved = np.moveaxis(x, ax, 0)
    out = np.empty((size, *moved.shape[1:]), dtype=object)
    for j in range(size):
        for i in np.ndindex(moved.shape[1:]):
            out[(j, *i)] = A.select(k, [moved[(w + j, *i)] for w in range(dim - size + 1)])
    return np.moveaxis(out, 0, ax)
