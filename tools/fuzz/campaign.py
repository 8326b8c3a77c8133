"""Run a campaign over formats, tally outcomes, write reproducers of crashes, hangs and OOMs."""
from __future__ import annotations

import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from .mutate import mutate
from .pool import CLASSES, SUFFIX, Pool
from .seeds import seeds as make_seeds

BAD = ("crash", "hang", "oom")


def run_campaign(formats, cases: int, *, workers=2, time_limit=10, mem_limit=1 << 30, start=0,
                 out: Path | None = None, progress=False, wall_limit=300.0, keep_typed=0) -> dict:
    """``{fmt: {"cases", "counts", "sites", "max_seconds", "kinds"}}`` after ``cases`` cases per format.

    Crashes, hangs and OOMs are written to ``out``, and the first ``keep_typed`` typed cases per
    format (a corpus for checking what the CLI prints on bad input)."""
    import torch

    torch.set_num_threads(1)
    fmt_seeds = {f: make_seeds(f) for f in formats}
    summary = {f: {"cases": 0, "counts": Counter(), "sites": defaultdict(list), "max_seconds": 0.0, "max_wall": 0.0,
                   "kinds": Counter(), "seeds": len(fmt_seeds[f])} for f in formats}
    jobs = [(f, start + i) for i in range(cases) for f in formats]
    pool = Pool(fmt_seeds, workers, time_limit, mem_limit, wall_limit)
    t0 = last = time.time()
    try:
        for r in pool.run(jobs):
            s = summary[r.fmt]
            s["cases"] += 1
            s["counts"][r.cls] += 1
            s["kinds"][f"{r.kind}:{r.cls}"] += 1
            s["max_seconds"] = max(s["max_seconds"], r.seconds)
            s["max_wall"] = max(s["max_wall"], r.wall)
            if r.cls in BAD:
                s["sites"][f"{r.cls}: {r.where}"].append(r.case)
            if out is not None and (r.cls in BAD or r.cls == "typed" and s["counts"]["typed"] <= keep_typed):
                try:
                    _reproducer(out, r, fmt_seeds)
                except Exception as e:  # noqa: BLE001 - never lose the run over one file
                    print(f"cannot write case {r.case}: {e!r}", file=sys.stderr)
            if progress and time.time() - last > 30:
                last = time.time()
                done = sum(x["cases"] for x in summary.values())
                print(f"[{time.time() - t0:.0f} s] {done}/{len(jobs)} " +
                      " ".join(f"{f}:{dict(x['counts'])}" for f, x in summary.items()), file=sys.stderr, flush=True)
                if out is not None:
                    _write_summary(out, summary)
    finally:
        pool.close()
    if out is not None:
        _write_summary(out, summary)
    return summary


def _write_summary(out: Path, summary: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=dict))
    (out / "table.md").write_text(table(summary) + "\n")


def _reproducer(out: Path, r, fmt_seeds) -> None:
    d = out / r.fmt / r.cls
    d.mkdir(parents=True, exist_ok=True)
    data, _ = mutate(r.fmt, fmt_seeds[r.fmt], r.case)
    (d / f"case{r.case}{SUFFIX[r.fmt]}").write_bytes(data)
    with open(d / "index.txt", "a") as f:
        f.write(f"case{r.case}{SUFFIX[r.fmt]}\t{r.kind}\t{r.seconds:.2f}s\t{r.where}\n")


def table(summary: dict) -> str:
    """A Markdown table: cases and outcome counts per format, slowest case."""
    head = "| format | cases | " + " | ".join(CLASSES) + " | slowest case (CPU) |"
    rows = [head, "|" + "---|" * (len(CLASSES) + 3)]
    for f, s in summary.items():
        rows.append(f"| .{f} | {s['cases']} | " + " | ".join(str(s["counts"].get(c, 0)) for c in CLASSES)
                    + f" | {s['max_seconds']:.2f} s |")
    for f, s in summary.items():
        for site, cases in sorted(s["sites"].items(), key=lambda kv: -len(kv[1])):
            rows.append(f"<!-- {f} {len(cases)}x {site} (e.g. case {cases[0]}) -->")
    return "\n".join(rows)
