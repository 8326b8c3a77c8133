"""``check`` end to end with the default engines, each row against its floor, on three net sizes.

Rows run at the same time (a worker process each), so the total is about the slowest row. The WL
engines get the code's arrays from files (``arrays="files"``, the default; ``--arrays inline`` for
the code as text): each engine row shows its read and evaluate seconds, and how many samples it
ran (an engine plans its samples from its measured first sample). Floors, measured in the same
process on the same batch:

- sympy: the numpy float64 reference (``net(x)``) -- ratio = sympy row / reference;
- Woxi: with ``--woxi-floor``, Woxi parsing the code as text (the function and the input batch, not
  applied; ~65 us per number, docs/upstream/woxi-parse-speed.md): the old floor, which the file
  route goes under;
- Mathics3: its cost model's prediction -- ratio = measured / predicted (skipped rows: the prediction).

Nets: a 256-512-512-10 float32 MLP (sigmoid), ``ML_Supergroup_Demo_Net.wlnet`` (fixture), and a
squeezenet1_1-sized CNN written in torch (1.2M parameters, 3x224x224; no torchvision)::

    python benchmarks/bench_check.py [--nets mlp,supergroup,squeezenet] [--samples 16] [--timeout 120]
                                     [--arrays files|inline] [--woxi-floor]

Heavy (minutes of both cores): run it on a quiet machine; the load average is printed with the table.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import wlbridge as wb  # noqa: E402
from wlbridge.check.base import batch_arguments  # noqa: E402
from wlbridge.check.engines import WoxiEngine, mathics_cost  # noqa: E402
from wlbridge.check.progress import woxi_seconds  # noqa: E402
from wlbridge.check.roundtrip import DEFAULT_MATHICS_BUDGET, check  # noqa: E402
from wlbridge.check.sampling import sample_inputs  # noqa: E402
from wlbridge.check.worker import WorkerTimeout, run_killable  # noqa: E402


def mlp_net():
    from bench_emit import mlp

    return mlp([256, 512, 512, 10])


def supergroup_net():
    from bench_cnn import load_net

    return load_net("ml_supergroup")


def squeezenet_net():
    """squeezenet1_1's architecture (torchvision's layer for layer), random weights, via from_torch."""
    import torch
    from torch import nn

    class Fire(nn.Module):
        def __init__(self, cin, squeeze, e1, e3):
            super().__init__()
            self.squeeze, self.relu = nn.Conv2d(cin, squeeze, 1), nn.ReLU()
            self.e1, self.e3 = nn.Conv2d(squeeze, e1, 1), nn.Conv2d(squeeze, e3, 3, padding=1)

        def forward(self, x):
            s = self.relu(self.squeeze(x))
            return torch.cat([self.relu(self.e1(s)), self.relu(self.e3(s))], 1)

    pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(), pool(), Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
        Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(), Fire(256, 48, 192, 192),
        Fire(384, 48, 192, 192), Fire(384, 64, 256, 256), Fire(512, 64, 256, 256),
        nn.Conv2d(512, 1000, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    return wb.from_torch(model, input_shape=(3, 224, 224))


NETS = {"mlp": mlp_net, "supergroup": supergroup_net, "squeezenet": squeezenet_net}


def reference_seconds(net, xs) -> float:
    net(*xs)  # warm
    t0 = time.perf_counter()
    for _ in range(5):
        net(*xs)
    return (time.perf_counter() - t0) / 5


def woxi_parse_seconds(code: str, xs, timeout: float) -> float | None:
    """Woxi's time to parse the function and the batch (evaluated as a statement, not applied)."""
    engine = WoxiEngine()
    text = f"wlbridgeF = {code}; wlbridgeP = {batch_arguments(xs, 'list', engine.number)}; 0"

    def parse():
        t0 = time.perf_counter()
        engine.evaluate_raw(text)
        return time.perf_counter() - t0
    try:
        return run_killable(parse, timeout)
    except WorkerTimeout:
        return None


def run(name: str, samples: int, timeout: float, arrays: str = "files", woxi_floor: bool = False) -> list[tuple]:
    net = NETS[name]()
    if net is None:
        print(f"{name}: fixture not found", flush=True)
        return []
    xs = sample_inputs(net, samples, 0)
    code = net.to_wl()
    woxi_est = woxi_seconds(len(code), samples, sum(x[0].size for x in xs))
    floors = {"sympy": reference_seconds(net, xs),  # Woxi's floor is not measured when it cannot finish
              "woxi": woxi_parse_seconds(code, xs, timeout) if woxi_floor and woxi_est < timeout else None}
    t0 = time.perf_counter()
    report = check(net, samples=samples, timeout=timeout, arrays=arrays,
                   on_row=lambda r: print(f"  [{time.perf_counter() - t0:6.1f} s] {r}"[:300], flush=True))
    total = time.perf_counter() - t0
    once, each = mathics_cost(code, net, compact=True)
    rows = []
    for r in report.rows:
        if r.evaluator == "mathics":
            floor = once + each * max(r.samples, 1)
            label = f"{floor:.1f} s (predicted)"
        else:
            floor = floors.get(r.evaluator)
            label = "-" if floor is None else f"{floor:.3f} s"
        ratio = f"{r.seconds / floor:.2f}" if floor and r.seconds and not r.timed_out and r.passed is not None else "-"
        split = (f"{r.arrays}: {r.read_seconds:.2f} + {r.evaluate_seconds:.2f}" if r.arrays else "-")
        start = f"{r.start_seconds:.1f}" if r.arrays else "-"
        rows.append((name, f"{net.param_count:,}", r.evaluator, r.samples or "-", f"{r.seconds:.2f}", split, start,
                     label, ratio, r.status))
    rows.append((name, "", "total (wall)", samples, f"{total:.1f}", "", "", "", "", report.verdict))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="mlp,supergroup,squeezenet")
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--arrays", choices=["files", "inline"], default="files")
    ap.add_argument("--woxi-floor", action="store_true", help="also time Woxi parsing the code as text (slow)")
    args = ap.parse_args(argv)
    rows = []
    for name in args.nets.split(","):
        samples = 2 if name == "supergroup" and args.samples == 16 else args.samples
        print(f"{name}: check(samples={samples}, timeout={args.timeout:g}, arrays={args.arrays!r}), default engines",
              flush=True)
        rows += run(name, samples, args.timeout, args.arrays, args.woxi_floor)
    head = ("net", "params", "evaluator", "samples", "seconds", "arrays: read + evaluate", "start-up", "floor",
            "ratio", "result")
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows)]
    print(f"\ncheck with the default engines (mathics budget {DEFAULT_MATHICS_BUDGET:g} s after its start-up); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for line in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
