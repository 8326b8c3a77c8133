"""The live-kernel front end: a NetChain / NetGraph inside a Wolfram kernel -> IR, and back to the kernel.

``from_wolfram(session, "trained")`` loads the WLBridge paclet into the kernel, evaluates
``BinarySerialize[WLBridge`NetToPlainData[trained]]`` there and reads the WXF bytes with
:func:`wlbridge.frontends.wolfram.wxf.net_from_wxf`. The returned net keeps an
:class:`~wlbridge.ir.Origin` that evaluates ``trained[batch]`` in that kernel, inputs sent as WXF
packed arrays (never as text), so ``check`` compares the closed form with the net itself.
:func:`check_function_layer` closes the loop the other way: ``FunctionLayer[f]`` built from an
emitted ``Function`` must agree with the original net inside the kernel.

Nothing here starts a kernel: ``session`` is a ``wolframclient`` ``WolframLanguageSession`` (or
anything with ``evaluate_wrap``) that the caller owns.

>>> code = evaluation_code("trained", ["Input"], ["Output"])
>>> code.startswith("Function[{wlbridgeA1}, Module[{r = (trained)[wlbridgeA1")
True
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ...emit.wlnumbers import fmt_string
from ...errors import ConversionError, EngineError, WlbridgeError
from ...ir import Net, Origin

SOURCE = "wolfram"
_PACKED = "Developer`ToPackedArray[N[Normal[#]]] &"


def _wrap(session, expr):
    """Evaluate in the kernel; (result, messages). Kernel failures become EngineError."""
    from ...check.wolfram import readable_message

    try:
        r = session.evaluate_wrap(expr)
    except Exception as e:  # wolframclient raises its own exception types
        raise EngineError(f"wolfram: {type(e).__name__}: {e}") from None
    return r.get(), [readable_message(m) for m in (getattr(r, "messages", None) or [])]


def load_paclet(session) -> None:
    """``Get`` the WLBridge paclet (from the repository's ``wl/`` or the installed package data)."""
    from wolframclient.language import wlexpr

    from ...paclet import load_code

    result, messages = _wrap(session, wlexpr(load_code() + "; Length[WLBridge`$WLBridgeActivations]"))
    if not isinstance(result, int) or result == 0 or messages:
        raise EngineError(f"wolfram: loading the WLBridge paclet failed: {result!r} {messages}")


def _check_expr(expr: str) -> str:
    if not isinstance(expr, str) or not expr.strip():
        raise TypeError("expr must be a non-empty string: a symbol name or WL code giving a NetChain/NetGraph")
    return expr


def plain_data_wxf(session, expr: str) -> bytes:
    """The WXF bytes of ``WLBridge`NetToPlainData[expr]`` evaluated in the kernel."""
    from wolframclient.language import wlexpr

    code = (f"With[{{d = WLBridge`NetToPlainData[({_check_expr(expr)})]}}, "
            f"If[AssociationQ[d], BinarySerialize[d], $Failed]]")
    result, messages = _wrap(session, wlexpr(code))
    data = getattr(result, "data", result)  # wolframclient gives a ByteArray as bytes
    if not isinstance(data, (bytes, bytearray)):
        raise ConversionError(f"{SOURCE}: {expr} is not a NetChain/NetGraph in the kernel"
                              + (f": {'; '.join(messages)}" if messages else f" (got {result!r})"))
    return bytes(data)


def from_wolfram(session, expr: str, *, input_names: Sequence[str] | None = None,
                 precision: str = "Real32") -> Net:
    """Convert the net ``expr`` (a symbol name or WL code) living in ``session``'s kernel.

    ``net.origin`` evaluates the original net in that kernel (``precision``: its
    ``WorkingPrecision``, ``"Real32"`` as trained or ``"Real64"``).
    """
    from .wxf import decode_wxf, net_from_wxf, split_net

    load_paclet(session)
    data = plain_data_wxf(session, expr)
    net = net_from_wxf(data, source=f"{SOURCE}:{expr}", input_names=input_names)
    assoc, _ = split_net(decode_wxf(data, source=expr), expr)
    ins, outs = list(assoc.get("Inputs", {})), list(assoc.get("Outputs", {}))
    code = evaluation_code(expr, ins, outs, precision)

    def evaluate(*xs):
        return evaluate_in_kernel(session, code, xs)

    return dataclasses.replace(net, origin=Origin(SOURCE, evaluate, "float32" if precision == "Real32" else "float64"))


def evaluation_code(expr: str, inputs: Sequence[str], outputs: Sequence[str], precision: str = "Real32") -> str:
    """A WL ``Function`` of one packed array per input port (batch first) giving a list of packed
    output arrays (one per output port): ``expr`` evaluated on the batch in the kernel."""
    if precision not in ("Real32", "Real64"):
        raise ValueError(f"precision must be 'Real32' or 'Real64', not {precision!r}")
    args = [f"wlbridgeA{i + 1}" for i in range(len(inputs))]
    if len(inputs) == 1:
        feed = args[0]
    else:
        feed = "<|" + ", ".join(f'{fmt_string(p)} -> {a}' for p, a in zip(inputs, args)) + "|>"
    opts = f'WorkingPrecision -> "{precision}"' if precision != "Real32" else 'TargetDevice -> "CPU"'
    outs = "{" + ", ".join(f'r[{fmt_string(o)}]' for o in outputs) + "}"
    return (f"Function[{{{', '.join(args)}}}, Module[{{r = ({_check_expr(expr)})[{feed}, {opts}]}}, "
            f"Map[{_PACKED}, If[AssociationQ[r], {outs}, {{r}}]]]]")


def evaluation_payload(code: str, xs: Sequence[np.ndarray]):
    """The WXF-ready expression ``code[a1, a2, ...]`` with the arrays as packed float64 arrays."""
    from wolframclient.language import wlexpr
    from wolframclient.utils.packedarray import PackedArray

    arrays = [np.ascontiguousarray(x, dtype=np.float64) for x in xs]
    return wlexpr(code)(*[a.view(PackedArray) for a in arrays])


def evaluate_in_kernel(session, code: str, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run :func:`evaluation_code` on a batch; one float64 array per output (batch first)."""
    n = len(np.asarray(xs[0]))
    result, messages = _wrap(session, evaluation_payload(code, xs))  # wolframclient sends it as WXF
    if messages:
        raise EngineError(f"wolfram: the net failed on the batch: {'; '.join(messages)}")
    try:
        outs = [np.asarray(r, dtype=np.float64) for r in result]
    except (TypeError, ValueError):
        raise EngineError(f"wolfram: the net did not return numbers: {str(result)[:200]}") from None
    if any(o.shape[:1] != (n,) for o in outs):
        raise EngineError(f"wolfram: expected {n} outputs per port, got shapes {[o.shape for o in outs]}")
    return outs


def function_layer_code(expr: str, function_code: str, input_dims: Sequence[int]) -> str:
    """WL code giving ``{maxAbsDiff, scale}`` of ``FunctionLayer[f]`` against the net on ``wlbridgeX``."""
    dims = "{" + ", ".join(str(int(d)) for d in input_dims) + "}"
    return (f"Module[{{fl = FunctionLayer[{function_code}, \"Input\" -> {dims}], a, b}}, "
            f"a = Normal[fl[wlbridgeX]]; b = Normal[({_check_expr(expr)})[wlbridgeX]]; "
            f"{{Max[Abs[Flatten[{{a - b}}]]], Max[Abs[Flatten[{{b}}]]]}}]")


def check_function_layer(session, expr: str, net: Net, function_code: str | None = None, *,
                         samples: int = 16, seed: int = 0, rtol: float = 1e-4) -> float:
    """``FunctionLayer[f]`` of the emitted ``f`` must agree with the net ``expr`` in the kernel.

    ``function_code`` defaults to the paclet's own ``WLBridge`NetToFunction[expr]`` (compact, list
    call). Returns the max absolute difference; raises :class:`~wlbridge.errors.WlbridgeError` when it
    exceeds ``rtol`` times the output scale (float32 nets: about 1e-5 relative).
    """
    if len(net.inputs) != 1:
        raise WlbridgeError("check_function_layer: only single-input nets")
    load_paclet(session)
    f = function_code or f"WLBridge`NetToFunction[({_check_expr(expr)})]"
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(samples, *net.inputs[0].shape))
    code = f"Function[{{wlbridgeX}}, {function_layer_code(expr, f, net.inputs[0].shape)}]"
    result, messages = _wrap(session, evaluation_payload(code, [x]))
    if messages or not isinstance(result, (list, tuple)) or len(result) != 2:
        raise EngineError(f"wolfram: FunctionLayer check failed: {result!r} {messages}")
    diff, scale = (float(v) for v in result)
    if not diff <= rtol * max(scale, 1.0):
        raise WlbridgeError(f"FunctionLayer of the emitted function differs from {expr}: max |diff| {diff:.3g} "
                            f"(output scale {scale:.3g})")
    return diff


def kernel_session(kernel: str | None = None, startup_timeout: float | None = None):
    """A started ``WolframLanguageSession`` for ``kernel`` / ``WOLFRAM_KERNEL`` / the usual install paths.

    ``startup_timeout``: seconds to wait for the kernel (default ``WLBRIDGE_KERNEL_STARTUP_TIMEOUT`` or
    120). Terminate it when done; one still open when Python exits is terminated then (it never keeps
    the interpreter from exiting).
    """
    from ...check.wolfram import not_found_message, start_session

    path = find_kernel(kernel)
    if path is None:
        from ...errors import EngineNotFoundError

        raise EngineNotFoundError(not_found_message())
    return start_session(path, startup_timeout)


def find_kernel(kernel: str | None = None) -> str | None:
    """``kernel``, else ``WOLFRAM_KERNEL``, else the newest kernel in the usual install paths
    (``wlbridge.check.wolfram``)."""
    from ...check.wolfram import find_kernel as search

    return search(kernel)
