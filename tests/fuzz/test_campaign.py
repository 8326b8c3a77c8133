"""A short run of the fuzz campaign (``python -m tools.fuzz`` runs the long one): mutated .wlnet,
.wxf, .onnx and .pt2 files in forked workers under a CPU-time and address-space limit give a net
or a WlbridgeError, never a crash, a hang or an allocation past the limit."""
from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("h5py")
pytest.importorskip("hypothesis")

from tools.fuzz import pool as fuzz_pool  # noqa: E402
from tools.fuzz.campaign import run_campaign, table  # noqa: E402
from tools.fuzz.mutate import mutate  # noqa: E402

CASES = int(os.environ.get("WLBRIDGE_FUZZ_CASES", 15))


def _formats():
    out = ["wlnet", "wxf"]
    try:
        import onnx  # noqa: F401
        out.append("onnx")
        import torch  # noqa: F401
        out.append("pt2")
    except ImportError:
        pass
    return out


def test_short_campaign_has_no_untyped_crash_hang_or_oom(tmp_path, capsys):
    summary = run_campaign(_formats(), CASES, workers=2, start=7, out=tmp_path, keep_typed=3)
    print(table(summary))
    for fmt, s in summary.items():
        assert s["cases"] == CASES, fmt
        bad = {c: n for c, n in s["counts"].items() if c in ("crash", "hang", "oom")}
        assert not bad, f"{fmt}: {bad}; {dict(s['sites'])} (reproducers in {tmp_path})"
        assert s["counts"]["ok"] + s["counts"]["typed"] == CASES
    _cli_on_typed_cases(tmp_path, capsys)


def _cli_on_typed_cases(out, capsys):
    """``wlbridge info`` on every kept file that fails to load: one error line, exit 2."""
    import wlbridge as wb
    from wlbridge.cli import main

    files = sorted(out.glob("*/typed/case*"))
    assert files
    for f in files:
        try:
            wb.load(f)
            continue
        except wb.WlbridgeError:
            pass
        capsys.readouterr()
        assert main(["info", str(f)]) == 2, f
        err = capsys.readouterr().err
        assert err.startswith("wlbridge: error: ") and "Traceback" not in err, err


def test_mutations_are_deterministic():
    seeds = [b"\x89HDF\r\n\x1a\n" + bytes(range(200))]
    assert mutate("wlnet", seeds, 3) == mutate("wlnet", seeds, 3)
    assert {mutate("wlnet", seeds, i)[0] for i in range(20)}.__len__() > 10


MARK = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"wlbridge-fuzz-spin-{os.getpid()}")


def _spin(path):
    """Spins once (the next call, in the replacement worker, returns)."""
    if os.path.exists(MARK):
        os.remove(MARK)
        return
    open(MARK, "w").close()
    while True:
        pass


def _allocate(path):
    return bytearray(2 << 30)


def _crash(path):
    raise KeyError("boom")


@pytest.mark.parametrize("fn, classes, where", [(_spin, ["hang", "ok"], "CPU time"),
                                                (_allocate, ["oom", "oom"], "MemoryError"),
                                                (_crash, ["crash", "crash"], "KeyError at test_campaign.py")])
def test_the_pool_classifies_and_survives(monkeypatch, fn, classes, where):
    """A spinning case is killed after its CPU-time limit, an allocation past the limit is an OOM, a
    bare exception a crash; the pool replaces dead workers and runs the next case."""
    seeds = {"wxf": [b"8:" + bytes(20)]}
    monkeypatch.setattr(fuzz_pool, "exercise", fn)
    p = fuzz_pool.Pool(seeds, workers=1, time_limit=1, mem_limit=512 << 20)
    t = time.monotonic()
    try:
        results = list(p.run([("wxf", 1), ("wxf", 2)]))
    finally:
        p.close()
    assert [r.cls for r in results] == classes
    assert where in results[0].where
    assert time.monotonic() - t < 30
