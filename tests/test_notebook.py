"""examples/notebook.ipynb runs in a real Jupyter kernel (nbclient + ipykernel) and shows what it should."""
from __future__ import annotations

import base64
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


@pytest.mark.woxi
def test_notebook_executes_and_displays():
    pytest.importorskip("woxi")
    pytest.importorskip("matplotlib")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    data = [o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    net, formula, good, bad, plot = data
    assert net["text/plain"] == "<Net tiny: 3 layers, 11 parameters>"
    assert "wlbridge-net" in net["text/html"] and "weight f64[2,3]" in net["text/html"]
    assert "0.75" not in net["text/html"] + net["text/markdown"]  # shapes and counts, never the weights
    assert r"\tanh" in formula["text/latex"] and "0.75 x_{2}" in formula["text/latex"]
    assert "PASSED" in good["text/html"] and "color:#1a7f37" in good["text/html"]
    assert "FAILED" in bad["text/html"] and "color:#cf222e" in bad["text/html"] and "worst sample" in bad["text/html"]
    assert "| woxi |" in good["text/markdown"] and "✅ ok" in good["text/markdown"]
    png = base64.b64decode(plot["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
