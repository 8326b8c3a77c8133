"""The engine interface, WL number text for input arrays, and the strict parser of engine results.

Every engine returns its result as text (``InputForm``). :func:`parse_numbers` accepts only nested
lists of machine-precision reals (and exact integers); anything else -- a symbol, an unevaluated
head such as ``Ramp[1.]``, ``Overflow[]``, ``Indeterminate``, a string, a rational, an
arbitrary-precision real such as ``0.1`20.`` -- is a :class:`ResultParseError` naming the
offending text, so a checker never passes on it.

>>> wl_real(1.5e-10), wl_real(0.25), wl_real(-3.0)
('1.5`*^-10', '0.25`', '-3.`')
>>> parse_numbers("{{0.5, -1.5*^-10}, {2, 3.`}}")
[[0.5, -1.5e-10], [2.0, 3.0]]
>>> parse_numbers("{0.5, Ramp[-1.]}")
Traceback (most recent call last):
...
wlbridge.check.base.ResultParseError: not a machine number at 6: 'Ramp[-1.]}'
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..emit.wlnumbers import fmt_array, fmt_real, fmt_real_positional, nest_texts
from ..errors import EngineError

# ----------------------------------------------------------------------------------------------
# numbers -> WL text


def _finite(x: float) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot send a non-finite number to a WL engine: {x!r}")
    return x


def wl_real(x: float) -> str:
    """Shortest round-trip digits, a backtick (machine precision) and a ``*^`` exponent."""
    return fmt_real(_finite(x))


def wl_real_positional(x: float) -> str:
    """Like :func:`wl_real` but without an exponent (``0.0000015``` ``); Woxi parses these exactly.

    >>> wl_real_positional(1.5e-6)
    '0.0000015`'
    """
    return fmt_real_positional(_finite(x))


def wl_array(a: np.ndarray, number=wl_real) -> str:
    """A numpy array as nested WL lists of machine reals (integer arrays as integers).

    >>> wl_array(np.array([[1, 2]])), wl_array(np.array([0.5, 1e-3]))
    ('{{1, 2}}', '{0.5`, 0.001`}')
    """
    a = np.asarray(a)
    if number is wl_real and a.ndim and np.issubdtype(a.dtype, np.floating):  # the emitter's vectorised printer
        if not np.isfinite(a).all():
            _finite(a[~np.isfinite(a)].flat[0])
        return fmt_array(a)
    fmt = (lambda v: str(int(v))) if np.issubdtype(a.dtype, np.integer) else number
    if a.ndim == 0:
        return fmt(a.item())
    return nest_texts([fmt(v) for v in a.ravel().tolist()], a.shape)


# ----------------------------------------------------------------------------------------------
# result text -> numbers (strict)


class ResultParseError(EngineError):
    """An engine result is not a nested list of machine numbers."""


_NUMBER = re.compile(r"-?(?:\d+\.\d*|\.\d+|\d+)(?:`(?![\d`.]))?(?:\*\^-?\d+)?")
_SPACE = re.compile(r"\s*")


def parse_numbers(text: str):
    """Parse nested ``{...}`` lists of machine reals / integers into nested Python lists of floats.

    Machine reals look like ``1.5``, ``1.``, ``1.5*^-10`` or (FullForm) ``1.5```; integers like
    ``0`` or ``-3``. Arbitrary-precision reals (``0.1`20.``), rationals and every symbol fail.
    """
    value, pos = _parse(text, _SPACE.match(text, 0).end())
    pos = _SPACE.match(text, pos).end()
    if pos != len(text):
        _fail(text, pos)
    return value


def _parse(text: str, pos: int):
    if text.startswith("{", pos):
        items: list = []
        pos = _SPACE.match(text, pos + 1).end()
        if text.startswith("}", pos):
            return items, pos + 1
        while True:
            item, pos = _parse(text, _SPACE.match(text, pos).end())
            items.append(item)
            pos = _SPACE.match(text, pos).end()
            if text.startswith(",", pos):
                pos += 1
            elif text.startswith("}", pos):
                return items, pos + 1
            else:
                _fail(text, pos)
    m = _NUMBER.match(text, pos)
    if not m or _continues(text, m.end()):
        _fail(text, pos)
    return float(m.group().replace("`", "").replace("*^", "e")), m.end()


def _continues(text: str, end: int) -> bool:
    """True when a number is followed by more of a term (``1/3``, ``2 x``, ``1.5`20``)."""
    rest = text[end:end + 1]
    return bool(rest) and rest not in ",} \n\t\r"


def _fail(text: str, pos: int):
    """Raise, showing the offending list item (from the previous ``,`` or ``{``)."""
    if pos >= len(text):
        raise ResultParseError(f"not a machine number at {pos}: <end of text>")
    start = max(text.rfind(",", 0, pos), text.rfind("{", 0, pos)) + 1
    start = _SPACE.match(text, start).end() if start < pos else pos
    snippet = text[start:pos + 60] + ("..." if len(text) > pos + 60 else "")
    raise ResultParseError(f"not a machine number at {pos}: {snippet!r}")


# ----------------------------------------------------------------------------------------------
# the interface


@dataclass
class EngineResult:
    """What :meth:`Engine.apply` returns: output arrays (batch first) or a problem, plus messages."""

    values: list[np.ndarray] | None
    messages: list[str] = field(default_factory=list)
    problem: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when values came back with no problem and no engine message."""
        return self.values is not None and self.problem is None and not self.messages


class Engine:
    """One WL engine. Subclasses implement :meth:`evaluate_raw`; ``apply`` batches a function call."""

    name = "engine"
    number = staticmethod(wl_real)  # how input reals are written for this engine

    def evaluate(self, code: str) -> str:
        """The result of ``code`` as InputForm text; raises :class:`EngineError` on a crash or parse error."""
        text, messages = self.evaluate_raw(code)
        if messages:
            raise EngineError(f"{self.name}: " + "; ".join(messages))
        return text

    def evaluate_raw(self, code: str) -> tuple[str, list[str]]:
        """Evaluate ``code``; return (``ToString[(code), InputForm]``, engine messages)."""
        raise NotImplementedError

    def apply(self, function_code: str, inputs, *, call: str = "list", output_shapes=None,
              timeout: float | None = None) -> EngineResult:
        """Evaluate ``f = function_code`` on a whole batch in one engine call.

        ``inputs``: one array per input port, batch axis first. ``call="list"`` calls ``f[{..}, ...]``
        with one (nested) list per port; ``"sequence"`` calls ``f[x1, x2, ...]`` with every input
        scalar. ``output_shapes`` (one per output, without the batch axis) says how to split and
        shape the result; a function with several outputs returns ``{out1, out2, ...}``.
        """
        import time

        payload = batch_arguments(inputs, call, self.number)
        code = self.batch_code(function_code, payload, timeout)
        t0 = time.perf_counter()
        try:
            text, messages = self.evaluate_raw(code)
        except EngineError as e:
            return EngineResult(None, [], str(e), time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        values, problem = None, None
        try:
            values = split_outputs(parse_numbers(text), len(np.asarray(inputs[0])), output_shapes)
        except (ResultParseError, ValueError) as e:
            problem = f"{e}\n  result: {_clip(text)}"
        if messages:
            problem = problem or f"{len(messages)} engine message(s)"
        return EngineResult(values if problem is None else None, messages, problem, seconds)

    def batch_code(self, function_code: str | None, payload: str, timeout: float | None) -> str:
        """WL code that defines ``wlbridgeF`` (unless ``function_code`` is None: defined before) and
        applies it to every sample of ``payload``."""
        return define_code(function_code) + f"Apply[wlbridgeF, {payload}, {{1}}]"

    def close(self) -> None:
        """Release the engine (a kernel process); a no-op for embedded engines."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


def define_code(function_code: str | None) -> str:
    """``wlbridgeF = code; `` (nothing when ``function_code`` is None)."""
    return "" if function_code is None else f"wlbridgeF = {function_code}; "


def batch_arguments(inputs, call: str, number=wl_real) -> str:
    """WL text ``{args1, args2, ...}``: one argument list per sample (see :meth:`Engine.apply`).

    >>> batch_arguments([np.array([[1.0, 2.0], [3.0, 4.0]])], "list")
    '{{{1.`, 2.`}}, {{3.`, 4.`}}}'
    >>> batch_arguments([np.array([[1.0, 2.0], [3.0, 4.0]])], "sequence")
    '{{1.`, 2.`}, {3.`, 4.`}}'
    """
    arrays = [np.asarray(a) for a in inputs]
    n = {len(a) for a in arrays}
    if len(n) != 1:
        raise ValueError(f"inputs disagree on the batch size: {[len(a) for a in arrays]}")
    if call == "list":
        rows = ["{" + ", ".join(wl_array(a[i], number) for a in arrays) + "}" for i in range(n.pop())]
    elif call == "sequence":  # every port's scalars in order, each port keeping its dtype (indices stay integers)
        flat = [a.reshape(len(a), -1) for a in arrays]
        rows = ["{" + ", ".join(wl_array(f[i], number)[1:-1] for f in flat if f.shape[1]) + "}"
                for i in range(n.pop())]
    else:
        raise ValueError(f"call must be 'list' or 'sequence', not {call!r}")
    return "{" + ", ".join(rows) + "}"


def split_outputs(result, n: int, output_shapes=None) -> list[np.ndarray]:
    """Per-sample results -> one array per output, batch first, shaped as ``output_shapes``."""
    if not isinstance(result, list) or len(result) != n:
        raise ValueError(f"expected a list of {n} per-sample results")
    if output_shapes is None or len(output_shapes) == 1:
        shape = tuple(output_shapes[0]) if output_shapes else None
        return [_shaped(result, n, shape)]
    outs = []
    for k, shape in enumerate(output_shapes):
        try:
            part = [sample[k] for sample in result]
        except (TypeError, IndexError):
            raise ValueError(f"each sample should give {len(output_shapes)} outputs") from None
        outs.append(_shaped(part, n, tuple(shape)))
    return outs


def _shaped(rows, n: int, shape) -> np.ndarray:
    try:
        a = np.array(rows, dtype=np.float64)
    except ValueError:
        raise ValueError("ragged result (the samples' outputs have different shapes)") from None
    if shape is None:
        return a
    if a.size != n * math.prod(shape):
        raise ValueError(f"result has shape {list(a.shape)}; expected [{n}, {', '.join(map(str, shape))}]")
    return a.reshape((n, *shape))


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
