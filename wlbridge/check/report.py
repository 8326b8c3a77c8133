"""Comparing an evaluator with the reference, and the report ``check`` returns.

Tolerances (numpy ``allclose`` style, per output array): a value passes when
``|got - ref| <= atol + rtol * |ref|`` with ``atol = rtol * max(1, max |ref|)``, so rounding in a
sum that cancels to almost zero does not fail the check, while any real difference does.

- emitted code (WL in an engine, sympy): weights are exact float64, so only the order of
  operations and the engines' elementary functions differ: ``rtol = 1e-9`` (Mathics3's ``Exp`` is
  off by up to ~4e-14; float64 rounding in a 10^4-term dot product is ~1e-12).
- the source net (torch, onnxruntime) runs in its own precision: ``rtol = 1024 * eps(dtype)``
  (float32: 1.2e-4), i.e. a few units of rounding per term of a ~10^3-term dot product at each of
  a few layers, relative to the output's scale.

``max_rel`` is ``|got - ref| / max(|ref|, 1e-3 * scale)`` (scale = max(1, max |ref|)): relative
error, floored so outputs that are nearly zero do not blow it up.

>>> import numpy as np
>>> row = compare("woxi", [np.array([[1.0, 2.0]])], [np.array([[1.0, 2.0 + 1e-12]])], rtol=1e-9)
>>> row.passed, f"{row.max_abs:.1e}"
(True, '1.0e-12')
>>> compare("woxi", [np.array([[1.0, 2.0]])], [np.array([[1.0, 2.1]])], rtol=1e-9).passed
False
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

CODE_RTOL = 1e-9


def source_rtol(dtype) -> float:
    """Tolerance for the source net run in ``dtype``: 1024 units of rounding (float32: 1.2e-4)."""
    dt = np.dtype(dtype) if str(dtype) != "bfloat16" else None
    eps = 2.0 ** -8 if dt is None else float(np.finfo(dt).eps) if np.issubdtype(dt, np.floating) else 2.0 ** -23
    return min(1024 * eps, 0.5)


@dataclass
class Row:
    """One evaluator compared with the reference."""

    evaluator: str
    samples: int = 0
    max_abs: float = math.nan
    max_rel: float = math.nan
    rtol: float = CODE_RTOL
    atol: float = math.nan
    passed: bool | None = None  # None: skipped (not available), not a failure
    note: str = ""
    seconds: float = 0.0
    kind: str = "code"  # "code" (emitted code), "source" (the original net)
    worst: dict | None = None  # the sample with the largest error: index, input, expected, got (flat lists)
    timed_out: bool = False  # stopped at the time limit: not passed, no numbers
    arrays: str = ""  # how arrays reached a WL engine: "files" or "inline" ("" for other evaluators)
    read_seconds: float = 0.0  # of ``seconds``: reading the array files (the rest is evaluating)
    start_seconds: float = 0.0  # the engine's start-up before it (not in ``seconds``)

    @property
    def evaluate_seconds(self) -> float:
        """``seconds`` less the array files' read."""
        return self.seconds - self.read_seconds

    @property
    def status(self) -> str:
        """``ok``, ``FAIL``, ``timed out`` or ``skipped``."""
        return "timed out" if self.timed_out else {True: "ok", False: "FAIL", None: "skipped"}[self.passed]

    def __str__(self) -> str:
        """One line: ``woxi: ok, 16 samples, max abs err 1.20e-15, 2.31 s`` (and the note)."""
        nums = f", max abs err {_num(self.max_abs)}" if self.passed is not None and not self.timed_out else ""
        count = f", {self.samples} sample{'s' if self.samples != 1 else ''}" if self.samples else ""
        note = f" -- {self.note}" if self.note else ""
        took = f", {self.seconds:.2f} s" if self.passed is not None else ""
        return f"{self.evaluator}: {self.status}{count}{nums}{took}{note}"

    @property
    def tolerance(self) -> str:
        """The tolerance used, as text (``rtol 1.0e-09, atol ...``)."""
        return f"rtol {self.rtol:.1e}" + (f", atol {self.atol:.1e}" if not math.isnan(self.atol) else "")


def compare(name: str, ref: list[np.ndarray], got: list[np.ndarray], *, rtol: float,
            atol: float | None = None, kind: str = "code", seconds: float = 0.0, note: str = "",
            integers: Sequence[bool] | None = None) -> Row:
    """A :class:`Row` for ``got`` (one array per output, batch first) against ``ref``; an output flagged in
    ``integers`` (an argmax, a cast to int) must agree exactly, whatever the tolerances."""
    row = Row(name, len(ref[0]), rtol=rtol, kind=kind, seconds=seconds, note=note)
    if len(got) != len(ref):
        return failed(row, f"{len(got)} outputs, expected {len(ref)}")
    abs_err, rel_err, ok, atols, per_sample = 0.0, 0.0, True, [], np.zeros(len(ref[0]))
    for k, (r, g) in enumerate(zip(ref, got)):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != r.shape:
            return failed(row, f"output {k + 1} has shape {list(g.shape)}, expected {list(r.shape)}")
        exact = bool(integers and integers[k])
        scale = max(1.0, float(np.max(np.abs(r), initial=0.0)))
        a = 0.0 if exact else rtol * scale if atol is None else atol
        atols.append(a)
        d = np.abs(g - r)
        if not np.all(np.isfinite(g)):
            return failed(row, f"output {k + 1} has non-finite values")
        abs_err = max(abs_err, float(np.max(d, initial=0.0)))
        per_sample = np.maximum(per_sample, d.reshape(len(d), -1).max(axis=1, initial=0.0))
        rel_err = max(rel_err, float(np.max(d / np.maximum(np.abs(r), 1e-3 * scale), initial=0.0)))
        ok = ok and bool(np.all(d == 0) if exact else np.all(d <= a + rtol * np.abs(r)))
    row.max_abs, row.max_rel, row.atol, row.passed = abs_err, rel_err, max(atols), ok
    if integers and all(integers):  # every output an integer: the tolerance shown is none
        row.rtol = 0.0
    if len(per_sample):
        i = int(np.argmax(per_sample))
        row.worst = {"index": i, "expected": _flat(r[i] for r in ref), "got": _flat(np.asarray(g)[i] for g in got)}
    return row


def _flat(arrays) -> list[float]:
    return [float(v) for a in arrays for v in np.ravel(a)]


def attach_input(row: Row, xs: list[np.ndarray]) -> Row:
    """Add the input of ``row.worst`` (its sample index into ``xs``, one array per port)."""
    if row.worst is not None and row.worst["index"] < len(xs[0]):
        row.worst["input"] = _flat(x[row.worst["index"]] for x in xs)
    return row


def failed(row: Row, problem: str) -> Row:
    """Mark ``row`` failed with ``problem`` appended to its note (errors set to inf)."""
    row.passed = False
    row.note = (row.note + "; " if row.note else "") + problem
    row.max_abs = row.max_rel = math.inf
    return row


def skipped(name: str, why: str, kind: str = "code") -> Row:
    """A row for an evaluator that did not run, with the reason."""
    return Row(name, passed=None, note=why, kind=kind)


def timed_out(name: str, samples: int, seconds: float, limit: float, how: str = "stopped") -> Row:
    """A row for an evaluator stopped at its time limit: not passed, and no numbers."""
    return Row(name, samples, passed=False, timed_out=True, seconds=seconds,
               note=f"timed out after {limit:g} s ({how}); raise timeout= (--timeout) or leave this evaluator out")


@dataclass
class CheckReport:
    """What ``Net.check`` returns: one row per evaluator, all against the numpy float64 reference.

    ``passed`` is True when every evaluator that ran agreed within its tolerance and at least one
    WL engine ran. A check passes or fails on the evaluators that ran: an engine that compared
    fewer samples than asked (its budget) is judged on those, with a note; one stopped before its
    first sample (``timed out``) is a note when another WL engine passed, and leaves the report
    ``INCOMPLETE`` (not passed) when no WL engine produced a number. ``max_abs_err`` / ``max_rel_err`` are over the emitted-code rows (WL engines and
    sympy); the source net's row is shown but measures the front end, in the source's precision.
    """

    net: str
    rows: list[Row] = field(default_factory=list)
    engine: str = ""
    samples: int = 0
    seed: int | None = 0  # None: the inputs were given, not drawn
    code_chars: int = 0
    notes: list[str] = field(default_factory=list)
    subject: tuple | None = field(default=None, repr=False, compare=False)  # (net, code, call), for plot()
    layers: list = field(default_factory=list)  # per-layer rows (check(per_layer=True)): perlayer.LayerRow
    divergences: list = field(default_factory=list)  # each failed evaluator's first diverging layer
    model: str = ""  # the model file or net a campaign checked (check_many)
    error: tuple[str, str] | None = None  # (error class, message): the model could not be checked at all

    @property
    def code_rows(self) -> list[Row]:
        """The rows of the emitted code (WL engines and sympy) that ran."""
        return [r for r in self.rows if r.kind == "code" and r.passed is not None and not r.timed_out]

    @property
    def divergence(self):
        """The first diverging layer (a :class:`~wlbridge.check.perlayer.LayerRow`) of a failed check, or None."""
        return self.divergences[0] if self.divergences else None

    @property
    def passed(self) -> bool:
        """Every evaluator that ran agreed, and at least one WL engine ran (time-outs are not runs)."""
        if self.error is not None:
            return False
        ran = [r for r in self.rows if r.passed is not None and not r.timed_out]
        engines = [r for r in ran if r.kind == "code" and r.evaluator != "sympy"]
        return bool(engines) and all(r.passed for r in ran)

    @property
    def max_abs_err(self) -> float:
        """The largest absolute error over the emitted-code rows (nan if none ran)."""
        return max((r.max_abs for r in self.code_rows), default=math.nan)

    @property
    def max_rel_err(self) -> float:
        """The largest relative error over the emitted-code rows (nan if none ran)."""
        return max((r.max_rel for r in self.code_rows), default=math.nan)

    @property
    def failures(self) -> list[Row]:
        """The rows that failed (disagreed, crashed or timed out)."""
        return [r for r in self.rows if r.passed is False]

    @property
    def timed_out(self) -> list[Row]:
        """The rows stopped at the time limit."""
        return [r for r in self.rows if r.timed_out]

    @property
    def verdict(self) -> str:
        """``PASSED``, ``FAILED`` (an evaluator disagreed or crashed), ``INCOMPLETE`` (only time-outs) or
        ``ERROR`` (the model could not be checked: ``error``)."""
        if self.error is not None:
            return "ERROR"
        if self.passed:
            return "PASSED"
        if self.timed_out and all(r.timed_out for r in self.failures):
            return "INCOMPLETE (timed out: " + ", ".join(r.evaluator for r in self.timed_out) + ")"
        return "FAILED"

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        rows = [HEADER] + [row_cells(r) for r in self.rows]
        widths = [max([w] + [len(line[i]) for line in rows]) for i, w in enumerate(WIDTHS)]
        lines = [self.title() + f": {self.verdict}"]
        lines += [format_cells(line, widths) for line in rows]
        return "\n".join(lines + self.notes_lines())

    def title(self) -> str:
        """``check NET: N samples (seed S), engine E, code C chars`` (``N given inputs`` when given)."""
        drawn = f"{self.samples} given inputs" if self.seed is None else f"{self.samples} samples (seed {self.seed})"
        return (f"check {self.net}: {drawn}, engine {self.engine or '-'}, "
                f"code {self.code_chars} chars")

    def notes_lines(self) -> list[str]:
        """The rows' notes, the report's notes, and the worst sample of each failed row."""
        lines = [f"  error: {self.error[0]}: {self.error[1]}"] if self.error is not None else []
        lines += [f"  {r.evaluator}: {r.note}" for r in self.rows if r.note]
        lines += [f"  note: {n}" for n in self.notes]
        for r in self.failures:
            lines += worst_lines(r)
        if self.layers:
            lines += ["  per layer (max abs / rel error against the reference's value of that layer):"]
            lines += [f"    {r.evaluator:<8} {r.where():<40} {_num(r.max_abs):>9} {_num(r.max_rel):>9}  "
                      f"{'ok' if r.passed else 'FAIL'}" for r in self.layers]
        lines += [f"  first diverging layer in {d.evaluator}: {d.where()}"
                  + (f", WL symbol {d.symbol}" if d.symbol else "")
                  + f": max abs err {_num(d.max_abs)}" + (f" -- {d.note}" if d.note else "") for d in self.divergences]
        return lines

    def to_dict(self) -> dict:
        """The report as plain JSON-ready data (schema: ``wlbridge/check/report_schema.json``)."""
        if self.error is not None:
            return {**error_report(*self.error), **({"model": self.model} if self.model else {})}
        return {"schema": SCHEMA_ID, "net": self.net, "passed": self.passed, "verdict": self.verdict, "engine": self.engine,
                "samples": self.samples, "seed": self.seed, "code_chars": self.code_chars,
                "max_abs_err": _json_num(self.max_abs_err), "max_rel_err": _json_num(self.max_rel_err),
                "notes": list(self.notes), "rows": [row_dict(r) for r in self.rows],
                **({"layers": [r.to_dict() for r in self.layers]} if self.layers else {}),
                **({"first_divergence": self.divergence.to_dict(),
                    "divergences": [d.to_dict() for d in self.divergences]} if self.divergences else {}),
                **({"model": self.model} if self.model else {})}

    def to_json(self, **dumps) -> str:
        """:meth:`to_dict` as JSON text."""
        import json

        return json.dumps(self.to_dict(), **dumps)

    def _repr_html_(self) -> str:
        from ..display import report_html

        return report_html(self)

    def _repr_markdown_(self) -> str:
        from ..display import report_markdown

        return report_markdown(self)

    def plot(self, **settings):
        """The net and the checked formula along a random line; see :func:`wlbridge.plot.plot_check`."""
        from ..plot import plot_check

        if self.subject is None:
            raise ValueError("this report does not hold its net (made by hand?): use wlbridge.plot_check(net)")
        net, code, call = self.subject
        settings.setdefault("engine", self.engine.split("+")[0] or "auto")
        return plot_check(net, code=code, call=call, **settings)


SCHEMA_ID = "wlbridge-check-report/1"


def error_report(kind: str, message: str) -> dict:
    """What ``check --json`` prints when no check ran (bad file, bad options, no engine): the error's
    class name and its one-line message (schema: ``$defs/error_report`` of ``report_schema.json``).

    >>> error_report("FormatError", "m.onnx: the model file is empty")["verdict"]
    'ERROR'
    """
    return {"schema": SCHEMA_ID, "passed": False, "verdict": "ERROR", "error": {"type": kind, "message": message}}
HEADER = ("evaluator", "samples", "max abs err", "max rel err", "tolerance", "seconds", "result")
WIDTHS = (20, 7, 11, 11, 26, 7, 6)  # minimum column widths, so rows printed one by one line up


def row_cells(r: Row) -> tuple[str, ...]:
    """The table cells of one row."""
    return (r.evaluator, str(r.samples) if r.samples else "-", _num(r.max_abs), _num(r.max_rel),
            r.tolerance if r.passed is not None and not r.timed_out else "-", f"{r.seconds:.2f}", r.status)


def format_cells(cells, widths=WIDTHS) -> str:
    """One table line: text columns left-aligned, numbers right-aligned."""
    return "  " + "  ".join(c.ljust(w) if i in (0, 4, 6) else c.rjust(w)
                            for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def format_row(r: Row) -> str:
    """One row as a table line with the default widths (for printing rows as they finish)."""
    return format_cells(row_cells(r))


def worst_lines(r: Row, limit: int = 8) -> list[str]:
    """The worst sample of a row: its input, the expected and the computed output."""
    w = r.worst
    if not w:
        return []
    exp, got = np.asarray(w["expected"]), np.asarray(w["got"])
    k = int(np.argmax(np.abs(got - exp))) if len(exp) == len(got) and len(exp) else 0
    lines = [f"  worst sample for {r.evaluator}: #{w['index']}"]
    if "input" in w:
        lines.append(f"    input     {_vec(w['input'], limit)}")
    lines += [f"    expected  {_vec(w['expected'], limit)}", f"    got       {_vec(w['got'], limit)}"]
    if len(exp) > 1 and len(exp) == len(got):
        lines.append(f"    largest difference at output element {k + 1}: expected {exp[k]:.17g}, got {got[k]:.17g}")
    return lines


def _vec(values, limit: int) -> str:
    text = ", ".join(f"{v:.10g}" for v in values[:limit])
    return f"[{text}, ...] ({len(values)} values)" if len(values) > limit else f"[{text}]"


def row_dict(r: Row) -> dict:
    """One row as plain data."""
    return {"evaluator": r.evaluator, "kind": r.kind, "status": r.status, "passed": r.passed, "samples": r.samples,
            "max_abs_err": _json_num(r.max_abs), "max_rel_err": _json_num(r.max_rel), "rtol": _json_num(r.rtol),
            "atol": _json_num(r.atol), "seconds": round(r.seconds, 6), "note": r.note, "worst": r.worst,
            "arrays": r.arrays or None, "read_seconds": round(r.read_seconds, 6),
            "evaluate_seconds": round(r.evaluate_seconds, 6), "start_seconds": round(r.start_seconds, 6)}


def _json_num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _num(v: float) -> str:
    return "-" if math.isnan(v) else "inf" if math.isinf(v) else f"{v:.2e}"
