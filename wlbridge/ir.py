"""The one intermediate representation: a flat, topologically ordered list of layers over named values.

>>> import numpy as np
>>> b = NetBuilder("example")
>>> x = b.input("x", (3,))
>>> h = b.layer("linear", [x], params={"weight": np.ones((2, 3)), "bias": np.zeros(2)}, path="0")
>>> y = b.layer("elementwise", [h], attrs={"fn": "sigmoid"}, path="1")
>>> net = b.build([y])
>>> print(net)
example(x: f64[3]) -> h2: f64[2]
  h1: f64[2] = linear(x; weight=f64[2,3], bias=f64[2])  # 0
  h2: f64[2] = elementwise[fn=sigmoid](h1)  # 1
>>> net.input_names
['x1', 'x2', 'x3']
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import ConversionError
from .ops import OPS

Shape = tuple[int, ...]

_DT = {"float16": "f16", "float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32",
       "uint8": "u8", "bfloat16": "bf16"}


def _dt(dtype) -> str:
    return _DT.get(np.dtype(dtype).name, np.dtype(dtype).name)


def type_str(shape: Sequence[int], dtype) -> str:
    """Short type text: ``type_str((16, 8), 'float32') == 'f32[16,8]'``."""
    return f"{_dt(dtype)}[{','.join(map(str, shape))}]"


@dataclass(frozen=True)
class Port:
    """An input of the net: a value name, its shape without the batch axis and its dtype."""

    name: str
    shape: Shape
    dtype: str = "float64"

    @property
    def size(self) -> int:
        """The number of scalars in one sample of this port."""
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class Layer:
    """One op application: ``output = op[attrs](*inputs; params)``; ``path`` says where it came from."""

    op: str
    inputs: tuple[str, ...]
    output: str
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""

    def __str__(self) -> str:
        attrs = ", ".join(f"{k}={_fmt_attr(v)}" for k, v in self.attrs.items() if v is not None and v != {})
        params = ", ".join(f"{k}={type_str(v.shape, v.dtype)}" for k, v in self.params.items() if v is not None)
        args = ", ".join(self.inputs) + ("; " if self.inputs and params else "") + params
        return f"{self.op}{'[' + attrs + ']' if attrs else ''}({args})"

    @property
    def param_count(self) -> int:
        """The number of weight scalars of this layer."""
        return sum(int(v.size) for v in self.params.values() if v is not None)


def _fmt_attr(v) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_fmt_attr(x)}" for k, x in v.items()) + "}"
    if isinstance(v, float):
        return repr(v)
    return str(v)


@dataclass(frozen=True)
class Origin:
    """The source net itself, when it can still be run: used by ``check`` as one more evaluator.

    ``evaluate`` takes a batch of inputs (one array per input port, batch axis first) and returns
    the batch of outputs (one array per output).
    """

    name: str
    evaluate: Callable[..., Sequence[np.ndarray]]
    dtype: str = "float32"


@dataclass(frozen=True, eq=False)
class Net:
    """A converted net. Build it with :class:`NetBuilder`; shapes are inferred and checked."""

    inputs: tuple[Port, ...]
    outputs: tuple[str, ...]
    layers: tuple[Layer, ...]
    input_names: tuple[str, ...] = ()
    name: str = "net"
    origin: Origin | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)  # e.g. class labels, encoder notes, source file
    shapes: Mapping[str, Shape] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        from .shapes import infer_shapes

        object.__setattr__(self, "shapes", infer_shapes(self))
        n = sum(p.size for p in self.inputs)
        names = tuple(self.input_names) or tuple(f"x{i + 1}" for i in range(n))
        if len(names) != n:
            raise ConversionError(f"{self.name}: {len(names)} input names given for {n} input scalars")
        if len(set(names)) != len(names):
            raise ConversionError(f"{self.name}: input names are not unique: {list(names)}")
        object.__setattr__(self, "input_names", list(names))

    # ---- structure -------------------------------------------------------------------------
    @property
    def input_shape(self) -> Shape:
        """The shape of the first input port (without the batch axis)."""
        return self.inputs[0].shape

    @property
    def output_shape(self) -> Shape:
        """The shape of the first output (without the batch axis)."""
        return self.shapes[self.outputs[0]]

    @property
    def output_shapes(self) -> list[Shape]:
        """The shape of every output, in order (without the batch axis)."""
        return [self.shapes[o] for o in self.outputs]

    @property
    def param_count(self) -> int:
        """The number of weight scalars in the whole net."""
        return sum(layer.param_count for layer in self.layers)

    @property
    def dtype(self) -> np.dtype:
        """The widest floating dtype among the weights (float32 if there are none); constants the front
        end made (an encoder's mean image) count only when the net has no other weights."""
        def floats(layers):
            return [v.dtype for layer in layers for v in layer.params.values()
                    if v is not None and np.issubdtype(v.dtype, np.floating)]

        dts = floats(la for la in self.layers if la.op != "constant") or floats(self.layers)
        return max(dts, key=lambda d: d.itemsize) if dts else np.dtype("float32")

    def with_input_names(self, names: Sequence[str]) -> "Net":
        """A copy of the net whose input scalars are named ``names`` (one per scalar)."""
        return dataclasses.replace(self, input_names=tuple(names))

    def __str__(self) -> str:
        ins = ", ".join(f"{p.name}: {type_str(p.shape, p.dtype)}" for p in self.inputs)
        dt = self.dtype
        outs = ", ".join(f"{o}: {type_str(self.shapes[o], dt)}" for o in self.outputs)
        lines = [f"{self.name}({ins}) -> {outs}"]
        for layer in self.layers:
            tail = f"  # {layer.path}" if layer.path else ""
            lines.append(f"  {layer.output}: {type_str(self.shapes[layer.output], dt)} = {layer}{tail}")
        return "\n".join(lines)

    # ---- evaluation and emission (thin wrappers over the modules that do the work) ----------
    def __call__(self, *xs):
        """Evaluate the numpy float64 reference on one input or a batch (batch axis first)."""
        from .reference import evaluate

        return evaluate(self, *xs)

    def to_sympy(self, form: str = "compact", **settings):
        """sympy expressions of the net (``form='compact'`` or ``'expanded'``); see :func:`wlbridge.emit.sympy.to_sympy`."""
        from .emit.sympy import to_sympy

        return to_sympy(self, form=form, **settings)

    def to_wl(self, form: str = "compact", call: str = "list", **settings) -> str:
        """WL ``Function[...]`` code of the net; see :func:`wlbridge.emit.wl.to_wl`."""
        from .emit.wl import to_wl

        return to_wl(self, form=form, call=call, **settings)

    def to_latex(self, **settings) -> str:
        """LaTeX equations of the net; see :func:`wlbridge.emit.latex.to_latex`."""
        from .emit.latex import to_latex

        return to_latex(self, **settings)

    def to_python(self, **settings) -> str:
        """Self-contained numpy source of the net; see :func:`wlbridge.emit.python.to_python`."""
        from .emit.python import to_python

        return to_python(self, **settings)

    def check(self, engine: str = "auto", samples: int = 64, seed: int = 0, code: str | None = None, **settings):
        """Evaluate the emitted code in WL engines against the numpy reference; see :func:`wlbridge.check.roundtrip.check`."""
        from .check.roundtrip import check

        return check(self, engine=engine, samples=samples, seed=seed, code=code, **settings)


class NetBuilder:
    """Front ends build nets through this: fresh value names, one call per layer.

    Value names are ``h1, h2, ...`` unless given; ``path`` records where a layer came from.
    """

    def __init__(self, name: str = "net"):
        self.name = name
        self._inputs: list[Port] = []
        self._layers: list[Layer] = []
        self._names: set[str] = set()
        self._counter = 0

    def input(self, name: str, shape: Sequence[int], dtype="float64") -> str:
        """Add an input port (shape without the batch axis); returns its value name."""
        self._claim(name)
        self._inputs.append(Port(name, tuple(int(d) for d in shape), np.dtype(dtype).name))
        return name

    def layer(self, op: str, inputs: Sequence[str], *, params: Mapping[str, np.ndarray] | None = None,
              attrs: Mapping[str, Any] | None = None, path: str = "", name: str | None = None) -> str:
        """Append one layer of IR op ``op`` reading ``inputs``; returns the new value name."""
        if op not in OPS:
            raise ConversionError(f"{self.name}: {path or '<root>'}: unknown IR op {op!r}")
        for v in inputs:
            if v not in self._names:
                raise ConversionError(f"{self.name}: {path or '<root>'} ({op}): input {v!r} is not defined yet")
        if name is None:
            self._counter += 1
            name = f"h{self._counter}"
            while name in self._names:
                self._counter += 1
                name = f"h{self._counter}"
        self._claim(name)
        clean = {k: np.asarray(v) for k, v in (params or {}).items() if v is not None}
        self._layers.append(Layer(op, tuple(inputs), name, clean, dict(attrs or {}), path))
        return name

    def constant(self, value, path: str = "") -> str:
        """Append a ``constant`` layer holding ``value``; returns its value name."""
        return self.layer("constant", [], params={"value": np.asarray(value)}, path=path)

    def build(self, outputs: Sequence[str], *, input_names: Sequence[str] | None = None,
              origin: Origin | None = None, meta: Mapping[str, Any] | None = None) -> Net:
        """The finished :class:`Net` with these outputs (shapes are inferred and checked here)."""
        for o in outputs:
            if o not in self._names:
                raise ConversionError(f"{self.name}: output {o!r} is not defined")
        return Net(tuple(self._inputs), tuple(outputs), tuple(self._layers), tuple(input_names or ()),
                   self.name, origin, dict(meta or {}))

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ConversionError(f"{self.name}: value name {name!r} defined twice")
        self._names.add(name)
