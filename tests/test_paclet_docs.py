"""docs/mathematica.md's kernel-free snippet, taken from the markdown, runs in Woxi and in Mathics3: the
paclet loads with one ``Get`` and the Functions built from ``wb.to_wl_association(net)`` agree with Python."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import wlbridge as wb
from wlbridge import paclet

from .cases import CASES

DOC = Path(__file__).resolve().parent.parent / "docs" / "mathematica.md"


def _section() -> str:
    return DOC.read_text(encoding="utf-8").split("## Without a kernel", 1)[1].split("\n## ", 1)[0]


def kernel_free_snippet(lang: str = "wl") -> list[str]:
    """The lines of the first ```wl (or ```python) block of the section "Without a kernel"."""
    block = re.search(rf"```{lang}\n(.*?)```", _section(), re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def statements(tmp_path, monkeypatch) -> tuple[list[str], np.ndarray]:
    """The doc's Python snippet run on the seed net in tmp_path, and its WL lines with the paths filled in."""
    net = next(c for c in CASES if c.name == "seed_net").build()
    monkeypatch.chdir(tmp_path)
    exec("\n".join(kernel_free_snippet("python")), {"net": net})
    wl = (tmp_path / "net.wl").as_posix()
    lines = [line.replace("/path/to/wlbridge/wl/WLBridge", paclet.paclet_dir().as_posix()).replace('"net.wl"', f'"{wl}"')
             for line in kernel_free_snippet()]
    x = np.array([0.1, 0.2, 0.3])
    return lines, np.asarray(net(x[None, :]))[0]


def check_outputs(results, want):
    assert int(results[1]) == len(paclet.ACTIVATIONS)
    for r in (results[4], results[6]):
        got = np.array([float(v) for v in re.findall(r"-?[0-9.]+(?:e-?\d+)?", r.replace("*^", "e"))])
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_snippet_is_there():
    lines = kernel_free_snippet()
    assert lines[0].startswith('Get["/path/to/wlbridge/wl/WLBridge/Kernel/WLBridge.wl"]')
    assert any("NetAssociationToFunction" in line for line in lines)


@pytest.mark.woxi
def test_kernel_free_snippet_in_woxi(tmp_path, monkeypatch):
    woxi = pytest.importorskip("woxi")
    woxi.clear_state()
    lines, want = statements(tmp_path, monkeypatch)
    results = []
    for line in lines:
        r = woxi.evaluate(line)
        assert not [w for w in r.warnings if "NetDecoder" not in w], (line, r.warnings)
        results.append(r.result)
    check_outputs(results, want)


@pytest.mark.mathics
def test_kernel_free_snippet_in_mathics(tmp_path, monkeypatch):
    pytest.importorskip("mathics")
    from wlbridge.check.engines import mathics_session

    s = mathics_session()
    lines, want = statements(tmp_path, monkeypatch)
    results = []
    for line in lines:
        r = s.evaluate(line)
        assert not s.evaluation.out, (line, [m.text for m in s.evaluation.out])
        results.append(str(r.to_python()))
    check_outputs(results, want)
