"""torch.export programs (``.pt2``) with LSTM / GRU / RNN: the aten ``lstm``/``gru``/``rnn_tanh``/``rnn_relu``
ops convert to the IR recurrent ops and match torch's forward (issue 10)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import UnsupportedLayerError

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

T_LEN, K, N = 5, 3, 4


class Head(torch.nn.Module):
    """A recurrent module, then a linear read-out of every step (and of the last layer's final state)."""

    def __init__(self, rnn, use_state=False):
        super().__init__()
        self.rnn, self.use_state = rnn, use_state
        self.fc = torch.nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), 2)

    def forward(self, x):
        out, h = self.rnn(x)
        y = self.fc(out)
        if self.use_state:
            h = h[0] if isinstance(h, tuple) else h
            return y, h
        return y


def _export(model, tmp_path):
    path = tmp_path / "m.pt2"
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(model, (torch.zeros(2, T_LEN, K, dtype=torch.float64),),
                                 dynamic_shapes=({0: batch},))
    torch.export.save(ep, str(path))
    return path


MODELS = {
    "lstm2": lambda: torch.nn.LSTM(K, N, num_layers=2, batch_first=True),
    "gru_bi": lambda: torch.nn.GRU(K, N, batch_first=True, bidirectional=True),
    "rnn_relu": lambda: torch.nn.RNN(K, N, nonlinearity="relu", batch_first=True),
    "rnn_tanh_nobias": lambda: torch.nn.RNN(K, N, bias=False, batch_first=True),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_pt2_recurrent_matches_torch(name, tmp_path):
    torch.manual_seed(0)
    model = Head(MODELS[name]()).double().eval()
    net = wb.load(_export(model, tmp_path))
    assert net.input_shape == (T_LEN, K)
    x = np.random.default_rng(1).normal(size=(3, T_LEN, K))
    with torch.no_grad():
        want = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-13)


def test_pt2_final_states_are_one_output_per_layer(tmp_path):
    """h_n ({layers, batch, hidden} in torch: the batch axis is not first) comes out as one {hidden} output
    per layer, as from_torch gives it for the module."""
    torch.manual_seed(1)
    model = Head(torch.nn.LSTM(K, N, num_layers=2, batch_first=True), use_state=True).double().eval()
    net = wb.load(_export(model, tmp_path))
    x = np.random.default_rng(3).normal(size=(3, T_LEN, K))
    y, h0, h1 = net(x)
    with torch.no_grad():
        want_y, want_h = (t.numpy() for t in model(torch.tensor(x)))
    np.testing.assert_allclose(y, want_y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.stack([h0, h1]), want_h, rtol=1e-12, atol=1e-13)


def test_batch_first_false_says_what_to_do():
    rnn = torch.nn.LSTM(K, N).double()
    model = Head(rnn).double().eval()
    with pytest.raises(UnsupportedLayerError, match="batch_first = True"):
        wb.from_torch(model, input_shape=(T_LEN, K))
    rnn.batch_first = True  # what the message says: same weights, {batch, seq, features} input
    net = wb.from_torch(model, input_shape=(T_LEN, K))
    x = np.random.default_rng(2).normal(size=(2, T_LEN, K))
    with torch.no_grad():
        want = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-13)


def test_pt2_refusal_names_the_file(tmp_path):
    """A refused ``.pt2`` says which file, then the module path and op, as ONNX and Wolfram files do."""
    path = tmp_path / "m.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(Head(torch.nn.GRU(K, N)).double().eval(),
                                              (torch.zeros(T_LEN, 1, K, dtype=torch.float64),)), str(path))
    with pytest.raises(UnsupportedLayerError) as e:
        wb.load(path)
    assert str(e.value).startswith(f"torch: {path}: 1 unsupported layer: rnn (gru): only batch_first=True")
    assert e.value.items[0][:2] == ("rnn", "gru")


@pytest.mark.parametrize("batch_first", [True, False])
def test_bare_module_is_its_output_sequence_for_one_sample(batch_first):
    """``from_torch(nn.GRU(...), input_shape=(T, I))``: one sample is a {T, I} sequence in either layout
    (torch's unbatched input); the net gives the output sequence; the user's module is left as it was."""
    torch.manual_seed(2)
    m = torch.nn.GRU(K, N, num_layers=2, bidirectional=True, batch_first=batch_first).double().eval()
    net = wb.from_torch(m, input_shape=(T_LEN, K))
    assert m.batch_first is batch_first and net.output_shape == (T_LEN, 2 * N)
    x = np.random.default_rng(4).normal(size=(3, T_LEN, K))
    with torch.no_grad():
        want = np.stack([m(torch.tensor(s))[0].numpy() for s in x])  # unbatched calls
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-13)
