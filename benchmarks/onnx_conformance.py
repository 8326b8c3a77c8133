"""Run the ONNX backend test data through wlbridge's ONNX front end.

Sources: the ``pytorch-converted``, ``pytorch-operator`` and ``simple`` model tests shipped in the
onnx wheel, and the node tests regenerated (in memory) from ``onnx.backend.test.case.node``.
Each test whose ops all convert is evaluated on its own inputs by:

- ``ref``: the numpy float64 reference of the IR (always);
- ``sympy``: ``lambdify`` of ``net.to_sympy("expanded")`` (when ``wlbridge.emit.sympy`` exists);
- ``woxi`` / ``mathics``: ``net.to_wl()`` in the engine (when ``wlbridge.check.engines`` exists);

and compared with the test's expected outputs. Node tests pass weights as graph inputs: a test is
converted with all inputs variable first, and if that needs a product of two variables, again
with every input but the first frozen as constants.

    python benchmarks/onnx_conformance.py [--node-only | --models-only] [--ops Gemm,Conv] [--paths]
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import os
import signal
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SUITES = ("pytorch-converted", "pytorch-operator", "simple")
FLOATS = (np.float16, np.float32, np.float64)


@dataclass
class Case:
    name: str
    suite: str
    model: object
    inputs: list
    outputs: list
    ops: tuple = ()


@dataclass
class Result:
    case: Case
    status: str  # passed | failed | skipped | error
    errors: dict = field(default_factory=dict)  # evaluator -> max abs error (nan if it failed)
    note: str = ""


def model_cases(suites=SUITES):
    import onnx
    from onnx import numpy_helper

    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for suite in suites:
        for d in sorted(glob.glob(os.path.join(root, suite, "*"))):
            model = onnx.load(os.path.join(d, "model.onnx"))
            for ds in sorted(glob.glob(os.path.join(d, "test_data_set_*")))[:1]:
                read = lambda pat: [numpy_helper.to_array(onnx.load_tensor(f))  # noqa: E731
                                    for f in sorted(glob.glob(os.path.join(ds, pat)))]
                yield Case(os.path.basename(d), suite, model, read("input_*.pb"), read("output_*.pb"),
                           tuple(sorted({n.op_type for n in model.graph.node})))


def node_cases(ops=None):
    from onnx import numpy_helper
    from onnx.backend.test.case import node

    cases = node.collect_testcases()
    single = {tc.name: tc.model.graph.node[0].op_type for tc in cases if len(tc.model.graph.node) == 1}
    for tc in cases:
        target = _target_op(tc, single)
        if ops and target.split(" ")[0] not in ops:
            continue
        for inputs, outputs in tc.data_sets[:1]:
            arr = lambda v: numpy_helper.to_array(v) if hasattr(v, "SerializeToString") else v  # noqa: E731
            yield Case(tc.name, "node", tc.model, [arr(v) for v in inputs], [arr(v) for v in outputs], (target,))


def _target_op(tc, single: dict) -> str:
    """The op a node test is about; its function-expanded variant is 'Op (expanded)'."""
    if "_expanded" in tc.name:
        base = single.get(tc.name.split("_expanded")[0])
        return f"{base} (expanded)" if base else "(expanded)"
    return single.get(tc.name) or tc.model.graph.node[0].op_type


def usable(case: Case) -> bool:
    """Float tensors in and out, no sequences/optionals, one data set."""
    ok = lambda a: isinstance(a, np.ndarray) and a.dtype.type in FLOATS  # noqa: E731
    tensors = all(i.type.HasField("tensor_type") for i in case.model.graph.input)
    return tensors and bool(case.inputs) and ok(case.inputs[0]) and all(ok(o) for o in case.outputs)


def convert(case: Case):
    """(net, batched) or raise: all inputs variable first, then all but the first frozen."""
    import wlbridge as wb

    inits = {t.name for t in case.model.graph.initializer}
    names = [i.name for i in case.model.graph.input if i.name not in inits]
    try:
        return wb.from_onnx(case.model, origin=False), names
    except wb.WlbridgeError:
        if len(names) < 2:
            raise
    frozen = dict(zip(names[1:], case.inputs[1:]))
    return wb.from_onnx(case.model, constants=frozen, origin=False), names[:1]


def tolerance(dtype) -> tuple[float, float]:
    """The ONNX backend tests' own tolerance (rtol, atol); some expected outputs have 4 digits."""
    return 1e-3, 1e-7


def run_case(case: Case, evaluators) -> Result:
    import wlbridge as wb

    try:
        net, names = convert(case)
    except wb.UnsupportedLayerError as e:
        return Result(case, "skipped", note="; ".join(f"{op.split(',')[0]}: {why}" if why else op.split(",")[0]
                                                      for _, op, why in e.items))
    except wb.WlbridgeError as e:
        return Result(case, "error", note=f"{type(e).__name__}: {e}")
    except Exception as e:  # a crash in the front end: a defect, listed with the errors
        import traceback

        tb = traceback.extract_tb(e.__traceback__)[-1]
        return Result(case, "error", note=f"CRASH {type(e).__name__}: {e} at {tb.filename}:{tb.lineno}")
    xs = case.inputs[:len(names)]
    res = Result(case, "passed")
    for label, fn in evaluators.items():
        try:
            with time_limit(TIME_LIMIT):
                got = fn(net, xs)
        except NotImplementedError:
            continue
        except (Exception, Timeout) as e:  # an evaluator failing is a test failure, shown with its message
            res.errors[label], res.status = float("nan"), "failed"
            res.note += f"{label}: {type(e).__name__}: {str(e)[:200]} "
            continue
        err, ok = compare(got, case.outputs)
        res.errors[label] = err
        if not ok:
            res.status = "failed"
            res.note += f"{label}: max abs error {err:.3g} " + ("(non-finite results) " if err != err else "")
    return res


TIME_LIMIT = 60  # seconds per evaluator and test; a hang is reported as a failure


class Timeout(BaseException):
    """Not an Exception: library code that catches Exception must not swallow it."""


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise TimeoutError after ``seconds`` (SIGALRM; reaches Python code only, e.g. sympy, Mathics)."""
    def alarm(signum, frame):
        raise Timeout(f"no result in {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def compare(got, expected) -> tuple[float, bool]:
    got = got if isinstance(got, list) else [got]
    worst, ok = 0.0, len(got) == len(expected)
    for g, e in zip(got, expected):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != e.shape:
            return float("inf"), False
        rtol, atol = tolerance(e.dtype)
        e64 = e.astype(np.float64)
        both_nan = np.isnan(g) & np.isnan(e64)
        diff = np.where(both_nan, 0.0, np.abs(g - e64))
        if np.any(np.isnan(diff)):  # a NaN where the test expects a number: say so, not 0
            worst = float("nan")
        elif worst == worst:
            worst = max(worst, float(np.max(diff, initial=0.0)))
        ok &= bool(np.all(both_nan | np.isclose(g, e64, rtol=rtol, atol=atol)))
    return worst, ok


# ---- evaluators: each takes (net, inputs as given by the test) and returns the outputs ----------

def eval_reference(net, xs):
    return net(*xs)


def batched(net, xs):
    """The test's inputs with a batch axis (a test without batch axis is one sample); and a flag."""
    from wlbridge.check.sampling import as_batch

    single = tuple(np.shape(xs[0])) == tuple(net.inputs[0].shape)
    return as_batch(net, list(xs)), single


def unbatch(outs, single: bool):
    return [o[0] for o in outs] if single else list(outs)


def eval_sympy(net, xs):
    """``lambdify`` of ``net.to_sympy("expanded")`` on the test's inputs (needs ``wlbridge.emit.sympy``)."""
    try:
        from wlbridge.check.sympy_eval import evaluate_sympy
        from wlbridge.emit import sympy as _  # noqa: F401
    except ImportError:
        raise NotImplementedError from None
    from wlbridge.errors import ExpressionTooLargeError

    if cost(net) > SYMPY_MAX_COST:
        raise NotImplementedError  # lambdify over this many symbols is not a test of anything
    batch, single = batched(net, xs)
    try:
        return unbatch(evaluate_sympy(net, batch, form="expanded"), single)
    except ExpressionTooLargeError:
        raise NotImplementedError from None


SYMPY_MAX_COST = 20_000
ENGINE_MAX_COST = {"woxi": 10**5, "mathics": 3 * 10**4}  # (params + values) x samples, roughly
_ENGINES: dict = {}


def eval_engine(engine: str):
    def run(net, xs):
        """``net.to_wl()`` in a WL engine on the test's inputs (needs the emitters and engines)."""
        try:
            from wlbridge.check.engines import get_engines
            from wlbridge.emit import wl as _  # noqa: F401
        except ImportError:
            raise NotImplementedError from None
        batch, single = batched(net, xs)
        if cost(net) * len(batch[0]) > ENGINE_MAX_COST[engine]:
            raise NotImplementedError  # too costly for this engine: not counted
        if engine not in _ENGINES:
            _ENGINES[engine] = get_engines(engine)[0]
        res = _ENGINES[engine].apply(net.to_wl(), batch, call="list", output_shapes=net.output_shapes)
        if res.values is None or res.problem:
            raise RuntimeError(f"{res.problem}; messages: {'; '.join(res.messages[:3])}")
        return unbatch(res.values, single)
    return run


def cost(net) -> int:
    """A rough size of the evaluation: parameters plus every value's size."""
    return net.param_count + sum(int(np.prod(s, dtype=np.int64)) for s in net.shapes.values())


# ---- report ------------------------------------------------------------------------------------

def table(results, evaluators) -> str:
    """Per op: node tests by the op they test; model tests count for every op they contain."""
    rows = defaultdict(lambda: {"run": 0, "passed": 0, "failed": 0, "err": defaultdict(float)})
    for r in results:
        if r.status == "skipped":
            continue
        for op in r.case.ops:
            row = rows[op]
            row["run"] += 1
            row["passed" if r.status == "passed" else "failed"] += 1
            for k, v in r.errors.items():
                row["err"][k] = max(row["err"][k], v) if v == v else float("nan")
    labels = list(evaluators)
    head = f"{'op':<22}{'run':>5}{'pass':>6}{'fail':>6}" + "".join(f"{'max err ' + k:>16}" for k in labels)
    lines = [head, "-" * len(head)]
    for op in sorted(rows):
        row = rows[op]
        errs = "".join(f"{row['err'][k]:>16.2e}" if k in row["err"] else f"{'-':>16}" for k in labels)
        lines.append(f"{op:<22}{row['run']:>5}{row['passed']:>6}{row['failed']:>6}{errs}")
    return "\n".join(lines)


def summary(results) -> str:
    by = defaultdict(lambda: defaultdict(int))
    for r in results:
        by[r.case.suite][r.status] += 1
    cols = ("passed", "failed", "error", "skipped")
    lines = [f"{'suite':<20}" + "".join(f"{c:>9}" for c in cols)]
    for suite, c in sorted(by.items()):
        lines.append(f"{suite:<20}" + "".join(f"{c[k]:>9}" for k in cols))
    return "\n".join(lines)


def skip_counts(results) -> str:
    from collections import Counter

    count = Counter()
    for r in results:
        if r.status == "skipped":
            count.update({part.split(":")[0].strip() for part in r.note.split(";")})
    return "  " + ", ".join(f"{op} {n}" for op, n in count.most_common())


def main(argv=None) -> int:
    import warnings

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--node-only", action="store_true")
    ap.add_argument("--models-only", action="store_true")
    ap.add_argument("--ops", help="comma-separated node ops to run (default: all)")
    ap.add_argument("--engines", default="woxi,mathics", help="WL engines to use: woxi,mathics or none")
    ap.add_argument("--no-sympy", action="store_true", help="skip the sympy evaluation")
    ap.add_argument("--time-limit", type=int, default=TIME_LIMIT, help="seconds per evaluator and test")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each test as it finishes")
    args = ap.parse_args(argv)
    evaluators = {"ref": eval_reference} if args.no_sympy else {"ref": eval_reference, "sympy": eval_sympy}
    for e in filter(None, args.engines.split(",")):
        if e != "none":
            evaluators[e] = eval_engine(e)
    t0 = time.time()
    cases = []
    if not args.node_only:
        cases += list(model_cases())
    if not args.models_only:
        cases += list(node_cases(args.ops.split(",") if args.ops else None))
    globals()["TIME_LIMIT"] = args.time_limit
    results = []
    for c in filter(usable, cases):
        results.append(run_case(c, evaluators))
        if args.verbose:
            r = results[-1]
            print(f"  {r.status:8} {c.suite}/{c.name} {r.errors} {r.note[:120]}", flush=True)
    print(f"{len(cases)} tests, {len(results)} with float inputs/outputs, {time.time() - t0:.1f} s\n")
    print(summary(results), "\n")
    node = [r for r in results if r.case.suite == "node"]
    print("node tests, by the op each tests:")
    print(table(node, evaluators), "\n")
    print("model tests (pytorch-converted, pytorch-operator, simple), by every op they contain:")
    print(table([r for r in results if r.case.suite != "node"], evaluators), "\n")
    print("unsupported ops (tests skipped for each):")
    print(skip_counts(results), "\n")
    for status in ("failed", "error", "skipped"):
        picked = [r for r in results if r.status == status]
        print(f"{status} ({len(picked)}):")
        for r in picked:
            print(f"  {r.case.suite}/{r.case.name}: {r.note.strip()[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
