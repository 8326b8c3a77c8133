"""Small valid model files to mutate, made in-process (no files are kept in the repo).

Real ``.wlnet`` files from ``../shared/fixtures/wlnet`` (or ``$WLBRIDGE_SHARED``) are added when present.
"""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import wlbridge as wb

FORMATS = ("wlnet", "wxf", "onnx", "pt2")


def _f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def ir_nets() -> list:
    """A few IR nets covering chains, conv/pool/batchnorm, graphs and softmax."""
    b = wb.NetBuilder("conv")
    x = b.input("x", (2, 4, 4))
    h = b.layer("conv", [x], params={"weight": _f32(2, 2, 2, 2), "bias": _f32(2, seed=1)})
    h = b.layer("batchnorm", [h], params={k: np.abs(_f32(2, seed=i)) + 0.5 for i, k in
                                          enumerate(["scale", "bias", "mean", "var"])})
    h = b.layer("elementwise", [h], attrs={"fn": "leaky_relu"})
    h = b.layer("linear", [b.layer("flatten", [h])], params={"weight": _f32(3, 18, seed=5), "bias": _f32(3, seed=6)})
    conv = b.build([b.layer("softmax", [h])])

    b = wb.NetBuilder("mlp")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": _f32(4, 3), "bias": _f32(4, seed=1)})
    h = b.layer("elementwise", [h], attrs={"fn": "tanh"})
    mlp = b.build([b.layer("linear", [h], params={"weight": _f32(2, 4, seed=2), "bias": _f32(2, seed=3)})])

    b = wb.NetBuilder("graph")
    x = b.input("x", (3,))
    h = b.layer("linear", [x], params={"weight": _f32(3, 3), "bias": _f32(3, seed=1)})
    h = b.layer("elementwise", [h], attrs={"fn": "sigmoid"})
    graph = b.build([b.layer("add", [h, x])])
    return [conv, mlp, graph]


def shared_fixtures(max_bytes: int = 100_000) -> list[bytes]:
    roots = [Path(os.environ["WLBRIDGE_SHARED"])] if os.environ.get("WLBRIDGE_SHARED") else []
    roots.append(Path(__file__).resolve().parents[2] / ".." / "shared")
    for r in roots:
        d = r / "fixtures" / "wlnet"
        if d.is_dir():
            return [p.read_bytes() for p in sorted(d.glob("*.wlnet")) if p.stat().st_size <= max_bytes]
    return []


def _via_file(save, net, suffix) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"seed{suffix}"
        save(net, p)
        return p.read_bytes()


def wlnet_seeds() -> list[bytes]:
    return [_via_file(wb.save_wlnet, n, ".wlnet") for n in ir_nets()] + shared_fixtures()


def wxf_seeds() -> list[bytes]:
    return [_via_file(wb.save_wxf, n, ".wxf") for n in ir_nets()]


def onnx_seeds() -> list[bytes]:
    """Hand-made graphs (onnx.helper) and a small torch export (``dynamo=False``) when torch is there."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper, numpy_helper

    def model(nodes, inputs, outputs, inits, opset=17):
        g = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()

    vi = helper.make_tensor_value_info
    out = [model([helper.make_node("Gemm", ["x", "W", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
                 [vi("x", T.FLOAT, ["N", 3])], [vi("y", T.FLOAT, ["N", 2])], {"W": _f32(2, 3), "b": _f32(2)}),
           model([helper.make_node("Conv", ["x", "W", "b"], ["c"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
                  helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                  helper.make_node("Reshape", ["p", "s"], ["r"]),
                  helper.make_node("MatMul", ["r", "M"], ["m"]), helper.make_node("Softmax", ["m"], ["y"], axis=-1)],
                 [vi("x", T.FLOAT, [1, 1, 4, 4])], [vi("y", T.FLOAT, [1, 2])],
                 {"W": _f32(2, 1, 2, 2), "b": _f32(2), "s": np.array([1, 8], np.int64), "M": _f32(8, 2)}),
           model([helper.make_node("Mul", ["x", "k"], ["a"]), helper.make_node("Sigmoid", ["a"], ["s"]),
                  helper.make_node("Add", ["s", "x"], ["y"])],
                 [vi("x", T.FLOAT, ["N", 3])], [vi("y", T.FLOAT, ["N", 3])], {"k": _f32(3)})]
    try:
        import torch
    except ImportError:
        return out
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ELU(), torch.nn.Linear(4, 2)).eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, and small and fast
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.zeros(2, 3),), buf, dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})
    onnx.load_from_string(buf.getvalue())  # a valid model
    return out + [buf.getvalue()]


def pt2_seeds() -> list[bytes]:
    import torch

    torch.manual_seed(0)
    mods = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)),
            torch.nn.Sequential(torch.nn.Conv2d(1, 2, 2), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(18, 2),
                                torch.nn.Softmax(-1))]
    shapes = [(3,), (1, 4, 4)]
    out = []
    for m, s in zip(mods, shapes):
        ep = torch.export.export(m.eval(), (torch.zeros(2, *s),))
        buf = io.BytesIO()
        torch.export.save(ep, buf)
        out.append(buf.getvalue())
    return out


def seeds(fmt: str) -> list[bytes]:
    return {"wlnet": wlnet_seeds, "wxf": wxf_seeds, "onnx": onnx_seeds, "pt2": pt2_seeds}[fmt]()
