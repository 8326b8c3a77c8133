"""A validation campaign over a zoo of model files: wall time serially, with a local process pool, and
on a local Ray instance; the reports must be identical (times aside).

The zoo (``tests/campaign_zoo.py``): nets of the case table written as ``.wlnet`` / ``.wxf`` and small
torch MLPs, CNNs and RNNs written as ``.onnx`` / ``.pt2``, into a temporary folder. Each model is
checked as ``wlbridge check`` does (engine auto: Woxi and Mathics3, sympy, the source net)::

    python benchmarks/bench_campaign.py [--models 40] [--samples 16] [--runs jobs1,jobs2,ray] [--cli]

``--cli`` times the command (``wlbridge check DIR --jobs N``, a fresh interpreter each) instead of
``check_many`` in this process. Speed-up is bounded by the cores (2 here) and by Mathics3, which
dominates each model's time. The load average is printed with the numbers: on a shared machine
the ratios move with it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import wlbridge as wb  # noqa: E402
from tests.campaign_zoo import timeless, write_zoo  # noqa: E402

RUNS = {"jobs1": dict(jobs=1), "jobs2": dict(jobs=2), "ray": dict(jobs=2, cluster="ray")}
FLAGS = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "ray": ["--jobs", "2", "--cluster", "ray"]}


def run_api(folder, name, samples):
    t0 = time.perf_counter()
    reports = wb.check_many([folder], samples=samples, **RUNS[name])
    return time.perf_counter() - t0, [timeless(r.to_dict()) for r in reports]


def run_cli(folder, name, samples):
    import json

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "wlbridge", "check", str(folder), "--json", "--samples", str(samples),
                          *FLAGS[name]], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    reports = sorted((json.loads(line) for line in out.stdout.splitlines()), key=lambda d: d["model"])
    return seconds, [timeless(r) for r in reports]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=40)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--runs", default="jobs1,jobs2,ray")
    p.add_argument("--cli", action="store_true", help="time the wlbridge command instead of check_many")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="wlbridge-zoo-") as folder:
        paths = write_zoo(folder, args.models)
        kinds = {s: sum(p.suffix == s for p in paths) for s in (".wlnet", ".wxf", ".onnx", ".pt2")}
        print(f"zoo: {len(paths)} models ({', '.join(f'{n} {k}' for k, n in kinds.items())}), "
              f"{args.samples} samples each, engine auto; {'wlbridge check' if args.cli else 'check_many'}")
        results = {}
        for name in args.runs.split(","):
            load = os.getloadavg()[0]
            seconds, reports = (run_cli if args.cli else run_api)(folder, name, args.samples)
            results[name] = (seconds, reports)
            passed = sum(r["passed"] for r in reports)
            print(f"  {name:<6} {seconds:7.1f} s wall   {passed}/{len(reports)} passed   "
                  f"(load average before: {load:.2f})", flush=True)
        first = next(iter(results.values()))[1]
        same = all(r == first for _, r in results.values())
        print(f"reports identical (times aside): {same}")
        if "jobs1" in results and "jobs2" in results:
            print(f"speed-up jobs 2 / jobs 1: {results['jobs1'][0] / results['jobs2'][0]:.2f}x")
        print(f"uptime: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min load average), "
              f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
