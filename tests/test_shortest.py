"""Array literals through orjson's shortest digits (emit/shortest.py): the same text as ``repr`` for
Python and C, the same as each number's own WL form for WL, and every number reads back bit-exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from wlbridge.check.base import wl_array
from wlbridge.emit import c as c_emit
from wlbridge.emit.shortest import repr_text
from wlbridge.emit.wlnumbers import fmt_array, fmt_real, fmt_reals

EDGES = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e-5, -2e-5,
         9.999999999999999e-05, 1e-4, 1e-7, 3e-6, 1e16, 9999999999999998.0, 1e22, 2.0, -3.0, 123456789.0]
finite = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True, width=64)
doubles = st.one_of(finite, st.sampled_from(EDGES), st.integers(-10**17, 10**17).map(float),
                    st.floats(1e-5, 1e-4), st.floats(-1e-4, -1e-5), st.floats(1e15, 1e17))
arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), elements=doubles)


def wl_number(token: str) -> float:
    mant, _, ex = token.partition("`*^")
    return float(mant.rstrip("`") + (f"e{ex}" if ex else ""))


@settings(max_examples=200, deadline=None)
@given(arrays)
def test_repr_text_is_repr(a):
    assert repr_text(a) == repr(a.tolist())


@settings(max_examples=200, deadline=None)
@given(arrays)
def test_wl_arrays_are_each_numbers_own_form_and_round_trip(a):
    text = fmt_array(a)
    tokens = text.replace("{", "").replace("}", "").split(", ")
    assert tokens == [fmt_real(v) for v in a.ravel().tolist()] == fmt_reals(a)
    back = np.array([wl_number(t) for t in tokens])
    np.testing.assert_array_equal(back.view(np.int64), a.ravel().view(np.int64))  # bit-exact, -0.0 too
    assert text.count("{") == sum(int(np.prod(a.shape[:k])) for k in range(a.ndim))
    assert wl_array(a) == text


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 8), elements=doubles))
def test_c_rows_are_each_numbers_literal(a):
    assert c_emit._array(a) == "{" + ", ".join(c_emit.literal(float(v)) for v in a) + "}"


def test_a_million_random_doubles_print_as_repr_and_wl_did():
    bits = np.random.default_rng(0).integers(0, 2**64, size=300_000, dtype=np.uint64).view(np.float64)
    a = bits[np.isfinite(bits)].reshape(-1)[:270_000].reshape(-1, 3)
    assert repr_text(a) == repr(a.tolist())
    assert fmt_reals(a) == [fmt_real(v) for v in a.ravel().tolist()]


def test_float32_weights_print_their_exact_double_value():
    w = np.array([0.1, -1e-6, 3.4e38], dtype=np.float32)
    assert fmt_array(w) == "{0.10000000149011612`, -9.999999974752427`*^-7, 3.3999999521443642`*^38}"
    assert repr_text(w) == "[0.10000000149011612, -9.999999974752427e-07, 3.3999999521443642e+38]"


def test_infinities_and_nan():
    assert fmt_array(np.array([[1.0, np.inf], [-np.inf, 2e-5]])) == "{{1.`, Infinity}, {-Infinity, 2.`*^-5}}"
    assert repr_text(np.array([np.inf, -1.0])) == "[inf, -1.0]"
    assert c_emit._array(np.array([np.inf, -1.0, np.nan])) == "{INFINITY, (-1.0), NAN}"
    with pytest.raises(Exception, match="NaN"):
        fmt_array(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="non-finite"):
        wl_array(np.array([1.0, np.inf]))


@pytest.mark.parametrize("call", ["list", "sequence"])
def test_deferred_arrays_give_the_same_compact_text(monkeypatch, call):
    """Long array literals are put into the compact form once, at the end: the same text as printed in place."""
    import wlbridge as wb
    from wlbridge.emit import wlprint

    rng = np.random.default_rng(0)
    b = wb.NetBuilder("wide")
    x = b.input("x", (40,))
    h = b.layer("linear", [x], params={"weight": rng.normal(size=(64, 40)) * 1e-3, "bias": rng.normal(size=64)})
    h = b.layer("elementwise", [h], attrs={"fn": "tanh"})
    net = b.build([b.layer("linear", [h], params={"weight": rng.normal(size=(3, 64)), "bias": np.zeros(3)})])
    deferred = net.to_wl(call=call)
    monkeypatch.setattr(wlprint, "DEFER_CHARS", 10**12)
    assert deferred == net.to_wl(call=call) and wlprint.MARK not in deferred and len(deferred) > 40_000
    assert fmt_array(net.layers[0].params["weight"]) in deferred
