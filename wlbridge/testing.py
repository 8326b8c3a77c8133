"""Helpers and pytest fixtures for cross-system validation suites (a net here, WL code there).

In a test file (or the root ``conftest.py``)::

    pytest_plugins = ["wlbridge.testing"]          # the engine fixtures below

    def test_formula(woxi_engine):
        assert_equivalent(my_module, "Function[{x1, x2, x3}, ...]", input_shape=(3,), engine=woxi_engine)

Fixtures (session-scoped, skipped when the engine is absent): ``woxi_engine``, ``mathics_engine``,
``wolfram_engine`` (needs a kernel: ``WOLFRAM_KERNEL``), ``wl_engines`` (every available one).
``examples/test_my_net.py`` is a complete example.

Under pytest-xdist (``pytest -n auto``) every worker process opens its own engines (session
fixtures live per process) and nothing passes between workers through files by name, so a suite
of many nets spreads over the cores as it is (``tests/test_testing_xdist.py`` runs the example
with ``-n 2``). For many model *files*, ``wlbridge.check_many`` / ``wlbridge check DIR/`` is the
shorter road.

>>> import wlbridge as wb
>>> b = wb.NetBuilder("t"); x = b.input("x", (2,)); net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> as_net(net) is net
True
"""
from __future__ import annotations

from pathlib import Path

from .check.calls import detect_call
from .errors import CheckFailedError, EngineNotFoundError
from .ir import Net

__all__ = ["assert_equivalent", "assert_check", "as_net", "NotEquivalentError", "woxi_engine", "mathics_engine",
           "wolfram_engine", "wl_engines"]


class NotEquivalentError(CheckFailedError, AssertionError):
    """A check that failed inside a test: an ``AssertionError`` whose message is the full report (``.report``)."""


def as_net(model_or_net, input_shape=None, **settings) -> Net:
    """A :class:`Net` from a Net, a model file, an ``onnx.ModelProto`` or a torch module (needs ``input_shape``)."""
    import wlbridge as wb

    if isinstance(model_or_net, Net):
        return model_or_net
    if isinstance(model_or_net, (str, Path)):
        return wb.load(model_or_net, **settings)
    kind = type(model_or_net).__module__.split(".")[0]
    if kind == "onnx":
        return wb.from_onnx(model_or_net, **settings)
    if kind == "torch" or hasattr(model_or_net, "state_dict"):
        if input_shape is None:
            raise TypeError("a torch module needs input_shape= (the input's shape without the batch axis)")
        return wb.from_torch(model_or_net, input_shape, **settings)
    raise TypeError(f"not a net, a model file or a model: {type(model_or_net).__name__}")


def assert_check(net, **check_settings):
    """Run ``net.check(**check_settings)``; return the report, or raise :class:`NotEquivalentError` with it."""
    report = as_net(net).check(**check_settings)
    if not report.passed:
        raise NotEquivalentError(report)
    return report


def assert_equivalent(model_or_net, wl_code: str, *, input_shape=None, engine="auto", samples: int = 64,
                      seed: int = 0, call: str | None = None, **check_settings):
    """Assert that the WL ``Function`` ``wl_code`` computes what the model computes.

    The model (any :func:`as_net` input) is evaluated by wlbridge's float64 reference (and by its
    own library when that is installed: torch, onnxruntime); ``wl_code`` in ``engine`` (a name or
    an engine from the fixtures). ``call`` defaults to what the Function's parameter list says.
    The sympy row (wlbridge's own formula) is off unless ``sympy=True``. Returns the report.
    """
    net = as_net(model_or_net, input_shape)
    call = call or detect_call(wl_code, net) or "list"
    check_settings.setdefault("sympy", False)
    return assert_check(net, engine=engine, samples=samples, seed=seed, code=wl_code, call=call, **check_settings)


# ---- pytest fixtures (``pytest_plugins = ["wlbridge.testing"]``) --------------------------------------------
try:
    import pytest
except ImportError:  # the helpers above work without pytest
    pytest = None


def _engine(name: str):
    from .check.engines import get_engines

    try:
        engine = get_engines(name)[0]
    except EngineNotFoundError as e:
        pytest.skip(str(e))
    return engine


if pytest is not None:
    @pytest.fixture(scope="session")
    def woxi_engine():
        """The Woxi engine (skipped when ``woxi`` is not installed)."""
        engine = _engine("woxi")
        yield engine
        engine.close()

    @pytest.fixture(scope="session")
    def mathics_engine():
        """The Mathics3 engine, one session for the whole run (skipped when not installed)."""
        engine = _engine("mathics")
        yield engine
        engine.close()

    @pytest.fixture(scope="session")
    def wolfram_engine():
        """A Wolfram Engine kernel (skipped when none is found; set ``WOLFRAM_KERNEL``)."""
        from .check.wolfram import find_kernel

        if find_kernel() is None:
            pytest.skip("no Wolfram Engine found (set WOLFRAM_KERNEL)")
        engine = _engine("wolfram")
        yield engine
        engine.close()

    @pytest.fixture(scope="session")
    def wl_engines():
        """Every available WL engine (a kernel if found, else Woxi and Mathics3); skipped when there is none."""
        from .check.engines import get_engines

        try:
            engines = get_engines("auto")
        except EngineNotFoundError as e:
            pytest.skip(str(e))
        yield engines
        for e in engines:
            e.close()
