"""to_c(): every net of the case table as C99, compiled with the system cc into one shared library,
equals the numpy reference to <= 1e-13 relative; names stay out of the code."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from wlbridge.emit.c import comment
from wlbridge.errors import ConversionError
from wlbridge.ir import NetBuilder

from .cases import CASES, sample_inputs

CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc)")


def compile_c(sources: list[str], tmp_path) -> ctypes.CDLL:
    src = tmp_path / "nets.c"
    src.write_text("\n".join(sources))
    lib = tmp_path / "nets.so"
    subprocess.run([CC, "-std=c99", "-O0", "-shared", "-fPIC", "-Wall", "-Werror", "-Wno-unused-variable",
                    "-o", str(lib), str(src), "-lm"], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(lib))


def run_c(lib, code, xs) -> np.ndarray:
    fn = getattr(lib, code.name)
    fn.restype = None
    x = np.ascontiguousarray(np.concatenate([a.reshape(len(a), -1) for a in xs], axis=1), dtype=np.float64)
    y = np.zeros((len(x), code.n_outputs))
    for i in range(len(x)):
        fn(x[i].ctypes.data_as(ctypes.c_void_p), y[i].ctypes.data_as(ctypes.c_void_p))
    return y


def flat_reference(net, xs) -> np.ndarray:
    out = net(*xs)
    out = out if isinstance(out, list) else [out]
    return np.concatenate([o.reshape(len(xs[0]), -1) for o in out], axis=1)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    nets = {c.name: c.build() for c in CASES}
    codes = {name: net.to_c(name=f"net_{i}") for i, (name, net) in enumerate(nets.items())}
    preamble_once = [codes[n].source if i == 0 else codes[n].source.split("*/\n", 1)[1].split("#endif\n")[-1]
                     for i, n in enumerate(codes)]
    lib = compile_c(preamble_once, tmp_path_factory.mktemp("c"))
    return nets, codes, lib


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_case_table_compiled_equals_reference(compiled, case):
    nets, codes, lib = compiled
    net = nets[case.name]
    xs = sample_inputs(net, 16, seed=3)
    want = flat_reference(net, xs)
    got = run_c(lib, codes[case.name], xs)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    scale = np.maximum(1.0, np.abs(want[finite]))
    assert np.all(np.abs(got[finite] - want[finite]) <= 1e-13 * scale), np.max(np.abs(got[finite] - want[finite]) / scale)


def test_header_and_names(tmp_path):
    b = NetBuilder("evil */ name\n#include <stdio.h>")
    x = b.input("x", (2,))
    net = b.build([b.layer("elementwise", [x], attrs={"fn": "tanh"})], input_names=["a*/b", "c\nd"])
    code = net.to_c(name="f")
    lines = code.source.splitlines()
    assert not any(ln.startswith("#include <stdio.h>") for ln in lines)  # the name stays inside its comment
    assert all(ln.count("*/") == ln.rstrip().endswith("*/") for ln in lines)  # every */ closes a comment
    assert "F_N_INPUTS 2" in code.header and "void f(const double *x, double *y);" in code.header
    (tmp_path / "f.h").write_text(code.header)
    main = '#include "f.h"\n#include <stdio.h>\nint main(void){double x[2]={0.5,-1.0},y[2];f(x,y);printf("%.17g %.17g\\n",y[0],y[1]);return 0;}\n'
    (tmp_path / "main.c").write_text(main)
    (tmp_path / "f.c").write_text(code.source)
    exe = tmp_path / "a.out"
    subprocess.run([CC, "-std=c99", "-o", str(exe), str(tmp_path / "main.c"), str(tmp_path / "f.c"), "-lm"], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    np.testing.assert_allclose([float(v) for v in out], np.tanh([0.5, -1.0]), rtol=1e-15)
    with pytest.raises(ConversionError, match="not a C identifier"):
        net.to_c(name="f(); system")
    assert comment("a */ b\nc") == "a * / b c"


@pytest.mark.torch
def test_torch_end_to_end_table_compiled(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("woxi")
    pytest.importorskip("mathics")
    import torch.nn as nn

    import wlbridge as wb

    from .test_torch_end_to_end import Concat, Residual, SmallCNN, _randomize_batchnorm
    from .test_torch_frontend import ACTIVATION_MODULES

    torch.manual_seed(0)
    nets = [wb.from_torch(nn.Sequential(nn.Linear(3, 4), act, nn.Linear(4, 2)).double().eval(), (3,))
            for act in ACTIVATION_MODULES]
    torch.manual_seed(1)
    nets += [wb.from_torch(_randomize_batchnorm(m()).double().eval(), s)
             for m, s in [(Residual, (4,)), (Concat, (3,)), (SmallCNN, (2, 6, 6))]]
    codes = [net.to_c(name=f"t{i}") for i, net in enumerate(nets)]
    lib = compile_c([codes[0].source] + [c.source.split("#endif\n")[-1] for c in codes[1:]], tmp_path)
    for net, code in zip(nets, codes):
        xs = sample_inputs(net, 8, seed=1)
        want = flat_reference(net, xs)
        np.testing.assert_allclose(run_c(lib, code, xs), want, rtol=1e-13, atol=1e-13 * max(1.0, np.abs(want).max()))
