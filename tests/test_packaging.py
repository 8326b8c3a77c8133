"""Packaging: the extras, and the demo runnable from the installed package (issue 12 item 8)."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_mathics_extras_bring_packaging():
    """Mathics3 imports `packaging` without declaring it: without it every check printed an import error."""
    for extra in ("mathics", "engines"):
        assert any(req.startswith("packaging") for req in extras()[extra]), extra


def test_all_pulls_the_plot_and_test_extras():
    everything = extras()["all"][0]
    assert all(name in everything for name in ("engines", "plot", "test", "torch", "onnx"))
    assert {"nbclient", "ipykernel", "jsonschema"} <= {r.split(">")[0] for r in extras()["test"]}


def test_demo_without_torch_says_how_to_get_it(monkeypatch, capsys):
    from wlbridge import demo

    monkeypatch.setitem(sys.modules, "torch", None)
    assert demo.main() == 2
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.torch
def test_demo_runs_as_a_module_outside_the_checkout(tmp_path, request):
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow (~30 s, Mathics3): run with -m slow")
    pytest.importorskip("torch")
    p = subprocess.run([sys.executable, "-m", "wlbridge.demo"], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "mean squared error" in p.stdout and ": PASSED" in p.stdout
