"""Speed of the emitted C (to_c, cc -O2) per sample, against the numpy reference and torch (float64, CPU).

Per net: microseconds per sample for a batch of N (C: a loop over the generated function;
numpy/torch: one batched call) and for one sample at a time (C through ctypes includes the call
overhead), with the C result's max relative error against the reference.

    python benchmarks/bench_c.py [--batch 10000]
"""
from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wlbridge as wb  # noqa: E402


def nets():
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    yield "3-8-8-2 relu", nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)), (3,)
    yield "64-128-128-10 tanh", nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(),
                                              nn.Linear(128, 10)), (64,)
    yield "cnn 2x6x6", nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                     nn.Linear(27, 2)), (2, 6, 6)


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def build(code, tmp):
    src = Path(tmp) / f"{code.name}.c"
    src.write_text(code.source + f"\nvoid {code.name}_batch(long n, const double *x, double *y)\n{{\n"
                   f"    for (long i = 0; i < n; i++) {code.name}(x + i * {code.n_inputs}, y + i * {code.n_outputs});\n}}\n")
    lib = Path(tmp) / f"{code.name}.so"
    start = time.perf_counter()
    subprocess.run([shutil.which("cc"), "-std=c99", "-O2", "-shared", "-fPIC", "-o", str(lib), str(src), "-lm"], check=True)
    return ctypes.CDLL(str(lib)), time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    import torch

    n = args.batch
    print(f"{'net':<20} {'C lines':>8} {'cc s':>6} | per sample, batch of {n} (us): {'C':>7} {'numpy':>7} {'torch':>7} | "
          f"one at a time (us): {'C':>6} {'numpy':>7} {'torch':>7} | C max rel err")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (label, module, shape) in enumerate(nets()):
            module = module.double().eval()
            net = wb.from_torch(module, shape)
            code = net.to_c(name=f"net{k}")
            lib, cc_s = build(code, tmp)
            X = np.random.default_rng(0).standard_normal((n, *shape))
            xf = np.ascontiguousarray(X.reshape(n, -1))
            y = np.zeros((n, code.n_outputs))
            batch = getattr(lib, f"{code.name}_batch")
            batch.restype = None
            one = getattr(lib, code.name)
            one.restype = None
            p = ctypes.c_void_p
            c_b = best(lambda: batch(ctypes.c_long(n), xf.ctypes.data_as(p), y.ctypes.data_as(p)))
            ref = net(X).reshape(n, -1)
            err = float(np.max(np.abs(y - ref) / np.maximum(1.0, np.abs(ref))))
            np_b = best(lambda: net(X))
            tx = torch.tensor(X)
            with torch.no_grad():
                t_b = best(lambda: module(tx))
                m = 200
                t_1 = best(lambda: [module(tx[i:i + 1]) for i in range(m)]) / m
            c_1 = best(lambda: [one(xf[i].ctypes.data_as(p), y[i].ctypes.data_as(p)) for i in range(m)]) / m
            np_1 = best(lambda: [net(X[i]) for i in range(m)]) / m
            us = 1e6
            print(f"{label:<20} {code.source.count(chr(10)):>8} {cc_s:6.2f} | {'':>29}{c_b / n * us:7.3f} "
                  f"{np_b / n * us:7.3f} {t_b / n * us:7.3f} | {'':>19}{c_1 * us:6.1f} {np_1 * us:7.1f} {t_1 * us:7.1f} | "
                  f"{err:.1e}")


if __name__ == "__main__":
    main()
