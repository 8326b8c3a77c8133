"""The piecewise and tree forms: the box required and stated, equal to the net inside it (sympy, Woxi, Mathics3),
undefined outside it, digits on every form, unknown options refused, the tree smaller than the flat form."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

pytest.importorskip("scipy")
from wlbridge.analysis.affine_text import SympyText  # noqa: E402
from wlbridge.analysis.regions import linear_regions  # noqa: E402
from wlbridge.analysis.tree import Leaf, Node, build_tree  # noqa: E402
from wlbridge.errors import WlbridgeError  # noqa: E402
from wlbridge.ir import NetBuilder  # noqa: E402

from .cases import mlp  # noqa: E402

FORMS = ("piecewise", "tree")


def net3882():
    """The 3-8-8-2 ReLU net of examples/math_forms.py (BatchNorm and Dropout folded by simplify)."""
    pytest.importorskip("torch")
    import wlbridge as wb
    from examples.math_forms import relu_3882

    return wb.from_torch(relu_3882(), (3,)).simplify()


def sympy_values(matrix, x):
    f = sp.lambdify(SympyText(x.shape[1]).xs, list(matrix), "numpy")
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (len(x),)) for v in f(*x.T)], axis=1)


@pytest.mark.parametrize("form", FORMS)
def test_box_is_required_and_checked(form):
    net = mlp([2, 3, 1])
    for emit in (net.to_wl, net.to_sympy, net.to_latex):
        with pytest.raises(WlbridgeError, match=r"needs box=\(lower, upper\).*Indeterminate outside"):
            emit(form=form)
    for bad in ((1, -1), (0, 0), ((-1, -1, -1), 1), "ab", (-np.inf, 1)):
        with pytest.raises(WlbridgeError, match="box"):
            net.to_wl(form=form, box=bad)


@pytest.mark.parametrize("form", FORMS)
def test_unknown_and_bad_options_are_wlbridge_errors(form):
    net = mlp([2, 3, 1])
    with pytest.raises(WlbridgeError,
                       match=r"unknown option 'digitz' \(did you mean 'digits'\?\); valid options: .*box, minimal"):
        net.to_wl(form=form, box=(-1, 1), digitz=3)
    with pytest.raises(WlbridgeError, match=f"form='{form}' takes neither exact nor max_size"):
        net.to_sympy(form=form, box=(-1, 1), exact=True)
    for digits in (0, 2.5, True, "3"):
        with pytest.raises(WlbridgeError, match="digits must be a whole number >= 1"):
            net.to_wl(form=form, box=(-1, 1), digits=digits)
    with pytest.raises(WlbridgeError, match="call must be one of"):
        net.to_wl(form=form, box=(-1, 1), call="dict")
    with pytest.raises(WlbridgeError, match="box and minimal apply to form='piecewise' or 'tree'"):
        net.to_wl(box=(-1, 1))


@pytest.mark.parametrize("form", FORMS)
def test_sympy_forms_equal_the_net_inside_and_nan_outside(form):
    net = mlp([3, 5, 4, 2], seed=1)
    rng = np.random.default_rng(0)
    lo, hi = np.array([-1.0, -2.0, 0.0]), np.array([1.0, 1.0, 3.0])
    inside = lo + (hi - lo) * rng.random((500, 3))
    m = net.to_sympy(form=form, box=(lo, hi))
    np.testing.assert_allclose(sympy_values(m, inside), net(inside), rtol=1e-12, atol=1e-12)
    outside = np.array([[1.5, 0.0, 1.0], [0.0, -2.5, 1.0], [0.0, 0.0, 3.01]])
    assert np.isnan(sympy_values(m, outside)).all()


def test_tree_shares_each_condition_once():
    net = mlp([2, 6, 5, 1], seed=3)
    regions = linear_regions(net, -2, 2)
    tree = build_tree(regions)
    nodes, leaves = tree.size
    assert leaves == len(regions) and isinstance(tree, Node)

    def conditions(t):  # every root-to-leaf path: each unit's condition at most once
        if isinstance(t, Leaf):
            return [[]]
        return [[rows] + rest for rows, s in t.branches for rest in conditions(s)]
    for path in conditions(tree):
        keys = [tuple(np.round(np.concatenate([np.ravel(h) for h, _ in rows]), 12)) for rows in path]
        assert len(keys) == len(set(keys))
    wl = net.to_wl(form="tree", box=(-2, 2))
    assert wl.count("If[") == nodes + 1  # one If per node, and the box's


def test_relu6_and_maxpool_use_which_and_stay_exact():
    rng = np.random.default_rng(4)
    b = NetBuilder("cnn")
    x = b.input("x", (1, 4))
    h = b.layer("conv", [x], params={"weight": rng.standard_normal((2, 1, 2)), "bias": rng.standard_normal(2)})
    h = b.layer("elementwise", [h], attrs={"fn": "relu6"})
    h = b.layer("pool", [h], attrs={"kind": "max", "kernel": (3,), "stride": (1,)})
    net = b.build([b.layer("linear", [b.layer("flatten", [h])], params={"weight": rng.standard_normal((2, 2))})])
    x = rng.uniform(-3, 3, (300, 1, 4))
    for form in FORMS:
        m = net.to_sympy(form=form, box=(-3, 3))
        np.testing.assert_allclose(sympy_values(m, x.reshape(300, 4)), net(x), rtol=1e-12, atol=1e-12)
    assert "Which[" in net.to_wl(form="tree", box=(-3, 3))


@pytest.mark.parametrize("form", ["compact", "expanded", "piecewise", "tree"])
def test_digits_on_every_form(form):
    net = mlp([2, 3, 2], seed=2)
    box = {"box": (-1, 1)} if form in FORMS else {}
    wl = net.to_wl(form=form, digits=3, **box)
    tex = net.to_latex(form=form, digits=3, **box) if form in FORMS else net.to_latex(digits=3)
    s = net.to_sympy(form=form, digits=3, **box)
    assert "0.2887" not in wl and isinstance(tex, str) and s is not None
    if form in FORMS:  # the printed numbers have 3 significant digits; the values move by the rounding only
        x = np.random.default_rng(1).uniform(-1, 1, (200, 2))
        got = sympy_values(s, x)
        np.testing.assert_allclose(got, net(x), rtol=0.05, atol=0.05)
        assert np.max(np.abs(got - net(x))) > 1e-9  # really rounded
        nums = [t for t in wl.translate(str.maketrans("{},[]", "     ")).split() if "`" in t]
        assert nums and all(len(t.split("`")[0].strip("-").replace(".", "").lstrip("0")) <= 3 for t in nums)


@pytest.mark.woxi
@pytest.mark.parametrize("form", FORMS)
def test_woxi_values_and_indeterminate_outside(form):
    woxi = pytest.importorskip("woxi")
    net = mlp([3, 4, 2], seed=5)
    for call in ("list", "sequence"):
        code = net.to_wl(form=form, box=(-1, 1), call=call)
        report = net.check(engine="woxi", form=form, box=(-1, 1), call=call, samples=24)
        assert report.passed and report.max_rel_err <= 1e-12, str(report)
        args = "{1.5, 0., 0.}" if call == "list" else "1.5, 0., 0."
        assert str(woxi.evaluate(f"({code})[{args}]").result) == "{Indeterminate, Indeterminate}"


@pytest.mark.woxi
@pytest.mark.mathics
@pytest.mark.parametrize("form", FORMS)
def test_check_3882_in_woxi_mathics_and_sympy(form):
    """The acceptance: check(form=, box=) PASSED on the 3-8-8-2 net, its samples inside the box."""
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    net = net3882()
    report = net.check(engine="embedded", form=form, box=(-1, 1), samples=16)
    assert report.passed, str(report)
    rows = {r.evaluator: r for r in report.rows}
    assert {"woxi", "mathics", "sympy"} <= set(rows) and all(rows[k].max_rel <= 1e-12 for k in rows)
    flat, tree = net.to_wl(form="piecewise", box=(-1, 1)), net.to_wl(form="tree", box=(-1, 1))
    small = net.to_wl(form="piecewise", box=(-1, 1), minimal=True)
    assert len(tree) < len(small) < len(flat)


def test_check_samples_inside_the_box():
    from wlbridge.check.sampling import sample_inputs

    net = mlp([2, 3, 1])
    xs = sample_inputs(net, 40, 0, box=((0, -3), (0.5, -2)))[0]
    assert xs[:, 0].min() >= 0 and xs[:, 0].max() <= 0.5 and xs[:, 1].min() >= -3 and xs[:, 1].max() <= -2
    assert np.ptp(xs[:, 0]) > 0.3 and np.ptp(xs[:, 1]) > 0.6
    report = net.check(engine="woxi", form="piecewise", box=((0, -3), (0.5, -2)), samples=40)
    assert report.passed and report.max_rel_err <= 1e-12, str(report)
    assert report.rows[0].worst is None or all(0 <= v[0] <= 0.5 for v in [report.rows[0].worst["input"]])


def test_no_raw_type_errors_on_any_combination():
    """Every emitter x region form x option: a result or a WlbridgeError naming what is wrong."""
    net = mlp([2, 3, 1])
    options = [{}, {"digits": 2}, {"minimal": True}, {"call": "sequence"}, {"exact": True}, {"max_size": 10},
               {"weights": "symbolic"}, {"digits": 2, "minimal": True, "max_regions": 50}, {"box": None}]
    for form in FORMS:
        for emit in (net.to_wl, net.to_sympy, net.to_latex):
            for opt in options:
                kw = {"box": (-1, 1), **opt}
                try:
                    emit(form=form, **kw)
                except WlbridgeError as e:
                    assert any(k in str(e) for k in kw) or "box" in str(e), (emit, opt, e)
        for opt in ({"digits": 3}, {"minimal": True}, {"call": "sequence"}, {"exact": True}, {}):
            try:
                report = net.check(engine=[], form=form, box=(-1, 1), samples=8, **opt)
                assert report.rows and all(r.passed or "digits" in opt for r in report.rows), (opt, str(report))
            except WlbridgeError as e:  # check has no minimal (its code's conditions do not change its values)
                assert any(k in str(e) for k in opt) and ("exact" in opt or "minimal" in opt), (opt, e)


@pytest.mark.woxi
def test_given_inputs_outside_the_box_are_named():
    pytest.importorskip("woxi")
    net = mlp([2, 3, 1])
    report = net.check(engine="woxi", form="tree", box=(-1, 1), inputs=np.array([[0.5, 0.5], [2.0, 0.0]]))
    assert not report.passed
    assert "1 of the 2 given inputs lie outside the box: form='tree' is Indeterminate (sympy: nan) there" in report.notes


def test_tree_refuses_minimal():
    """minimal= would be accepted and ignored by the tree form (one unit's sign per node): refused instead."""
    from wlbridge.errors import WlbridgeError
    from wlbridge.emit.options import EmitOptions

    with pytest.raises(WlbridgeError, match="minimal applies to form='piecewise'"):
        EmitOptions(form="tree", box=(-1, 1), minimal=True)
    assert EmitOptions(form="piecewise", box=(-1, 1), minimal=True).minimal
