"""The Mathics3 cost model: estimated seconds per sample of a net's compact code, by layer.

``check`` skips Mathics3 when one sample is hopeless by this model (past twice its limit) and
shows its estimate on the progress bar; the samples it runs are planned from the measured first
sample (:mod:`wlbridge.check.plan`), not from this model.
"""
from __future__ import annotations

import math
import os

# Mathics3 speed per sample. Dense layers fitted (non-negative least squares, relative error) to the
# nets of tests/cases.py and two MLPs (8-32-32-4: 0.39 s, 64-128-128-10: 8.5 s per sample); conv,
# pooling, batch norm and elementwise ops on feature maps to single-layer nets and the eigenjs7-shaped
# CNN of benchmarks/bench_cnn.py (54 s per sample; predicted 49 s). All on this 2-core machine at a
# load average of ~7 (an idle machine is faster); predictions within 0.5x-2x of measured.
# Sequence layers (2026-12-06, load ~7, tests/test_mathics_cost.py's table): recurrent layers
# (lstm/gru/rnn) per time step pay their gates' multiply-adds at the slower small-Dot rate, their
# sigmoid / tanh elements, and a step overhead; an embedding pays for its table (the weights sit in the
# Function body, which Mathics3 walks per sample); a dense layer on a sequence ({T, I} input) runs at
# the small-Dot rate; batch matmuls, rank-3 transposes and layer norms per element.
MATHICS_MADDS_PER_S = 3000.0  # Dot on machine reals (linear, matmul)
MATHICS_CONV_MADDS_PER_S = 2000.0  # im2col + Dot (measured 1600-2800 on single conv layers)
MATHICS_SLOW_FN_S = 0.006  # per element: Exp, Log, LogisticSigmoid, softmax and friends (4.6-14 ms)
MATHICS_FAST_FN_S = 0.0005  # per element: Tanh, Erf, Ramp, Max, Power, ... (Listable on an array)
MATHICS_AFFINE_S = 0.0008  # per element of batch norm
MATHICS_POOL_IN_S = 0.00028  # per input element of a pooling layer (the strided views)
MATHICS_POOL_WINDOW_S = 0.00015  # per output element per window position (Max / Plus over the views)
MATHICS_MOVE_S = 0.0002  # per input + output element of another weight-free op (reshape, add, ...)
MATHICS_SEQ_MADDS_PER_S = 1800.0  # Dot in recurrent steps and dense layers on sequences
MATHICS_STEP_S = 0.1  # per time step of a recurrent layer (its Fold / With per step)
MATHICS_TABLE_PER_S = 3000.0  # numbers of an embedding table, per sample
MATHICS_TRANSPOSE_S = 0.001  # per input + output element of a rank > 2 transpose (Table)
MATHICS_NORM_S = 0.0025  # per element of a layer norm
MATHICS_LAYER_S = 0.01  # per layer (a With binding) per sample
MATHICS_SAMPLE_S = 0.01  # Apply + Function per sample
MATHICS_PARSE_CHARS_PER_S = 2.0e5
MATHICS_FORMULA_CHARS_PER_S = 1.5e4  # evaluating an expanded formula, per sample (cnn: 249 KB in 18 s)
_SLOW_FNS = {"sigmoid", "silu", "exp", "log", "softplus", "mish", "logsigmoid", "elu", "selu", "celu"}


def mathics_cost(code: str, net=None, compact: bool = False) -> tuple[float, float]:
    """Estimated Mathics3 seconds ``(once, per_sample)`` for evaluating ``code`` (``net``'s WL form).

    Parsing is paid once; each sample pays for the multiply-adds and elementwise functions of the
    net (or, for a formula with no net given, for the length of the formula), whichever is larger.
    ``compact=True`` says ``code`` is the net's compact form (its length is weights, evaluated by
    ``Dot``, not formula), so only the net's layers count per sample.

    >>> once, each = mathics_cost("x" * 10000)
    >>> round(once, 2), round(each, 2)
    (0.05, 0.67)
    """
    once = len(code) / MATHICS_PARSE_CHARS_PER_S
    each = 0.0 if compact and net is not None else len(code) / MATHICS_FORMULA_CHARS_PER_S
    if net is not None:
        each = max(each, MATHICS_SAMPLE_S + sum(_layer_seconds(net, layer) for layer in net.layers))
    return once, each


_GATES = {"lstm": (4, 3, 2), "gru": (3, 2, 1), "rnn": (1, 0, 1)}  # (gate blocks, sigmoids, tanhs) per unit


def _layer_seconds(net, layer) -> float:
    size = math.prod(net.shapes[layer.output])
    in_shapes = [tuple(net.shapes.get(i, ())) for i in layer.inputs]
    in_size = sum(math.prod(s) for s in in_shapes)
    w = layer.params.get("weight")
    fn = layer.attrs.get("fn")
    if layer.op in _GATES:
        return _recurrent_seconds(layer, in_shapes[0])
    if layer.op == "embedding" and w is not None:
        seconds = w.size / MATHICS_TABLE_PER_S + size * MATHICS_MOVE_S
    elif layer.op in ("linear", "matmul") and w is not None and len(in_shapes[0]) > 1:
        seconds = w.size * size / max(w.shape[0], 1) / MATHICS_SEQ_MADDS_PER_S
    elif layer.op == "batch_matmul":
        seconds = size * (in_shapes[0][-1] if in_shapes[0] else 1) / MATHICS_MADDS_PER_S
    elif layer.op == "transpose" and len(in_shapes[0]) > 2:
        seconds = (size + in_size) * MATHICS_TRANSPOSE_S
    elif layer.op == "layernorm":
        seconds = size * MATHICS_NORM_S
    elif layer.op == "conv" and w is not None:
        seconds = w.size * math.prod(net.shapes[layer.output][1:]) / MATHICS_CONV_MADDS_PER_S
    elif w is not None and layer.op != "embedding":
        seconds = w.size * size / max(w.shape[0], 1) / MATHICS_MADDS_PER_S
    elif layer.op == "pool":
        seconds = in_size * MATHICS_POOL_IN_S + size * math.prod(layer.attrs["kernel"]) * MATHICS_POOL_WINDOW_S
    elif layer.op == "batchnorm":
        seconds = size * MATHICS_AFFINE_S
    elif layer.op == "elementwise" and fn is not None:
        seconds = 0.0  # the function's own cost, below
    else:
        seconds = (size + in_size) * MATHICS_MOVE_S
    seconds += MATHICS_LAYER_S
    if layer.op in ("softmax", "log_softmax") or fn in _SLOW_FNS:
        seconds += size * MATHICS_SLOW_FN_S
    elif fn is not None:
        seconds += size * MATHICS_FAST_FN_S
    return seconds


def _recurrent_seconds(layer, in_shape) -> float:
    steps, width = (in_shape[0], in_shape[-1]) if len(in_shape) > 1 else (1, in_shape[0] if in_shape else 1)
    h = int(layer.attrs.get("hidden") or layer.params["weight_hh"].shape[-1])
    gates, sigmoids, tanhs = _GATES[layer.op]
    per_step = (gates * h * (width + h) / MATHICS_SEQ_MADDS_PER_S + sigmoids * h * MATHICS_SLOW_FN_S
                + tanhs * h * MATHICS_FAST_FN_S + MATHICS_STEP_S)
    return MATHICS_LAYER_S + steps * per_step


CALIBRATION_LOAD_PER_CORE = 3.5  # the load the rates above were measured at (load average ~7 on 2 cores)


def load_factor() -> float:
    """How much slower than the calibration this machine runs now, from its load average per core
    (0.25 to 3; 1 where the load average is not known).

    >>> 0.25 <= load_factor() <= 3.0
    True
    """
    try:
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return 1.0
    return min(3.0, max(0.25, per_core / CALIBRATION_LOAD_PER_CORE))


def mathics_samples(code: str, net, samples: int, budget: float, compact: bool = False) -> int:
    """How many of ``samples`` fit in ``budget`` seconds of Mathics3 time (at least one).

    >>> mathics_samples("x" * 1000, None, 64, 10.0), mathics_samples("x" * 10**6, None, 64, 10.0)
    (64, 1)
    """
    once, each = mathics_cost(code, net, compact)
    return max(1, min(samples, int((budget - once) / max(each, 1e-9))))


