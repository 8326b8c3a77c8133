"""net.jacobian(): a net of d outputs / d inputs. Each activation's derivative column against central
differences; the Jacobian of every net of the end-to-end table equals torch autograd in float64
(<= 1e-12 relative); the Jacobian net's compact WL code evaluates to the same numbers in Woxi."""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.ops import ACTIVATIONS
from wlbridge.reference import eval_scalar_body

from .cases import CASES, NON_DEFAULT, activation_net, sample_inputs

# no derivative row (gamma, loggamma) or piecewise-constant (a kink in the sampled point is unlikely but the
# difference quotient of floor/ceil/round/sign is 0 or huge); reduce max has no rule
NO_JACOBIAN = {"act_gamma", "act_loggamma", "act_floor", "act_ceil", "act_round", "act_sign", "act_trunc", "reduce_max",
               "adaptive_max_upsample"}

DOMAIN = {"log": (0.2, 3), "sqrt": (0.2, 3), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9),
          "acosh": (1.2, 3), "reciprocal": (0.3, 3)}


@pytest.mark.parametrize("name", [n for n in ACTIVATIONS if ACTIVATIONS[n].d is not None])
def test_derivative_column_matches_central_differences(name):
    row = ACTIVATIONS[name]
    lo, hi = DOMAIN.get(name, (-4, 4))
    x = np.random.default_rng(0).uniform(lo, hi, 200)
    x = x[np.abs(x - np.round(x * 2) / 2) > 1e-3]  # away from kinks at multiples of 0.5
    for params in [None, NON_DEFAULT.get(name)]:
        p = row.full_params(params)
        h = 1e-6
        fd = (row.numpy_fn(x + h, p) - row.numpy_fn(x - h, p)) / (2 * h)
        kink = np.abs(fd - (row.numpy_fn(x + h / 10, p) - row.numpy_fn(x - h / 10, p)) / (h / 5)) > 1e-3
        d = np.broadcast_to(eval_scalar_body(row.derivative(p), [x]), x.shape)
        np.testing.assert_allclose(d[~kink], fd[~kink], rtol=1e-6, atol=1e-6)


def _central_differences(net, xs, h=1e-6):
    """d outputs / d inputs by central differences, in the Jacobian net's output layout."""
    outs = []
    ref = net(*xs)
    ref = ref if isinstance(ref, list) else [ref]
    for o, r in enumerate(ref):
        for p, x in enumerate(xs):
            d = np.zeros((*r.shape, *x.shape))
            for idx in np.ndindex(x.shape):
                hi = [a.copy() for a in xs]
                lo = [a.copy() for a in xs]
                hi[p][idx] += h
                lo[p][idx] -= h
                fh, fl = net(*hi), net(*lo)
                fh, fl = (fh if isinstance(fh, list) else [fh])[o], (fl if isinstance(fl, list) else [fl])[o]
                d[(...,) + idx] = (fh - fl) / (2 * h)
            outs.append(d)
    return outs


@pytest.mark.parametrize("case", [c for c in CASES if not {"integer_input", "head"} & c.tags and c.name not in NO_JACOBIAN],
                         ids=repr)
def test_case_table_against_central_differences(case):
    net = case.build()
    jac = net.jacobian()
    xs = [x[0] for x in sample_inputs(net, 1, seed=5)]
    got = jac(*xs)
    got = got if isinstance(got, list) else [got]
    want = _central_differences(net, xs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(w).max()))


def test_unsupported_derivative_named():
    from wlbridge.errors import UnsupportedLayerError

    with pytest.raises(UnsupportedLayerError, match=r"elementwise\[gamma\]"):
        activation_net("gamma").jacobian()


torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import wlbridge as wb  # noqa: E402

from .test_torch_frontend import ACTIVATION_MODULES, FUNCTIONAL, Fn  # noqa: E402


def assert_jacobian_matches_torch(module, shape, samples=4, seed=0, rtol=1e-12):
    module = module.double().eval()
    net = wb.from_torch(module, shape)
    jac = net.jacobian()
    rng = np.random.default_rng(seed)
    for _ in range(samples):
        x = rng.standard_normal(shape)
        want = torch.autograd.functional.jacobian(lambda t: module(t[None])[0], torch.tensor(x)).numpy()
        got = jac(x)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)
    return net, jac


@pytest.mark.torch
@pytest.mark.parametrize("act", ACTIVATION_MODULES, ids=repr)
def test_activation_nets(act):
    torch.manual_seed(0)
    # torch's float64 backward of Hardsigmoid uses 1/6 rounded to float32 (1.0f / 6.0f), and of CELU (alpha != 1)
    # is off by ~2e-8 relative from exp(x/alpha), while their forwards agree to 1e-16 (measured): wlbridge gives the
    # exact derivative, and torch is within 1e-7 of it there
    rtol = 1e-7 if isinstance(act, nn.Hardsigmoid) or isinstance(act, nn.CELU) and act.alpha != 1.0 else 1e-12
    assert_jacobian_matches_torch(nn.Sequential(nn.Linear(3, 4), act, nn.Linear(4, 2)), (3,), rtol=rtol)


@pytest.mark.torch
@pytest.mark.parametrize("name", FUNCTIONAL)
def test_functional_forms(name):
    # F.hardsigmoid: torch's backward uses 1/6 in float32 (see above); F.batch_norm: the torch front end reads
    # this test's constant tensors as float32 (scale 0.7 -> 0.699999988), so the net differs from torch by 1.7e-8
    rtol = 1e-7 if name in ("F.hardsigmoid", "F.batch_norm") else 1e-12
    assert_jacobian_matches_torch(Fn(FUNCTIONAL[name]), (2, 3), rtol=rtol)


def _graph_modules():
    from .test_torch_end_to_end import Concat, Residual, SmallCNN, _randomize_batchnorm

    torch.manual_seed(1)
    return {"residual": (_randomize_batchnorm(Residual()), (4,)), "concat": (Concat(), (3,)),
            "cnn": (_randomize_batchnorm(SmallCNN()), (2, 6, 6))}


@pytest.mark.torch
@pytest.mark.parametrize("name", ["residual", "concat", "cnn"])
def test_graph_nets(name):
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    module, shape = _graph_modules()[name]
    assert_jacobian_matches_torch(module, shape)


@pytest.mark.torch
@pytest.mark.woxi
@pytest.mark.parametrize("name", ["residual", "concat"])  # cnn: its 368 KB Jacobian code exhausts Woxi's memory
def test_jacobian_net_compact_code_in_woxi(name):
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    module, shape = _graph_modules()[name]
    jac = wb.from_torch(module.double().eval(), shape).jacobian()
    report = jac.check(engine="woxi", samples=8, sympy=False)
    assert report.passed and report.max_rel_err <= 1e-12 or report.max_abs_err <= 1e-12, str(report)


WOXI_CASES = ["identity", "act_erf", "prelu", "pool_max", "binary_ops", "softmax_axis0", "log_softmax_axis1", "conv1d"]


@pytest.mark.woxi
@pytest.mark.parametrize("case", [c for c in CASES if c.name in WOXI_CASES], ids=repr)
def test_case_table_jacobian_code_in_woxi(case, request):
    pytest.importorskip("woxi")
    report = case.build().jacobian().check(engine="woxi", samples=4)
    assert report.passed, str(report)


@pytest.mark.slow
@pytest.mark.woxi
def test_whole_case_table_jacobian_code_in_woxi(request):  # ~45 s
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow: run with -m slow")
    pytest.importorskip("woxi")
    from wlbridge.check.engines import get_engines

    (engine,) = get_engines("woxi")
    for case in CASES:
        if not {"integer_input", "head"} & case.tags and case.name not in NO_JACOBIAN:
            report = case.build().jacobian().check(engine=engine, samples=4)
            assert report.passed, str(report)
