"""The linear programs of the region search: the Chebyshev-ball LP, decided by NNLS on its dual or by HiGHS.

:class:`Dual` decides nearly every LP of the search: one Lawson-Hanson solve in scipy (~4 us in C) gives
either a certificate that no ball of radius > tol fits or a point that a ball does fit around. Where
rounding leaves neither check clear (the polytope's radius within ``MARGIN * tol`` of zero: none on the
benchmark nets, whose searches never build the HiGHS model) HiGHS decides: :class:`ChebyshevLP` is one
model, ``max r`` subject to ``h_i . x + r <= g_i`` over unit rows ``h_i``: the radius ``r`` of the largest
ball inside the polytope (capped by ``cap``: a polytope with no box may be unbounded). Its rows are a stack:
pushed, and truncated back (the search keeps the box's rows and pushes the rest for each LP); each solve
starts from the last basis (primal simplex, one thread, no presolve or scaling). A HiGHS run costs ~40 us
before any pivot (a re-run of a solved model, measured here), which is why it is the fallback.

>>> import numpy as np
>>> lp = ChebyshevLP(2)
>>> lp.push(np.vstack([np.eye(2), -np.eye(2)]), np.ones(4))  # the box [-1, 1]^2
>>> round(lp.solve()[1], 9)
1.0
>>> lp.push(np.array([[1.0, 0.0]]), np.array([-0.5])); round(lp.solve()[1], 9)  # x1 <= -0.5 as well
0.25
>>> lp.truncate(4); round(lp.solve()[1], 9)
1.0
"""
from __future__ import annotations

import os
import sys

import numpy as np

from ..errors import WlbridgeError

_BANNER_SHOWN = False
FAR = 1e6  # without a box, an undecided LP is solved again with centres in [-FAR, FAR]^n
MARGIN = 1000.0  # NNLS proves no ball of radius > tol only for polytopes with radius < -MARGIN * tol (else HiGHS)


def _highspy():
    try:
        import highspy
    except ModuleNotFoundError as e:  # pragma: no cover - a declared dependency of the regions extra
        raise ModuleNotFoundError("linear regions need highspy: pip install 'wlbridge[regions]'", name="highspy") from e
    return highspy


def _new(highspy):
    """A ``Highs`` object; the first in a process prints HiGHS's banner on C stdout, sent to /dev/null here."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
        _BANNER_SHOWN = True


def _model(highspy, ncols: int, lower, upper, cost):
    h = _new(highspy)
    h.silent()
    # one thread (no scheduler overhead on a tiny LP), primal simplex, unscaled rows (unit normals already):
    # ~20% less time than HiGHS's defaults on the region search
    for key, value in (("presolve", "off"), ("threads", 1), ("solver", "simplex"), ("simplex_strategy", 4),
                       ("simplex_scale_strategy", 0)):
        h.setOptionValue(key, value)
    h.addVars(ncols, np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64))
    h.changeColsCost(ncols, np.arange(ncols, dtype=np.int32), np.asarray(cost, dtype=np.float64))
    return h


def _add_rows(h, M: np.ndarray, ub: np.ndarray, inf: float) -> None:
    m, k = M.shape
    if m:
        h.addRows(m, np.full(m, -inf), np.ascontiguousarray(ub, dtype=np.float64), m * k, *_layout(m, k),
                  np.ascontiguousarray(M, dtype=np.float64).ravel())


_LAYOUTS: dict = {}


def _layout(m: int, k: int):
    """Row starts and column indices of ``m`` dense rows of ``k`` entries (cached: the search asks for few shapes)."""
    got = _LAYOUTS.get((m, k))
    if got is None:
        got = _LAYOUTS[(m, k)] = (np.arange(0, m * k, k, dtype=np.int32), np.tile(np.arange(k, dtype=np.int32), m))
    return got


class ChebyshevLP:
    """The Chebyshev-ball LP of a stack of inequality rows ``H x <= g`` in ``n`` variables."""

    def __init__(self, n: int, cap: float = np.inf):
        hs = _highspy()
        self.n, self.inf, self.count, self.solves = n, hs.kHighsInf, 0, 0
        self.cap = min(cap, self.inf)
        self._rows: list = []  # the rows as pushed (blocks: rows, bounds, count after it), for a cold re-solve
        self._ok, self._infeasible = hs.HighsModelStatus.kOptimal, hs.HighsModelStatus.kInfeasible
        self._h = _model(hs, n + 1, [-self.inf] * n + [0.0], [self.inf] * n + [min(cap, self.inf)],
                         [0.0] * n + [-1.0])

    def push(self, H: np.ndarray, g: np.ndarray) -> None:
        """Add the rows ``H x <= g`` (any scale: each is normalised to a unit normal here)."""
        m = len(g)
        if m:
            norms = row_norms(H)
            M = np.ones((m, self.n + 1))
            M[:, :-1] = H / norms[:, None]
            _add_rows(self._h, M, g / norms, self.inf)
            self.count += m
            self._rows.append((M, g / norms, self.count))

    def truncate(self, count: int) -> None:
        """Keep the first ``count`` rows."""
        if count < self.count:
            self._h.deleteRows(self.count - count, np.arange(count, self.count, dtype=np.int32))
            self.count = count
            while self._rows and self._rows[-1][2] - len(self._rows[-1][1]) >= count:  # whole blocks go
                self._rows.pop()
            if self._rows and self._rows[-1][2] > count:  # a block cut inside
                M, u, end = self._rows.pop()
                keep = len(u) - (end - count)
                self._rows.append((M[:keep], u[:keep], count))

    def solve(self) -> tuple[np.ndarray | None, float]:
        """(centre, radius) of the largest ball in the polytope; (None, -1.0) when it is empty."""
        self.solves += 1
        self._h.run()
        status = self._h.getModelStatus()
        if status not in (self._ok, self._infeasible):  # undecided from the warm basis (rare): cold, presolved
            return self._cold()
        if status != self._ok:
            return None, -1.0
        x = np.array(self._h.getSolution().col_value)
        return x[:-1], float(x[-1])


    def _cold(self) -> tuple[np.ndarray | None, float]:
        """The same LP solved afresh by scipy's HiGHS (its own options and presolve), for the rare LP that the
        warm model leaves undecided (status Unknown: seen without a box, where the ball's centre is free); there
        the centre is kept within 1e6 of the origin (a region that exists only farther out is not found)."""
        from scipy.optimize import linprog

        M = np.vstack([b[0] for b in self._rows]) if self._rows else np.zeros((0, self.n + 1))
        ub = np.concatenate([b[1] for b in self._rows]) if self._rows else np.zeros(0)
        free = self.cap >= self.inf
        x = (None, None) if free else (-FAR, FAR)
        res = linprog(np.r_[np.zeros(self.n), -1.0], A_ub=M, b_ub=ub, bounds=[x] * self.n + [(0, None if free else self.cap)],
                      method="highs")
        if res.status == 2:
            return None, -1.0
        if res.status != 0:
            raise WlbridgeError(f"HiGHS could not decide a region's feasibility ({res.message})")
        return res.x[:-1], float(res.x[-1])


def max_linear(c: np.ndarray, H: np.ndarray, g: np.ndarray) -> float | None:
    """``max c . x`` subject to ``H x <= g`` (None when infeasible or unbounded): one cold solve."""
    hs = _highspy()
    n = len(c)
    h = _model(hs, n, [-hs.kHighsInf] * n, [hs.kHighsInf] * n, -np.asarray(c, dtype=np.float64))
    _add_rows(h, np.atleast_2d(H), g, hs.kHighsInf)
    h.run()
    if h.getModelStatus() != hs.HighsModelStatus.kOptimal:
        return None
    return -float(h.getInfo().objective_function_value)


def row_norms(H: np.ndarray) -> np.ndarray:
    """The Euclidean norm of each row of ``H`` (each row on its own: the same rounding in any stack of rows)."""
    return np.sqrt(np.einsum("ij,ij->i", H, H))


def columns(H: np.ndarray, g: np.ndarray, norms: np.ndarray | None = None) -> np.ndarray:
    """The rows ``H x <= g`` (row norms ``norms``, if known) as :func:`nnls_radius` takes them: one column
    ``[a; 1; b]`` per unit row ``a . x <= b``."""
    norms = row_norms(H) if norms is None else norms
    out = np.empty((H.shape[1] + 2, len(g)))
    out[:-2] = H.T / norms
    out[-2] = 1.0
    out[-1] = g / norms
    return out


def nnls_radius(cols: np.ndarray, tol: float, cap: float = np.inf, reach: float = FAR):
    """Whether the polytope of the rows in ``cols`` (:func:`columns`) holds a ball of radius > ``tol``, decided by
    one non-negative least squares solve: :meth:`Dual.radius` (the search keeps one :class:`Dual`).

    >>> import numpy as np
    >>> box = np.vstack([np.eye(2), -np.eye(2)])
    >>> ok, x, r = nnls_radius(columns(np.vstack([box, [[1.0, 0.0]]]), np.r_[np.ones(4), -0.5]), 1e-9)
    >>> ok, bool(r > 1e-9)
    (True, True)
    >>> nnls_radius(columns(np.vstack([box, [[1.0, 0.0]]]), np.r_[np.ones(4), -1.5]), 1e-9)[0]  # x1 <= -1.5
    False
    """
    dual = Dual(cols.shape[0] - 2, tol, cap, reach)
    return dual.radius(np.hstack([dual.lead, cols]))


class Dual:
    """The Chebyshev LP of ``n``-dimensional polytopes decided by NNLS on its dual (Lawson-Hanson, scipy's: ~4 us
    for 8 variables and 40 rows, against ~40 us for the overhead alone of a HiGHS run).

    The LP ``max r : a_i . x + r <= b_i`` (unit rows; ``r <= cap``) has the dual ``min y . b : y >= 0, sum y = 1,
    sum y_i a_i = 0``. NNLS looks for such a ``y`` with ``y . b <= -MARGIN * tol`` (a slack column takes up the
    difference). Found (residual ~0): a certificate that every ball has radius <= tol, checked here as a bound
    (the rows' combination is ~0, ~1e-15; what is left is bounded over ``|x| <= reach``, well within the
    margin). Not found: by NNLS's optimality conditions its residual gives a point whose radius, recomputed
    from the rows here, exceeds ``tol``.

    The problem's columns are ``lead`` (the cap's column, if any, and the slack's: the same for every LP, so
    built once) then the rows' columns (:func:`columns`); the target ``d`` is fixed too.
    """

    def __init__(self, n: int, tol: float, cap: float = np.inf, reach: float = FAR):
        self.n, self.tol, self.cap, self.reach = n, tol, cap, reach
        self.capped = capped = cap < np.inf
        self.lead = np.zeros((n + 2, 1 + capped))
        if capped:
            self.lead[n, 0], self.lead[n + 1, 0] = 1.0, cap
        self.lead[n + 1, -1] = 1.0  # the slack: y . b + s = -margin (a certificate with room below tol)
        self.d = np.zeros(n + 2)
        self.d[n], self.d[n + 1] = 1.0, -MARGIN * tol
        self.d_last = float(self.d[n + 1])

    def radius(self, M: np.ndarray):
        """``M``: ``lead`` then the rows' columns. Returns ``(True, x, r)`` (a point ``x`` with radius ``r > tol``),
        ``(False, None, bound)``, or None when neither check holds (rounding at the edge: the caller asks HiGHS)."""
        n, k, d = self.n, self.lead.shape[1], self.d
        y, converged = _nnls(M, d)
        if not converged:
            return None
        res = d - M @ y  # r[:n] = -sum y_i a_i; r[n] = 1 - sum y_i (rows, cap); r[n+1] = d[n+1] - y . b - slack
        r = res.tolist()  # (a few floats: Python is quicker than numpy here)
        t = -r[n + 1]
        if t > 0:
            x = res[:n] / t
            radius = min((M[n + 1, k:] - x @ M[:n, k:]).min(initial=np.inf), self.cap)
            if radius > self.tol:
                return True, x, radius
        total = 1.0 - r[n]  # the certificate's weight
        if total <= 0.5:
            return None
        # y . b over the rows and the cap, plus what the residual combination of the rows can add within reach
        bound = (self.d_last - r[n + 1] - float(y[k - 1]) + sum(map(abs, r[:n])) * self.reach) / total
        return (False, None, bound) if bound <= self.tol else None


def _nnls(M, d):
    """(y, converged) of ``min |M y - d|, y >= 0``: scipy's NNLS core where this scipy has the one we know (its
    checked wrapper costs as much again as the solve), else the public ``scipy.optimize.nnls``."""
    global _CORE
    if _CORE is _UNSET:
        _CORE = _find_core()
    if _CORE is not None:
        y, _, info = _CORE(M, d, 3 * M.shape[1])
        return y, info != 3
    from scipy.optimize import nnls

    try:
        return nnls(M, d)[0], True
    except RuntimeError:  # its iteration limit
        return None, False


def _find_core():
    """scipy >= 1.15's ``_nnls(A, b, maxiter) -> (x, rnorm, info)``, checked on a tiny problem; else None."""
    try:
        from scipy.optimize._nnls import _nnls as core

        y, _, info = core(np.eye(2), np.array([1.0, -1.0]), 6)
        return core if np.allclose(y, [1.0, 0.0]) and info == 1 else None
    except Exception:  # another scipy layout or signature
        return None


_UNSET = object()
_CORE = _UNSET
