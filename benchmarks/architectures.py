"""Torchvision-like classifiers (tests/models_zoo.py, random weights, eval) through ``from_torch`` and
through ONNX export: max |net - torch| / max |torch| on two random inputs, float32 weights.

    python benchmarks/architectures.py

torch's legacy ONNX exporter refuses AdaptiveAvgPool2d((7, 7)) on maps smaller than 7x7 (vgg11,
alexnet); those two go through the dynamo exporter (one sample: its graph indexes the batch axis).
"""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wlbridge as wb  # noqa: E402
from tests.models_zoo import ZOO, build  # noqa: E402


def _onnx(m, x, name):
    if name in ("vgg11", "alexnet"):
        path = Path(tempfile.mkdtemp()) / "m.onnx"
        with contextlib.redirect_stdout(io.StringIO()):  # the dynamo exporter prints its progress
            torch.onnx.export(m, (x[:1],), path, dynamo=True, input_names=["x"], external_data=False)
        return wb.from_onnx(path), "dynamo"
    f = io.BytesIO()
    torch.onnx.export(m, (x,), f, dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "N"}})
    return wb.from_onnx(onnx.load_from_string(f.getvalue())), "legacy"


def main() -> None:
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    print(f"{'model':20s} {'params':>8s} {'from_torch':>11s} {'via ONNX':>10s} exporter  seconds")
    for name, (_, shape) in ZOO.items():
        m = build(name)
        x = torch.tensor(np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32))
        want = m(x).detach().numpy()
        t = time.perf_counter()
        net = wb.from_torch(m, shape)
        e_torch = np.abs(net(x.numpy()) - want).max() / np.abs(want).max()
        onet, how = _onnx(m, x, name)
        xs = x.numpy()[:1] if how == "dynamo" else x.numpy()
        e_onnx = np.abs(onet(xs) - want[:len(xs)]).max() / np.abs(want).max()
        n = sum(p.numel() for p in m.parameters())
        print(f"{name:20s} {n:8d} {e_torch:11.2e} {e_onnx:10.2e} {how:9s} {time.perf_counter() - t:6.1f}")


if __name__ == "__main__":
    main()
