"""The README's support table, generated from the rule tables themselves (never written by hand).

``python -m wlbridge.support`` prints it; ``python -m wlbridge.support --update README.md`` rewrites
the part of the README between the ``<!-- support:begin -->`` and ``<!-- support:end -->`` markers
(a test fails when the README is out of date).

>>> "| `sigmoid` |" in activation_table()
True
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .ops import ACTIVATIONS, OPS

BEGIN, END = "<!-- support:begin -->", "<!-- support:end -->"


def _codes(names) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def activation_table() -> str:
    """One row per ``ops.ACTIVATIONS`` entry: its WL form and its names in each source."""
    lines = ["| activation | WL form (`#` = argument) | parameters | PyTorch | ONNX | Wolfram |",
             "|---|---|---|---|---|---|"]
    for a in ACTIVATIONS.values():
        params = ", ".join(f"{k}={v:g}" for k, v in a.params.items()) or "—"
        wl = a.wl.replace("|", "\\|")
        lines.append(f"| `{a.name}` | `{wl}` | {params} | {_codes(a.torch)} | {_codes(a.onnx)} | "
                     f"{_codes(a.wolfram)} |")
    return "\n".join(lines)


def op_table() -> str:
    """One row per IR op: what it means and whether each emitter has a rule (✓) or why not."""
    from .emit import EMITTERS, support

    table = support()
    lines = ["| IR op | meaning | " + " | ".join(EMITTERS) + " |", "|---|---|" + "---|" * len(EMITTERS)]
    for op, spec in OPS.items():
        cells = ["✓" if table[e].get(op) is None else table[e][op] for e in EMITTERS]
        lines.append(f"| `{op}` | {spec.doc} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def frontend_lists() -> str:
    """What each front end reads, from its own rule tables (activations come from the table above)."""
    acts = {n for a in ACTIVATIONS.values() for src in (a.torch, a.onnx, a.wolfram) for n in src}
    out = []
    try:
        from .frontends.torch import supported

        s = supported()
        out.append(f"- **PyTorch** modules: {_codes(sorted(set(s['modules']) - acts))}; plus functional calls, "
                   f"tensor methods and `torch.export` aten ops ({len(s['functions'])} names).")
    except ImportError:  # pragma: no cover - torch is an optional extra
        out.append("- **PyTorch**: install `wlbridge[torch]` to list.")
    reg = importlib.import_module(".frontends.onnx.registry", __package__)
    reg._load_rules()
    onnx_ops = sorted({op for op, _ in reg.RULES} - acts)
    out.append(f"- **ONNX** ops (besides the activations): {_codes(onnx_ops)}.")
    layers = importlib.import_module(".frontends.wolfram.layers", __package__)
    out.append(f"- **Wolfram** layer types (`.wlnet`, `.wxf`, live kernel): {_codes(sorted(layers.RULES))}.")
    return "\n".join(out)


def render() -> str:
    """The support tables (elementwise functions, IR ops x emitters, front ends) as Markdown."""
    return "\n\n".join(["#### Elementwise functions (one row each in `wlbridge/ops.py`)", activation_table(),
                        "#### IR ops and emitters", op_table(), "#### Front ends", frontend_lists()])


def update(path: Path) -> bool:
    """Rewrite the marked block of ``path``; True if it changed."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + render() + "\n" + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv=None) -> int:
    """``python -m wlbridge.support [--update README]``: print the tables or rewrite a file's marked block."""
    ap = argparse.ArgumentParser(prog="python -m wlbridge.support", description=__doc__.splitlines()[0])
    ap.add_argument("--update", metavar="README", type=Path, help="rewrite the marked block of this file")
    args = ap.parse_args(argv)
    if args.update:
        print(f"{args.update}: {'updated' if update(args.update) else 'up to date'}")
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
