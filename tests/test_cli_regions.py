"""``wlbridge regions`` and ``convert/check --form piecewise|tree --box LO HI [--minimal] [--digits N]``."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

pytest.importorskip("scipy")
from wlbridge.analysis.affine_text import SympyText  # noqa: E402
from wlbridge.cli import main  # noqa: E402
from wlbridge.cli_regions import map_summary, slice_grid  # noqa: E402
from wlbridge.ir import NetBuilder  # noqa: E402

from .cases import mlp  # noqa: E402


def relu_net(sizes=(2, 5, 4, 2), seed=0):
    return mlp(sizes, seed=seed, name="relu-net")


def run(argv, net=None):
    net = net or relu_net()
    return main(argv, load=lambda path: net)


def test_regions_table(capsys):
    net = relu_net()
    assert run(["regions", "m.onnx", "--box", "-1", "1"], net) == 0
    out = capsys.readouterr().out.splitlines()
    regions = net.linear_regions(-1, 1)
    assert out[0].startswith(f"relu-net: {len(regions)} linear regions over the box [{{-1, -1}}, {{1, 1}}]")
    rows = out[2:2 + len(regions)]
    assert len(rows) == len(regions)
    for line, r in zip(rows, regions):  # index, #inequalities, witness, the map to 3 digits
        idx, ineqs = line.split()[:2]
        assert int(ineqs) == len(r.g)
        w = np.array([float(t) for t in line[line.index("[") + 1:line.index("]")].split(",")])
        np.testing.assert_allclose(w, r.witness, rtol=5e-3, atol=1e-3)
        assert line.endswith(map_summary(r.A, r.b))


def test_regions_json_is_the_regions(capsys):
    net = relu_net()
    assert run(["regions", "m.onnx", "--box", "-2", "1", "--json", "--minimal"], net) == 0
    data = json.loads(capsys.readouterr().out)
    regions = net.linear_regions(-2, 1, minimal=True)
    assert data["count"] == len(regions) == len(data["regions"]) and data["lower"] == [-2.0, -2.0]
    for d, r in zip(data["regions"], regions):
        np.testing.assert_allclose(d["A"], r.A, rtol=0, atol=0)
        np.testing.assert_allclose(d["H"], r.H, rtol=0, atol=0)
        assert d["inequalities"] == len(r.g)
    x = np.array(data["regions"][0]["witness"])
    np.testing.assert_allclose(np.array(data["regions"][0]["A"]) @ x + data["regions"][0]["b"], net(x[None])[0],
                               rtol=1e-12)


def test_regions_max_regions_and_errors(capsys):
    assert run(["regions", "m.onnx", "--box", "-1", "1", "--max-regions", "2"]) == 2
    assert "more than max_regions=2" in capsys.readouterr().err
    assert run(["regions", "m.onnx", "--box", "1", "-1"]) == 2
    assert "lower < upper" in capsys.readouterr().err
    assert run(["regions", "m.onnx"]) == 2  # --box is required, as by convert --form piecewise
    assert "--box LO HI is required" in capsys.readouterr().err
    b = NetBuilder("tanh")
    x = b.input("x", (2,))
    tanh = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
    assert run(["regions", "m.onnx", "--box", "-1", "1"], tanh) == 2
    assert "elementwise[tanh]" in capsys.readouterr().err


def test_regions_jobs_give_the_same_regions(capsys):
    """--jobs / --cluster come from the flag table shared with check: the split search, same regions."""
    assert run(["regions", "m.onnx", "--box", "-1", "1", "--json"]) == 0
    serial = json.loads(capsys.readouterr().out)
    assert run(["regions", "m.onnx", "--box", "-1", "1", "--json", "--jobs", "2"]) == 0
    split = json.loads(capsys.readouterr().out)
    assert serial["count"] == split["count"] > 1
    np.testing.assert_array_equal([r["A"] for r in serial["regions"]], [r["A"] for r in split["regions"]])


def test_regions_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    net = relu_net()
    png = tmp_path / "r.png"
    assert run(["regions", "m.onnx", "--box", "-1", "1", "--plot", str(png)], net) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    u, v, idx = slice_grid(net.linear_regions(-1, 1), points=50)
    assert (idx >= 0).all() and len(np.unique(idx)) == len(net.linear_regions(-1, 1))  # 2 inputs: the whole box


@pytest.mark.parametrize("form", ["piecewise", "tree"])
def test_convert_region_forms(form, capsys):
    net = relu_net()
    assert run(["convert", "m.onnx", "--form", form, "--box", "-1", "1"], net) == 0
    assert capsys.readouterr().out == net.to_wl(form=form, box=(-1, 1)) + "\n"
    assert run(["convert", "m.onnx", "--form", form, "--box", "-1", "1", "--to", "sympy", "--digits", "4"], net) == 0
    text = capsys.readouterr().out
    m = sp.sympify(text.strip(), locals={s.name: s for s in SympyText(2).xs})
    x = np.random.default_rng(0).uniform(-1, 1, (100, 2))
    f = sp.lambdify(SympyText(2).xs, list(m), "numpy")
    got = np.stack([np.broadcast_to(np.asarray(c, dtype=float), (100,)) for c in f(*x.T)], 1)
    np.testing.assert_allclose(got, net(x), rtol=0, atol=5e-3)  # 4 digits: the rounding's error only
    assert run(["convert", "m.onnx", "--form", form, "--box", "-1", "1", "--to", "latex"], net) == 0
    assert "\\begin{cases}" in capsys.readouterr().out


def test_convert_usage_errors(capsys):
    cases = [(["--form", "piecewise"], "--form piecewise needs --box LO HI"),
             (["--form", "tree", "--to", "python", "--box", "-1", "1"], "--to python takes none of --form, --box"),
             (["--box", "-1", "1"], "box and minimal apply to form='piecewise' or 'tree'"),
             (["--form", "tree", "--box", "-1", "1", "--exact"], "form='tree' takes neither exact nor max_size")]
    for extra, message in cases:
        assert run(["convert", "m.onnx", *extra]) == 2
        assert message in capsys.readouterr().err


def test_convert_minimal_is_shorter(capsys):
    net = relu_net((2, 6, 5, 1), seed=3)
    run(["convert", "m.onnx", "--form", "piecewise", "--box", "-2", "2"], net)
    full = capsys.readouterr().out
    run(["convert", "m.onnx", "--form", "piecewise", "--box", "-2", "2", "--minimal"], net)
    assert len(capsys.readouterr().out) < len(full)


@pytest.mark.woxi
def test_check_tree_in_woxi(capsys):
    pytest.importorskip("woxi")
    assert run(["check", "m.onnx", "--form", "tree", "--box", "-1", "1", "--engine", "woxi", "--samples", "16"]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "woxi" in out
    assert run(["check", "m.onnx", "--form", "piecewise", "--box", "-1", "1", "--engine", "woxi", "--digits", "2",
                "--no-sympy"]) == 1  # 2 digits: the rounding shows, and fails the tolerance
    assert "rounded to 2 significant digits" in capsys.readouterr().out


def test_box_takes_one_bound_per_input_scalar(capsys):
    """``--box -1,0 1,2``: per-scalar bounds, as the API's (lower, upper) arrays, in regions, convert and check."""
    net = relu_net()
    assert run(["regions", "m.wlnet", "--box", "-1,0", "1,2", "--json"], net) == 0
    shown = json.loads(capsys.readouterr().out)
    api = net.linear_regions([-1.0, 0.0], [1.0, 2.0])
    assert shown["lower"] == [-1.0, 0.0] and shown["upper"] == [1.0, 2.0] and shown["count"] == len(api)
    assert run(["convert", "m.wlnet", "--form", "tree", "--box", "-1,0", "1,2"], net) == 0
    assert capsys.readouterr().out.strip() == net.to_wl(form="tree", box=([-1.0, 0.0], [1.0, 2.0])).strip()
    assert run(["check", "m.wlnet", "--form", "tree", "--box", "-1,0", "1,2", "--engine", "woxi", "--samples", "8"],
               net) == 0
    assert "PASSED" in capsys.readouterr().out
    assert run(["regions", "m.wlnet", "--box", "-1,0,3", "1,2,4"], net) == 2
    assert "box must be (lower, upper) with scalars or 2 bounds each" in capsys.readouterr().err
