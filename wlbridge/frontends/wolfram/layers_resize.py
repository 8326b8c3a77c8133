"""Wolfram ``ResizeLayer`` (``"Type" -> "Resize"``) -> IR ``take`` / ``mul`` / ``add`` via :mod:`..resample`.

Layout and semantics, with where each fact comes from:

- Parameters [CODE: the public ``Resize.m`` layer definitions, 11.x and 12.x]: ``"Specification"``
  (``ValidatedParameter[{d1, ...}]``, each ``n``, ``Scaled[r]`` or ``All``), ``"Resampling"``
  (``"Linear"`` default, ``"Nearest"``), ``"Dimensionality"``, hidden ``"$Channels"`` (``"Channels"``
  before 11.3.1), ``"$InputSize"``, ``"$OutputSize"``. Output size per axis: ``n``, ``Ceiling[N[r] size]``
  for ``Scaled[r]``, the input size for ``All``. Ports are channels first (``ChannelT``).
  ``"Interleaving" -> True`` (channels last) and ``"Scheme"`` (``Automatic`` | ``"Point"`` | ``"Bin"``,
  "as in ``ArrayResample``"; Automatic is ``"Point"`` for Linear, ``"Bin"`` for Nearest) [DOC: the
  ResizeLayer reference page]; they are not in the definition files found.
- ``"Linear"`` [CODE]: the definition lowers it to MXNet ``SpatialTransformer`` with the identity affine
  ``{1, 0, 0, 0, 1, 0}`` and ``target_shape`` = the output size (a 1-D input is reshaped to height 1,
  broadcast to 3 rows, resampled and its middle row taken, which changes nothing). MXNet's
  ``spatial_transformer-inl.h`` builds the target grid ``-1 + k 2/(out - 1)`` and its bilinear sampler
  reads source ``(g + 1)(in - 1)/2``: source coordinate ``k (in - 1)/(out - 1)``, i.e. **align_corners**,
  interpolated separably per axis (= ONNX ``align_corners``, torch ``align_corners=True``). ``"Point"``
  sampling [DOC] is the same convention.
- ``"Nearest"`` [CODE]: only ``Scaled[k]`` with integer ``k`` is accepted by WL; it lowers to MXNet
  ``UpSampling`` ``sample_type -> "nearest"``, which repeats each element ``k`` times: ``out[i] = in[floor(i/k)]``
  (= ONNX ``asymmetric`` + ``floor``; also the bin-centre rule of ``"Bin"``, since ``(i + 1/2)/k`` lies in
  input bin ``floor(i/k)``). [UNVERIFIED] per-axis different factors (the 11.x/12.x writer passes the first
  one to ``UpSampling``; they are read here as each axis's own factor).
- Other methods or schemes (``"Linear"`` with ``"Bin"``, ``"Nearest"`` with ``"Point"``) are reported
  unsupported: their edge handling is not established.
"""
from __future__ import annotations

import math
from fractions import Fraction

from .. import resample
from .expr import head_name, is_symbol
from .inputform import to_inputform
from .layers import _in_dims, _one, _out_dims, _params, _unwrap, rule
from .layers_misc import _emitter
from .netassoc import _Unsupported


def _ratio(r):
    """The number inside ``Scaled[r]`` (int, real or ``Rational[p, q]``), or None."""
    if isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0:
        return r
    if head_name(r) == "Rational" and len(r.args) == 2 and all(isinstance(a, int) for a in r.args) and r.args[1]:
        return Fraction(*r.args) if Fraction(*r.args) > 0 else None
    return None


def _target(d, n: int):
    """(output size, integer scale or None) of one spec entry on an axis of size n, or None if malformed."""
    if isinstance(d, int) and not isinstance(d, bool) and d > 0:
        return d, None
    if is_symbol(d, "All"):
        return n, None
    r = _ratio(d.args[0]) if head_name(d) == "Scaled" and len(d.args) == 1 else None
    if r is None:
        return None
    return math.ceil(float(r) * n), (r if isinstance(r, int) else None)  # WL: Ceiling[N[r] n]


@rule("Resize")
def _resize(ctx, node, path, inputs):
    p = _params(node)
    spec = _unwrap(p.get("Specification"))
    dims, out = _in_dims(ctx, node, path), _out_dims(ctx, node, path)
    if not isinstance(spec, list) or not spec or len(dims) != len(spec) + 1:
        ctx.fail(path, f"Specification {to_inputform(spec)[:40]} does not fit input dimensions {list(dims)}")
    method = _unwrap(p.get("Resampling", "Linear"))
    method = "Linear" if is_symbol(method, "Automatic") else method
    scheme = _unwrap(p.get("Scheme", None))
    scheme = None if scheme is None or is_symbol(scheme, "Automatic") else scheme
    interleaved = is_symbol(p.get("Interleaving"), "True")
    axes = list(range(len(spec))) if interleaved else list(range(1, len(spec) + 1))
    targets = [_target(d, dims[a]) for d, a in zip(spec, axes)]
    if None in targets:
        ctx.fail(path, f"bad Specification {to_inputform(spec)[:60]} (each n, Scaled[r] or All)")
    sizes, scales = list(dims), [1] * len(dims)
    for a, (size, k) in zip(axes, targets):
        sizes[a], scales[a] = size, k
    if tuple(sizes) != tuple(out):
        ctx.fail(path, f"Specification {to_inputform(spec)[:40]} gives {sizes}, the output port says {list(out)}")
    emit, V = _emitter(ctx, path)
    x = V(_one(ctx, node, path, inputs), dims)
    if method == "Linear" and scheme in (None, "Point"):
        return resample.resize(emit, x, sizes, None, "linear", "align_corners").name
    if method == "Nearest" and scheme in (None, "Bin"):
        if any(k is None for _, k in targets):
            raise _Unsupported("\"Nearest\" resampling needs Scaled[k] with an integer k on every axis")
        return resample.resize(emit, x, sizes, scales, "nearest", "asymmetric", "floor").name
    raise _Unsupported(f"Resampling -> {to_inputform(method)[:20]}, \"Scheme\" -> {to_inputform(scheme)[:20]} "
                       "(only \"Linear\" with \"Point\" sampling and \"Nearest\" with \"Bin\" sampling)")
