"""Linear regions of a piecewise-linear net over a box: one affine map ``A x + b`` per polytope ``H x <= g``.

A net of affine layers (linear, matmul, conv, batchnorm, avg/sum pooling, reshapes, sums, ...) and
piecewise-linear ones (ReLU, LeakyReLU, PReLU, Hardtanh/Clip, ReLU6, Abs, max-pooling, max/min) is
affine on each cell of a partition of its input space. ``linear_regions`` enumerates exactly the cells
(activation patterns) that meet the box in a set of positive volume: a depth-first search over the
pieces of each element, layer by layer, pruning a branch as soon as its polytope is empty (LP
feasibility with scipy's HiGHS: the Chebyshev ball of the polytope must have a positive radius).
Every region carries its witness point (the ball's centre). Region counts grow exponentially with
width and depth in the worst case; ``max_regions`` stops the search with :class:`TooManyRegionsError`.

>>> import numpy as np
>>> from wlbridge.ir import NetBuilder
>>> b = NetBuilder(); x = b.input("x", (1,))
>>> h = b.layer("elementwise", [b.layer("linear", [x], params={"weight": np.array([[1.0]])})], attrs={"fn": "relu"})
>>> r = linear_regions(b.build([h]), -1, 1)
>>> len(r), [reg.A.tolist() for reg in r]
(2, [[[0.0]], [[1.0]]])
>>> r.to_sympy()
Matrix([[Piecewise((0, (x1 >= -1.0) & (x1 <= 1.0) & (x1 <= 0)), (x1, (x1 >= -1.0) & (x1 <= 1.0) & (x1 >= 0)), (nan, True))]])
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import ExpressionTooLargeError, UnsupportedLayerError, WlbridgeError
from ..ops import NOT_SMOOTH
from ..reference import RULES as REFERENCE

AFFINE_FNS = {"identity", "neg"}


class TooManyRegionsError(ExpressionTooLargeError):
    """The search met more regions than ``max_regions`` allows."""


# pieces of each piecewise-linear activation: (lower, upper, slope, offset): on lower <= z <= upper, y = slope z + offset
def _pieces(fn: str, p: dict) -> list[tuple[float, float, float, float]] | None:
    inf = np.inf
    if fn == "relu":
        return [(-inf, 0.0, 0.0, 0.0), (0.0, inf, 1.0, 0.0)]
    if fn == "leaky_relu":
        return [(-inf, 0.0, p.get("negative_slope", 0.01), 0.0), (0.0, inf, 1.0, 0.0)]
    if fn == "abs":
        return [(-inf, 0.0, -1.0, 0.0), (0.0, inf, 1.0, 0.0)]
    if fn in ("clip", "relu6"):
        lo, hi = (0.0, 6.0) if fn == "relu6" else (p.get("min_val", -1.0), p.get("max_val", 1.0))
        hi = max(lo, hi)
        return [(-inf, lo, 0.0, lo), (lo, hi, 1.0, 0.0), (hi, inf, 0.0, hi)]
    return None


@dataclass(frozen=True)
class Region:
    """One cell: the net is ``A @ x + b`` (outputs flattened) for inputs with ``H @ x <= g``."""

    pattern: tuple[int, ...]
    A: np.ndarray
    b: np.ndarray
    H: np.ndarray
    g: np.ndarray
    witness: np.ndarray
    radius: float

    def contains(self, x, tol: float = 1e-9) -> np.ndarray:
        """Which rows of ``x`` (batch, n) lie in the polytope (within ``tol``)."""
        return np.all(np.atleast_2d(x) @ self.H.T <= self.g + tol, axis=1)


@dataclass
class LinearRegions:
    """The regions of ``net`` over the box ``[lower, upper]``, with the search's statistics."""

    net: object
    lower: np.ndarray
    upper: np.ndarray
    regions: list[Region]
    seconds: float
    lps: int
    notes: list[str] = field(default_factory=list)
    verification: dict = field(default_factory=dict)  # verify()'s result, run by linear_regions

    def __len__(self) -> int:
        return len(self.regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self.regions)

    def __str__(self) -> str:
        v = self.verification
        checked = (f"; verified at {v['samples']:,} box points: {v['covered']:,} covered, max rel err "
                   f"{v['max_rel_err']:.1e}") if v else ""
        return (f"{self.net.name}: {len(self)} linear regions over the box [{_vec(self.lower)}, {_vec(self.upper)}] "
                f"({self.lps} LPs, {self.seconds:.3f} s){checked}")

    def locate(self, x) -> np.ndarray:
        """The index of the region holding each row of ``x`` (the first one, on shared boundaries); -1 outside."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        out = np.full(len(x), -1)
        for i, r in enumerate(self.regions):
            hit = (out < 0) & r.contains(x)
            out[hit] = i
        return out

    def evaluate(self, x) -> np.ndarray:
        """The piecewise-affine map at the rows of ``x`` (NaN outside every region)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        idx = self.locate(x)
        out = np.full((len(x), self.regions[0].b.size if self.regions else 0), np.nan)
        for i, r in enumerate(self.regions):
            sel = idx == i
            out[sel] = x[sel] @ r.A.T + r.b
        return out

    def verify(self, samples: int = 1000, seed: int = 0) -> dict:
        """Witnesses inside their regions; on random box points, coverage and the max relative error vs the net."""
        for r in self.regions:
            if not (r.radius > 0 and r.contains(r.witness[None], tol=0.0)[0]):
                raise WlbridgeError(f"{self.net.name}: region {r.pattern} has no interior witness")
        rng = np.random.default_rng(seed)
        x = self.lower + (self.upper - self.lower) * rng.random((samples, self.lower.size))
        got, want = self.evaluate(x), _net_flat(self.net, x)
        covered = ~np.isnan(got).any(axis=1)
        err = np.abs(got[covered] - want[covered]) / np.maximum(1.0, np.abs(want[covered]))
        return {"samples": samples, "covered": int(covered.sum()), "max_rel_err": float(err.max(initial=0.0))}

    # ---- forms --------------------------------------------------------------------------------
    def to_sympy(self):
        """sympy ``Matrix`` of ``Piecewise`` outputs in the input symbols (NaN outside the box)."""
        from .piecewise import to_sympy

        return to_sympy(self)

    def to_wl(self, call: str = "list") -> str:
        """WL ``Function`` of ``Piecewise`` outputs (``Indeterminate`` outside the box)."""
        from .piecewise import to_wl

        return to_wl(self, call=call)

    def to_latex(self) -> str:
        """LaTeX ``cases`` per output."""
        from .piecewise import to_latex

        return to_latex(self)


def _vec(v) -> str:
    return "{" + ", ".join(f"{float(t):g}" for t in v) + "}"


def _net_flat(net, x) -> np.ndarray:
    ins = _split_inputs(net, x)
    outs = net(*ins)
    outs = outs if isinstance(outs, list) else [outs]
    return np.concatenate([o.reshape(len(x), -1) for o in outs], axis=1)


def _split_inputs(net, x):
    out, k = [], 0
    for p in net.inputs:
        out.append(x[:, k:k + p.size].reshape(len(x), *p.shape))
        k += p.size
    return out


# ---- the search ---------------------------------------------------------------------------------
class _Search:
    def __init__(self, net, lower, upper, max_regions, tol, minimal=False):
        self.net, self.max_regions, self.tol, self.minimal = net, max_regions, tol, minimal
        n = lower.size
        self.n = n
        self.H0 = np.vstack([np.eye(n), -np.eye(n)])
        self.g0 = np.concatenate([upper, -lower])
        self.mid, self.half = (upper + lower) / 2, (upper - lower) / 2
        self.regions: list[Region] = []
        self.lps = 0
        self._linprog = _load_linprog()

    def _box_min(self, H):
        """min of each row of ``H x`` over the box."""
        return H @ self.mid - np.abs(H) @ self.half

    def chebyshev(self, H, g):
        """(centre, radius) of the largest ball in ``H x <= g`` (radius <= 0: no interior)."""
        self.lps += 1
        norms = np.linalg.norm(H, axis=1)
        c = np.zeros(self.n + 1)
        c[-1] = -1.0
        res = self._linprog(c, A_ub=np.hstack([H, norms[:, None]]), b_ub=g,
                            bounds=[(None, None)] * self.n + [(0, None)], method="highs")
        if res.status != 0:
            return None, -1.0
        return res.x[:-1], float(res.x[-1])

    def run(self, layers, env, H, g, witness, radius, pattern):
        if not layers:
            self._emit(env, H, g, witness, radius, pattern)
            return
        layer, rest = layers[0], layers[1:]
        pieces = _layer_pieces(layer)
        if pieces is None:
            env = dict(env)
            env[layer.output] = _affine(layer, [env[i] for i in layer.inputs], self.net.shapes)
            self.run(rest, env, H, g, witness, radius, pattern)
            return
        zs = pieces(env, self.net.shapes)  # per output element: list of (constraints rows (A, c), (A_out, c_out))
        self._elements(layer, rest, env, zs, 0, [], H, g, witness, radius, pattern)

    def _elements(self, layer, rest, env, zs, k, chosen, H, g, witness, radius, pattern):
        if k == len(zs):
            env = dict(env)
            A = np.array([a for a, _ in chosen]).reshape(-1, self.n)
            c = np.array([c for _, c in chosen])
            shape = self.net.shapes[layer.output]
            env[layer.output] = (A.reshape(*shape, self.n), c.reshape(shape))
            self.run(rest, env, H, g, witness, radius, pattern)
            return
        options = zs[k]
        for j, (rows, out) in enumerate(options):
            if len(options) == 1:
                self._elements(layer, rest, env, zs, k + 1, chosen + [out], H, g, witness, radius, pattern)
                continue
            Hr = np.array([r[0] for r in rows]).reshape(-1, self.n)
            gr = np.array([r[1] for r in rows])
            norms = np.linalg.norm(Hr, axis=1)
            zero = norms <= 0
            if np.any(gr[zero] < 0):
                continue  # a constant condition that fails
            Hr, gr, norms = Hr[~zero], gr[~zero], norms[~zero]
            if np.any(self._box_min(Hr) > gr + self.tol * norms):
                continue  # infeasible on the whole box: no LP needed
            H2, g2 = np.vstack([H, Hr]), np.concatenate([g, gr])
            slack = (gr - Hr @ witness) / np.where(norms > 0, norms, 1)
            if len(gr) == 0 or slack.min() > self.tol:
                w2, r2 = witness, min(radius, slack.min(initial=radius))
            else:
                w2, r2 = self.chebyshev(H2, g2)
                if r2 <= self.tol:
                    continue
            self._elements(layer, rest, env, zs, k + 1, chosen + [out], H2, g2, w2, r2, pattern + (j,))

    def _emit(self, env, H, g, witness, radius, pattern):
        if len(self.regions) >= self.max_regions:
            raise TooManyRegionsError(
                f"{self.net.name}: more than max_regions={self.max_regions:,} linear regions in the box "
                f"(after {self.lps:,} LPs); raise max_regions, shrink the box, or use the compact form")
        A = np.concatenate([env[o][0].reshape(-1, self.n) for o in self.net.outputs])
        b = np.concatenate([np.reshape(env[o][1], -1) for o in self.net.outputs])
        H, g = self._trim(H, g)
        self.regions.append(Region(pattern, A, b, H, g, witness, radius))

    def _trim(self, H, g):
        """Drop unit inequalities that hold on the whole box (always) and, with ``minimal``, every row the
        others imply (one LP per row); the box rows stay: they state the domain."""
        nb = 2 * self.n
        keep = np.ones(len(g), bool)
        keep[nb:] = -self._box_min(-H[nb:]) > g[nb:] + 1e-12 * np.maximum(1.0, np.abs(g[nb:]))
        if self.minimal:
            for i in range(nb, len(g)):
                if not keep[i]:
                    continue
                keep[i] = False
                others = keep.copy()
                self.lps += 1
                res = self._linprog(-H[i], A_ub=H[others], b_ub=g[others], bounds=[(None, None)] * self.n,
                                    method="highs")
                keep[i] = not (res.status == 0 and -res.fun <= g[i] + 1e-9 * max(1.0, abs(g[i])))
        return H[keep], g[keep]


def _load_linprog():
    try:
        from scipy.optimize import linprog
    except ModuleNotFoundError as e:  # pragma: no cover
        raise ModuleNotFoundError("linear regions need scipy: pip install 'wlbridge[regions]'", name="scipy") from e
    return linprog


def _affine(layer, args, shapes):
    """The layer applied to affine maps ``(A[..., n], c[...])``: evaluated on c and on c + each column."""
    if layer.op == "constant":
        v = np.asarray(layer.params["value"], dtype=np.float64)
        return np.zeros((*v.shape, 0)), v
    n = next(a[0].shape[-1] for a in args)
    batch = [np.concatenate([c[None], np.moveaxis(A, -1, 0) + c[None]]) for A, c in args]
    y = REFERENCE[layer.op](layer, *batch)
    c = y[0]
    return np.moveaxis(y[1:] - c[None], 0, -1), c


def _is_affine(layer) -> bool:
    op = layer.op
    if op in ("linear", "matmul", "conv", "batchnorm", "identity", "flatten", "reshape", "transpose",
              "concat", "add", "sub", "constant"):
        return True
    if op == "elementwise":
        return layer.attrs["fn"] in AFFINE_FNS
    if op == "pool":
        return layer.attrs["kind"] in ("avg", "sum")
    if op == "reduce":
        return layer.attrs["kind"] in ("mean", "sum")
    return False


def _layer_pieces(layer):
    """None for an affine layer; else a function env -> per output element, the list of its pieces."""
    if _is_affine(layer):
        return None
    if layer.op == "elementwise":
        table = _pieces(layer.attrs["fn"], dict(layer.attrs.get("fn_params") or {}))
        if table is None:
            raise _unsupported(layer)
        return lambda env, shapes: _scalar_pieces(env[layer.inputs[0]], lambda i: table)
    if layer.op == "prelu":
        def prelu(env, shapes):
            A, c = env[layer.inputs[0]]
            slope = np.broadcast_to(np.asarray(layer.params["slope"], dtype=np.float64), c.shape).reshape(-1)
            return _scalar_pieces((A, c), lambda i: [(-np.inf, 0.0, slope[i], 0.0), (0.0, np.inf, 1.0, 0.0)])
        return prelu
    if (layer.op == "pool" and layer.attrs["kind"] == "max") or (layer.op == "reduce" and layer.attrs["kind"] == "max") \
            or layer.op in ("max", "min"):
        return lambda env, shapes: _max_pieces(layer, env, shapes)
    raise _unsupported(layer)


def _unsupported(layer):
    what = layer.attrs.get("fn", layer.attrs.get("kind", "")) if layer.op in ("elementwise", "pool", "reduce") else ""
    return UnsupportedLayerError("linear regions", [(layer.path or layer.output, layer.op + (f"[{what}]" if what else ""),
                                                     "not piecewise-linear")])


def _scalar_pieces(Ac, table):
    A, c = Ac
    n = A.shape[-1]
    A, c = A.reshape(-1, n), c.reshape(-1)
    out = []
    for i in range(c.size):
        opts = []
        for lo, hi, s, o in table(i):
            rows = []
            if hi < np.inf:   # a.x + c <= hi
                rows.append((A[i], hi - c[i]))
            if lo > -np.inf:  # a.x + c >= lo
                rows.append((-A[i], c[i] - lo))
            opts.append((rows, (s * A[i], s * c[i] + o)))
        out.append(opts)
    return out


def _max_pieces(layer, env, shapes):
    """For max/min-like layers: each output element is one of its candidates (an affine map); piece j wins."""
    args = [env[i] for i in layer.inputs]
    n = next(a[0].shape[-1] for a in args)
    cands = _candidates(layer, args, n)  # list per output element of (A_k, c_k) candidates
    sign = -1.0 if layer.op == "min" else 1.0
    out = []
    for cs in cands:
        uniq = []
        for a, c in cs:
            if not any(np.array_equal(a, u[0]) and c == u[1] for u in uniq):
                uniq.append((a, c))
        opts = []
        for j, (aj, cj) in enumerate(uniq):  # candidate k - candidate j <= 0 (sign-adjusted)
            rows = [(sign * (ak - aj), sign * (cj - ck)) for k, (ak, ck) in enumerate(uniq) if k != j]
            opts.append((rows, (aj, cj)))
        out.append(opts)
    return out


def _candidates(layer, args, n):
    """Per output element, the affine candidates of a max: found by evaluating the op on index-tagged values."""
    if layer.op in ("max", "min"):
        cs = [np.broadcast_to(c, np.broadcast_shapes(*[a[1].shape for a in args])) for _, c in args]
        As = [np.broadcast_to(A, (*cs[0].shape, n)) for A, _ in args]
        return [[(A[i], float(c[i])) for A, c in zip(As, cs)] for i in np.ndindex(cs[0].shape)]
    A, c = args[0]
    windows = _window_members(layer, c.shape)
    flatA, flatc = A.reshape(-1, n), c.reshape(-1)
    return [[(flatA[int(k)], float(flatc[int(k)])) for k in ks] for ks in windows]


def _window_members(layer, shape):
    """For each output element of a max pool / max reduce on inputs of ``shape``, the input indices in its window:
    one-hot probes (1 at one index, -1 elsewhere) in one batch; an output is 1 where its window holds the index."""
    size = int(np.prod(shape))
    probes = np.where(np.eye(size, dtype=bool), 1.0, -1.0).reshape(size, *shape)
    hits = REFERENCE[layer.op](layer, probes).reshape(size, -1) == 1.0  # {input index, output element}
    return [list(np.flatnonzero(hits[:, o])) for o in range(hits.shape[1])]


def linear_regions(net, lower, upper, *, max_regions: int = 10_000, tol: float = 1e-9,
                   minimal: bool = False, verify: int = 1000) -> LinearRegions:
    """The linear regions of piecewise-linear ``net`` in the box ``lower <= x <= upper`` (scalars broadcast).

    Each region keeps the box rows and the unit inequalities that cut the box; ``minimal=True`` also drops
    those the others imply (one more LP per inequality), for the shortest conditions. The result is verified
    at ``verify`` random box points (witnesses inside, coverage, affine maps against the net; see
    :meth:`LinearRegions.verify`); a disagreement beyond 1e-12 relative raises ``RegionCheckError``.

    Raises :class:`TooManyRegionsError` past ``max_regions`` and ``UnsupportedLayerError`` for layers
    that are not piecewise-linear (sigmoid, softmax, ...).
    """
    n = sum(p.size for p in net.inputs)
    lower = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n,)).copy()
    upper = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n,)).copy()
    if not np.all(upper > lower):
        raise WlbridgeError(f"{net.name}: the box needs lower < upper in every coordinate")
    bad = [la for la in net.layers if not _is_affine(la) and not _supported_pieces(la)]
    if bad:
        raise UnsupportedLayerError("linear regions", [(la.path or la.output, la.op + _what(la),
                                                        NOT_SMOOTH.get(la.op, "not piecewise-linear")) for la in bad])
    search = _Search(net, lower, upper, max_regions, tol * max(1.0, float(np.max(upper - lower))), minimal)
    env, k = {}, 0
    for p in net.inputs:
        A = np.zeros((p.size, n))
        A[:, k:k + p.size] = np.eye(p.size)
        env[p.name] = (A.reshape(*p.shape, n), np.zeros(p.shape))
        k += p.size
    start = time.perf_counter()
    w, r = search.chebyshev(search.H0, search.g0)
    search.run(list(net.layers), env, search.H0, search.g0, w, r, ())
    result = LinearRegions(net, lower, upper, search.regions, time.perf_counter() - start, search.lps)
    if verify:
        result.verification = v = result.verify(samples=verify)
        if v["covered"] < v["samples"] or not v["max_rel_err"] <= 1e-12:
            raise RegionCheckError(f"{net.name}: linear regions disagree with the net: {v}")
    return result


class RegionCheckError(WlbridgeError):
    """The enumerated regions do not reproduce the net (a bug, or a numerically degenerate net)."""


def _what(layer) -> str:
    w = layer.attrs.get("fn") or layer.attrs.get("kind")
    return f"[{w}]" if w else ""


def _supported_pieces(layer) -> bool:
    if layer.op == "elementwise":
        return _pieces(layer.attrs["fn"], dict(layer.attrs.get("fn_params") or {})) is not None
    if layer.op in ("pool", "reduce"):
        return layer.attrs["kind"] == "max"
    return layer.op in ("prelu", "max", "min")
