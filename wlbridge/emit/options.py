"""``EmitOptions``: the validated options of every emitter (``Net.to_wl``, ``to_sympy``, ``to_latex``,
``to_python``, ``to_c``), built once at the door and passed down.

>>> EmitOptions(form="expanded", digits=3).digits
3
>>> EmitOptions(form="expandd")
Traceback (most recent call last):
...
wlbridge.errors.OptionError: form must be one of 'compact', 'expanded', 'piecewise', 'tree'; got 'expandd'
>>> EmitOptions(digits=-1)
Traceback (most recent call last):
...
wlbridge.errors.OptionError: digits must be a whole number >= 1, 'float32' or None; got -1
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from .._options import choice, flag, whole
from ..errors import OptionError

FORMS = ("compact", "expanded", "piecewise", "tree")
REGION_FORMS = ("piecewise", "tree")  # over the linear regions of a box
CALLS = ("list", "sequence")
KINDS = ("numeric", "symbolic")  # weights= and activations=
DIGITS_WORDS = ("float32",)  # digits="float32": the shortest digits that round-trip each float32 weight


@dataclass(frozen=True)
class EmitOptions:
    """How a net is written. ``form``: compact (one binding per layer), expanded (one formula per output),
    piecewise / tree (the linear regions in ``box``); ``call``: ``f[{x1, ..}]`` (list) or ``f[x1, ..]``
    (sequence); ``exact``: weights as rationals; ``digits``: weights rounded to that many significant digits
    (``"float32"``: the shortest that round-trip float32); ``box``: ``(lower, upper)``, scalars or one value
    per input scalar; ``minimal``: drop region inequalities the others imply; ``weights`` / ``activations``:
    ``"symbolic"`` for W1, b1, .. and σ, φ as symbols; ``max_size``: the size limit in expression nodes."""

    form: str = "compact"
    call: str = "list"
    exact: bool = False
    digits: int | str | None = None
    box: tuple | None = None
    minimal: bool = False
    weights: str = "numeric"
    activations: str = "numeric"
    max_size: int | None = None

    def __post_init__(self):
        choice("form", self.form, FORMS)
        choice("call", self.call, CALLS)
        flag("exact", self.exact)
        flag("minimal", self.minimal)
        choice("weights", self.weights, KINDS)
        choice("activations", self.activations, KINDS)
        whole("max_size", self.max_size)
        if not (self.digits is None or self.digits in DIGITS_WORDS or _positive_int(self.digits)):
            raise OptionError(f"digits must be a whole number >= 1, 'float32' or None; got {self.digits!r}")
        if self.box is not None:
            object.__setattr__(self, "box", as_box(self.box))
        self._combinations()

    @property
    def symbolic(self) -> bool:
        return "symbolic" in (self.weights, self.activations)

    @property
    def regions(self) -> bool:
        """The form is written over the linear regions of a box."""
        return self.form in REGION_FORMS

    def _combinations(self) -> None:
        """Refuse options that would be silently ignored with the others given."""
        if self.symbolic and (self.form != "compact" or self.call != "list" or self.exact or self.digits is not None):
            raise OptionError("weights/activations='symbolic' write one form with named weights: it takes "
                              "form='compact', call='list' and neither exact nor digits")
        if not self.regions and (self.box is not None or self.minimal):
            raise OptionError(f"box and minimal apply to form='piecewise' or 'tree', not form={self.form!r}")
        if self.regions and (self.exact or self.max_size is not None):
            raise OptionError(f"form={self.form!r} takes neither exact nor max_size (it prints each region's "
                              "affine map); use box=, minimal=, digits=")


def _positive_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1


def as_box(box) -> tuple:
    """``(lower, upper)`` with each side a float or a tuple of floats; an :class:`OptionError` otherwise."""
    try:
        lower, upper = box
        return _side(lower), _side(upper)
    except (TypeError, ValueError):
        raise OptionError(f"box must be (lower, upper), each a number or one number per input scalar; "
                          f"got {box!r}") from None


def _side(v):
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return float(v)
    values = tuple(float(x) for x in v if isinstance(x, numbers.Real) and not isinstance(x, bool))
    if not values or len(values) != len(list(v)):
        raise ValueError(v)
    return values
