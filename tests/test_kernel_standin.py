"""The Wolfram Engine path through wolframclient's own protocol, against the WolframKernel stand-in
(``tests/kernelstandin``: Mathics3 behind the protocol) in every run and a real kernel with ``-m wolfram``:
exact data both ways, evaluate_function, messages, timeouts (a sleeping kernel is terminated), startup
failure, complex results, and a process that used the kernel exits on its own."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from wlbridge.check import wolfram
from wlbridge.check.engines import WolframEngine, evaluate_function, get_engines

from .kernel_backends import BACKENDS, STARTUP_TIMEOUT, kernel_for

pytest.importorskip("wolframclient")


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request, tmp_path_factory):
    k = WolframEngine(kernel_for(request.param, tmp_path_factory), startup_timeout=STARTUP_TIMEOUT)
    k.backend = request.param
    yield k
    k.close()


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return kernel_for("standin", tmp_path_factory)


def test_inputs_cross_bit_exactly(engine):
    """Finding 1: the payload must be evaluated, not echoed back as a ByteArray; doubles come back as sent."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)) * 10.0 ** rng.integers(-300, 300, size=(5, 3))
    r = engine.apply("Function[{x}, x]", [x], output_shapes=[(3,)])
    assert r.ok, r.problem
    np.testing.assert_array_equal(r.values[0].view(np.uint64), x.view(np.uint64))


def test_evaluate_function_with_an_engine(engine):
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    got = evaluate_function(engine, "Function[{x}, {x[[1]] x[[2]] + 1, Max[x]}]", x)
    np.testing.assert_array_equal(got, np.array([[0.5, 0.5], [7.0, 3.0]]))


def test_kernel_messages_fail_the_check(engine):
    x = np.ones((2, 1))
    bad = engine.apply("Function[{x}, {1/(x[[1]] - x[[1]])}]", [x])
    assert not bad.ok and any("Infinite expression" in m for m in bad.messages), bad.messages


def test_complex_result_is_a_fail_row_with_its_text(engine):
    """Finding 6: MachineNumberQ accepts complex numbers; the row fails with the text, no TypeError."""
    import wlbridge as wb

    b = wb.NetBuilder("c"); x = b.input("x", (1,))
    net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
    report = net.check(engine=engine, code="Function[{x}, {Sqrt[x[[1]] - 10.]}]", samples=3, sympy=False)
    row = next(r for r in report.rows if r.evaluator == "wolfram")
    assert not report.passed and row.passed is False
    assert "I" in row.note, row.note


def test_wlbridge_messages_are_readable(engine):
    """Finding 7: the client library formats only General:: messages; WLBridge ones still read well."""
    from wolframclient.language import wlexpr

    from wlbridge.frontends.wolfram import kernel

    kernel.load_paclet(engine.session)
    _, messages = kernel._wrap(engine.session, wlexpr("WLBridge`NetToPlainData[1]"))
    assert messages == ["WLBridge::kernel: NetToPlainData needs the Wolfram Engine's neural network framework "
                        "(NetChain, NetExtract)"], messages
    assert wolfram.readable_message("Power::infy: Infinite expression 1/0 encountered.") == \
        "Power::infy: Infinite expression 1/0 encountered."


def test_a_sleeping_kernel_is_terminated(tmp_path):
    """Finding 3: the timeout is real; the hung kernel process is killed."""
    k = WolframEngine(_sleeping(tmp_path),
                      startup_timeout=STARTUP_TIMEOUT)
    process = k.session.kernel_controller.kernel_proc
    t0 = time.perf_counter()
    r = k.apply("Function[{x}, x]", [np.ones((1, 1))], timeout=1.0)
    assert time.perf_counter() - t0 < 30
    assert not r.ok and "no answer after 2 s" in r.problem and "terminated" in r.problem
    deadline = time.time() + 20
    while process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert process.poll() is not None
    k.close()


def _sleeping(tmp_path):
    pytest.importorskip("mathics")
    from .kernelstandin import kernel_executable

    return kernel_executable(tmp_path, sleep=600)


def test_startup_failure_is_an_engine_error(tmp_path):
    from .kernelstandin import kernel_executable

    k = WolframEngine(kernel_executable(tmp_path, fail="startup"), startup_timeout=60)
    r = k.apply("Function[{x}, x]", [np.ones((1, 1))])
    assert not r.ok and "cannot start the kernel" in r.problem and str(tmp_path) in r.problem


def test_startup_timeout_is_settable(tmp_path, monkeypatch):
    """Finding 4: the default is generous, the env var and the argument set it; a silent kernel gives up."""
    from .kernelstandin import kernel_executable

    assert wolfram.startup_timeout() >= 120
    monkeypatch.setenv("WLBRIDGE_KERNEL_STARTUP_TIMEOUT", "7.5")
    assert wolfram.startup_timeout() == 7.5 and wolfram.startup_timeout(3) == 3.0
    k = WolframEngine(kernel_executable(tmp_path, fail="silent"), startup_timeout=2)
    t0 = time.perf_counter()
    r = k.apply("Function[{x}, x]", [np.ones((1, 1))])
    assert not r.ok and "cannot start" in r.problem and time.perf_counter() - t0 < 30


def test_kernel_argument_and_missing_kernel(tmp_path, monkeypatch):
    from wlbridge.errors import EngineNotFoundError

    with pytest.raises(EngineNotFoundError, match="kernel='/nowhere/WolframKernel' is not a file"):
        get_engines("wolfram", kernel="/nowhere/WolframKernel")


def test_macos_and_windows_locations(monkeypatch):
    """Finding 5: the Wolfram Engine app keeps its kernel inside the bundled Wolfram Player."""
    monkeypatch.setattr(wolfram.sys, "platform", "darwin")
    mac = wolfram.kernel_candidates()
    assert "/Applications/*.app/Contents/Resources/Wolfram Player.app/Contents/MacOS/WolframKernel" in mac
    assert "/Applications/*.app/Contents/MacOS/WolframKernel" in mac
    monkeypatch.setattr(wolfram.sys, "platform", "win32")
    assert any("Wolfram Research" in p and p.endswith("WolframKernel.exe") for p in wolfram.kernel_candidates())


def test_a_process_that_used_the_kernel_exits(standin):
    """Finding 2: an open session used to keep Python from exiting (a non-daemon controller thread)."""
    script = textwrap.dedent(f"""
        import numpy as np, wlbridge as wb
        from wlbridge.check.engines import evaluate_function, WolframEngine
        print(evaluate_function("wolfram", "Function[{{x}}, 2 x]", np.array([[1.5]]), kernel={standin!r},
                                startup_timeout={STARTUP_TIMEOUT}).tolist())
        kept = WolframEngine({standin!r}, startup_timeout={STARTUP_TIMEOUT})   # left open on purpose
        print(kept.evaluate("1 + 1"))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the process and the kernels it started
        proc.communicate()
        pytest.fail("the process did not exit within 240 s after its last statement")
    assert proc.returncode == 0, stderr[-2000:]
    assert stdout.split() == ["[[3.0]]", "2"]


def test_import_python_net_reads_held_and_refuses_other_files(engine, tmp_path):
    """Finding 9: ImportPythonNet[file] was Import[file] (evaluating whatever a .wxf holds)."""
    from wolframclient.language import wlexpr
    from wolframclient.language.expression import WLFunction, WLSymbol
    from wolframclient.serializers import export

    import wlbridge as wb
    from wlbridge.frontends.wolfram import kernel
    from .cases import CASES

    s = engine.session
    kernel.load_paclet(s)
    evil = tmp_path / "evil.wxf"
    evil.write_bytes(export(WLFunction(WLSymbol("CompoundExpression"),
                                       WLFunction(WLSymbol("Set"), WLSymbol("Global`wlbridgeHit"), 1),
                                       WLFunction(WLSymbol("NetChain"), {"Type": "Chain"})), target_format="wxf"))
    for form in ("", ', "Function"'):
        result, messages = kernel._wrap(s, wlexpr(f'WLBridge`ImportPythonNet["{evil.as_posix()}"{form}]'))
        assert str(result) == "$Failed" and messages and "is not a net written by wlbridge" in messages[0], messages
    hit, _ = kernel._wrap(s, wlexpr("ValueQ[Global`wlbridgeHit]"))
    assert hit is False
    net = next(c for c in CASES if c.name == "seed_net").build()
    good = tmp_path / "seed.wxf"
    wb.save_wxf(net, good)
    x = np.random.default_rng(3).normal(size=(4, *net.input_shape))
    got = kernel.evaluate_in_kernel(s, f'Function[{{xs}}, {{Map[WLBridge`ImportPythonNet["{good.as_posix()}", '
                                       f'"Function"], xs]}}]', [x])
    np.testing.assert_allclose(got[0], net(x), rtol=1e-9, atol=1e-12)
