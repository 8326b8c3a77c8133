"""Small nets written twice, as a Wolfram plain net association and as wlbridge IR, for the paclet tests.

:class:`Chain` appends layers to both at once: the association (Python dicts / ``Expr`` trees made by :func:`Call` /
numpy arrays, printed as WL text by :func:`wl_text`) follows docs/wlnet-format.md section 3, the IR is the
numpy reference's input. Until the wlfiles writer (``assoc_from_net``) is on main these hand-written
associations are what the WL side is tested on; afterwards tests/cases.py is used as well.
"""
from __future__ import annotations

import math

import numpy as np

from wlbridge.frontends.wolfram.assoctext import wl_text as assoc_wl_text
from wlbridge.frontends.wolfram.expr import Expr, Symbol
from wlbridge.ir import NetBuilder
from wlbridge.paclet import wl_real


def Call(head: str, args=()):
    """``head[args...]`` as the wlfiles reader's own expression tree (printed by :func:`wl_text`)."""
    return Expr(Symbol(head), args)


def sym(name):
    return Symbol(name)


def T(*dims):
    return Call("TensorT", (list(dims), sym("RealT")))


def wl_text(v, number=wl_real) -> str:
    """WL InputForm text of a plain association (numbers exact): the one printer of to_wl_association."""
    return assoc_wl_text(v, number)


class Chain:
    """A chain built as WL association and IR side by side."""

    def __init__(self, dims, name="net"):
        self.dims = tuple(dims)
        self.in_dims = tuple(dims)
        self.nodes = {}
        self.b = NetBuilder(name)
        self.v = self.b.input("x", self.dims)

    def _node(self, type_, out_dims, arrays=None, params=None):
        self.nodes[str(len(self.nodes) + 1)] = {
            "Type": type_, "Arrays": arrays or {}, "Parameters": params or {},
            "Inputs": {"Input": T(*self.dims)}, "Outputs": {"Output": T(*out_dims)}}
        self.dims = tuple(out_dims)
        return self

    def linear(self, w, b=None):
        w = np.asarray(w, dtype=np.float64)
        x = self.v if len(self.dims) == 1 else self.b.layer("flatten", [self.v])
        self.v = self.b.layer("linear", [x], params={"weight": w, "bias": b})
        return self._node("Linear", (w.shape[0],), {"Weights": w, "Biases": b},
                          {"OutputDimensions": [w.shape[0]], "$OutputSize": w.shape[0]})

    def act(self, wl_fn, ir_fn, fn_params=None):
        """``wl_fn``: a symbol name (``"Tanh"``), a named string (``"'SELU'"``) or a Call."""
        f = wl_fn[1:-1] if isinstance(wl_fn, str) and wl_fn.startswith("'") else \
            sym(wl_fn) if isinstance(wl_fn, str) else wl_fn
        if isinstance(ir_fn, tuple):
            self.v = self.b.layer("scalar_fn", [self.v], attrs={"body": ir_fn})
        else:
            self.v = self.b.layer("elementwise", [self.v], attrs={"fn": ir_fn, "fn_params": fn_params or {}})
        return self._node("Elementwise", self.dims, params={"Function": Call("ValidatedParameter", (f,))})

    def softmax(self, level=None):
        self.v = self.b.layer("softmax", [self.v], attrs={"axis": -1 if level is None else level - 1})
        return self._node("Softmax", self.dims, params={} if level is None else {"Level": level})

    def batchnorm(self, rng, eps=1e-3):
        c = self.dims[0]
        s, bias, m = rng.normal(size=c), rng.normal(size=c), rng.normal(size=c)
        var = rng.uniform(0.5, 2.0, size=c)
        self.v = self.b.layer("batchnorm", [self.v], params={"scale": s, "bias": bias, "mean": m, "var": var},
                              attrs={"eps": eps, "axis": 0})
        return self._node("BatchNormalization", self.dims,
                          {"Scaling": s, "Biases": bias, "MovingMean": m, "MovingVariance": var},
                          {"Epsilon": eps, "Momentum": 0.9, "$Channels": c})

    def flatten(self):
        self.v = self.b.layer("flatten", [self.v])
        return self._node("Flatten", (math.prod(self.dims),), params={"Level": sym("Infinity")})

    def reshape(self, dims):
        self.v = self.b.layer("reshape", [self.v], attrs={"shape": tuple(dims)})
        return self._node("Reshape", dims, params={"Dimensions": Call("ValidatedParameter", (list(dims),))})

    def dropout(self):
        return self._node("Dropout", self.dims, params={"DropoutProbability": 0.5, "Method": "Dropout"})

    def conv(self, w, b=None, stride=1, pad=0, dilation=1, groups=1):
        w = np.asarray(w, dtype=np.float64)
        n = w.ndim - 2
        st, dl = (stride,) * n, (dilation,) * n
        pd = ((pad, pad),) * n
        self.v = self.b.layer("conv", [self.v], params={"weight": w, "bias": b},
                              attrs={"stride": st, "dilation": dl, "padding": pd, "groups": groups})
        out = self.b.build([self.v]).shapes[self.v]
        return self._node("Convolution", out, {"Weights": w, "Biases": b},
                          {"OutputChannels": w.shape[0], "KernelSize": list(w.shape[2:]), "Stride": list(st),
                           "PaddingSize": [list(p) for p in pd], "Dilation": list(dl), "ChannelGroups": groups,
                           "Dimensionality": n, "Interleaving": sym("False")})

    def pool(self, kind, kernel, stride=1, pad=0):
        n = len(self.dims) - 1
        ks, st, pd = (kernel,) * n, (stride,) * n, ((pad, pad),) * n
        self.v = self.b.layer("pool", [self.v], attrs={"kind": {"Max": "max", "Mean": "avg", "Total": "sum"}[kind],
                                                       "kernel": ks, "stride": st, "padding": pd,
                                                       "ceil_mode": False, "count_include_pad": True})
        out = self.b.build([self.v]).shapes[self.v]
        return self._node("Pooling", out, params={
            "KernelSize": list(ks), "Stride": list(st), "PaddingSize": [list(p) for p in pd], "Function": sym(kind),
            "Dimensionality": n, "Interleaving": sym("False"), "$MXPoolingConvention": "valid"})

    def function_layer(self, wl_sym, ir_fn):
        """A 13.x ``"Function"``-type node wrapping an Elementwise net."""
        inner = {"Type": "Elementwise", "Arrays": {},
                 "Parameters": {"Function": Call("ValidatedParameter", (sym(wl_sym),))},
                 "Inputs": {"Input": T(*self.dims)}, "Outputs": {"Output": T(*self.dims)}}
        self.v = self.b.layer("elementwise", [self.v], attrs={"fn": ir_fn})
        return self._node("Function", self.dims, params={"Function": sym(wl_sym), "Net": inner,
                                                         "$InputNames": ["Input"], "$OutputNames": ["Output"]})

    def assoc(self, edges=True, decoder=None):
        a = {"Type": "Chain", "Nodes": self.nodes}
        if edges:
            prev = Call("NetPath", ("Inputs", "Input"))
            es = []
            for k in self.nodes:
                es.append(Call("Rule", (Call("NetPath", ("Nodes", k, "Inputs", "Input")), prev)))
                prev = Call("NetPath", ("Nodes", k, "Outputs", "Output"))
            es.append(Call("Rule", (Call("NetPath", ("Outputs", "Output")), prev)))
            a["Edges"] = es
        out = T(*self.dims)
        if decoder == "Scalar":
            out = Call("NetDecoder", ("Scalar", {"$Version": "13.0.3"}, out))
        a["Inputs"] = {"Input": T(*self.in_dims)}
        a["Outputs"] = {"Output": out}
        return a

    def net(self, decoder=None):
        v = self.v
        if decoder == "Scalar":
            v = self.b.layer("reshape", [v], attrs={"shape": ()})
        return self.b.build([v])


def NP(*parts):
    return Call("NetPath", tuple(parts))


def edge(dst, src):
    return Call("Rule", (NP(*dst), NP(*src)))
