"""Compact stand-ins for ten torchvision classifiers (torchvision is not installable here: its torch 2.13
wheel is a CUDA build). Each keeps the architecture's distinctive parts at small widths: residual
blocks, squeeze-excitation, depthwise and grouped convolutions, channel shuffle with ``chunk``,
``stochastic_depth``, Fire and Inception modules, ceil-mode pooling and ``AdaptiveAvgPool2d((7, 7))``
on maps smaller than 7x7 (uneven, upsampling windows). ``ZOO`` maps a name to ``(build, input_shape)``.
"""
from __future__ import annotations

import torch
import torch.fx
from torch import nn


def stochastic_depth(input, p: float, mode: str, training: bool = True):
    """torchvision.ops.stochastic_depth (same name and signature; fx-wrapped as torchvision does)."""
    if not training or p == 0.0:
        return input
    size = [input.shape[0]] + [1] * (input.ndim - 1) if mode == "row" else [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype).bernoulli_(1.0 - p)
    return input * noise / (1.0 - p)


torch.fx.wrap("stochastic_depth")


class StochasticDepth(nn.Module):
    def __init__(self, p: float, mode: str = "row"):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        return stochastic_depth(x, self.p, self.mode, self.training)


def cbr(cin, cout, k=3, s=1, groups=1, act=nn.ReLU, eps=1e-5):
    layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps)]
    return nn.Sequential(*layers, act()) if act else nn.Sequential(*layers)


class SE(nn.Module):
    def __init__(self, c, squeeze, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, squeeze, 1), nn.Conv2d(squeeze, c, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


# ---- resnet18 ------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.conv2 = cbr(cin, cout, 3, stride), cbr(cout, cout, 3, 1, act=None)
        self.down = cbr(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


def resnet18():
    return nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                         nn.MaxPool2d(3, 2, 1), BasicBlock(8, 8, 1), BasicBlock(8, 16, 2),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(16, 10))


# ---- mobilenet_v3_small --------------------------------------------------------------------------
class InvertedResidualV3(nn.Module):
    def __init__(self, cin, exp, cout, k, stride, se, act):
        super().__init__()
        layers = [cbr(cin, exp, 1, act=act)] if exp != cin else []
        layers.append(cbr(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SE(exp, max(8, exp // 4), gate=nn.Hardsigmoid))
        layers.append(cbr(exp, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return y + x if self.res else y


def mobilenet_v3_small():
    return nn.Sequential(cbr(3, 8, 3, 2, act=nn.Hardswish), InvertedResidualV3(8, 8, 8, 3, 2, True, nn.ReLU),
                         InvertedResidualV3(8, 24, 8, 3, 1, False, nn.ReLU),
                         InvertedResidualV3(8, 24, 16, 5, 2, True, nn.Hardswish),
                         cbr(16, 32, 1, act=nn.Hardswish), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 24), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(24, 10))


# ---- squeezenet1_1 -------------------------------------------------------------------------------
class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze, self.e1, self.e3 = nn.Conv2d(cin, squeeze, 1), nn.Conv2d(squeeze, e1, 1), nn.Conv2d(squeeze, e3, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.act(self.squeeze(x))
        return torch.cat([self.act(self.e1(x)), self.act(self.e3(x))], 1)


def squeezenet1_1():
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True),
                         Fire(8, 4, 8, 8), nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8, 8),
                         nn.Dropout(0.5), nn.Conv2d(16, 10, 1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten())


# ---- shufflenet_v2 -------------------------------------------------------------------------------
def channel_shuffle(x, groups: int):
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(cbr(cin, cin, 3, stride, groups=cin, act=None), cbr(cin, half, 1))
        else:
            self.branch1 = nn.Sequential()
        c = cin if stride > 1 else half
        self.branch2 = nn.Sequential(cbr(c, half, 1), cbr(half, half, 3, stride, groups=half, act=None),
                                     cbr(half, half, 1))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = cbr(3, 8, 3, 2)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.stage2 = nn.Sequential(ShuffleUnit(8, 16, 2), ShuffleUnit(16, 16, 1))
        self.conv5 = cbr(16, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.conv5(self.stage2(self.maxpool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


# ---- efficientnet_b0 -----------------------------------------------------------------------------
class MBConv(nn.Module):
    def __init__(self, cin, exp, cout, k, stride, sd):
        super().__init__()
        layers = [cbr(cin, exp, 1, act=nn.SiLU)] if exp != cin else []
        layers += [cbr(exp, exp, k, stride, groups=exp, act=nn.SiLU), SE(exp, max(1, cin // 4), act=nn.SiLU),
                   cbr(exp, cout, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout
        self.stochastic_depth = StochasticDepth(sd, "row")

    def forward(self, x):
        y = self.block(x)
        return x + self.stochastic_depth(y) if self.res else y


def efficientnet_b0():
    return nn.Sequential(cbr(3, 8, 3, 2, act=nn.SiLU), MBConv(8, 8, 8, 3, 1, 0.1), MBConv(8, 32, 12, 3, 2, 0.1),
                         MBConv(12, 48, 12, 5, 1, 0.2), cbr(12, 32, 1, act=nn.SiLU), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10))


# ---- vgg11 and alexnet: AdaptiveAvgPool2d((7, 7)) on small maps ------------------------------------
def vgg11():
    cfg, layers, c = [4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8, "M"], [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(8 * 49, 16), nn.ReLU(True),
                         nn.Dropout(), nn.Linear(16, 10))


def alexnet():
    return nn.Sequential(nn.Conv2d(3, 8, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                         nn.Conv2d(8, 12, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                         nn.Conv2d(12, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
                         nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Dropout(), nn.Linear(8 * 49, 16),
                         nn.ReLU(inplace=True), nn.Linear(16, 10))


# ---- googlenet -----------------------------------------------------------------------------------
def basic_conv(cin, cout, k, s=1):
    return cbr(cin, cout, k, s, eps=0.001)


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.b1 = basic_conv(cin, c1, 1)
        self.b2 = nn.Sequential(basic_conv(cin, c3r, 1), basic_conv(c3r, c3, 3))
        self.b3 = nn.Sequential(basic_conv(cin, c5r, 1), basic_conv(c5r, c5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic_conv(cin, pp, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


def googlenet():
    return nn.Sequential(basic_conv(3, 8, 7, 2), nn.MaxPool2d(3, 2, ceil_mode=True), Inception(8, 4, 4, 8, 2, 4, 4),
                         nn.MaxPool2d(3, 2, ceil_mode=True), Inception(20, 8, 4, 8, 2, 4, 4),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Dropout(0.2), nn.Linear(24, 10))


# ---- mnasnet0_5 ----------------------------------------------------------------------------------
class MnasUnit(nn.Module):
    def __init__(self, cin, cout, k, stride, exp):
        super().__init__()
        mid = cin * exp
        self.layers = nn.Sequential(cbr(cin, mid, 1), cbr(mid, mid, k, stride, groups=mid), cbr(mid, cout, 1, act=None))
        self.res = cin == cout and stride == 1

    def forward(self, x):
        return self.layers(x) + x if self.res else self.layers(x)


class MNASNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(cbr(3, 8, 3, 2), cbr(8, 8, 3, 1, groups=8), cbr(8, 8, 1, act=None),
                                    MnasUnit(8, 12, 3, 2, 3), MnasUnit(12, 12, 3, 1, 3), MnasUnit(12, 16, 5, 2, 3),
                                    cbr(16, 32, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.layers(x).mean([2, 3]))


# ---- regnet_x_400mf (with an SE block as in regnet_y) ---------------------------------------------
class ResBottleneck(nn.Module):
    def __init__(self, cin, cout, stride, group_width=4):
        super().__init__()
        self.proj = cbr(cin, cout, 1, stride, act=None) if stride != 1 or cin != cout else None
        self.f = nn.Sequential(cbr(cin, cout, 1), cbr(cout, cout, 3, stride, groups=cout // group_width),
                               SE(cout, max(1, cin // 4)), cbr(cout, cout, 1, act=None))
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


def regnet_x_400mf():
    return nn.Sequential(cbr(3, 8, 3, 2), ResBottleneck(8, 16, 2), ResBottleneck(16, 16, 1),
                         nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(16, 10))


ZOO = {"resnet18": (resnet18, (3, 32, 32)), "mobilenet_v3_small": (mobilenet_v3_small, (3, 32, 32)),
       "squeezenet1_1": (squeezenet1_1, (3, 32, 32)), "shufflenet_v2": (ShuffleNetV2, (3, 32, 32)),
       "efficientnet_b0": (efficientnet_b0, (3, 32, 32)), "vgg11": (vgg11, (3, 64, 64)),
       "alexnet": (alexnet, (3, 64, 64)), "googlenet": (googlenet, (3, 32, 32)), "mnasnet0_5": (MNASNet, (3, 32, 32)),
       "regnet_x_400mf": (regnet_x_400mf, (3, 32, 32))}


def build(name: str, seed: int = 0) -> nn.Module:
    """The model with random weights and random BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    m = ZOO[name][0]()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    return m.eval()
