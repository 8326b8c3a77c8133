"""The long fuzz campaign: ``python -m tools.fuzz --cases 10000 [--formats wlnet,onnx] [--workers 2]``.

Prints a table of outcomes per format; writes every crash, hang and OOM case (and with ``--keep-typed N``
the first N typed cases per format) to ``--out/<format>/<class>/`` (default ``fuzz-out/``) with an
``index.txt`` of sites, plus ``summary.json`` and ``table.md`` (rewritten every 30 s while running).
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from .campaign import run_campaign, table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.fuzz", description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000, help="cases per format")
    ap.add_argument("--formats", default="wlnet,wxf,onnx,pt2")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--time-limit", type=int, default=10, help="CPU seconds per case")
    ap.add_argument("--wall-limit", type=float, default=300.0, help="wall-clock seconds per case")
    ap.add_argument("--mem-limit-mb", type=int, default=1024, help="address space a case may add")
    ap.add_argument("--start", type=int, default=0, help="first case seed")
    ap.add_argument("--out", default="fuzz-out")
    ap.add_argument("--keep-typed", type=int, default=0, help="also write this many typed cases per format")
    a = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the pool's workers are stopped too
    formats = a.formats.split(",")
    t = time.time()
    summary = run_campaign(formats, a.cases, workers=a.workers, time_limit=a.time_limit,
                           mem_limit=a.mem_limit_mb << 20, start=a.start, wall_limit=a.wall_limit,
                           keep_typed=a.keep_typed, out=Path(a.out), progress=True)
    print(table(summary))
    print(f"{sum(s['cases'] for s in summary.values())} cases in {time.time() - t:.0f} s")
    bad = sum(s["counts"].get(c, 0) for s in summary.values() for c in ("crash", "hang", "oom"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
