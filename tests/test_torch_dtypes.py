"""Low-precision torch nets: a float32/float16 ``.pt2`` checks against its own forward (inputs cast to
the program's dtype), a bfloat16 net converts with its weights read as float32 and a note; and the
compact sympy form of a CNN is refused from a size estimate instead of taking minutes and gigabytes."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check.report import source_rtol
from wlbridge.check.roundtrip import check
from wlbridge.emit._size import estimate_elementwise_size
from wlbridge.errors import ExpressionTooLargeError
from wlbridge.frontends.torch.context import BFLOAT16_NOTE
from wlbridge.ir import NetBuilder


def _mlp(torch, dtype):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).to(dtype).eval()


def _save_pt2(torch, module, dtype, path):
    ep = torch.export.export(module, (torch.zeros(2, 3, dtype=dtype),),
                             dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(ep, str(path))
    return path


def _source_row(net):
    report = check(net, engine=[], samples=16)
    return next(r for r in report.rows if r.evaluator.startswith("source")), report


@pytest.mark.torch
@pytest.mark.parametrize("name", ["float32", "float16", "bfloat16"])
def test_pt2_source_runs_in_its_own_dtype(tmp_path, name):
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, name)
    module = _mlp(torch, dtype)
    net = wb.load(_save_pt2(torch, module, dtype, tmp_path / "m.pt2"))
    row, report = _source_row(net)
    assert row.passed, row.note  # was: "mat1 and mat2 must have the same dtype" for every .pt2
    x = np.random.default_rng(1).normal(size=(5, 3))
    with torch.no_grad():
        want = module(torch.tensor(x, dtype=dtype)).float().numpy()
    np.testing.assert_allclose(net.origin.evaluate(x)[0], want, rtol=0, atol=0)
    np.testing.assert_allclose(net(x), want, rtol=source_rtol(name), atol=source_rtol(name))


@pytest.mark.torch
def test_bfloat16_module_converts_with_a_note():
    torch = pytest.importorskip("torch")
    module = _mlp(torch, torch.bfloat16)
    net = wb.from_torch(module, (3,))  # was: TypeError: data type 'bfloat16' not understood
    assert net.meta["notes"] == [BFLOAT16_NOTE]
    assert {str(v.dtype) for layer in net.layers for v in layer.params.values()} == {"float32"}
    np.testing.assert_array_equal(net.layers[0].params["weight"], module[0].weight.detach().float().numpy())
    row, report = _source_row(net)
    assert row.passed, row.note
    assert BFLOAT16_NOTE in report.notes


def _cnn(hw: int):
    b = NetBuilder("cnn")
    x = b.input("x", (3, hw, hw))
    rng = np.random.default_rng(0)
    pad = {"padding": ((1, 1), (1, 1))}
    y = b.layer("conv", [x], params={"weight": rng.normal(size=(16, 3, 3, 3))}, attrs=pad)
    y = b.layer("elementwise", [y], attrs={"fn": "relu"})
    return b.build([b.layer("conv", [y], params={"weight": rng.normal(size=(16, 16, 3, 3))}, attrs=pad)])


def test_compact_sympy_of_a_cnn_is_refused_from_its_estimate():
    big = _cnn(32)
    est = 16 * 32 * 32 * (27 + 1 + 144)  # two convolutions (fan-in 27 and 144) and a relu per element
    assert estimate_elementwise_size(big) == est
    with pytest.raises(ExpressionTooLargeError, match=f"compact sympy form would have about {est:,} nodes"):
        big.to_sympy()
    row = next(r for r in check(big, engine=[], samples=2).rows if r.evaluator == "sympy")
    assert row.passed and row.max_rel < 1e-12  # check's sympy row goes a layer at a time: it does not hang
    small = _cnn(4)
    xs = np.random.default_rng(2).normal(size=(3, 3, 4, 4))
    np.testing.assert_allclose(small.to_sympy().lambdify()(xs), small(xs), rtol=1e-12, atol=1e-12)
    with pytest.raises(ExpressionTooLargeError):
        small.to_sympy(max_size=1000)
