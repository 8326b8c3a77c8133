"""Hypothesis over the campaign's mutators, in-process: mutated ONNX graphs and .pt2 archives give a
net or a WlbridgeError (the forked, resource-limited runs are in test_campaign.py and tools/fuzz)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.errors import WlbridgeError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tools.fuzz.mutate import mutate  # noqa: E402
from tools.fuzz.seeds import onnx_seeds, pt2_seeds  # noqa: E402

FAST = settings(max_examples=int(os.environ.get("WLBRIDGE_FUZZ_EXAMPLES", 40)), deadline=None,
                derandomize=not os.environ.get("WLBRIDGE_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def onnx_models():
    pytest.importorskip("onnx")
    return onnx_seeds()


@pytest.fixture(scope="module")
def pt2_files():
    pytest.importorskip("torch")
    return pt2_seeds()


def _use(path):
    try:
        net = wb.load(path)
    except WlbridgeError:
        return
    net(*[np.zeros(p.shape) for p in net.inputs])
    net.to_wl()


@pytest.mark.onnx
@FAST
@given(case=st.integers(0, 2**32))
def test_mutated_onnx_graphs(tmp_path_factory, onnx_models, case):
    p = tmp_path_factory.mktemp("o") / "m.onnx"
    p.write_bytes(mutate("onnx", onnx_models, case)[0])
    _use(p)


@pytest.mark.torch
@FAST
@given(case=st.integers(0, 2**32))
def test_mutated_pt2_archives(tmp_path_factory, pt2_files, case):
    p = tmp_path_factory.mktemp("p") / "m.pt2"
    p.write_bytes(mutate("pt2", pt2_files, case)[0])
    _use(p)
