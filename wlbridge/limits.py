"""Resource limits for reading untrusted files, in one place.

Each limit has a default, an environment variable ``WLBRIDGE_<NAME>`` (upper case) read when the
module is first imported, and can be changed for a block of code with :func:`override`:

>>> from wlbridge import limits
>>> limits.current().max_file_bytes == 4 * 1024**3
True
>>> with limits.override(max_file_bytes=1000):
...     limits.current().max_file_bytes
1000
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass

GiB = 1024**3
MiB = 1024**2


@dataclass(frozen=True)
class Limits:
    """What one model file may ask for (sizes in bytes, times in seconds)."""

    max_file_bytes: int = 4 * GiB            # any model file
    max_array_bytes: int = 2 * GiB           # all arrays of a .wlnet together, as declared
    max_array_ratio: int = 1100              # .wlnet compressed arrays: declared bytes per stored byte
    max_constant_bytes: int = 256 * MiB      # one ONNX initializer or folded constant
    max_text_chars: int = 8 * MiB            # InputForm text and string datasets of a .wlnet
    max_assoc_keys: int = 100_000            # elements of one association / list / expression in a net
    parse_seconds: float | None = None       # reading a .wlnet's HDF5 structure (libhdf5 can spin): a flat
                                             # cap when set, else parse_base_seconds + per MiB of file
    parse_base_seconds: float = 3.0
    parse_seconds_per_mib: float = 0.5
    max_layers: int = 1_000_000              # IR layers of one net (a sequence operator unrolls per step)
    max_port_elements: int = 2**26           # elements of one port of a Wolfram layer, per sample

    @classmethod
    def from_env(cls, environ=os.environ) -> "Limits":
        kw = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"WLBRIDGE_{f.name.upper()}")
            if raw:
                kw[f.name] = float(raw) if f.type.startswith("float") else int(float(raw))
        return cls(**kw)

    def parse_cap(self, file_bytes: int) -> float:
        """Seconds allowed to read a ``file_bytes`` HDF5 file: ``parse_seconds`` if set, else
        ``parse_base_seconds + parse_seconds_per_mib`` per MiB (a 14 KB file: ~3 s; 100 MiB: 53 s).

        >>> Limits().parse_cap(14_000) < 5 < Limits().parse_cap(100 * MiB) == 53.0
        True
        >>> Limits(parse_seconds=60).parse_cap(14_000)
        60
        """
        if self.parse_seconds is not None:
            return self.parse_seconds
        return self.parse_base_seconds + self.parse_seconds_per_mib * file_bytes / MiB


_current = Limits.from_env()


def current() -> Limits:
    """The limits in force."""
    return _current


def set_limits(**changes) -> Limits:
    """Change limits for the rest of the process; returns the previous ones."""
    global _current
    previous, _current = _current, dataclasses.replace(_current, **changes)
    return previous


@contextlib.contextmanager
def override(**changes):
    """Change limits inside a ``with`` block."""
    global _current
    previous = set_limits(**changes)
    try:
        yield _current
    finally:
        _current = previous
