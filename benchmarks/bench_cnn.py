"""Seconds per sample of CNN code in the embedded WL engines, split into its parts.

For each net and engine: the compact WL text's size, then three timings of one engine session:
``define`` (parse the ``Function`` once), ``inputs`` (parse the sample batch, per sample) and
``evaluate`` (apply the function, per sample), and the max abs error against the numpy reference.
``check`` pays define once plus (inputs + evaluate) per sample. For Mathics3, the cost model's
prediction (``mathics_cost``, once + per sample) and measured / predicted.

Nets: a generated CNN shaped like ``eigenjs7_trainedNet1`` (always available), and the real
``.wlnet`` files when the fixtures are found (``$WLBRIDGE_SHARED/fixtures/wlnet`` or
``../shared/fixtures/wlnet``)::

    python benchmarks/bench_cnn.py [--engines woxi,mathics] [--samples 4] [--nets generated,eigenjs7]
    python benchmarks/bench_cnn.py --nets ml_supergroup --engines woxi --samples 1   # ~4 min: 13 MB code
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wlbridge as wb  # noqa: E402
from wlbridge.check.base import batch_arguments, parse_numbers, split_outputs  # noqa: E402
from wlbridge.check.engines import get_engines, mathics_cost  # noqa: E402
from wlbridge.ir import NetBuilder  # noqa: E402

REAL = {"eigenjs7": "eigenjs7_trainedNet1.wlnet", "ml_supergroup": "ML_Supergroup_Demo_Net.wlnet"}


def generated_cnn():
    """A 3x32x32 CNN with the layer shapes of eigenjs7_trainedNet1 (4 conv+BN+ReLU+pool blocks)."""
    rng = np.random.default_rng(0)
    b = NetBuilder("generated_cnn")
    v = b.input("x", (3, 32, 32))
    chans = [3, 1, 2, 4, 8]
    for i in range(4):
        c_in, c_out = chans[i], chans[i + 1]
        v = b.layer("conv", [v], params={"weight": rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in),
                                         "bias": rng.standard_normal(c_out) * 0.1},
                    attrs={"padding": ((1, 1), (1, 1))})
        v = b.layer("batchnorm", [v], params={"scale": 1 + 0.1 * rng.standard_normal(c_out),
                                              "bias": 0.1 * rng.standard_normal(c_out),
                                              "mean": 0.1 * rng.standard_normal(c_out),
                                              "var": 0.5 + rng.random(c_out)}, attrs={"eps": 1e-5})
        v = b.layer("elementwise", [v], attrs={"fn": "relu"})
        k = 1 if i == 0 else 2
        v = b.layer("pool", [v], attrs={"kind": "max", "kernel": (k, k), "stride": (k, k)})
    v = b.layer("pool", [v], attrs={"kind": "max", "kernel": (4, 4), "stride": (4, 4)})
    v = b.layer("flatten", [v])
    v = b.layer("linear", [v], params={"weight": 0.3 * rng.standard_normal((10, 8)), "bias": rng.standard_normal(10)})
    return b.build([b.layer("softmax", [v])])


def load_net(name: str):
    if name == "generated":
        return generated_cnn()
    roots = [Path(os.environ["WLBRIDGE_SHARED"])] if os.environ.get("WLBRIDGE_SHARED") else []
    roots.append(Path(__file__).resolve().parents[1] / ".." / "shared")
    for r in roots:
        f = r / "fixtures" / "wlnet" / REAL[name]
        if f.exists():
            return wb.load(f)
    return None


def timed(engine, code: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    text, messages = engine.evaluate_raw(code)
    if messages:
        raise RuntimeError(f"{engine.name}: {messages[:2]}")
    return time.perf_counter() - t0, text


def bench(net, engine, n: int) -> dict:
    code = net.to_wl()
    xs = [np.random.default_rng(1).standard_normal((n, *net.input_shape))]
    payload = batch_arguments(xs, "list", engine.number)
    if engine.name == "mathics":
        engine.session  # start-up is not the net's cost
    define, _ = timed(engine, f"wlbridgeF = {code}; 0")
    inputs, _ = timed(engine, f"wlbridgeP = {payload}; 0")
    evaluate, text = timed(engine, "Apply[wlbridgeF, wlbridgeP, {1}]")
    got = split_outputs(parse_numbers(text), n, [net.output_shape])[0]
    err = float(np.max(np.abs(got - net(*xs))))
    return {"chars": len(code), "define": define, "inputs": inputs / n, "evaluate": evaluate / n, "err": err}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engines", default="woxi,mathics")
    ap.add_argument("--samples", type=int, default=4, help="per net for Woxi (Mathics3 always takes 1)")
    ap.add_argument("--nets", default="generated,eigenjs7")
    args = ap.parse_args(argv)
    print(f"{'net':16s} {'engine':8s} {'chars':>10s} {'define s':>9s} {'inputs s/smp':>13s} "
          f"{'eval s/smp':>11s} {'check s/smp':>12s} {'max abs err':>12s} {'model s/smp':>12s} {'ratio':>6s}")
    for name in args.nets.split(","):
        net = load_net(name)
        if net is None:
            print(f"{name:16s} (fixture not found)")
            continue
        for ename in args.engines.split(","):
            engine = get_engines(ename)[0]
            n = 1 if ename == "mathics" else args.samples
            r = bench(net, engine, n)
            per = r["inputs"] + r["evaluate"] + r["define"] / n
            model = sum(mathics_cost(net.to_wl(), net, compact=True)) if ename == "mathics" else None
            cells = f"{model:12.2f} {per / model:6.2f}" if model else f"{'-':>12s} {'-':>6s}"
            print(f"{name:16s} {ename:8s} {r['chars']:10d} {r['define']:9.2f} {r['inputs']:13.3f} "
                  f"{r['evaluate']:11.3f} {per:12.3f} {r['err']:12.2e} {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
