"""Hostile files: non-regular paths, sizes declared but not stored, huge constants, slow parsers.
Each must end quickly in a FormatError, before a library reads or allocates."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import wlbridge as wb
from wlbridge import limits
from wlbridge.errors import FormatError
from wlbridge.frontends.wolfram import compress, inputform
from wlbridge.frontends.wolfram.h5worker import run_bounded

pytest.importorskip("h5py")


def _mlp():
    b = wb.NetBuilder("mlp")
    x = b.input("x", (3,))
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    return b.build([b.layer("linear", [x], params={"weight": w, "bias": np.ones(2, np.float32)})])


@pytest.mark.parametrize("suffix", [".onnx", ".wlnet", ".wxf", ".pt2", ""])
def test_fifo_is_refused_before_reading(tmp_path, suffix):
    fifo = tmp_path / f"net{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(FormatError, match="not a regular file .a FIFO."):
        wb.load(fifo)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("suffix", [".onnx", ".wlnet"])
def test_symlink_to_a_device_is_refused(tmp_path, device, suffix):
    link = tmp_path / f"net{suffix}"
    link.symlink_to(device)
    for reader in (wb.load, wb.from_onnx) if suffix == ".onnx" else (wb.load,):
        with pytest.raises(FormatError, match="character device"):
            reader(link)


def test_file_size_cap(tmp_path):
    p = tmp_path / "net.wxf"
    wb.save_wxf(_mlp(), p)
    with limits.override(max_file_bytes=100), pytest.raises(FormatError, match="byte limit"):
        wb.load(p)
    assert wb.load(p)(np.ones(3)).tolist() == [4.0, 13.0]


def _with_array(path, **dataset):
    import h5py

    wb.save_wlnet(_mlp(), path)
    with h5py.File(path, "r+") as f:
        del f["Arrays/1"]
        f["Arrays"].create_dataset("1", **dataset)


def test_declared_but_never_written_array_is_refused(tmp_path):
    """An 8 KB file whose chunked dataset declares 1 GiB of fill values asks for no memory."""
    p = tmp_path / "fill.wlnet"
    _with_array(p, shape=(16384, 16384), dtype=np.float32, chunks=True)
    assert p.stat().st_size < 20_000
    with pytest.raises(FormatError, match=r"declares \[16384, 16384\] .* stores 0 bytes"):
        wb.load(p)


def test_total_declared_array_bytes_are_capped(tmp_path):
    p = tmp_path / "big.wlnet"
    _with_array(p, data=np.zeros((300, 300), np.float64), compression="gzip")
    with limits.override(max_array_bytes=100_000), pytest.raises(FormatError, match="WLBRIDGE_MAX_ARRAY_BYTES"):
        wb.load(p)


def test_string_dataset_of_the_wrong_type_is_refused_before_reading(tmp_path):
    import h5py

    p = tmp_path / "s.wlnet"
    wb.save_wlnet(_mlp(), p)
    with h5py.File(p, "r+") as f:
        del f["Network"]
        f.create_dataset("Network", shape=(), dtype=h5py.vlen_dtype(np.int32))
    with pytest.raises(FormatError, match="not a string"):
        wb.load(p)


def test_hdf5_reading_is_killed_past_its_time_limit():
    t = time.monotonic()
    with pytest.raises(FormatError, match="longer than 0.5 s"):
        run_bounded(time.sleep, (30,), source="spin.wlnet", seconds=0.5)
    assert time.monotonic() - t < 5
    assert run_bounded(divmod, (7, 2), source="x", seconds=5) == (3, 1)
    with pytest.raises(FormatError, match="bug in wlbridge"):
        run_bounded(divmod, (1, 0), source="x", seconds=5)


def test_huge_constant_of_shape_is_not_folded():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    g = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", T.FLOAT, [1, 16384])], [helper.make_tensor_value_info("y", T.FLOAT, None)],
        [numpy_helper.from_array(np.array([16384, 16384], np.int64), "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    t = time.monotonic()
    with pytest.raises(FormatError, match=r"ConstantOfShape.*268435456 elements.*WLBRIDGE_MAX_CONSTANT_BYTES"):
        wb.from_onnx(m, origin=False)
    assert time.monotonic() - t < 5
    assert onnx  # imported


def test_long_inputform_and_wide_associations_are_refused_quickly():
    with limits.override(max_text_chars=1000), pytest.raises(FormatError, match="WLBRIDGE_MAX_TEXT_CHARS"):
        inputform.parse("{" + "1," * 1000 + "1}")
    wide = {f"k{i}": i for i in range(300)}
    with limits.override(max_assoc_keys=100):
        with pytest.raises(FormatError, match="WLBRIDGE_MAX_ASSOC_KEYS"):
            inputform.parse(inputform.to_inputform(wide))
        with pytest.raises(FormatError, match="WLBRIDGE_MAX_ASSOC_KEYS"):
            compress.decode(compress.encode(wide))
    assert inputform.parse(inputform.to_inputform(wide)) == wide


def test_the_hdf5_time_cap_scales_with_the_file_size():
    lim = limits.Limits()
    np.testing.assert_allclose([lim.parse_cap(n) for n in (0, 14_000, limits.MiB, 100 * limits.MiB)],
                               [3.0, 3.0 + 0.5 * 14_000 / limits.MiB, 3.5, 53.0])
    assert limits.Limits(parse_seconds=60.0).parse_cap(10**9) == 60.0  # a flat cap when set
    env = limits.Limits.from_env({"WLBRIDGE_PARSE_BASE_SECONDS": "1", "WLBRIDGE_PARSE_SECONDS_PER_MIB": "2"})
    np.testing.assert_allclose(env.parse_cap(3 * limits.MiB), 7.0)


def test_a_small_wlnet_whose_read_spins_is_refused_by_its_size_cap(tmp_path, monkeypatch):
    """libhdf5 looping on a 14 KB corrupted file (stood in for by a reader that sleeps): refused by its size's cap
    (3.0 s, in the message; the wall-clock bound below is loose on purpose: no timing flakes on a loaded machine)."""
    from wlbridge.frontends.wolfram import wlnet

    p = tmp_path / "spin.wlnet"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(14_000 - 8))
    monkeypatch.setattr(wlnet, "_read_h5", lambda *a: time.sleep(60))  # the forked reader inherits it
    t = time.monotonic()
    with pytest.raises(FormatError, match=r"spin.wlnet: reading the file took longer than 3.0\d* s.*WLBRIDGE_PARSE_SECONDS"):
        wb.load(p)
    assert time.monotonic() - t < 30  # neither the reader's 60 s nor the old flat 60 s cap


def test_limits_from_the_environment():
    lim = limits.Limits.from_env({"WLBRIDGE_MAX_FILE_BYTES": "1e6", "WLBRIDGE_PARSE_SECONDS": "2.5"})
    assert (lim.max_file_bytes, lim.parse_seconds, lim.max_array_bytes) == (10**6, 2.5, 2 * 1024**3)


def test_an_operator_unrolled_over_a_huge_sequence_stops_at_the_layer_cap():
    """A NetMapOperator of a Tanh over 10^6 steps would unroll for minutes: the IR layer cap stops it."""
    from wlbridge.errors import ConversionError
    from wlbridge.frontends.wolfram.expr import Symbol, call
    from wlbridge.frontends.wolfram.netassoc import net_from_assoc

    def T(*dims):
        return call("TensorT", list(dims), Symbol("RealT"))

    n = 10**6
    inner = {"Type": "Elementwise", "Arrays": {}, "Parameters": {"Function": Symbol("Tanh")},
             "Inputs": {"Input": T(2)}, "Outputs": {"Output": T(2)}}
    mapped = {"Type": "NetMap", "Arrays": {}, "Parameters": {"Net": inner}, "Inputs": {"Input": T(n, 2)},
              "Outputs": {"Output": T(n, 2)}}
    chain = {"Type": "Chain", "Nodes": {"1": mapped}, "Inputs": {"Input": T(n, 2)}, "Outputs": {"Output": T(n, 2)}}
    with limits.override(max_layers=10_000), pytest.raises(FormatError, match="Nodes/1 .*WLBRIDGE_MAX_LAYERS"):
        net_from_assoc(chain, source="long")
    b = wb.NetBuilder("direct")
    h = b.input("x", (2,))
    with limits.override(max_layers=3), pytest.raises(ConversionError, match="more than 3 IR layers"):
        for _ in range(4):
            h = b.layer("elementwise", [h], attrs={"fn": "tanh"})


def test_a_port_of_too_many_elements_is_refused_before_anything_is_built():
    """A ResizeLayer to {2^30} would build index lists of 2^30 entries: its port is refused first."""
    from wlbridge.frontends.wolfram.expr import Symbol, call
    from wlbridge.frontends.wolfram.netassoc import net_from_assoc

    def T(*dims):
        return call("TensorT", list(dims), Symbol("RealT"))

    n = 2**30
    resize = {"Type": "Resize", "Arrays": {}, "Parameters": {"Specification": [n], "Resampling": "Linear"},
              "Inputs": {"Input": T(1, 4)}, "Outputs": {"Output": T(1, n)}}
    chain = {"Type": "Chain", "Nodes": {"1": resize}, "Inputs": {"Input": T(1, 4)}, "Outputs": {"Output": T(1, n)}}
    with pytest.raises(FormatError, match="WLBRIDGE_MAX_PORT_ELEMENTS"):
        net_from_assoc(chain, source="huge")
