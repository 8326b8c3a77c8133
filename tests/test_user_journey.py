"""The README's routes, walked as a user walks them (issue 16, first acceptance line).

One model family (``tests/journey.py``: the seed net, a 3-8-8-2 ReLU net, a small CNN, an Embedding -> LSTM
classifier) reaches wlbridge by every door — ``from_torch``, ``.pt2``, ONNX (dynamo and legacy), ``.wlnet``
and ``.wxf`` read back, the CLI in-process and as a real ``python -m wlbridge`` — and every answer is a
number compared with torch: the net's outputs, the WL code in Woxi, sympy, the generated Python and C,
the Jacobian against autograd, ``check`` from Python and from ``wlbridge check --json``. The same flags
through both doors give the same text.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import wlbridge as wb
from wlbridge.check.engines import evaluate_function
from wlbridge.cli import _CLI_WORDS as CLI_WORDS, main

from .journey import FILE_ROUTES, MODELS, ROUTES, Doors, as_net_batch, family, run, signature
from .test_emit_c import CC, compile_c, run_c

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytestmark = [pytest.mark.torch, pytest.mark.onnx]

RTOL = {np.dtype("float64"): 1e-12, np.dtype("float32"): 1e-5}  # net against torch, by the net's dtype
CODE_RTOL = 1e-12  # emitted code against the net: the same float64 weights, another order of operations
WOLFRAM_ROUTES = ("wlnet", "wxf")
# the LSTM classifier's 0-based embedding has no Wolfram form (test_lstm_classifier_is_refused_by_the_wolfram_writers)
CASES = [(m, r) for m in MODELS for r in ROUTES if not (m == "lstm" and r in WOLFRAM_ROUTES)]
FILE_CASES = [(m, r) for m, r in CASES if r in FILE_ROUTES]
OTHER_CASES = [(m, r) for m, r in CASES if r != "torch"]


def ids(cases):
    return [f"{m}-{r}" for m, r in cases]


@pytest.fixture(scope="module")
def doors(tmp_path_factory):
    return Doors(family(), tmp_path_factory.mktemp("journey"))


def close(got, want, rtol=CODE_RTOL):
    want = np.asarray(want, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64).reshape(want.shape), want, rtol=rtol,
                               atol=rtol * max(1.0, float(np.abs(want).max())))


# ---- the net, by every route ---------------------------------------------------------------------------
@pytest.mark.parametrize("model,route", OTHER_CASES, ids=ids(OTHER_CASES))
def test_the_same_signature_by_every_route(doors, model, route):
    assert signature(doors.net(model, route)) == signature(doors.net(model, "torch"))


def test_signatures_of_the_torch_route(doors):
    assert doors.net("lstm", "torch").param_count == 2115  # the classifier
    assert {m: signature(doors.net(m, "torch")) for m in MODELS} == {
        "seed": (["f64[3]"], ["f64[2]"]), "relu": (["f64[3]"], ["f64[2]"]),
        "cnn": (["f64[2,6,6]"], ["f64[2]"]), "lstm": (["i64[12]"], ["f64[3]"])}


@pytest.mark.parametrize("model,route", CASES, ids=ids(CASES))
def test_outputs_equal_torch(doors, model, route):
    net, m = doors.net(model, route), doors.models[model]
    x = m.inputs()
    close(run(net, x), m.torch_out(x), rtol=RTOL[net.dtype])


@pytest.mark.parametrize("model", MODELS)
def test_from_onnx_takes_a_path_bytes_or_a_model_proto(doors, model):
    import onnx

    path = doors.path(model, "onnx-legacy")
    nets = [wb.from_onnx(path), wb.from_onnx(path.read_bytes()), wb.from_onnx(onnx.load(str(path))), wb.load(path)]
    x = as_net_batch(nets[0], doors.models[model].inputs())
    assert len({str(n) for n in nets}) == 1
    for n in nets[1:]:
        np.testing.assert_array_equal(n(x), nets[0](x))


def test_input_names_by_every_door(doors):
    """from_torch / load / from_onnx take input_names=; they name the sequence call's parameters and sympy's symbols."""
    import sympy

    m = doors.models["seed"]
    names = ["p", "q", "s"]  # not c, v, w, ...: the WL emitters' own locals (written vc, vv, vw)
    nets = [wb.from_torch(m.module, (3,), input_names=names), wb.load(doors.path("seed", "pt2"), input_names=names),
            wb.from_onnx(doors.path("seed", "onnx-legacy"), input_names=names),
            wb.load(doors.path("seed", "wxf"), input_names=names)]
    x = m.inputs()
    for net in nets:
        assert net.input_names == names and net.to_wl(call="sequence").startswith("Function[{p, q, s}, ")
        matrix = net.to_sympy(form="expanded")
        assert matrix.free_symbols == set(sympy.symbols("p q s"))
        f = sympy.lambdify(sympy.symbols("p q s"), list(matrix), "numpy")
        close(np.array([f(*row) for row in x]), m.torch_out(x))


def test_lstm_classifier_is_refused_by_the_wolfram_writers(doors, tmp_path):
    net = doors.net("lstm", "torch")
    for save in (wb.save_wlnet, wb.save_wxf):
        with pytest.raises(wb.UnsupportedLayerError, match=r"emb \(embedding\): 0-based indices .* feed x \+ 1"):
            save(net, tmp_path / "lstm.wlnet")


# ---- emitted code, evaluated --------------------------------------------------------------------------
@pytest.mark.woxi
@pytest.mark.parametrize("form", ["compact", "expanded"])
@pytest.mark.parametrize("model,route", CASES, ids=ids(CASES))
def test_wl_in_woxi_equals_torch(doors, model, route, form):
    pytest.importorskip("woxi")
    net, m = doors.net(model, route), doors.models[model]
    if model == "lstm" and form == "expanded":  # 12 LSTM steps: ~1e19 nodes, refused with what to use
        with pytest.raises(wb.ExpressionTooLargeError, match="use form='compact'"):
            net.to_wl(form=form)
        return
    x = m.inputs()
    got = evaluate_function("woxi", net.to_wl(form=form), as_net_batch(net, x))
    close(got, m.torch_out(x), rtol=1e-12)


@pytest.mark.woxi
@pytest.mark.parametrize("model", ["seed", "relu"])
def test_symbolic_weights_with_their_rules_equal_torch(doors, model):
    """`to_wl(weights="symbolic")` is {Function[...W1...], {W1 -> ..}}: the function with its rules applied is the net;
    `to_sympy(weights="symbolic").numeric(x)` likewise."""
    pytest.importorskip("woxi")
    net, m = doors.net(model, "onnx-legacy"), doors.models[model]
    x = m.inputs()
    code = net.to_wl(weights="symbolic")
    assert code.startswith("{Function[{x}, (W3 . ") and ", {W1 -> {{" in code
    close(evaluate_function("woxi", f"With[{{r = {code}}}, r[[1]] /. r[[2]]]", x), m.torch_out(x))
    form = net.to_sympy(weights="symbolic")
    assert str(form) == "W3*%s(W2*%s(W1*x + b1) + b2) + b3" % ((("sigmoid",) * 2) if model == "seed" else ("relu",) * 2)
    close(np.array([np.ravel(form.numeric(xi)) for xi in x]), m.torch_out(x))


@pytest.mark.parametrize("model,route", CASES, ids=ids(CASES))
def test_sympy_numbers_equal_torch(doors, model, route):
    import sympy

    net, m = doors.net(model, route), doors.models[model]
    x = m.inputs()
    want = m.torch_out(x)
    close(net.to_sympy().lambdify()(as_net_batch(net, x)), want)
    if model == "lstm":
        return  # the expanded form is refused (test_wl_in_woxi_equals_torch)
    matrix = net.to_sympy(form="expanded")
    f = sympy.lambdify(sympy.symbols(net.input_names), list(matrix), "numpy")
    close(np.array([f(*row) for row in x.reshape(len(x), -1)]), want)


@pytest.mark.parametrize("model,route", CASES, ids=ids(CASES))
def test_generated_python_equals_torch(doors, model, route):
    net, m = doors.net(model, route), doors.models[model]
    namespace = {}
    exec(compile(net.to_python(name="g"), "<wlbridge>", "exec"), namespace)  # our own generated source
    x = m.inputs()
    close(namespace["g"](as_net_batch(net, x)), m.torch_out(x))


@pytest.mark.skipif(CC is None, reason="no C compiler (cc)")
@pytest.mark.parametrize("model", MODELS)
def test_c_equals_torch(doors, model, tmp_path):
    routes = [r for r in ROUTES if (model, r) in CASES]
    codes = [doors.net(model, r).to_c(name=f"f_{r.replace('-', '_')}") for r in routes]
    lib = compile_c([codes[0].source] + [c.source.split("#include <math.h>", 1)[-1] for c in codes[1:]], tmp_path)
    m = doors.models[model]
    x = m.inputs()
    for code in codes:
        close(run_c(lib, code, [x.astype(np.float64)]), m.torch_out(x))


@pytest.mark.parametrize("model", MODELS)
def test_latex_carries_the_weights(doors, model):
    net = doors.net(model, "torch")
    text = net.to_latex()
    bias = next(layer.params["bias"] for layer in net.layers if "bias" in layer.params)
    for b in bias.ravel():
        assert f"{b:.6g}" in text
    assert text.startswith("\\begin{aligned}")


@pytest.mark.parametrize("model", [m for m in MODELS if m != "lstm"])
def test_jacobian_equals_autograd(doors, model):
    m = doors.models[model]
    x = m.inputs(3)
    one = lambda t: m.module(t[None])[0]  # noqa: E731 (a batch of one: Flatten keeps the batch axis)
    want = np.stack([torch.autograd.functional.jacobian(one, torch.from_numpy(xi)).numpy() for xi in x])
    for route in ("torch", "onnx-legacy", "wxf"):
        jac = doors.net(model, route).jacobian()
        close(run(jac, x), want)


def test_jacobian_of_token_inputs_is_refused(doors):
    for route in ("torch", "pt2", "onnx-legacy"):  # torch.autograd refuses integer inputs as well
        with pytest.raises(wb.ConversionError, match=r"jacobian: input \w+ holds int64 values \(indices\)"):
            doors.net("lstm", route).jacobian()


# ---- the CLI: the same flags give the same text ---------------------------------------------------------
FLAGS = [  # (CLI flags, the Net method, its keywords)
    ([], "to_wl", {}),
    (["--form", "expanded"], "to_wl", {"form": "expanded"}),
    (["--call", "sequence"], "to_wl", {"call": "sequence"}),
    (["--digits", "3"], "to_wl", {"digits": 3}),
    (["--digits", "3", "--form", "expanded"], "to_wl", {"digits": 3, "form": "expanded"}),
    (["--exact"], "to_wl", {"exact": True}),
    (["--weights", "symbolic"], "to_wl", {"weights": "symbolic"}),
    (["--to", "sympy"], "to_sympy", {}),
    (["--to", "sympy", "--form", "expanded", "--digits", "3"], "to_sympy", {"form": "expanded", "digits": 3}),
    (["--to", "latex", "--digits", "3"], "to_latex", {"digits": 3}),
    (["--to", "latex", "--form", "expanded"], "to_latex", {"form": "expanded"}),
    (["--to", "python", "--digits", "3"], "to_python", {"digits": 3}),
    (["--to", "c"], "to_c", {}),
    (["--jacobian", "--to", "python"], "jacobian.to_python", {}),
]


def python_text(net, method, kw):
    """What the Python call returns, as the CLI prints it, or the WlbridgeError it raises."""
    try:
        if method.startswith("jacobian."):
            net, method = net.jacobian(), method.split(".", 1)[1]
        text = str(getattr(net, method)(**kw))
    except wb.WlbridgeError as e:
        return e
    return text if text.endswith("\n") else text + "\n"


@pytest.mark.parametrize("model,route", [("seed", "pt2"), ("relu", "onnx-dynamo"), ("cnn", "wxf"), ("lstm", "pt2")])
def test_convert_prints_what_the_python_call_returns(doors, model, route, capsys):
    path = doors.path(model, route)
    net = doors.net(model, route)
    refused = []
    for flags, method, kw in FLAGS:
        if model == "lstm" and method == "to_sympy":
            continue  # printing the classifier's unrolled sympy (670 kB) takes ~10 s a door; the others cover it
        want = python_text(net, method, kw)
        code = main(["convert", path, *flags])
        out, err = capsys.readouterr()
        if isinstance(want, Exception):  # refused by both doors, in the door's own words
            refused.append(flags)
            message = str(want).split(";")[0]
            for api, cli in CLI_WORDS:  # a size refusal names the CLI's options
                message = message.replace(api, cli)
            assert (code, out) == (2, "") and err == f"wlbridge: error: {message}" + err[len(message) + 17:], flags
            assert "Traceback" not in err
        else:
            assert code == 0 and out == want, flags
    # cnn, lstm: symbolic weights (a vector input, no embedding); lstm: expanded (too large), jacobian (tokens)
    assert len(refused) == {"seed": 0, "relu": 0, "cnn": 1, "lstm": 5}[model], refused


def test_check_refuses_a_too_large_form_in_the_cli_words(doors, capsys):
    path = doors.path("lstm", "pt2")
    assert main(["check", path, "--form", "expanded", "--engine", "woxi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wlbridge: error: ") and "over --max-size 2,000,000; use --form compact" in err
    assert main(["check", path, "--form", "expanded", "--engine", "woxi", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "ExpressionTooLargeError" and "raise --max-size" in error["message"]


@pytest.mark.parametrize("model,route", FILE_CASES, ids=ids(FILE_CASES))
def test_info_describes_the_net(doors, model, route, capsys):
    net = doors.net(model, route)
    assert main(["info", doors.path(model, route)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(str(net) + "\n")
    assert f"layers:      {len(net.layers)};" in out and f"parameters:  {net.param_count} (" in out


# ---- check: the same verdict and errors from Python and from `wlbridge check --json` ---------------------
def same_report(py, cli: dict, passed: bool = True):
    assert cli["passed"] is py.passed is passed
    assert [r["evaluator"] for r in cli["rows"]] == [r.evaluator for r in py.rows]
    assert [r["status"] for r in cli["rows"]] == [r.status for r in py.rows]
    for r, c in zip(py.rows, cli["rows"]):
        assert c["samples"] == r.samples
        if c["max_abs_err"] is not None:
            assert abs(c["max_abs_err"] - r.max_abs) <= 1e-9 and abs(c["max_rel_err"] - r.max_rel) <= 1e-9
    assert abs(cli["max_abs_err"] - py.max_abs_err) <= 1e-9


ONNX_SOURCE = {"seed": "source (onnxruntime)", "relu": "source (onnxruntime)", "lstm": "source (onnx.reference)",
               "cnn": "source (onnx.reference)"}  # onnxruntime has no float64 MaxPool nor LSTM


@pytest.mark.woxi
@pytest.mark.parametrize("model,route", FILE_CASES, ids=ids(FILE_CASES))
def test_check_from_python_and_cli_agree(doors, model, route, capsys):
    pytest.importorskip("woxi")
    path = doors.path(model, route)
    report = wb.load(path).check(engine="woxi", samples=8, seed=3, timeout=60)
    assert main(["check", path, "--engine", "woxi", "--samples", "8", "--seed", "3", "--timeout", "60", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    same_report(report, cli)
    assert report.max_rel_err < 1e-9
    assert [r.rtol for r in report.rows if r.kind == "source"] in ([], [pytest.approx(1024 * 2.0 ** -52)])  # f64
    runs_source = route not in WOLFRAM_ROUTES  # a Wolfram file has no runtime here: said in a note
    assert [r.evaluator for r in report.rows if r.kind == "source"] == (
        ["source (torch)"] if route == "pt2" else [ONNX_SOURCE[model]] if runs_source else [])
    assert runs_source or any("original net was not run" in n for n in report.notes)


@pytest.mark.woxi
def test_report_plot_draws_the_net_and_its_formula_alike(doors):
    pytest.importorskip("woxi")
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    figure = doors.net("seed", "pt2").check(engine="woxi", samples=4, timeout=60).plot()
    lines = {line.get_label(): line.get_ydata() for line in figure.axes[0].lines}
    for k in (1, 2):
        close(lines[f"formula (woxi), output {k}"], lines[f"net, output {k}"])
    plt.close(figure)


@pytest.mark.woxi
def test_check_digits_from_python_and_cli_agree(doors, capsys):
    """Rounded weights are not the net: the check fails by the rounding's error, and says so, by both doors."""
    pytest.importorskip("woxi")
    path = doors.path("seed", "onnx-legacy")
    report = wb.load(path).check(engine="woxi", samples=8, digits=3)
    assert main(["check", path, "--engine", "woxi", "--samples", "8", "--digits", "3", "--json"]) == 1
    cli = json.loads(capsys.readouterr().out)
    same_report(report, cli, passed=False)
    woxi = [r for r in cli["rows"] if r["evaluator"] == "woxi"][0]
    assert 1e-6 < woxi["max_abs_err"] < 1e-2 and woxi["status"] == "FAIL"
    assert any("rounded to 3 significant digits" in n for n in cli["notes"])


@pytest.mark.woxi
@pytest.mark.parametrize("model,route", [("cnn", "onnx-legacy"), ("lstm", "pt2")])
def test_arrays_inline_and_from_files_give_the_same_numbers(doors, model, route, capsys):
    """Woxi reads the code's arrays from files of the same digits (the default) or parses them inline."""
    pytest.importorskip("woxi")
    path = doors.path(model, route)
    net = wb.load(path)
    files, inline = (net.check(engine="woxi", samples=6, sympy=False, arrays=a, timeout=60)
                     for a in ("files", "inline"))
    assert files.passed and inline.passed
    assert [r.max_abs for r in files.rows] == [r.max_abs for r in inline.rows]  # the same doubles, bit for bit
    assert main(["check", path, "--engine", "woxi", "--samples", "6", "--no-sympy", "--arrays", "inline",
                 "--timeout", "60", "--json"]) == 0
    same_report(inline, json.loads(capsys.readouterr().out))


@pytest.mark.woxi
def test_own_code_on_given_inputs_from_python_and_cli(doors, tmp_path, capsys):
    """The README's `check --code mine.wl --inputs x.npy`: a user's WL function (here the expanded form, called
    f[x1, x2, x3]) on the user's inputs, against the net, by both doors and by wlbridge.testing."""
    pytest.importorskip("woxi")
    from wlbridge.testing import assert_equivalent

    path, m = doors.path("relu", "onnx-dynamo"), doors.models["relu"]
    net = wb.load(path)
    code = net.to_wl(form="expanded", call="sequence")
    x = m.inputs(7, seed=5)
    (tmp_path / "mine.wl").write_text(code)
    np.save(tmp_path / "x.npy", x)
    report = net.check(engine="woxi", code=code, call="sequence", inputs=x, timeout=60)
    assert main(["check", path, "--engine", "woxi", "--code", tmp_path / "mine.wl", "--inputs", tmp_path / "x.npy",
                 "--timeout", "60", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    same_report(report, cli)
    assert cli["samples"] == 7 and any("call sequence" in n for n in cli["notes"])  # read off the Function
    assert_equivalent(m.module, code, input_shape=(3,), engine="woxi", samples=7)
    with pytest.raises(wb.CheckFailedError):
        off = code.replace("Ramp[", "Ramp[0.001 + ", 1)
        assert_equivalent(m.module, off, input_shape=(3,), engine="woxi", samples=7)


@pytest.mark.parametrize("model", MODELS)
def test_simplify_by_both_doors(doors, model, capsys):
    path = doors.path(model, "pt2")
    net = doors.net(model, "pt2")
    assert main(["convert", path, "--simplify"]) == 0
    assert capsys.readouterr().out == net.simplify().to_wl() + "\n"
    m = doors.models[model]
    x = m.inputs()
    close(run(net.simplify(), x), m.torch_out(x))


# ---- a real process, as in a shell ---------------------------------------------------------------------
def test_python_m_wlbridge_in_a_real_process(doors):
    path = doors.path("seed", "onnx-legacy")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "wlbridge", "convert", str(path), "--digits", "3"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == doors.net("seed", "onnx-legacy").to_wl(digits=3) + "\n"
    bad = subprocess.run([sys.executable, "-m", "wlbridge", "convert", str(path), "--digitz", "3"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.endswith("wlbridge convert: error: unrecognized arguments: --digitz 3 (did you mean --digits?)\n")


@pytest.mark.slow
@pytest.mark.woxi
@pytest.mark.mathics
@pytest.mark.parametrize("route", ["pt2", "onnx-dynamo", "onnx-legacy"])
def test_the_lstm_classifier_passes_the_default_check(doors, route):
    """Issue 16: `wlbridge check FILE` with its defaults passes the Embedding -> LSTM classifier by every route."""
    pytest.importorskip("mathics")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "wlbridge", "check", str(doors.path("lstm", route)), "--json"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    report = json.loads(out.stdout)
    assert report["passed"] and report["max_rel_err"] < 1e-9
    assert {r["evaluator"] for r in report["rows"] if r["status"] == "ok"} >= {"sympy", "woxi"}


@pytest.mark.slow
@pytest.mark.woxi
@pytest.mark.mathics
def test_default_check_in_a_real_process_equals_python(doors):
    """The README's main command, `wlbridge check FILE` with its defaults (Woxi + Mathics3 + sympy)."""
    pytest.importorskip("mathics")
    path = doors.path("seed", "pt2")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-m", "wlbridge", "check", str(path), "--json"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    report = wb.load(path).check()
    same_report(report, cli)
    assert [r.evaluator for r in report.rows] == ["source (torch)", "sympy", "woxi", "mathics"]


# ---- many models at once: check_many and `wlbridge check A B DIR/` (issue 16 Turn 3: campaigns) -------------------
@pytest.mark.woxi
def test_check_many_and_the_cli_campaign_agree(doors, tmp_path, capsys):
    pytest.importorskip("woxi")
    paths = [doors.path("seed", "pt2"), doors.path("relu", "onnx-legacy"), doors.path("cnn", "wxf")]
    options = dict(engine="woxi", samples=8, seed=3, timeout=60)
    reports = wb.check_many(paths, jobs=2, **options)
    assert [r.passed for r in reports] == [True, True, True]
    one_by_one = [wb.load(p).check(**options) for p in paths]
    for many, one in zip(reports, one_by_one):
        assert [r.max_abs for r in many.rows] == [r.max_abs for r in one.rows]
    junit = tmp_path / "junit.xml"
    assert main(["check", *paths, "--engine", "woxi", "--samples", "8", "--seed", "3", "--timeout", "60",
                 "--jobs", "2", "--json", "--junit", junit]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    by_model = {line.get("model"): line for line in lines}
    for path, one in zip(paths, one_by_one):
        same_report(one, by_model[str(path)])
    text = junit.read_text()
    assert text.count("<testcase") == 3 and "<failure" not in text


@pytest.mark.woxi
def test_check_many_of_converted_nets_in_a_pool(doors):
    """Nets holding their source model (a torch module, an onnxruntime session) cannot be pickled for a worker:
    they are checked in this process, with their source row, as with jobs=1."""
    pytest.importorskip("woxi")
    nets = [doors.net("seed", "torch"), doors.net("relu", "onnx-legacy")]
    reports = wb.check_many(nets, jobs=2, engine="woxi", samples=4, timeout=60)
    assert [r.verdict for r in reports] == ["PASSED", "PASSED"]
    assert all(r.rows[0].kind == "source" and r.rows[0].passed and r.rows[0].max_rel < 1e-6 for r in reports)


def test_check_many_names_a_misspelt_option_like_every_door():
    with pytest.raises(wb.OptionError, match="check_many: unknown option 'samplez' .did you mean 'samples'..; valid "
                                             "options: jobs, cluster, on_report, simplify, model_timeout, "):
        wb.check_many([], samplez=3)


@pytest.mark.woxi
def test_per_layer_check_by_both_doors(doors, capsys):
    pytest.importorskip("woxi")
    path = doors.path("cnn", "onnx-legacy")
    report = wb.load(path).check(engine="woxi", samples=4, per_layer=True, timeout=60)
    assert main(["check", path, "--engine", "woxi", "--samples", "4", "--per-layer", "--timeout", "60", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    same_report(report, cli)
    assert cli["layers"] and cli.get("first_divergence") is None


# ---- piecewise-linear nets: linear regions (issue 16 item 3) -------------------------------------------------------
@pytest.mark.parametrize("route", ["torch", "onnx-legacy"])
def test_regions_split_over_processes_are_the_serial_ones(doors, route):
    net, m = doors.net("relu", route), doors.models["relu"]
    serial, split = net.linear_regions(-1, 1), net.linear_regions(-1, 1, jobs=2)
    assert len(split) == len(serial) > 10
    x = np.random.default_rng(4).uniform(-1, 1, (200, 3))
    close(serial.evaluate(x), m.torch_out(x))  # the regions' affine maps are the net on the box
    for a, b in zip(serial, split):
        np.testing.assert_array_equal(a.A, b.A)
        np.testing.assert_array_equal(a.b, b.b)


# ---- piecewise-linear nets: the region forms, their check and the regions command (issue 16 item 3) --------------
BOX = (-1.0, 1.0)
REGION_FLAGS = [  # (CLI flags, the Net method, its keywords): the same text by both doors
    (["--form", "piecewise", "--box", "-1", "1"], "to_wl", {"form": "piecewise", "box": BOX}),
    (["--form", "tree", "--box", "-1", "1"], "to_wl", {"form": "tree", "box": BOX}),
    (["--form", "piecewise", "--box", "-1", "1", "--minimal"], "to_wl",
     {"form": "piecewise", "box": BOX, "minimal": True}),
    (["--form", "tree", "--box", "-1", "1", "--digits", "3"], "to_wl", {"form": "tree", "box": BOX, "digits": 3}),
    (["--to", "sympy", "--form", "tree", "--box", "-1", "1"], "to_sympy", {"form": "tree", "box": BOX}),
    (["--to", "latex", "--form", "piecewise", "--box", "-1", "1"], "to_latex", {"form": "piecewise", "box": BOX}),
]


def box_inputs(n: int = 12, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(*BOX, (n, 3))


@pytest.mark.woxi
@pytest.mark.parametrize("form", ["piecewise", "tree"])
def test_region_forms_equal_torch_inside_the_box(doors, form):
    import sympy

    pytest.importorskip("woxi")
    net, m = doors.net("relu", "onnx-legacy"), doors.models["relu"]
    x = box_inputs()
    close(evaluate_function("woxi", net.to_wl(form=form, box=BOX), x), m.torch_out(x))
    matrix = net.to_sympy(form=form, box=BOX)
    f = sympy.lambdify(sympy.symbols("x1:4"), list(matrix), "numpy")
    close(np.array([[float(v) for v in f(*row)] for row in x]), m.torch_out(x))
    assert np.isnan(np.array(f(2.0, 0.0, 0.0), dtype=float)).all()  # undefined outside the box, as documented
    with pytest.raises(wb.WlbridgeError, match="needs box="):
        net.to_wl(form=form)


@pytest.mark.parametrize("flags,method,kw", REGION_FLAGS, ids=[" ".join(f[0]) for f in REGION_FLAGS])
def test_region_forms_by_both_doors(doors, flags, method, kw, capsys):
    path = doors.path("relu", "onnx-legacy")
    assert main(["convert", path, *flags]) == 0
    assert capsys.readouterr().out == python_text(doors.net("relu", "onnx-legacy"), method, kw)


def test_region_forms_without_a_box_are_refused_by_both_doors(doors, capsys):
    path = doors.path("relu", "onnx-legacy")
    assert main(["convert", path, "--form", "piecewise"]) == 2
    assert "--box" in capsys.readouterr().err
    with pytest.raises(wb.WlbridgeError, match="box"):
        doors.net("relu", "onnx-legacy").to_wl(form="piecewise")


@pytest.mark.woxi
@pytest.mark.parametrize("form", ["piecewise", "tree"])
def test_check_of_a_region_form_from_python_and_cli(doors, form, capsys):
    pytest.importorskip("woxi")
    path = doors.path("relu", "onnx-legacy")
    report = wb.load(path).check(engine="woxi", form=form, box=BOX, samples=16, timeout=60)
    assert main(["check", path, "--engine", "woxi", "--form", form, "--box", "-1", "1", "--samples", "16",
                 "--timeout", "60", "--json"]) == 0
    same_report(report, json.loads(capsys.readouterr().out))
    assert report.max_rel_err < 1e-9


def test_regions_command_equals_linear_regions(doors, capsys):
    net, m = doors.net("relu", "onnx-legacy"), doors.models["relu"]
    regions = net.linear_regions(-1, 1)
    assert main(["regions", doors.path("relu", "onnx-legacy"), "--box", "-1", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == len(regions) > 10
    for r, d in zip(regions, data["regions"]):
        np.testing.assert_array_equal(np.array(d["A"]), r.A)
        np.testing.assert_array_equal(np.array(d["b"]), r.b)
        w = np.array(d["witness"])
        close(r.A @ w + r.b, m.torch_out(w[None])[0])  # each region's map is the net at its witness
    assert main(["regions", doors.path("relu", "onnx-legacy"), "--box", "-1", "1", "--jobs", "2", "--json"]) == 0
    split = json.loads(capsys.readouterr().out)
    assert [r["A"] for r in split["regions"]] == [r["A"] for r in data["regions"]]
    assert main(["regions", doors.path("relu", "onnx-legacy"), "--box", "-1", "1"]) == 0
    assert capsys.readouterr().out.split(" (")[0] == str(regions).split(" (")[0]  # the count and box; not the time

