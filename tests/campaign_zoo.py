"""A zoo of small model files for campaign tests and ``benchmarks/bench_campaign.py``: nets of the case
table written as ``.wlnet`` and ``.wxf``, and small torch MLPs / CNNs / RNNs written as ``.onnx`` and ``.pt2``.

``write_zoo(folder, count)`` writes ``count`` files (at least 4, a quarter of each kind) and returns
their paths, sorted. Every model is small enough to check in a few seconds in Woxi and Mathics3.
"""
from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import wlbridge as wb

from .cases import CASES

# cases the Wolfram writer writes and Mathics3 evaluates quickly, in a fixed order
WOLFRAM_CASES = ("act_tanh", "act_sigmoid", "act_relu", "act_elu", "act_softplus", "act_gelu", "act_silu",
                 "act_abs", "act_sin", "act_erf", "linear_nobias", "softmax", "log_softmax", "batchnorm",
                 "prelu", "flatten", "conv1d", "conv2d", "residual", "concat_graph", "seed_net", "multi_input")


def _torch_models():
    """(name, module, input shape) of small float64 torch nets, deterministic."""
    import torch
    from torch import nn

    def mlp(seed, act, width):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(3, width), act(), nn.Linear(width, 2)).double().eval()

    def cnn(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2)).double().eval()

    class Recurrent(nn.Module):
        def __init__(self, seed, kind):
            super().__init__()
            torch.manual_seed(seed)
            self.rnn = kind(2, 3, batch_first=True)
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    acts = [nn.Tanh, nn.ReLU, nn.Sigmoid, nn.ELU, nn.SiLU, nn.Softplus, nn.LeakyReLU, nn.Hardtanh]
    out = [(f"mlp_{a.__name__.lower()}", mlp(i, a, 4), (3,)) for i, a in enumerate(acts)]
    out += [(f"cnn_{s}", cnn(s), (1, 6)) for s in range(4)]
    out += [(f"{k.__name__.lower()}_{s}", Recurrent(s, k).double().eval(), (3, 2)) for k in (nn.GRU, nn.RNN)
            for s in range(2)]
    return out + [(f"mlp_{a.__name__.lower()}_wide", mlp(10 + i, a, 6), (3,)) for i, a in enumerate(acts)]


def _write_torch(folder: Path, name: str, module, shape, kind: str) -> Path:
    import torch

    x = torch.randn(1, *shape, dtype=torch.float64)
    path = folder / f"{name}.{kind}"
    if kind == "pt2":
        torch.export.save(torch.export.export(module, (x,)), str(path))
        return path
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), f, input_names=["x"], dynamo=False)
    path.write_bytes(f.getvalue())
    return path


def timeless(data):
    """A report's data without its times (what differs between runs), also those in notes."""
    if isinstance(data, dict):
        return {k: timeless(v) for k, v in data.items() if not k.endswith("seconds")}
    if isinstance(data, list):
        return [timeless(v) for v in data]
    if isinstance(data, str):  # a row's note says how long parts took ("evaluate 0.02 s")
        return re.sub(r"\d+(\.\d+)? s\b", "_ s", data)
    return data


def write_zoo(folder, count: int = 40) -> list[Path]:
    """Write ``count`` model files into ``folder`` (about a quarter .wlnet, .wxf, .onnx, .pt2 each)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_name = {c.name: c for c in CASES}
    quarter = max(1, count // 4)
    wolfram = [by_name[n] for n in WOLFRAM_CASES]
    paths: list[Path] = []
    for i, case in enumerate((wolfram * 4)[:2 * quarter]):
        kind = "wlnet" if i % 2 == 0 else "wxf"
        path = folder / f"{case.name}_{i}.{kind}"
        (wb.save_wlnet if kind == "wlnet" else wb.save_wxf)(case.build(), path)
        paths.append(path)
    torch_models = _torch_models()
    rest = count - len(paths)
    for i in range(rest):
        name, module, shape = torch_models[i % len(torch_models)]
        paths.append(_write_torch(folder, f"{name}_{i}", module, shape, "onnx" if i % 2 == 0 else "pt2"))
    return sorted(paths)
