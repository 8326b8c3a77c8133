"""The ``wlbridge`` command: convert a model file to closed-form maths, check it, or describe it.

Exit status: 0 success; 1 check failed (the numbers are shown); 2 bad input, unsupported layer or
missing engine (one line on stderr).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from .errors import WlbridgeError

EPILOG = """\
examples:
  wlbridge convert model.onnx                      # WL Function[...] (compact) on stdout
  wlbridge convert model.wlnet --form expanded -o net.wl
  wlbridge convert model.pt2 --to sympy            # also: latex, python
  wlbridge check model.onnx                        # Wolfram Engine if found, else Woxi + Mathics3
  wlbridge check model.wlnet --engine woxi --samples 256 --seed 1
  wlbridge check model.onnx --code mine.wl         # check your own WL Function against the net
  wlbridge info model.wxf                          # layers, shapes, parameter count, support

exit status: 0 ok, 1 check failed, 2 bad input / unsupported layer / missing engine.
The Wolfram Engine is found through WOLFRAM_KERNEL or the usual install locations.
"""

OPTIONAL = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnx", "woxi": "woxi", "mathics": "mathics",
            "h5py": "all", "symengine": "fast"}


def build_parser() -> argparse.ArgumentParser:
    """The ``wlbridge`` argument parser (sub-commands convert, check, info)."""
    p = argparse.ArgumentParser(prog="wlbridge", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Trained neural nets as closed-form maths (Wolfram Language, sympy), "
                                            "checked in WL engines.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{convert,check,info}")
    c = sub.add_parser("convert", help="print the net as WL / sympy / LaTeX / Python", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("model", help="model file: .wlnet, .wxf, .onnx, .pt2")
    c.add_argument("--to", choices=["wl", "sympy", "latex", "python"], default="wl")
    _code_options(c)
    c.add_argument("--exact", action="store_true", help="weights as exact rationals")
    c.add_argument("-o", "--output", metavar="OUT", help="write to OUT instead of stdout")
    k = sub.add_parser("check", help="evaluate the WL code in engines against the net", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    k.add_argument("model", help="model file: .wlnet, .wxf, .onnx, .pt2")
    k.add_argument("--engine", choices=["auto", "wolfram", "woxi", "mathics", "embedded"], default="auto")
    k.add_argument("--samples", type=_positive, default=64, metavar="N", help="number of inputs (default 64)")
    k.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    k.add_argument("--code", metavar="FILE.wl", help="check this WL Function instead of the emitted one")
    _code_options(k)
    k.add_argument("--exact", action="store_true", help="check the exact-rational form")
    k.add_argument("--mathics-budget", type=float, default=20.0, metavar="SECONDS",
                   help="time budget for Mathics3; it gets as many samples as fit (at least one)")
    i = sub.add_parser("info", help="layers, shapes, parameter count, support")
    i.add_argument("model", help="model file: .wlnet, .wxf, .onnx, .pt2")
    return p


def _code_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--form", choices=["compact", "expanded"], default="compact")
    p.add_argument("--call", choices=["list", "sequence"], default="list", help="f[{x1, ..}] or f[x1, ..]")


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def main(argv: Sequence[str] | None = None, *, load: Callable | None = None) -> int:
    """Run the command line; ``load`` (path -> Net) replaces :func:`wlbridge.load` (for tests)."""
    args = build_parser().parse_args(argv)
    if load is None:
        from . import load
    try:
        return COMMANDS[args.command](args, load(args.model))
    except WlbridgeError as e:
        return _error(str(e))
    except ModuleNotFoundError as e:
        extra = OPTIONAL.get((e.name or "").split(".")[0])
        if extra is None:
            raise
        return _error(f"{args.model}: needs the Python package {e.name!r}: pip install 'wlbridge[{extra}]'")
    except KeyboardInterrupt:
        print("wlbridge: interrupted", file=sys.stderr)
        return 130


def _error(message: str) -> int:
    print(f"wlbridge: error: {message}", file=sys.stderr)
    return 2


def _emit(net, to: str, form: str, call: str, exact: bool) -> str:
    extra = {"exact": True} if exact else {}
    if to == "wl":
        return net.to_wl(form=form, call=call, **extra)
    if to == "sympy":
        return _sympy_text(net.to_sympy(form=form, **extra))
    return net.to_latex(**extra) if to == "latex" else net.to_python(**extra)


def _sympy_text(obj) -> str:
    if isinstance(obj, (list, tuple)) and all(isinstance(t, tuple) and len(t) == 2 for t in obj):
        return "\n".join(f"{name} = {value}" for name, value in obj)
    return str(obj)


def cmd_convert(args, net) -> int:
    """``wlbridge convert``: write the emitted code to ``--output`` or stdout."""
    text = _emit(net, args.to, args.form, args.call, args.exact)
    if not text.endswith("\n"):
        text += "\n"
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as e:
            return _error(f"cannot write {args.output}: {e.strerror or e}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args, net) -> int:
    """``wlbridge check``: print the check report; exit 0 if it passed, else 1."""
    code = None
    if args.code:
        try:
            code = Path(args.code).read_text()
        except OSError as e:
            return _error(f"cannot read {args.code}: {e.strerror or e}")
    report = net.check(engine=args.engine, samples=args.samples, seed=args.seed, code=code, form=args.form,
                       call=args.call, exact=args.exact, mathics_budget=args.mathics_budget)
    print(report)
    return 0 if report.passed else 1


def cmd_info(args, net) -> int:
    """``wlbridge info``: print :func:`describe` of the net."""
    print(describe(net))
    return 0


def describe(net) -> str:
    """Layers with shapes, parameter count, which emitters cover its ops, which engines are here."""
    from .weights import weight_summary

    names = net.input_names
    lines = [str(net), "",
             f"inputs:      {', '.join(p.name + str(list(p.shape)) for p in net.inputs)}; scalar names "
             f"{', '.join(names[:4])}{', ...' if len(names) > 4 else ''} ({len(names)})",
             f"outputs:     {', '.join(o + str(list(net.shapes[o])) for o in net.outputs)}",
             f"parameters:  {weight_summary(net)}",
             f"layers:      {len(net.layers)}; ops: {', '.join(sorted({layer.op for layer in net.layers}))}"]
    if net.origin is not None:
        lines.append(f"source:      {net.origin.name} ({net.origin.dtype}), runnable for check")
    lines += [f"emit {t}:".ljust(13) + status for t, status in emitter_support(net).items()]
    lines.append("engines:     " + engine_status())
    return "\n".join(lines)


def emitter_support(net) -> dict[str, str]:
    """Per emitter: 'all N ops supported' or what it lacks (from its SUPPORT / ACTIVATION_SUPPORT tables)."""
    import importlib

    used = sorted({layer.op for layer in net.layers})
    fns = sorted({layer.attrs["fn"] for layer in net.layers if layer.op == "elementwise" and "fn" in layer.attrs})
    out = {}
    for target in ("wl", "sympy", "latex", "python"):
        try:
            module = importlib.import_module(f"wlbridge.emit.{target}")
        except ImportError:
            out[target] = "not available in this build"
            continue
        ops, acts = getattr(module, "SUPPORT", {}), getattr(module, "ACTIVATION_SUPPORT", {})
        gaps = [f"{op} ({ops.get(op) or 'no rule'})" for op in used if op not in ops or ops[op] is not None]
        gaps += [f"{fn} ({acts.get(fn) or 'no rule'})" for fn in fns if acts and (fn not in acts or acts[fn])]
        out[target] = "unsupported: " + ", ".join(gaps) if gaps else f"all {len(used)} ops supported"
    return out


def engine_status() -> str:
    """One line saying which WL engines (Woxi, Mathics3, a Wolfram kernel) are available."""
    import importlib.util

    from .check.wolfram import find_kernel

    try:
        kernel = find_kernel() or "not found (set WOLFRAM_KERNEL)"
    except WlbridgeError as e:
        kernel = str(e)
    have = {m: importlib.util.find_spec(m) is not None for m in ("woxi", "mathics")}
    return (f"woxi {'yes' if have['woxi'] else 'no'}, mathics3 {'yes' if have['mathics'] else 'no'}, "
            f"wolfram kernel {kernel}")


COMMANDS = {"convert": cmd_convert, "check": cmd_check, "info": cmd_info}
