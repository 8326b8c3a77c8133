"""Attention saved as ``.pt2`` (issue 10): torch's aten attention works in the (L, N, E) layout and moves
the batch axis, so a program exported with batch size 1 converts as one whole sample, whose leading 1 is the
batch axis again when every input and output keeps it (frontends/batchaxis.py)."""
from __future__ import annotations

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import ConversionError, UnsupportedLayerError

torch = pytest.importorskip("torch")
nn = torch.nn
pytestmark = pytest.mark.torch

from wlbridge.frontends.torch import from_exported_program  # noqa: E402
from wlbridge.frontends.batchaxis import NOTE as BATCH_NOTE  # noqa: E402
from wlbridge.frontends.torch.sample import NOTE  # noqa: E402


def _encoder():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).double().eval()


class _MHA(nn.Module):
    def __init__(self, need_weights=False, causal=False):
        super().__init__()
        torch.manual_seed(1)
        self.a = nn.MultiheadAttention(16, 2, batch_first=True)
        self.need_weights, self.causal = need_weights, causal

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=x.dtype) if self.causal else None
        out, w = self.a(x, x, x, need_weights=self.need_weights, attn_mask=mask)
        return (out, w) if self.need_weights else out


def _x(n=1, shape=(5, 16)):
    return torch.tensor(np.random.default_rng(2).standard_normal((n, *shape)))


def _save(tmp_path, module, x):
    path = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(module, (x,)), path)
    return path


def _outputs(net, x):
    got = net(x)
    return got if isinstance(got, list) else [got]


def _torch_outputs(module, x):
    with torch.no_grad():
        out = module(x)
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _assert_matches(net, module, x):
    for got, want in zip(_outputs(net, x.numpy()), _torch_outputs(module, x), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_transformer_encoder_pt2_converts_as_one_sample(tmp_path):
    enc, x = _encoder(), _x()
    net = wb.load(_save(tmp_path, enc, x))
    assert net.input_shape == (5, 16) and net.output_shapes == [(5, 16)]  # as from_torch
    assert net.meta["notes"] == [NOTE, BATCH_NOTE]
    assert {"batch_matmul", "softmax", "layernorm"} <= {layer.op for layer in net.layers}
    _assert_matches(net, enc, x)
    _assert_matches(net, enc, _x() * 3)  # another sample than the exported example
    samples = np.random.default_rng(3).standard_normal((3, 5, 16))  # origin: a batch, one sample at a time
    np.testing.assert_allclose(net.origin.evaluate(samples)[0], np.stack([net(s) for s in samples]),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(net(samples), wb.from_torch(enc, (5, 16))(samples), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("need_weights,causal", [(False, False), (True, False), (False, True)],
                         ids=["output", "with-weights", "causal-mask"])
def test_multihead_attention_pt2_converts_as_one_sample(tmp_path, need_weights, causal):
    m, x = _MHA(need_weights, causal).double().eval(), _x()
    net = wb.load(_save(tmp_path, m, x))
    assert net.input_shape == (5, 16)
    assert net.output_shapes == ([(5, 16), (5, 5)] if need_weights else [(5, 16)])
    _assert_matches(net, m, x)


@pytest.mark.woxi
def test_transformer_encoder_pt2_checks_in_woxi_and_sympy(tmp_path):
    pytest.importorskip("woxi")
    enc, x = _encoder(), _x()
    report = wb.load(_save(tmp_path, enc, x)).check(engine="woxi", samples=3)
    assert report.passed, report
    assert {r.evaluator for r in report.code_rows} == {"woxi", "sympy"}
    assert report.max_rel_err <= 1e-12


class _WholeSampleOps(nn.Module):
    """Mixes the batch axis (transpose(0, 1)), then uses the shape ops on whole samples."""

    def forward(self, x):  # x: {1, 4, 6}
        y = x.transpose(0, 1)  # {4, 1, 6}
        z = torch.stack([y, y * 2], dim=0).squeeze(2)  # {2, 4, 6}
        z = z.permute(1, 0, 2).flatten(1)[:, 2:10]  # {4, 8}
        z = torch.cat([z, torch.softmax(z, -1)], dim=1).unsqueeze(0)  # {1, 4, 16}
        w = z[0].t().unsqueeze(0)  # {1, 16, 4}
        parts = torch.chunk(w, 2, dim=2)
        return (parts[1] - parts[0]).mean(-1, keepdim=True) + w.reshape(1, -1, 4)[..., :1]


def test_shape_ops_on_whole_samples_match_torch():
    m, x = _WholeSampleOps().double().eval(), _x(shape=(4, 6))
    net = from_exported_program(torch.export.export(m, (x,)))
    assert net.input_shape == (4, 6) and net.output_shapes == [(16, 1)]
    _assert_matches(net, m, x)


class _Prelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = nn.PReLU()

    def forward(self, x):
        return self.p(x.transpose(0, 1)).transpose(0, 1)


def test_retry_failure_reports_both_reasons():
    with pytest.raises(UnsupportedLayerError) as e:
        from_exported_program(torch.export.export(_Prelu().double().eval(), (_x(),)))
    msg = str(e.value)
    assert "dim=0 is the batch axis" in msg  # the first reason
    assert "as one sample of batch size 1 it does not convert either" in msg
    assert "no rule for it on a graph read as one whole sample" in msg  # the retry's reason
    assert [op for _, op, _ in e.value.items] == ["prelu"]


class _Swap(nn.Module):
    def forward(self, x):
        return x.transpose(0, 1) * 2


def test_output_without_the_batch_axis_first_is_refused():
    with pytest.raises(ConversionError, match=r"outputs have shapes \[\[5, 1, 16\]\]: their first axis is not"):
        from_exported_program(torch.export.export(_Swap().double().eval(), (_x(),)))


def test_static_batch_of_two_keeps_the_batch_axis_error():
    with pytest.raises(UnsupportedLayerError) as e:
        from_exported_program(torch.export.export(_MHA().double().eval(), (_x(2),)))
    assert "batch axis" in str(e.value) and "one sample" not in str(e.value)
    assert str(e.value).endswith("export it with a static batch of 1, torch.export.export(model, (x[:1],)), "
                                 "or give the module to from_torch")  # what to do


def test_from_torch_takes_an_exported_program():
    """``wb.from_torch(torch.export.export(...))`` converts like the saved ``.pt2``."""
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh()).double().eval()
    ep = torch.export.export(m, (torch.randn(2, 3, dtype=torch.float64),))
    net = wb.from_torch(ep)
    x = np.random.default_rng(3).normal(size=(2, 3))
    with torch.no_grad():
        np.testing.assert_allclose(net(x), m(torch.tensor(x)).numpy(), rtol=1e-14)
    with pytest.raises(wb.ConversionError, match="own input shapes"):
        wb.from_torch(ep, (3,))
    with pytest.raises(wb.ConversionError, match="needs the input shape"):
        wb.from_torch(m)
