"""The seed net and the shared layer table through a kernel, with wolframclient's own protocol: against
the WolframKernel stand-in (Mathics3 behind the protocol) in every run, and against a real Wolfram Engine
when ``WOLFRAM_KERNEL`` is set (``-m wolfram``).

- Python -> kernel: the emitted compact and expanded Functions evaluated in the kernel (``check`` with
  ``engine="wolfram"``) agree with the numpy reference, every case (4 samples each through the stand-in,
  16 in a real kernel);
- Python -> .wxf -> kernel ``Import`` -> the net evaluated by the kernel (real kernel only: it needs the
  neural net framework, which no stand-in has).
"""
import os

import numpy as np
import pytest

from .cases import CASES
from .kernel_backends import BACKENDS, STARTUP_TIMEOUT, kernel_for, needs_real_kernel

WOLFRAM_CASES = [c for c in CASES if "integer_input" not in c.tags]


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request, tmp_path_factory):
    from wlbridge.check.engines import get_engines

    (k,) = get_engines("wolfram", kernel=kernel_for(request.param, tmp_path_factory), startup_timeout=STARTUP_TIMEOUT)
    k.backend = request.param
    yield k
    k.close()


def test_seed_net_checks_in_the_kernel(engine):
    torch = pytest.importorskip("torch")
    import wlbridge as wb
    from examples.seed_net import train_seed_net

    torch.manual_seed(0)
    net = wb.from_torch(train_seed_net(), (3,))
    for form, call in (("compact", "list"), ("expanded", "sequence")):
        report = net.check(engine=engine, form=form, call=call, samples=64 if engine.backend == "wolfram" else 8)
        assert report.passed, str(report)
        assert report.max_rel_err < 1e-12
        assert [r.evaluator for r in report.rows if r.evaluator == "wolfram"] == ["wolfram"]


def _check_emitted(engine, case):
    net = case.build()
    samples = 16 if engine.backend == "wolfram" else 4
    report = net.check(engine=engine, samples=samples, sympy=False)
    assert report.passed, str(report)
    row = next(r for r in report.rows if r.evaluator == "wolfram")
    assert row.samples == samples


@pytest.mark.parametrize("case", WOLFRAM_CASES, ids=lambda c: c.name)
def test_emitted_code_in_the_kernel(engine, case):
    _check_emitted(engine, case)


# ---- real kernel only: the net framework ------------------------------------------------------------

@pytest.fixture(scope="module")
def session():
    from wlbridge.frontends.wolfram import kernel

    s = kernel.kernel_session(os.environ["WOLFRAM_KERNEL"])
    kernel.load_paclet(s)
    yield s
    s.terminate()


@pytest.mark.wolfram
@needs_real_kernel
@pytest.mark.parametrize("case", WOLFRAM_CASES, ids=lambda c: c.name)
def test_python_net_imported_by_the_kernel(session, case, tmp_path):
    """Needs the net framework (Import of a net, NetChain evaluation): real kernel only."""
    import wlbridge as wb
    from wlbridge.errors import UnsupportedLayerError
    from wlbridge.frontends.wolfram import kernel
    from wolframclient.language import wlexpr

    net = case.build()
    path = tmp_path / f"{case.name}.wxf"
    try:
        wb.save_wxf(net, path)
    except UnsupportedLayerError as e:
        pytest.skip(f"no Wolfram layer for it: {e}")
    session.evaluate(wlexpr(f'imported = WLBridge`ImportPythonNet["{path.as_posix()}"]; '
                            f'fn = WLBridge`NetToFunction[imported];'))  # noqa: E501
    if len(net.inputs) != 1 or len(net.outputs) != 1:
        pytest.skip("port names of multi-port nets are the writer's; covered by test_emitted_code_in_the_kernel")
    x = np.random.default_rng(7).normal(size=(6, *net.input_shape))
    got = kernel.evaluate_in_kernel(session, kernel.evaluation_code("imported", ["Input"], ["Output"], "Real64"), [x])
    np.testing.assert_allclose(got[0], net(x), rtol=1e-9, atol=1e-12)
    diff = session.evaluate(kernel.evaluation_payload(
        "Function[{xs}, Max[Abs[Map[fn, xs] - Normal[imported[xs, WorkingPrecision -> \"Real64\"]]]]]", [x]))
    assert float(diff) < 1e-9  # the paclet's NetToFunction of the imported net, inside the kernel
