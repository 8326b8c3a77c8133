"""The source model as an evaluator for ``check``: onnxruntime, or ``onnx.reference`` when
onnxruntime cannot run the model (e.g. some opset-6 models) or is not installed."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...errors import FormatError
from ...ir import Net, Origin


def runner(proto, source: str = "onnx", probe: dict | None = None) -> tuple[str, Callable[[dict], list]]:
    """(name, run(feeds) -> outputs) for the model, preferring onnxruntime (when it also runs the
    ``probe`` feeds); a FormatError when neither onnxruntime nor the ONNX reference accepts it."""
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        if probe is not None:  # it loads ops it has no kernel for at run time (float64 GRU, LSTM, RNN)
            quiet = ort.RunOptions()
            quiet.log_severity_level = 4  # its failure is expected here: not printed on stderr
            sess.run(None, probe, quiet)
        return "onnxruntime", lambda feeds: sess.run(None, feeds)
    except Exception as e:  # not installed, or cannot load this model: the ONNX reference runs everything
        ort_error = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(proto)
    except Exception as e:  # noqa: BLE001 - the model is invalid for both runtimes
        raise FormatError(f"{source}: neither onnxruntime ({ort_error}) nor onnx.reference "
                          f"({type(e).__name__}: {str(e)[:200]}) can run the model") from None
    return "onnx.reference", lambda feeds: ev.run(None, feeds)


def make_origin(proto, net: Net, source: str = "onnx") -> Origin | None:
    """An :class:`Origin` running ``proto`` on batches of IR inputs (batch axis first); None when
    neither onnxruntime nor the ONNX reference can load the model (e.g. a float64 ``RNN``)."""
    import onnx

    inits = {t.name for t in proto.graph.initializer}
    graph_inputs = [i for i in proto.graph.input if i.name not in inits]
    dtypes = [onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type) for i in graph_inputs]
    first = [d for d in graph_inputs[0].type.tensor_type.shape.dim] if graph_inputs else []
    batched = bool(first) and len(first) == len(net.inputs[0].shape) + 1
    chunk = first[0].dim_value if batched and first[0].HasField("dim_value") else None
    probe = None
    doubles = np.dtype("float64") in dtypes or any(t.data_type == onnx.TensorProto.DOUBLE for t in proto.graph.initializer)
    if doubles and len(graph_inputs) == len(net.inputs):  # onnxruntime's gaps are float64 (inputs or weights)
        probe = {i.name: np.zeros(((chunk or 1),) * batched + tuple(p.shape), dtype=d)
                 for i, p, d in zip(graph_inputs, net.inputs, dtypes)}
    try:
        name, run = runner(proto, source, probe)
    except FormatError:  # the converted net is still usable, just not compared with its source
        return None

    def evaluate(*xs):
        xs = [np.asarray(x, dtype=d) for x, d in zip(xs, dtypes)]
        n = len(xs[0])
        if batched and chunk is None:
            return [np.asarray(y) for y in run({i.name: x for i, x in zip(graph_inputs, xs)})]
        step = chunk or 1
        if batched and n % step:  # a fixed batch size: pad the last chunk by repeating, then cut
            xs = [np.concatenate([x, np.repeat(x[-1:], step - n % step, axis=0)]) for x in xs]
        parts = []
        for s in range(0, len(xs[0]), step):
            feed = [x[s:s + step] if batched else x[s] for x in xs]
            parts.append(run({i.name: x for i, x in zip(graph_inputs, feed)}))
        join = np.concatenate if batched else np.stack
        return [join([np.asarray(p[k]) for p in parts])[:n] for k in range(len(parts[0]))]

    dtype = np.dtype(dtypes[0]).name if dtypes else "float32"
    return Origin(name, evaluate, dtype)
