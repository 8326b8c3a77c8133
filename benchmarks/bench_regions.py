"""Linear regions of ReLU nets: wlbridge beside affinitree 0.23 (PyPI, Rust), and the search split over workers.

Comparison: nets of affinitree's kind (7 inputs, 3-4 hidden ReLU layers of 5-10 units, random and trained)
over the box [-1,1]^7 and over all of R^7. wlbridge: ``linear_regions`` in one process (search only;
its verification at 1000 points is timed apart); "LPs" counts its Chebyshev-LP decisions (NNLS, or HiGHS at
the edge of tol), after those settled by known points. Both tools are warmed up first, then run in turn
``REPEATS`` times per row; each one's best time is reported. affinitree: an AffTree started from the same box
(``AffTree.from_poly(hyperrectangle)``, or ``AffTree.identity`` for R^7), one ``partial_ReLU`` per
neuron, then ``infeasible_elimination``; its terminal count is its region count. Counts must be equal.

Parallel: a net with >= 20,000 regions (7-6-6-6-6-1 over R^7) searched with 1 and 2 local workers and
on a local Ray instance (2 CPUs): the region lists must be identical (patterns, A, b, H, g).

    python benchmarks/bench_regions.py [--compare] [--parallel]   # both by default
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wlbridge.ir import NetBuilder  # noqa: E402


def mlp(sizes, seed=0, weights=None, name="mlp", scaled=False):
    """A ReLU MLP: random normal weights (biases * 0.5; ``scaled``: weights / sqrt(fan-in), as initialisers do),
    or the given [(W, b), ...]."""
    rng = np.random.default_rng(seed)
    b = NetBuilder(name)
    v = b.input("x", (sizes[0],))
    for i, (m, n) in enumerate(zip(sizes[1:], sizes)):
        w, c = weights[i] if weights else (rng.standard_normal((m, n)) / (np.sqrt(n) if scaled else 1.0),
                                           rng.standard_normal(m) * 0.5)
        v = b.layer("linear", [v], params={"weight": np.asarray(w, np.float64), "bias": np.asarray(c, np.float64)})
        if i < len(sizes) - 2:
            v = b.layer("elementwise", [v], attrs={"fn": "relu"})
    return b.build([v])


def trained(sizes, seed=0, steps=400):
    """An MLP trained (torch, Adam) to fit sin(x1) + x2 x3 - |x4| + 0.5 x5 on [-1,1]^7."""
    import torch

    torch.manual_seed(seed)
    layers = []
    for i, (n, m) in enumerate(zip(sizes, sizes[1:])):
        layers += [torch.nn.Linear(n, m)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    model = torch.nn.Sequential(*layers).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(2048, sizes[0], dtype=torch.float64) * 2 - 1
    y = (torch.sin(x[:, 0]) + x[:, 1] * x[:, 2] - x[:, 3].abs() + 0.5 * x[:, 4])[:, None]
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    lin = [la for la in model if isinstance(la, torch.nn.Linear)]
    return mlp(sizes, weights=[(la.weight.detach().numpy(), la.bias.detach().numpy()) for la in lin], name="trained")


def affinitree_regions(net, lo=None, hi=None):
    """(regions, seconds) by affinitree over the box [lo, hi]^n, or over R^n when lo is None."""
    from affinitree import AffFunc, AffTree, Polytope, schema

    n = net.input_shape[0]
    start = time.perf_counter()
    dd = (AffTree.identity(n) if lo is None
          else AffTree.from_poly(Polytope.hyperrectangle(n, [(lo, hi)] * n), AffFunc.identity(n), None))
    linear = [la for la in net.layers if la.op == "linear"]
    for i, la in enumerate(linear):
        w = np.asarray(la.params["weight"], dtype=np.float64)
        dd.apply_func(AffFunc.from_mats(w, np.asarray(la.params["bias"], dtype=np.float64)))
        if i < len(linear) - 1:
            for row in range(w.shape[0]):
                dd.compose(schema.partial_ReLU(w.shape[0], row))
    dd.infeasible_elimination()
    return dd.num_terminals(), time.perf_counter() - start


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


BOX, RN = ("[-1,1]^7", -1.0, 1.0), ("R^7", None, None)
REPEATS = 5  # runs of each tool per row, alternating; the best of each is reported
NETS = [("random 7-4-4-4-2", lambda: mlp([7, 4, 4, 4, 2], seed=11), (BOX, RN)),
        ("random 7-5-5-5-10", lambda: mlp([7, 5, 5, 5, 10], seed=0), (BOX, RN)),
        ("random 7-8-8-8-2", lambda: mlp([7, 8, 8, 8, 2], seed=1, scaled=True), (BOX,)),
        ("random 7-6-6-6-6-1", lambda: mlp([7, 6, 6, 6, 6, 1], seed=2, scaled=True), (BOX,)),
        ("trained 7-8-8-8-1", lambda: trained([7, 8, 8, 8, 1]), (BOX,)),
        ("trained 7-10-10-10-1", lambda: trained([7, 10, 10, 10, 1], seed=1), (BOX,))]
# over R^7 the other nets have 24,000-190,000 regions (affinitree: 22-209 s): left to --parallel's kind of run


def warm_up():
    """Both tools' imports and first calls (scipy.optimize, highspy, the Rust extension) before any timing."""
    net = mlp([7, 3, 3, 1], seed=5)
    for lo, hi in ((-1.0, 1.0), (None, None)):
        net.linear_regions(lo, hi, verify=0)
        affinitree_regions(net, lo, hi)


def compare(names=None):
    warm_up()
    print(f"wlbridge linear_regions (one process) beside affinitree 0.23; {load()}")
    print(f"{'net (ReLU)':<22} {'domain':<9} {'regions':>7} {'affinitree':>10} {'LPs':>6} {'ours s':>7} "
          f"{'verify s':>8} {'aff. s':>7} {'ours/aff':>8}")
    for name, make, domains in NETS:
        if names and not any(k in name for k in names):
            continue
        net = make()
        for domain, lo, hi in domains:
            ours, theirs = [], []
            for _ in range(REPEATS):  # the two tools in turn, each one's best run (as timeit reports)
                r = net.linear_regions(lo, hi, verify=0, max_regions=200_000)
                ours.append(r.seconds)
                count, ta = affinitree_regions(net, lo, hi)
                theirs.append(ta)
            t = time.perf_counter()
            v = r.verify(samples=1000)
            tv = time.perf_counter() - t
            assert v["covered"] == 1000 and v["max_rel_err"] <= 1e-12, v
            flag = "" if count == len(r) else "  COUNTS DIFFER"
            print(f"{name:<22} {domain:<9} {len(r):>7,} {count:>10,} {r.lps:>6,} {min(ours):>7.3f} {tv:>8.3f} "
                  f"{min(theirs):>7.3f} {min(ours) / min(theirs):>7.2f}x{flag}", flush=True)
    print(load())


def parallel():
    """The 7-6-6-6-6-1 net over all of R^7 (24,055 regions): 1 process, 2 local workers, local Ray (2 CPUs)."""
    warm_up()
    net = NETS[3][1]()
    print(f"parallel search: random 7-6-6-6-6-1 over R^7; {load()}")
    runs, seconds = {}, {}
    for label, kw in [("1 process", {}), ("2 local workers", {"jobs": 2}), ("local Ray, 2 CPUs", {"cluster": "ray", "jobs": 2})]:
        t = time.perf_counter()
        r = net.linear_regions(None, None, max_regions=200_000, verify=1000, **kw)
        wall = time.perf_counter() - t
        runs[label], seconds[label] = [reg.key() for reg in r], r.seconds
        print(f"  {label:<18} {len(r):>7,} regions {r.lps:>8,} LPs  search {r.seconds:7.2f} s  (with verification "
              f"{wall:6.2f} s)  {r.verification['covered']}/1000 covered  {r.notes[0]}  {load()}", flush=True)
    same = all(v == runs["1 process"] for v in runs.values())
    one = seconds["1 process"]
    print(f"  identical region lists: {same}; speed-up, 2 local workers: {one / seconds['2 local workers']:.2f}x; "
          f"Ray: {one / seconds['local Ray, 2 CPUs']:.2f}x")
    count, ta = affinitree_regions(net)
    print(f"  affinitree: {count:,} regions in {ta:.2f} s (ours, 1 process: {one / ta:.2f}x); {load()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--parallel", action="store_true")
    ap.add_argument("--nets", nargs="*", help="only the nets whose names contain these words")
    a = ap.parse_args()
    both = not (a.compare or a.parallel)
    if a.compare or both:
        compare(a.nets)
    if a.parallel or both:
        parallel()


if __name__ == "__main__":
    main()
