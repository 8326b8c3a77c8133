"""``wlbridge regions MODEL --box LO HI``: the linear regions of a piecewise-linear net over a box.

Prints the count, the search time and a per-region table (index, number of inequalities, witness, a
summary of the output map); ``--json`` prints all of it (with each region's ``A``, ``b``, ``H``, ``g``) as
one JSON object; ``--plot FILE.png`` draws a 2-D slice of the regions (the first two inputs; the others at
the box centre) with matplotlib.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .cli_flags import add_flags, keywords
from .errors import WlbridgeError

TABLE_ROWS = 50  # regions listed in the table (all of them with --json)


def add_parser(sub, parents) -> None:
    """The ``regions`` sub-command's arguments."""
    r = sub.add_parser("regions", help="the linear regions of a piecewise-linear net over a box", parents=parents,
                       description=__doc__.split("\n\n")[1].replace("``", ""),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("model", help="model file: .wlnet, .wxf, .onnx, .pt2")
    add_flags(r, "regions")  # --box, --minimal, --max-regions, --jobs, --cluster, --json, --plot, --simplify


def search_options(args) -> dict:
    """Keywords for ``linear_regions`` from the flags (the place for ``jobs`` and ``cluster``)."""
    return keywords(args, "regions", ("minimal", "max_regions", "jobs", "cluster"))


def cmd_regions(args, net) -> int:
    """Enumerate, then print the table or JSON, and draw the slice if asked."""
    from .analysis.piecewise import parse_box

    if args.box is None:
        raise WlbridgeError("regions: --box LO HI is required (the regions are searched in that box)")
    lower, upper = parse_box(net, tuple(args.box), "regions")
    regions = net.linear_regions(lower, upper, **search_options(args))
    if args.plot:
        plot_slice(regions, args.plot)
    if args.json:
        print(json.dumps(as_json(regions)))
    else:
        print(table(regions))
        if args.plot:
            print(f"plot: {args.plot} (x1, x2; other inputs at the box centre)")
    sys.stdout.flush()
    return 0


def map_summary(A, b, terms: int = 4) -> str:
    """``y1 = 0.5 x1 - 2 x3 + 0.1; y2 = ...`` with 3 significant digits (at most ``terms`` terms each).

    >>> map_summary(np.array([[0.5, 0.0, -2.0]]), np.array([0.1]))
    'y1 = 0.5 x1 - 2 x3 + 0.1'
    """
    out = []
    for o, (a, c) in enumerate(zip(A, b)):
        parts = [f"{'-' if w < 0 else '+'} {abs(w):.3g} x{i + 1}" for i, w in enumerate(a) if w != 0]
        more = [f"...({len(parts) - terms} more)"] if len(parts) > terms else []
        text = " ".join(parts[:terms] + more + [f"{'-' if c < 0 else '+'} {abs(c):.3g}"])
        out.append(f"y{o + 1} = " + (text[2:] if text.startswith("+ ") else "-" + text[2:]))
    return "; ".join(out)


def table(regions, rows: int = TABLE_ROWS) -> str:
    """The summary line and one line per region (the first ``rows``)."""
    lines = [str(regions), f"{'region':>6}  {'ineqs':>5}  {'witness':<28}  output map"]
    for i, r in enumerate(regions.regions[:rows]):
        w = "[" + ", ".join(f"{v:.3g}" for v in r.witness[:4]) + (", ...]" if r.witness.size > 4 else "]")
        lines.append(f"{i:>6}  {len(r.g):>5}  {w:<28}  {map_summary(r.A, r.b)}")
    if len(regions) > rows:
        lines.append(f"... {len(regions) - rows:,} more (--json lists them all)")
    return "\n".join(lines)


def as_json(regions) -> dict:
    """The regions and the search's numbers as plain JSON types."""
    return {"net": regions.net.name, "lower": regions.lower.tolist(), "upper": regions.upper.tolist(),
            "count": len(regions), "seconds": regions.seconds, "lps": regions.lps,
            "verification": regions.verification,
            "regions": [{"index": i, "inequalities": len(r.g), "witness": r.witness.tolist(), "A": r.A.tolist(),
                         "b": r.b.tolist(), "H": r.H.tolist(), "g": r.g.tolist()} for i, r in enumerate(regions)]}


def slice_grid(regions, points: int = 300):
    """Region indices on a ``points`` x ``points`` grid over the first two inputs (others at the box centre)."""
    lo, hi = regions.lower, regions.upper
    if lo.size < 2:
        raise WlbridgeError(f"{regions.net.name}: --plot draws two inputs; the net has {lo.size}")
    u, v = np.linspace(lo[0], hi[0], points), np.linspace(lo[1], hi[1], points)
    grid = np.tile((lo + hi) / 2, (points * points, 1))
    grid[:, 0], grid[:, 1] = np.repeat(u, points), np.tile(v, points)
    return u, v, regions.locate(grid).reshape(points, points)


def plot_slice(regions, path: str) -> None:
    """Draw the slice: one colour per region, its index at its cells' centre."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    u, v, idx = slice_grid(regions)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.pcolormesh(u, v, np.where(idx < 0, np.nan, idx % 20).T, cmap="tab20", shading="auto", vmin=0, vmax=19)
    for k in np.unique(idx[idx >= 0]):
        i, j = np.argwhere(idx == k).mean(axis=0)
        ax.text(u[int(i)], v[int(j)], str(k), ha="center", va="center", fontsize=6)
    ax.set(xlabel="x1", ylabel="x2", title=f"{regions.net.name}: {len(np.unique(idx[idx >= 0]))} of "
                                           f"{len(regions)} regions in this slice")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
