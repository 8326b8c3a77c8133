"""Notebook display (Jupyter ``_repr_*_``) of nets and check reports: structure and numbers, never weight arrays.

Every name shown (nets, layers, paths come from files) is escaped for the target (HTML, Markdown).

>>> import numpy as np, wlbridge as wb
>>> b = wb.NetBuilder("<tiny>"); x = b.input("x", (2,))
>>> net = b.build([b.layer("linear", [x], params={"weight": np.ones((1, 2)), "bias": np.zeros(1)})])
>>> "&lt;tiny&gt;" in net_html(net) and "3 parameters" in net_html(net)
True
>>> print(net_markdown(net).splitlines()[4])
| 1 | `h1` | `linear` | `x` | f64[1] | 3: weight f64[1,2], bias f64[1] |  |
>>> net_latex(net)
'$$\\\\left[\\\\begin{matrix}x_{1} + x_{2}\\\\end{matrix}\\\\right]$$'
"""
from __future__ import annotations

import html
import math

from .ir import type_str

MAX_LAYERS = 60  # layers listed before "... N more"
LATEX_MAX_SIZE = 400  # expanded-form nodes (estimate) up to which a net shows as a formula
COLOURS = {"ok": "#1a7f37", "FAIL": "#cf222e", "skipped": "#6e7781"}


def _layer_rows(net):
    for k, layer in enumerate(net.layers[:MAX_LAYERS], 1):
        params = ", ".join(f"{name} {type_str(v.shape, v.dtype)}" for name, v in layer.params.items() if v is not None)
        op = layer.op + (f"[{layer.attrs['fn']}]" if layer.op == "elementwise" and "fn" in layer.attrs else "")
        yield (str(k), layer.output, op, ", ".join(layer.inputs), type_str(net.shapes[layer.output], net.dtype),
               f"{layer.param_count:,}: {params}" if params else "", layer.path)


def _summary(net) -> str:
    ins = ", ".join(f"{p.name}: {type_str(p.shape, p.dtype or net.dtype)}" for p in net.inputs)
    outs = ", ".join(f"{o}: {type_str(net.shapes[o], net.dtype)}" for o in net.outputs)
    return f"{net.name}({ins}) -> {outs}: {len(net.layers)} layers, {net.param_count:,} parameters"


def _more(net) -> int:
    return max(0, len(net.layers) - MAX_LAYERS)


def net_html(net) -> str:
    """An HTML table of the layers: value, op, inputs, shape, parameter count and shapes, source path."""
    e = html.escape
    head = "".join(f"<th>{h}</th>" for h in ("#", "value", "op", "inputs", "shape", "parameters", "path"))
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _layer_rows(net))
    more = f"<p>... {_more(net):,} more layers</p>" if _more(net) else ""
    return (f"<div class='wlbridge-net'><p><b>{e(_summary(net))}</b></p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}</div>")


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'").replace("\n", " ")


def net_markdown(net) -> str:
    """The layer table as Markdown."""
    lines = [f"**{_md(_summary(net))}**", "", "| # | value | op | inputs | shape | parameters | path |",
             "|---|---|---|---|---|---|---|"]
    for k, out, op, ins, shape, params, path in _layer_rows(net):
        lines.append(f"| {k} | `{_md(out)}` | `{_md(op)}` | `{_md(ins)}` | {shape} | {_md(params)} | {_md(path)} |")
    if _more(net):
        lines.append(f"\n... {_more(net):,} more layers")
    return "\n".join(lines)


def net_latex(net, max_size: int = LATEX_MAX_SIZE) -> str | None:
    """The expanded form as display LaTeX when it is small (estimated size), else None (not shown)."""
    from .emit._size import estimate_size

    if estimate_size(net) > max_size:
        return None
    try:
        import sympy as sp

        return f"$${sp.latex(net.to_sympy(form='expanded', max_size=max_size))}$$"
    except Exception:  # a display hook must not raise: no LaTeX for this net
        return None


def _num(v: float) -> str:
    return "-" if math.isnan(v) else "inf" if math.isinf(v) else f"{v:.2e}"


def _report_rows(report):
    for r in report.rows:
        yield (r.evaluator, str(r.samples or "-"), _num(r.max_abs), _num(r.max_rel),
               r.tolerance if r.passed is not None else "-", f"{r.seconds:.2f}", r.status)


HEADS = ("evaluator", "samples", "max abs err", "max rel err", "tolerance", "seconds", "result")


def report_html(report) -> str:
    """The check table with each result coloured (ok green, FAIL red, skipped grey), then the notes."""
    from .check.report import worst_lines

    e = html.escape
    verdict = "PASSED" if report.passed else "FAILED"
    colour = COLOURS["ok" if report.passed else "FAIL"]
    head = "".join(f"<th>{h}</th>" for h in HEADS)
    body = ""
    for cells in _report_rows(report):
        tds = "".join(f"<td>{e(c)}</td>" for c in cells[:-1])
        body += (f"<tr>{tds}<td style='color:{COLOURS[cells[-1]]};font-weight:bold'>{cells[-1]}</td></tr>")
    notes = [f"{r.evaluator}: {r.note}" for r in report.rows if r.note] + list(report.notes)
    notes += ["\n".join(worst_lines(r)).strip() for r in report.failures if r.worst]
    items = "".join(f"<li><pre style='margin:0;white-space:pre-wrap'>{e(n)}</pre></li>" for n in notes)
    return (f"<div class='wlbridge-check'><p>{e(report.title())}: "
            f"<b style='color:{colour}'>{verdict}</b></p><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{'<ul>' + items + '</ul>' if items else ''}</div>")


def report_markdown(report) -> str:
    """The check table as Markdown (✅ ok, ❌ FAIL, ➖ skipped)."""
    mark = {"ok": "✅ ok", "FAIL": "❌ FAIL", "skipped": "➖ skipped"}
    lines = [f"{_md(report.title())}: **{'PASSED' if report.passed else 'FAILED'}**", "",
             "| " + " | ".join(HEADS) + " |", "|" + "---|" * len(HEADS)]
    for cells in _report_rows(report):
        lines.append("| " + " | ".join(_md(c) for c in cells[:-1]) + f" | {mark[cells[-1]]} |")
    notes = [f"{r.evaluator}: {r.note}" for r in report.rows if r.note] + list(report.notes)
    lines += [""] + [f"- {_md(n)}" for n in notes] if notes else []
    return "\n".join(lines)
