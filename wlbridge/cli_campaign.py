"""``wlbridge check A.onnx B.wlnet DIR/ 'zoo/*.pt2'``: many models in one run (see :mod:`wlbridge.check.campaign`).

One row per model as each finishes (verdict, worst error, the model, each evaluator's seconds), then
a summary line; ``--json``: JSON lines, one report per model (schema ``wlbridge/check/report_schema.json``,
each with ``model``), the summary on stderr; ``--junit FILE``: JUnit XML. Exit status: 0 every model
passed; 1 a check failed (or timed out); 2 a model could not be checked (missing, unreadable,
unsupported) or the options are wrong. One model file without ``--jobs/--cluster/--junit/--model-timeout`` is the
one-model ``check`` (its table and notes, unchanged).
"""
from __future__ import annotations

import glob
import os
import sys
import time


def is_campaign(args) -> bool:
    """Several models, a folder or a glob, or a campaign option given."""
    models = args.model
    return (len(models) > 1 or args.jobs is not None or args.cluster is not None or args.junit is not None
            or args.model_timeout is not None
            or os.path.isdir(models[0]) or (not os.path.exists(models[0]) and glob.has_magic(models[0])))


def run_campaign(args, load=None) -> int:
    """Check every model; print a row per model as it finishes, and a summary; the exit status."""
    from .check.campaign import (MODEL_SUFFIXES, check_many, exit_status, expand_models, runner_text, summary_line,
                                 summary_row)
    from .cli import UsageError, check_keywords, terminal_safe
    from .cli_flags import keywords
    from .errors import FormatError

    for flag, given in (("--code", args.code), ("--inputs", args.inputs)):
        if given:
            raise UsageError(f"{flag} applies to one model: give one model file")
    if args.max_size and args.form != "expanded":
        raise UsageError("--max-size applies to --form expanded only")
    models = expand_models(args.model)
    if not models:
        raise FormatError(f"{', '.join(args.model)}: is a directory with no model files ({', '.join(MODEL_SUFFIXES)})")
    settings = keywords(args, "check", check_keywords())  # the flags that are Net.check keywords
    settings.update(call=args.call or "list", samples=args.samples or 64)
    from .cli import load_keywords

    if load is not None:  # tests: a loader stands in for wlbridge.load
        models = [load(m, **load_keywords(args)) for m in models]
    where = runner_text(args.jobs, args.cluster)
    out = sys.stderr if args.json else sys.stdout
    print(terminal_safe(f"checking {len(models)} models: {where}, engine {args.engine}, "
                        f"{settings['samples']} samples (seed {args.seed}) each"), file=out, flush=True)

    def show(report) -> None:
        if args.json:
            print(report.to_json(), flush=True)
        else:
            print(terminal_safe(summary_row(report)), flush=True)

    t0 = time.perf_counter()
    cap = "auto" if args.model_timeout is None else args.model_timeout or None
    reports = check_many(models, jobs=args.jobs, cluster=args.cluster, on_report=show, model_timeout=cap,
                         simplify=getattr(args, "simplify", False), load=load_keywords(args), **settings)
    seconds = time.perf_counter() - t0
    print(terminal_safe(summary_line(reports, seconds, where)), file=out, flush=True)
    if args.junit:
        from .check.junit import write_junit

        write_junit(args.junit, reports, seconds=seconds)
    return exit_status(reports)
