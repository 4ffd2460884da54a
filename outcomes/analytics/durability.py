"""Per patient, per infusion: baseline, onset, response, remission, loss, durability.

Outcome definitions follow docs/clinical/INSTRUMENTS.md ("Outcome definitions"); every
threshold is configurable per clinic through `Thresholds`.

Conventions a caller must know:

- One series is ONE instrument of ONE patient. Points and infusions may come unsorted.
- Follow-up window of an infusion: check-ins with ended_at < at < next infusion's
  started_at, and at <= withdrawn_at. A check-in during an infusion belongs to no window.
- Scores are compared as symptom scores: the raw score for "lower_is_better", and
  scale_max - score for "higher_is_better", so both directions share one code path.
  `remission_below` and `mid` are therefore in symptom points.
- Right-censoring time: the earliest of the next infusion's start, withdrawal and the
  last check-in in the window. The last check-in lies inside the window, so for a
  responder it is always the censoring time: the last moment the response was actually
  observed. `censor_reason` records what ended the follow-up: "next_infusion" (a later
  infusion closed the window), "withdrawal", or "last_check_in" (the window is still open
  and the data simply stop). Crediting unobserved days up to the next infusion would
  overstate durability, and boosters are often given *because* the benefit faded.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

LOWER_IS_BETTER = "lower_is_better"
HIGHER_IS_BETTER = "higher_is_better"
_DIRECTIONS = (LOWER_IS_BETTER, HIGHER_IS_BETTER)

_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Point:
    """One scored assessment of ONE instrument (UTC-aware `at`)."""

    at: datetime
    score: float


@dataclass(frozen=True)
class InfusionEvent:
    id: str
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class Thresholds:
    direction: str = LOWER_IS_BETTER  # or "higher_is_better" (then scale_max is required)
    # >= 50% reduction from baseline: Mathew 2010 (ketamine); NQF 1884 (PHQ-9).
    response_pct: float = 50.0
    # >= 30%: Translational Psychiatry 2024, s41398-024-03027-2.
    partial_response_pct: float = 30.0
    # PHQ-9 < 5 (CMS159 / NQF 0710); None for instruments without a remission cut-off.
    remission_below: float | None = None
    # Minimal important difference, e.g. PHQ-9 5 points (Loewe 2004).
    mid: float | None = None
    # SUSTAIN-1 required relapse on 2 consecutive assessments (UNVERIFIED): configurable.
    loss_consecutive: int = 2
    # docs/clinical/INSTRUMENTS.md "Baseline": default look-back 14 days.
    baseline_lookback_days: float = 14.0
    scale_max: float | None = None

    def __post_init__(self) -> None:
        if self.direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}, not {self.direction!r}")
        if self.direction == HIGHER_IS_BETTER and self.scale_max is None:
            raise ValueError("a higher_is_better instrument needs scale_max")
        if self.loss_consecutive < 1:
            raise ValueError("loss_consecutive must be at least 1")
        if self.baseline_lookback_days < 0:
            raise ValueError("baseline_lookback_days must not be negative")

    @classmethod
    def from_definition(
        cls,
        thresholds: dict[str, Any],
        *,
        direction: str,
        scale_max: float | None,
        **overrides: Any,
    ) -> Thresholds:
        """Build from an instrument definition's `thresholds` dict (response_pct,
        partial_response_pct, remission_below, mid; other keys such as `sources` and
        `improvement_pct` are ignored). `overrides` (clinic settings) win; an unknown
        override name raises TypeError."""
        values: dict[str, Any] = {"direction": direction, "scale_max": scale_max}
        # A missing or null percentage keeps the published default; a null remission
        # cut-off or MID means the instrument has none.
        for key in ("response_pct", "partial_response_pct"):
            if thresholds.get(key) is not None:
                values[key] = float(thresholds[key])
        for key in ("remission_below", "mid"):
            raw = thresholds.get(key)
            values[key] = None if raw is None else float(raw)
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown threshold override(s): {sorted(unknown)}")
        values.update(overrides)
        return cls(**values)

    def symptom(self, score: float) -> float:
        """Symptom score: larger is worse, whatever the instrument's direction."""
        if self.direction == HIGHER_IS_BETTER:
            assert self.scale_max is not None  # enforced in __post_init__
            return self.scale_max - score
        return score


@dataclass(frozen=True)
class InfusionOutcome:
    infusion_id: str
    baseline: float | None
    baseline_at: datetime | None
    onset_hours: float | None  # infusion end -> first response-level or >= MID improvement
    best_score: float | None
    best_at: datetime | None
    responded: bool
    response_at: datetime | None
    partial_response: bool
    remitted: bool
    remission_at: datetime | None
    lost_response_at: datetime | None  # first of `loss_consecutive` non-responses in a row
    durability_days: float | None  # responders only: infusion end -> loss, else censored
    censored: bool
    censor_reason: str  # "", "next_infusion", "last_check_in", "withdrawal"
    benefit_fading: bool  # still responding, latest worse than best by >= MID
    status: str  # "no_baseline", "awaiting_data", "no_response", "responding", "lost"
    assessments: int  # post-infusion points considered

    @property
    def evaluable(self) -> bool:
        """A baseline and at least one post-infusion assessment: counted in the rates."""
        return self.baseline is not None and self.assessments >= 1


def find_baseline(
    series: Sequence[Point], *, before: datetime, lookback_days: float
) -> Point | None:
    """The most recent point strictly before `before`, no older than `lookback_days`
    (docs/clinical/INSTRUMENTS.md "Baseline"; the look-back edge is inclusive). Ties in time:
    the one
    listed last wins, so a re-scored duplicate replaces the earlier row."""
    earliest = before - timedelta(days=lookback_days)
    best: Point | None = None
    for p in series:
        if earliest <= p.at < before and (best is None or p.at >= best.at):
            best = p
    return best


def improvement_pct(baseline: float, score: float, th: Thresholds) -> float | None:
    """Percent reduction of symptoms from baseline (negative when worse). None when the
    baseline symptom score is 0: there is nothing to reduce, so no response is possible."""
    base = th.symptom(baseline)
    if base == 0:
        return None
    # Multiply before dividing: 6 * 100 / 20 is exactly 30, 6 / 20 * 100 is not.
    return (base - th.symptom(score)) * 100.0 / base


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / _SECONDS_PER_DAY


def _no_baseline(infusion_id: str, window: list[Point], th: Thresholds) -> InfusionOutcome:
    # Without a baseline nothing can be judged (docs/clinical/INSTRUMENTS.md: response and
    # remission are
    # defined against the baseline); the best score is still reported for display.
    best = min(window, key=lambda p: th.symptom(p.score)) if window else None
    return InfusionOutcome(
        infusion_id=infusion_id,
        baseline=None,
        baseline_at=None,
        onset_hours=None,
        best_score=None if best is None else best.score,
        best_at=None if best is None else best.at,
        responded=False,
        response_at=None,
        partial_response=False,
        remitted=False,
        remission_at=None,
        lost_response_at=None,
        durability_days=None,
        censored=False,
        censor_reason="",
        benefit_fading=False,
        status="no_baseline",
        assessments=len(window),
    )


def _outcome(
    infusion: InfusionEvent,
    baseline: Point,
    window: list[Point],
    th: Thresholds,
    *,
    closed_by: str,
) -> InfusionOutcome:
    """Evaluate one infusion. `window` is sorted by time; `closed_by` is "next_infusion",
    "withdrawal" or "" (window still open)."""
    ended = infusion.ended_at
    base_symptom = th.symptom(baseline.score)

    onset_at: datetime | None = None
    response_at: datetime | None = None
    remission_at: datetime | None = None
    lost_at: datetime | None = None
    partial = False
    best: Point | None = None
    run_start: Point | None = None  # first of the current run of non-responses
    run_length = 0

    for p in window:
        sym = th.symptom(p.score)
        pct = improvement_pct(baseline.score, p.score, th)
        meets_response = pct is not None and pct >= th.response_pct
        if best is None or sym < th.symptom(best.score):
            best = p  # earliest of equal bests: strict <
        if pct is not None and pct >= th.partial_response_pct:
            partial = True
        if remission_at is None and th.remission_below is not None and sym < th.remission_below:
            remission_at = p.at
        if onset_at is None and (
            meets_response or (th.mid is not None and base_symptom - sym >= th.mid)
        ):
            onset_at = p.at
        if response_at is None:
            if meets_response:
                response_at = p.at
            continue
        if lost_at is not None:
            continue
        # After the response: count consecutive non-responses; a responding value resets.
        if meets_response:
            run_start, run_length = None, 0
            continue
        if run_start is None:
            run_start = p
        run_length += 1
        if run_length >= th.loss_consecutive:
            lost_at = run_start.at

    onset_hours = None if onset_at is None else _days(onset_at - ended) * 24.0
    responded = response_at is not None
    durability: float | None = None
    censored = False
    censor_reason = ""
    fading = False
    if not window:
        status = "awaiting_data"
    elif not responded:
        status = "no_response"
    elif lost_at is not None:
        status = "lost"
        durability = _days(lost_at - ended)
    else:
        status = "responding"
        # Censored at the last check-in: see the module docstring for why not later.
        durability = _days(window[-1].at - ended)
        censored = True
        censor_reason = closed_by or "last_check_in"
        assert best is not None
        fading = th.mid is not None and (
            th.symptom(window[-1].score) - th.symptom(best.score) >= th.mid
        )

    return InfusionOutcome(
        infusion_id=infusion.id,
        baseline=baseline.score,
        baseline_at=baseline.at,
        onset_hours=onset_hours,
        best_score=None if best is None else best.score,
        best_at=None if best is None else best.at,
        responded=responded,
        response_at=response_at,
        partial_response=partial,
        remitted=remission_at is not None,
        remission_at=remission_at,
        lost_response_at=lost_at,
        durability_days=durability,
        censored=censored,
        censor_reason=censor_reason,
        benefit_fading=fading,
        status=status,
        assessments=len(window),
    )


def infusion_outcomes(
    series: Sequence[Point],
    infusions: Sequence[InfusionEvent],
    th: Thresholds,
    *,
    withdrawn_at: datetime | None = None,
) -> list[InfusionOutcome]:
    """One outcome per infusion, in order of start time (ties: end time, then id)."""
    for inf in infusions:
        if inf.ended_at < inf.started_at:
            raise ValueError(f"infusion {inf.id!r} ends before it starts")
    points = sorted(series, key=lambda p: p.at)  # stable: equal times keep input order
    times = [p.at for p in points]
    ordered = sorted(infusions, key=lambda i: (i.started_at, i.ended_at, i.id))
    lookback = timedelta(days=th.baseline_lookback_days)

    results: list[InfusionOutcome] = []
    for k, inf in enumerate(ordered):
        next_start = ordered[k + 1].started_at if k + 1 < len(ordered) else None
        closed_by = ""
        if next_start is not None:
            closed_by = "next_infusion"
        if withdrawn_at is not None and (next_start is None or withdrawn_at < next_start):
            closed_by = "withdrawal"

        # Window (ended_at, next start) and not after withdrawal, by bisection on times.
        lo = bisect.bisect_right(times, inf.ended_at)
        hi = len(points) if next_start is None else bisect.bisect_left(times, next_start)
        if withdrawn_at is not None:
            hi = min(hi, bisect.bisect_right(times, withdrawn_at))
        window = points[lo:hi] if hi > lo else []

        # Baseline before THIS infusion's start: a later infusion of a course may use a
        # point from the previous window (docs/clinical/INSTRUMENTS.md "Baseline").
        b_hi = bisect.bisect_left(times, inf.started_at)
        b_lo = bisect.bisect_left(times, inf.started_at - lookback)
        baseline = points[b_hi - 1] if b_hi > b_lo else None

        if baseline is None:
            results.append(_no_baseline(inf.id, window, th))
        else:
            results.append(_outcome(inf, baseline, window, th, closed_by=closed_by))
    return results
