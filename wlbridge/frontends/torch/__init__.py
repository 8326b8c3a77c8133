"""PyTorch front end: ``nn.Module`` (via ``torch.fx``) and ``.pt2`` files (``torch.export``) to the IR.

>>> import torch, wlbridge as wb
>>> torch.manual_seed(0) and None
>>> m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Sigmoid()).eval()
>>> net = wb.from_torch(m, (3,))
>>> print(net)
Sequential(x: f32[3]) -> h2: f32[2]
  h1: f32[2] = linear(x; weight=f32[2,3], bias=f32[2])  # 0
  h2: f32[2] = elementwise[fn=sigmoid](h1)  # 1

Modules are converted with their inference (``eval()``) behaviour, whatever their ``training``
flag: Dropout is the identity, BatchNorm uses its running statistics, RReLU its mean slope. When
a Dropout / BatchNorm / RReLU submodule is in training mode a ``UserWarning`` says so; the module
itself is never modified (conversion works on a deep copy, which ``Net.origin`` also runs).
"""
from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    from ...errors import ConversionError

    raise ConversionError("torch front end: PyTorch is not installed (pip install 'wlbridge[torch]')") from e

from .convert import from_torch
from .exported import from_exported_program, load_pt2

__all__ = ["from_torch", "load_pt2", "from_exported_program", "supported"]


def supported() -> dict[str, list[str]]:
    """What converts: ``torch.nn`` module classes, and function / tensor-method / aten op names.

    >>> s = supported()
    >>> "Conv2d" in s["modules"] and "ELU" in s["modules"] and "leaky_relu" in s["functions"]
    True
    """
    from .context import RULES
    from .elementwise import FUNCTION_ROWS
    from .modules import CLASS_ROWS, MODULE_RULES

    return {"modules": sorted({*MODULE_RULES, *CLASS_ROWS}), "functions": sorted({*RULES, *FUNCTION_ROWS})}
