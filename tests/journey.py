"""The user-journey model family and the doors it reaches wlbridge by (for ``tests/test_user_journey.py``).

Four small nets, as a user would bring them: the README's seed net (3-2-2-2 sigmoid, float64), a 3-8-8-2
ReLU net, a small CNN and an Embedding -> LSTM text classifier; each reaches wlbridge by ``from_torch``,
an ``ExportedProgram`` (``torch.export.export``), a ``.pt2`` file (``torch.export.save``), ONNX (dynamo and
legacy exporters), and ``save_wlnet`` / ``save_wxf`` of the torch route's net read back with ``wb.load``.
Exports use a batch of one example, the way most users export.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import wlbridge as wb

MODELS = ("seed", "relu", "cnn", "lstm")
ROUTES = ("torch", "exported", "pt2", "onnx-dynamo", "onnx-legacy", "wlnet", "wxf")
FILE_ROUTES = ROUTES[2:]
SUFFIX = {"pt2": ".pt2", "onnx-dynamo": ".onnx", "onnx-legacy": ".onnx", "wlnet": ".wlnet", "wxf": ".wxf"}
VOCAB, TOKENS = 50, 12


def _modules():
    import torch

    class Classifier(torch.nn.Module):
        """Embedding -> LSTM -> Linear on the last hidden state: the issue 16 text classifier (2,115 parameters)."""

        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, 8)
            self.lstm = torch.nn.LSTM(8, 16, batch_first=True)
            self.fc = torch.nn.Linear(16, 3)

        def forward(self, tokens):
            _, (h, _) = self.lstm(self.emb(tokens))
            return self.fc(h[-1])

    nn = torch.nn
    torch.manual_seed(16)
    return {
        "seed": (nn.Sequential(nn.Linear(3, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2)), (3,)),
        "relu": (nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)), (3,)),
        "cnn": (nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2)),
                (2, 6, 6)),
        "lstm": (Classifier(), (TOKENS,)),
    }


@dataclass
class Model:
    """A torch module with its per-sample shape, and seeded test inputs (a batch of 5)."""

    name: str
    module: object
    shape: tuple
    integer: bool = False

    def inputs(self, n: int = 5, seed: int = 1) -> np.ndarray:
        rng = np.random.default_rng(seed)
        if self.integer:
            return rng.integers(0, VOCAB, (n,) + self.shape)
        return rng.uniform(-2, 2, (n,) + self.shape)

    def torch_out(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.module(torch.from_numpy(x)).numpy()

    def example(self):
        import torch

        return torch.from_numpy(self.inputs(1, seed=0))


def family() -> dict[str, Model]:
    """The four models, float64, in eval mode."""
    out = {}
    for name, (module, shape) in _modules().items():
        out[name] = Model(name, module.double().eval(), shape, integer=name == "lstm")
    return out


@dataclass
class Doors:
    """Each model by each route, converted once (module-scoped in the tests) and kept."""

    models: dict
    folder: Path
    nets: dict = field(default_factory=dict)

    def path(self, model: str, route: str) -> Path:
        """The model's file for a file route (written on first use)."""
        path = self.folder / f"{model}-{route}{SUFFIX[route]}"
        if not path.exists():
            self._write(self.models[model], route, path)
        return path

    def net(self, model: str, route: str):
        """``wb.from_torch`` of the module ("torch") or of its ``torch.export`` program ("exported"), else
        ``wb.load`` of the route's file."""
        if (model, route) not in self.nets:
            m = self.models[model]
            import torch

            if route == "torch":
                self.nets[model, route] = wb.from_torch(m.module, m.shape, dtype=torch.long if m.integer else None)
            elif route == "exported":
                self.nets[model, route] = wb.from_torch(torch.export.export(m.module, (m.example(),)))
            else:
                self.nets[model, route] = wb.load(self.path(model, route))
        return self.nets[model, route]

    def _write(self, m: Model, route: str, path: Path) -> None:
        import torch

        if route == "pt2":
            torch.export.save(torch.export.export(m.module, (m.example(),)), str(path))
        elif route.startswith("onnx"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(m.module, (m.example(),), str(path), dynamo=route == "onnx-dynamo", verbose=False,
                                  input_names=["x"], output_names=["y"])
        else:
            (wb.save_wlnet if route == "wlnet" else wb.save_wxf)(self.net(m.name, "torch"), path)


def signature(net) -> tuple[list[str], list[str]]:
    """The input and output types of ``str(net)``'s first line (``f64[3]``), without the names, which
    are the source's own (the net's class or graph name, the forward's argument, the exporter's value)."""
    head, _, tail = str(net).splitlines()[0].partition(") -> ")
    types = re.compile(r":\s*(\w+\[[^\]]*\])")
    return types.findall(head), types.findall(tail)


def run(net, x: np.ndarray) -> np.ndarray:
    """The net's reference on a batch ``x`` of per-sample inputs, whatever batch convention it kept
    (a leading 1 per sample when a route converted one sample of batch size 1)."""
    shape = tuple(x.shape[1:])
    if tuple(net.input_shape) == shape:
        return np.asarray(net(x))
    if tuple(net.input_shape) == (1,) + shape:
        y = np.asarray(net(x[:, None]))
        return y.reshape((len(x),) + y.shape[2:])
    raise AssertionError(f"{net.input_shape} is neither {shape} nor (1, *{shape})")


def as_net_batch(net, x: np.ndarray) -> np.ndarray:
    """``x`` shaped as the net's own batch (a leading 1 per sample where the route kept one)."""
    return x if tuple(net.input_shape) == tuple(x.shape[1:]) else x[:, None]
