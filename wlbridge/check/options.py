"""``CheckOptions``: the validated options of a check (``Net.check``, :func:`wlbridge.check.roundtrip.check`),
built once at the door and passed to its helpers as one object.

>>> CheckOptions(samples=8, seed=1).samples
8
>>> CheckOptions(samples="a")
Traceback (most recent call last):
...
wlbridge.errors.OptionError: samples must be a whole number >= 1; got 'a'
>>> CheckOptions(digits="float32").tolerance()["rtol"]
0.0001220703125
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .._options import choice, flag, real, whole
from ..emit.options import EmitOptions
from ..errors import OptionError
from .report import CODE_RTOL, source_rtol

ENGINES = ("auto", "wolfram", "woxi", "mathics", "embedded")
DEFAULT_TIMEOUT = 120.0  # seconds per evaluator; they run at the same time, so also about the whole check
DEFAULT_MATHICS_BUDGET = 10.0  # seconds of Mathics3 evaluation after its start-up (which runs beside the others)
ARRAYS = ("files", "inline")  # how arrays reach Woxi and Mathics3 (wlbridge.check.arrays)


@dataclass(frozen=True)
class CheckOptions:
    """What a check runs and how it judges; the fields are :func:`~wlbridge.check.roundtrip.check`'s
    keywords. ``emit`` is the :class:`EmitOptions` of the code it writes (when no ``code`` is given)."""

    engine: Any = "auto"
    samples: int = 64
    seed: int = 0
    code: str | None = None
    form: str = "compact"
    call: str = "list"
    inputs: Any = None
    rtol: float | None = None
    atol: float | None = None
    raise_on_failure: bool = False
    mathics_budget: float = DEFAULT_MATHICS_BUDGET
    sympy: bool = True
    exact: bool = False
    timeout: float | None = DEFAULT_TIMEOUT
    on_row: Callable | None = None
    progress: bool | None = None
    max_size: int | None = None
    kernel: str | None = None
    startup_timeout: float | None = None
    digits: int | str | None = None
    box: tuple | None = None
    arrays: str = "files"
    per_layer: bool = False

    def __post_init__(self):
        if isinstance(self.engine, str):
            choice("engine", self.engine, ENGINES)
        whole("samples", self.samples, none=False)
        whole("seed", self.seed, least=0, none=False)
        if self.code is not None and not isinstance(self.code, str):
            raise OptionError(f"code must be WL text (a str) or None; got {type(self.code).__name__}")
        real("rtol", self.rtol)
        real("atol", self.atol)
        real("mathics_budget", self.mathics_budget, none=False, strict=True)
        real("timeout", self.timeout, strict=True)
        real("startup_timeout", self.startup_timeout, strict=True)
        for name in ("raise_on_failure", "sympy", "exact", "per_layer"):
            flag(name, getattr(self, name))
        choice("progress", self.progress, (None, True, False))
        choice("arrays", self.arrays, ARRAYS)
        if self.on_row is not None and not callable(self.on_row):
            raise OptionError(f"on_row must be a function of one row, or None; got {self.on_row!r}")
        if self.code is not None and (self.exact or self.digits is not None):
            raise OptionError(f"{'exact' if self.exact else 'digits'} chooses the code wlbridge writes; with code= "
                              "given it would do nothing")
        object.__setattr__(self, "_emit", EmitOptions(form=self.form, call=self.call, exact=self.exact,
                                                     digits=self.digits, box=self.box, max_size=self.max_size))
        object.__setattr__(self, "box", self._emit.box)

    @property
    def emit(self) -> EmitOptions:
        """The options of the emitted code (form, call, exact, digits, box, max_size)."""
        return self._emit

    def tolerance(self) -> dict:
        """``rtol`` / ``atol`` of the code rows: as given, else 1e-9 relative; with ``digits="float32"`` the
        float32 tolerance the source net gets (the printed weights are float32's shortest digits)."""
        default = source_rtol("float32") if self.digits == "float32" else CODE_RTOL
        return {"rtol": default if self.rtol is None else self.rtol, "atol": self.atol}
