"""One table, two doors: each row is a ``wlbridge`` flag and, where it has one, the Python keyword it sets
(``--max-size`` is ``max_size=``), with its type, choices and help. :func:`add_flags` puts a sub-command's
rows on its parser; :func:`keywords` turns the parsed flags back into the keywords a Python function takes.

>>> import argparse
>>> p = argparse.ArgumentParser(); add_flags(p, "convert")
>>> args = p.parse_args(["--form", "expanded", "--digits", "3"])
>>> keywords(args, "convert", ("form", "call", "digits"))
{'form': 'expanded', 'digits': 3}
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .check.options import ENGINES


def whole(least: int, why: str = "") -> Callable[[str], int]:
    """argparse type: a whole number >= ``least``."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {n}{why}")
        return n
    return parse


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return v


def positive_seconds(text: str) -> float:
    v = non_negative(text)
    if v == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return v


def digits(text: str) -> int | str:
    """argparse type: significant digits (a whole number >= 1) or ``float32``."""
    if text == "float32":
        return text
    try:
        return whole(1)(text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"{e}; give a number of significant digits or 'float32'") from None


def bounds(text: str) -> float | list[float]:
    """argparse type: a number, or comma-separated numbers (one bound per input scalar)."""
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or comma-separated numbers: {text!r}") from None
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class Flag:
    """A flag of ``commands``; ``keyword``: the Python keyword it sets (the flag is ``--keyword`` with ``-``
    for ``_``); ``python``: its value as the keyword takes it (default: as parsed)."""

    keyword: str
    commands: tuple[str, ...]
    help: str
    argparse: dict = field(default_factory=dict)
    python: Callable[[Any], Any] | None = None
    short: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.keyword.replace("_", "-")


BOTH = ("convert", "check")
LOADING = ("convert", "check", "info", "regions")  # every command that reads a model file


def names(text: str) -> list[str]:
    """argparse type: comma-separated names (``x,y,z``)."""
    out = [t.strip() for t in text.split(",")]
    if not all(out):
        raise argparse.ArgumentTypeError(f"give names separated by commas, like x,y,z; got {text!r}")
    return out


FLAGS = [
    Flag("input_names", LOADING, "names of the input scalars, comma-separated (x,y,z): the variables of the "
         "formulas (default: from the model)", dict(type=names, metavar="NAMES")),
    Flag("sequence_length", LOADING, "fix a sequence model's variable length (a .wlnet/.wxf LengthVar, an ONNX "
         "model's symbolic time axis) to N", dict(type=whole(1), metavar="N")),
    Flag("to", ("convert",), "wl (default), sympy, latex, python or c (a C99 function)",
         dict(choices=["wl", "sympy", "latex", "python", "c"], default="wl")),
    Flag("form", BOTH, "compact (default): one binding per layer; expanded: one formula per output; piecewise: "
         "one Piecewise per output over the linear regions in --box; tree: their decision tree, each condition "
         "once (check: the emitted code checked; with --code, the sympy row's form)",
         dict(choices=["compact", "expanded", "piecewise", "tree"])),
    Flag("box", BOTH + ("regions",), "the input box of --form piecewise/tree and of regions, every input scalar "
         "in [LO, HI], or one bound per input scalar, comma-separated (-1,0,-2) (required by them: the form is "
         "Indeterminate outside it; check samples inside it)",
         dict(nargs=2, type=bounds, metavar=("LO", "HI")), python=tuple),
    Flag("minimal", ("convert", "regions"), "--form piecewise and regions: drop the region inequalities the others "
         "imply (one LP each)",
         dict(action="store_true")),
    Flag("call", BOTH, "f[{x1, ..}] (list, default) or f[x1, ..] (sequence; check: default from the --code "
         "Function's parameters)", dict(choices=["list", "sequence"])),
    Flag("exact", BOTH, "weights as exact rationals", dict(action="store_true")),
    Flag("digits", BOTH, "weights rounded to N significant digits, or 'float32': the shortest digits that read "
         "back as each float32 weight (check: judged at float32's tolerance)", dict(type=digits, metavar="N")),
    Flag("weights", ("convert",), "symbolic: the formula with named weights W1, b1, ... and their values",
         dict(choices=["numeric", "symbolic"])),
    Flag("activations", ("convert",), "symbolic: activations as named functions (σ, φ, ...)",
         dict(choices=["numeric", "symbolic"])),
    Flag("max_size", BOTH, "size limit of the expanded form (default: WL 2,000,000, sympy 200,000 nodes)",
         dict(type=whole(1), metavar="NODES")),
    Flag("simplify", BOTH + ("regions",), "fold BatchNorm, identities, affine chains first", dict(action="store_true")),
    Flag("jacobian", ("convert",), "convert the Jacobian net (d outputs / d inputs) instead",
         dict(action="store_true")),
    Flag("output", ("convert",), "write to OUT instead of stdout (--to c: also OUT's .h header)",
         dict(metavar="OUT"), short="-o"),
    Flag("engine", ("check",), "auto (default): the Wolfram Engine if found, else Woxi and Mathics3; embedded: "
         "both of those", dict(choices=list(ENGINES), default="auto")),
    Flag("samples", ("check",), "number of random inputs (default 64)", dict(type=whole(1), metavar="N")),
    Flag("seed", ("check",), "random seed, >= 0 (default 0)",
         dict(type=whole(0, " (a seed is a whole number >= 0)"), default=0, metavar="S")),
    Flag("inputs", ("check",), "check on these inputs (.npy: batch of the input; .npz: one array per input port, "
         "by name or in order)", dict(metavar="FILE.npy")),
    Flag("code", ("check",), "check this WL Function instead of the emitted one", dict(metavar="FILE.wl")),
    Flag("rtol", ("check",), "relative tolerance of the code rows (default 1e-9)",
         dict(type=non_negative, metavar="R")),
    Flag("atol", ("check",), "absolute tolerance of the code rows (default rtol * max(1, max |output|))",
         dict(type=non_negative, metavar="A")),
    Flag("sympy", ("check",), "skip the sympy row", dict(action="store_false")),
    Flag("timeout", ("check",), "time limit per evaluator (Woxi runs as many samples as fit in it); one stopped "
         "before its first sample is a 'timed out' row (default 120; 0: none)",
         dict(type=non_negative, default=120.0, metavar="SECONDS"), python=lambda v: v or None),
    Flag("mathics_budget", ("check",), "seconds of Mathics3 evaluation after its start-up (default 10): it times "
         "its first sample and runs as many more as fit", dict(type=positive_seconds, default=10.0, metavar="SECONDS")),
    Flag("arrays", ("check",), "how the code's arrays reach Woxi and Mathics3: files of the same digits, read with "
         "ReadList (default; fast), or inline in the code", dict(choices=["files", "inline"], default="files")),
    Flag("json", ("check", "regions", "info"), "print the report as JSON, or the error that stopped it (check's "
         "schema: wlbridge/check/report_schema.json; regions: each region's A, b, H, g; info: ports, layers, "
         "weights, support)", dict(action="store_true")),
    Flag("kernel", ("check",), "the WolframKernel for --engine wolfram/auto (default: WOLFRAM_KERNEL, then the "
         "usual install paths)", dict(metavar="PATH")),
    Flag("per_layer", ("check",), "also compare every layer's value in each engine and sympy (a failed check names "
         "its first diverging layer either way)", dict(action="store_true")),
    Flag("jobs", ("check", "regions"), "workers at once: check, several models (default: the cores; 1: one after "
         "another in this process); regions, subtrees of the search (default: in this process)",
         dict(type=whole(1), metavar="N")),
    Flag("cluster", ("check", "regions"), "run the models (check) or the search's subtrees (regions) on Ray: 'ray' "
         "(a local instance) or 'ray://HOST:PORT' (a cluster with wlbridge installed; pip install "
         "'wlbridge[cluster]')", dict(metavar="ray[://HOST:PORT]")),
    Flag("max_regions", ("regions",), "stop past N regions (default 10,000)",
         dict(type=whole(1), default=10_000, metavar="N")),
    Flag("plot", ("regions",), "draw a 2-D slice of the regions (the first two inputs; needs matplotlib)",
         dict(metavar="FILE.png")),
    Flag("junit", ("check",), "several models: also write a JUnit XML report to FILE", dict(metavar="FILE")),
    Flag("model_timeout", ("check",), "several models: each model's task (load and check) is stopped after this "
         "long (default: 4 x --timeout; 0: none)", dict(type=non_negative, metavar="SECONDS")),
]


def add_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The table's rows for ``command`` as ``parser`` arguments (``dest`` = the keyword)."""
    for f in FLAGS:
        if command in f.commands:
            names = [f.short, f.flag] if f.short else [f.flag]
            if f.keyword == "sympy":
                names = ["--no-sympy"]
            parser.add_argument(*names, dest=f.keyword, help=f.help, **f.argparse)


def keywords(args, command: str, accepted: Sequence[str]) -> dict:
    """The keywords in ``accepted`` that ``args`` sets for ``command`` (flags left at None are left out)."""
    out = {}
    for f in FLAGS:
        if command in f.commands and f.keyword in accepted:
            value = getattr(args, f.keyword, None)
            if value is not None:
                out[f.keyword] = f.python(value) if f.python else value
    return out


def given(args, command: str, names: Sequence[str]) -> list[str]:
    """The flags among ``names`` (keywords) that the user gave: not None, not False, not the default."""
    out = []
    for f in FLAGS:
        if command in f.commands and f.keyword in names:
            value = getattr(args, f.keyword, None)
            if value not in (None, False) and value != f.argparse.get("default"):
                out.append(f.flag)
    return out
