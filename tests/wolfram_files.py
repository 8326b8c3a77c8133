"""Shared helpers for the Wolfram file tests: where the real fixtures are, small WL builders."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from wlbridge.frontends.wolfram.expr import Symbol, call


def fixture_dir() -> Path | None:
    """``<repo>/../shared/fixtures/wlnet`` (or ``$WLBRIDGE_SHARED/fixtures/wlnet``), None if absent."""
    roots = [Path(__file__).parents[1] / ".." / "shared"]
    if os.environ.get("WLBRIDGE_SHARED"):
        roots.insert(0, Path(os.environ["WLBRIDGE_SHARED"]))
    for r in roots:
        d = r / "fixtures" / "wlnet"
        if d.is_dir():
            return d
    return None


def real_file(name: str) -> Path:
    d = fixture_dir()
    if d is None or not (d / name).exists():
        pytest.skip(f"real fixture {name} not available (unlicensed, kept outside the repo)")
    return d / name


def T(*dims, inner=None):
    return call("TensorT", list(dims), inner if inner is not None else Symbol("RealT"))


def NP(*parts):
    return call("NetPath", *parts)


def rule(a, b):
    return call("Rule", a, b)


def lay(kind, params=None, arrays=None, ins=None, out=None):
    """A layer association; ``ins``: dims of "Input" (tuple) or {port: type}."""
    inputs = ins if isinstance(ins, dict) else {"Input": T(*ins)}
    return {"Type": kind, "Arrays": arrays or {}, "Parameters": params or {}, "Inputs": inputs,
            "Outputs": {"Output": T(*out)}}


def chain(nodes: dict, ins, out, key="Nodes", edges="Edges"):
    """A Chain association with the sequential edges Wolfram writes."""
    names = list(nodes)
    es = [rule(NP("Nodes", names[0], "Inputs", "Input"), NP("Inputs", "Input"))]
    es += [rule(NP("Nodes", b, "Inputs", "Input"), NP("Nodes", a, "Outputs", "Output")) for a, b in zip(names, names[1:])]
    es.append(rule(NP("Outputs", "Output"), NP("Nodes", names[-1], "Outputs", "Output")))
    return {"Type": "Chain", key: nodes, edges: es, "Inputs": {"Input": ins if not isinstance(ins, tuple) else T(*ins)},
            "Outputs": {"Output": out if not isinstance(out, tuple) else T(*out)}}


def rng(seed=0):
    return np.random.default_rng(seed)


def f32(*shape, seed=0):
    return rng(seed).standard_normal(shape).astype(np.float32)
