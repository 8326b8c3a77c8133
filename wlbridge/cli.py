"""The ``wlbridge`` command: convert a model file to closed-form maths, check it, or describe it.

Exit status: 0 success; 1 a check ran and failed (the numbers are shown); 2 anything else that stops
it (bad or unreadable input, unsupported layer, missing engine or package, and internal errors,
which say so): one line on stderr, never a traceback (``--debug`` prints it); 130 interrupted;
141 the output pipe was closed (``wlbridge check ... | head``), quietly.
"""
from __future__ import annotations

import argparse
import os
import re
import stat
import sys
from pathlib import Path
from typing import Callable, Sequence

from .check.calls import detect_call, function_arity, syntax_error
from .cli_flags import add_flags, given, keywords
from .cli_regions import add_parser as add_regions_parser, cmd_regions
from .errors import ConversionError, FormatError, WlbridgeError

EPILOG = """\
examples:
  wlbridge convert model.onnx                      # WL Function[...] (compact) on stdout
  wlbridge convert model.wlnet --form expanded -o net.wl
  wlbridge convert model.pt2 --to sympy            # also: latex, python, c
  wlbridge convert model.onnx --digits 3 --form expanded   # short weights, one formula per output
  wlbridge convert model.onnx --jacobian --to python       # the Jacobian net, as numpy source
  wlbridge check model.onnx                        # Wolfram Engine if found, else Woxi + Mathics3
  wlbridge check model.wlnet --engine woxi --samples 256 --seed 1
  wlbridge check model.onnx --code mine.wl         # check your own WL Function against the net
  wlbridge check model.onnx --inputs x.npy --rtol 1e-6 --json   # given inputs, JSON report for CI
  wlbridge check model.onnx --per-layer            # every layer's error in each engine
  wlbridge check zoo/ a.onnx 'b/*.pt2' --jobs 2 --junit report.xml   # many models; --json: JSON lines
  wlbridge check zoo/ --cluster ray://HEAD:10001   # on a Ray cluster (pip install 'wlbridge[cluster]')
  wlbridge info model.wxf                          # layers, shapes, parameter count, support
  wlbridge convert relu.onnx --form tree --box -1 1 --digits 4   # piecewise / tree forms over a box
  wlbridge regions relu.onnx --box -1 1 --plot regions.png       # linear regions: table and 2-D slice

exit status: 0 ok; 1 the check ran and failed; 2 bad input, unsupported layer, missing engine or
internal error (one line; --debug shows the traceback); 130 interrupted; 141 output pipe closed.
Several models: 2 if any could not be checked, else 1 if any failed.
The Wolfram Engine is found through WOLFRAM_KERNEL or the usual install locations.
"""

OPTIONAL = {"torch": "torch", "onnx": "onnx", "onnxruntime": "onnx", "woxi": "woxi", "mathics": "mathics",
            "h5py": "all", "symengine": "fast", "matplotlib": "plot", "packaging": "mathics"}
BROKEN_PIPE = 141  # what a process killed by SIGPIPE reports in the shell


_NUMBER = r"(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
NEGATIVE = re.compile(rf"^-{_NUMBER}(,-?{_NUMBER})*$")  # -1, -0.5, -1e-3 and bounds lists like -1,0,-2


class _Parser(argparse.ArgumentParser):
    """argparse that, for ``check --json``, also prints a usage error as the JSON error report, and reads
    negative numbers and comma-separated bounds (``--box -1,0,-2 1,1,1``) as values, not flags."""

    def __init__(self, *args, json_errors: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.json_errors = json_errors
        self._negative_number_matcher = NEGATIVE  # argparse's own only knows -1 and -.5

    def error(self, message):
        if self.json_errors:
            _json_error("UsageError", message)
        super().error(message)


def build_parser(json_errors: bool = False) -> argparse.ArgumentParser:
    """The ``wlbridge`` argument parser (sub-commands convert, check, info); ``json_errors``: the check
    command's usage errors are also printed as JSON on stdout (for ``--json``)."""
    from . import __version__

    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error")
    p = argparse.ArgumentParser(prog="wlbridge", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Trained neural nets as closed-form maths (Wolfram Language, sympy), "
                                            "checked in WL engines.", parents=[debug])
    p.add_argument("--version", action="version", version=f"wlbridge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="{convert,check,info,regions}",
                           parser_class=_Parser)
    c = sub.add_parser("convert", help="print the net as WL / sympy / LaTeX / Python / C", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter, parents=[debug])
    c.add_argument("model", help="model file: .wlnet, .wxf, .onnx, .pt2")
    add_flags(c, "convert")
    k = sub.add_parser("check", help="evaluate the WL code in engines against the net", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter, parents=[debug], json_errors=json_errors)
    k.add_argument("model", nargs="+", metavar="MODEL",
                   help="model file: .wlnet, .wxf, .onnx, .pt2; several files, folders or globs check each "
                        "(one row per model, a summary; see --jobs, --cluster, --junit)")
    add_flags(k, "check")
    i = sub.add_parser("info", help="layers, shapes, parameter count, support", parents=[debug])
    i.add_argument("model", help="model file: .wlnet, .wxf, .onnx, .pt2")
    add_flags(i, "info")
    add_regions_parser(sub, [debug])
    return p


class UsageError(WlbridgeError):
    """Options that do not go together (exit 2, one line)."""


def main(argv: Sequence[str] | None = None, *, load: Callable | None = None) -> int:
    """Run the command line; ``load`` (path -> Net) replaces :func:`wlbridge.load` (for tests)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    parser = build_parser(json_errors="--json" in argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the sub-command, whose usage lists its flags, with the nearest one
        _subparser(parser, args.command).error(unrecognized(extra, _subparser(parser, args.command)))
    if not getattr(args, "debug", False):
        quiet_libraries()
    try:
        status = run(args, load)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _discard_stdout()
        return BROKEN_PIPE
    except KeyboardInterrupt:
        print("wlbridge: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the boundary: one line, never a traceback unless asked
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        message = explain(e, getattr(args, "model", ""))
        if getattr(args, "json", False):
            _json_error("InternalError" if message.startswith("internal error") else type(e).__name__, message)
        return _error(message)


def _subparser(parser, command: str) -> argparse.ArgumentParser:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]


def unrecognized(extra: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """argparse's message for unknown arguments, with the nearest valid flag (as ``OptionError`` does for keywords).

    >>> unrecognized(["--digitz", "3"], build_parser()._actions[-1].choices["convert"])
    'unrecognized arguments: --digitz 3 (did you mean --digits?)'
    """
    import difflib

    flags = [f for a in parser._actions for f in a.option_strings if f.startswith("--")]
    near = [m for x in extra if x.startswith("--") for m in difflib.get_close_matches(x.split("=")[0], flags, n=1)]
    return f"unrecognized arguments: {' '.join(extra)}" + (f" (did you mean {', '.join(near)}?)" if near else "")


def quiet_libraries() -> None:
    """Libraries that log a traceback as a warning before raising (torch.export on a corrupt .pt2)."""
    import logging

    logger = logging.getLogger("torch.export")  # a filter, since torch resets logger levels when imported
    if not any(isinstance(f, _ErrorsOnly) for f in logger.filters):
        logger.addFilter(_ErrorsOnly())


class _ErrorsOnly:
    def filter(self, record) -> bool:
        return record.levelno >= 40  # logging.ERROR


def run(args, load: Callable | None = None) -> int:
    """Load the model and run the sub-command (errors propagate to :func:`main`)."""
    if args.command == "check":
        from .cli_campaign import is_campaign, run_campaign

        if is_campaign(args):
            return run_campaign(args, load)
        args.model = args.model[0]
    validate(args)
    if args.command == "check":  # Mathics3's ~10 s start-up begins now, beside loading the model
        from .check.plan import prestart

        prestart(args.engine, kernel=args.kernel)
    if load is None:
        from . import load

        check_readable(args.model)
    net = load(args.model, **load_keywords(args))
    net = net.simplify() if getattr(args, "simplify", False) else net
    return COMMANDS[args.command](args, net.jacobian() if getattr(args, "jacobian", False) else net)


def load_keywords(args) -> dict:
    """The loader's keywords the flags set (``--input-names``, ``--sequence-length``)."""
    return keywords(args, args.command, ("input_names", "sequence_length"))


def explain(e: BaseException, model: str) -> str:
    """The one line shown for an exception that stopped the command."""
    if isinstance(e, WlbridgeError):  # in the CLI's words: a size refusal of --form expanded names --max-size
        return cli_words(str(e))
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in OPTIONAL:
        extra = OPTIONAL[e.name.split(".")[0]]
        return f"{model}: needs the Python package {e.name!r}: pip install 'wlbridge[{extra}]'"
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename or model}: {e.strerror}"
    if isinstance(e, MemoryError):
        return f"{model}: out of memory (the file declares more data than fits)"
    text = " ".join(str(e).split())[:300]
    return (f"internal error (a bug in wlbridge, please report it): {type(e).__name__}: {text} "
            f"[while processing {model}; --debug shows the traceback]")


def check_readable(path: str, what: str = "model file") -> None:
    """Refuse a path that is missing, empty, a directory, or not a regular file (a FIFO would block the reader)."""
    try:
        info = os.stat(path)
    except OSError as e:
        raise FormatError(f"{path}: cannot read the {what}: {e.strerror or e}") from None
    if stat.S_ISDIR(info.st_mode):
        raise FormatError(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise FormatError(f"{path}: not a regular file (a FIFO, device or socket); give a {what}")
    if info.st_size == 0:
        raise FormatError(f"{path}: the {what} is empty")


def validate(args) -> None:
    """Refuse options that would be silently ignored."""
    if args.command == "convert":
        wrong = given(args, "convert", [k for k in EMIT_KEYWORDS if k not in emit_keywords(args.to)])
        if wrong:
            takes = ", ".join("--" + k.replace("_", "-") for k in emit_keywords(args.to)) or "none of them"
            raise UsageError(f"--to {args.to} takes none of {', '.join(wrong)} (it takes {takes})")
    if args.command in ("convert", "check") and args.max_size and args.form != "expanded":
        raise UsageError("--max-size applies to --form expanded only")
    if args.command in ("convert", "check") and args.form in ("piecewise", "tree") and not args.box:
        raise UsageError(f"--form {args.form} needs --box LO HI (the input box of its linear regions; the form is "
                         "Indeterminate outside it)")
    if args.command == "check" and args.inputs and args.samples:
        raise UsageError("give --inputs or --samples, not both")
    if args.command == "check" and args.code and (args.exact or args.digits is not None):
        raise UsageError(f"{'--exact' if args.exact else '--digits'} chooses the emitted code; it does nothing "
                         "with --code")


EMIT_KEYWORDS = ("form", "call", "exact", "digits", "box", "minimal", "weights", "activations", "max_size")


def check_keywords() -> list[str]:
    """The keywords of ``Net.check`` that a flag gives as it is (``--code``, ``--inputs`` name files, ``--call``
    may come from the code, ``--samples`` has a default here)."""
    import inspect

    from .ir import Net

    files = ("code", "inputs", "call", "samples")
    return [k for k in inspect.signature(Net.check).parameters if k not in files]


def emit_keywords(target: str) -> list[str]:
    """The emit options ``Net.to_<target>`` takes (its signature is the list)."""
    import inspect

    from .ir import Net

    return [k for k in inspect.signature(getattr(Net, f"to_{target}")).parameters if k in EMIT_KEYWORDS]


def terminal_safe(text: str) -> str:
    r"""``text`` with control and format characters (terminal escapes in names from a file) shown as escapes.

    >>> terminal_safe("net\x1b[2Jname\n")
    'net\\x1b[2Jname\n'
    """
    import unicodedata

    return "".join(c if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf") else repr(c)[1:-1]
                   for c in text)


def _error(message: str) -> int:
    print(f"wlbridge: error: {terminal_safe(message)}", file=sys.stderr)
    return 2


def _json_error(kind: str, message: str) -> None:
    """``check --json`` stopped before a report: the error report on stdout (the one line goes to stderr too)."""
    import json

    from .check.report import error_report

    print(json.dumps(error_report(kind, message)), flush=True)


def _discard_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


_CLI_WORDS = (("form='compact'", "--form compact"), ("use to_wl() or to_python()", "use --to wl or --to python"),
              ("max_size=", "--max-size "), ("raise max_size", "raise --max-size"),
              ("pass sequence_length=", "pass --sequence-length N"), ("sequence_length applies", "--sequence-length applies"))


def cli_words(text: str) -> str:
    """A refusal in the CLI's words (``--max-size``, ``--sequence-length``), not the API's keywords (``max_size=``)."""
    for api, cli in _CLI_WORDS:
        text = text.replace(api, cli)
    return text


def _emit_text(net, args):
    options = keywords(args, "convert", emit_keywords(args.to))
    result = getattr(net, f"to_{args.to}")(**options)
    return _sympy_text(result) if args.to == "sympy" else result


def _sympy_text(obj) -> str:
    if isinstance(obj, (list, tuple)) and all(isinstance(t, tuple) and len(t) == 2 for t in obj):
        return "\n".join(f"{name} = {value}" for name, value in obj)
    return str(obj)


def cmd_convert(args, net) -> int:
    """``wlbridge convert``: write the emitted code to ``--output`` or stdout."""
    result = _emit_text(net, args)
    text = str(result)  # a C function: its source (the header goes beside -o OUT)
    if not text.endswith("\n"):
        text += "\n"
    if args.output:
        files = {args.output: text}
        if args.to == "c":
            files[str(Path(args.output).with_suffix(".h"))] = result.header
        for path, content in files.items():
            try:
                Path(path).write_text(content)
            except OSError as e:
                return _error(f"cannot write {path}: {e.strerror or e}")
    else:
        sys.stdout.write(text)
    return 0


def read_code(path: str) -> str:
    """The text of a ``--code`` file (UTF-8 WL), or a :class:`FormatError` saying why not (where, for a syntax error)."""
    check_readable(path, "WL code file")
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not UTF-8 text (byte {e.start}); --code takes a WL Function as text") from None
    problem = syntax_error(text)  # located in the user's file, not in the program the engines are sent
    if problem:
        raise FormatError(f"{path}: not valid WL: {problem}")
    return text


def read_inputs(path: str, net):
    """Inputs from ``.npy`` (one port) or ``.npz`` (arrays named like the ports, or in file order)."""
    import numpy as np

    check_readable(path, "input array file")
    try:
        data = np.load(path, allow_pickle=False)
        arrays = [data[k] for k in _npz_keys(data, net)] if isinstance(data, np.lib.npyio.NpzFile) else [data]
    except (OSError, ValueError, EOFError, KeyError) as e:
        raise FormatError(f"{path}: not a .npy / .npz array file: {' '.join(str(e).split())[:200]}") from None
    for a in arrays:
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise FormatError(f"{path}: inputs must be numbers, not {a.dtype}")
    from .check.sampling import as_batch

    try:  # shapes checked before the check starts, naming the file
        as_batch(net, arrays[0] if len(arrays) == 1 else arrays)
    except ConversionError as e:
        raise FormatError(f"{path}: {e}") from None
    return arrays[0] if len(arrays) == 1 else arrays


def _npz_keys(data, net) -> list[str]:
    names = [p.name for p in net.inputs]
    return names if all(n in data.files for n in names) else list(data.files)


def call_notes(args, code, call, net, report) -> list[str]:
    """Say how the call convention was chosen, and hint at --call sequence when it was probably wrong."""
    notes = []
    if args.call is None and code and call == "sequence":
        notes.append(f"call sequence (f[x1, x2, ...]), from the --code Function's {len(net.input_names)} parameters")
    arity = function_arity(code) if code else None
    if call == "list" and report.failures and (
            (arity or 0) > len(net.inputs) or any("Too many parameters" in r.note for r in report.failures)):
        notes.append(f"hint: the function takes {arity or 'more'} parameters, the net has {len(net.inputs)} "
                     "input port(s): if it takes one parameter per input scalar, use --call sequence")
    return notes


def cmd_check(args, net) -> int:
    """``wlbridge check``: print the rows as they finish, then the verdict; exit 0 if it passed, else 1."""
    code = read_code(args.code) if args.code else None
    inputs = read_inputs(args.inputs, net) if args.inputs else None
    call = args.call or (detect_call(code, net) if code else None) or "list"
    settings = keywords(args, "check", check_keywords())  # the flags that are Net.check keywords as they are
    settings.update(code=code, call=call)
    if inputs is not None:
        settings["inputs"] = inputs
    else:
        settings["samples"] = args.samples or 64
    if args.json:
        report = net.check(**settings)
        report.notes += call_notes(args, code, call, net, report)
        print(report.to_json(indent=1))
        return 0 if report.passed else 1
    from .check.report import HEADER, format_cells, format_row

    size = "given inputs" if inputs is not None else f"{settings['samples']} samples (seed {args.seed})"
    print(terminal_safe(f"checking {net.name}: {size}, engine {args.engine}, call {call}"), flush=True)
    print(format_cells(HEADER), flush=True)
    report = net.check(**settings, on_row=lambda row: print(terminal_safe(format_row(row)), flush=True))
    report.notes += call_notes(args, code, call, net, report)
    print(terminal_safe("\n".join(report.notes_lines() + [report.title() + f": {report.verdict}"])))
    return 0 if report.passed else 1


def cmd_info(args, net) -> int:
    """``wlbridge info``: print :func:`describe` of the net (``--json``: :func:`info_json`)."""
    if getattr(args, "json", False):
        import json

        print(json.dumps(info_json(net), default=str))
    else:
        print(terminal_safe(describe(net)))
    return 0


def info_json(net) -> dict:
    """What ``describe`` says, as data (``wlbridge info --json``): ports, layers, weights, what the file says
    of itself, emitter support and engines. Names from the file are data here: strings in JSON."""
    from .weights import weight_counts

    counts = weight_counts(net)
    return {"schema": "wlbridge-info/1", "net": net.name,
            "inputs": [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype} for p in net.inputs],
            "scalar_names": list(net.input_names),
            "outputs": [{"name": o, "shape": list(net.shapes[o])} for o in net.outputs],
            "weights": {kind: dict(by_dtype) for kind, by_dtype in counts.items()},
            "parameters": sum(sum(by_dtype.values()) for kind, by_dtype in counts.items() if kind != "constants"),
            "layers": [{"op": la.op, "inputs": list(la.inputs), "output": la.output, "path": la.path,
                        "shape": list(net.shapes[la.output])} for la in net.layers],
            "meta": {k: net.meta[k] for k in ("opsets", "producer", "symbolic_axes", "data_dependent")
                     if k in net.meta},
            "source": None if net.origin is None else {"name": net.origin.name, "dtype": str(net.origin.dtype)},
            "emitters": emitter_support(net), "engines": engine_status()}


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
    lines += model_lines(net.meta)
    if net.origin is not None:
        lines.append(f"source:      {net.origin.name} ({net.origin.dtype}), runnable for check")
    lines += [f"emit {t}:".ljust(13) + status for t, status in emitter_support(net).items()]
    lines.append("engines:     " + engine_status())
    return "\n".join(lines)


def model_lines(meta) -> list[str]:
    """What the file says of itself (ONNX: opsets, producer, symbolic axes, data-dependent parts)."""
    lines = []
    if meta.get("opsets"):
        lines.append("opsets:      " + ", ".join(f"{d} {v}" for d, v in meta["opsets"].items()))
    if "producer" in meta:
        lines.append(f"producer:    {meta['producer'] or 'not recorded'}")
    if "symbolic_axes" in meta:
        axes = [f"{name}[{a}] = {sym}" for name, d in meta["symbolic_axes"].items() for a, sym in d.items()]
        lines.append("symbolic:    " + (", ".join(axes) if axes else "none (every axis fixed)"))
    if meta.get("data_dependent"):
        lines.append("data-dependent: " + "; ".join(map(str, meta["data_dependent"])))
    return lines


def emitter_support(net) -> dict[str, str]:
    """Per emitter: 'all N ops supported' or what it lacks (from its SUPPORT / ACTIVATION_SUPPORT tables)."""
    import importlib

    used = sorted({layer.op for layer in net.layers})
    fns = sorted({layer.attrs["fn"] for layer in net.layers if layer.op == "elementwise" and "fn" in layer.attrs})
    out = {}
    for target in ("wl", "sympy", "latex", "python", "c"):
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


COMMANDS = {"convert": cmd_convert, "check": cmd_check, "info": cmd_info, "regions": cmd_regions}
