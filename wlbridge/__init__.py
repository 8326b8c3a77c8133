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
from typing import Any, Mapping, Sequence

from ._options import keywords

from .errors import (CheckFailedError, ConversionError, EngineError, EngineNotFoundError,
                     ExpressionTooLargeError, FormatError, OptionError, UnsupportedLayerError, WlbridgeError)
from .ir import Layer, Net, NetBuilder, Port

__version__ = "0.1.0"

__all__ = ["load", "from_torch", "from_onnx", "from_wolfram", "save_wlnet", "save_wxf", "plot_check", "check_many", "to_wl_association", "Net", "Layer",
           "Port", "NetBuilder", "WlbridgeError", "FormatError", "ConversionError", "UnsupportedLayerError",
           "ExpressionTooLargeError", "OptionError", "EngineNotFoundError", "EngineError", "CheckFailedError"]


@keywords
def from_torch(module, input_shape=None, *, input_names: Sequence[str] | None = None, dtype=None) -> Net:
    """Convert a ``torch.nn.Module`` (eval mode) or a ``torch.export.ExportedProgram`` (its own shapes).

    ``input_shape``: the input's shape without the batch axis (a list of shapes for several inputs);
    ``input_names``: the names of the input scalars; ``dtype``: the input's torch dtype (default: the
    module's floating parameters' dtype; integer-input nets such as ``nn.Embedding`` take ``torch.long``)."""
    from .frontends.torch import from_torch as convert

    return convert(module, input_shape, input_names=input_names, dtype=dtype)


@keywords
def from_onnx(model, *, input_names: Sequence[str] | None = None, batch_axis: bool | str = "auto",
              constants: Mapping[str, Any] | None = None, origin: bool = True,
              sequence_length: int | None = None) -> Net:
    """Convert an ONNX model (path, serialized bytes or ``onnx.ModelProto``).

    ``batch_axis``: whether the first axis is the batch axis (True, False or "auto"); ``constants``: graph
    inputs frozen to given arrays; ``origin=False``: no onnxruntime session for ``check``;
    ``sequence_length``: fixes symbolic input axes after the first (a sequence model's time axis)."""
    from .frontends.onnx import from_onnx as convert

    return convert(model, input_names=input_names, batch_axis=batch_axis, constants=constants, origin=origin,
                   sequence_length=sequence_length)


@keywords
def from_wolfram(session, expr: str, *, input_names: Sequence[str] | None = None, precision: str = "Real32") -> Net:
    """Convert a NetChain/NetGraph living in a Wolfram kernel (``expr``: symbol name or WL code);
    ``precision``: the ``WorkingPrecision`` the original net runs in for ``check`` ("Real32" or "Real64")."""
    from .frontends.wolfram.kernel import from_wolfram as convert

    return convert(session, expr, input_names=input_names, precision=precision)


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


@keywords
def check_many(models, *, jobs: int | None = None, cluster: str | None = None, on_report=None, simplify: bool = False,
               model_timeout: float | str | None = "auto", engine: str = "auto", samples: int = 64, seed: int = 0,
               code: str | None = None, form: str = "compact", call: str = "list", inputs=None,
               rtol: float | None = None, atol: float | None = None, mathics_budget: float = 10.0, sympy: bool = True,
               exact: bool = False, timeout: float | None = 120.0, progress: bool | None = False,
               max_size: int | None = None, kernel: str | None = None, startup_timeout: float | None = None,
               digits: int | str | None = None, box=None, arrays: str = "files", per_layer: bool = False,
               input_names: Sequence[str] | None = None, sequence_length: int | None = None) -> list:
    """Check many models (files, folders, globs, Nets) at once: one :class:`CheckReport` per model, in order.

    ``jobs``: models at once (None: one per core; 1: in this process); ``cluster``: None/'local', 'ray' (a
    local Ray instance) or 'ray://HOST:PORT'; ``on_report(report)``: called as each model finishes;
    ``simplify``: fold BatchNorm etc. first; ``model_timeout``: each model's task is stopped after this many
    seconds ('auto': 4 x ``timeout``; None: no limit); ``input_names``, ``sequence_length``: :func:`load`'s, for
    the model files. The other keywords are :meth:`Net.check`'s, the same for every model. See
    :mod:`wlbridge.check.campaign`.
    """
    from .check.campaign import check_many as run

    options = dict(engine=engine, samples=samples, seed=seed, code=code, form=form, call=call, inputs=inputs,
                   rtol=rtol, atol=atol, mathics_budget=mathics_budget, sympy=sympy, exact=exact, timeout=timeout,
                   progress=progress, max_size=max_size, kernel=kernel, startup_timeout=startup_timeout,
                   digits=digits, box=box, arrays=arrays, per_layer=per_layer)
    load = {k: v for k, v in (("input_names", input_names), ("sequence_length", sequence_length)) if v is not None}
    return run(models, jobs=jobs, cluster=cluster, on_report=on_report, simplify=simplify, model_timeout=model_timeout,
               load=load, **options)


@keywords
def plot_check(net: Net, code: str | None = None, *, call: str = "list", engine: str = "auto", points: int = 200,
               span: float = 3.0, seed: int = 0, outputs: int = 4, figsize=(8, 6)):
    """The net and its formula (``code``, else the compact WL) at ``points`` inputs along a random line of
    half-length ``span``, and the error on a log scale (a matplotlib ``Figure``); see :mod:`wlbridge.plot`."""
    from .plot import plot_check as plot

    return plot(net, code, call=call, engine=engine, points=points, span=span, seed=seed, outputs=outputs,
                figsize=figsize)


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


@keywords
def load(path, *, input_names: Sequence[str] | None = None, sequence_length: int | None = None) -> Net:
    """Read a model file, chosen by its content: ``.wlnet``, ``.wxf``, ``.onnx`` or ``.pt2``.

    ``input_names``: the names of the input scalars; ``sequence_length``: fixes a sequence model's
    variable time axis (``.wlnet``, ``.wxf``, ``.onnx``; a ``.pt2`` program has its own shapes)."""
    kind = sniff(path)
    options = {"input_names": input_names}
    if sequence_length is not None:
        if kind == "pt2":
            raise OptionError(f"{path}: sequence_length applies to .wlnet, .wxf and .onnx files; a .pt2 "
                              "program has fixed shapes (export it with the length you want)")
        options["sequence_length"] = sequence_length
    return _reader(kind)(path, **options)  # each reader turns unforeseen errors into FormatErrors


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
