"""wlbridge: trained neural nets as closed-form mathematics, between Python and the Wolfram Language.

>>> import numpy as np, wlbridge as wb
>>> b = wb.NetBuilder(); x = b.input("x", (2,))
>>> net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> net.to_wl()
'Function[{x}, Tanh[x]]'

Front ends import their optional libraries (torch, onnx, h5py, wolframclient) only when called.
"""
from __future__ import annotations

from pathlib import Path

from .errors import (CheckFailedError, ConversionError, EngineError, EngineNotFoundError,
                     ExpressionTooLargeError, FormatError, UnsupportedLayerError, WlbridgeError)
from .ir import Layer, Net, NetBuilder, Port

__version__ = "0.1.0"

__all__ = ["load", "from_torch", "from_onnx", "from_wolfram", "save_wlnet", "save_wxf", "plot_check", "check_many", "to_wl_association", "Net", "Layer",
           "Port", "NetBuilder", "WlbridgeError", "FormatError", "ConversionError", "UnsupportedLayerError",
           "ExpressionTooLargeError", "EngineNotFoundError", "EngineError", "CheckFailedError"]


def from_torch(module, input_shape=None, **settings) -> Net:
    """Convert a ``torch.nn.Module`` (eval mode; ``input_shape`` excludes the batch axis) or a
    ``torch.export.ExportedProgram`` (its own shapes)."""
    from .frontends.torch import from_torch as convert

    return convert(module, input_shape, **settings)


def from_onnx(model, **settings) -> Net:
    """Convert an ONNX model (path or ``onnx.ModelProto``)."""
    from .frontends.onnx import from_onnx as convert

    return convert(model, **settings)


def from_wolfram(session, expr: str, **settings) -> Net:
    """Convert a NetChain/NetGraph living in a Wolfram kernel (``expr``: symbol name or WL code)."""
    from .frontends.wolfram.kernel import from_wolfram as convert

    return convert(session, expr, **settings)


def to_wl_association(net: Net, *, positional: bool = False) -> str:
    """WL text of ``net``'s plain net association, for the paclet's ``NetAssociationToFunction`` (no kernel
    needed: Woxi, Mathics3 or Mathematica); ``positional=True`` writes reals without exponents (Woxi)."""
    from .frontends.wolfram.assoctext import to_wl_association as text

    return text(net, positional=positional)


def save_wlnet(net: Net, path) -> None:
    """Write ``net`` as a ``.wlnet`` file that Mathematica's ``Import`` reads."""
    from .frontends.wolfram.wlnet import save_wlnet as save

    save(net, path)


def save_wxf(net: Net, path) -> None:
    """Write ``net`` as ``NetChain``/``NetGraph`` WXF (``Import["net.wxf"]``)."""
    from .frontends.wolfram.wxf import save_wxf as save

    save(net, path)


def check_many(models, *, jobs: int | None = None, cluster: str | None = None, on_report=None, simplify: bool = False,
               model_timeout="auto", **check_options):
    """Check many models (files, folders, globs, Nets) at once: a local process pool by default, Ray with
    ``cluster="ray"`` / ``"ray://HOST:PORT"``; one report per model, in order; see :mod:`wlbridge.check.campaign`."""
    from .check.campaign import check_many as run

    return run(models, jobs=jobs, cluster=cluster, on_report=on_report, simplify=simplify, model_timeout=model_timeout,
               **check_options)


def plot_check(net: Net, code: str | None = None, **settings):
    """The net and its formula along a random line, error on a log scale (matplotlib); see :mod:`wlbridge.plot`."""
    from .plot import plot_check as plot

    return plot(net, code, **settings)


def sniff(path) -> str:
    """The format of a model file from its first bytes: 'wlnet', 'wxf', 'pt2' or 'onnx'."""
    from .frontends.guard import regular_file

    p = Path(path)
    regular_file(p)  # a FIFO or device would block or never end
    try:
        with p.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise FormatError(f"{p}: cannot read: {e.strerror or e}") from None
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "wlnet"
    if head.startswith((b"8:", b"8C:")):
        return "wxf"
    if head.startswith(b"PK\x03\x04"):
        return "pt2"
    if p.suffix.lower() == ".onnx" or head[:1] in (b"\x08",):
        return "onnx"
    raise FormatError(f"{p}: not a model file wlbridge reads (.wlnet, .wxf, .onnx, .pt2); first bytes {head!r}")


def load(path, **settings) -> Net:
    """Read a model file, chosen by its content: ``.wlnet``, ``.wxf``, ``.onnx`` or ``.pt2``."""
    kind = sniff(path)
    return _reader(kind)(path, **settings)  # each reader turns unforeseen errors into FormatErrors


def _reader(kind: str):
    if kind == "wlnet":
        from .frontends.wolfram.wlnet import load_wlnet as read
    elif kind == "wxf":
        from .frontends.wolfram.wxf import load_wxf as read
    elif kind == "pt2":
        from .frontends.torch import load_pt2 as read
    else:
        from .frontends.onnx import from_onnx as read
    return read
