"""What every campaign check needs, loaded once in the local pool's fork server (``Runner(preload=)``), so its
workers fork with it ready instead of each loading it (Mathics3's session alone takes 3-10 s).

Imported by the fork server: it must never raise (an error there would stop the pool), so each part
that is not installed or fails is left to load in the worker as usual.
"""
from __future__ import annotations


def _warm() -> None:
    import importlib

    for name in ("wlbridge.check.roundtrip", "wlbridge.check.campaign", "wlbridge.check.perlayer",
                 "onnx", "onnxruntime", "torch"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - not installed or broken: loaded (or reported) in the worker
            pass
    try:
        from .roundtrip import _warm_sympy

        _warm_sympy()
    except Exception:  # noqa: BLE001
        pass
    try:
        from .engines import mathics_session

        mathics_session()
    except Exception:  # noqa: BLE001
        pass


_warm()
