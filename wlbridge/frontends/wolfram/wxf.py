"""WXF (``BinarySerialize`` / ``Export["net.wxf", net]``): ``NetChain[assoc, meta]`` with NumericArrays inline.

Decoding uses wolframclient's WXF parser with a consumer that builds the :mod:`.expr` tree (symbols
stay symbols, arrays become numpy arrays); ``8C:`` (compressed) input is inflated with a size bound.

>>> import numpy as np, wlbridge as wb
>>> b = wb.NetBuilder(); x = b.input("x", (3,))
>>> net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})])
>>> data = wxf_from_net(net)
>>> data[:2], net_from_wxf(data, source="demo")(np.zeros(3))
(b'8:', array([0., 0., 0.]))
"""
from __future__ import annotations

import numpy as np

from ...errors import FormatError
from ...ir import Net
from ..guard import guarded, regular_file
from .compress import build, inflate, parse_real
from .expr import Expr, Symbol, head_name

# Symbols of the NeuralNetworks` context (written with their context in WXF, which resolves names
# against the reader's $ContextPath); everything else is System`.
NN_CONTEXT = {name: "NeuralNetworks`" for name in (
    "TensorT", "RealT", "IndexIntegerT", "AtomT", "NetPath", "ValidatedParameter", "LengthVar",
    "ExportedArray", "ChannelT", "ListT")}
PRIVATE_CONTEXT = {name: "NeuralNetworks`Private`" for name in ("ScalarFunctionObject", "ScalarSymbol")}


def _consumer():
    from wolframclient.deserializers.wxf.wxfconsumer import WXFConsumerNumpy

    class TreeConsumer(WXFConsumerNumpy):
        """wolframclient consumer building the expr.py tree."""

        def consume_function(self, current_token, tokens, **kwargs):
            head = self.next_expression(tokens, **kwargs)
            args = [self.next_expression(tokens, **kwargs) for _ in range(current_token.length)]
            return build(head, args)

        def consume_association(self, current_token, tokens, **kwargs):
            out = {}
            for _ in range(current_token.length):
                k, v = self.next_expression(tokens, **kwargs)
                out[k] = v
            return out

        def consume_symbol(self, current_token, tokens, **kwargs):
            return Symbol(current_token.data)

        def consume_bigreal(self, current_token, tokens, **kwargs):
            return parse_real(current_token.data)

        def consume_packed_array(self, current_token, tokens, **kwargs):
            return np.array(self.consume_numeric_array(current_token, tokens, **kwargs))

        def consume_numeric_array(self, current_token, tokens, **kwargs):
            return np.array(super().consume_numeric_array(current_token, tokens, **kwargs))

    return TreeConsumer()


def decode_wxf(data: bytes, *, source: str = "<wxf>", max_output: int | None = None):
    """Parse WXF bytes into an expression tree (FormatError on anything malformed)."""
    from wolframclient.deserializers import binary_deserialize
    from wolframclient.exception import WolframParserException

    data = bytes(data)
    if data.startswith(b"8C:"):
        data = b"8:" + inflate(data[3:], source=source, max_output=max_output)
    if not data.startswith(b"8:"):
        raise FormatError(f"{source}: not WXF (does not start with '8:')")
    try:
        return binary_deserialize(data, consumer=_consumer())
    except RecursionError:
        raise FormatError(f"{source}: WXF expression nested too deeply") from None
    except (WolframParserException, ValueError, TypeError, KeyError, IndexError, EOFError, StopIteration,
            MemoryError, OverflowError, UnicodeDecodeError, AttributeError) as e:
        raise FormatError(f"{source}: bad WXF data: {type(e).__name__}: {e}") from None


def split_net(expr, source: str):
    """``NetChain[assoc, meta]`` / ``NetGraph[assoc, meta]`` / a bare association -> (assoc, meta)."""
    if isinstance(expr, dict):
        return expr, {}
    if head_name(expr) in ("NetChain", "NetGraph") and expr.args and isinstance(expr.args[0], dict):
        meta = expr.args[1] if len(expr.args) > 1 and isinstance(expr.args[1], dict) else {}
        return expr.args[0], meta
    raise FormatError(f"{source}: WXF holds {head_name(expr) or type(expr).__name__}, "
                      "not NetChain[...], NetGraph[...] or a net association")


@guarded(".wxf")
def net_from_wxf(data: bytes, *, source: str, input_names=None, sequence_length=None) -> Net:
    """Convert WXF bytes of ``NetChain[assoc, meta]`` / ``NetGraph[...]`` / a net association."""
    from .netassoc import net_from_assoc

    assoc, meta = split_net(decode_wxf(data, source=source), source)
    return net_from_assoc(assoc, source=source, input_names=input_names, metadata=meta,
                          sequence_length=sequence_length)


@guarded(".wxf")
def load_wxf(path, *, input_names=None, sequence_length=None) -> Net:
    """Read a ``.wxf`` file written by ``Export["net.wxf", net]``."""
    regular_file(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise FormatError(f"{path}: cannot read: {e.strerror or e}") from None
    return net_from_wxf(data, source=str(path), input_names=input_names, sequence_length=sequence_length)


# ---- writer ----------------------------------------------------------------------------------

def to_wolframclient(x):
    """The expr.py tree as wolframclient objects (symbols with their WL contexts)."""
    from wolframclient.language.expression import WLFunction, WLSymbol

    if x is None:
        return WLSymbol("None")
    if isinstance(x, bool) or isinstance(x, (int, float, str, np.ndarray)):
        return x
    if isinstance(x, Symbol):
        return WLSymbol({**NN_CONTEXT, **PRIVATE_CONTEXT}.get(x.name, "") + x.name)
    if isinstance(x, (list, tuple)):
        return [to_wolframclient(a) for a in x]
    if isinstance(x, dict):
        return {to_wolframclient(k): to_wolframclient(v) for k, v in x.items()}
    if isinstance(x, Expr):
        return WLFunction(to_wolframclient(x.head), *[to_wolframclient(a) for a in x.args])
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    raise TypeError(f"cannot write {type(x).__name__} as WXF")


def encode_wxf(expr) -> bytes:
    """WXF bytes of an expression tree."""
    from wolframclient.serializers import export

    return export(to_wolframclient(expr), target_format="wxf")


def wxf_from_net(net: Net) -> bytes:
    """WXF bytes of ``NetChain[assoc, meta]`` (or ``NetGraph``) with the weights inline."""
    from .netwriter import WRITE_VERSION, assoc_from_net

    assoc = assoc_from_net(net)
    head = "NetChain" if assoc["Type"] == "Chain" else "NetGraph"
    return encode_wxf(Expr(Symbol(head), (assoc, {"Version": WRITE_VERSION, "Unstable": False})))


def save_wxf(net: Net, path) -> None:
    """Write ``net`` as a ``.wxf`` file that ``Import["net.wxf"]`` reads."""
    with open(path, "wb") as f:
        f.write(wxf_from_net(net))
