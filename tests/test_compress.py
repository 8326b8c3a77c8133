"""Compress ("1:" + base64 + zlib + !boR) decoder/encoder and the InputForm parser/printer."""
from __future__ import annotations

import base64
import re
import struct
import zlib

import numpy as np
import pytest

from wlbridge.errors import FormatError
from wlbridge.frontends.wolfram import compress
from wlbridge.frontends.wolfram.expr import Expr, Symbol, call, equal
from wlbridge.frontends.wolfram.inputform import parse, real_text, to_inputform

from tests.wolfram_files import real_file

h5py = pytest.importorskip("h5py")


def wrap(payload: bytes) -> str:
    return "1:" + base64.b64encode(zlib.compress(payload)).decode()


def i32(n):
    return struct.pack("<i", n)


def sym(name):
    return b"s" + i32(len(name)) + name.encode()


def test_every_token():
    payload = (b"!boR" + b"f" + i32(7) + sym("List") + b"i" + i32(-7) + b"I" + i32(1) + b"3"
               + b"r" + struct.pack("<d", 0.1) + b"R" + i32(10) + b"1.5`20.*^3" + b"S" + i32(2) + b"ab"
               + sym("NeuralNetworks`Private`ScalarSymbol") + b"I" + i32(25) + b"1234567890123456789012345")
    assert compress.decode(wrap(payload)) == [-7, 3, 0.1, 1500.0, "ab", Symbol("ScalarSymbol"),
                                              1234567890123456789012345]


@pytest.mark.parametrize("tok,dtype", [(b"e", "<f8"), (b"l", "<f4"), (b"n", "<i4"), (b"b", "u1")])
def test_packed_arrays(tok, dtype):
    a = (np.arange(6).reshape(2, 3) * 3).astype(dtype)
    payload = b"!boR" + tok + i32(2) + i32(2) + i32(3) + a.tobytes()
    out = compress.decode(wrap(payload))
    assert out.dtype == np.dtype(dtype).newbyteorder("=") and out.shape == (2, 3)
    np.testing.assert_array_equal(out, a)


def test_rawarray_and_roundtrip_of_arrays():
    tree = {"w": np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), "i": np.arange(4, dtype=np.int32),
            "b": np.arange(5, dtype=np.uint8), "d": np.array([[0.1, 1e-300]])}
    back = compress.decode(compress.encode(tree))
    assert equal(back, tree)


def test_roundtrip_nested_structures():
    tree = {"Type": "Chain", "Nodes": {"1": {"F": call("ValidatedParameter", Symbol("Tanh"))}},
            "Edges": [call("Rule", call("NetPath", "Outputs", "Output"), call("NetPath", "Inputs", "Input"))],
            "x": [1, -2**40, 2.5e-300, "ünï", []], "e": {}}
    assert equal(compress.decode(compress.encode(tree)), tree)
    assert compress.decode(compress.encode([True, None])) == [Symbol("True"), Symbol("None")]


def test_contexts_written_on_request():
    s = compress.encode(call("ScalarSymbol", 1), contexts={"ScalarSymbol": "NeuralNetworks`Private`"})
    assert b"NeuralNetworks`Private`ScalarSymbol" in compress.unwrap(s)
    assert compress.decode(s) == call("ScalarSymbol", 1)


@pytest.mark.parametrize("payload,what", [
    (b"!boRx", "unknown token b'x' at offset 4"),
    (b"!boRf" + i32(2) + sym("List") + b"i" + i32(1), "at offset"),
    (b"!boRf" + i32(2**30) + sym("List"), "argument count"),
    (b"!boRS" + i32(10**9), "need 1000000000 bytes"),
    (b"!boRe" + i32(2) + i32(10**5) + i32(10**5), "larger than the remaining"),
    (b"!boRi" + i32(1) + b"i", "trailing bytes"),
    (b"XboRi" + i32(1), "does not start with"),
    (b"!boRI" + i32(3) + b"1x2", "bad integer"),
])
def test_bad_payloads(payload, what):
    with pytest.raises(FormatError, match=re.escape(what)):
        compress.decode(wrap(payload), source="t.wlnet")


def test_bad_wrapping():
    with pytest.raises(FormatError, match="does not start with '1:'"):
        compress.decode("2:abc")
    with pytest.raises(FormatError, match="base64"):
        compress.decode("1:@@@")
    with pytest.raises(FormatError, match="zlib"):
        compress.decode("1:" + base64.b64encode(b"not zlib").decode())
    with pytest.raises(FormatError, match="truncated"):
        compress.decode("1:" + base64.b64encode(zlib.compress(b"!boRi\0\0\0\0")[:-3]).decode())


def test_decompression_bomb_is_bounded():
    bomb = "1:" + base64.b64encode(zlib.compress(b"\0" * (20 * 1024 * 1024), 9)).decode()
    with pytest.raises(FormatError, match="exceeds"):
        compress.decode(bomb, max_output=1024 * 1024)


def test_deep_nesting_is_refused():
    payload = b"!boR" + (b"f" + i32(1) + sym("g")) * 5000 + b"i" + i32(0)
    with pytest.raises(FormatError, match="nested deeper"):
        compress.decode(wrap(payload))


def test_notebook_line_continuations_are_stripped():
    s = compress.encode([1, 2, 3])
    assert compress.decode(s[:10] + "\\\n" + s[10:]) == [1, 2, 3]


# ---- real files against their independent text dumps ------------------------------------------

def dump_section(text: str, name: str) -> str:
    m = re.search(rf"^{name}: Compress string.*?\n.*?(^<\|.*?)(?=^\w+: Compress string|^Arrays/|\Z)", text, re.S | re.M)
    return re.sub(r"(?<=\d)e([-+]?\d+)", r"*^\1", m.group(1))  # the dump prints Python floats


@pytest.mark.parametrize("name", ["WIS22_net", "eigenjs7_trainedNet1", "ML_Supergroup_Demo_Net"])
def test_real_files_match_independent_dumps(name):
    path = real_file(f"{name}.wlnet")
    text = (path.parent / f"{name}.decoded.txt").read_text()
    with h5py.File(path) as f:
        for key in ("Network", "Metadata"):
            mine = compress.decode(f[key][()], source=str(path))
            theirs = parse(dump_section(text, key))
            assert equal(mine, theirs), key
            assert equal(compress.decode(compress.encode(mine)), mine)


# ---- InputForm ----------------------------------------------------------------------------------

def test_inputform_roundtrip_and_exact_reals():
    xs = [0.1, 1e-05, -2.5e20, 1 / 3, 5e-324, 1.7976931348623157e308, 123456789.0]
    text = to_inputform({"r": xs, "s": 'a"b\\c', "f": call("TensorT", [3], Symbol("RealT"))})
    back = parse(text)
    assert back["r"] == xs and back["s"] == 'a"b\\c'
    assert real_text(1e-05) == "1.`*^-5" and real_text(0.25) == "0.25`" and real_text(-3e20) == "-3.`*^20"
    assert "e" not in real_text(1.5e-10).replace("`", "")


@pytest.mark.parametrize("text", ["Print[1]; 2", "a + b", "#^2 &", "f[x_] := 1", "1.5e3", "{1, 2"])
def test_inputform_refuses_code(text):
    with pytest.raises(FormatError):
        parse(text, source="old.wlnet")


def test_inputform_precision_marks():
    assert parse("{1.5`20., 2.`*^-3, -4, \"x\" -> y :> z}") == [1.5, 0.002, -4,
                                                                Expr(Symbol("Rule"), ("x", Expr(Symbol("RuleDelayed"), (Symbol("y"), Symbol("z")))))]
