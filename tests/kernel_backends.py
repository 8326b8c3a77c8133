"""The two kernels every kernel-path test runs against, as a module-scoped pytest fixture parameter.

- ``standin``: ``tests/kernelstandin``, a WolframKernel protocol double that evaluates with Mathics3:
  every ``pytest`` run sends the requests through wolframclient's real protocol (sockets, WXF, handshake,
  EvaluationData replies); it proves the Python side, not the Wolfram Engine's answers;
- ``wolfram``: the real kernel at ``WOLFRAM_KERNEL`` (marker ``wolfram``; skipped when unset).
"""
from __future__ import annotations

import os

import pytest

STARTUP_TIMEOUT = 300.0  # Mathics3 starts in 3-6 s, much longer on a loaded machine

needs_real_kernel = pytest.mark.skipif(not os.environ.get("WOLFRAM_KERNEL"), reason="set WOLFRAM_KERNEL to run")
BACKENDS = [pytest.param("standin", marks=pytest.mark.mathics),
            pytest.param("wolfram", marks=[pytest.mark.wolfram, needs_real_kernel])]


def kernel_for(backend: str, tmp_path_factory, **standin_options) -> str:
    """The WolframKernel path of ``backend`` (the stand-in is written to a fresh temporary folder)."""
    if backend == "wolfram":
        return os.environ["WOLFRAM_KERNEL"]
    pytest.importorskip("mathics")
    pytest.importorskip("zmq")
    from .kernelstandin import kernel_executable

    return kernel_executable(tmp_path_factory.mktemp("kernel"), **standin_options)
