"""The net and its formula along a random line through input space, with the error on a log scale.

``plot_check(net)`` (or ``report.plot()`` after a check) evaluates, at ``points`` inputs
``x0 + t d`` (``x0`` and the unit direction ``d`` seeded normal draws, ``t`` in ``[-span, span]``),
the numpy float64 reference and the WL formula in an engine (the first of ``engine``; sympy when
no engine is installed), and plots both and their absolute difference. Needs matplotlib
(``pip install 'wlbridge[plot]'``).
"""
from __future__ import annotations

import numpy as np

from .check.report import CODE_RTOL
from .check.sampling import index_range
from .errors import ConversionError, EngineError, EngineNotFoundError

FLOOR = 1e-18  # exact agreement is drawn at this height on the log axis


def line_inputs(net, points: int = 200, span: float = 3.0, seed: int = 0):
    """``t`` and the batch ``x0 + t d`` (one array per input port) along a seeded random line."""
    if any(index_range(net, p) for p in net.inputs):
        raise ConversionError(f"{net.name}: integer (index) inputs have no line through them to plot")
    rng = np.random.default_rng(seed)
    x0 = [rng.standard_normal(p.shape) for p in net.inputs]
    d = [rng.standard_normal(p.shape) for p in net.inputs]
    norm = np.sqrt(sum(float(np.sum(v * v)) for v in d)) or 1.0
    t = np.linspace(-span, span, points)
    return t, [a[None] + t.reshape(-1, *[1] * a.ndim) * (v[None] / norm) for a, v in zip(x0, d)]


def evaluate_formula(net, xs, code=None, call="list", engine="auto"):
    """The formula's outputs on ``xs`` and the evaluator's name (a WL engine, else sympy)."""
    from .check.engines import get_engines

    try:
        engines = get_engines(engine) if isinstance(engine, str) else [engine]
    except EngineNotFoundError:
        engines = []
    if not engines:
        from .check.sympy_eval import evaluate_sympy

        return evaluate_sympy(net, xs), "sympy"
    first = engines[0]
    try:
        result = first.apply(code or net.to_wl(call=call), xs, call=call, output_shapes=net.output_shapes)
    finally:
        if isinstance(engine, str):
            for e in engines:
                e.close()
    if result.values is None:
        raise EngineError(f"{first.name}: {result.problem}")
    return result.values, first.name


def plot_check(net, code: str | None = None, *, call: str = "list", engine="auto", points: int = 200,
               span: float = 3.0, seed: int = 0, outputs: int = 4, figsize=(8, 6)):
    """A matplotlib ``Figure``: up to ``outputs`` output scalars of the net and the formula along a
    random line (top) and ``|formula - net|`` on a log scale with the check's tolerance (bottom)."""
    from matplotlib.figure import Figure

    t, xs = line_inputs(net, points, span, seed)
    with np.errstate(all="ignore"):
        ref = np.concatenate([np.asarray(r, dtype=np.float64).reshape(points, -1) for r in _list(net(*xs))], axis=1)
    got, name = evaluate_formula(net, xs, code, call, engine)
    got = np.concatenate([np.asarray(g, dtype=np.float64).reshape(points, -1) for g in got], axis=1)
    fig = Figure(figsize=figsize, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    colours = [f"C{k}" for k in range(10)]
    for k in range(min(outputs, ref.shape[1])):
        c = colours[k % 10]
        top.plot(t, ref[:, k], color=c, lw=2.5, alpha=0.45, label=f"net, output {k + 1}")
        top.plot(t, got[:, k], color=c, lw=1, ls="--", label=f"formula ({name}), output {k + 1}")
        err = np.maximum(np.abs(got[:, k] - ref[:, k]), FLOOR)
        bottom.semilogy(t, err, ".", color=c, ms=3, label=f"output {k + 1}")
    tol = CODE_RTOL * max(1.0, float(np.nanmax(np.abs(ref))))
    bottom.axhline(tol, color="k", ls=":", lw=1, label=f"check tolerance ({tol:.1e})")
    top.set_ylabel("output")
    top.set_title(f"{net.name}: the net (float64 reference) and its formula ({name}) along a random line")
    top.legend(fontsize="small", ncols=2)
    bottom.set_ylabel(f"|formula - net|  (0 drawn at {FLOOR:.0e})")
    bottom.set_xlabel("t  (input = x0 + t d, |d| = 1)")
    bottom.legend(fontsize="small", ncols=3)
    _show_in_notebooks(Figure)
    return fig


def _show_in_notebooks(figure_class) -> None:
    """In IPython, display a returned Figure as PNG (it is not a pyplot figure, so nothing else shows it)."""
    import sys

    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(figure_class, _png)


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _list(v):
    return v if isinstance(v, (list, tuple)) else [v]
