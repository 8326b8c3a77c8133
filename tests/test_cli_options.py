"""CLI parity with the API (issue 16): the flags are the keywords (one table), --digits, --to c, --jacobian,
--weights symbolic, seeds, the --inputs header, and --code syntax errors located in the user's file."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.cli import emit_keywords, main
from wlbridge.cli_flags import FLAGS
from tests.test_cli import relu_net


def run(*argv, net=None):
    return main([str(a) for a in argv], load=lambda path: net or relu_net())


def f32_net():
    b = wb.NetBuilder("f32")
    x = b.input("x", (3,), dtype=np.float32)
    g = np.random.default_rng(2)
    h = b.layer("linear", [x], params={"weight": g.standard_normal((4, 3)).astype(np.float32),
                                       "bias": g.standard_normal(4).astype(np.float32)})
    return b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])


def test_flags_are_the_keywords_with_their_defaults():
    check = inspect.signature(wb.Net.check).parameters
    campaign = inspect.signature(wb.check_many).parameters  # several models: --jobs, --cluster, --model-timeout
    for f in FLAGS:
        if "check" in f.commands and f.keyword not in ("json", "simplify", "junit"):
            assert f.keyword in check or f.keyword in campaign, f.flag
            if "default" in f.argparse:
                assert f.argparse["default"] == (check[f.keyword] if f.keyword in check else campaign[f.keyword]).default, f.flag
        if "convert" in f.commands and f.keyword in emit_keywords("wl"):
            assert f.keyword in inspect.signature(wb.Net.to_wl).parameters
    assert emit_keywords("latex") == ["form", "digits", "box", "minimal", "weights", "activations", "max_size"]
    assert emit_keywords("c") == ["digits"]


@pytest.mark.parametrize("argv, call", [
    (["--digits", "2"], lambda n: n.to_wl(digits=2)),
    (["--to", "latex", "--form", "expanded", "--digits", "2"], lambda n: n.to_latex(form="expanded", digits=2)),
    (["--weights", "symbolic"], lambda n: n.to_wl(weights="symbolic")),
    (["--to", "c", "--digits", "1"], lambda n: n.to_c(digits=1).source),
    (["--to", "sympy", "--form", "expanded", "--digits", "1"], lambda n: str(n.to_sympy(form="expanded", digits=1))),
])
def test_convert_flags_give_the_api_output(capsys, argv, call):
    net = relu_net()
    assert run("convert", "m.onnx", *argv, net=net) == 0
    assert capsys.readouterr().out == call(net).rstrip("\n") + "\n"


def test_convert_digits_rounds(capsys):
    b = wb.NetBuilder("n")
    x = b.input("x", (2,))
    net = b.build([b.layer("linear", [x], params={"weight": np.array([[0.123456, -98765.4]])})])
    assert run("convert", "m", "--digits", "3", net=net) == 0
    assert "{{0.123`, -98800.`}}" in capsys.readouterr().out


def test_convert_to_c_writes_the_header_beside(tmp_path, capsys):
    net = relu_net()
    out = tmp_path / "net.c"
    assert run("convert", "m", "--to", "c", "-o", out, net=net) == 0
    assert out.read_text() == net.to_c().source.rstrip("\n") + "\n"
    assert (tmp_path / "net.h").read_text() == net.to_c().header
    assert "void wlbridge_net(const double *x, double *y)" in (tmp_path / "net.h").read_text()


def test_convert_jacobian_numbers(capsys):
    net = relu_net()
    assert run("convert", "m", "--jacobian", "--to", "python", net=net) == 0
    scope = {}
    exec(capsys.readouterr().out, scope)  # our own emitted module
    x = np.array([[0.5, -0.2, 0.1], [-1.0, 0.3, 0.2]])
    W = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.25]])
    active = (x @ W.T + np.array([0.1, -0.2])) > 0
    np.testing.assert_allclose(scope["f"](x), active[:, :, None] * W[None], rtol=0, atol=0)


def test_check_digits_float32(capsys):
    pytest.importorskip("woxi")
    assert run("check", "m", "--engine", "woxi", "--samples", "8", "--digits", "float32", net=f32_net()) == 0
    out = capsys.readouterr().out
    assert "rtol 1.2e-04" in out and "rounded to float32's shortest digits" in out and "PASSED" in out
    assert run("check", "m", "--engine", "woxi", "--samples", "8", "--digits", "2", "--no-sympy", net=f32_net()) == 1
    assert "rounded to 2 significant digits" in capsys.readouterr().out


@pytest.mark.parametrize("seed", ["-3", "x"])
def test_bad_seed_is_a_usage_error(capsys, seed):
    with pytest.raises(SystemExit) as e:
        run("check", "m", "--seed", seed)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "argument --seed" in err and "internal error" not in err


def test_given_inputs_header_says_no_seed(capsys, tmp_path):
    pytest.importorskip("woxi")
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((4, 3)))
    assert run("check", "m", "--engine", "woxi", "--inputs", tmp_path / "x.npy") == 0
    out = capsys.readouterr().out
    assert "seed" not in out and "check relu-net: 4 given inputs, engine woxi" in out


def test_code_syntax_error_is_located_in_the_users_file(capsys, tmp_path):
    pytest.importorskip("mathics")
    code = tmp_path / "f.wl"
    code.write_text("Function[{x},\n  Ramp[{{1., 2., 3.}, {-1., 0.5, 0.25}} . x +* {0.1, -0.2}]]\n")
    assert run("check", "m", "--engine", "woxi", "--code", code) == 2
    err = capsys.readouterr().err
    assert f"{code}: not valid WL: line 2, column 46:" in err and "x +* {0.1" in err
    assert err.count("\n") == 1
    code.write_text("Function[{x}, Ramp[x]\n")
    assert run("check", "m", "--engine", "woxi", "--code", code) == 2
    assert "incomplete input" in capsys.readouterr().err


def test_pickled_torch_files_are_refused_unread(tmp_path, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Linear(3, 2))
    torch.save(m, tmp_path / "ckpt.pt")
    torch.save(m.state_dict(), tmp_path / "sd.pt")
    torch.jit.save(torch.jit.script(m), tmp_path / "ts.pt")
    monkeypatch.setattr(torch.export, "load", lambda *a, **k: pytest.fail("torch read a pickle"))
    for name, kind in (("ckpt.pt", "a torch.save checkpoint"), ("sd.pt", "a torch.save checkpoint"),
                       ("ts.pt", "a TorchScript archive (torch.jit.save)")):
        assert main(["info", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: {kind}, not a torch.export (.pt2) archive" in err, err
        assert "torch.export.save(torch.export.export(module, (x,)), 'model.pt2')" in err
        assert "warnings above" not in err and "control flow" not in err


def test_info_json_is_describe_as_data(capsys):
    import json

    net = relu_net()
    assert run("info", "m.onnx", "--json", net=net) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["schema"] == "wlbridge-info/1" and info["net"] == net.name
    assert info["inputs"] == [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype} for p in net.inputs]
    assert [la["op"] for la in info["layers"]] == [la.op for la in net.layers]
    assert info["parameters"] == sum(v.size for la in net.layers for v in la.params.values())
    assert info["scalar_names"] == net.input_names and set(info["emitters"]) >= {"wl", "sympy", "c"}
