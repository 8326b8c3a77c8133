"""One route from :class:`~wlbridge.emit.options.EmitOptions` to the emitter that writes them: named
weights (``weights``/``activations="symbolic"``), the linear regions of a box (``form="piecewise"``), or
the layer-by-layer emitters, with the weights rounded first when ``digits`` is given (every form).

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (1,))
>>> net = b.build([b.layer("linear", [x], params={"weight": np.array([[0.123456]])})])
>>> emit(net, "wl", EmitOptions(digits=2))
'Function[{x}, {{0.12`}} . x]'
"""
from __future__ import annotations

from ..errors import ConversionError
from .options import EmitOptions

TARGETS = ("wl", "sympy", "latex", "python", "c")


def emit(net, target: str, options: EmitOptions, *, name: str | None = None):
    """``net`` written for ``target`` (one of ``TARGETS``) as ``options`` say; ``name``: the Python / C
    function's name."""
    if options.symbolic:
        return _symbolic(net, target, options)
    net = rounded(net, options.digits)
    if options.regions:
        return _regions(net, target, options)
    if target == "wl":
        from .wl import to_wl

        return to_wl(net, form=options.form, call=options.call, exact=options.exact, **_size(options))
    if target == "sympy":
        from .sympy import to_sympy

        return to_sympy(net, form=options.form, exact=options.exact, **_size(options))
    if target == "latex":
        return _latex(net, options)
    if target == "python":
        from .python import to_python

        return to_python(net, name=name or "f")
    from .c import to_c

    return to_c(net, name=name or "wlbridge_net")


def rounded(net, digits):
    """``net`` with its weights rounded to ``digits`` significant digits (None: ``net`` itself)."""
    if digits is None:
        return net
    from ..passes.rounding import round_weights

    return round_weights(net, digits)


def _size(options: EmitOptions) -> dict:
    return {} if options.max_size is None else {"max_size": options.max_size}


def _symbolic(net, target: str, options: EmitOptions):
    from .symbolic import symbolic_sympy, symbolic_wl  # W1, b1, ... as MatrixSymbols; σ, φ as functions

    if target == "wl":
        return symbolic_wl(net, activations=options.activations)
    form = symbolic_sympy(net, activations=options.activations)
    if target == "sympy":
        return form
    import sympy as sp

    return sp.latex(form.expr)


def _regions(net, target: str, options: EmitOptions):
    if options.form == "tree":
        raise ConversionError(f"{net.name}: form='tree' (the decision-tree form) is not implemented yet; "
                              "use form='piecewise'")
    lower, upper = options.box if options.box is not None else (-1.0, 1.0)
    regions = net.linear_regions(lower, upper, minimal=options.minimal)
    if target == "wl":
        return regions.to_wl(call=options.call)
    return regions.to_sympy() if target == "sympy" else regions.to_latex()


def _latex(net, options: EmitOptions) -> str:
    if options.form == "expanded":  # one formula per output, as sympy writes it
        import sympy as sp

        from .sympy import to_sympy

        return sp.latex(to_sympy(net, form="expanded", **_size(options)))
    from .latex import to_latex

    return to_latex(net)
