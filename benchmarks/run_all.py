"""Run every benchmark and print its tables: ``python benchmarks/run_all.py [--quick]``.

- ``bench_emit.py``: emission time and size versus parameter count, the expanded-form depth sweep
  against a plain sympy fold, and check time per engine (baselines in the same process);
- ``bench_check.py`` (not with ``--quick``: minutes): ``check`` end to end on an MLP, a real CNN
  and a squeezenet-sized CNN, each row against its floor;
- ``onnx_conformance.py``: the ONNX backend test data through the ONNX front end, the emitters and the
  engines (with ``--quick``: the model suites only, Woxi only);
- ``bench_regions.py``: linear-region counts and time beside affinitree; ``bench_c.py``: the emitted C's
  speed per sample against the numpy reference and torch;
- ``architectures.py``, ``sequence_models.py``, ``onnx_zoo.py`` (not with ``--quick``): torchvision-like
  classifiers, the transformer / LSTM / GRU of issue 10 through from_torch, ONNX and ``.pt2``, checked and
  written as ``.wlnet``; issue 17's ONNX zoo per exporter and opset.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    runs = [[str(HERE / "bench_emit.py")] + (["--quick"] if quick else []),
            [str(HERE / "onnx_conformance.py")] + (["--models-only", "--engines", "woxi"] if quick else []),
            [str(HERE / "bench_regions.py")], [str(HERE / "bench_c.py")] + (["--batch", "1000"] if quick else [])]
    if not quick:
        runs.insert(1, [str(HERE / "bench_check.py")])
        runs += [[str(HERE / "architectures.py")], [str(HERE / "sequence_models.py")], [str(HERE / "onnx_zoo.py")]]
    status = 0
    for args in runs:
        print(f"\n=== {' '.join(Path(a).name if a.endswith('.py') else a for a in args)}", flush=True)
        status |= subprocess.call([sys.executable, *args])
    return status


if __name__ == "__main__":
    sys.exit(main())
