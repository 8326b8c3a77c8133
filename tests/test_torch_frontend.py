"""PyTorch front end: every activation, layer and graph form against torch's own forward."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import wlbridge as wb  # noqa: E402
from wlbridge.ops import ACTIVATIONS  # noqa: E402

pytestmark = pytest.mark.torch

TOL = {torch.float32: dict(rtol=2e-5, atol=2e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def check(module, shape, dtype=torch.float32, *, n=12, scale=3.0, seed=0, domain=None, **kw):
    """Convert ``module``, compare the numpy reference and ``Net.origin`` with torch's forward."""
    module = module.to(dtype).eval()
    if not any(t.is_floating_point() for t in module.parameters()):
        kw.setdefault("dtype", dtype)  # a module without parameters has no dtype of its own
    net = wb.from_torch(module, shape, **kw)
    shapes = shape if shape and isinstance(shape[0], tuple) else [shape]
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(n, *s)) * scale for s in shapes]
    if domain is not None:
        xs = [domain(x) for x in xs]
    ts = [torch.as_tensor(x, dtype=dtype) for x in xs]  # the values torch sees ...
    xs = [t.double().numpy().copy() for t in ts]  # ... are the values the reference sees
    with torch.no_grad():
        out = module(*[t.clone() for t in ts])  # clones: a forward may work in place on its input
    expected = [o.double().numpy() for o in (out if isinstance(out, (tuple, list)) else [out])]
    got = net(*xs)
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, **TOL[dtype])
    for g, e in zip(net.origin.evaluate(*xs), expected):
        np.testing.assert_allclose(g, e, rtol=0, atol=0)
    assert net.origin.name == "torch" and net.origin.dtype == str(dtype).replace("torch.", "")
    assert all(p.dtype == net.origin.dtype for p in net.inputs)
    return net


class Fn(nn.Module):
    """Wrap a function (functional / tensor-method forms) as a module for tracing."""

    def __init__(self, f, *mods):
        super().__init__()
        self.f = f
        self.m = nn.ModuleList(mods)

    def forward(self, x):
        return self.f(x)


# ---- activations ------------------------------------------------------------------------------------
ACTIVATION_MODULES = [
    nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(), nn.LeakyReLU(0.2), nn.ELU(), nn.ELU(0.5),
    nn.SELU(), nn.CELU(), nn.CELU(0.7), nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Mish(),
    nn.Softplus(), nn.Softplus(beta=2.0, threshold=3.0), nn.Softplus(beta=0.5, threshold=1.0), nn.Softsign(),
    nn.Hardtanh(), nn.Hardtanh(-2.0, 0.5), nn.Hardsigmoid(), nn.Hardswish(), nn.LogSigmoid(), nn.Tanhshrink(),
    nn.Hardshrink(), nn.Hardshrink(1.2), nn.Softshrink(), nn.Softshrink(0.8), nn.Threshold(0.1, 20.0),
    nn.Threshold(-1.0, -3.0), nn.RReLU(), nn.RReLU(0.1, 0.4), nn.Identity(),
]


@pytest.mark.parametrize("act", ACTIVATION_MODULES, ids=repr)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_activation_modules(act, dtype):
    net = check(nn.Sequential(nn.Linear(4, 5), act), (4,), dtype)
    assert net.layers[0].params["weight"].dtype == np.dtype(str(dtype).replace("torch.", ""))


FUNCTIONAL = {
    "F.relu": F.relu, "torch.sigmoid": torch.sigmoid, "F.leaky_relu(0.2)": lambda x: F.leaky_relu(x, 0.2),
    "F.leaky_relu(kw)": lambda x: F.leaky_relu(x, negative_slope=0.3), "F.elu(alpha=0.3)": lambda x: F.elu(x, alpha=0.3),
    "F.selu": F.selu, "torch.selu": torch.selu, "F.celu(0.5)": lambda x: F.celu(x, 0.5),
    "F.gelu": F.gelu, "F.gelu(tanh)": lambda x: F.gelu(x, approximate="tanh"), "F.silu": F.silu, "F.mish": F.mish,
    "F.softplus(2,5)": lambda x: F.softplus(x, 2.0, 5.0), "F.softsign": F.softsign,
    "F.hardtanh(-0.5,2)": lambda x: F.hardtanh(x, -0.5, 2.0), "F.relu6": F.relu6, "F.hardsigmoid": F.hardsigmoid,
    "F.hardswish": F.hardswish, "F.logsigmoid": F.logsigmoid, "F.tanhshrink": F.tanhshrink,
    "F.hardshrink(0.3)": lambda x: F.hardshrink(x, 0.3), "F.softshrink(0.3)": lambda x: F.softshrink(x, 0.3),
    "F.threshold": lambda x: F.threshold(x, 0.5, -1.0), "F.rrelu(0.1,0.3)": lambda x: F.rrelu(x, 0.1, 0.3),
    "torch.tanh": torch.tanh, "torch.clamp(-1,2)": lambda x: torch.clamp(x, -1.0, 2.0),
    "torch.clamp(min)": lambda x: torch.clamp(x, min=0.5), "clamp(max)": lambda x: x.clamp(max=1.0),
    "clamp_min": lambda x: x.clamp_min(0.2), "relu_": lambda x: (x * 1.0).relu_(),
    "x.tanh()": lambda x: x.tanh(), "x.relu()": lambda x: x.relu(), "x.sigmoid()": lambda x: x.sigmoid(),
    "x.exp()": lambda x: (x / 4).exp(), "x.abs()": lambda x: x.abs(), "-x": lambda x: -x, "x.neg()": lambda x: x.neg(),
    "expm1": torch.expm1, "log1p": lambda x: torch.log1p(x.abs()), "rsqrt": lambda x: torch.rsqrt(x.abs() + 1),
    "F.elu(x)+where": lambda x: torch.where(x > 0, x, 0.1 * x), "where(ge,lt)": lambda x: torch.where(x >= 1, x, -x),
    "F.batch_norm": lambda x: F.batch_norm(x, *[torch.tensor(v, dtype=x.dtype) for v in
                                                ([0.5, -1.0], [2.0, 0.5], [1.5, 0.7], [0.1, 0.2])], eps=1e-3),
    "F.softmax(-1)": lambda x: F.softmax(x, dim=-1), "x.log_softmax(1)": lambda x: x.log_softmax(1),
    "view(-1,6)": lambda x: x.view(-1, 6).tanh(), "reshape(shape[0])": lambda x: x.reshape(x.shape[0], -1),
    "torch.flatten(x,1)": lambda x: torch.flatten(x, 1), "unflatten": lambda x: x.unflatten(2, (3, 1)),
    "x*x+x/y": lambda x: x * x + x / (1 + x.abs()) - x.sigmoid() ** 3, "rsub": lambda x: 1 - x,
    "add(alpha)": lambda x: torch.add(x, x.tanh(), alpha=0.5), "2**x": lambda x: 2 ** x.tanh(),
    "maximum": lambda x: torch.maximum(x, torch.sigmoid(x)), "minimum(0)": lambda x: torch.minimum(x, torch.tensor(0.0)),
}


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_functional_and_method_forms(name):
    check(Fn(FUNCTIONAL[name]), (2, 3), torch.float64)  # float32 forms: the module and graph tests


_DOMAIN = {"log": lambda x: np.abs(x) + 0.5, "sqrt": np.abs, "acosh": lambda x: np.abs(x) + 1,
           "asin": lambda x: np.tanh(x) * 0.9, "acos": lambda x: np.tanh(x) * 0.9, "atanh": lambda x: np.tanh(x) * 0.9,
           "reciprocal": lambda x: np.abs(x) + 0.5, "tan": lambda x: np.tanh(x)}


ROW_ARGS = {"clamp": (-0.5, 1.5), "clip": (-0.5, 1.5), "threshold": (0.2, -2.0), "Threshold": (0.2, -2.0)}


def _callable(name):
    if name in ROW_ARGS:
        return lambda x: getattr(torch, name)(x, *ROW_ARGS[name])
    for ns in (torch, F, torch.special):
        if callable(getattr(ns, name, None)):
            return getattr(ns, name)
    return lambda x: getattr(x, name)()


TORCH_FUNCTION_ROWS = sorted({n for r in ACTIVATIONS.values() for n in r.torch if n.isidentifier() and n.islower()})
TORCH_CLASS_ROWS = sorted({n for r in ACTIVATIONS.values() for n in r.torch if n.isidentifier() and n[0].isupper()})


@pytest.mark.parametrize("name", TORCH_FUNCTION_ROWS)
def test_every_activation_row_function_form(name):
    """Every lowercase torch name in the ACTIVATIONS table converts (functional and method form)."""
    fn = _callable(name)
    net = check(Fn(fn), (6,), torch.float64, domain=_DOMAIN.get(name))
    assert net.layers[-1].op in ("elementwise", "scalar_fn")
    if hasattr(torch.Tensor, name):
        method = Fn(lambda x: getattr(x, name)(*ROW_ARGS.get(name, ())))
        check(method, (6,), torch.float64, domain=_DOMAIN.get(name))


@pytest.mark.parametrize("name", TORCH_CLASS_ROWS)
def test_every_activation_row_module_form(name):
    net = check(getattr(nn, name)(*ROW_ARGS.get(name, ())), (6,), torch.float64)
    assert net.layers[-1].op == ("identity" if name == "Identity" else "elementwise")


def test_support_lists_cover_every_activation_row():
    from wlbridge.frontends.torch import supported

    s = supported()
    names = {n for r in ACTIVATIONS.values() for n in r.torch if n.isidentifier()}
    assert names <= set(s["modules"]) | set(s["functions"])
    assert {"Linear", "Conv1d", "Conv2d", "BatchNorm1d", "BatchNorm2d", "MaxPool2d", "AvgPool2d", "PReLU",
            "AdaptiveAvgPool2d", "Softmax", "LogSoftmax", "Flatten", "Dropout"} <= set(s["modules"])


def test_activation_params_reach_the_ir():
    net = wb.from_torch(nn.Sequential(nn.LeakyReLU(0.2), nn.Softplus(2.0, 3.0), nn.ELU(), nn.Hardtanh(-2, 0.5)), (3,))
    assert [(l.attrs["fn"], l.attrs.get("fn_params")) for l in net.layers] == [
        ("leaky_relu", {"negative_slope": 0.2}), ("softplus", {"beta": 2.0, "threshold": 3.0}), ("elu", None),
        ("clip", {"min_val": -2.0, "max_val": 0.5})]


def test_prelu_vector_image_and_single():
    torch.manual_seed(1)
    p = nn.PReLU(5)
    with torch.no_grad():
        p.weight.copy_(torch.linspace(-0.5, 0.9, 5))
    net = check(nn.Sequential(nn.Linear(4, 5), p), (4,), torch.float64)
    assert net.layers[-1].op == "prelu" and net.layers[-1].params["slope"].shape == (5,)
    pc = nn.PReLU(3)
    with torch.no_grad():
        pc.weight.copy_(torch.tensor([0.1, -0.2, 0.7]))
    net = check(nn.Sequential(nn.Conv2d(2, 3, 3), pc), (2, 5, 5), torch.float64)
    assert net.layers[-1].params["slope"].shape == (3, 1, 1)
    check(nn.Sequential(nn.Conv2d(2, 3, 3), nn.PReLU()), (2, 5, 5))
    check(Fn(lambda x: F.prelu(x, torch.tensor([0.3]))), (4,))


# ---- layers ---------------------------------------------------------------------------------------
LAYERS = {
    "linear": (nn.Linear(4, 3), (4,)),
    "linear-nobias-3d": (nn.Linear(4, 3, bias=False), (2, 4)),
    "dropout": (nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.AlphaDropout(0.2)), (4,)),
    "flatten": (nn.Sequential(nn.Flatten(), nn.Linear(6, 2)), (2, 3)),
    "flatten-2": (nn.Flatten(start_dim=2), (2, 3, 4)),
    "flatten-1-2": (nn.Flatten(1, 2), (2, 3, 4)),
    "unflatten": (nn.Unflatten(1, (2, 3)), (6,)),
    "bn1d": (nn.BatchNorm1d(4), (4,)),
    "bn1d-seq": (nn.BatchNorm1d(3), (3, 5)),
    "bn2d": (nn.BatchNorm2d(3, eps=1e-3), (3, 4, 4)),
    "bn2d-noaffine": (nn.BatchNorm2d(3, affine=False), (3, 4, 4)),
    "conv1d": (nn.Conv1d(2, 4, 3, stride=2, padding=1), (2, 9)),
    "conv1d-same": (nn.Conv1d(2, 3, 4, padding="same", dilation=2), (2, 9)),
    "conv2d": (nn.Conv2d(3, 4, 3), (3, 6, 6)),
    "conv2d-stride-pad": (nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2)), (3, 7, 6)),
    "conv2d-same": (nn.Conv2d(3, 2, 4, padding="same"), (3, 5, 5)),
    "conv2d-valid": (nn.Conv2d(3, 2, 2, padding="valid", bias=False), (3, 5, 5)),
    "conv2d-dil-groups": (nn.Conv2d(4, 6, 3, dilation=2, groups=2, padding=1), (4, 7, 7)),
    "conv2d-depthwise": (nn.Conv2d(3, 3, 3, groups=3), (3, 5, 5)),
    "conv3d": (nn.Conv3d(2, 2, 2), (2, 3, 3, 3)),
    "maxpool1d": (nn.MaxPool1d(3, stride=2, padding=1), (2, 8)),
    "maxpool2d": (nn.MaxPool2d(2), (3, 6, 6)),
    "maxpool2d-ceil": (nn.MaxPool2d(3, stride=2, ceil_mode=True), (2, 6, 6)),
    "maxpool2d-pad-dil": (nn.MaxPool2d(3, stride=1, padding=1, dilation=2), (2, 7, 7)),
    "avgpool1d": (nn.AvgPool1d(2), (2, 7)),
    "avgpool2d": (nn.AvgPool2d(2, stride=1), (2, 4, 4)),
    "avgpool2d-pad": (nn.AvgPool2d(3, stride=2, padding=1), (2, 6, 6)),
    "avgpool2d-pad-nocount": (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 6, 6)),
    "avgpool2d-ceil": (nn.AvgPool2d(3, stride=2, ceil_mode=True), (2, 6, 6)),
    "avgpool2d-ceil-pad": (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (2, 6, 6)),
    "adaptiveavg1": (nn.AdaptiveAvgPool2d(1), (3, 4, 5)),
    "adaptiveavg2": (nn.AdaptiveAvgPool2d((2, 1)), (3, 4, 5)),
    "adaptiveavg1d": (nn.AdaptiveAvgPool1d(2), (3, 6)),
    "adaptivemax": (nn.AdaptiveMaxPool2d(1), (3, 4, 4)),
    "softmax": (nn.Softmax(dim=1), (5,)),
    "softmax-neg": (nn.Softmax(dim=-1), (3, 4)),
    "softmax-dim2": (nn.Softmax(dim=2), (3, 4)),
    "softmax-implicit": (nn.Softmax(), (5,)),
    "logsoftmax": (nn.LogSoftmax(dim=1), (5,)),
    "softmin": (nn.Softmin(dim=1), (5,)),
    "softmax2d": (nn.Softmax2d(), (3, 2, 2)),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_layers(name, dtype):
    torch.manual_seed(0)
    module, shape = LAYERS[name]
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):  # non-trivial running statistics
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            if m.affine:
                with torch.no_grad():
                    m.weight.uniform_(0.5, 1.5), m.bias.uniform_(-1, 1)
    check(module, shape, dtype)


def test_batchnorm_ir():
    bn = nn.BatchNorm2d(3, eps=1e-3).eval()
    net = wb.from_torch(bn, (3, 2, 2))
    (layer,) = net.layers
    assert layer.op == "batchnorm" and layer.attrs == {"eps": 1e-3, "axis": 0}
    assert sorted(layer.params) == ["bias", "mean", "scale", "var"]


def test_conv_same_is_asymmetric_like_torch():
    net = check(nn.Conv1d(1, 1, 4, padding="same"), (1, 7))
    assert net.layers[0].attrs["padding"] == [[1, 2]]


@pytest.mark.parametrize("m", [nn.AdaptiveAvgPool2d(3), nn.AdaptiveMaxPool2d((2, 4)), nn.AdaptiveAvgPool2d((7, 7))])
def test_adaptive_pool_uneven_windows(m):
    x = torch.randn(2, 2, 5, 3, dtype=torch.float64)
    net = wb.from_torch(m.double(), (2, 5, 3))
    assert any(layer.op == "adaptive_pool" for layer in net.layers)
    np.testing.assert_allclose(net(x.numpy()), m(x).numpy(), rtol=1e-13, atol=1e-14)


def test_conv_padding_mode_is_unsupported():
    with pytest.raises(wb.UnsupportedLayerError, match="padding_mode='reflect'"):
        wb.from_torch(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), (1, 4, 4))


# ---- graphs ---------------------------------------------------------------------------------------
class Residual(nn.Module):
    def __init__(self, n=4):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n, n), nn.Tanh(), nn.Linear(n, n))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(x + self.body(x))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Sequential(nn.Linear(3, 4), nn.Sigmoid())
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        return F.log_softmax(self.head(torch.cat([self.a(x), self.b(x)], dim=1)), dim=-1)


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 6, 3), nn.GELU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(6, 3))

    def forward(self, x):
        x = self.pool(self.features(x))
        x = x.view(x.size(0), -1)
        return self.classifier(x).softmax(dim=1)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 3, 2, 2))
        self.b = nn.Parameter(torch.randn(4))
        self.lw = nn.Parameter(torch.randn(5, 16))
        self.register_buffer("shift", torch.linspace(-1, 1, 5))

    def forward(self, x):
        y = F.conv2d(x, self.w, self.b, stride=1, padding=0)
        y = F.avg_pool2d(F.max_pool2d(y, 1), 1)
        y = y.reshape(-1, 16)
        y = F.linear(y, self.lw) + self.shift
        y = 2 * y - 1
        y = (y / 2) ** 2 + 1 / (1 + y.abs())
        z = y @ self.lw[:, :3]
        return torch.stack([y.mean(1), y.sum(-1)], dim=1), z.flatten(1), y.amax(1, keepdim=True)


class NestedSeq(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Tanh(), nn.Linear(4, 4))),
                                 Residual(4), nn.Linear(4, 2))

    def forward(self, x):
        return self.net(x)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 3), nn.Linear(4, 3)

    def forward(self, u, v):
        return torch.sigmoid(self.a(u)) * self.b(v)


class Shapes(nn.Module):
    def forward(self, x):  # x: (B, 2, 3, 4)
        y = x.permute(0, 2, 1, 3).transpose(2, 3)  # (B, 3, 4, 2)
        y = y.unsqueeze(1).squeeze(1).flatten(2)  # (B, 3, 8)
        return y.view(y.shape[0], 4, 6).contiguous().sum(dim=(1, 2))


class InPlace(nn.Module):
    """In-place ops overwrite their input: later readers of it must see the new value."""

    def __init__(self):
        super().__init__()
        self.l = nn.Linear(3, 3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.l(x)
        z = self.act(y)  # y is now relu(y)
        w = F.leaky_relu(z, 0.5, inplace=True) + y  # z (and y) unchanged: leaky_relu of a relu output
        y.mul_(3.0)
        return y + z + w, x.tanh_() + x  # the input itself, too


@pytest.mark.parametrize("make, shape", [(InPlace, (3,)), (Residual, (4,)), (Concat, (3,)), (SmallCNN, (1, 8, 8)),
                                         (Functional, (3, 3, 3)), (NestedSeq, (3,)), (TwoInputs, [(2,), (4,)]),
                                         (Shapes, (2, 3, 4))], ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_graphs(make, shape, dtype):
    torch.manual_seed(0)
    check(make(), shape, dtype)


def test_paths_and_names():
    net = wb.from_torch(NestedSeq().eval(), (3,))
    assert net.name == "NestedSeq"
    assert [l.path for l in net.layers] == ["net.0.0", "net.0.1.0", "net.0.1.1", "net.1.body.0", "net.1.body.1",
                                            "net.1.body.2", "add", "net.1.act", "net.2"]
    assert net.input_names == ["x1", "x2", "x3"]
    named = wb.from_torch(NestedSeq().eval(), (3,), input_names=["a", "b", "c"])
    assert named.input_names == ["a", "b", "c"]
    two = wb.from_torch(TwoInputs().eval(), [(2,), (4,)])
    assert [p.name for p in two.inputs] == ["u", "v"]


def test_params_are_copies_with_the_module_dtype():
    m = nn.Linear(3, 2).double().eval()
    net = wb.from_torch(m, (3,))
    w = net.layers[0].params["weight"]
    assert w.dtype == np.float64 and net.inputs[0].dtype == "float64"
    before = w.copy()
    with torch.no_grad():
        m.weight.add_(1.0)
    np.testing.assert_array_equal(net.layers[0].params["weight"], before)


def test_parameterless_module_uses_default_or_given_dtype():
    assert wb.from_torch(nn.Tanh(), (3,)).inputs[0].dtype == "float32"
    net = wb.from_torch(nn.Tanh(), (3,), dtype="float64")
    assert net.inputs[0].dtype == "float64" and net.origin.evaluate(np.ones((1, 3)))[0].dtype == np.float64



@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_parameterless_module_has_the_input_dtype(dtype):
    net = wb.from_torch(nn.Sequential(nn.ReLU(), nn.Softmax(-1)), (3,), dtype=dtype)
    assert net.param_count == 0 and net.dtype == np.dtype(str(dtype).replace("torch.", ""))
    assert wb.from_torch(nn.Tanh(), (3,)).dtype == np.float32  # torch's default dtype

# ---- errors ---------------------------------------------------------------------------------------------
@torch.fx.wrap
def my_custom_op(x):
    return x.sort(dim=-1).values


class Bad(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 4, batch_first=True, proj_size=2)
        self.norm = nn.LocalResponseNorm(2)

    def forward(self, x):
        y, _ = self.rnn(x)
        y = my_custom_op(self.norm(x)) + torch.topk(x, 2, dim=-1).values.sum(-1, keepdim=True)
        return y + x.cumsum(1)


def test_unsupported_layers_are_listed_together():
    with pytest.raises(wb.UnsupportedLayerError) as info:
        wb.from_torch(Bad().eval(), (3, 4))
    items = {(path, op) for path, op, _ in info.value.items}
    assert ("rnn", "LSTM") in items and ("norm", "LocalResponseNorm") in items
    assert any(op.endswith("my_custom_op") for _, op in items)
    assert ("topk", "topk") in items and ("cumsum", "cumsum") in items
    assert "recurrent" in str(info.value) and str(info.value).startswith("torch: 5 unsupported layers")


def test_input_shape_mismatch():
    with pytest.raises(wb.ConversionError, match=r"input_shape \(4,\).*mat1 and mat2"):
        wb.from_torch(nn.Sequential(nn.Linear(3, 2)), (4,))
    with pytest.raises(wb.ConversionError, match="input_shape must be"):
        wb.from_torch(nn.Linear(3, 2), "three")


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


def test_data_dependent_control_flow_is_a_clear_error():
    with pytest.raises(wb.ConversionError, match="control flow"):
        wb.from_torch(DataDependent(), (3,))


class ShapeBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(3, 2)

    def forward(self, x):
        if x.shape[1] == 3:  # fx cannot trace this; torch.export can
            return torch.tanh(self.l(x))
        return x


def test_fx_failure_falls_back_to_torch_export():
    net = check(ShapeBranch(), (3,))
    assert [l.op for l in net.layers] == ["linear", "elementwise"]


def test_training_mode_warns_and_converts_eval():
    m = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    assert m.training
    with pytest.warns(UserWarning, match="training mode"):
        net = wb.from_torch(m, (3,))
    assert m.training  # the caller's module is untouched
    x = np.random.default_rng(0).normal(size=(4, 3))
    with torch.no_grad():
        expected = m.eval()(torch.as_tensor(x, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(net(x), expected, rtol=2e-5, atol=2e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wb.from_torch(m.eval(), (3,))


def test_active_functional_dropout_is_unsupported():
    with pytest.raises(wb.UnsupportedLayerError, match="training=True"):
        wb.from_torch(Fn(lambda x: F.dropout(x, 0.5)), (3,))


def test_batch_axis_ops_are_unsupported():
    with pytest.raises(wb.UnsupportedLayerError, match="batch axis"):
        wb.from_torch(Fn(lambda x: torch.softmax(x, dim=0)), (3,))
    with pytest.raises(wb.UnsupportedLayerError, match="batch axis"):
        wb.from_torch(Fn(lambda x: x.flatten()), (3,))


# ---- .pt2 ---------------------------------------------------------------------------------------------
def _compare_pt2(module, shape, path, dtype=torch.float32, decompose=False, dynamic=False):
    module = module.to(dtype).eval()
    example = torch.randn(2, *shape, dtype=dtype)
    ds = ({0: torch.export.Dim("batch")},) if dynamic else None
    ep = torch.export.export(module, (example,), dynamic_shapes=ds)
    if decompose:
        ep = ep.run_decompositions()
    torch.export.save(ep, path)
    net = wb.load(path)
    x = torch.randn(5, *shape, dtype=dtype)
    with torch.no_grad():
        expected = module(x).double().numpy()
    np.testing.assert_allclose(net(x.double().numpy()), expected, **TOL[dtype])
    # the exported program may take another kernel path than the module (addmm vs linear): a few ulps
    ulps = 8 * float(torch.finfo(dtype).eps)
    np.testing.assert_allclose(net.origin.evaluate(x.numpy())[0], expected, rtol=ulps, atol=ulps)
    return net


@pytest.mark.parametrize("make, shape, decompose", [(SmallCNN, (1, 8, 8), False), (SmallCNN, (1, 8, 8), True),
                                                    (Concat, (3,), False), (Residual, (4,), False)],
                         ids=["cnn-training-ir", "cnn-core-aten", "concat", "residual"])
def test_pt2_round_trip(tmp_path, make, shape, decompose):
    torch.manual_seed(0)
    net = _compare_pt2(make(), shape, tmp_path / "m.pt2", decompose=decompose)
    assert net.name == make.__name__


def test_pt2_activations_decomposed(tmp_path):
    acts = nn.Sequential(nn.Linear(3, 4), nn.SELU(), nn.CELU(0.5), nn.Softplus(2.0, 3.0), nn.Hardswish(),
                         nn.LogSigmoid(), nn.Mish(), nn.ELU(0.7), nn.PReLU(4), nn.Hardsigmoid(), nn.SiLU(),
                         nn.Softsign(), nn.Tanhshrink(), nn.RReLU(), nn.ReLU6(), nn.GELU("tanh"), nn.Linear(4, 2))
    for decompose in (False, True):
        net = _compare_pt2(acts, (3,), tmp_path / f"a{decompose}.pt2", torch.float64, decompose=decompose)
        assert net.inputs[0].dtype == "float64"


def test_pt2_dynamic_batch_and_paths(tmp_path):
    torch.manual_seed(0)
    net = _compare_pt2(SmallCNN(), (1, 8, 8), tmp_path / "d.pt2", dynamic=True)
    assert [l.path for l in net.layers][:3] == ["features.0", "features.1", "features.2"]


def test_pt2_load_errors(tmp_path):
    p = tmp_path / "ckpt.pt2"
    torch.save(nn.Linear(2, 2).state_dict(), p)
    with pytest.raises(wb.FormatError, match="torch.export"):
        wb.load(p)


class CumSum(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, 1)


def test_pt2_unsupported(tmp_path):
    ep = torch.export.export(nn.Sequential(nn.Linear(3, 3), CumSum()).eval(), (torch.randn(2, 3),))
    torch.export.save(ep, tmp_path / "cumsum.pt2")
    with pytest.raises(wb.UnsupportedLayerError, match=r"unsupported layer"):
        wb.load(tmp_path / "cumsum.pt2")


def test_pt2_local_response_norm_decomposes_exactly(tmp_path):
    m = nn.Sequential(nn.Linear(3, 3), nn.LocalResponseNorm(2)).double().eval()
    torch.export.save(torch.export.export(m, (torch.randn(2, 2, 3, dtype=torch.float64),)), tmp_path / "lrn.pt2")
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    np.testing.assert_allclose(wb.load(tmp_path / "lrn.pt2")(x.numpy()), m(x).detach().numpy(), rtol=1e-13, atol=1e-14)


def test_pt2_layer_norm(tmp_path):
    m = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)).double().eval()
    torch.export.save(torch.export.export(m, (torch.randn(2, 3, dtype=torch.float64),)), tmp_path / "ln.pt2")
    net = wb.load(tmp_path / "ln.pt2")
    x = torch.randn(4, 3, dtype=torch.float64)
    np.testing.assert_allclose(net(x.numpy()), m(x).detach().numpy(), rtol=1e-13, atol=1e-14)


def test_softplus_threshold_is_torch_exact():
    """Softplus switches to x where beta*x > threshold, exactly as torch does (not a smooth approximation)."""
    m = nn.Softplus(beta=2.0, threshold=3.0).double()
    net = wb.from_torch(m, (5,))
    x = np.array([[1.4999, 1.5, 1.5001, -3.0, 10.0]])
    expected = m(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(net(x), expected, rtol=1e-13)
    assert net(x)[0, 2] == 1.5001 and math.isclose(net(x)[0, 1], math.log1p(math.exp(3.0)) / 2)


# ---- end to end: torch -> IR -> emitted WL in Woxi, against torch itself -----------------------------
@pytest.mark.woxi
@pytest.mark.parametrize("make, shape", [(SmallCNN, (1, 6, 6)), (Functional, (3, 3, 3)), (Concat, (3,))],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_check_in_woxi(make, shape):
    pytest.importorskip("woxi")
    torch.manual_seed(0)
    net = wb.from_torch(make().double().eval(), shape)
    report = net.check(engine="woxi", samples=8)
    assert report.passed, str(report)
    rows = {r.evaluator: r for r in report.rows}
    assert rows["woxi"].passed and rows["woxi"].samples == 8 and rows["woxi"].max_abs < 1e-9
    assert any(r.kind == "source" and r.passed for r in report.rows)  # torch's own forward agrees too


@pytest.mark.woxi
@pytest.mark.slow
def test_seed_example_end_to_end():
    pytest.importorskip("woxi")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("seed_net", Path(__file__).parents[1] / "examples" / "seed_net.py")
    seed_net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed_net)
    model = seed_net.train_seed_net()
    with torch.no_grad():
        pred = model(torch.tensor(seed_net.INPUTS, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(pred, seed_net.TARGETS, atol=1e-7)
    net = wb.from_torch(model, (3,))
    assert "LogisticSigmoid" in net.to_wl(form="expanded")
    assert net.check(engine="woxi", samples=16).passed
