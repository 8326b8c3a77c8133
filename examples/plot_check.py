"""Writes docs/check_plot.png: the seed net and its WL formula (evaluated in Woxi) along a random line
through input space, and their difference on a log scale.

Run: ``python examples/plot_check.py [OUT.png]`` (needs torch, matplotlib and an engine).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's wlbridge

import wlbridge as wb  # noqa: E402
from wlbridge.demo import train_seed_net  # noqa: E402


def main(out: str = str(ROOT / "docs" / "check_plot.png")) -> None:
    net = wb.from_torch(train_seed_net(), (3,))
    report = net.check(engine="woxi", samples=64)
    print(report)
    fig = report.plot(points=400, span=4.0, seed=3)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
