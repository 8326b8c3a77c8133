"""Array literals of emitted WL code, sent to an engine through files instead of as code.

Woxi parses a number in code in ~60 us but reads one from a file ~100x faster (FACTS.md,
2026-12-06). :func:`split_arrays` finds each large numeric array literal in the code (a nested
``{...}`` of machine reals, as the WL emitter prints weights) and replaces it by a placeholder
symbol; :func:`write_arrays` writes each literal's numbers to a file, one per line, and gives the
WL code that reads them back (``ReadList[file, Real]``, nested by ``Partition``). The engine first
evaluates ``wlbridgeArray1 = <read>; ...`` (:func:`read_code`; timed as the row's read), then the
emitted code with each literal replaced by its symbol: the same function, each literal's value in
place of its text. (Symbols, not ``With``: substituting 400k numbers into the ``Function`` makes
Woxi copy them on every call, 2.5x slower.)

The file holds the literal's own digits, one token per number, with two spellings changed so that
``ReadList`` reads it exactly: the machine-precision backtick is dropped and the ``*^`` exponent is
written ``e`` (``-1.25`*^-7`` -> ``-1.25e-7``; Woxi 0.3 reads ``*^`` in a file, as in code, with up
to 1 ulp of error, and stops at a backtick). Both are checked before an engine sees the files: each
file token maps back to its literal token, and the literals re-inserted give the emitted code.

>>> code = "Function[{x}, {{0.5`, -1.`*^-7}, {2.`, 3.`}} . x]"
>>> template, found = split_arrays(code, min_numbers=2)
>>> template, found[0].dims, found[0].tokens
('Function[{x}, wlbridgeArray1 . x]', (2, 2), ['0.5`', '-1.`*^-7', '2.`', '3.`'])
>>> file_text(found[0])
'0.5\\n-1.e-7\\n2.\\n3.\\n'
>>> join_arrays(template, found) == code
True
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

MIN_NUMBERS = 16  # smaller literals stay in the code (a file read is not worth it)
PLACEHOLDER = "wlbridgeArray"

_RUN = re.compile(r"\{[-0-9.`*^{}, \n]*")  # a candidate literal: braces, number characters and separators
_BRACE = re.compile(r"[{}]")
_ITEM = re.compile(r"[^{}, \n]+")
_TOKENS = re.compile(r"(?:-?\d+\.\d*`(?:\*\^-?\d+)?\n)+")  # every token a machine real, one per line


@dataclass
class Literal:
    """One array literal: its exact text, its dimensions and its number tokens (row-major)."""

    text: str
    dims: tuple
    tokens: list


def split_arrays(code: str, min_numbers: int = MIN_NUMBERS) -> tuple[str, list[Literal]]:
    """``code`` with each numeric array literal of ``min_numbers`` or more reals replaced by
    ``wlbridgeArray1``, ``wlbridgeArray2``, ... in order; and the literals. Code that already uses
    the placeholder name, or holds no such literal, comes back unchanged with no literals."""
    if PLACEHOLDER in code:
        return code, []
    parts, found, pos, at = [], [], 0, code.find("{")
    while at >= 0:
        run = _RUN.match(code, at).group()
        end = _balanced_end(run)
        lit = _literal(run[:end]) if end else None
        if lit is None or len(lit.tokens) < min_numbers:  # not one: look inside it, from the next brace
            inside = end and lit is None and "`" in run[:end]  # (a list with no machine real holds none)
            at = code.find("{", at + 1 if inside or not end else at + end)
            continue
        found.append(lit)
        parts += [code[pos:at], f"{PLACEHOLDER}{len(found)}"]
        pos = at + end
        at = code.find("{", pos)
    parts.append(code[pos:])
    return "".join(parts), found


def _balanced_end(run: str) -> int:
    """The length of the balanced ``{...}`` at the start of ``run`` (0 when it is not closed there)."""
    depth = 0
    for b in _BRACE.finditer(run):
        depth += 1 if b.group() == "{" else -1
        if depth == 0:
            return b.end()
    return 0


def _literal(text: str) -> Literal | None:
    """A rectangular nested list of machine reals, or None (integers, ragged lists, other text)."""
    tokens = _ITEM.findall(text)
    if not tokens or not _TOKENS.fullmatch("\n".join(tokens) + "\n"):
        return None
    depth = len(text) - len(text.lstrip("{"))
    counts = [text.count("`", 0, text.find("}" * k)) for k in range(1, depth + 1)]  # tokens in each first list
    dims = tuple(c // max(inner, 1) for c, inner in zip(reversed(counts), list(reversed(counts))[1:] + [1]))
    if math.prod(dims) != len(tokens):
        return None
    lit = Literal(text, dims, tokens)
    return lit if nested_text(lit.tokens, dims) == text else None


def nested_text(tokens: list[str], dims: tuple) -> str:
    """The WL text of ``tokens`` nested as ``dims`` (the emitter's spelling: ``{a, b}``)."""
    items = list(tokens)
    for d in reversed(dims):
        items = ["{" + ", ".join(items[i:i + d]) + "}" for i in range(0, len(items), d)]
    return items[0]


def file_token(token: str) -> str:
    """The file spelling of a literal's number: ``1.5`*^-10`` -> ``1.5e-10``, ``0.25``` -> ``0.25``."""
    return token.replace("`", "").replace("*^", "e")


def literal_token(text: str) -> str:
    """The inverse of :func:`file_token` for the emitter's spellings."""
    return text.replace("e", "`*^") if "e" in text else text + "`"


def file_text(lit: Literal) -> str:
    """What the file of ``lit`` holds: its numbers, one per line, in :func:`file_token` spelling."""
    return ("\n".join(lit.tokens) + "\n").replace("`", "").replace("*^", "e")


def spells(file: str, lit: Literal) -> bool:
    """Whether ``file`` holds exactly ``lit``'s tokens in :func:`file_token` spelling (whole-text
    passes: every literal token has one backtick, at its end or before ``*^``, and no ``e``)."""
    joined = "\n".join(lit.tokens) + "\n"
    return "`" not in file and file.replace("e", "`*^") == joined.replace("`\n", "\n")


def join_arrays(template: str, found: list[Literal]) -> str:
    """The code with the literals put back (the inverse of :func:`split_arrays`)."""
    for k in range(len(found), 0, -1):  # from the last, so wlbridgeArray1 does not match wlbridgeArray10
        template = template.replace(f"{PLACEHOLDER}{k}", found[k - 1].text, 1)
    return template


def write_arrays(found: list[Literal], folder: str) -> list[tuple[str, str]]:
    """Write each literal's file in ``folder``; ``(placeholder, WL code reading it)`` per literal.

    Asserts that each file's tokens spell the literal's numbers (see the module notes)."""
    reads = []
    for k, lit in enumerate(found, 1):
        text = file_text(lit)
        if not spells(text, lit):
            raise AssertionError(f"array {k}: the file's numbers do not spell the literal's")
        path = os.path.join(folder, f"a{k}.txt")
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write(text)
        reads.append((f"{PLACEHOLDER}{k}", reshape_code(f"ReadList[{wl_string(path)}, Real]", lit.dims)))
    return reads


def reshape_code(flat: str, dims: tuple) -> str:
    """WL that nests the flat list ``flat`` as ``dims`` (``Partition``: Mathics3 has no ArrayReshape)."""
    if len(dims) == 1:
        return flat
    return f"Fold[Partition, {flat}, {{{', '.join(map(str, reversed(dims[1:])))}}}]"


def wl_string(text: str) -> str:
    """A WL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_code(reads: list[tuple[str, str]]) -> str:
    """WL that sets each placeholder to its file's array (evaluated, and timed, before the function is
    defined; the function code is then the template: the emitted code with each literal's name in its place)."""
    return "; ".join(f"{name} = {code}" for name, code in reads) + f"; {len(reads)}"


class ArrayFiles:
    """A check's array files: the code split and written once (on first use, by whichever engine
    comes first), in a private temporary directory that :meth:`close` removes.

    >>> files = ArrayFiles("f[{" + ", ".join(["0.5`"] * 16) + "}]")
    >>> template, reads, found, seconds = files.get()
    >>> template, len(found), reads.startswith("wlbridgeArray1 = ReadList[")
    ('f[wlbridgeArray1]', 1, True)
    >>> files.close()
    """

    def __init__(self, code: str, enabled: bool = True):
        import threading

        self.code, self.enabled = code, enabled
        self.folder = None
        self._lock = threading.Lock()
        self._made = None

    def get(self) -> tuple[str, str | None, list[Literal], float]:
        """``(template, read code or None, literals, seconds it took)``; the code as it is when disabled
        or when it holds no literal worth a file."""
        import tempfile
        import time

        with self._lock:
            if self._made is None:
                t0 = time.perf_counter()
                template, found = split_arrays(self.code) if self.enabled else (self.code, [])
                reads = None
                if found:
                    self.folder = tempfile.mkdtemp(prefix="wlbridge-arrays-")
                    reads = read_code(write_arrays(found, self.folder))
                self._made = (template, reads, found, time.perf_counter() - t0)
            return self._made

    def close(self) -> None:
        import shutil

        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
