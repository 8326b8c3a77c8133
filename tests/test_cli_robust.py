"""The ``wlbridge`` command on broken input: exit 2 with one line, never a traceback (issue 9 item 4)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.cli import main
from tests.test_cli import CODE, relu_net

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*argv, timeout=120, **kw):
    """Run ``python -m wlbridge ARGV`` in a subprocess (bytes out)."""
    return subprocess.run([sys.executable, "-m", "wlbridge", *map(str, argv)], capture_output=True, cwd=ROOT,
                          env=ENV, timeout=timeout, **kw)


def mutations(data: bytes, seed: int) -> bytes:
    """``data`` with a few bytes overwritten (after the 8-byte magic, so the format is still sniffed)."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for i in rng.integers(8, len(out), 1 + seed % 16):
        out[i] = int(rng.integers(0, 256))
    return bytes(out)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Broken model files: truncated, overwritten, garbage after a valid magic, a directory, a missing file."""
    d = tmp_path_factory.mktemp("broken")
    good = {"wlnet": d / "ok.wlnet", "wxf": d / "ok.wxf"}
    wb.save_wlnet(relu_net(), good["wlnet"])
    wb.save_wxf(relu_net(), good["wxf"])
    try:
        from tests.test_check import onnx_model

        good["onnx"] = Path(onnx_model(d / "ok.onnx"))
    except pytest.skip.Exception:
        pass
    files = {"directory": d / "dir.onnx", "missing": d / "missing.wlnet",
             "pt2-garbage": d / "garbage.pt2", "empty": d / "empty.onnx"}
    files["directory"].mkdir()
    files["pt2-garbage"].write_bytes(b"PK\x03\x04" + np.random.default_rng(0).bytes(500))
    files["empty"].write_bytes(b"")
    for ext, path in good.items():
        data = path.read_bytes()
        files[f"{ext}-truncated"] = d / f"truncated.{ext}"
        files[f"{ext}-truncated"].write_bytes(data[: len(data) // 2])
        files[f"{ext}-garbage"] = d / f"garbage.{ext}"
        files[f"{ext}-garbage"].write_bytes(data[:8] + np.random.default_rng(1).bytes(400))
    return files, good


def test_broken_files_exit_2_one_line(broken, capsys):
    files, _ = broken
    for what, path in files.items():
        for argv in (["info", path], ["check", path, "--engine", "woxi", "--samples", "2"], ["convert", path]):
            assert main([str(a) for a in argv]) == 2, what
            out, err = capsys.readouterr()
            assert "Traceback" not in out + err and err.startswith("wlbridge: error: ") and err.count("\n") == 1, \
                (what, err)


def json_error(capsys, kind: str) -> str:
    """The error report ``check --json`` printed (checked against the schema); returns its message."""
    import json

    out, err = capsys.readouterr()
    data = json.loads(out)
    assert out.count("\n") == 1 and data["verdict"] == "ERROR" and data["error"]["type"] == kind, out
    assert err == f"wlbridge: error: {data['error']['message']}\n"
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, json.loads((ROOT / "wlbridge" / "check" / "report_schema.json").read_text()))
    return data["error"]["message"]


def test_check_json_prints_load_errors_as_json(broken, capsys):
    files, _ = broken
    for what in ("missing", "empty", "directory", "wlnet-garbage", "wxf-truncated"):
        assert main(["check", str(files[what]), "--engine", "woxi", "--json"]) == 2, what
        assert str(files[what]) in json_error(capsys, "FormatError")
    p = cli("check", files["missing"], "--json", timeout=60)
    assert p.returncode == 2 and p.stdout.startswith(b'{"schema": "wlbridge-check-report/1"') and b"Traceback" not in p.stderr


def test_check_json_prints_usage_and_internal_errors_as_json(tmp_path, capsys):
    run = lambda *argv, load=lambda path: relu_net(): main(list(argv), load=load)  # noqa: E731
    with pytest.raises(SystemExit) as e:  # refused by argparse
        run("check", "m.onnx", "--samples", "0", "--json")
    out, err = capsys.readouterr()
    assert e.value.code == 2
    assert '"UsageError"' in out and "must be at least 1" in out and "usage: wlbridge check" in err
    assert run("check", "m.onnx", "--samples", "3", "--inputs", tmp_path / "x.npy", "--json") == 2
    assert json_error(capsys, "UsageError") == "give --inputs or --samples, not both"
    assert run("check", "m.onnx", "--json", load=lambda path: {}["oops"]) == 2
    assert json_error(capsys, "InternalError").startswith("internal error (a bug in wlbridge")
    with pytest.raises(SystemExit):
        run("check", "m.onnx", "--samples", "0")
    assert capsys.readouterr().out == ""  # no --json: no JSON


def test_mutated_files_never_a_traceback(broken, capsys):
    """A small in-process fuzz: some mutations still load (exit 0), none may crash the command."""
    _, good = broken
    statuses = []
    for ext, path in good.items():
        data = path.read_bytes()
        for seed in range(12):
            bad = path.with_name(f"mut{seed}.{ext}")
            bad.write_bytes(mutations(data, seed))
            status = main(["info", str(bad)])
            out, err = capsys.readouterr()
            assert status in (0, 2) and "Traceback" not in out + err, (bad, err)
            assert status == 0 or (err.startswith("wlbridge: error: ") and err.count("\n") == 1), err
            statuses.append(status)
    assert 2 in statuses  # the mutations do break files


def test_unreadable_code_and_inputs_files_exit_2(tmp_path, capsys):
    run = lambda *argv: main(list(argv), load=lambda path: relu_net())  # noqa: E731
    binary = tmp_path / "bin.wl"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    bad_npy = tmp_path / "x.npy"
    bad_npy.write_bytes(b"\x93NUMPY garbage")
    strings = tmp_path / "s.npy"
    np.save(strings, np.array([["a", "b", "c"]]))
    wrong_shape = tmp_path / "w.npy"
    np.save(wrong_shape, np.zeros((4, 5)))
    cases = [(["--code", binary], "not UTF-8 text"), (["--code", tmp_path], "is a directory"),
             (["--inputs", bad_npy], "not a .npy / .npz"), (["--inputs", strings], "must be numbers"),
             (["--inputs", wrong_shape], "must have shape [batch, 3]")]
    for extra, message in cases:
        assert run("check", "m.onnx", "--engine", "woxi", *map(str, extra)) == 2
        out, err = capsys.readouterr()
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
        assert str(extra[1]) in err and not out, (out, err)  # names the file; no table header before it


def test_internal_error_is_one_line_and_debug_shows_traceback(capsys):
    def buggy(path):
        raise KeyError("oops")

    assert main(["info", "m.onnx"], load=buggy) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlbridge: error: internal error (a bug in wlbridge") and "KeyError" in err
    assert "--debug" in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["info", "m.onnx", "--debug"], load=buggy) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().splitlines()[-1].startswith("wlbridge: error")

    def huge(path):
        raise MemoryError()

    assert main(["info", "m.onnx"], load=huge) == 2 and "out of memory" in capsys.readouterr().err


def test_fifo_and_directory_in_a_subprocess(tmp_path):
    fifo = tmp_path / "model.onnx"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        p = cli("info", path, timeout=60)  # a FIFO used to block the format sniffer forever
        assert p.returncode == 2 and b"Traceback" not in p.stderr and p.stderr.count(b"\n") == 1, p.stderr


@pytest.mark.torch
def test_corrupt_pt2_has_no_library_traceback(broken, tmp_path, capfd):
    """torch.export.load logs a traceback as a warning before raising; the command must not show it."""
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh())
    torch.export.save(torch.export.export(module, (torch.randn(1, 3),)), tmp_path / "ok.pt2")
    data = (tmp_path / "ok.pt2").read_bytes()
    (tmp_path / "truncated.pt2").write_bytes(data[: len(data) // 2])
    for path in (broken[0]["pt2-garbage"], tmp_path / "truncated.pt2"):
        assert main(["info", str(path)]) == 2
        out, err = capfd.readouterr()  # file-descriptor level: what torch's log handler writes too
        assert "Traceback" not in out + err and err.count("\n") == 1, err
        assert err.startswith(f"wlbridge: error: {path}")


def test_broken_pipe_is_quiet(tmp_path):
    b = wb.NetBuilder("wide")
    x = b.input("x", (300,))
    w = np.random.default_rng(0).standard_normal((300, 300))
    wb.save_wlnet(b.build([b.layer("linear", [x], params={"weight": w, "bias": np.zeros(300)})]),
                  tmp_path / "wide.wlnet")  # 2 MB of WL text
    p = subprocess.Popen([sys.executable, "-m", "wlbridge", "convert", str(tmp_path / "wide.wlnet")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
    p.stdout.close()  # the reader is gone before the first write, like `| head -0` (the old code: a traceback)
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141 and err == b"", err


def test_code_file_check_still_works_after_the_guards(tmp_path, capsys):
    pytest.importorskip("woxi")
    code = tmp_path / "f.wl"
    code.write_text(CODE)
    assert main(["check", "m.onnx", "--engine", "woxi", "--code", str(code), "--samples", "4"],
                load=lambda path: relu_net()) == 0


def test_names_from_a_file_cannot_drive_the_terminal(capsys):
    """A net or input name holding terminal escapes (ESC, bidi overrides) is printed escaped."""
    import numpy as np

    from wlbridge.cli import main
    from wlbridge.ir import NetBuilder

    b = NetBuilder("evil\x1b[2J\u202enet")
    x = b.input("in\x1b]0;title\x07", (2,))
    net = b.build([b.layer("linear", [x], params={"weight": np.eye(2)})])
    assert main(["info", "m.wlnet"], load=lambda path: net) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "evil\\x1b[2J\\u202enet" in out


@pytest.mark.torch
def test_checkpoints_and_torchscript_are_refused_saying_what_they_are(tmp_path, capfd, monkeypatch):
    """torch.save files are refused without unpickling (it runs code); TorchScript is named as such."""
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh())
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    torch.save(module, tmp_path / "whole.pth")
    torch.jit.save(torch.jit.script(module), tmp_path / "scripted.pt")
    torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3)), tmp_path / "traced.pt")
    monkeypatch.setattr("pickle.Unpickler", None)  # nothing may unpickle these files
    monkeypatch.setattr(torch, "load", None)
    expect = {"weights.pt": r"a torch.save checkpoint.*\(unpickling runs code from the file\).*torch.export.save",
              "whole.pth": "a torch.save checkpoint",
              "scripted.pt": r"a TorchScript archive \(torch.jit.save\).*wlbridge.from_torch.*torch.export.save.*"
                             r"torch.onnx.export\(torch.jit.load\(path\)",
              "traced.pt": "a TorchScript archive"}
    for name, pattern in expect.items():
        with pytest.raises(wb.FormatError, match=pattern):
            wb.load(tmp_path / name)
        assert main(["check", str(tmp_path / name)]) == 2
        err = capfd.readouterr().err
        assert err.startswith(f"wlbridge: error: {tmp_path / name}: a ") and err.count("\n") == 1, err
        assert "warnings above" not in err and "control flow" not in err
