"""Per-layer comparison: every binding of the compact WL form (and every layer of the sympy form)
against the reference's value of that layer, and the first layer whose value diverges.

The compact form is ``Function[{x}, With[{h1 = ...}, With[{h2 = ...}, ... body]]]`` (or one flat
``Module`` for long chains): one binding per layer (:func:`wlbridge.emit.wl.compact_bindings` says
which). The checked text -- emitted or given, possibly wrong -- is cut at its bindings, and a code
that returns the bindings' values instead of the body is evaluated in the engine:

- the *table* (``check(per_layer=True)``): every value, in one engine call per chunk of at most
  ``TABLE_NUMBERS`` numbers;
- the *first divergence* of a failed check: from the table when it is cheap, else by bisection over
  the bindings (each probe returns one value), assuming an error, once made, stays in later layers.

A value diverges when it fails the check's tolerance (or the engine cannot evaluate it). Few
samples are used (``SAMPLES``, with the failed row's worst sample): per layer is a diagnosis.

>>> import numpy as np, wlbridge as wb
>>> b = wb.NetBuilder("t"); x = b.input("x", (2,))
>>> h = b.layer("linear", [x], params={"weight": np.eye(2)}); y = b.layer("elementwise", [h], attrs={"fn": "tanh"})
>>> net = b.build([y]); layout = Compact.parse(net.to_wl(), net)
>>> [e.value for e in layout.entries], layout.code([0])
(['h1', 'h2'], 'Function[{x}, With[{h1 = {{1.`, 0.`}, {0.`, 1.`}} . x}, h1]]')
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import WlbridgeError
from .report import compare

TABLE_NUMBERS = 200_000  # values x samples returned by one engine call
SAMPLES = 4  # samples per layer evaluation (plus the failed row's worst one; Mathics3: the worst one only)


class PerLayerUnavailable(WlbridgeError):
    """The checked code is not in the compact form's shape (a hand-written Function, the expanded form)."""


@dataclass
class LayerRow:
    """One net value (a layer's output, or an input port bound in the code) in one evaluator."""

    evaluator: str
    value: str  # the net's name of the value (a layer's output)
    symbol: str  # the WL binding holding it ("" for the Function's body, or in sympy)
    op: str
    path: str  # where the layer came from in the source model ("" when built in Python)
    max_abs: float = math.nan
    max_rel: float = math.nan
    passed: bool | None = None
    note: str = ""

    def where(self) -> str:
        """``h3 (linear, /fc2/Gemm)``."""
        return f"{self.value} ({self.op}{', ' + self.path if self.path else ''})"

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("max_abs", "max_rel"):
            d[k] = float(d[k]) if math.isfinite(d[k]) else None
        return d


@dataclass
class Entry:
    """One binding of the compact code: its WL symbol (None: the body), text and net value."""

    symbol: str | None
    text: str
    value: str
    op: str
    path: str
    shape: tuple


class Compact:
    """A compact-form WL ``Function`` cut at its bindings (see the module docstring)."""

    def __init__(self, head: str, entries: list[Entry], module: bool, body: str):
        self.head, self.entries, self.module, self.body = head, entries, module, body

    @classmethod
    def parse(cls, code: str, net, call: str = "list") -> "Compact":
        """Cut ``code`` at the bindings the compact form of ``net`` has; :class:`PerLayerUnavailable` if it has not."""
        from ..emit.wl import compact_bindings

        layout = compact_bindings(net, call)
        layers = {layer.output: layer for layer in net.layers}
        i = _expect(code, 0, "Function[{")
        i = _expect(code, _scan(code, i, "}") + 1, ", ")
        head = code[:i]
        bound = [(s, v) for s, v in layout if s is not None]
        module = code.startswith("Module[{", i) and bool(bound)
        if module:
            i = _expect(code, _scan(code, i + len("Module[{"), "}") + 1, ", ")
        texts = []
        for symbol, _ in bound:
            i = _expect(code, i, (symbol if module else "With[{" + symbol) + " = ")
            end = _scan(code, i, ";" if module else "}")
            texts.append(code[i:end])
            i = _expect(code, end, "; " if module else "}, ")
        closing = "]]" if module else "]" * (len(bound) + 1)
        if not code.endswith(closing) or len(code) - len(closing) < i:
            raise PerLayerUnavailable("the code does not end as the compact form does")
        texts.append(code[i:len(code) - len(closing)])
        entries = []
        for (symbol, value), text in zip(layout + [(None, None)], texts):
            if value is None:
                break
            layer = layers.get(value)
            entries.append(Entry(symbol, text, value, layer.op if layer else "input", layer.path if layer else "",
                                 tuple(net.shapes[value])))
        return cls(head, entries, module, texts[-1])

    def text(self) -> str:
        """The whole Function again (with any entry's text changed)."""
        last = self.entries[-1] if self.entries and self.entries[-1].symbol is None else None
        return self._code([e for e in self.entries if e.symbol is not None], last.text if last else self.body)

    def code(self, wanted: list[int]) -> str:
        """A Function returning the values of ``entries[k]`` for k in ``wanted`` (a list of them if several)."""
        last = max(wanted)
        binds = [e for e in self.entries[:last + 1] if e.symbol is not None]
        items = [e.symbol if e.symbol is not None else e.text for e in (self.entries[k] for k in wanted)]
        return self._code(binds, items[0] if len(items) == 1 else "{" + ", ".join(items) + "}")

    def _code(self, binds: list[Entry], result: str) -> str:
        if self.module:
            sets = "".join(f"{e.symbol} = {e.text}; " for e in binds)
            return f"{self.head}Module[{{{', '.join(e.symbol for e in binds)}}}, {sets}{result}]]"
        withs = "".join(f"With[{{{e.symbol} = {e.text}}}, " for e in binds)
        return self.head + withs + result + "]" * len(binds) + "]"


def _expect(code: str, i: int, text: str) -> int:
    if not code.startswith(text, i):
        raise PerLayerUnavailable(f"expected {text!r} at character {i} of the code (not the compact form?)")
    return i + len(text)


def _scan(code: str, i: int, stop: str) -> int:
    """The index of the first ``stop`` character at bracket depth 0 from ``i`` (strings skipped)."""
    depth, quoted = 0, False
    for k in range(i, len(code)):
        c = code[k]
        if quoted:
            quoted = c != '"' or code[k - 1] == "\\"
        elif c == '"':
            quoted = True
        elif c == stop and depth == 0:
            return k
        elif c in "[{(":
            depth += 1
        elif c in "]})":
            depth -= 1
    raise PerLayerUnavailable(f"unbalanced brackets: no {stop!r} closes what starts at character {i}")


# ---- evaluating ---------------------------------------------------------------------------------------------
def choose_samples(n: int, worst: int | None = None) -> np.ndarray:
    """The sample indices a per-layer evaluation uses: the first ``SAMPLES`` and the worst one."""
    picked = set(range(min(n, SAMPLES))) | ({worst} if worst is not None and worst < n else set())
    return np.array(sorted(picked))


def engine_table(engine, layout: Compact, xs, values: dict, *, call: str, tol: dict, timeout=None) -> list[LayerRow]:
    """Every entry's :class:`LayerRow` in ``engine`` (chunks of at most ``TABLE_NUMBERS`` numbers per call)."""
    rows: list[LayerRow] = []
    n = len(xs[0])
    for chunk in _chunks([max(1, int(np.prod(e.shape))) * n for e in layout.entries], TABLE_NUMBERS):
        rows += _evaluate_chunk(engine, layout, chunk, xs, values, call, tol, timeout)
    return rows


def _evaluate_chunk(engine, layout, chunk, xs, values, call, tol, timeout) -> list[LayerRow]:
    """The chunk's rows; when the engine cannot evaluate it, the first entry it cannot evaluate is found
    by bisection, the ones before it are evaluated, and the ones after are marked not evaluated."""
    rows = _evaluate(engine, layout, chunk, xs, values, call, tol, timeout)
    if len(chunk) == 1 or not _engine_failed(rows[0]):
        return rows
    lo, hi, bad = 0, len(chunk) - 1, len(chunk) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if _engine_failed(_evaluate(engine, layout, [chunk[mid]], xs, values, call, tol, timeout)[0]):
            bad, hi = mid, mid - 1
        else:
            lo = mid + 1
    good = _evaluate(engine, layout, chunk[:bad], xs, values, call, tol, timeout) if bad else []
    first = _evaluate(engine, layout, [chunk[bad]], xs, values, call, tol, timeout)
    for row in rows[bad + 1:]:
        row.note = f"not evaluated: {first[0].value} before it fails in {engine.name}"
    return good + first + rows[bad + 1:]


def _engine_failed(row: LayerRow) -> bool:
    return row.passed is False and math.isinf(row.max_abs) and bool(row.note)


def engine_bisect(engine, layout: Compact, xs, values: dict, *, call: str, tol: dict, timeout=None) -> LayerRow | None:
    """The first diverging entry's row, by bisection (``log2(bindings)`` engine calls), or None."""
    lo, hi, found = 0, len(layout.entries) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        row = _evaluate(engine, layout, [mid], xs, values, call, tol, timeout)[0]
        if row.passed is False:
            found, hi = row, mid - 1
        else:
            lo = mid + 1
    if found is not None:
        found.note = (found.note + "; " if found.note else "") + "found by bisection"
    return found


def _chunks(sizes: list[int], limit: int) -> list[list[int]]:
    chunks, current, total = [], [], 0
    for k, size in enumerate(sizes):
        if current and total + size > limit:
            chunks.append(current)
            current, total = [], 0
        current.append(k)
        total += size
    return chunks + ([current] if current else [])


def _evaluate(engine, layout, wanted, xs, values, call, tol, timeout) -> list[LayerRow]:
    entries = [layout.entries[k] for k in wanted]
    result = _apply(engine, layout.code(wanted), xs, call, [e.shape for e in entries], timeout)
    rows = []
    for k, e in enumerate(entries):
        row = LayerRow(engine.name, e.value, e.symbol or "", e.op, e.path)
        if result.values is None or result.problem:
            row.passed, row.max_abs, row.max_rel = False, math.inf, math.inf
            row.note = " ".join((result.problem or "not evaluated").split())[:300]
        else:
            _fill(row, values[e.value], result.values[k], tol)
        rows.append(row)
    return rows


def _apply(engine, code, xs, call, shapes, timeout):
    from .engines import KillableEngine
    from .worker import WorkerCancelled, WorkerTimeout
    from .base import EngineResult

    try:
        if isinstance(engine, KillableEngine):
            return engine.apply_bounded(code, xs, timeout=timeout, call=call, output_shapes=shapes)
        return engine.apply(code, xs, call=call, output_shapes=shapes, timeout=timeout)
    except (WorkerTimeout, WorkerCancelled) as e:
        return EngineResult(None, [], f"timed out after {timeout:g} s ({type(e).__name__})", float(timeout or 0))


def _fill(row: LayerRow, ref, got, tol: dict) -> None:
    c = compare(row.evaluator, [np.asarray(ref, dtype=np.float64)], [np.asarray(got, dtype=np.float64)], **tol)
    row.max_abs, row.max_rel, row.passed = c.max_abs, c.max_rel, c.passed
    if not c.passed and c.note:
        row.note = c.note


def sympy_table(net, xs, values: dict, *, tol: dict, steps=None) -> list[LayerRow]:
    """Every layer of the sympy form (:func:`wlbridge.emit.sympy_layers.layer_steps`, or ``steps``) compared."""
    from ..emit.sympy_layers import layer_steps, run_steps

    got = run_steps(net, steps if steps is not None else layer_steps(net), xs)
    rows = []
    for layer in net.layers:
        row = LayerRow("sympy", layer.output, "", layer.op, layer.path)
        _fill(row, values[layer.output], got[layer.output], tol)
        rows.append(row)
    return rows


def first_divergence(rows: list[LayerRow]) -> LayerRow | None:
    """The first row that failed."""
    return next((r for r in rows if r.passed is False), None)


def diagnose(report, net, code: str, xs, engines, *, call: str, tol: dict, table: bool, sympy: bool,
             timeout=None) -> None:
    """Fill ``report.layers`` (with ``table``) and ``report.divergences`` (each failed evaluator's first
    diverging layer) from the compact code in each engine and, with ``sympy``, the sympy form."""
    from ..reference import trace

    rows_by_name = {r.evaluator: r for r in report.rows}
    failing = {name for name, r in rows_by_name.items() if r.passed is False and not r.timed_out}
    worst = next((r.worst["index"] for r in report.rows if r.passed is False and r.worst), None)
    pick = choose_samples(len(xs[0]), worst)
    xs = [np.asarray(x)[pick] for x in xs]
    values = trace(net, *xs)
    try:
        layout = Compact.parse(code, net, call)
    except PerLayerUnavailable as e:
        layout = None
        report.notes.append(f"per layer: not in the WL engines: {e}")
    found: list[LayerRow | None] = []
    for engine in engines:
        row = rows_by_name.get(engine.name)
        if layout is None or not (table or engine.name in failing) or (row is not None and row.passed is None):
            continue  # not asked, or skipped by the check itself (Mathics3 past its budget)
        exs, evalues = xs, values
        if engine.name == "mathics":  # slow: one sample (the worst), as the check's own budget allowed one
            k = int(np.searchsorted(pick, worst)) if worst is not None and worst in pick else 0
            exs, evalues = [x[k:k + 1] for x in xs], {name: v[k:k + 1] for name, v in values.items()}
        cheap = sum(max(1, int(np.prod(e.shape))) for e in layout.entries) * len(exs[0]) <= TABLE_NUMBERS
        if table or cheap:
            rows = engine_table(engine, layout, exs, evalues, call=call, tol=tol, timeout=timeout)
            report.layers += rows if table else []
            found.append(first_divergence(rows))
        else:
            found.append(engine_bisect(engine, layout, exs, evalues, call=call, tol=tol, timeout=timeout))
    if sympy and (table or "sympy" in failing):
        rows = sympy_table(net, xs, values, tol=tol)
        report.layers += rows if table else []
        found.append(first_divergence(rows))
    report.divergences += [r for r in found if r is not None]
    if table:
        report.notes.append(f"per layer: {len(pick)} samples (Mathics3: 1)")
