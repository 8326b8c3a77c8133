"""From numbers to mathematics: the simplified, symbolic, rounded, piecewise, Jacobian and C forms of
the seed net and of a 3-8-8-2 ReLU net, each with its check. Output is what README shows.

Run: ``python examples/math_forms.py``
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import wlbridge as wb  # noqa: E402
from seed_net import train_seed_net  # noqa: E402


def torch_jacobian_error(module, jac, shape, n=20):
    worst = 0.0
    for x in np.random.default_rng(0).standard_normal((n, *shape)):
        want = torch.autograd.functional.jacobian(lambda t: module(t[None])[0], torch.tensor(x)).numpy()
        worst = max(worst, float(np.max(np.abs(jac(x) - want) / np.maximum(1.0, np.abs(want)))))
    return worst


def c_error(net, n=1000):
    code = net.to_c(name="f")
    with tempfile.TemporaryDirectory() as tmp:
        src, lib = Path(tmp) / "f.c", Path(tmp) / "f.so"
        src.write_text(code.source)
        subprocess.run([shutil.which("cc"), "-std=c99", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"],
                       check=True)
        f = ctypes.CDLL(str(lib)).f
        f.restype = None
        xs = np.random.default_rng(1).standard_normal((n, code.n_inputs))
        ys = np.zeros((n, code.n_outputs))
        for x, y in zip(xs, ys):
            f(x.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p))
    ref = net(xs)
    return code, float(np.max(np.abs(ys - ref) / np.maximum(1.0, np.abs(ref))))


def relu_3882():
    """A 3-8-8-2 ReLU module with BatchNorm (running statistics set) and Dropout, in eval mode."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 8), nn.ReLU(),
                           nn.Linear(8, 2)).double().eval()
    with torch.no_grad():
        module[1].running_mean.uniform_(-0.5, 0.5)
        module[1].running_var.uniform_(0.5, 2.0)
    return module


def main():
    torch.set_num_threads(1)
    seed = train_seed_net()
    net = wb.from_torch(seed, (3,))
    print("== seed net")
    print("symbolic:", net.to_sympy(weights="symbolic", activations="symbolic").expr)
    print("rounded: ", net.to_wl(form="expanded", call="sequence", digits=3)[:150], "...")
    print("         ", net.check(engine="woxi", digits=3, sympy=False).notes[-1])
    jac = net.jacobian()
    print("jacobian:", jac.to_sympy(form="expanded", digits=3)[0, 0].__str__()[:110], "...")
    print(f"          vs torch autograd (20 points): max rel err {torch_jacobian_error(seed, jac, (3,)):.1e}; "
          f"Woxi check of its compact code: {jac.check(engine='woxi', sympy=False).max_rel_err:.1e}")
    code, err = c_error(net)
    print(f"C:        {code.source.count(chr(10))} lines, 1000 points: max rel err {err:.1e}")

    print("== 3-8-8-2 ReLU net (with BatchNorm and Dropout)")
    module = relu_3882()
    net = wb.from_torch(module, (3,))
    simple = net.simplify()
    print(f"simplify: {len(net.layers)} layers -> {len(simple.layers)} "
          f"({', '.join(la.op for la in simple.layers)}); Woxi check of the simplified code against the net: "
          f"{wb.Net.check(net, engine='woxi', code=simple.to_wl(), sympy=False).max_rel_err:.1e}")
    print("symbolic:", simple.to_sympy(weights="symbolic").expr)
    t = time.perf_counter()
    regions = simple.linear_regions(-1, 1, verify=10_000)
    print(f"regions:  {regions}")
    r = regions.regions[0]
    print(f"          region 0: {len(r.g)} inequalities H x <= g, witness {np.round(r.witness, 3).tolist()}, "
          f"y = {np.round(r.A, 3).tolist()} x + {np.round(r.b, 3).tolist()}")
    sizes = {label: len(simple.to_wl(form=form, box=(-1, 1), **kw)) for label, form, kw in
             [("flat", "piecewise", {}), ("minimal", "piecewise", {"minimal": True}), ("tree", "tree", {})]}
    print(f"          WL Piecewise {sizes['flat']:,} chars, with minimal conditions {sizes['minimal']:,}; "
          f"decision tree {sizes['tree']:,}")
    for form in ("piecewise", "tree"):
        r = simple.check(engine="woxi", form=form, box=(-1, 1), samples=32)
        print(f"          check(form={form!r}, box=(-1, 1)), 32 box points: {r.verdict}, max rel err {r.max_rel_err:.1e}")
    print(f"          ({time.perf_counter() - t:.1f} s in all)")
    jac = simple.jacobian()
    print(f"jacobian: {len(jac.layers)} layers; vs torch autograd: max rel err {torch_jacobian_error(module, jac, (3,)):.1e}")
    code, err = c_error(simple)
    print(f"C:        {code.source.count(chr(10))} lines, 1000 points: max rel err {err:.1e}")


if __name__ == "__main__":
    main()
