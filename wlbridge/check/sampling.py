"""Seeded test inputs for a net: one batch, one array per input port, batch axis first.

Real inputs are standard normal (float64); a port that feeds an ``embedding`` layer (or has an
integer dtype) gets integer indices below the vocabulary size; a port that a computed slice start is read
from (``dynamic_slice``) gets positions uniform in [0, dim - size + 1), so that the window lies inside the
axis, where the source net's output has its fixed shape.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (3,))
>>> net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> [a.shape for a in sample_inputs(net, 4, seed=0)]
[(4, 3)]
>>> bool(np.all(sample_inputs(net, 4, seed=0)[0] == sample_inputs(net, 4, seed=0)[0]))
True
"""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError


def index_range(net, port) -> int | None:
    """The number of valid indices for ``port`` if it feeds an embedding (or is integer-typed)."""
    sizes = [int(layer.params["weight"].shape[0]) for layer in net.layers
             if layer.op == "embedding" and port.name in layer.inputs]
    if sizes:
        return min(sizes)
    if np.issubdtype(np.dtype(port.dtype), np.integer):
        return 10
    return None


def position_range(net, port) -> int | None:
    """``dim - size + 1`` (the smallest over the windows) if a ``dynamic_slice`` start depends on ``port``."""
    producers = {layer.output: layer for layer in net.layers}

    def reaches(name, seen):
        if name == port.name:
            return True
        la = producers.get(name)
        if la is None or name in seen:
            return False
        seen.add(name)
        return any(reaches(i, seen) for i in la.inputs)

    ranges = [net.shapes[la.inputs[0]][a] - size + 1 for la in net.layers if la.op == "dynamic_slice"
              for a, size, s in zip(la.attrs["axes"], la.attrs["sizes"], la.inputs[1:]) if reaches(s, set())]
    return min(ranges) if ranges else None


def sample_inputs(net, samples: int = 64, seed: int = 0, box=None) -> list[np.ndarray]:
    """``samples`` seeded inputs for every port of ``net`` (normal reals, or indices for embeddings); with
    ``box=(lower, upper)`` (scalars or one bound per input scalar) the reals are uniform in the box."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
    rng = np.random.default_rng(seed)
    bounds = None
    if box is not None:
        from ..analysis.piecewise import parse_box

        bounds = parse_box(net, box, "check")
    out, k = [], 0
    for port in net.inputs:
        shape = (samples, *port.shape)
        vocab, places = index_range(net, port), position_range(net, port)
        if vocab:
            out.append(rng.integers(0, vocab, size=shape))
        elif places:
            out.append(rng.uniform(0, places, size=shape))
        elif bounds is not None:
            lo, hi = (b[k:k + port.size].reshape(port.shape) for b in bounds)
            out.append(lo + (hi - lo) * rng.random(shape))
        else:
            out.append(rng.standard_normal(shape))
        k += port.size
    return out


def as_batch(net, inputs) -> list[np.ndarray]:
    """Given inputs -> one array per port with a batch axis (a single sample gets one)."""
    if isinstance(inputs, np.ndarray) or (len(net.inputs) == 1 and not _is_list_of_arrays(inputs)):
        inputs = [inputs]
    if len(inputs) != len(net.inputs):
        raise ConversionError(f"{net.name}: {len(inputs)} input arrays given for {len(net.inputs)} input ports")
    out = []
    for port, x in zip(net.inputs, inputs):
        x = np.asarray(x)
        if x.shape == tuple(port.shape):
            x = x[None]
        if x.shape[1:] != tuple(port.shape) or len(x) == 0:
            raise ConversionError(f"{net.name}: input {port.name} must have shape [batch, "
                                  f"{', '.join(map(str, port.shape))}], got {list(x.shape)}")
        out.append(x if np.issubdtype(x.dtype, np.integer) else x.astype(np.float64))
    if len({len(x) for x in out}) != 1:
        raise ConversionError(f"{net.name}: input batches differ in size: {[len(x) for x in out]}")
    return out


def _is_list_of_arrays(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(a, np.ndarray) for a in v)
