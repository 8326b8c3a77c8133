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

from ._options import keywords
from .errors import ConversionError
from .ops import DATA_DEPENDENT, OPS
from . import limits

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
    """An input of the net: a value name, its shape without the batch axis and its dtype (``None`` when the
    source declares none: then it is read as float64)."""

    name: str
    shape: Shape
    dtype: str | None = "float64"

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

    def __repr__(self) -> str:  # never the weight arrays (a notebook shows repr)
        return f"<Layer {self.output} = {self}{'  # ' + self.path if self.path else ''}>"

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
        """The widest floating dtype among the weights; without weights, that of the inputs as the source
        declares them, else of the constants the front end made (an encoder's mean image), else float32.

        >>> def relu_net(dtype=None):
        ...     b = NetBuilder(); x = b.input("x", (2,), dtype)
        ...     return b.build([b.layer("elementwise", [x], attrs={"fn": "relu"})])
        >>> relu_net("float64").dtype, relu_net().dtype
        (dtype('float64'), dtype('float32'))
        """
        def floats(dtypes):
            return [np.dtype(d) for d in dtypes if d is not None and np.issubdtype(np.dtype(d), np.floating)]

        def weights(layers):
            return floats(v.dtype for layer in layers for v in layer.params.values() if v is not None)

        dts = (weights(la for la in self.layers if la.op != "constant") or floats(p.dtype for p in self.inputs)
               or weights(self.layers))
        return max(dts, key=lambda d: d.itemsize) if dts else np.dtype("float32")

    def with_input_names(self, names: Sequence[str]) -> "Net":
        """A copy of the net whose input scalars are named ``names`` (one per scalar)."""
        return dataclasses.replace(self, input_names=tuple(names))

    def __str__(self) -> str:
        from .dtypes import value_dtypes

        dt, dts = self.dtype, value_dtypes(self)  # integer values (argmax, casts) as such, floats as the net's
        ins = ", ".join(f"{p.name}: {type_str(p.shape, p.dtype or dt)}" for p in self.inputs)  # undeclared: the net's
        outs = ", ".join(f"{o}: {type_str(self.shapes[o], dts[o])}" for o in self.outputs)
        lines = [f"{self.name}({ins}) -> {outs}"]
        for layer in self.layers:
            tail = f"  # {layer.path}" if layer.path else ""
            lines.append(f"  {layer.output}: {type_str(self.shapes[layer.output], dts[layer.output])} = {layer}{tail}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Net {self.name}: {len(self.layers)} layers, {self.param_count:,} parameters>"

    # ---- notebook display (wlbridge/display.py): layers, shapes, parameter counts; never weights --------
    def _repr_html_(self) -> str:
        from .display import net_html

        return net_html(self)

    def _repr_markdown_(self) -> str:
        from .display import net_markdown

        return net_markdown(self)

    def _repr_latex_(self) -> str | None:
        from .display import net_latex

        return net_latex(self)

    # ---- passes and analyses (IR -> IR; IR -> mathematics) ----------------------------------
    def simplify(self) -> "Net":
        """An equal net with identities, BatchNorms, affine chains, constants and dead layers folded away;
        see :func:`wlbridge.passes.simplify.simplify`."""
        from .passes.simplify import simplify

        return simplify(self)

    def jacobian(self) -> "Net":
        """A net computing d outputs / d inputs (torch's layout and kink conventions);
        see :func:`wlbridge.passes.jacobian.jacobian`."""
        from .passes.jacobian import jacobian

        return jacobian(self)

    @keywords
    def linear_regions(self, lower=None, upper=None, *, max_regions: int = 10_000, tol: float = 1e-9,
                       minimal: bool = False, verify: int = 1000, jobs: int | None = None, cluster: str | None = None,
                       progress: bool | None = None):
        """The affine pieces of a piecewise-linear net over the box ``lower <= x <= upper`` (scalars broadcast;
        None, None: all of R^n), searched in this process or split over ``jobs`` workers / a Ray ``cluster``;
        see :func:`wlbridge.analysis.regions.linear_regions`."""
        from .analysis.regions import linear_regions

        return linear_regions(self, lower, upper, max_regions=max_regions, tol=tol, minimal=minimal, verify=verify,
                              jobs=jobs, cluster=cluster, progress=progress)

    # ---- evaluation and emission (thin wrappers over the modules that do the work) ----------
    def __call__(self, *xs):
        """Evaluate the numpy float64 reference on one input or a batch (batch axis first)."""
        from .reference import evaluate

        return evaluate(self, *xs)

    @keywords
    def to_wl(self, form: str = "compact", call: str = "list", *, exact: bool = False, digits: int | str | None = None,
              box=None, minimal: bool = False, weights: str = "numeric", activations: str = "numeric",
              max_size: int | None = None) -> str:
        """WL ``Function[...]`` code of the net.

        ``form``: "compact" (one ``With`` per layer), "expanded" (one formula per output), "piecewise"
        (one ``Piecewise`` per output over the linear regions in ``box``, required; ``minimal``: shortest
        conditions; ``Indeterminate`` outside the box), "tree" (their decision tree, each condition once; see
        :mod:`wlbridge.analysis.tree`); ``call``: ``f[{x1, ..}]`` ("list") or
        ``f[x1, ..]`` ("sequence"); ``exact``: rational weights; ``digits``: weights rounded to that many
        significant digits ("float32": float32's shortest); ``weights``/``activations="symbolic"``: named
        weights and activations; ``max_size``: the expanded form's size limit. See :class:`EmitOptions`.

        >>> b = NetBuilder(); x = b.input("x", (2,))
        >>> b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})]).to_wl(call="sequence")
        'Function[{x1, x2}, With[{x = {x1, x2}}, Tanh[x]]]'
        """
        return self._emit("wl", form=form, call=call, exact=exact, digits=digits, box=box, minimal=minimal,
                          weights=weights, activations=activations, max_size=max_size)

    @keywords
    def to_sympy(self, form: str = "compact", *, exact: bool = False, digits: int | str | None = None, box=None,
                 minimal: bool = False, weights: str = "numeric", activations: str = "numeric",
                 max_size: int | None = None):
        """sympy expressions of the net: "compact" assignments, an "expanded" Matrix of outputs in the input
        symbols, or "piecewise" / "tree" over ``box`` (``nan`` outside it); the other options as in :meth:`to_wl`."""
        return self._emit("sympy", form=form, exact=exact, digits=digits, box=box, minimal=minimal, weights=weights,
                          activations=activations, max_size=max_size)

    @keywords
    def to_latex(self, form: str = "compact", *, digits: int | str | None = None, box=None, minimal: bool = False,
                 weights: str = "numeric", activations: str = "numeric", max_size: int | None = None) -> str:
        """LaTeX of the net: "compact" (an ``aligned`` block, one equation per layer), "expanded" (one formula
        per output), "piecewise" / "tree" (``cases`` over ``box``); the other options as in :meth:`to_wl`."""
        return self._emit("latex", form=form, digits=digits, box=box, minimal=minimal, weights=weights,
                          activations=activations, max_size=max_size)

    @keywords
    def to_python(self, name: str = "f", *, digits: int | str | None = None) -> str:
        """Self-contained numpy source ``def name(x): ...`` (one input or a batch); ``digits``: rounded weights.
        See :func:`wlbridge.emit.python.to_python`."""
        return self._emit("python", name=name, digits=digits)

    @keywords
    def to_c(self, name: str = "wlbridge_net", *, digits: int | str | None = None):
        """A self-contained C99 function ``void name(const double *x, double *y)`` and its header (double
        precision); ``digits``: rounded weights. See :func:`wlbridge.emit.c.to_c`."""
        return self._emit("c", name=name, digits=digits)

    def _emit(self, target: str, name: str | None = None, **options):
        from .emit.dispatch import emit
        from .emit.options import EmitOptions

        return emit(self, target, EmitOptions(**options), name=name)

    @keywords
    def check(self, engine="auto", samples: int = 64, seed: int = 0, code: str | None = None, *,
              form: str = "compact", call: str = "list", inputs=None, rtol: float | None = None,
              atol: float | None = None, raise_on_failure: bool = False, mathics_budget: float = 10.0,
              sympy: bool = True, exact: bool = False, timeout: float | None = 120.0, on_row=None,
              progress: bool | None = None, max_size: int | None = None, kernel: str | None = None,
              startup_timeout: float | None = None, digits: int | str | None = None, box=None,
              arrays: str = "files", per_layer: bool = False):
        """Evaluate the emitted code (or ``code``) in WL engines, sympy and the source net against the numpy
        reference; the options are :func:`wlbridge.check.roundtrip.check`'s (see there)."""
        from .check.roundtrip import check

        return check(self, engine=engine, samples=samples, seed=seed, code=code, form=form, call=call, inputs=inputs,
                     rtol=rtol, atol=atol, raise_on_failure=raise_on_failure, mathics_budget=mathics_budget,
                     sympy=sympy, exact=exact, timeout=timeout, on_row=on_row, progress=progress, max_size=max_size,
                     kernel=kernel, startup_timeout=startup_timeout, digits=digits, box=box, arrays=arrays,
                     per_layer=per_layer)


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

    def input(self, name: str, shape: Sequence[int], dtype=None) -> str:
        """Add an input port (shape without the batch axis; ``dtype`` as the source declares it, if it
        does); returns its value name."""
        self._claim(name)
        self._inputs.append(Port(name, tuple(int(d) for d in shape), None if dtype is None else np.dtype(dtype).name))
        return name

    def layer(self, op: str, inputs: Sequence[str], *, params: Mapping[str, np.ndarray] | None = None,
              attrs: Mapping[str, Any] | None = None, path: str = "", name: str | None = None) -> str:
        """Append one layer of IR op ``op`` reading ``inputs``; returns the new value name."""
        if op not in OPS:
            raise ConversionError(f"{self.name}: {path or '<root>'}: unknown IR op {op!r}")
        if len(self._layers) >= limits.current().max_layers:
            raise ConversionError(f"{self.name}: {path or '<root>'} ({op}): more than {len(self._layers)} IR layers "
                                  "(an operator unrolled over a long sequence?); raise WLBRIDGE_MAX_LAYERS to allow it")
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
        attrs = dict(attrs or {})
        if op == "take":  # one form: an int (drops the axis) or a list of ints (keeps it)
            idx = attrs.get("indices")
            attrs["indices"] = int(idx) if np.ndim(idx) == 0 else [int(i) for i in np.ravel(idx)]
        self._layers.append(Layer(op, tuple(inputs), name, clean, attrs, path))
        return name

    @property
    def inputs(self) -> tuple[Port, ...]:
        """The input ports declared so far."""
        return tuple(self._inputs)

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers appended so far, in order."""
        return tuple(self._layers)

    def constant(self, value, path: str = "") -> str:
        """Append a ``constant`` layer holding ``value``; returns its value name."""
        return self.layer("constant", [], params={"value": np.asarray(value)}, path=path)

    def build(self, outputs: Sequence[str], *, input_names: Sequence[str] | None = None,
              origin: Origin | None = None, meta: Mapping[str, Any] | None = None) -> Net:
        """The finished :class:`Net` with these outputs (shapes are inferred and checked here)."""
        for o in outputs:
            if o not in self._names:
                raise ConversionError(f"{self.name}: output {o!r} is not defined")
        meta = dict(meta or {})
        listed = list(meta.get("data_dependent") or [])  # a front end's own entries ("path (op): what") first
        dynamic = [f"{la.path or la.output} ({la.op}): a slice start computed from the input values"
                   for la in self._layers if la.op in DATA_DEPENDENT
                   and not any(e.startswith(f"{la.path or la.output} (") for e in listed)]
        if dynamic:  # `wlbridge info` shows it; sympy, regions and the Jacobian refuse these layers
            meta["data_dependent"] = listed + dynamic
        return Net(tuple(self._inputs), tuple(outputs), tuple(self._layers), tuple(input_names or ()),
                   self.name, origin, meta)

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ConversionError(f"{self.name}: value name {name!r} defined twice")
        self._names.add(name)
