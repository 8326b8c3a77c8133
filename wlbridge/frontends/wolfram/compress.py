"""Wolfram ``Compress`` strings: ``"1:"`` + base64(zlib(``!boR`` + one binary expression)).

Data only: the decoder builds an :mod:`.expr` tree and never evaluates anything. Grammar
(wlnet-format.md §2.2), all integers little-endian int32::

    f n head arg{n}  |  s len name  |  S len utf8  |  i int32  |  I len digits  |  r float64
    |  R len text  |  (e|l|n|b) rank dims{rank} elem{prod(dims)}     (float64, float32, int32, uint8)

>>> from wlbridge.frontends.wolfram.expr import Symbol, call
>>> s = encode({"Type": "Linear", "Size": [1, 2.5], "F": call("Tanh")})
>>> s[:2]
'1:'
>>> decode(s)
{'Type': 'Linear', 'Size': [1, 2.5], 'F': Expr(Symbol('Tanh'), [])}
"""
from __future__ import annotations

import base64
import binascii
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ... import limits
from ...errors import FormatError
from .expr import Expr, Symbol, head_name

MAGIC = b"!boR"
MAX_DEPTH = 200  # nesting of expressions; real nets use < 40
MAX_OUTPUT = 64 * 1024 * 1024  # bytes after zlib (at least): a decompression bomb stops here
MAX_RATIO = 20  # ... or 20x the compressed size: weights never compress that well, bombs compress ~1000x
ARRAY_TOKENS = {b"e": np.dtype("<f8"), b"l": np.dtype("<f4"), b"n": np.dtype("<i4"), b"b": np.dtype("u1")}
ARRAY_CODES = {v: k for k, v in ARRAY_TOKENS.items()}
RAW_TYPES = {"Real64": "<f8", "Real32": "<f4", "Integer32": "<i4", "UnsignedInteger8": "u1"}


def decode(text, *, source: str = "<compress>", max_output: int | None = None):
    """Decode a ``"1:..."`` Compress string (str or bytes) into an expression tree."""
    return decode_binary(unwrap(text, source=source, max_output=max_output), source=source)


def unwrap(text, *, source: str = "<compress>", max_output: int | None = None) -> bytes:
    """The ``!boR`` bytes inside a Compress string (base64 and zlib removed, size bounded)."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise FormatError(f"{source}: Compress string holds non-ASCII characters") from None
    text = bytes(text).replace(b"\\\n", b"").replace(b"\n", b"").replace(b"\r", b"").strip()
    if not text.startswith(b"1:"):
        raise FormatError(f"{source}: not a Compress string (does not start with '1:')")
    try:
        raw = base64.b64decode(text[2:], validate=True)
    except (binascii.Error, ValueError) as e:
        raise FormatError(f"{source}: bad base64 in Compress string: {e}") from None
    return inflate(raw, source=source, max_output=max_output)


def inflate(raw: bytes, *, source: str, max_output: int | None = None) -> bytes:
    """zlib-decompress at most ``max_output`` bytes (default: ``max(MAX_OUTPUT, MAX_RATIO * len(raw))``);
    a longer or broken stream is a FormatError."""
    if max_output is None:
        max_output = max(MAX_OUTPUT, MAX_RATIO * len(raw))
    d = zlib.decompressobj()
    try:
        out = d.decompress(raw, max_output)
    except zlib.error as e:
        raise FormatError(f"{source}: bad zlib data: {e}") from None
    if d.unconsumed_tail:
        raise FormatError(f"{source}: decompressed data exceeds {max_output} bytes (refused)")
    if not d.eof:
        raise FormatError(f"{source}: zlib data is truncated")
    return out


def decode_binary(data: bytes, *, source: str = "<compress>"):
    """Parse ``!boR`` + one expression; every byte must be consumed."""
    if not data.startswith(MAGIC):
        raise FormatError(f"{source}: Compress payload does not start with {MAGIC!r} (got {data[:4]!r})")
    r = _Reader(data, 4, source)
    value = r.expr(0)
    if r.pos != len(data):
        raise FormatError(f"{source}: {len(data) - r.pos} trailing bytes after the expression at offset {r.pos}")
    return value


@dataclass
class _Reader:
    data: bytes
    pos: int
    source: str

    def fail(self, what: str, at: int | None = None):
        raise FormatError(f"{self.source}: Compress payload: {what} at offset {self.pos if at is None else at}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"need {n} bytes, {len(self.data) - self.pos} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def int32(self) -> int:
        return struct.unpack("<i", self.take(4))[0]

    def text(self) -> str:
        raw = self.take(self.int32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def expr(self, depth: int):
        if depth > MAX_DEPTH:
            self.fail(f"expression nested deeper than {MAX_DEPTH}")
        at = self.pos
        tok = self.take(1)
        if tok == b"f":
            return self.normal(depth, at)
        if tok == b"s":
            return Symbol(self.text())
        if tok == b"S":
            return self.text()
        if tok == b"i":
            return self.int32()
        if tok == b"r":
            return struct.unpack("<d", self.take(8))[0]
        if tok == b"I":
            return self.big_int(at)
        if tok == b"R":
            return self.big_real(at)
        if tok in ARRAY_TOKENS:
            return self.array(ARRAY_TOKENS[tok])
        self.fail(f"unknown token {tok!r}", at)

    def normal(self, depth: int, at: int):
        n = self.int32()
        if n < 0 or n * 5 > len(self.data) - self.pos:  # every expression takes at least 5 bytes
            self.fail(f"argument count {n} does not fit the remaining {len(self.data) - self.pos} bytes", at)
        if n > limits.current().max_assoc_keys:
            self.fail(f"{n} arguments, more than {limits.current().max_assoc_keys} (WLBRIDGE_MAX_ASSOC_KEYS)", at)
        head = self.expr(depth + 1)
        args = [self.expr(depth + 1) for _ in range(n)]
        return build(head, args, self, at)

    def big_int(self, at: int) -> int:
        t = self.text().strip()
        if not t or len(t) > 4000 or not t.lstrip("-").isdigit():
            self.fail(f"bad integer text {t[:40]!r}", at)
        return int(t)

    def big_real(self, at: int) -> float:
        t = self.text().strip()
        try:
            return parse_real(t)
        except ValueError:
            self.fail(f"bad real text {t[:40]!r}", at)

    def array(self, dtype: np.dtype) -> np.ndarray:
        rank = self.int32()
        if not 0 < rank <= 64:
            self.fail(f"packed array rank {rank}")
        dims = [self.int32() for _ in range(rank)]
        if any(d < 0 for d in dims):
            self.fail(f"negative packed array dimensions {dims}")
        count = int(np.prod(dims, dtype=object))
        if count * dtype.itemsize > len(self.data) - self.pos:
            self.fail(f"packed array {dims} is larger than the remaining data")
        return np.frombuffer(self.take(count * dtype.itemsize), dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


def parse_real(t: str) -> float:
    """WL real text (``1.5``, ``1.5`20.``, ``2.`*^-10``, ``-3.2*^5``) as a Python float."""
    mant, _, exp = t.partition("*^")
    mant = mant.split("`", 1)[0]
    if not mant or any(c not in "0123456789.-+" for c in mant) or (exp and not exp.lstrip("-+").isdigit()):
        raise ValueError(t)
    return float(mant + ("e" + exp if exp else ""))


def build(head, args, reader=None, at=0):
    """Turn ``head[args]`` into the tree's Python form (List → list, Association → dict, RawArray → array)."""
    name = head.name if isinstance(head, Symbol) else None
    if name == "List":
        return args
    if name == "Association":
        out = {}
        for r in args:
            if head_name(r) not in ("Rule", "RuleDelayed") or len(r.args) != 2:
                _bad(reader, "Association entry is not a rule", at)
            try:
                out[r.args[0]] = r.args[1]
            except TypeError:
                _bad(reader, "unhashable Association key", at)
        return out
    if name in ("RawArray", "NumericArray") and len(args) == 2 and isinstance(args[1], np.ndarray) \
            and args[0] in RAW_TYPES:
        return args[1].astype(RAW_TYPES[args[0]])
    return Expr(head, args)


def _bad(reader, what, at):
    if reader is None:
        raise FormatError(what)
    reader.fail(what, at)


# ----------------------------------------------------------------------------------------------
# encoder


def encode(value, *, level: int = 9, contexts: dict | None = None) -> str:
    """A ``"1:"`` Compress string of an expression tree (what Wolfram's ``Compress`` writes).

    ``contexts`` maps symbol names to the context written before them (e.g. private symbols).
    """
    out = bytearray(MAGIC)
    _emit(value, out, 0, contexts or {})
    return "1:" + base64.b64encode(zlib.compress(bytes(out), level)).decode("ascii")


def _head(name: str, n: int, out: bytearray) -> None:
    out += b"f" + struct.pack("<i", n)
    _text(b"s", name, out)


def _text(tok: bytes, s: str, out: bytearray) -> None:
    b = s.encode("utf-8")
    out += tok + struct.pack("<i", len(b)) + b


def _emit(x, out: bytearray, depth: int, ctxs: dict) -> None:
    if depth > MAX_DEPTH:
        raise FormatError(f"expression nested deeper than {MAX_DEPTH}")
    if isinstance(x, bool):
        _text(b"s", "True" if x else "False", out)
    elif x is None:
        _text(b"s", "None", out)
    elif isinstance(x, (int, np.integer)):
        if -2**31 <= int(x) < 2**31:
            out += b"i" + struct.pack("<i", int(x))
        else:
            _text(b"I", str(int(x)), out)
    elif isinstance(x, (float, np.floating)):
        out += b"r" + struct.pack("<d", float(x))
    elif isinstance(x, str):
        _text(b"S", x, out)
    elif isinstance(x, Symbol):
        _text(b"s", ctxs.get(x.name, "") + x.name, out)
    elif isinstance(x, np.ndarray):
        _emit_array(x, out)
    elif isinstance(x, (list, tuple)):
        _head("List", len(x), out)
        for a in x:
            _emit(a, out, depth + 1, ctxs)
    elif isinstance(x, dict):
        _head("Association", len(x), out)
        for k, v in x.items():
            _head("Rule", 2, out)
            _emit(k, out, depth + 1, ctxs)
            _emit(v, out, depth + 1, ctxs)
    elif isinstance(x, Expr):
        out += b"f" + struct.pack("<i", len(x.args))
        _emit(x.head, out, depth + 1, ctxs)
        for a in x.args:
            _emit(a, out, depth + 1, ctxs)
    else:
        raise TypeError(f"cannot encode {type(x).__name__} in a Compress string")


def _emit_array(a: np.ndarray, out: bytearray) -> None:
    dt = a.dtype.newbyteorder("<")
    code = ARRAY_CODES.get(dt)
    if code is None or a.ndim == 0:
        raise TypeError(f"cannot encode a {a.dtype} array of rank {a.ndim} as a packed array")
    raw_name = {np.dtype(v): k for k, v in RAW_TYPES.items()}[dt]
    body = code + struct.pack("<i", a.ndim) + struct.pack(f"<{a.ndim}i", *a.shape) + a.astype(dt).tobytes()
    if raw_name in ("Real64", "Integer32"):  # these are packed arrays in WL; the others only RawArrays
        out += body
    else:
        _head("RawArray", 2, out)
        _text(b"S", raw_name, out)
        out += body
