"""A protocol double of ``WolframKernel`` for tests: wolframclient's kernel protocol, evaluated by Mathics3.

wolframclient 1.4 starts a kernel as ``<kernel> -noprompt -initfile initkernel.m -run
'ClientLibrary`Private`KernelPrivateStart["IN", "OUT"];'`` (``evaluation/kernel/kernelcontroller.py``).
This program accepts exactly that command line (and the variant with a logger socket), connects a ZMQ
PULL socket to IN and a PUSH socket to OUT, sends ``b"OK"``, and then answers every WXF request as
``initkernel.m``'s ``socketEventHandler`` does: an ``EvaluationData``-like association whose
``"Result"`` is the WXF of the result as a ``ByteArray``, with ``"Messages"`` / ``"MessagesText"``
formatted like ``fmtmsg`` (only ``General::`` texts are known; other messages arrive as ``"Undefined
message ... with arguments ..."``). The WXF ``Quit[]`` wolframclient sends on stop ends it.

Data crosses bit-exactly both ways: WXF is decoded straight into Mathics3 atoms (machine reals as
``MachineReal`` of the same double; packed arrays and NumericArrays as nested lists, as Mathics has no
packed arrays), and results are encoded from Mathics atoms (rectangular lists of machine reals or of
integers as packed arrays). Mathics3 lacks some builtins a kernel has; generic shims for them are
defined here (see ``SHIMS``), guarded so that they never replace a Mathics builtin.

It knows nothing about the code under test. Environment switches (for tests of the client side):

- ``KERNEL_STANDIN_FAIL=startup``: exit with status 1 before connecting; ``=silent``: connect but never
  acknowledge (the client's startup timeout fires);
- ``KERNEL_STANDIN_SLEEP=seconds``: sleep that long before answering each request (a hung kernel).
"""
from __future__ import annotations

import os
import re
import sys
import time

START_RE = re.compile(r'^ClientLibrary`Private`KernelPrivateStart\["([^"]+)", "([^"]+)"(?:, "([^"]+)", (\d+))?\];$')
QUIT_WXF = b"8:f\x00s\x04Quit"  # what WolframKernelController._kernel_stop sends

# Generic WL definitions Mathics3 10 lacks (left unevaluated there); none replaces an existing builtin.
SHIMS = {
    "Ramp": "SetAttributes[Ramp, Listable]; Ramp[x_Real] := Max[0., x]; Ramp[x_?NumericQ] := Max[0, x]",
    "Clip": "Clip[x_?NumericQ, {lo_, hi_}] := Min[Max[x, lo], hi]; Clip[x_List, b_List] := Map[Clip[#, b] &, x]; "
            "Clip[x_] := Clip[x, {-1, 1}]",
    "HeavisideTheta": "SetAttributes[HeavisideTheta, Listable]; "
                      "HeavisideTheta[x_?NumericQ] /; x != 0 := If[x > 0, 1, 0]",
    "ArrayReshape": "ArrayReshape[l_List, d : {__Integer}] := "
                    "Fold[Partition, PadRight[Flatten[l], Times @@ d], Reverse[Rest[d]]]",
    "ListCorrelate": "ListCorrelate[k_List, l_List] /; ArrayDepth[k] == ArrayDepth[l] := With[{d = Dimensions[k]}, "
                     "Array[Total[k Take[l, Sequence @@ Transpose[{{##}, {##} + d - 1}]], Infinity] &, "
                     "Dimensions[l] - d + 1]]",
    "ListConvolve": "ListConvolve[k_List, l_List] /; ArrayDepth[k] == ArrayDepth[l] := "
                    "ListCorrelate[Reverse[k, Range[ArrayDepth[k]]], l]",
    "ArrayPad": "ArrayPad[l_List, n_Integer, v_ : 0] := ArrayPad[l, Table[{n, n}, {ArrayDepth[l]}], v]; "
                "ArrayPad[l_List, p : {{_Integer, _Integer} ..}, v_ : 0] := standinPad[l, p, v]; "
                "standinPad[l_, {}, v_] := l; standinPad[l_List, {{lo_, hi_}, rest___}, v_] := "
                "With[{in = Map[standinPad[#, {rest}, v] &, l]}, Join[ConstantArray[v, Prepend[Rest[Dimensions[in]], lo]], "
                "in, ConstantArray[v, Prepend[Rest[Dimensions[in]], hi]]]]",
}
DEVELOPER = "Developer`ToPackedArray[x_] := x; Developer`ToPackedArray[x_, _] := x; Developer`PackedArrayQ[_] := False"


def fail(text: str, status: int = 1):
    print(f"WolframKernel stand-in: {text}", file=sys.stderr)
    raise SystemExit(status)


def parse_command_line(argv: list[str]) -> tuple[str, str]:
    """The two socket addresses from wolframclient's command line; anything else is refused."""
    if not argv or argv[0] != "-noprompt":
        fail(f"expected -noprompt first, got {argv[:1]}")
    rest, run = argv[1:], None
    while rest:
        if rest[0] == "-initfile" and len(rest) > 1:
            if not os.path.isfile(rest[1]):
                fail(f"init file not found: {rest[1]}")
            rest = rest[2:]
        elif rest[0] == "-run" and len(rest) == 2:
            run, rest = rest[1], []
        else:
            fail(f"unexpected arguments {rest}")
    m = START_RE.match(run or "")
    if not m:
        fail(f"-run must start the client library, got {run!r}")
    return m.group(1), m.group(2)


# ---- Mathics3 ----------------------------------------------------------------------------------

def start_mathics():
    from mathics.core.load_builtin import import_and_load_builtins
    from mathics.session import MathicsSession

    import_and_load_builtins()
    session = MathicsSession()
    guarded = "; ".join(f'If[Names["System`{n}"] === {{}}, {code}]' for n, code in SHIMS.items())
    session.evaluate(f"$IterationLimit = 10^9; {guarded}; {DEVELOPER};")
    if session.evaluation.out:
        fail("shims failed: " + "; ".join(str(m.text) for m in session.evaluation.out))
    add_binary_builtins(session)
    return session


def add_binary_builtins(session) -> None:
    """``BinarySerialize``, ``BinaryDeserialize`` and ``ReadByteArray``, which Mathics3 lacks (WXF only)."""
    from mathics.core.atoms import ByteArray
    from mathics.core.builtin import Builtin
    from mathics.core.systemsymbols import SymbolFailed

    class BinarySerialize(Builtin):
        summary_text = "WXF bytes of an expression (kernel stand-in)"

        def eval(self, expr, evaluation):
            "BinarySerialize[expr_]"
            return ByteArray(to_wxf(expr))

    class BinaryDeserialize(Builtin):
        summary_text = "an expression from WXF bytes (kernel stand-in)"

        def eval(self, ba, evaluation):
            "BinaryDeserialize[ba_ByteArray]"
            return from_wxf(bytes(ba.value), session)

        def eval_head(self, ba, head, evaluation):
            "BinaryDeserialize[ba_ByteArray, head_]"
            from mathics.core.expression import Expression

            return Expression(head, from_wxf(bytes(ba.value), session))

    class ReadByteArray(Builtin):
        summary_text = "the bytes of a file (kernel stand-in)"

        def eval(self, path, evaluation):
            "ReadByteArray[path_String]"
            try:
                with open(path.value, "rb") as f:
                    return ByteArray(f.read())
            except OSError:
                return SymbolFailed

    for cls in (BinarySerialize, BinaryDeserialize, ReadByteArray):
        cls.context = "System`"
        cls(expression=False).contribute(session.definitions)


def from_wxf(data: bytes, session):
    """WXF bytes -> a Mathics3 expression (not evaluated), every atom exact."""
    from wolframclient.deserializers import binary_deserialize

    return binary_deserialize(data, consumer=MathicsConsumer(session))


def _make_consumer_class():
    from mathics.core.atoms import ByteArray, Integer, MachineReal, String
    from mathics.core.expression import Expression
    from mathics.core.list import ListExpression
    from mathics.core.symbols import Symbol
    from wolframclient.deserializers.wxf.wxfconsumer import WXFConsumerNumpy

    def nested(a):
        if a.ndim == 0:
            v = a.item()
            return MachineReal(v) if isinstance(v, float) else Integer(int(v))
        return ListExpression(*[nested(x) for x in a])

    class Consumer(WXFConsumerNumpy):
        """wolframclient's WXF parser building Mathics3 expressions instead of Python objects."""

        def __init__(self, session):
            self.definitions = session.definitions

        def symbol(self, name):
            """WXF writes System` symbols without a context; those Mathics3 lacks (NetChain, ...) stay System`."""
            full = self.definitions.lookup_name(name)
            if "`" not in name and name[:1].isupper() and full.startswith("Global`"):
                full = "System`" + name
            return Symbol(full)

        def consume_function(self, current_token, tokens, **kwargs):
            head = self.next_expression(tokens, **kwargs)
            args = [self.next_expression(tokens, **kwargs) for _ in range(current_token.length)]
            if head.get_name() == "System`List":
                return ListExpression(*args)
            return Expression(head, *args)

        def consume_association(self, current_token, tokens, **kwargs):
            rules = [self.next_expression(tokens, **kwargs) for _ in range(current_token.length)]
            return Expression(self.symbol("Association"), *rules)

        def consume_rule(self, current_token, tokens, **kwargs):
            k, v = self.next_expression(tokens, **kwargs), self.next_expression(tokens, **kwargs)
            return Expression(self.symbol("Rule"), k, v)

        def consume_rule_delayed(self, current_token, tokens, **kwargs):
            k, v = self.next_expression(tokens, **kwargs), self.next_expression(tokens, **kwargs)
            return Expression(self.symbol("RuleDelayed"), k, v)

        def consume_symbol(self, current_token, tokens, **kwargs):
            return self.symbol(current_token.data)

        def consume_bigint(self, current_token, tokens, **kwargs):
            return Integer(int(current_token.data))

        def consume_bigreal(self, current_token, tokens, **kwargs):
            from mathics.core.parser import parse_builtin_rule

            return parse_builtin_rule(current_token.data)

        def consume_string(self, current_token, tokens, **kwargs):
            return String(current_token.data)

        def consume_binary_string(self, current_token, tokens, **kwargs):
            return ByteArray(bytes(current_token.data))

        def _int(self, current_token, tokens, **kwargs):
            return Integer(current_token.data)

        consume_integer8 = consume_integer16 = consume_integer32 = consume_integer64 = _int

        def consume_real64(self, current_token, tokens, **kwargs):
            return MachineReal(current_token.data)

        def consume_numeric_array(self, current_token, tokens, **kwargs):
            return nested(super().consume_numeric_array(current_token, tokens, **kwargs))

        consume_packed_array = consume_numeric_array

    return Consumer


def MathicsConsumer(session):  # noqa: N802 (a class built lazily: mathics imports are slow)
    global _CONSUMER
    if "_CONSUMER" not in globals():
        _CONSUMER = _make_consumer_class()
    return _CONSUMER(session)


def to_python(expr):
    """A Mathics3 expression -> objects wolframclient serializes to the same WL expression."""
    from mathics.core.atoms import ByteArray, Complex, Integer, MachineReal, PrecisionReal, Rational, String
    from mathics.core.symbols import Symbol
    from wolframclient.language.expression import WLFunction, WLSymbol
    from wolframclient.utils.packedarray import PackedArray

    if isinstance(expr, MachineReal):
        return float(expr.value)
    if isinstance(expr, Integer):
        return int(expr.value)
    if isinstance(expr, String):
        return str(expr.value)
    if isinstance(expr, ByteArray):
        return bytes(expr.value)
    if isinstance(expr, Complex):
        return WLFunction(WLSymbol("Complex"), to_python(expr.real), to_python(expr.imag))
    if isinstance(expr, Rational):
        n, d = expr.value.as_numer_denom()
        return WLFunction(WLSymbol("Rational"), int(n), int(d))
    if isinstance(expr, PrecisionReal):
        import decimal

        return decimal.Decimal(str(expr.value))
    if isinstance(expr, Symbol):
        return WLSymbol(expr.get_name().removeprefix("System`"))
    head = expr.get_head()
    if expr.has_form("List", None):
        packed = _packed(expr)
        if packed is not None:
            return packed.view(PackedArray)
        return [to_python(e) for e in expr.elements]
    if expr.has_form("Association", None):
        return {_key(to_python(r.elements[0])): to_python(r.elements[1]) for r in expr.elements}
    return WLFunction(to_python(head), *[to_python(e) for e in expr.elements])


def _key(k):
    return tuple(_key(x) for x in k) if isinstance(k, list) else k


def _packed(expr):
    """A rectangular list of machine reals (or of machine integers) as a numpy array, else None."""
    import numpy as np
    from mathics.core.atoms import Integer, MachineReal

    def walk(e):
        if e.has_form("List", None):
            return [walk(x) for x in e.elements]
        if isinstance(e, MachineReal):
            return float(e.value)
        if isinstance(e, Integer) and -2**63 <= e.value < 2**63:
            return int(e.value)
        raise ValueError

    try:
        values = walk(expr)
        kinds = {type(v) for v in _flat(values)}
        if len(kinds) != 1:
            return None
        a = np.array(values, dtype=np.float64 if kinds == {float} else np.int64)
    except (ValueError, TypeError):
        return None
    return a if a.dtype != object and a.size else None


def _flat(v):
    if isinstance(v, list):
        for x in v:
            yield from _flat(x)
    else:
        yield v


def to_wxf(expr) -> bytes:
    from wolframclient.serializers import export

    return export(to_python(expr), target_format="wxf")


# ---- messages, as initkernel.m's fmtmsg formats them ---------------------------------------------

def record_messages(evaluation, log: list):
    """Wrap ``evaluation.message`` so every message that is shown is logged with its arguments."""
    original = evaluation.message

    def message(symbol_name, tag, *args):
        shown = original(symbol_name, tag, *args)
        if shown is not None:
            log.append((symbol_name, tag, args))
        return shown

    evaluation.message = message


def message_text(session, symbol: str, tag: str, args) -> str:
    """``fmtmsg``: the ``General::tag`` template applied to the arguments, else "Undefined message"."""
    from mathics.core.atoms import String
    from mathics.core.expression import Expression
    from mathics.core.symbols import Symbol

    ev = session.evaluation
    general = Expression(Symbol("System`MessageName"), Symbol("System`General"), String(tag)).evaluate(ev)
    texts = [_text(session, a) for a in args]
    if isinstance(general, String):
        out = general.value
        for i, t in enumerate(texts, 1):
            out = out.replace(f"`{i}`", t)
        return out
    name = session.definitions.shorten_name(symbol if "`" in symbol else "System`" + symbol)
    return f"Undefined message {name}::{tag} with arguments {{{', '.join(texts)}}}"


def _text(session, arg) -> str:
    from mathics.core.atoms import String
    from mathics.core.expression import Expression
    from mathics.core.symbols import Symbol

    if isinstance(arg, String):
        return arg.value
    if not hasattr(arg, "get_head"):
        return str(arg)
    held = Expression(Symbol("System`HoldForm"), arg)
    r = Expression(Symbol("System`ToString"), held, Symbol("System`InputForm")).evaluate(session.evaluation)
    return r.value if isinstance(r, String) else str(arg)


# ---- the evaluation loop -------------------------------------------------------------------------

def evaluate(session, request: bytes, log: list) -> bytes:
    """One request -> the WXF ``EvaluationData`` association ``socketEventHandler`` sends."""
    from mathics.core.symbols import Symbol
    from wolframclient.language.expression import WLFunction, WLSymbol
    from wolframclient.serializers import export

    ev = session.evaluation
    ev.out.clear()
    ev.iteration_count = 0
    log.clear()
    t0 = time.perf_counter()
    try:
        result = from_wxf(request, session).evaluate(ev)
    except Exception as e:  # a Mathics3 failure: report it as a message of this program
        log.append(("System`General", "standin", (f"{type(e).__name__}: {e}",)))
        result = Symbol("System`$Failed")
    seconds = time.perf_counter() - t0
    messages = list(log)  # a copy: formatting may log messages of its own
    names = [WLFunction(WLSymbol("HoldForm"), WLFunction(WLSymbol("MessageName"), WLSymbol(s.removeprefix("System`")), t))
             for s, t, _ in messages]
    texts = [message_text(session, s, t, a) if t != "standin" else a[0] for s, t, a in messages]
    prints = [str(o.text) for o in ev.out if not getattr(o, "is_message", False)]
    data = {"Result": to_wxf(result), "Success": not messages, "FailureType": "MessageFailure" if messages else None,
            "Messages": names, "MessagesText": texts, "OutputLog": prints, "Timing": seconds,
            "AbsoluteTiming": seconds}
    return export(data, target_format="wxf")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    address_in, address_out = parse_command_line(argv)
    mode = os.environ.get("KERNEL_STANDIN_FAIL", "")
    if mode == "startup":
        fail("failing at startup as asked (KERNEL_STANDIN_FAIL=startup)")
    sleep = float(os.environ.get("KERNEL_STANDIN_SLEEP", "0") or 0)

    import zmq

    session = start_mathics()
    log: list = []
    record_messages(session.evaluation, log)
    context = zmq.Context()
    pull, push = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    pull.connect(address_in)
    push.connect(address_out)
    if mode == "silent":
        time.sleep(10**6)
    push.send(b"OK")
    while True:
        request = pull.recv()
        if request == QUIT_WXF:
            return 0
        if sleep:
            time.sleep(sleep)
        push.send(evaluate(session, request, log))


if __name__ == "__main__":
    raise SystemExit(main())
