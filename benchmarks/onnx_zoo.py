"""The public-shaped ONNX zoo (tests/onnx_zoo.py) as exporters write it: each net exported per row of its
table entry, converted, compared with onnxruntime and torch at batch size 5 (exported with 2, symbolic
batch axis), and checked in Woxi (3 samples).

    python benchmarks/onnx_zoo.py [NAME ...]
"""
from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wlbridge as wb  # noqa: E402
from tests import onnx_zoo  # noqa: E402


def row(name: str, exporter: str, opset: int, folder: Path) -> str:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module, path = onnx_zoo.export(name, exporter, opset, folder / f"{name}-{exporter}-{opset}.onnx")
    t = time.perf_counter()
    try:
        net = wb.load(path)
    except wb.WlbridgeError as e:
        return f"{name:<10} {exporter:<7} {opset:>5}  refused: {e}"
    torch.manual_seed(10)
    x = torch.randn(5, *onnx_zoo.ZOO[name].input_shape)
    got = net(x.numpy().astype(np.float64))
    ort = np.abs(got - net.origin.evaluate(x.numpy())[0]).max()
    tor = np.abs(got - module(x).detach().numpy()).max()
    report = net.check(engine="woxi", samples=3)
    woxi = max((r.max_abs for r in report.rows if r.evaluator.lower().startswith("woxi")), default=float("nan"))
    return (f"{name:<10} {exporter:<7} {opset:>5} {net.param_count:>7} {len(net.layers):>6}  {ort:9.1e} {tor:9.1e}"
            f"  {report.verdict:<7} {woxi:9.1e} {time.perf_counter() - t:7.1f}")


def main(names) -> None:
    print(f"{'net':<10} {'export':<7} {'opset':>5} {'params':>7} {'layers':>6}  {'vs ort':>9} {'vs torch':>9}"
          f"  {'woxi':<7} {'woxi err':>9} {'seconds':>7}")
    with tempfile.TemporaryDirectory() as d:
        for name in names or onnx_zoo.ZOO:
            for exporter, opset in onnx_zoo.ZOO[name].exports:
                print(row(name, exporter, opset, Path(d)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
