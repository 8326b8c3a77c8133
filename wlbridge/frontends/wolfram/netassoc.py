"""The net association (what ``NetChain[assoc, meta]`` holds) -> IR, shared by every Wolfram reader.

Containers (Chain, Graph, nested, named nodes), edges ``destination -> source``, port types and
NetEncoder/NetDecoder ports are handled here; one rule per layer ``"Type"`` lives in
:mod:`.layers`. Every unknown layer is collected into one :class:`UnsupportedLayerError`.

>>> import numpy as np
>>> from wlbridge.frontends.wolfram.expr import call
>>> T = lambda *d: call("TensorT", list(d), call("RealT").head)
>>> lin = {"Type": "Linear", "Arrays": {"Weights": np.ones((2, 3)), "Biases": None},
...        "Parameters": {"OutputDimensions": [2]}, "Inputs": {"Input": T(3)}, "Outputs": {"Output": T(2)}}
>>> net = net_from_assoc({"Type": "Chain", "Nodes": {"1": lin}, "Inputs": {"Input": T(3)},
...                       "Outputs": {"Output": T(2)}}, source="demo")
>>> print(net)
demo(x: f64[3]) -> h1: f64[2]
  h1: f64[2] = linear(x; weight=f64[2,3])  # Nodes/1
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ... import limits
from ...errors import ConversionError, FormatError, UnsupportedLayerError
from ...ir import Net, NetBuilder
from .expr import Symbol, head_name, is_symbol
from .inputform import to_inputform

SOURCE = "wolfram"


# what a layer rule raises on a node its checks did not foresee: reported as that layer's error
_RULE_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError,
                StopIteration, AssertionError)


class _Unsupported(Exception):
    """Raised inside a rule: this node cannot be converted (collected, not fatal at once)."""


@dataclass
class Ctx:
    """State of one conversion: the builder, the file's arrays, what went wrong so far."""

    source: str
    builder: NetBuilder
    arrays: dict | None = None
    unsupported: list = field(default_factory=list)
    declared: list = field(default_factory=list)  # (path, value, dims) from each layer's Outputs type
    meta: dict = field(default_factory=dict)
    sequence_length: int | None = None  # stands for every LengthVar ("Varying") dimension

    def fail(self, path: str, what: str):
        raise FormatError(f"{self.source}: {path or '<root>'}: {what}")

    def array(self, node: dict, name: str, path: str, required: bool = True):
        """The array ``node["Arrays"][name]`` (``ExportedArray[k]`` resolved), or None."""
        v = _get(node, "Arrays", {}).get(name) if isinstance(_get(node, "Arrays", {}), dict) else None
        if head_name(v) == "ExportedArray":
            k = v.args[0] if v.args else None
            if self.arrays is None or not isinstance(k, int) or k not in self.arrays:
                self.fail(path, f"array {name!r} refers to /Arrays/{k}, which the file does not hold")
            v = self.arrays[k]
        if v is None or is_symbol(v, "None"):
            if required:
                self.fail(path, f"layer has no {name!r} array")
            return None
        if not isinstance(v, np.ndarray) or not np.issubdtype(v.dtype, np.number):
            self.fail(path, f"array {name!r} is not a numeric array: {to_inputform(v)[:80] if not isinstance(v, np.ndarray) else v.dtype}")
        return v


def _get(d, key, default=None):
    return d.get(key, default) if isinstance(d, dict) else default


def net_from_assoc(assoc, *, source: str, arrays: dict | None = None, input_names=None,
                   metadata: dict | None = None, sequence_length: int | None = None) -> Net:
    """Convert a net association (``ExportedArray[k]`` -> ``arrays[k]``, or arrays inline) to a Net.

    ``sequence_length`` fixes the variable-length (``LengthVar``) dimensions of sequence nets."""
    from . import layers  # noqa: F401  (registers the layer rules)
    from .upgrade import upgrade

    if not isinstance(assoc, dict) or not isinstance(assoc.get("Type"), str):
        raise FormatError(f"{source}: the net is not an association with a \"Type\" (got {type(assoc).__name__})")
    assoc = upgrade(assoc, source)
    ctx = Ctx(source, NetBuilder(_net_name(source)), arrays, sequence_length=_seq_len(source, sequence_length))
    ctx.meta.update({"source": source, "format": "wolfram"})
    ctx.meta["wl_version"] = metadata.get("Version") if isinstance(metadata, dict) else None
    try:
        inputs = make_inputs(ctx, assoc)
        outs = convert_node(ctx, assoc, "", inputs)
        values = [finish_output(ctx, assoc, name, outs.get(name)) for name in _ports(ctx, assoc, "Outputs", "")]
        if ctx.unsupported:
            raise UnsupportedLayerError(f"{source}", ctx.unsupported)
        net = ctx.builder.build(values, input_names=input_names, meta=ctx.meta)
    except ConversionError as e:
        raise FormatError(f"{source}: {e}") from None
    except RecursionError:
        raise FormatError(f"{source}: the net is nested too deeply") from None
    check_declared(ctx, net)
    return net


def _seq_len(source: str, n) -> int | None:
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ConversionError(f"{source}: sequence_length must be a positive integer, got {n!r}")
    return n


def _net_name(source: str) -> str:
    stem = str(source).replace("\\", "/").rsplit("/", 1)[-1].split(".")[0]
    return "".join(c for c in stem if c.isalnum() or c == "_") or "net"


def _ports(ctx, node, key, path) -> list[str]:
    ports = _get(node, key)
    if not isinstance(ports, dict) or not all(isinstance(k, str) for k in ports):
        ctx.fail(path, f"{key!r} is not an association of named ports")
    return list(ports)


def _first_port(ctx, node, key, path) -> str:
    ports = _ports(ctx, node, key, path)
    if not ports:
        ctx.fail(path, f"{key!r} names no port")
    return ports[0]


def convert_node(ctx: Ctx, node, path: str, inputs: dict) -> dict:
    """Convert one node (layer or container); returns its output values by port name."""
    from .layers import PRECHECKS, RULES

    if not isinstance(node, dict):
        ctx.fail(path, "node is not an association")
    kind = node.get("Type")
    if not isinstance(kind, str):
        ctx.fail(path, f"layer \"Type\" is not a string: {to_inputform(kind)[:80]}")
    if kind in ("Chain", "Graph"):
        return convert_container(ctx, node, path, inputs)
    if kind == "Function":
        inner = _get(_get(node, "Parameters"), "Net")
        return convert_node(ctx, inner, _join(path, "Parameters/Net"), inputs)
    rule = RULES.get(kind)
    outs = _ports(ctx, node, "Outputs", path)
    if rule is None:
        ctx.unsupported.append((path, str(kind), "no rule for this layer type"))
        return dict.fromkeys(outs)
    try:
        if any(v is None for v in _flat(inputs.values())):  # fed by an unsupported layer: only check it
            PRECHECKS.get(kind, lambda *a: None)(ctx, node, path)
            return dict.fromkeys(outs)
        value = rule(ctx, node, path, inputs)
    except _Unsupported as e:
        ctx.unsupported.append((path, str(kind), str(e)))
        return dict.fromkeys(outs)
    except _RULE_ERRORS as e:
        ctx.fail(path, f"{kind} layer: invalid ({type(e).__name__}: {str(e)[:200]}); if Mathematica reads "
                       "this net, this is a bug in wlbridge, please report it")
    if len(outs) != 1:
        ctx.fail(path, f"{kind} layer with {len(outs)} outputs")
    dims = port_dims(ctx, node["Outputs"][outs[0]], path, decoded=False)
    ctx.declared.append((path, value, dims))
    return {outs[0]: value}


def _flat(values):
    for v in values:
        yield from (v if isinstance(v, list) else [v])


def _join(path: str, *parts) -> str:
    return "/".join([p for p in [path, *map(str, parts)] if p])


def convert_container(ctx: Ctx, node: dict, path: str, inputs: dict) -> dict:
    """Chain or Graph: convert nodes as soon as all their inputs are known (topological order)."""
    nodes = node.get("Nodes")
    if not isinstance(nodes, dict):
        ctx.fail(path, "container has no \"Nodes\" association")
    edges = _edges(ctx, node, path, list(nodes))
    done: dict[str, dict] = {}
    pending = list(nodes)
    while pending:
        progress = []
        for name in pending:
            sub = _join(path, "Nodes", name)
            ins = {p: _source(ctx, edges.get(("Nodes", name, "Inputs", p)), inputs, done, sub)
                   for p in _ports(ctx, nodes[name], "Inputs", sub)}
            if any(v is _PENDING for v in _flat(ins.values())):
                continue
            done[name] = convert_node(ctx, nodes[name], sub, ins)
            progress.append(name)
        if not progress:
            ctx.fail(path, f"nodes {pending[:5]} are never fed (cycle or missing edge)")
        pending = [n for n in pending if n not in progress]
    return {p: _source(ctx, edges.get(("Outputs", p)), inputs, done, path)
            for p in _ports(ctx, node, "Outputs", path)}


_PENDING = object()


def _netpath(ctx, x, path) -> tuple:
    if head_name(x) != "NetPath" or not all(isinstance(a, str) for a in x.args):
        ctx.fail(path, f"edge end is not a NetPath: {to_inputform(x)[:80]}")
    return tuple(x.args)


def _edges(ctx, node, path, names) -> dict:
    """``{destination NetPath: source NetPath or list of them}``; chains without edges are sequential."""
    raw = node.get("Edges")
    if raw is None and node.get("Type") == "Chain":
        return _chain_edges(ctx, node, path, names)
    if not isinstance(raw, list):
        ctx.fail(path, "\"Edges\" is not a list of rules")
    out = {}
    for e in raw:
        if head_name(e) not in ("Rule", "RuleDelayed") or len(e.args) != 2:
            ctx.fail(path, f"edge is not a rule: {to_inputform(e)[:80]}")
        dst, src = e.args
        out[_netpath(ctx, dst, path)] = [_netpath(ctx, s, path) for s in src] if isinstance(src, list) \
            else _netpath(ctx, src, path)
    return out


def _chain_edges(ctx, node, path, names) -> dict:
    out, prev = {}, ("Inputs", _first_port(ctx, node, "Inputs", path))
    for n in names:
        sub = node["Nodes"][n]
        out[("Nodes", n, "Inputs", _first_port(ctx, sub, "Inputs", _join(path, "Nodes", n)))] = prev
        prev = ("Nodes", n, "Outputs", _first_port(ctx, sub, "Outputs", _join(path, "Nodes", n)))
    out[("Outputs", _first_port(ctx, node, "Outputs", path))] = prev
    return out


def _source(ctx, src, inputs, done, path):
    if src is None:
        ctx.fail(path, "a port has no edge feeding it")
    if isinstance(src, list):
        return [_source(ctx, s, inputs, done, path) for s in src]
    if len(src) == 2 and src[0] == "Inputs":
        if src[1] not in inputs:
            ctx.fail(path, f"edge from unknown container input {src[1]!r}")
        return inputs[src[1]]
    if len(src) == 4 and src[0] == "Nodes" and src[2] == "Outputs":
        if src[1] not in done:
            return _PENDING
        if src[3] not in done[src[1]]:
            ctx.fail(path, f"edge from unknown port {'/'.join(src)}")
        return done[src[1]][src[3]]
    ctx.fail(path, f"edge from unsupported NetPath {list(src)}")


# ---- port types ----------------------------------------------------------------------------

def port_dims(ctx, t, path: str, decoded: bool = True) -> tuple[int, ...]:
    """Dimensions of a port type (TensorT, legacy ChannelT / TensorT[rank, dims], coders)."""
    h = head_name(t)
    if h in ("NetEncoder", "NetDecoder") and t.args:
        return port_dims(ctx, t.args[-1], path)
    if h == "TensorT" and len(t.args) == 2:
        dims, inner = t.args
        if isinstance(dims, int) and isinstance(inner, list):  # 11.0: TensorT[rank, dims]
            dims, inner = inner, Symbol("RealT")
        if not isinstance(dims, list):
            ctx.fail(path, f"bad tensor type {to_inputform(t)[:80]}")
        for d in dims:
            if head_name(d) == "LengthVar":
                if getattr(ctx, "sequence_length", None) is None:
                    raise _Unsupported("variable-length dimension (LengthVar): pass sequence_length=")
                d = ctx.sequence_length
            if not isinstance(d, int) or isinstance(d, bool) or not 0 <= d < 2**31:
                ctx.fail(path, f"bad dimension {to_inputform(d)[:40]} in {to_inputform(t)[:80]}")
        full = tuple(ctx.sequence_length if head_name(d) == "LengthVar" else d for d in dims) + port_dims(ctx, inner, path)
        cap = limits.current().max_port_elements
        if math.prod(full) > cap:
            ctx.fail(path, f"a port of {math.prod(full)} elements {list(full)}: more than {cap} "
                           "(WLBRIDGE_MAX_PORT_ELEMENTS)")
        return full
    if h == "ChannelT" and len(t.args) == 2 and isinstance(t.args[0], int):
        return (t.args[0],) + port_dims(ctx, t.args[1], path)
    if is_symbol(t, "RealT") or h in ("IndexIntegerT", "RealT") or is_symbol(t, "AtomT"):
        return ()
    ctx.fail(path, f"unsupported port type {to_inputform(t)[:80]}")


def is_index_type(t) -> bool:
    h = head_name(t)
    if h in ("NetEncoder", "NetDecoder") and t.args:
        return is_index_type(t.args[-1])
    if h == "TensorT" and len(t.args) == 2:
        return is_index_type(t.args[1])
    return h == "IndexIntegerT"


def make_inputs(ctx: Ctx, assoc: dict) -> dict:
    from .coders import input_port

    names = _ports(ctx, assoc, "Inputs", "")
    return {n: input_port(ctx, n, assoc["Inputs"][n], "x" if len(names) == 1 else _value_name(n))
            for n in names}


def _value_name(port: str) -> str:
    return "in" + ("".join(c for c in port if c.isalnum()) or "put")


def finish_output(ctx: Ctx, assoc: dict, name: str, value):
    from .coders import output_port

    if value is None:
        if not ctx.unsupported:
            ctx.fail("", f"output {name!r} is not computed")
        return None
    return output_port(ctx, name, assoc["Outputs"][name], value)


def check_declared(ctx: Ctx, net: Net) -> None:
    """Each layer's IR output shape must equal the type its WL ``Outputs`` port declares."""
    for path, value, dims in ctx.declared:
        got = net.shapes.get(value)
        if got is not None and tuple(got) != tuple(dims):
            ctx.fail(path, f"output shape {list(got)} disagrees with the declared type {list(dims)}")


def assoc_to_wl(tree) -> str:
    """WL text of an association (reals exact: ``0.1```, ``1.`*^-5``) for Woxi, Mathics3 or Wolfram."""
    return to_inputform(tree)


def assoc_from_net(net: Net) -> dict:
    """The WL net association of ``net`` with arrays inline (see :mod:`.netwriter`)."""
    from .netwriter import assoc_from_net as build

    return build(net)
