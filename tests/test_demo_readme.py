"""The README's "main job" section is the seeded demo's real output: the training lines, the IR, the
weights in the WL forms and the check table's verdicts (timings and cut lines aside)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]
TIMING = re.compile(r"trained in \d+\.\d+ s")
DETAIL = re.compile(r"  [\w ]+: ")  # after the evaluator rows: '  note: ...', '  woxi: arrays inline, ...'
SECONDS = re.compile(r"\d+\.\d+ s")
STARTUP = re.compile(r", start-up T s")


def readme_lines() -> list[str]:
    """The lines of the fenced blocks of the README's "The main job" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The main job"):]
    section = section[:section.index("\n## ", 1)]
    return [line for block in re.findall(r"```[a-z]*\n(.*?)```", section, re.S) for line in block.splitlines()]


def same_line(readme: str, out: str) -> bool:
    if readme.endswith(" ..."):  # a long line cut in the README
        return out.startswith(readme[:-4])
    return TIMING.sub("trained in T s", readme) == TIMING.sub("trained in T s", out)


def verdict(row: str) -> tuple:
    """An evaluator row without its measured columns: (name, samples, result)."""
    cols = re.split(r"\s{2,}", row.strip())
    return cols[0], cols[1], cols[-1]


def test_the_readme_shows_what_the_seeded_demo_prints(capsys):
    from wlbridge import demo

    demo.show()
    out = capsys.readouterr().out.splitlines()
    readme = readme_lines()
    head = readme[:readme.index(next(line for line in readme if line.startswith("check ")))]
    assert len(out) == len(head) == 13
    for r, o in zip(head, out):
        assert same_line(r, o), (r, o)
    fitted = [re.match(r"  (\[.*\]) -> (\[.*\])  \(target (\[.*\])\)$", line).groups() for line in out[1:4]]
    np.testing.assert_allclose([json.loads(f[0]) for f in fitted], demo.INPUTS)
    np.testing.assert_allclose([json.loads(f[1]) for f in fitted], demo.TARGETS, atol=1e-9)


@pytest.mark.woxi
@pytest.mark.mathics
def test_the_readme_check_table_is_the_demos(capsys):
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    from wlbridge import demo

    assert demo.main() == 0
    out = capsys.readouterr().out.splitlines()
    readme = readme_lines()
    table = readme[next(i for i, line in enumerate(readme) if line.startswith("check ")):]
    got = out[len(out) - len(table):]
    assert got[0] == table[0]  # the header: samples, seed, engines, code size and PASSED
    rows = [line for line in table[2:] if not DETAIL.match(line)]
    assert [verdict(r) for r in rows] == [verdict(g) for g in got[2:2 + len(rows)]]
    assert all(verdict(r)[2] == "ok" for r in rows) and len(rows) == 4
    def timeless(line):  # Mathics3's start-up is shown only when this process had not started it already
        return STARTUP.sub("", SECONDS.sub("T s", line))

    details = [timeless(line) for line in table[2 + len(rows):]]  # notes, per-engine timings
    assert details == [timeless(line) for line in got[2 + len(rows):]] and details
