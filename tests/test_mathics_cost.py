"""The Mathics3 cost model against per-sample times measured on this project's 2-core machine (load ~7).

Measurements (``benchmarks/bench_cnn.py`` and single-layer nets, one sample each, Mathics3 10.0.1);
the model must stay within 2x of each, so that check's budget and skip decisions hold at CNN scale.
"""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.check.engines import mathics_cost
from wlbridge.ir import NetBuilder

RNG = np.random.default_rng(0)


def single(op, shape, params=None, **attrs):
    b = NetBuilder(op)
    x = b.input("x", shape)
    return b.build([b.layer(op, [x], params=params or {}, attrs=attrs)])


def conv(cin, cout, k, hw, pad=1, stride=1):
    return single("conv", (cin, hw, hw), {"weight": RNG.standard_normal((cout, cin, k, k)),
                                          "bias": RNG.standard_normal(cout)},
                  padding=((pad, pad), (pad, pad)), stride=(stride, stride))


def bn(c, hw):
    return single("batchnorm", (c, hw, hw), {"scale": np.ones(c), "bias": np.zeros(c), "mean": np.zeros(c),
                                              "var": np.ones(c)}, eps=1e-5)


MEASURED = [  # (net, seconds per sample)
    (lambda: conv(3, 4, 3, 16), 17.0),
    (lambda: conv(4, 8, 3, 8), 10.4),
    (lambda: conv(16, 16, 1, 8, pad=0), 6.8),
    (lambda: conv(1, 2, 3, 32), 9.6),
    (lambda: conv(3, 8, 3, 16, stride=2), 5.0),
    (lambda: single("pool", (4, 16, 16), kind="max", kernel=(2, 2), stride=(2, 2)), 0.44),
    (lambda: single("pool", (8, 16, 16), kind="avg", kernel=(2, 2), stride=(2, 2)), 0.77),
    (lambda: single("pool", (4, 16, 16), kind="max", kernel=(3, 3), stride=(1, 1)), 1.37),
    (lambda: single("elementwise", (8, 16, 16), fn="relu"), 1.11),
    (lambda: single("elementwise", (4, 16, 16), fn="sigmoid"), 4.74),
    (lambda: single("elementwise", (4, 16, 16), fn="tanh"), 0.50),
    (lambda: bn(4, 16), 0.85),
    (lambda: single("softmax", (10,)), 0.13),
]


@pytest.mark.parametrize("make, seconds", MEASURED)
def test_prediction_within_2x_of_measured(make, seconds):
    net = make()
    once, each = mathics_cost(net.to_wl(), net, compact=True)
    assert seconds / 2 <= once + each <= seconds * 2


def test_eigenjs7_shaped_cnn():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_cnn import generated_cnn

    net = generated_cnn()
    once, each = mathics_cost(net.to_wl(), net, compact=True)
    assert 54.1 / 2 <= once + each <= 54.1 * 2
