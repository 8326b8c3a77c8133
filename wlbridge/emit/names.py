"""Names are data: the one place where a name from a file or a user becomes an identifier in emitted code.

Every emitter asks a :class:`Namespace` of its target (``"python"``, ``"sympy"``, ``"wl"``,
``"latex"``, ``"c"``) for each name it prints. The mapping is deterministic (names are given out in
order), collision-free (also against the target's reserved words and the emitter's own locals),
keeps readable names readable and makes anything else valid; non-string names are refused with a
:class:`~wlbridge.errors.ConversionError`. Text quoted in comments or docstrings goes through
:func:`comment` / :func:`docstring`, which never let it end the comment.

>>> ns = Namespace("python")
>>> [ns(n) for n in ["x1", "x²", "a.b", "a_b", "single", "len", "α", '__import__("os")']]
['x1', 'x2', 'a_b', 'a_b_2', 'single', 'len_2', 'alpha', 'import_os']
>>> w = Namespace("wl")
>>> [w(n) for n in ["x1", "E", "N", "Pi", "hidden_layer", "input.1", "wlbridgeF"]]
['x1', 've', 'n', 'pi', 'hiddenLayer', 'input1', 'vwlbridgeF']
>>> latex_symbol("x1"), latex_symbol("t"), latex_symbol("a_b")
('x_{1}', 't', '\\\\mathrm{a\\\\_b}')
>>> print(comment("evil *) Run[x] (*", "wl"))
(* evil * ) Run[x] ( * *)
"""
from __future__ import annotations

import builtins
import functools
import keyword
import re
import unicodedata

from ..errors import ConversionError

MAX_LENGTH = 60  # longer names are cut (then made unique): a 1 MB name must not be printed a thousand times

PYTHON_RESERVED = frozenset(keyword.kwlist + keyword.softkwlist + dir(builtins)
                            + ["numpy", "np", "math", "itertools", "functools", "scipy", "mpmath", "sp"])
C_RESERVED = frozenset("""auto break case char const continue default do double else enum extern float for goto
    if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
    void volatile while _Bool _Complex _Imaginary bool true false NULL main
    exp expf log logf tanh tanhf sqrt sqrtf erf erff fabs fabsf fmax fmin fmaxf fminf pow powf floor ceil
    round lgamma tgamma isnan isinf INFINITY NAN""".split())


@functools.lru_cache(maxsize=None)
def _sympy_reserved() -> frozenset:
    import sympy

    # names sympy's printers and sympify give a meaning (E, I, N, S, pi, gamma, Matrix, ...), and short
    # WL System symbols, so that the printed formula reads the same in Mathematica
    return frozenset(dir(sympy)) | PYTHON_RESERVED | {"erf", "gamma", "lgamma", "C", "D", "K", "Pi"}


# target -> (joiner of a duplicate's number, pattern of names the emitter itself uses)
_WL_LOCALS = r"t|v|e|z|c|r|w|i|pad|cell|[aims]\d+|wlbridge.*"  # wl_compact/wl_spatial/wl_recurrent locals, check's wlbridgeF
_TARGETS = {
    "python": ("_", None),
    "sympy": ("_", None),
    "c": ("_", None),
    "latex": ("_", r"[A-Z]\d+|b\d+"),  # W_{1}, b_{1}, C_{1}, ... name the weights
    "wl": ("v", _WL_LOCALS),
}


class Namespace:
    """Safe, unique identifiers for one target; ``ns(name)`` gives a new one per call, in order.

    ``reserved`` adds the emitter's own names (its locals, helpers, the function name).
    """

    def __init__(self, target: str, reserved=()):
        if target not in _TARGETS:
            raise ValueError(f"unknown name target {target!r}; known: {', '.join(_TARGETS)}")
        self.target = target
        self._dup, pattern = _TARGETS[target]
        self._pattern = re.compile(f"(?:{pattern})$") if pattern else None
        self._reserved = set(reserved) | set(_reserved(target))
        self.taken: set[str] = set()

    def __call__(self, name) -> str:
        base = identifier(name, self.target)
        if self._pattern and self._pattern.match(base):  # an emitter's local: "v" + it never is one
            base = "v" + base
        cand, k = base, 1
        while not self._free(cand):
            k += 1
            cand = f"{base}{self._dup}{k}"
        self.taken.add(cand)
        return cand

    def _free(self, cand: str) -> bool:
        return not (cand in self.taken or cand in self._reserved or (self._pattern and self._pattern.match(cand)))


def _reserved(target: str) -> frozenset:
    if target == "sympy":
        return _sympy_reserved()
    return {"python": PYTHON_RESERVED, "c": C_RESERVED}.get(target, frozenset())


def identifier(name, target: str = "python") -> str:
    """``name`` spelt as a valid identifier of ``target`` (not yet made unique or checked against
    reserved words: :class:`Namespace` does that). Refuses anything that is not a string."""
    if not isinstance(name, str):
        raise ConversionError(f"a name must be a string, got {type(name).__name__} {name!r:.80}")
    if len(name) <= MAX_LENGTH and _PLAIN[target == "wl"].fullmatch(name):
        return name  # the common case, spelt as the slow path would spell it
    words = _words(name)
    if target == "wl":  # WL symbols: letters and digits; lower-case first (no clash with System`)
        s = "".join(w if k == 0 else w[:1].upper() + w[1:] for k, w in enumerate(words))[:MAX_LENGTH]
        s = "v" + s if not s or not s[0].isalpha() else s
        return s[0].lower() + s[1:]
    s = "_".join(words)[:MAX_LENGTH].rstrip("_")
    return "v" + s if not s or s[0].isdigit() else s


_PLAIN = (re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*"), re.compile(r"[a-z][A-Za-z0-9]*"))


def _words(name: str) -> list[str]:
    """ASCII letter/digit words of ``name``: compatibility forms folded (``x²`` -> ``x2``), accents
    dropped, other letters spelt (``α`` -> ``alpha``, else ``u4e2d``), everything else a break."""
    out = []
    for ch in unicodedata.normalize("NFKC", name):
        if ch.isascii():
            out.append(ch if ch.isalnum() else " ")
        elif unicodedata.category(ch)[0] in "LN":
            out.append(_spell(ch))
        elif unicodedata.category(ch)[0] != "M":  # combining marks vanish, symbols and spaces break words
            out.append(" ")
    return "".join(out).split()


def _spell(ch: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c.isascii() and c.isalnum())
    if base:
        return base
    if unicodedata.decimal(ch, None) is not None:
        return str(unicodedata.decimal(ch))
    m = re.fullmatch(r"GREEK (SMALL|CAPITAL) LETTER (\w+)", unicodedata.name(ch, ""))
    if m:
        word = m.group(2).lower()
        return " " + (word if m.group(1) == "SMALL" else word.capitalize()) + " "
    return f" u{ord(ch):x} "


def check_identifier(name, target: str = "python", reserved=()) -> str:
    """``name`` itself when it is a valid, unreserved identifier of ``target``; else ``ConversionError``
    (for names the user picks, such as the generated function's name)."""
    ns = Namespace(target, reserved)
    if not isinstance(name, str) or identifier(name, target) != name or not ns._free(name):
        raise ConversionError(f"{name!r:.80} is not usable as a {target} identifier here; "
                              f"try {ns(name) if isinstance(name, str) else 'f'!r}")
    return name


def latex_symbol(ident: str) -> str:
    """LaTeX of an identifier from a ``"latex"`` namespace (one-to-one): ``x1`` -> ``x_{1}``,
    one letter as is, anything else upright with escaped underscores."""
    m = re.fullmatch(r"([A-Za-z]+)(\d+)", ident)
    if m:
        return f"{m.group(1)}_{{{m.group(2)}}}"
    if re.fullmatch(r"[A-Za-z]", ident):
        return ident
    return r"\mathrm{" + ident.replace("_", r"\_") + "}"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "%": r"\%", "$": r"\$",
                  "#": r"\#", "&": r"\&", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def latex_text(s: str) -> str:
    """``s`` as literal LaTeX text (for ``\\text{...}``): specials escaped, line breaks made spaces."""
    s = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in _one_line(s))
    return s


def _one_line(s: str) -> str:
    return "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in str(s))


def comment(text: str, target: str) -> str:
    """A whole comment of ``target`` quoting ``text``, which cannot end it early or break the line."""
    t = _one_line(text)
    if target == "wl":  # WL comments nest: neither opener nor closer may survive
        return "(* " + t.replace("(*", "( *").replace("*)", "* )") + " *)"
    if target == "c":
        return "/* " + t.replace("/*", "/ *").replace("*/", "* /") + " */"
    if target == "latex":
        return "% " + t
    if target in ("python", "sympy"):
        return "# " + t
    raise ValueError(f"unknown comment target {target!r}")


def docstring(text: str) -> str:
    r"""The body of a Python triple-quoted docstring whose value is exactly ``text`` (escapes only).

    >>> q = '"' * 3
    >>> ns = {}; exec("def f():\n    " + q + docstring("a " + q + "b\n") + q, ns)
    >>> ns["f"].__doc__ == "a " + q + "b\n"
    True
    """
    return str(text).encode("unicode_escape").decode("ascii").replace('"', '\\"')
