"""Recurrent nets (issue 10): torch LSTM/GRU/RNN and their ONNX exports convert, match torch's forward,
and their compact WL (Woxi) and sympy forms agree with the reference to <= 1e-12 relative (float64)."""
from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import wlbridge as wb  # noqa: E402
from wlbridge.errors import UnsupportedLayerError  # noqa: E402

pytestmark = [pytest.mark.torch]
T, I, H = 5, 3, 4


class Seq(nn.Module):
    """A recurrent module, then a Linear head on the last layer's final state; returns both."""

    def __init__(self, cls, **kw):
        super().__init__()
        torch.manual_seed(0)
        self.rec = cls(I, H, batch_first=True, **kw)
        self.head = nn.Linear(H * (2 if kw.get("bidirectional") else 1), 2)
        self.lstm = cls is nn.LSTM

    def forward(self, x):
        out, h = self.rec(x)
        if self.lstm:
            h = h[0]
        last = torch.cat((h[-2], h[-1]), 1) if self.rec.bidirectional else h[-1]
        return self.head(last), out


MODELS = {"lstm2": (nn.LSTM, {"num_layers": 2}), "gru": (nn.GRU, {}),
          "rnn_relu2": (nn.RNN, {"num_layers": 2, "nonlinearity": "relu"}),
          "lstm_bi": (nn.LSTM, {"bidirectional": True}), "gru_bi2": (nn.GRU, {"bidirectional": True, "num_layers": 2})}


class Raw(nn.Module):
    """The recurrent module's own outputs: the sequence and ``h_n`` (no indexing, which ONNX spells Gather)."""

    def __init__(self, cls, **kw):
        super().__init__()
        torch.manual_seed(0)
        self.rec = cls(I, H, batch_first=True, **kw)
        self.lstm = cls is nn.LSTM

    def forward(self, x):
        out, h = self.rec(x)
        return out, (h[0] if self.lstm else h)


def _torch_out(m, x):
    with torch.no_grad():
        return [t.numpy() for t in m(torch.tensor(x))]


def _model(name):
    cls, kw = MODELS[name]
    return Seq(cls, **kw).double().eval()


@pytest.mark.parametrize("name", MODELS)
def test_torch_recurrent_matches_forward(name):
    m = _model(name)
    net = wb.from_torch(m, (T, I))
    x = np.random.default_rng(1).normal(size=(6, T, I))
    for got, want in zip(net(x), _torch_out(m, x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_unused_cell_states_are_not_computed():
    net = wb.from_torch(_model("lstm2"), (T, I))
    assert [L.attrs["output"] for L in net.layers if L.op == "lstm"] == ["sequence", "sequence"]


class LastBackward(nn.Module):
    """A 2-layer bidirectional LSTM classifier on ``h_n[-1]``: the last layer's backward final state only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rec, self.head = nn.LSTM(I, H, num_layers=2, batch_first=True, bidirectional=True), nn.Linear(H, 2)

    def forward(self, x):
        _, (h, _) = self.rec(x)
        return self.head(h[-1])


def test_unused_direction_and_sequence_are_not_computed():
    """Neither the last layer's forward direction nor its output sequence (their concat) is kept."""
    m = LastBackward().double().eval()
    x = np.random.default_rng(2).normal(size=(3, T, I))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    net = wb.from_torch(m, (T, I))
    assert [(L.inputs[0] == "x", L.attrs["reverse"]) for L in net.layers if L.op == "lstm"] == \
        [(True, False), (True, True), (False, True)]
    assert [L.op for L in net.layers].count("concat") == 1
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-14)


def test_batch_first_false_is_reported():
    m = nn.Sequential(nn.GRU(I, H)).double()
    with pytest.raises(UnsupportedLayerError, match="batch_first"):
        wb.from_torch(m, (T, I))


@pytest.mark.woxi
@pytest.mark.parametrize("name", ["lstm2", "gru"])
def test_torch_recurrent_compact_checks_in_woxi_and_sympy(name):
    pytest.importorskip("woxi")
    net = wb.from_torch(_model(name), (T, I))
    report = net.check(engine="woxi", samples=16)
    assert report.passed, str(report)
    assert {r.evaluator for r in report.code_rows} >= {"woxi", "sympy"}
    assert report.max_rel_err <= 1e-12


def _raw(name):
    cls, kw = MODELS[name]
    return Raw(cls, **kw).double().eval()


def _onnx(m):
    pytest.importorskip("onnx")
    import onnx

    f = io.BytesIO()
    torch.onnx.export(m, torch.zeros(1, T, I, dtype=torch.float64), f, dynamo=False)
    return onnx.load_from_string(f.getvalue())


@pytest.mark.onnx
@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches_torch(name):
    m = _raw(name)
    net = wb.from_onnx(_onnx(m), origin=False)
    x = np.random.default_rng(2).normal(size=(4, 1, T, I))
    want = [np.stack(o) for o in zip(*[_torch_out(m, xx) for xx in x])]
    # the exporter transposes the batch axis: one sample is {1, T, I}; that 1 is the batch axis again
    # when every output keeps it too (h_n of one layer), else the sample stays whole (h_n of two layers)
    whole = any(w.shape[1] != 1 for w in want)
    assert net.input_shape == ((1, T, I) if whole else (T, I))
    got = net(x if whole else x[:, 0])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w if whole else w[:, 0], rtol=1e-12, atol=1e-14)


@pytest.mark.onnx
@pytest.mark.woxi
@pytest.mark.parametrize("name", ["lstm2", "gru"])
def test_onnx_recurrent_compact_checks_in_woxi_and_sympy(name):
    pytest.importorskip("woxi")
    net = wb.from_onnx(_onnx(_raw(name)), origin=False)
    report = net.check(engine="woxi", samples=16)
    assert report.passed, str(report)
    assert report.max_rel_err <= 1e-12


@pytest.mark.onnx
@pytest.mark.woxi
def test_float64_onnx_gru_is_checked_against_the_onnx_reference(capfd):
    """onnxruntime loads a float64 GRU but has no kernel to run it: the source row uses onnx.reference."""
    pytest.importorskip("woxi")
    pytest.importorskip("onnxruntime")
    net = wb.from_onnx(_onnx(_raw("gru")))
    assert "does not support double" not in capfd.readouterr().err  # the probe's failure is not logged
    report = net.check(engine="woxi", samples=2, sympy=False)
    assert report.passed, str(report)
    source = next(r for r in report.rows if r.evaluator.startswith("source"))
    assert source.evaluator == "source (onnx.reference)" and source.passed and source.max_rel <= 1e-12
    f = io.BytesIO()
    torch.onnx.export(_raw("gru").float(), torch.zeros(1, T, I), f, dynamo=False)
    assert wb.from_onnx(f.getvalue()).origin.name == "onnxruntime"  # float32 runs there


@pytest.mark.onnx
def test_onnx_layout1_with_batch_axis_and_gate_orders():
    """A hand-built ONNX LSTM/GRU (layout=1, batch axis kept) against onnx's own reference evaluator."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    g = np.random.default_rng(3)
    for op, gates, extra in [("LSTM", 4, {}), ("GRU", 3, {"linear_before_reset": 0}), ("RNN", 1, {})]:
        w = g.normal(size=(2, gates * H, I)) * 0.5
        r = g.normal(size=(2, gates * H, H)) * 0.5
        b = g.normal(size=(2, 2 * gates * H)) * 0.5
        inits = [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
        node = helper.make_node(op, ["x", "W", "R", "B"], ["y", "yh"], hidden_size=H, layout=1,
                                direction="bidirectional", **extra)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["n", T, I])],
                                  [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None),
                                   helper.make_tensor_value_info("yh", TensorProto.DOUBLE, None)], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        net = wb.from_onnx(model, origin=False)
        x = g.normal(size=(3, T, I))
        want = ReferenceEvaluator(model).run(None, {"x": x})
        for got, exp in zip(net(x), want):
            np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-14, err_msg=op)


@pytest.mark.onnx
def test_onnx_symbolic_sequence_axis_needs_sequence_length():
    onnx = pytest.importorskip("onnx")
    m = _raw("gru")
    f = io.BytesIO()
    torch.onnx.export(m, torch.zeros(1, T, I, dtype=torch.float64), f, dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {1: "seq"}})
    model = onnx.load_from_string(f.getvalue())
    with pytest.raises(wb.ConversionError, match="dynamic shape"):
        wb.from_onnx(model, origin=False)
    net = wb.from_onnx(model, origin=False, sequence_length=3)
    assert net.input_shape == (3, I)  # one sample of batch size 1: the 1 is the batch axis (every output has it)
    x = np.random.default_rng(4).normal(size=(2, 1, 3, I))
    want = [np.stack(o) for o in zip(*[_torch_out(m, xx) for xx in x])]
    for g, w in zip(net(x[:, 0]), want):
        np.testing.assert_allclose(g, w[:, 0], rtol=1e-12, atol=1e-14)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rec, self.fc = nn.LSTM(I, H, num_layers=2, batch_first=True), nn.Linear(H, 2)

    def forward(self, x):
        _, (h, _) = self.rec(x)
        return self.fc(h[-1])


def test_torch_lstm_classifier_saved_as_wlnet(tmp_path):
    """LongShortTermMemoryLayer x2 -> SequenceLastLayer -> LinearLayer, read back equal to torch."""
    pytest.importorskip("h5py")
    m = Classifier().double().eval()
    net = wb.from_torch(m, (T, I))
    wb.save_wlnet(net, tmp_path / "clf.wlnet")
    back = wb.load(tmp_path / "clf.wlnet")
    assert [L.op for L in back.layers] == ["lstm", "lstm", "take", "linear"]
    x = np.random.default_rng(5).normal(size=(4, T, I))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose(back(x), want, rtol=1e-12, atol=1e-14)


class SequenceHead(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.rec, self.fc = nn.LSTM(I, H, num_layers=2, batch_first=True), nn.Linear(H, 2)

    def forward(self, x):
        return self.fc(self.rec(x)[0])


@pytest.mark.onnx
def test_onnx_lstm_with_a_per_step_linear_saved_as_wlnet(tmp_path):
    """ONNX's one sample {1, T, I}, its 1 the batch axis: the LSTMs and a Linear on every step (NetMapOperator)
    written and read back."""
    pytest.importorskip("h5py")
    m = SequenceHead().double().eval()
    net = wb.from_onnx(_onnx(m), origin=False)
    assert net.input_shape == (T, I) and net.output_shape == (T, 2)
    wb.save_wlnet(net, tmp_path / "seq.wlnet")
    back = wb.load(tmp_path / "seq.wlnet")
    x = np.random.default_rng(6).normal(size=(3, T, I))
    with torch.no_grad():
        want = m(torch.tensor(x)).numpy()
    np.testing.assert_allclose(back(x), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["lstm2", "gru_bi2"])
def test_exported_program_indexing_h_n(name):
    """A ``.pt2`` program spells ``h_n[-1]`` as aten ``select`` of the per-layer-and-direction states."""
    m = _model(name)
    x = np.random.default_rng(3).normal(size=(1, T, I))
    net = wb.from_torch(torch.export.export(m, (torch.tensor(x),)))
    for got, want in zip(net(x), _torch_out(m, x)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


class TextClassifier(nn.Module):
    """``nn.Embedding`` (0-based token indices) into an LSTM, a Linear on the last step."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.emb, self.rec, self.head = nn.Embedding(10, I, padding_idx=0), nn.LSTM(I, H, batch_first=True), \
            nn.Linear(H, 2)

    def forward(self, tokens):
        out, _ = self.rec(self.emb(tokens))
        return self.head(out[:, -1])


def test_embedding_into_lstm_converts_from_the_module_and_the_exported_program():
    m = TextClassifier().double().eval()
    tokens = np.random.default_rng(6).integers(0, 10, size=(4, T))
    with torch.no_grad():
        want = m(torch.tensor(tokens)).numpy()
    for net in (wb.from_torch(m, (T,), dtype=torch.int64),
                wb.from_torch(torch.export.export(m, (torch.tensor(tokens[:1]),)))):
        assert net.layers[0].op == "embedding"
        np.testing.assert_allclose(net(tokens), want, rtol=1e-12, atol=1e-14)
    with pytest.raises(UnsupportedLayerError, match="max_norm"):
        m.emb.max_norm = 1.0
        wb.from_torch(m, (T,), dtype=torch.int64)


def test_recurrent_cell_message_points_to_the_sequence_module():
    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.GRUCell(I, H)

        def forward(self, x):
            return self.cell(x)

    with pytest.raises(UnsupportedLayerError, match=r"cell \(GRUCell\): recurrent cells are not supported: use "
                                                    r"nn\.LSTM/GRU/RNN"):
        wb.from_torch(Cell().eval(), (I,))
