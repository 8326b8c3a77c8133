"""Issue #2's acceptance, end to end: torch nets with every listed activation and layer (and a residual
and a concat graph) -> compact and expanded WL evaluated in Woxi and Mathics3, and sympy, all agree with
torch's own forward (float64 nets: rel. error <= 1e-9; float32 nets: within float32 rounding)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("woxi")
pytest.importorskip("mathics")
import torch.nn as nn  # noqa: E402

import wlbridge as wb  # noqa: E402
from wlbridge.check.engines import get_engines  # noqa: E402

from .test_torch_frontend import ACTIVATION_MODULES  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.woxi, pytest.mark.mathics]


@pytest.fixture(scope="module")
def engines():
    es = get_engines("embedded")
    yield es
    for e in es:
        e.close()


def assert_agrees(net, engines, forms=("compact", "expanded"), samples=12):
    for form in forms:
        report = net.check(engine=engines, form=form, samples=samples, mathics_budget=3.0)
        assert report.passed, str(report)
        rows = {r.evaluator: r for r in report.rows}
        assert {"sympy", "woxi", "mathics"} <= set(rows), str(report)
        mathics = rows["mathics"]  # a long expanded formula is skipped by the cost model (~40 s a sample)
        assert mathics.samples >= 1 or (form == "expanded" and "one sample would take" in mathics.note), str(report)
        assert any(r.evaluator.startswith("source (torch)") and r.passed for r in report.rows), str(report)
        assert report.max_rel_err <= 1e-9 or report.max_abs_err <= 1e-9, str(report)


@pytest.mark.parametrize("act", ACTIVATION_MODULES, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_every_activation(engines, act, dtype):
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), act, nn.Linear(4, 2)).to(dtype).eval()
    forms = ("compact", "expanded") if dtype == torch.float64 else ("compact",)  # the forms agree (f64 shows it)
    assert_agrees(wb.from_torch(module, (3,)), engines, forms=forms)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 6)
        self.block = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6), nn.GELU(), nn.Dropout(0.3), nn.Linear(6, 6))
        self.out = nn.Sequential(nn.Tanh(), nn.Linear(6, 3), nn.Softmax(dim=1))

    def forward(self, x):
        h = self.inp(x)
        return self.out(h + self.block(h))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Linear(3, 3), nn.PReLU(3))
        self.b = nn.Sequential(nn.Linear(3, 2), nn.SiLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(5, 4), nn.LogSoftmax(dim=-1))

    def forward(self, x):
        return self.head(torch.cat([self.a(x), self.b(x)], dim=1))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(3, 4, 2, stride=2, groups=1), nn.ELU(),
                                      nn.AvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.features(x))


def _randomize_batchnorm(module):
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return module


@pytest.mark.parametrize("make, shape, forms", [(Residual, (4,), ("compact", "expanded")),
                                                (Concat, (3,), ("compact", "expanded")),
                                                (SmallCNN, (2, 6, 6), ("compact",))], ids=["residual", "concat", "cnn"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_layers_and_graphs(engines, make, shape, forms, dtype):
    torch.manual_seed(1)
    module = _randomize_batchnorm(make()).to(dtype).eval()
    assert_agrees(wb.from_torch(module, shape), engines, forms=forms, samples=8)
