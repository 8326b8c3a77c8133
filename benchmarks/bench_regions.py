"""Linear regions of ReLU nets over a box: region count, LPs and time, beside affinitree (PyPI, optional).

wlbridge: depth-first search over activation patterns, pruned by LP feasibility (scipy HiGHS), then
every region verified against the net on random box points. affinitree: an AffTree started from the
same box (``AffTree.from_poly(hyperrectangle)``), one ``partial_ReLU`` per neuron, then
``infeasible_elimination``; its terminal count is its region count.

    python benchmarks/bench_regions.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_regions import mlp  # noqa: E402


def affinitree_regions(net, lo, hi):
    from affinitree import AffFunc, AffTree, Polytope, schema

    n = net.input_shape[0]
    start = time.perf_counter()
    dd = AffTree.from_poly(Polytope.hyperrectangle(n, [(lo, hi)] * n), AffFunc.identity(n), None)
    linear = [la for la in net.layers if la.op == "linear"]
    for i, la in enumerate(linear):
        w = np.asarray(la.params["weight"], dtype=np.float64)
        dd.apply_func(AffFunc.from_mats(w, np.asarray(la.params["bias"], dtype=np.float64)))
        if i < len(linear) - 1:
            for row in range(w.shape[0]):
                dd.compose(schema.partial_ReLU(w.shape[0], row))
    dd.infeasible_elimination()
    return dd.num_terminals(), time.perf_counter() - start


def main():
    rows = []
    for sizes, box in [([2, 8, 8, 1], 2.0), ([3, 8, 8, 2], 1.0), ([7, 5, 5, 5, 10], 1.0)]:
        net = mlp(sizes, seed=0)
        regions = net.linear_regions(-box, box)
        ver = regions.verify(samples=2000)
        try:
            a_count, a_time = affinitree_regions(net, -box, box)
            aff = f"{a_count:>6} {a_time:8.3f}"
        except ModuleNotFoundError:
            aff = "  (affinitree not installed)"
        rows.append(f"{'-'.join(map(str, sizes)):<14} [-{box:g},{box:g}]  {len(regions):>6} {regions.lps:>6} "
                    f"{regions.seconds:8.3f} {ver['covered']:>5}/{ver['samples']} {ver['max_rel_err']:8.1e}   {aff}")
    print(f"{'net (ReLU)':<14} {'box':<8} {'regions':>6} {'LPs':>6} {'s':>8} {'covered':>10} {'max rel':>8}   "
          f"{'affinitree regions':>6} {'s':>8}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
