"""Cohort durability from interval-censored losses of response: the Turnbull NPMLE,
interpolated between assessment times, with a percentile bootstrap for the median and
pointwise bands (docs/clinical/INSTRUMENTS.md, "Outcome definitions": durability of a
response).

Why not Kaplan-Meier on the check-in that first showed the loss: the loss happened
somewhere between the last assessment that still met response and the first assessment
of the confirming run. Dating it at the later check-in biases durability upward by about
half the gap between check-ins, and a step function whose events all sit on check-in
days makes the log-log band falsely narrow (INSTRUMENTS.md says both). Here each
responder contributes what is actually known:

- ``(left, right)`` with ``left < right``: the loss happened in the half-open interval
  (left, right], in days from the last infusion of the course (`courses.CourseOutcome`
  gives `durability_from_days` / `durability_to_days`).
- ``(left, math.inf)``: right-censored, still responding at ``left``.
- ``(t, t)``: an exactly known loss time (a rescue booster dated to the day, say).

Estimator. The nonparametric MLE of Turnbull (1976) puts all its mass on the "Turnbull
intervals" (innermost intervals: a left end immediately followed, in sorted order, by a
right end) and fixes only how much mass each holds, not where inside it. We spread each
interval's mass uniformly, i.e. interpolate S(t) linearly between the interval's ends,
as INSTRUMENTS.md asks: one honest curve instead of a step at either end. A mass on an
unbounded interval (left, inf) is never released: S stays flat beyond the last finite
end, and a median that would lie there is None.

Why our own EM rather than lifelines. lifelines 0.30.3 ships the Turnbull NPMLE
(`KaplanMeierFitter.fit_interval_censoring`, `lifelines.fitters.npmle.npmle`); reading
its code shows three problems for this use:

1. It treats every interval as CLOSED, [left, right] (its source leaves open-closed
   intervals as future work). With check-ins, one patient's last responding day is often another's
   first non-responding day; closed intervals then overlap in that single instant and
   the NPMLE piles mass on zero-width intervals at check-in times: the very "events on
   check-in days" artefact we are removing. Our intervals are (left, right], the default
   of R's `interval` package (Fay and Shaw 2010) and `icenReg` (Anderson-Bergman).
2. Speed: its EM and its interval lookup loop in Python over observations; one fit of
   2,000 subjects with continuous check-in times took 116 s on the development machine,
   so a 200-replicate bootstrap is out of the question. Below, the same self-consistency
   map (Turnbull 1976) is O(n + m) numpy per step and alternates with an iterative
   convex minorant step (the hybrid EM-ICM of Wellner and Zhan 1997, the algorithm of
   icenReg's `ic_np` and Bioconductor's `Icens::EMICM`), and it stops on
   the NPMLE's own optimality condition, not on a small log-likelihood change (a
   plateau of plain EM looks converged long before it is).
3. Its confidence band (`npmle_compute_confidence_intervals`) is commented out in
   `fit_interval_censoring` and draws from the global, unseeded `np.random`.

lifelines stays the reference in the tests: on data where no left end equals another
subject's right end, closed and half-open intervals give the same NPMLE, and ours must
agree with it.

Bootstrap: subjects are resampled with replacement (a multinomial draw of counts over
the distinct (left, right) pairs, the same distribution), each replicate gets its own
Turnbull intervals and NPMLE, and the percentile interval (order statistics,
`numpy.quantile(method="inverted_cdf")`) is taken pointwise for S(t) and for the median.
A replicate whose S never reaches 0.5 has an unbounded median; an unbounded upper limit
is reported as None ("not reached"). The generator is `numpy.random.default_rng(seed)`,
so the same input and seed always give the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Sort tags for endpoints at the same time. An exact time t is the closed point [t, t];
# every other interval is (left, right]. At one instant: an exact observation's left end
# comes first, then all right ends, then open left ends, so (a, t] and (t, b] never
# overlap, while (a, t] does contain the point [t, t].
_POINT_LEFT = 0
_RIGHT = 1
_OPEN_LEFT = 2

# S(t) is a difference of floating-point sums; without a tolerance "first t with
# S(t) <= 0.5" would hinge on rounding (as in survival.py).
_HALF_TOLERANCE = 1e-12

DEFAULT_BOOTSTRAP = 200
# Warm starts of bootstrap replicates: the least mass any interval starts with, / m.
START_FLOOR = 1e-6
DEFAULT_MAX_GRID_POINTS = 400


@dataclass(frozen=True)
class TurnbullEstimate:
    """The NPMLE itself: `mass[j]` on the Turnbull interval (left[j], right[j]] (the
    point [t, t] when left[j] == right[j]); `right[j]` None means unbounded. Masses sum
    to 1."""

    left: list[float]
    right: list[float | None]
    mass: list[float]
    log_likelihood: float
    iterations: int
    converged: bool


@dataclass(frozen=True)
class IntervalSurvival:
    """Probability of sustained response, S(t) = P(loss of response after t days), on a
    grid, with pointwise bootstrap bands, numbers at risk and the median.

    `ci_low` / `ci_high` are None (whole lists) when `bootstrap_samples` is 0. `at_risk`
    counts subjects known to be still responding at t (left bound >= t). `median_ci`
    holds None where a limit is unbounded or not estimable. Everything is plain lists,
    floats, ints and None: `dataclasses.asdict` is JSON-ready, with no NaN or inf.
    """

    n: int
    events: int  # subjects with a finite right bound (loss seen, exactly or in an interval)
    right_censored: int
    grid: list[float]
    survival: list[float]
    ci_low: list[float] | None
    ci_high: list[float] | None
    at_risk: list[int]
    median: float | None
    median_ci: tuple[float | None, float | None]
    confidence: float
    bootstrap_samples: int
    bootstrap_median_unreached: int  # replicates whose S never reached 0.5
    seed: int | None
    turnbull: TurnbullEstimate

    def survival_at(self, t: float) -> float:
        """Interpolated S(t) from the Turnbull masses (not from the grid)."""
        tb = self.turnbull
        support = _Support(
            q=np.asarray(tb.left, dtype=float),
            p=np.asarray([math.inf if r is None else r for r in tb.right], dtype=float),
        )
        return float(_survival(support, np.asarray(tb.mass, dtype=float), np.array([t]))[0])


# ----------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Support:
    """Turnbull intervals, sorted and disjoint: (q[j], p[j]], or the point when equal."""

    q: FloatArray
    p: FloatArray

    @property
    def point(self) -> npt.NDArray[np.bool_]:
        return np.equal(self.q, self.p)

    @property
    def size(self) -> int:
        return int(self.q.size)


def _as_bounds(intervals: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    arr = np.asarray(intervals, dtype=float)
    if arr.size == 0:
        return np.empty(0), np.empty(0)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("intervals must be a sequence of (left, right) pairs")
    left, right = arr[:, 0].copy(), arr[:, 1].copy()
    if not np.all(np.isfinite(left)):
        raise ValueError("left bounds must be finite")
    if np.any(np.isnan(right)) or np.any(right == -math.inf):
        raise ValueError("right bounds must be numbers or +inf")
    if np.any(left < 0):
        raise ValueError("bounds are durations and must not be negative")
    if np.any(right < left):
        raise ValueError("each right bound must be >= its left bound")
    return left, right


def _turnbull_support(left: FloatArray, right: FloatArray) -> _Support:
    """Innermost intervals: in the sorted list of endpoints, a left end immediately
    followed by a right end (Turnbull 1976)."""
    exact = left == right
    values = np.concatenate((left, right))
    tags = np.concatenate((np.where(exact, _POINT_LEFT, _OPEN_LEFT), np.full(right.size, _RIGHT)))
    order = np.lexsort((tags, values))
    v, tg = values[order], tags[order]
    is_left = tg != _RIGHT
    starts = np.flatnonzero(is_left[:-1] & ~is_left[1:])
    return _Support(q=v[starts], p=v[starts + 1])


def _coverage(left: FloatArray, right: FloatArray, support: _Support) -> tuple[IntArray, IntArray]:
    """For each observation, the first and last Turnbull interval it contains. Disjoint
    sorted intervals make that set contiguous."""
    q, point = support.q, support.point
    a = np.searchsorted(q, left, side="left")
    # An open (left, right] excludes a point mass sitting exactly at `left`.
    open_obs = left < right
    inside = a < q.size
    at_point = np.zeros_like(open_obs)
    at_point[inside] = (q[a[inside]] == left[inside]) & point[a[inside]]
    a = a + (open_obs & at_point)
    b = np.searchsorted(support.p, right, side="right") - 1
    if np.any(a > b):  # cannot happen for a correct support; guards the EM's division
        raise AssertionError("an observation contains no Turnbull interval")
    return a.astype(np.intp), b.astype(np.intp)


class _Likelihood:
    """The interval-censored log-likelihood over Turnbull masses, with the two steps of
    the hybrid EM-ICM algorithm (Wellner and Zhan 1997), vectorised. `a`, `b`: the
    contiguous range of Turnbull intervals each distinct observation contains; `w`: how
    many subjects share that observation."""

    def __init__(self, a: IntArray, b: IntArray, w: FloatArray, m: int) -> None:
        self.a, self.b1, self.w, self.m = a, b + 1, w, m
        self.n = float(w.sum())

    def _probabilities(self, mass: FloatArray) -> FloatArray:
        cum = np.concatenate(([0.0], np.cumsum(mass)))
        return cum[self.b1] - cum[self.a]

    def log_likelihood(self, mass: FloatArray) -> float:
        prob = self._probabilities(mass)
        if np.any(prob <= 0.0):
            return -math.inf
        return float(np.dot(self.w, np.log(prob)))

    def ratios(self, mass: FloatArray) -> FloatArray:
        """d_j = (1/n) sum_i w_i 1[j in i] / P(i). The NPMLE has d_j <= 1 everywhere and
        d_j = 1 where it puts mass (Gentleman and Geyer 1994); by concavity the
        log-likelihood is within n * (max_j d_j - 1) of its maximum."""
        coef = self.w / self._probabilities(mass)
        diff = np.bincount(self.a, coef, minlength=self.m + 1) - np.bincount(
            self.b1, coef, minlength=self.m + 1
        )
        return np.cumsum(diff)[: self.m] / self.n

    def icm_step(self, mass: FloatArray, ll: float) -> tuple[FloatArray, float]:
        """Iterative convex minorant (Groeneboom and Wellner 1992, with Jongbloed's 1998
        line search): a Newton step on the cumulative distribution F_0..F_{m-2} using the
        diagonal of the Hessian, projected on non-decreasing sequences by weighted
        isotonic regression. Unlike EM it can move mass into an interval holding none,
        and it takes the large steps EM cannot on a flat likelihood."""
        m = self.m
        cum = np.concatenate(([0.0], np.cumsum(mass)))
        prob = cum[self.b1] - cum[self.a]
        g1 = self.w / prob
        g2 = g1 / prob
        # F_{b_i} enters P(i) with +1 and F_{a_i - 1} with -1; F_{-1} = 0 and
        # F_{m-1} = 1 are fixed, hence the slices.
        grad = (
            np.bincount(self.b1 - 1, g1, minlength=m)[: m - 1]
            - np.bincount(self.a, g1, minlength=m + 1)[1:m]
        )
        curv = (
            np.bincount(self.b1 - 1, g2, minlength=m)[: m - 1]
            + np.bincount(self.a, g2, minlength=m + 1)[1:m]
        )
        curv = np.maximum(curv, 1e-12 * max(float(curv.max()), 1.0))
        cdf = cum[1:m]
        target = isotonic_regression(cdf + grad / curv, weights=curv, increasing=True).x
        direction = np.clip(target, 0.0, 1.0) - cdf
        slope = float(np.dot(grad, direction))
        step = 1.0
        while step > 1e-6:
            trial = np.diff(np.concatenate(([0.0], cdf + step * direction, [1.0])))
            trial = np.maximum(trial, 0.0)
            trial_ll = self.log_likelihood(trial)
            # Armijo: keep at least a small share of the first-order gain.
            if trial_ll >= ll + 1e-4 * step * slope:
                return trial / trial.sum(), trial_ll
            step *= 0.5
        return mass, ll


def _npmle(
    left: FloatArray,
    right: FloatArray,
    weights: FloatArray,
    *,
    tol: float,
    max_iter: int,
    start: tuple[_Support, FloatArray] | None = None,
) -> tuple[_Support, FloatArray, float, int, bool]:
    """Turnbull NPMLE of distinct (left, right) pairs with counts `weights`.

    Stops when the duality gap bound n * (max_j d_j - 1), an upper bound on how far the
    log-likelihood is from its maximum, falls below `tol`. `start` warm-starts from
    another fit (the full sample, for bootstrap replicates)."""
    support = _turnbull_support(left, right)
    m = support.size
    a, b = _coverage(left, right, support)
    lik = _Likelihood(a, b, weights, m)
    if m == 1:
        return support, np.ones(1), lik.log_likelihood(np.ones(1)), 0, True

    if start is None:
        x = np.full(m, 1.0 / m)
    else:
        # The other fit's mass over each of our intervals. A floor keeps every subject's
        # probability positive (the log-likelihood is finite); it is small because the
        # ICM step, unlike EM, can refill an interval that starts nearly empty.
        x = _mass_between(start[0], start[1], support)
        x = np.maximum(x, START_FLOOR / m)
        x /= x.sum()

    ll = lik.log_likelihood(x)
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported below)
        ratios = lik.ratios(x)
        if lik.n * (float(ratios.max()) - 1.0) < tol:
            converged = True
            break
        # Hybrid EM-ICM: EM alone needs tens of thousands of steps once there are
        # hundreds of Turnbull intervals (check-in times to the minute); ICM alone can
        # stall; alternating them converges in tens. The EM step is self-consistency
        # (Turnbull 1976): each subject's weight is shared among the intervals it
        # contains in proportion to their current mass.
        x = x * ratios
        x /= x.sum()
        x, ll = lik.icm_step(x, lik.log_likelihood(x))
    return support, x, ll, iterations, converged


def _cdf_at(support: _Support, mass: FloatArray, t: FloatArray) -> FloatArray:
    """F(t) = 1 - S(t) with each interval's mass spread uniformly over (q, p]; points
    jump at their time; unbounded intervals never release their mass."""
    done = np.concatenate(([0.0], np.cumsum(mass)))
    k = np.searchsorted(support.p, t, side="right")  # intervals wholly at or before t
    out = done[k]
    partial = k < support.size
    kk = k[partial]
    q, p = support.q[kk], support.p[kk]
    tt = t[partial]
    width = p - q
    frac = np.zeros_like(tt)
    finite = np.isfinite(p) & (width > 0)
    frac[finite] = np.clip((tt[finite] - q[finite]) / width[finite], 0.0, 1.0)
    out[partial] += mass[kk] * frac
    return np.minimum(out, 1.0)


def _survival(support: _Support, mass: FloatArray, t: FloatArray) -> FloatArray:
    return np.clip(1.0 - _cdf_at(support, mass, t), 0.0, 1.0)


def _mass_between(support: _Support, mass: FloatArray, target: _Support) -> FloatArray:
    """The mass `support`/`mass` puts on each of `target`'s intervals (for warm starts)."""
    hi = _cdf_at(support, mass, target.p)  # an unbounded end takes everything: F(inf) = 1
    lo_open = _cdf_at(support, mass, target.q)
    # A point [t, t] takes the jump at t: F(t) - F(t-).
    lo_point = _cdf_at(support, mass, np.nextafter(target.q, -np.inf))
    lo = np.where(target.point, lo_point, lo_open)
    return np.maximum(hi - lo, 0.0)


def _median(support: _Support, mass: FloatArray) -> float:
    """First t with interpolated S(t) <= 0.5; +inf when never (or only beyond the last
    finite end, where S is not estimable)."""
    after = np.cumsum(mass)
    j = int(np.searchsorted(after, 0.5 - _HALF_TOLERANCE, side="left"))
    if j >= support.size:
        return math.inf
    q, p = float(support.q[j]), float(support.p[j])
    if not math.isfinite(p):
        return math.inf
    if p == q:
        return p
    before = float(after[j] - mass[j])
    if before >= 0.5 - _HALF_TOLERANCE:
        return q
    share = (0.5 - before) / float(mass[j])
    return min(max(q + share * (p - q), q), p)


def _default_grid(left: FloatArray, right: FloatArray, step: float, max_points: int) -> FloatArray:
    ends = np.concatenate((left, right[np.isfinite(right)]))
    top = float(ends.max()) if ends.size else 0.0
    if top <= 0.0:
        return np.zeros(1)
    # Widen the step (whole multiples of the requested one) to keep a chart response small.
    count = math.floor(top / step) + 1
    if count > max_points:
        step *= math.ceil(count / max_points)
    grid = np.arange(0.0, top + step * 0.5, step)
    return grid[grid <= top + 1e-9]


def _percentile(values: FloatArray, level: float, axis: int = 0) -> FloatArray:
    # Order statistics: no interpolation, so an unbounded replicate stays unbounded
    # instead of turning into inf - inf = NaN.
    return np.quantile(values, level, axis=axis, method="inverted_cdf")


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


# ------------------------------------------------------------------------------ public API


def turnbull(
    intervals: Sequence[tuple[float, float]],
    *,
    tol: float = 1e-9,
    max_iter: int = 100_000,
) -> TurnbullEstimate:
    """The Turnbull NPMLE of interval-censored durations given as (left, right] pairs
    (see the module docstring for exact and right-censored values). `tol` bounds how far
    the log-likelihood may be from its maximum."""
    left, right = _as_bounds(intervals)
    if left.size == 0:
        return TurnbullEstimate([], [], [], 0.0, 0, True)
    pairs, counts = np.unique(np.column_stack((left, right)), axis=0, return_counts=True)
    support, mass, ll, iterations, converged = _npmle(
        pairs[:, 0], pairs[:, 1], counts.astype(float), tol=tol, max_iter=max_iter
    )
    return TurnbullEstimate(
        left=[float(x) for x in support.q],
        right=[_finite_or_none(float(x)) for x in support.p],
        mass=[float(x) for x in mass],
        log_likelihood=ll,
        iterations=iterations,
        converged=converged,
    )


def interval_survival(
    intervals: Sequence[tuple[float, float]],
    *,
    grid: Sequence[float] | None = None,
    grid_step_days: float = 1.0,
    max_grid_points: int = DEFAULT_MAX_GRID_POINTS,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    seed: int | None = 0,
    tol: float = 1e-9,
    bootstrap_tol: float = 1e-3,
) -> IntervalSurvival:
    """Cohort durability of response from (left, right] loss intervals in days.

    `grid`: the times to report S(t), bands and numbers at risk at; by default every
    `grid_step_days` from 0 to the largest finite bound, the step widened to whole
    multiples so there are at most `max_grid_points` points. `bootstrap`: replicates for
    the percentile intervals (0 skips them). `bootstrap_tol`: the replicates' looser
    convergence bound on the log-likelihood: a replicate within 0.001 of its maximum
    moves the bands by less than 1e-8 here, while the sampling error they measure is of
    the order of the 1.92 that bounds a 95% likelihood interval; it halves the time.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    if bootstrap < 0:
        raise ValueError("bootstrap must not be negative")
    if grid_step_days <= 0 or max_grid_points < 1:
        raise ValueError("grid_step_days and max_grid_points must be positive")
    left, right = _as_bounds(intervals)
    n = int(left.size)
    events = int(np.isfinite(right).sum())

    if grid is None:
        times = _default_grid(left, right, grid_step_days, max_grid_points)
    else:
        times = np.asarray(grid, dtype=float)
        if times.ndim != 1 or not np.all(np.isfinite(times)) or np.any(np.diff(times) < 0):
            raise ValueError("grid must be finite and non-decreasing")

    # Known to be still responding at t: left bound >= t.
    at_risk = [int(n - k) for k in np.searchsorted(np.sort(left), times, side="left")]

    if n == 0:
        return IntervalSurvival(
            n=0, events=0, right_censored=0,
            grid=[float(t) for t in times], survival=[1.0] * len(times),
            ci_low=None, ci_high=None, at_risk=at_risk,
            median=None, median_ci=(None, None), confidence=confidence,
            bootstrap_samples=0, bootstrap_median_unreached=0, seed=seed,
            turnbull=TurnbullEstimate([], [], [], 0.0, 0, True),
        )  # fmt: skip

    # Resampling subjects with replacement = a multinomial draw of counts over the
    # distinct (left, right) pairs, with probabilities their shares of the sample.
    pairs, counts = np.unique(np.column_stack((left, right)), axis=0, return_counts=True)
    uleft, uright = pairs[:, 0], pairs[:, 1]
    support, mass, ll, iterations, converged = _npmle(
        uleft, uright, counts.astype(float), tol=tol, max_iter=100_000
    )
    surv = _survival(support, mass, times)
    median = _median(support, mass)

    ci_low: list[float] | None = None
    ci_high: list[float] | None = None
    median_ci: tuple[float | None, float | None] = (None, None)
    unreached = 0
    if bootstrap:
        rng = np.random.default_rng(seed)
        probs = counts / counts.sum()
        curves = np.empty((bootstrap, times.size))
        medians = np.empty(bootstrap)
        for k in range(bootstrap):
            draw = rng.multinomial(n, probs)
            keep = draw > 0
            sup_k, mass_k, _, _, _ = _npmle(
                uleft[keep],
                uright[keep],
                draw[keep].astype(float),
                tol=bootstrap_tol,
                max_iter=20_000,
                start=(support, mass),
            )
            curves[k] = _survival(sup_k, mass_k, times)
            medians[k] = _median(sup_k, mass_k)
        alpha = 1.0 - confidence
        ci_low = [float(x) for x in _percentile(curves, alpha / 2)]
        ci_high = [float(x) for x in _percentile(curves, 1 - alpha / 2)]
        unreached = int(np.isinf(medians).sum())
        median_ci = (
            _finite_or_none(float(_percentile(medians, alpha / 2))),
            _finite_or_none(float(_percentile(medians, 1 - alpha / 2))),
        )

    return IntervalSurvival(
        n=n,
        events=events,
        right_censored=n - events,
        grid=[float(t) for t in times],
        survival=[float(s) for s in surv],
        ci_low=ci_low,
        ci_high=ci_high,
        at_risk=at_risk,
        median=_finite_or_none(median),
        median_ci=median_ci,
        confidence=confidence,
        bootstrap_samples=bootstrap,
        bootstrap_median_unreached=unreached,
        seed=seed,
        turnbull=TurnbullEstimate(
            left=[float(x) for x in support.q],
            right=[_finite_or_none(float(x)) for x in support.p],
            mass=[float(x) for x in mass],
            log_likelihood=ll,
            iterations=iterations,
            converged=converged,
        ),
    )
