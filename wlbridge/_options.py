"""Options at the door: a decorator that turns a bad keyword into an :class:`OptionError` naming the valid
ones, and the value checks the option dataclasses (:mod:`wlbridge.emit.options`, :mod:`wlbridge.check.options`)
share.

>>> @keywords
... def to_thing(net, *, form: str = "compact", digits: int | None = None):
...     return form
>>> to_thing(None, digitz=3)
Traceback (most recent call last):
...
wlbridge.errors.OptionError: to_thing: unknown option 'digitz' (did you mean 'digits'?); valid options: form, digits
>>> choice("form", "expandd", ("compact", "expanded"))
Traceback (most recent call last):
...
wlbridge.errors.OptionError: form must be one of 'compact', 'expanded'; got 'expandd'
"""
from __future__ import annotations

import difflib
import functools
import inspect
import numbers
from typing import Any, Callable, Sequence

from .errors import OptionError


def keywords(fn: Callable) -> Callable:
    """``fn`` with its real signature (``help()`` shows it), whose calls with an unknown keyword, a missing
    argument or too many positional ones raise :class:`OptionError` listing the valid options."""
    signature = inspect.signature(fn)
    options = [p.name for p in signature.parameters.values()  # the keywords with defaults
               if p.kind == p.KEYWORD_ONLY or (p.kind == p.POSITIONAL_OR_KEYWORD and p.default is not p.empty)]
    title = fn.__qualname__.replace("Net.", "net.")

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        try:
            signature.bind(*args, **kwargs)
        except TypeError as e:
            raise _at(title, OptionError(_explain(options, kwargs, e))) from None
        try:
            return fn(*args, **kwargs)
        except OptionError as e:  # a value refused inside: say whose option it is (the outermost door's name)
            raise _at(title, e)

    return checked


def _at(title: str, e: OptionError) -> OptionError:
    """``e`` with its message prefixed by ``title`` (replacing an inner door's name)."""
    e.plain = getattr(e, "plain", None) or str(e)
    e.args = (f"{title}: {e.plain}",)
    return e


def _explain(options: list[str], given: dict, error: TypeError) -> str:
    valid = "; valid options: " + ", ".join(options)
    unknown = [k for k in given if k not in options]
    if not unknown:
        return f"{error}{valid}"
    near = difflib.get_close_matches(unknown[0], options, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"unknown option {unknown[0]!r}{hint}{valid}"


def choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed``, else an :class:`OptionError` listing them."""
    if isinstance(value, str) and value in allowed:
        return value
    if not isinstance(value, str) and any(value is a for a in allowed):  # None, True, False
        return value
    raise OptionError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def flag(name: str, value: Any) -> bool:
    """``value`` if it is a bool."""
    if isinstance(value, bool):
        return value
    raise OptionError(f"{name} must be True or False; got {value!r}")


def whole(name: str, value: Any, least: int = 1, none: bool = True) -> int | None:
    """``value`` if it is an int >= ``least`` (or None when ``none``)."""
    if value is None and none:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least:
        return int(value)
    what = f"a whole number >= {least}" + (" or None" if none else "")
    raise OptionError(f"{name} must be {what}; got {value!r}")


def real(name: str, value: Any, least: float = 0.0, none: bool = True, strict: bool = False) -> float | None:
    """``value`` if it is a finite real >= ``least`` (> when ``strict``), or None when ``none``."""
    if value is None and none:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value and abs(value) != float("inf"):
        if value > least or (value == least and not strict):
            return float(value)
    bound = (">" if strict else ">=") + f" {least:g}"
    raise OptionError(f"{name} must be a finite number {bound}" + (" or None" if none else "") + f"; got {value!r}")
