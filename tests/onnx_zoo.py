"""Public-shaped ONNX nets as exporters really write them (issue 17): small torch modules of the shapes
verification researchers publish, exported with the legacy exporter (opsets 9 and 11, symbolic batch
axis through ``dynamic_axes``) and with dynamo.

The zoo is one table, ``ZOO``: name -> ``Entry(build, input_shape, exports)``. ``build()`` returns the
seeded module in eval mode; ``exports`` lists the ``(exporter, opset)`` pairs the net is tested with.
Another engineer's nets (a UNet with an argmax/one-hot head, a detector with computed offsets) are rows
of the same table.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

LEGACY = (("legacy", 9), ("legacy", 11), ("legacy", 16))
ALL = (*LEGACY, ("dynamo", 18))


@dataclass(frozen=True)
class Entry:
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]  # one sample
    exports: tuple[tuple[str, int], ...] = ALL


class TinyViT(nn.Module):
    """Patch embedding, a class token expanded to the batch, position embedding, one attention block
    (timm's), layer norm, the class token's head."""

    def __init__(self, dim=8, heads=2, patch=4, size=8, classes=3):
        super().__init__()
        self.heads, n = heads, (size // patch) ** 2
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.1)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        b = x.shape[0]
        t = self.embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(b, -1, -1), t], dim=1) + self.pos
        n, d = t.shape[1], t.shape[2]
        # timm's Attention: the batch axis moves to axis 1 and comes back with unbind
        q, k, v = self.qkv(t).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1)
        t = t + self.proj((a @ v).transpose(1, 2).reshape(b, n, d))
        return self.head(self.norm(t[:, 0]))


class Generator(nn.Module):
    """A cGAN-style generator: linear to a 4x4 map, nearest and bilinear upsampling, convolutions."""

    def __init__(self, z=4, ch=4):
        super().__init__()
        self.ch = ch
        self.fc = nn.Linear(z, ch * 16)
        self.c1, self.c2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, z):
        h = self.fc(z).view(-1, self.ch, 4, 4)
        h = torch.relu(self.c1(F.interpolate(h, scale_factor=2, mode="nearest")))
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.tanh(self.c2(h))


class ControlNet(nn.Module):
    """A sigmoid/tanh control net whose state is padded with zeros built from the batch size."""

    def __init__(self, n=4, pad=2, hidden=6, out=2):
        super().__init__()
        self.pad = pad
        self.l1, self.l2, self.l3 = nn.Linear(n + pad, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, out)

    def forward(self, x):
        zeros = torch.zeros(x.shape[0], self.pad, dtype=x.dtype)
        h = torch.sigmoid(self.l1(torch.cat([x, zeros], dim=1)))
        return torch.tanh(self.l3(torch.tanh(self.l2(h))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout)
        self.skip = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.skip(x))


class ResNetish(nn.Module):
    """Two residual blocks, global average pooling, a flatten from the batch size, a linear head."""

    def __init__(self, classes=4):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.Sequential(Block(4, 4, 1), Block(4, 6, 2))
        self.fc = nn.Linear(6, classes)

    def forward(self, x):
        h = F.adaptive_avg_pool2d(self.blocks(torch.relu(self.stem(x))), 1)
        return self.fc(h.reshape(h.shape[0], -1))


def _seeded(cls, seed):
    def build():
        torch.manual_seed(seed)
        m = cls()
        with torch.no_grad():  # non-trivial batch-norm statistics
            for bn in (x for x in m.modules() if isinstance(x, nn.BatchNorm2d)):
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
        return m.eval()
    return build


ZOO: dict[str, Entry] = {
    "vit": Entry(_seeded(TinyViT, 0), (1, 8, 8)),
    "generator": Entry(_seeded(Generator, 1), (4,), (*ALL, ("legacy", 10))),  # opset 10 writes Resize-10
    "control": Entry(_seeded(ControlNet, 2), (4,)),
    "resnet": Entry(_seeded(ResNetish, 3), (3, 8, 8)),
}


def export(name: str, exporter: str, opset: int, path, dynamic: bool = True) -> tuple[nn.Module, str]:
    """Export zoo net ``name`` to ``path`` with batch size 2 (``dynamic``: a symbolic batch axis, legacy
    exporter): the module and the path."""
    entry = ZOO[name]
    module = entry.build()
    x = torch.randn(2, *entry.input_shape)
    kw = {"dynamic_axes": {"x": {0: "batch_size"}, "y": {0: "batch_size"}} if dynamic else None, "dynamo": False}
    if exporter == "dynamo":
        kw = {"dynamo": True, "dynamic_shapes": ({0: torch.export.Dim("batch_size", min=1)},)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), input_names=["x"], output_names=["y"], opset_version=opset, **kw)
    return module, str(path)
