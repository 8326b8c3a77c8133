"""Printed products that Woxi 0.3 misreads as implicit products are written with ``*``.

Woxi reads ``a/f[b] c`` as ``a/(f[b] c)`` and cannot parse ``f[a] v[[2]]``
(docs/upstream/woxi-parse-precedence.md). Each tree is printed by our printer and evaluated in
Woxi and Mathics3, against the value WL gives it.
"""
from __future__ import annotations

import numpy as np
import pytest

from wlbridge.emit.wlprint import Apply, Call, Divide, Int, Neg, Num, Part, Plus, Power, Sym, Times, to_text

a, b, c, v = Sym("a"), Sym("b"), Sym("c"), Sym("v")
SETUP = "ClearAll[f, a, b, c, v]; f[x_] := x; a = 6; b = 2; c = 3; v = {5, 7}; "


def f(x):
    return Call("f", [x])


v2 = Part(v, [Int(2)])
CASES = [  # (tree, value in WL with a = 6, b = 2, c = 3, v = {5, 7}, f = identity)
    (Times([Divide(a, f(b)), c]), 9.0),
    (Times([Neg(Divide(a, f(b))), c]), -9.0),
    (Times([c, Divide(a, f(b)), c]), 27.0),
    (Times([Divide(a, Power(f(b), Int(2))), c]), 4.5),
    (Times([Divide(a, Call("Sqrt", [Int(4)])), c]), 9.0),
    (Times([Divide(a, f(b)), Plus([c, Num(1.0)])]), 12.0),
    (Times([f(a), v2]), 42.0),
    (Times([f(a), Power(v2, Int(2))]), 294.0),
    (Times([Power(f(a), Int(2)), v2]), 252.0),
    (Plus([Int(1), Times([f(a), v2])]), 43.0),
    (Times([Divide(a, f(b)), v2]), 21.0),
    (Times([f(a), Part(f(v), [Int(2)])]), 42.0),
    (Times([Apply(Call("Function", [Sym("y"), Sym("y")]), [a]), v2]), 42.0),
    (Times([Divide(a, b), c]), 9.0),
    (Times([Neg(Divide(a, b)), c]), -9.0),
    (Times([a, b, Divide(c, Num(0.5))]), 72.0),
]


@pytest.fixture(scope="module")
def woxi():
    return pytest.importorskip("woxi")


@pytest.fixture(scope="module")
def mathics():
    pytest.importorskip("mathics")
    from wlbridge.check.engines import mathics_session

    return mathics_session()


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("tree, want", CASES, ids=[to_text(t) for t, _ in CASES])
def test_woxi_reads_printed_products(woxi, tree, want, exact):
    got = woxi.evaluate(SETUP + "N[" + to_text(tree, exact=exact) + "]").result
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


@pytest.mark.parametrize("tree, want", CASES, ids=[to_text(t) for t, _ in CASES])
def test_mathics_reads_printed_products(mathics, tree, want):
    got = mathics.evaluate(SETUP + "N[" + to_text(tree) + "]").to_python()
    np.testing.assert_allclose(float(got), want, rtol=1e-12)


def test_star_only_where_woxi_needs_it():
    assert to_text(Times([Divide(a, f(b)), c])) == "a/f[b]*c"
    assert to_text(Times([Neg(Divide(a, f(b))), c])) == "-a/f[b]*c"
    assert to_text(Times([f(a), v2])) == "f[a]*v[[2]]"
    assert to_text(Times([f(a), Power(v2, Int(2))])) == "f[a]*v[[2]]^2"
    assert to_text(Times([Divide(a, b), c])) == "a/b c"
    assert to_text(Times([a, v2])) == "a v[[2]]"
    assert to_text(Times([v2, f(a)])) == "v[[2]] f[a]"
    assert to_text(Times([f(a), Call("Sqrt", [v2])])) == "f[a] Sqrt[v[[2]]]"
    assert to_text(Times([Num(0.75), c]), exact=True) == "3/4 c"
