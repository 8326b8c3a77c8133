"""With a real Wolfram Engine (``WOLFRAM_KERNEL`` set; ``pytest -m wolfram``): the seed net and every case
of the shared layer table, both ways round.

- Python -> kernel: the emitted compact and expanded Functions evaluated by the kernel (``check`` with
  ``engine="wolfram"``) agree with the numpy reference;
- Python -> .wxf -> kernel ``Import`` -> the net evaluated by the kernel agrees with the reference, and the
  paclet's ``NetToFunction`` of that imported net agrees too.
Without a kernel every test here skips.
"""
import os

import numpy as np
import pytest

from .cases import CASES

pytestmark = [pytest.mark.wolfram,
              pytest.mark.skipif(not os.environ.get("WOLFRAM_KERNEL"), reason="set WOLFRAM_KERNEL to run")]

WOLFRAM_CASES = [c for c in CASES if "integer_input" not in c.tags]


@pytest.fixture(scope="module")
def engine():
    from wlbridge.check.engines import get_engines

    (k,) = get_engines("wolfram")
    yield k
    k.close()


@pytest.fixture(scope="module")
def session():
    from wlbridge.frontends.wolfram import kernel

    s = kernel.kernel_session(os.environ["WOLFRAM_KERNEL"])
    kernel.load_paclet(s)
    yield s
    s.terminate()


def test_seed_net_checks_in_the_kernel(engine):
    torch = pytest.importorskip("torch")
    import wlbridge as wb
    from examples.seed_net import train_seed_net

    torch.manual_seed(0)
    net = wb.from_torch(train_seed_net(), (3,))
    for form, call in (("compact", "list"), ("expanded", "sequence")):
        report = net.check(engine=engine, form=form, call=call, samples=64)
        assert report.passed, str(report)
        assert report.max_rel_err < 1e-12


@pytest.mark.parametrize("case", WOLFRAM_CASES, ids=lambda c: c.name)
def test_emitted_code_in_the_kernel(engine, case):
    net = case.build()
    report = net.check(engine=engine, samples=16, sympy=False)
    assert report.passed, str(report)


@pytest.mark.parametrize("case", WOLFRAM_CASES, ids=lambda c: c.name)
def test_python_net_imported_by_the_kernel(session, case, tmp_path):
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
