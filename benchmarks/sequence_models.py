"""Sequence models of issue 10 (float64, random weights, eval) through every route: convert, compare with
torch, check the compact WL in Woxi and sympy, and write / read back as ``.wlnet``.

    python benchmarks/sequence_models.py [--samples 3]

Columns: the route; the net's max relative error against torch's forward on 4 inputs; the compact WL's
size; the check's max relative error and seconds per sample in Woxi and sympy, with the ratio of Woxi's
time to the numpy reference's (the floor, run in the same process on the same samples); the max
|read back - net| after ``save_wlnet`` ("-" when the net is not writable, with the reason below).
"""
from __future__ import annotations

import argparse
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
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import wlbridge as wb  # noqa: E402

T, D = 5, 16


class _Seq(nn.Module):
    """A recurrent layer's output sequence (so ONNX and torch agree on one output)."""

    def __init__(self, rec):
        super().__init__()
        self.rec = rec

    def forward(self, x):
        return self.rec(x)[0]


def models() -> dict:
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 2, dim_feedforward=32, batch_first=True), 2,
                                enable_nested_tensor=False)
    return {"transformer (2 layers)": (enc.double().eval(), (T, D)),
            "lstm (2 layers)": (_Seq(nn.LSTM(3, 4, num_layers=2, batch_first=True)).double().eval(), (T, 3)),
            "gru": (_Seq(nn.GRU(3, 4, batch_first=True)).double().eval(), (T, 3))}


def routes(m, shape):
    yield "from_torch", wb.from_torch(m, shape), False
    f = io.BytesIO()
    torch.onnx.export(m, torch.zeros(1, *shape, dtype=torch.float64), f, dynamo=False, input_names=["x"])
    yield "onnx", wb.from_onnx(onnx.load_from_string(f.getvalue()), origin=False), True
    ep = torch.export.export(m, (torch.zeros(1, *shape, dtype=torch.float64),))
    yield ".pt2", wb.from_torch(ep), True


def _torch(m, x, one_sample: bool):
    with torch.no_grad():
        if one_sample:  # {n, 1, ...}: each sample is a batch of one
            return np.stack([m(torch.tensor(xx)).numpy() for xx in x])
        return m(torch.tensor(x)).numpy()


def _round_trip(net, x, reasons: list) -> str:
    path = Path(tempfile.mkdtemp()) / "net.wlnet"
    try:
        wb.save_wlnet(net, path)
    except wb.UnsupportedLayerError as e:
        reasons.append(str(e))
        return f"- ({len(reasons)})"
    return f"{np.abs(wb.load(path)(x) - net(x)).max():.1e}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    print(f"{'model':24s} {'route':10s} {'vs torch':>9s} {'WL chars':>9s} {'woxi err':>9s} {'sympy err':>9s} "
          f"{'woxi s/smp':>10s} {'sympy s/smp':>11s} {'woxi/numpy':>10s}  wlnet round trip")
    reasons: list = []
    for name, (m, shape) in models().items():
        for route, net, one in routes(m, shape):
            x = np.random.default_rng(1).normal(size=(4, *net.input_shape))
            want = _torch(m, x, one)
            err = np.abs(net(x) - want).max() / np.abs(want).max()
            report = net.check(engine="woxi", samples=args.samples)
            rows = {r.evaluator: r for r in report.rows}
            t = time.perf_counter()
            net(x[:args.samples])
            floor = (time.perf_counter() - t) / args.samples
            woxi, sym = rows.get("woxi"), rows.get("sympy")
            per = lambda r: r.seconds / max(r.samples, 1) if r else float("nan")  # noqa: E731
            print(f"{name:24s} {route:10s} {err:9.1e} {len(net.to_wl()):9d} {woxi.max_rel:9.1e} "
                  f"{sym.max_rel:9.1e} {per(woxi):10.3f} {per(sym):11.3f} {per(woxi) / floor:10.0f}x  "
                  f"{_round_trip(net, x, reasons)}", flush=True)
    for k, why in enumerate(reasons, 1):
        print(f"({k}) {why}")


if __name__ == "__main__":
    main()
