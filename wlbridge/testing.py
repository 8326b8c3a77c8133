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

from ._options import keywords
from .check.calls import detect_call
from .errors import CheckFailedError, EngineNotFoundError, OptionError
from .ir import Net

__all__ = ["assert_equivalent", "assert_check", "as_net", "NotEquivalentError", "woxi_engine", "mathics_engine",
           "wolfram_engine", "wl_engines"]


class NotEquivalentError(CheckFailedError, AssertionError):
    """A check that failed inside a test: an ``AssertionError`` whose message is the full report (``.report``)."""


@keywords
def as_net(model_or_net, input_shape=None, *, input_names=None, sequence_length: int | None = None,
           dtype=None) -> Net:
    """A :class:`Net` from a Net, a model file (:func:`wlbridge.load`), an ``onnx.ModelProto``
    (:func:`wlbridge.from_onnx`) or a torch module (:func:`wlbridge.from_torch`, needs ``input_shape``). The
    keywords go to that loader; one it does not take (``dtype`` for a file, any for a Net) is an ``OptionError``."""
    import wlbridge as wb

    given = {k: v for k, v in (("input_shape", input_shape), ("input_names", input_names),
                               ("sequence_length", sequence_length), ("dtype", dtype)) if v is not None}

    def only(kind: str, *allowed: str) -> dict:
        extra = [k for k in given if k not in allowed]
        if extra:
            raise OptionError(f"{', '.join(extra)} do{'es' if len(extra) == 1 else ''} not apply to {kind}"
                              + (f" (it takes {', '.join(allowed)})" if allowed else ""))
        return {k: v for k, v in given.items() if k != "input_shape"}

    if isinstance(model_or_net, Net):
        only("a Net (already loaded)")
        return model_or_net
    if isinstance(model_or_net, (str, Path)):
        return wb.load(model_or_net, **only("a model file", "input_names", "sequence_length"))
    kind = type(model_or_net).__module__.split(".")[0]
    if kind == "onnx":
        return wb.from_onnx(model_or_net, **only("an ONNX model", "input_names", "sequence_length"))
    if kind == "torch" or hasattr(model_or_net, "state_dict"):
        if input_shape is None:
            raise OptionError("a torch module needs input_shape= (the input's shape without the batch axis)")
        return wb.from_torch(model_or_net, input_shape, **only("a torch module", "input_shape", "input_names", "dtype"))
    raise OptionError(f"not a net, a model file or a model: {type(model_or_net).__name__}")


@keywords
def assert_check(net, engine="auto", samples: int = 64, seed: int = 0, code: str | None = None, *,
                 form: str = "compact", call: str = "list", inputs=None, rtol: float | None = None,
                 atol: float | None = None, mathics_budget: float = 10.0, sympy: bool = True, exact: bool = False,
                 timeout: float | None = 120.0, on_row=None, progress: bool | None = None,
                 max_size: int | None = None, kernel: str | None = None, startup_timeout: float | None = None,
                 digits: int | str | None = None, box=None, arrays: str = "files", per_layer: bool = False):
    """Run ``net.check(...)`` (``net``: anything :func:`as_net` takes; the options are :meth:`Net.check`'s);
    return the report, or raise :class:`NotEquivalentError` with it."""
    report = as_net(net).check(engine, samples, seed, code, form=form, call=call, inputs=inputs, rtol=rtol, atol=atol,
                               mathics_budget=mathics_budget, sympy=sympy, exact=exact, timeout=timeout,
                               on_row=on_row, progress=progress, max_size=max_size, kernel=kernel,
                               startup_timeout=startup_timeout, digits=digits, box=box, arrays=arrays,
                               per_layer=per_layer)
    if not report.passed:
        raise NotEquivalentError(report)
    return report


@keywords
def assert_equivalent(model_or_net, wl_code: str, *, input_shape=None, engine="auto", samples: int = 64,
                      seed: int = 0, call: str | None = None, inputs=None, rtol: float | None = None,
                      atol: float | None = None, sympy: bool = False, timeout: float | None = 120.0,
                      kernel: str | None = None, arrays: str = "files", per_layer: bool = False):
    """Assert that the WL ``Function`` ``wl_code`` computes what the model computes.

    The model (any :func:`as_net` input) is evaluated by wlbridge's float64 reference (and by its
    own library when that is installed: torch, onnxruntime); ``wl_code`` in ``engine`` (a name or
    an engine from the fixtures). ``call`` defaults to what the Function's parameter list says.
    The sympy row (wlbridge's own formula) is off unless ``sympy=True``; the other options are
    :meth:`Net.check`'s. Returns the report.
    """
    net = as_net(model_or_net, input_shape)
    call = call or detect_call(wl_code, net) or "list"
    return assert_check(net, engine, samples, seed, wl_code, call=call, inputs=inputs, rtol=rtol, atol=atol,
                        sympy=sympy, timeout=timeout, kernel=kernel, arrays=arrays, per_layer=per_layer)


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
