"""Options at the door: every public entry point has real keywords (``help()`` shows them); a misspelt or
ill-typed one is an ``OptionError`` (a ``WlbridgeError``) naming the valid ones; the defaults of the
signatures and of the option dataclasses are one table."""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import sympy as sp

import wlbridge as wb
from wlbridge import testing
from wlbridge.check import roundtrip
from wlbridge.check.options import CheckOptions
from wlbridge.emit import c, latex, python, sympy as emit_sympy, wl
from wlbridge.emit.options import EmitOptions
from wlbridge.errors import OptionError, WlbridgeError
from wlbridge.passes.rounding import round_weights

from .test_symbolic import mlp


def relu_net():
    b = wb.NetBuilder("relu")
    x = b.input("x", (2,))
    g = np.random.default_rng(3)
    h = b.layer("linear", [x], params={"weight": g.standard_normal((4, 2)), "bias": g.standard_normal(4)})
    h = b.layer("elementwise", [h], attrs={"fn": "relu"})
    return b.build([b.layer("linear", [h], params={"weight": g.standard_normal((1, 4)), "bias": g.standard_normal(1)})])


NET = relu_net()
# (entry point, positional arguments, a misspelt keyword, the valid option it should suggest)
CALLS = [
    (NET.to_wl, (), "digitz", "digits"),
    (NET.to_sympy, (), "maxsize", "max_size"),
    (NET.to_latex, (), "from", "form"),
    (NET.to_python, (), "nmae", "name"),
    (NET.to_c, (), "digit", "digits"),
    (NET.check, (), "sample", "samples"),
    (NET.linear_regions, (-1, 1), "minimial", "minimal"),
    (roundtrip.check, (NET,), "engin", "engine"),
    (wb.load, ("m.onnx",), "input_name", "input_names"),
    (wb.from_torch, (None, (2,)), "dtyp", "dtype"),
    (wb.from_onnx, (None,), "orign", "origin"),
    (wb.from_wolfram, (None, "net"), "precison", "precision"),
    (wb.plot_check, (NET,), "point", "points"),
    (wb.check_many, ([],), "job", "jobs"),
    (testing.assert_check, (NET,), "sampels", "samples"),
    (testing.assert_equivalent, (NET, "Function[{x}, x]"), "engin", "engine"),
    (testing.as_net, (NET,), "input_name", "input_names"),
]
PUBLIC = [fn for fn, *_ in CALLS] + [wb.to_wl_association, wb.save_wlnet, wb.save_wxf, wl.to_wl, emit_sympy.to_sympy,
                                     latex.to_latex, python.to_python, c.to_c]


@pytest.mark.parametrize("fn, args, wrong, right", CALLS, ids=lambda v: getattr(v, "__qualname__", None))
def test_misspelt_keyword_names_the_valid_ones(fn, args, wrong, right):
    with pytest.raises(OptionError, match=rf"unknown option '{wrong}' \(did you mean '{right}'\?\); valid options: ") as e:
        fn(*args, **{wrong: 1})
    assert isinstance(e.value, WlbridgeError) and isinstance(e.value, TypeError)
    listed = str(e.value).split("valid options: ")[1].split(", ")
    assert listed == [p for p in inspect.signature(fn).parameters if p in listed]  # in signature order
    assert right in listed


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f.__qualname__)
def test_public_signatures_have_no_catch_all(fn):
    kinds = [p.kind for p in inspect.signature(fn).parameters.values()]
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
    assert fn.__doc__


def test_to_wl_lists_every_emit_option():
    with pytest.raises(OptionError) as e:
        NET.to_wl(digitz=3)
    assert str(e.value).endswith("valid options: form, call, exact, digits, box, minimal, weights, activations, "
                                 "max_size")


def _defaults(fn) -> dict:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def test_signature_defaults_are_the_dataclasses():
    emit = {f.name: f.default for f in dataclasses.fields(EmitOptions)}
    for fn in (NET.to_wl, NET.to_sympy, NET.to_latex):
        assert {k: emit[k] for k in _defaults(fn)} == _defaults(fn), fn.__name__
    checks = {f.name: f.default for f in dataclasses.fields(CheckOptions)}
    assert _defaults(roundtrip.check) == checks
    assert _defaults(NET.check) == checks
    many = {k: v for k, v in _defaults(wb.check_many).items() if k in checks and k != "progress"}  # no bar per model
    assert many == {k: checks[k] for k in many} and len(many) >= 18
    asserted = _defaults(testing.assert_check)  # it raises on failure: no raise_on_failure
    assert asserted == {k: v for k, v in checks.items() if k != "raise_on_failure"}
    equivalent = _defaults(testing.assert_equivalent)  # the sympy row off, call read from the code
    assert {k: v for k, v in equivalent.items() if k in checks and k not in ("sympy", "call")} == \
        {k: checks[k] for k in equivalent if k in checks and k not in ("sympy", "call")}


def test_as_net_refuses_options_its_loader_does_not_take(tmp_path):
    with pytest.raises(OptionError, match="as_net: dtype does not apply to a model file"):
        testing.as_net(tmp_path / "m.onnx", dtype="float32")
    with pytest.raises(OptionError, match="input_shape does not apply to a Net"):
        testing.as_net(NET, (2,))
    with pytest.raises(OptionError, match="a torch module needs input_shape="):
        testing.as_net(type("M", (), {"state_dict": None})())


@pytest.mark.parametrize("call, message", [
    (lambda: NET.check(samples="a"), "^net.check: samples must be a whole number >= 1; got 'a'$"),
    (lambda: NET.check(seed=-3), "seed must be a whole number >= 0; got -3"),
    (lambda: NET.check(engine="woxy"), "engine must be one of 'auto', 'wolfram', 'woxi', 'mathics', 'embedded'"),
    (lambda: NET.check(timeout=-1), "timeout must be a finite number > 0 or None; got -1"),
    (lambda: NET.to_wl(form="expandd"), "form must be one of 'compact', 'expanded', 'piecewise', 'tree'; got 'expandd'"),
    (lambda: NET.to_sympy(digits=-1), "digits must be a whole number >= 1, 'float32' or None; got -1"),
    (lambda: NET.to_wl(call="tuple"), "call must be one of 'list', 'sequence'"),
    (lambda: NET.to_wl(exact="yes"), "exact must be True or False"),
    (lambda: NET.to_wl(form="piecewise", box=(0, "a")), "box must be \\(lower, upper\\)"),
    (lambda: NET.to_wl(box=(0, 1)), "box and minimal apply to form='piecewise' or 'tree', not form='compact'"),
    (lambda: NET.to_wl(weights="symbolic", digits=3), "takes form='compact', call='list' and neither exact nor digits"),
    (lambda: NET.check(form="compact", box=(0, 1)), "box and minimal apply to form='piecewise'"),
    (lambda: NET.check(code="Function[{x}, x]", digits=3), "digits chooses the code wlbridge writes; with code= "),
])
def test_ill_typed_values_name_the_valid_ones(call, message):
    with pytest.raises(OptionError, match=message):
        call()


def test_latex_expanded_is_sympys_expanded_formula():
    net = mlp()
    assert net.to_latex(form="expanded") == sp.latex(net.to_sympy(form="expanded"))
    assert net.to_latex(form="expanded", digits=2) == sp.latex(round_weights(net, 2).to_sympy(form="expanded"))
    assert "0.13" in net.to_latex(form="expanded", digits=2)


def test_digits_round_the_printed_region_coefficients():
    """Region forms: digits=N rounds each printed coefficient of the exact net's regions (the display is short);
    digits='float32' rounds the weights before the regions."""
    net = NET
    pieces = net.to_sympy(form="piecewise", box=(-1, 1), digits=2)
    f = sp.lambdify(sp.symbols("x1 x2"), pieces, "numpy")
    xs = np.random.default_rng(0).uniform(-0.9, 0.9, (20, 2))
    got = np.array([np.ravel(f(*x)) for x in xs], dtype=float)
    np.testing.assert_allclose(got, net(xs), rtol=0.1, atol=0.1)
    assert np.max(np.abs(got - net(xs))) > 1e-6  # the rounding shows
    code = net.to_wl(form="piecewise", box=(-1, 1), digits=2)
    numbers = [t.rstrip("`") for t in code.translate(str.maketrans("{},[]", "     ")).split() if t.endswith("`")]
    assert numbers and all(len(n.lstrip("-").replace(".", "").lstrip("0")) <= 2 for n in numbers)
    assert net.to_wl(form="piecewise", box=(-1, 1), digits="float32") == \
        round_weights(net, "float32").to_wl(form="piecewise", box=(-1, 1))


def test_python_and_c_take_digits():
    net = mlp()
    w = float(net.layers[0].params["weight"][0, 0])
    short = float(f"{w:.3g}")
    assert repr(short) in net.to_python(digits=3) and repr(w) not in net.to_python(digits=3)
    assert repr(w) in net.to_python()
    assert repr(short) in net.to_c(digits=3).source


def test_digits_float32_prints_float32s_shortest():
    b = wb.NetBuilder("f32")
    x = b.input("x", (2,), dtype=np.float32)
    net = b.build([b.layer("linear", [x], params={"weight": np.array([[0.1, 1 / 3]], dtype=np.float32)})])
    assert "0.1`" in net.to_wl(digits="float32") and "0.33333334`" in net.to_wl(digits="float32")
    assert "0.10000000149011612`" in net.to_wl()
    assert CheckOptions(digits="float32").tolerance() == {"rtol": 1024 * 2.0 ** -23, "atol": None}
    assert CheckOptions(digits="float32", rtol=1e-3).tolerance()["rtol"] == 1e-3


@pytest.mark.woxi
def test_check_digits_float32_passes_with_float32s_tolerance():
    pytest.importorskip("woxi")
    b = wb.NetBuilder("f32")
    x = b.input("x", (3,), dtype=np.float32)
    g = np.random.default_rng(2)
    h = b.layer("linear", [x], params={"weight": g.standard_normal((4, 3)).astype(np.float32),
                                         "bias": g.standard_normal(4).astype(np.float32)})
    net = b.build([b.layer("elementwise", [h], attrs={"fn": "tanh"})])
    report = net.check(engine="woxi", samples=16, digits="float32", sympy=False)
    assert report.passed, str(report)
    assert 0 < report.max_rel_err < 1e-5  # the printed digits differ from the float32 weights, a little
    assert any("float32's shortest digits" in n for n in report.notes)
    assert report.rows[-1].rtol == 1024 * 2.0 ** -23


def test_embedding_net_says_which_dtype_to_pass():
    torch = pytest.importorskip("torch")
    m = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(), torch.nn.Linear(12, 2))
    with pytest.raises(wb.ConversionError, match=r"takes integer indices as input \(nn.Embedding at 0\), not "
                                                 r"torch.float32: pass dtype=torch.long"):
        wb.from_torch(m, (3,))
    net = wb.from_torch(m, (3,), dtype=torch.long)
    idx = np.array([[1, 2, 9]])
    np.testing.assert_allclose(net(idx), m(torch.tensor(idx)).detach().numpy(), rtol=1e-6)


def test_load_refuses_sequence_length_for_a_pt2(tmp_path):
    p = tmp_path / "m.pt2"
    p.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(OptionError, match="sequence_length applies to .wlnet, .wxf and .onnx"):
        wb.load(p, sequence_length=5)
