"""Conversion time and emitted size versus parameter count, for each form and target, with baselines.

Run: ``python benchmarks/bench_emit.py`` (``--quick`` for a smaller sweep). Prints three tables:

1. emission per MLP size (compact WL: best of 3): compact WL, expanded WL (refused past its size limit), compact sympy, LaTeX,
   Python source; parameters per second, and the baseline run in the same process: sympy's own
   ``mathematica_code`` printing the same weight matrices (15 digits, ``e`` exponents: lossy) and the
   floor of merely ``repr``-joining the weights.
2. expanded form of a width-2 tanh net by depth: ours (WL text and sympy) against a plain sympy fold with
   automatic evaluation (the classic approach), which is cut off after a time limit.
3. check time per engine for 100 samples.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wlbridge as wb  # noqa: E402
from wlbridge.errors import ExpressionTooLargeError  # noqa: E402

SEED_WIDTHS = [3, 2, 2, 2]
SWEEP = [SEED_WIDTHS, [8, 32, 32, 4], [64, 128, 128, 10], [256, 512, 512, 10], [784, 512, 512, 10],
         [784, 1024, 512, 10]]


def mlp(widths, act="sigmoid", dtype=np.float32, seed=0) -> wb.Net:
    rng = np.random.default_rng(seed)
    b = wb.NetBuilder(f"mlp{'-'.join(map(str, widths))}")
    h = b.input("x", (widths[0],))
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        w = (rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
        h = b.layer("linear", [h], params={"weight": w, "bias": rng.normal(size=n_out).astype(dtype) * 0.1})
        if i < len(widths) - 2:
            h = b.layer("elementwise", [h], attrs={"fn": act})
    return b.build([h])


def cnn(channels=(3, 64, 128, 256, 256), side=16, dtype=np.float32, seed=0) -> wb.Net:
    """A VGG-like CNN (3x3 convolutions + ReLU, 2x2 max pooling after every second one, a linear head)."""
    rng = np.random.default_rng(seed)
    b = wb.NetBuilder("cnn" + "-".join(map(str, channels)))
    v = b.input("x", (channels[0], side, side))
    for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
        w = (rng.normal(size=(c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(dtype)
        v = b.layer("conv", [v], params={"weight": w, "bias": (rng.normal(size=c_out) * 0.1).astype(dtype)},
                    attrs={"padding": ((1, 1), (1, 1))})
        v = b.layer("elementwise", [v], attrs={"fn": "relu"})
        if i % 2:
            v = b.layer("pool", [v], attrs={"kind": "max", "kernel": (2, 2), "stride": (2, 2)})
            side //= 2
    v = b.layer("flatten", [v])
    n = channels[-1] * side * side
    w = (rng.normal(size=(10, n)) / np.sqrt(n)).astype(dtype)
    return b.build([b.layer("linear", [v], params={"weight": w, "bias": np.zeros(10, dtype)})])


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t


def fmt_size(n: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def emission_table(sweep):
    from sympy.printing.mathematica import mathematica_code
    import sympy as sp

    head = ("net", "params", "WL compact", "M params/s", "size", "WL expanded", "sympy compact", "LaTeX",
            "Python", "baseline: sympy mathematica_code", "baseline: repr join")
    rows = []
    for widths in sweep:
        net = mlp(widths)
        p = net.param_count
        wl, t_wl = timed(net.to_wl)
        t_wl = min([t_wl] + [timed(net.to_wl)[1] for _ in range(2)])  # best of 3
        try:
            exp, t_exp = timed(net.to_wl, form="expanded")
            exp_cell = f"{t_exp:.3f} s, {fmt_size(len(exp))}"
        except ExpressionTooLargeError:
            exp_cell = "refused (size limit)"
        try:
            _, t_sym = timed(net.to_sympy)
            sym_cell = f"{t_sym:.3f} s"
        except ExpressionTooLargeError:
            sym_cell = "refused (size limit)"
        _, t_tex = timed(net.to_latex)
        _, t_py = timed(net.to_python)
        weights = [v for layer in net.layers for v in layer.params.values()]
        if p <= 200_000:
            _, t_mc = timed(lambda: [mathematica_code(sp.Matrix(np.atleast_2d(w).astype(float).tolist()))
                                     for w in weights])
            mc_cell = f"{t_mc:.3f} s ({t_mc / t_wl:.0f}x ours)"
        else:
            mc_cell = "skipped (> 200k params)"
        _, t_repr = timed(lambda: [", ".join(map(repr, w.astype(np.float64).ravel().tolist())) for w in weights])
        rows.append(("-".join(map(str, widths)), f"{p:,}", f"{t_wl:.3f} s", f"{p / t_wl / 1e6:.2f}",
                     fmt_size(len(wl)), exp_cell, sym_cell, f"{t_tex:.3f} s", f"{t_py:.3f} s", mc_cell,
                     f"{t_repr:.3f} s"))
    print_table("1. Emission time and size by parameter count (float32 MLPs, sigmoid)", head, rows)


def cnn_table(repeat=3):
    """Compact WL emission of a float32 CNN (best of ``repeat``) against ``repr`` of its weights."""
    net = cnn()
    p = net.param_count
    t_wl = min(timed(net.to_wl)[1] for _ in range(repeat))
    weights = [v for layer in net.layers for v in layer.params.values()]
    t_repr = min(timed(lambda: [repr(w.astype(np.float64).tolist()) for w in weights])[1] for _ in range(repeat))
    rows = [(net.name, f"{p:,}", f"{t_wl:.3f} s", f"{p / t_wl / 1e6:.2f}", fmt_size(len(net.to_wl())),
             f"{t_repr:.3f} s ({t_repr / t_wl:.1f}x ours)")]
    print_table("1b. Compact WL emission of a float32 CNN (best of 3)",
                ("net", "params", "WL compact", "M params/s", "size", "baseline: repr of the weights"), rows)


class _Timeout(Exception):
    pass


def _alarm(seconds):
    def handler(signum, frame):
        raise _Timeout

    signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)


def naive_sympy_fold(net):
    """The classic approach: fold the layers with sympy's default (automatic) evaluation."""
    import sympy as sp

    xs = sp.Matrix(sp.symbols(f"x1:{net.input_shape[0] + 1}"))
    h = xs
    for layer in net.layers:
        if layer.op == "linear":
            h = sp.Matrix(layer.params["weight"].astype(float)) * h + sp.Matrix(layer.params["bias"].astype(float))
        else:
            h = h.applyfunc(sp.tanh)
    return h


def depth_table(depths, naive_limit_s):
    head = ("depth", "WL expanded", "WL size", "sympy expanded", "baseline: sympy fold (auto-evaluation)")
    rows, naive_dead = [], False
    for d in depths:
        net = mlp([2] * (d + 1) + [1], act="tanh", dtype=np.float64)
        wl, t_wl = timed(net.to_wl, form="expanded", max_size=10**9)
        _, t_sym = timed(net.to_sympy, form="expanded")
        if naive_dead:
            naive = f"not run (> {naive_limit_s} s at a smaller depth)"
        else:
            try:
                _alarm(naive_limit_s)
                _, t_naive = timed(naive_sympy_fold, net)
                naive = f"{t_naive:.2f} s ({t_naive / max(t_wl, 1e-9):.0f}x ours)"
            except _Timeout:
                naive, naive_dead = f"> {naive_limit_s} s (cut off)", True
            finally:
                signal.alarm(0)
        rows.append((d, f"{t_wl:.4f} s", fmt_size(len(wl)), f"{t_sym:.4f} s", naive))
    print_table("2. Expanded form of a width-2 tanh net by depth (nested size grows as O(width^depth))",
                head, rows)


def check_table(sweep, samples):
    from wlbridge.check.engines import get_engines
    from wlbridge.check.roundtrip import check

    head = ("net", "params", "evaluator", "samples", "seconds", "max rel err")
    rows, engines = [], get_engines("embedded")
    for widths in sweep:
        net = mlp(widths)
        rep = check(net, engine=engines, samples=samples, mathics_budget=30.0)
        for r in rep.rows:
            rows.append(("-".join(map(str, widths)), f"{net.param_count:,}", r.evaluator, r.samples,
                         f"{r.seconds:.2f}", r.max_rel if isinstance(r.max_rel, str) else f"{r.max_rel:.1e}"))
    for engine in engines:
        engine.close()
    print_table(f"3. check time per evaluator ({samples} samples; Mathics3 gets a cost-bounded subset)", head, rows)


def print_table(title, head, rows):
    cols = list(zip(head, *rows)) if rows else [(h,) for h in head]
    widths = [max(len(str(c)) for c in col) for col in cols]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sweep (CI smoke run)")
    ap.add_argument("--emission-only", action="store_true", help="only tables 1 and 1b (emission)")
    args = ap.parse_args(argv)
    sweep = SWEEP[:3] if args.quick else SWEEP
    emission_table(sweep)
    cnn_table()
    if args.emission_only:
        return
    depth_table(range(2, 7 if args.quick else 13), naive_limit_s=5 if args.quick else 60)
    check_table(sweep[:2] if args.quick else sweep[:4], samples=100)


if __name__ == "__main__":
    main()
