"""The numpy reference against independent implementations (torch.nn.functional) and its error paths."""
import numpy as np
import pytest

from wlbridge.errors import ConversionError
from wlbridge.ir import NetBuilder
from wlbridge.ops import ACTIVATIONS

rng = np.random.default_rng(0)


def one_layer(op, shape, params=None, attrs=None):
    b = NetBuilder(op)
    x = b.input("x", shape)
    return b.build([b.layer(op, [x], params=params, attrs=attrs)])


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


CONV_CASES = [  # (input shape, weight shape, stride, padding, dilation, groups)
    ((3, 9), (4, 3, 3), (1,), ((1, 1),), (1,), 1),
    ((4, 7, 8), (6, 2, 3, 2), (2, 1), ((1, 1), (0, 0)), (1, 2), 2),
    ((2, 6, 6), (2, 1, 3, 3), (1, 1), ((2, 2), (1, 1)), (2, 1), 2),
    ((1, 5, 4, 4), (2, 1, 2, 2, 2), (1, 2, 1), ((0, 0), (1, 1), (0, 0)), (1, 1, 1), 1),
]


@pytest.mark.torch
@pytest.mark.parametrize("xs,ws,stride,pad,dil,groups", CONV_CASES)
def test_conv_matches_torch(torch, xs, ws, stride, pad, dil, groups):
    w, bias, x = rng.normal(size=ws), rng.normal(size=ws[0]), rng.normal(size=(5, *xs))
    net = one_layer("conv", xs, {"weight": w, "bias": bias},
                    {"stride": stride, "padding": pad, "dilation": dil, "groups": groups})
    f = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}[len(xs) - 1]
    want = f(torch.tensor(x), torch.tensor(w), torch.tensor(bias), stride=stride,
             padding=tuple(p[0] for p in pad), dilation=dil, groups=groups).numpy()
    np.testing.assert_allclose(net(x), want, rtol=1e-12, atol=1e-12)


POOL_CASES = [  # kind, input shape, kernel, stride, pad, ceil_mode, count_include_pad
    ("max", (2, 7, 7), (3, 3), (2, 2), 1, False, True),
    ("max", (2, 7, 6), (2, 2), (2, 2), 0, True, True),
    ("avg", (2, 7, 7), (3, 3), (2, 2), 1, True, True),
    ("avg", (2, 7, 7), (3, 3), (2, 2), 1, True, False),
    ("avg", (3, 8), (2,), (2,), 0, False, True),
    ("max", (3, 9), (3,), (2,), 1, True, True),
]


@pytest.mark.torch
@pytest.mark.parametrize("kind,xs,k,s,p,ceil,cip", POOL_CASES)
def test_pool_matches_torch(torch, kind, xs, k, s, p, ceil, cip):
    x = rng.normal(size=(4, *xs))
    net = one_layer("pool", xs, attrs={"kind": kind, "kernel": k, "stride": s, "padding": ((p, p),) * len(k),
                                        "ceil_mode": ceil, "count_include_pad": cip})
    F = torch.nn.functional
    t = torch.tensor(x)
    if kind == "max":
        want = (F.max_pool1d if len(k) == 1 else F.max_pool2d)(t, k, s, p, ceil_mode=ceil)
    else:
        want = (F.avg_pool1d if len(k) == 1 else F.avg_pool2d)(t, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    np.testing.assert_allclose(net(x), want.numpy(), rtol=1e-12)


@pytest.mark.torch
def test_batchnorm_softmax_match_torch(torch):
    c = 3
    p = {k: rng.normal(size=c) for k in ("scale", "bias", "mean")}
    p["var"] = rng.uniform(0.5, 2, size=c)
    x = rng.normal(size=(4, c, 5))
    net = one_layer("batchnorm", (c, 5), p, {"eps": 1e-3, "axis": 0})
    want = torch.nn.functional.batch_norm(torch.tensor(x), torch.tensor(p["mean"]), torch.tensor(p["var"]),
                                          torch.tensor(p["scale"]), torch.tensor(p["bias"]), eps=1e-3)
    np.testing.assert_allclose(net(x), want.numpy(), rtol=1e-12)
    for op, f in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        for axis in (0, 1, -1):
            got = one_layer(op, (c, 5), attrs={"axis": axis})(x)
            dim = axis + 1 if axis >= 0 else axis
            np.testing.assert_allclose(got, f(torch.tensor(x), dim).numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(n for n, a in ACTIVATIONS.items() if a.torch and a.torch[0][0].isupper()
                                        and "(" not in a.torch[0]))
def test_activation_numpy_matches_torch_module(torch, name):
    row = ACTIVATIONS[name]
    cls = getattr(torch.nn, row.torch[0])
    x = np.concatenate([np.linspace(-30, 30, 601), rng.normal(size=200) * 3, [0.0, -0.0, 1e-9, -1e-9]])
    params = {"threshold": 0.5, "value": -2.0} if name == "threshold" else {}
    want = cls(**params).eval()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(row.numpy_fn(x, params), want, rtol=1e-13, atol=1e-15)


def test_shape_errors_name_the_layer():
    b = NetBuilder("bad")
    x = b.input("x", (3,))
    b.layer("linear", [x], params={"weight": np.ones((2, 4))}, path="features.0")
    with pytest.raises(ConversionError, match=r"bad: features\.0 \(linear\): weight \[2, 4\] does not fit input \[3\]"):
        b.build(["h1"])


def test_unknown_activation_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="unknown parameter 'slope'"):
        ACTIVATIONS["leaky_relu"].full_params({"slope": 0.1})


def test_text_form_elides_weights():
    net = one_layer("linear", (3,), {"weight": np.ones((2, 3), np.float32), "bias": np.zeros(2, np.float32)})
    assert str(net) == "linear(x: f32[3]) -> h1: f32[2]\n  h1: f32[2] = linear(x; weight=f32[2,3], bias=f32[2])"
