"""``.pt2`` files (``torch.export.save``) and ``torch.export`` programs: convert the aten graph.

Parameters, buffers and constants come from the program's state dict / constants via its graph
signature; the user inputs' shapes (minus the batch axis) from the placeholders' fake tensors.
A program exported with a static batch size bakes that size into its reshapes; it is read as the
batch axis. A program of static batch size 1 that mixes the batch axis with the others (attention)
is read as one whole sample (``sample.py``).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...errors import ConversionError, FormatError, UnsupportedLayerError, WlbridgeError
from ...ir import Net, Origin
from ..batchaxis import leading_one_as_batch
from ..guard import guarded, regular_file
from . import attention, elementwise, layers, recurrent, sample, shape_ops, tensor_ops  # noqa: F401 - register the rules
from .context import Ctx, first_line, to_numpy
from .graph import run_graph

_KIND = torch.export.graph_signature.InputKind


@guarded(".pt2")
def load_pt2(path, *, input_names: Sequence[str] | None = None) -> Net:
    """Read a ``torch.export.save`` archive and convert its program (``wb.load`` dispatches here)."""
    p = Path(path)
    regular_file(p)
    _not_pickled(p)
    try:
        with _quiet():
            ep = torch.export.load(str(p))
    except Exception as e:  # noqa: BLE001 - torch raises many types for foreign zips
        raise FormatError(f"{p}: not a torch.export (.pt2) archive ({first_line(e)}); {EXPORT_HOWTO}") from None
    try:
        return from_exported_program(ep, input_names=input_names, name=None, source=str(p))
    except WlbridgeError as e:
        raise _naming_file(e, p) from None


EXPORT_HOWTO = "torch.export.save(torch.export.export(module, (x,)), 'model.pt2') makes a file wlbridge reads"


def _not_pickled(p: Path) -> None:
    """Refuse, before torch reads it, a zip that is a ``torch.save`` checkpoint or a TorchScript archive (by its
    member names): both are pickles, and unpickling runs code from the file."""
    import zipfile

    try:
        with zipfile.ZipFile(p) as z:
            names = {n.split("/", 1)[-1] for n in z.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # torch.export.load says what is wrong with it
    if "archive_format" in names or "data.pkl" not in names:
        return
    if any(n.startswith("code/") for n in names):
        raise FormatError(f"{p}: a TorchScript archive (torch.jit.save), not a torch.export (.pt2) archive; "
                          "wlbridge converts the original nn.Module (wlbridge.from_torch) or a .pt2: " + EXPORT_HOWTO
                          + "; from the archive alone (if you trust it): torch.onnx.export(torch.jit.load(path), (x,), "
                          "'model.onnx', dynamo=False)")
    raise FormatError(f"{p}: a torch.save checkpoint, not a torch.export (.pt2) archive; wlbridge does not unpickle "
                      "it (unpickling runs code from the file): load the module yourself from a file you trust and "
                      "use wlbridge.from_torch, or " + EXPORT_HOWTO)


def _naming_file(e: WlbridgeError, path: Path) -> WlbridgeError:
    """``e`` with the file named after its ``torch:`` prefix (the module paths alone do not say which file)."""
    msg = str(e)
    if str(path) in msg:
        return e
    msg = f"torch: {path}: {msg[len('torch: '):]}" if msg.startswith("torch: ") else f"{path}: {msg}"
    try:
        out = UnsupportedLayerError(e.source, e.items) if isinstance(e, UnsupportedLayerError) else type(e)(msg)
    except TypeError:  # an error type built from something else than a message
        return e
    out.args = (msg,)
    return out


def export_module(model, shapes, dtype) -> torch.export.ExportedProgram:
    """``torch.export`` with a dynamic batch axis when the module allows it, else a static batch of 2."""
    args = tuple(torch.zeros((2, *s), dtype=dtype) for s in shapes)
    batch = torch.export.Dim("batch", min=1)
    with _quiet():
        return _export(model, args, shapes, batch)


def _export(model, args, shapes, batch):
    try:
        return torch.export.export(model, args, dynamic_shapes=tuple({0: batch} for _ in shapes))
    except Exception as e:  # noqa: BLE001
        if "batch" not in str(e):
            raise  # not about the batch axis (e.g. data-dependent control flow): a static export fails too
        return torch.export.export(model, args)  # the module specializes the batch size: export it as is


@contextlib.contextmanager
def _quiet():
    """Silence logging (torch.export logs failed guards and whole graphs before it raises)."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def from_exported_program(ep, *, input_names=None, origin: Origin | None = None, name: str | None = None,
                          source: str = "") -> Net:
    """Convert a ``torch.export.ExportedProgram`` (aten graph)."""
    gm = ep.graph_module
    user = [n for n in gm.graph.nodes if n.op == "placeholder" and _spec(ep, n.name).kind == _KIND.USER_INPUT]
    if not user:
        raise ConversionError(f"torch: {source or 'exported program'} has no tensor inputs")
    vals = [n.meta.get("val") for n in user]
    if any(not isinstance(v, torch.Tensor) or v.ndim < 1 for v in vals):
        raise ConversionError(f"torch: {source or 'exported program'}: every input must be a tensor with a "
                              "leading batch axis")
    batch = vals[0].shape[0]
    batch_size = batch if isinstance(batch, int) else None
    if origin is None:
        origin = Origin("torch", _evaluate_program(ep, batch_size, [v.dtype for v in vals]),
                        str(vals[0].dtype).replace("torch.", ""))
    name = name or _root_name(gm, source)
    try:
        return _convert(ep, user, vals, Ctx(name, vals[0].dtype, batch_size=batch_size), input_names, origin)
    except UnsupportedLayerError as first:
        if not sample.mixes_batch(first, batch_size):
            if sample.mixes_batch(first, 1):  # what a static batch of 1 would convert as one sample
                first.args = (f"{first}; {MIXED_BATCH_HINT}",)
            raise
        ctx = Ctx(name, vals[0].dtype, batch_size=batch_size, nb=0)
        ctx.notes.append(sample.NOTE)
        whole = sample.retry(lambda: _convert(ep, user, vals, ctx, input_names, sample.per_sample(origin)), first)
        return leading_one_as_batch(whole, origin)


MIXED_BATCH_HINT = ("the program mixes the batch axis with the others (e.g. torch's attention in aten): export it "
                    "with a static batch of 1, torch.export.export(model, (x[:1],)), or give the module to from_torch")


def _convert(ep, user, vals, ctx: Ctx, input_names, origin: Origin) -> Net:
    """The program's graph as a net: the user inputs without their first ``ctx.nb`` axes."""
    from .convert import finish

    gm = ep.graph_module
    ctx.aten = True
    values = {n.name: ctx.input(n.name, tuple(_static(d, n.name) for d in v.shape[ctx.nb:]))
              for n, v in zip(user, vals)}

    def placeholder(node):
        return values[node.name] if node.name in values else _state(ep, node.name)

    outs = run_graph(ctx, gm.graph, placeholder, root=gm, path_of=_path)
    keep = [i for i, s in enumerate(ep.graph_signature.output_specs)
            if s.kind == torch.export.graph_signature.OutputKind.USER_OUTPUT]
    outs = [outs[i] for i in keep] if len(outs) == len(ep.graph_signature.output_specs) else outs
    return finish(ctx, outs, input_names, origin)


def _spec(ep, name: str):
    for s in ep.graph_signature.input_specs:
        if getattr(s.arg, "name", None) == name:
            return s
    raise ConversionError(f"torch: exported program has no input spec for placeholder {name!r}")


def _state(ep, name: str):
    spec = _spec(ep, name)
    if spec.kind in (_KIND.PARAMETER, _KIND.BUFFER) and spec.target in ep.state_dict:
        return ep.state_dict[spec.target].detach()
    if spec.target in ep.constants:
        c = ep.constants[spec.target]
        return c.detach() if isinstance(c, torch.Tensor) else c
    raise ConversionError(f"torch: exported program input {name!r} ({spec.kind.name}) has no value")


def _static(d, name: str) -> int:
    if not isinstance(d, int):
        raise ConversionError(f"torch: input {name!r} has a dynamic non-batch dimension {d}")
    return d


def _path(node) -> str:
    """The innermost module's qualified name (``features.2``), else the node name."""
    stack = node.meta.get("nn_module_stack") or {}
    paths = [p for p, _ in stack.values() if p]
    return paths[-1] if paths else node.name


def _root_name(gm, source: str) -> str:
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack") or {}
        for path, cls in stack.values():
            if not path:
                return str(getattr(cls, "__name__", cls)).rsplit(".", 1)[-1]
    return Path(source).stem if source else "net"


def _evaluate_program(ep, batch_size: int | None, dtypes):
    """``Net.origin.evaluate`` for a program: inputs cast to the placeholders' dtypes (float64 check
    batches into a float32 program), chunked when its batch size is static."""
    module = ep.module()

    def run(ts):
        with torch.no_grad():
            out = module(*ts)
        out = out if isinstance(out, (list, tuple)) else [out]
        return [to_numpy(o) for o in out]

    def evaluate(*xs):
        ts = [torch.tensor(np.asarray(x), dtype=dt) for x, dt in zip(xs, dtypes)]  # copies, in the program's dtypes
        n = ts[0].shape[0]
        if batch_size is None or n == batch_size:
            return run(ts)
        chunks = []
        for i in range(0, n, batch_size):
            part = [t[i:i + batch_size] for t in ts]
            k = part[0].shape[0]
            pad = [torch.cat([p, p[:1].expand(batch_size - k, *p.shape[1:])]) if k < batch_size else p for p in part]
            chunks.append([o[:k] for o in run(pad)])
        return [np.concatenate(c) for c in zip(*chunks)]
    return evaluate
