"""Fuzzing the Wolfram readers: mutated real and generated files give a WlbridgeError or a net, never a
crash or a hang. Bounded to well under a minute (few examples, no deadline: HDF5 start-up varies)."""
from __future__ import annotations

import base64
import dataclasses
import os
import zlib

import numpy as np
import pytest

from wlbridge import limits
from wlbridge.errors import WlbridgeError
from wlbridge.frontends.wolfram import compress
from wlbridge.frontends.wolfram.inputform import parse, to_inputform
from wlbridge.frontends.wolfram.wlnet import load_wlnet, save_wlnet
from wlbridge.frontends.wolfram.wxf import load_wxf, net_from_wxf, wxf_from_net
from tests.wolfram_files import fixture_dir
from tools.fuzz.seeds import ir_nets

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("h5py")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAST = settings(max_examples=int(os.environ.get("WLBRIDGE_FUZZ_EXAMPLES", 60)), deadline=None,
                derandomize=not os.environ.get("WLBRIDGE_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def _hdf5_in_process():
    """libhdf5 in-process here (a fork per example is slow); its time-limited worker is tested in
    test_bounded_input.py and used by the forked campaign (test_campaign.py)."""
    previous = limits.set_limits(parse_seconds=0)
    yield
    limits.set_limits(**dataclasses.asdict(previous))


def small_net():
    """The campaign's conv seed (conv, batchnorm, leaky ReLU, linear, softmax)."""
    return ir_nets()[0]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("seeds")
    save_wlnet(small_net(), d / "gen.wlnet")
    files = [(d / "gen.wlnet").read_bytes()]
    real = fixture_dir()
    if real is not None:
        files += [p.read_bytes() for p in sorted(real.glob("*.wlnet")) if p.stat().st_size < 100_000]
    return files


def mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for pos, val, kind in edits:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] = val
        elif kind == 1:
            del buf[i:i + 1 + val % 64]
        else:
            buf[i:i] = bytes([val]) * (1 + val % 8)
    return bytes(buf)


EDITS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255), st.integers(0, 2)), min_size=1, max_size=6)


def read_or_error(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except WlbridgeError:
        return None


@FAST
@given(which=st.integers(0, 10), edits=EDITS, cut=st.integers(0, 100))
def test_mutated_wlnet_files(tmp_path_factory, seeds, which, edits, cut):
    data = mutate(seeds[which % len(seeds)], edits)
    if cut > 90:
        data = data[: len(data) * (cut - 90) // 10]
    p = tmp_path_factory.mktemp("m") / "m.wlnet"
    p.write_bytes(data)
    net = read_or_error(load_wlnet, p)
    if net is not None:
        read_or_error(net, np.zeros(net.inputs[0].shape))


@FAST
@given(edits=EDITS)
def test_mutated_compress_payloads(edits):
    src = compress.unwrap(compress.encode({"a": [1, 2.5, "x", np.arange(3.0)], "b": {"c": [[1, 2], [3]]}}))
    data = mutate(src, edits)
    s = "1:" + base64.b64encode(zlib.compress(data)).decode()
    read_or_error(compress.decode, s)


@FAST
@given(edits=EDITS)
def test_mutated_network_strings(edits):
    """Mutate the !boR bytes of a real net association, then convert it."""
    from wlbridge.frontends.wolfram.netassoc import net_from_assoc
    from wlbridge.frontends.wolfram.netwriter import assoc_from_net

    raw = compress.unwrap(compress.encode(assoc_from_net(small_net())))
    tree = read_or_error(compress.decode_binary, mutate(raw, edits))
    if tree is not None:
        read_or_error(net_from_assoc, tree, source="fuzz")


@FAST
@given(edits=EDITS)
def test_mutated_wxf(edits):
    read_or_error(net_from_wxf, mutate(wxf_from_net(small_net()), edits), source="fuzz.wxf")


@FAST
@given(st.text(alphabet='<|>{}[]",-:`*^0123456789.abcT \\', max_size=80))
def test_random_inputform_text(text):
    v = read_or_error(parse, text)
    if v is not None:
        assert to_inputform(v)  # what parses, prints


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_as_every_format(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("r") / "r.bin"
    for prefix, reader in ((b"", load_wlnet), (b"\x89HDF\r\n\x1a\n", load_wlnet), (b"8:", load_wxf),
                           (b"8C:", load_wxf)):
        p.write_bytes(prefix + data)
        read_or_error(reader, p)
    read_or_error(compress.decode, b"1:" + base64.b64encode(data))
