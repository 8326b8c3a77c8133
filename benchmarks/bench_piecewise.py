"""Piecewise-linear nets as formulas: the size of the flat, minimal and tree forms, and the sympy side.

Three tables, each printed with the load average (2 cores shared: read ratios, not absolute times):

1. the 3-8-8-2 ReLU net of ``examples/math_forms.py`` over [-1, 1]^3: WL characters and emission time of
   ``form="piecewise"``, ``form="piecewise", minimal=True`` and ``form="tree"``;
2. the 4-6-6-5-2 ReLU/LeakyReLU/ELU net (issue 18): ``to_sympy(form="expanded")`` build time, its size
   (operations after ``cse``), plain ``sympy.lambdify`` time, and the max relative error against the reference;
3. the sympy check row on the 256-512-512-10 float32 MLP of ``bench_check.py`` against the numpy float64
   reference on the same 16 samples (see :func:`sympy_row_table` on BLAS threads).

Run: ``python benchmarks/bench_piecewise.py`` (about half a minute).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import wlbridge as wb  # noqa: E402
from tests.cases import net46652  # noqa: E402


def net3882():
    """The 3-8-8-2 ReLU net of examples/math_forms.py (BatchNorm and Dropout folded by simplify)."""
    from examples.math_forms import relu_3882

    return wb.from_torch(relu_3882(), (3,)).simplify()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def forms_table() -> None:
    net = net3882()
    regions = net.linear_regions(-1, 1)
    print(f"3-8-8-2 ReLU net over [-1, 1]^3: {len(regions)} regions")
    print(f"{'form':<28} {'WL chars':>10} {'seconds':>8}")
    for label, kw in [("piecewise", {}), ("piecewise, minimal=True", {"minimal": True}), ("tree", {})]:
        form = label.split(",")[0]
        code, s = timed(lambda: net.to_wl(form=form, box=(-1, 1), **kw))
        print(f"{label:<28} {len(code):>10,} {s:>8.2f}")


def expanded_table() -> None:
    import sympy as sp

    from wlbridge.emit.sympy import input_symbols, lambdify_flat

    net = net46652()
    expr, build = timed(lambda: net.to_sympy(form="expanded"))
    (reps, red), cse_s = timed(lambda: sp.cse(list(expr)))
    ops = sum(sp.count_ops(v) for _, v in reps) + sum(sp.count_ops(v) for v in red)
    fn, lam = timed(lambda: sp.lambdify(input_symbols(net)[0], list(expr), "numpy"))
    ours, lam2 = timed(lambda: lambdify_flat(input_symbols(net)[0], list(expr)))
    x = np.random.default_rng(1).standard_normal((10_000, 4)) * 2
    want = net(x)
    err, err2 = (float(np.max(np.abs(np.stack(f(*x.T), axis=1) - want) / np.maximum(1.0, np.abs(want))))
                 for f in (fn, ours))
    print(f"4-6-6-5-2 ReLU/LeakyReLU/ELU expanded sympy: build {build:.3f} s, {ops} operations after cse "
          f"({cse_s:.2f} s); at 10,000 points: sympy.lambdify {lam:.2f} s, max rel err {err:.1e} (sympy prints "
          f"15-digit floats); wlbridge.emit.sympy.lambdify_flat {lam2:.2f} s, max rel err {err2:.1e}")


def sympy_row_table(samples: int = 16) -> None:
    """The sympy row as ``check`` reports it (its worker, forked after the activations are compiled) against
    the median of 5 reference runs. Run with OPENBLAS_NUM_THREADS=1 on a loaded machine: with two BLAS threads
    on two busy cores one product waits for the other thread (0.4 ms or 120 ms for the same reference)."""
    from bench_emit import mlp

    from wlbridge.check.sampling import sample_inputs

    net = mlp([256, 512, 512, 10])
    xs = sample_inputs(net, samples, 0)
    net(*xs)
    ref = float(np.median([timed(lambda: net(*xs))[1] for _ in range(5)]))
    rows = [next(r for r in net.check(engine=[], samples=samples).rows if r.evaluator == "sympy").seconds
            for _ in range(3)]
    print(f"256-512-512-10 MLP, {samples} samples: check's sympy row {min(rows) * 1e3:.1f}-{max(rows) * 1e3:.1f} ms, "
          f"numpy reference {ref * 1e3:.2f} ms (ratio {min(rows) / ref:.0f}-{max(rows) / ref:.0f}x; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})")


def main() -> int:
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    forms_table()
    expanded_table()
    sympy_row_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
