"""What a torch zip archive is, from its member names alone (nothing is unpickled or run).

``torch.export.save`` (``.pt2``) writes ``<root>/archive_format`` and ``<root>/models/``;
``torch.jit.save`` (TorchScript) writes ``<root>/code/`` and ``<root>/constants.pkl``; ``torch.save``
writes ``<root>/data.pkl`` with the pickled objects and nothing of the two others.
:func:`refuse_other_archives` turns the last two into errors that say what the file is and what to
do instead.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

from ...errors import FormatError

EXPORT_HINT = ("export the model instead: torch.export.save(torch.export.export(model, (x,)), 'model.pt2') or "
               "torch.onnx.export(model, (x,), 'model.onnx'), then read that file")


def archive_kind(path) -> str:
    """'export', 'torchscript', 'checkpoint' or 'zip' (an unknown zip), from the member names."""
    try:
        with zipfile.ZipFile(path) as z:
            parts = [name.split("/", 1)[-1] for name in z.namelist()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return "zip"
    if "archive_format" in parts or any(p.startswith("models/") for p in parts):
        return "export"
    if "constants.pkl" in parts or any(p.startswith("code/") for p in parts):
        return "torchscript"
    if "data.pkl" in parts:
        return "checkpoint"
    return "zip"


def refuse_other_archives(path: Path) -> None:
    """A FormatError for a ``torch.save`` checkpoint or a TorchScript archive; nothing for the rest."""
    kind = archive_kind(path)
    if kind == "checkpoint":
        raise FormatError(f"{path}: a torch.save checkpoint (pickled Python objects); wlbridge does not read it, "
                          "because unpickling runs whatever code the file names. If you trust the file, load the "
                          "module in Python and pass it to wlbridge.from_torch, or " + EXPORT_HINT)
    if kind == "torchscript":
        raise FormatError(f"{path}: a TorchScript archive (torch.jit.save); wlbridge reads torch.export programs "
                          "(.pt2) and ONNX, not TorchScript. With the Python module: wlbridge.from_torch(module, "
                          "shape), or " + EXPORT_HINT + "; from this archive alone: torch.onnx.export("
                          "torch.jit.load(path), (x,), 'model.onnx', dynamo=False)")
