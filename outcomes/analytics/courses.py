"""Per patient, per TREATMENT COURSE: baseline, response, remission, loss of response and
durability, judged the way every study judges ketamine (docs/clinical/INSTRUMENTS.md,
"Outcome definitions"): against the score before the course, not before each infusion.

Why courses and not infusions: an induction course of 6 infusions in 12 days that takes
PHQ-9 from 20 to 4 is a response (80%) and a remission (< 5), with relapse counted from
the LAST infusion (Murrough 2013). Judged infusion by infusion against each one's own
pre-score, the same patient shows six "no response" infusions, and the sixth (6 -> 4)
even "remits" without having responded. The change from an infusion's own pre-score is
still reported, as that infusion's ACUTE effect (`AcuteEffect`, label "acute"), a
separate figure that never claims response or remission.

Conventions a caller must know:

- One series is ONE instrument of ONE patient; points, courses and infusions may come in
  any order, and points may share a time.
- Scores are compared as symptom scores (larger is worse): the raw score for
  "lower_is_better", `scale_max - score` for "higher_is_better", as in durability.py.
  `evaluable_min`, `remission_below`, `mid` and `reliable_change` are in symptom points.
- Ties in time: two answers at the same instant are one assessment, and which value
  stands for it is chosen to never overstate benefit. As a follow-up assessment the
  WORSE (higher symptom) value counts; as a baseline or pre-infusion score the MILDER
  value counts (a higher baseline would inflate the reduction and could make a
  borderline patient evaluable). Row order therefore never changes an outcome.
- Percentages come from unrounded scores (INSTRUMENTS.md: "Compute percentages from
  unrounded totals") and thresholds are compared with a 1e-9 percentage-point
  tolerance: a PEG mean of 16/3 falling to 8/3 is exactly 50% on paper but
  49.99999999999999% in binary floating point.

Course windows. A course's follow-up is every assessment after its first infusion ends
and before the next course's first infusion starts (and not after `withdrawn_at`);
assessments taken during one of its infusions (started_at <= at <= ended_at) are left
out, as in durability.py. Response may come during the course (Phillips 2019: a median of
3 infusions), but loss of response is only counted after the LAST infusion ends: a dip
between induction infusions is the course still working, and relapse is counted from the
last infusion (Murrough 2013).

Durability and censoring (INSTRUMENTS.md, "Durability of a response"):

- Loss: after responding, `loss_consecutive` assessments in a row that no longer meet
  response (default 2). The loss lies in `loss_between` = (last assessment that met
  response, first assessment of the confirming run]. In days from the course's last
  infusion end that is [durability_from_days, durability_to_days]; `durability_days` is
  its midpoint. `interval.interval_survival` takes the interval itself.
- A rescue course (a booster given because benefit faded) that follows a still
  responding course is a loss of that course, in (last responding assessment, the first
  non-response since it, or else the rescue's first infusion start].
- Otherwise a responder is right-censored at the LAST ASSESSMENT THAT STILL MET RESPONSE,
  never at a later non-responding check-in (that would credit days the data say were
  probably lost). What ended follow-up is `censor_reason`:
  "scheduled_booster" (a maintenance course began), "next_course" (another induction
  began), "withdrawal", or "data_end" (the window is open and the data stop).
  `pending_non_responses` counts non-responding assessments after the censoring time
  that were too few to confirm a loss.

Maintenance and rescue courses are judged against the ORIGINAL course's baseline
(INSTRUMENTS.md: "response is sustained while scores still meet response against the
ORIGINAL course baseline"): the course named by `original_course_id`, followed to its
root, or, when none is named, the most recent earlier induction course. The booster's
own pre-score, taken while the patient may still be responding, would make a patient in
remission "not evaluable" or turn a fading benefit into a fresh response.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from outcomes.analytics.durability import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    InfusionEvent,
    Point,
    Thresholds,
)

CourseKind = Literal["induction", "maintenance", "rescue"]
# not_evaluable: no baseline, or a baseline below the clinical range (never "remitted").
# awaiting_data: evaluable, no assessment yet, follow-up still open.
# no_follow_up: evaluable, no assessment, and follow-up is over (next course, withdrawal).
# no_response / partial_response: best reduction < partial_response_pct / in [partial, response).
# responding: responded and not lost (censored). lost: responded, then lost.
CourseStatus = Literal[
    "not_evaluable",
    "awaiting_data",
    "no_follow_up",
    "no_response",
    "partial_response",
    "responding",
    "lost",
]
CensorReason = Literal["scheduled_booster", "next_course", "withdrawal", "data_end"]
LossReason = Literal["non_response", "rescue"]

COURSE_KINDS: tuple[str, ...] = get_args(CourseKind)
COURSE_STATUSES: tuple[str, ...] = get_args(CourseStatus)
CENSOR_REASONS: tuple[str, ...] = get_args(CensorReason)
LOSS_REASONS: tuple[str, ...] = get_args(LossReason)

# Published defaults by instrument code (INSTRUMENTS.md, "Outcome definitions"), used by
# `CourseThresholds.from_definition` when a definition does not carry them.
# Evaluable only with a baseline in the clinical range: PHQ-9 >= 10 (CMS159 counts index
# PHQ-9 > 9), GAD-7 >= 10, PCL-5 >= 31.
PUBLISHED_EVALUABLE_MIN: dict[str, float] = {"PHQ-9": 10.0, "GAD-7": 10.0, "PCL-5": 31.0}
# Reliable change (Jacobson-Truax, |x2 - x1| / S_diff > 1.96): PHQ-9 6 and GAD-7 4 points
# (UK IAPT manual; Gyani 2013), PCL-5 15 (Marx 2022 gives 15-18; the lower end).
PUBLISHED_RELIABLE_CHANGE: dict[str, float] = {"PHQ-9": 6.0, "GAD-7": 4.0, "PCL-5": 15.0}

# Percentages are compared with this tolerance (percentage points); see the docstring.
_PCT_TOLERANCE = 1e-9
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class CourseThresholds:
    """Clinic-configurable rules for course outcomes; defaults from INSTRUMENTS.md.

    A superset of `durability.Thresholds` (build one from it with `from_thresholds`):
    course outcomes need the clinical-range floor, the reliable-change size, the
    improvement floor for the futility signal and a 30-day baseline look-back.
    """

    direction: str = LOWER_IS_BETTER  # or "higher_is_better" (then scale_max is required)
    scale_max: float | None = None
    # >= 50% reduction from the course baseline: Mathew 2010; NQF 1884 (PHQ-9).
    response_pct: float = 50.0
    # 30-49%: Translational Psychiatry 2024, s41398-024-03027-2.
    partial_response_pct: float = 30.0
    # >= 20% improvement (same source); none 24 h after the 4th infusion = futility signal.
    improvement_pct: float | None = 20.0
    # PHQ-9 < 5 (CMS159 / NQF 0710), GAD-7 < 5; None where the instrument has none.
    remission_below: float | None = None
    # Minimal important difference (PHQ-9 5, Loewe 2004): the size of a "fading" slip.
    mid: float | None = None
    # Clinical-range floor of the baseline (PHQ-9 10); None: any baseline above 0.
    evaluable_min: float | None = None
    # Jacobson-Truax reliable change in points (PHQ-9 6); None: not reported.
    reliable_change: float | None = None
    # Non-responses in a row that confirm a loss (INSTRUMENTS.md: 2, configurable).
    loss_consecutive: int = 2
    # Responding assessments in a row that establish a response. 1 for a recall-period
    # score (a PHQ-9 already averages two weeks); `from_definition` makes it 2 for a
    # momentary single item (mood now, pain now), as a loss needs 2: read every few days,
    # a noisy 0-10 item crosses the 50% line by chance (bench/durability.py: 36% of
    # non-responders "responded" on MOOD with 1). A judgement, not a published rule:
    # configurable.
    response_consecutive: int = 1
    # Course baseline: last score within this many days before the first infusion.
    baseline_lookback_days: float = 30.0
    # Acute effect of one infusion: its own pre-score no older than this...
    acute_pre_lookback_days: float = 7.0
    # ...against the best score within this many hours after it ends (see AcuteEffect).
    acute_window_hours: float = 48.0
    # Futility: the first assessment >= this many hours after infusion N of an induction.
    futility_after_infusion: int = 4
    futility_delay_hours: float = 24.0
    # Fading: ignore the first hours after the last infusion (the acute peak).
    fading_delay_hours: float = 24.0

    def __post_init__(self) -> None:
        if self.direction not in (LOWER_IS_BETTER, HIGHER_IS_BETTER):
            raise ValueError(
                f"direction must be lower_is_better or higher_is_better, not {self.direction!r}"
            )
        if self.direction == HIGHER_IS_BETTER and self.scale_max is None:
            raise ValueError("a higher_is_better instrument needs scale_max")
        if self.loss_consecutive < 1:
            raise ValueError("loss_consecutive must be at least 1")
        if self.response_consecutive < 1:
            raise ValueError("response_consecutive must be at least 1")
        if self.futility_after_infusion < 1:
            raise ValueError("futility_after_infusion must be at least 1")
        for name in (
            "baseline_lookback_days",
            "acute_pre_lookback_days",
            "acute_window_hours",
            "futility_delay_hours",
            "fading_delay_hours",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def from_thresholds(cls, th: Thresholds, **extra: Any) -> CourseThresholds:
        """Carry over a `durability.Thresholds`. Its 14-day baseline look-back is NOT
        carried over: a course baseline looks back 30 days by default (INSTRUMENTS.md,
        "Course baseline"); pass `baseline_lookback_days` to choose."""
        values: dict[str, Any] = {
            "direction": th.direction,
            "scale_max": th.scale_max,
            "response_pct": th.response_pct,
            "partial_response_pct": th.partial_response_pct,
            "remission_below": th.remission_below,
            "mid": th.mid,
            "loss_consecutive": th.loss_consecutive,
        }
        values.update(extra)
        return cls(**values)

    @classmethod
    def from_definition(
        cls,
        thresholds: dict[str, Any],
        *,
        direction: str,
        scale_max: float | None,
        code: str | None = None,
        recall_hours: float | None = None,
        **overrides: Any,
    ) -> CourseThresholds:
        """Build from an instrument definition's `thresholds` dict (response_pct,
        partial_response_pct, improvement_pct, remission_below, mid, and, if present,
        evaluable_min and reliable_change; `sources` is ignored). Without the last two,
        `code` ("PHQ-9", "GAD-7", "PCL-5") picks the published values above. `overrides`
        (clinic settings) win; an unknown name raises TypeError."""
        values: dict[str, Any] = {"direction": direction, "scale_max": scale_max}
        for key in ("response_pct", "partial_response_pct"):
            if thresholds.get(key) is not None:
                values[key] = float(thresholds[key])
        # A null here means the instrument has none (no futility rule without an
        # improvement floor, no remission without a cut-off).
        for key in ("improvement_pct", "remission_below", "mid"):
            raw = thresholds.get(key)
            values[key] = None if raw is None else float(raw)
        for key, table in (
            ("evaluable_min", PUBLISHED_EVALUABLE_MIN),
            ("reliable_change", PUBLISHED_RELIABLE_CHANGE),
        ):
            raw = thresholds.get(key, table.get(code or ""))
            values[key] = None if raw is None else float(raw)
        if recall_hours is not None and recall_hours < 24:
            values["response_consecutive"] = 2  # a momentary item: see the field
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
class CourseEvent:
    """One treatment course: its infusions and what kind of course it is.

    `kind`: "induction" (a series, typically 6 infusions in 2-3 weeks), "maintenance" (a
    booster given on schedule while still responding) or "rescue" (a booster given
    because the benefit faded). `original_course_id`: the course whose baseline this one
    is judged against; None lets maintenance and rescue courses use the most recent
    earlier induction (see the module docstring)."""

    id: str
    kind: CourseKind
    infusions: tuple[InfusionEvent, ...]
    original_course_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in COURSE_KINDS:
            raise ValueError(f"kind must be one of {COURSE_KINDS}, not {self.kind!r}")
        if not self.infusions:
            raise ValueError(f"course {self.id!r} has no infusions")
        for inf in self.infusions:
            if inf.ended_at < inf.started_at:
                raise ValueError(f"infusion {inf.id!r} ends before it starts")

    @property
    def ordered(self) -> tuple[InfusionEvent, ...]:
        """Infusions by start, end, then id: input order never matters."""
        return tuple(sorted(self.infusions, key=lambda i: (i.started_at, i.ended_at, i.id)))


@dataclass(frozen=True)
class AcuteEffect:
    """The ACUTE effect of one infusion: the change from that infusion's own pre-score
    (the last score before it starts, within `acute_pre_lookback_days`) to the best score
    within `acute_window_hours` (default 48) after it ends, before the next infusion.

    Why 48 h: ketamine's acute antidepressant effect peaks around 24 h (Mathew 2010: 65%
    responders at 24 h, 54% at 72 h); 48 h takes in the 24-h check-in even when it comes
    late, and stops before the days-long fade that belongs to durability. This is a
    labelled secondary figure: it never makes a course response and never a remission
    (INSTRUMENTS.md), so it has no such fields. A 2-week-recall score (PHQ-9, GAD-7)
    cannot honestly move within 48 h; acute effects are meaningful on short-recall
    measures (mood now, pain NRS, PEG)."""

    infusion_id: str
    label: Literal["acute"]
    pre_score: float | None
    pre_at: datetime | None
    post_score: float | None  # best (lowest symptom) in the window; earliest of equals
    post_at: datetime | None
    change: float | None  # symptom points, positive = better
    pct: float | None  # % reduction of symptoms from the pre-score; None when it is 0


@dataclass(frozen=True)
class ReliableChange:
    """Jacobson-Truax reliable change beside the raw change (INSTRUMENTS.md: PHQ-9 >= 6,
    GAD-7 >= 4, PCL-5 15-18 points). Changes are symptom points from the baseline,
    positive = better. The booleans are None when no threshold is configured."""

    threshold: float | None
    change_best: float
    change_latest: float
    improved_best: bool | None
    improved_latest: bool | None
    deteriorated_latest: bool | None


@dataclass(frozen=True)
class CourseOutcome:
    course_id: str
    kind: CourseKind
    baseline_course_id: str  # whose pre-course score is (or would be) the baseline
    baseline: float | None
    baseline_at: datetime | None
    evaluable: bool  # a baseline in the clinical range (evaluable_min), above 0
    assessments: int  # follow-up assessments in the window (ties counted once)
    best_score: float | None
    best_at: datetime | None
    best_pct: float | None  # unrounded % reduction from the baseline (symptom space)
    latest_score: float | None
    latest_at: datetime | None
    latest_pct: float | None
    responded: bool  # >= response_pct from the COURSE baseline at some assessment
    response_at: datetime | None
    partial_response: bool  # best in [partial_response_pct, response_pct), no response
    remitted: bool  # evaluable, responded, and some assessment below remission_below
    remission_at: datetime | None
    futility_signal: bool | None  # induction only: < improvement_pct 24 h after infusion 4
    status: CourseStatus
    loss_between: tuple[datetime, datetime] | None
    loss_reason: LossReason | None
    durability_from_days: float | None  # last infusion end -> last responding assessment
    durability_to_days: float | None  # -> first of the confirming run; None when censored
    durability_days: float | None  # midpoint when lost, censoring time when censored
    censored: bool
    censor_reason: CensorReason | None
    censored_at: datetime | None
    pending_non_responses: int  # unconfirmed non-responses after the censoring time
    benefit_fading: bool
    # Lost, and the latest `response_consecutive` assessments meet response again (one
    # chance reading of a momentary item is not enough): no rescue is advised.
    responding_again: bool
    reliable_change: ReliableChange | None
    infusions: tuple[AcuteEffect, ...]

    @property
    def durability_interval(self) -> tuple[float, float] | None:
        """(left, right] in days for `interval.interval_survival`: right is math.inf
        when censored. None for a course that never responded."""
        if self.durability_from_days is None:
            return None
        right = math.inf if self.durability_to_days is None else self.durability_to_days
        return (self.durability_from_days, right)


# ----------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Instant:
    """All answers given at one instant, as one assessment (see "Ties in time")."""

    at: datetime
    worse: Point  # stands for the instant as a follow-up assessment
    milder: Point  # stands for it as a baseline or pre-infusion score


def _instants(series: Sequence[Point], th: CourseThresholds) -> list[_Instant]:
    for p in series:
        if not math.isfinite(p.score):
            raise ValueError(f"score at {p.at.isoformat()} is not a finite number")
    # Sorting by (time, symptom) fixes the order completely, whatever the input order.
    ordered = sorted(series, key=lambda p: (p.at, th.symptom(p.score)))
    out: list[_Instant] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1].at == ordered[i].at:
            j += 1
        out.append(_Instant(at=ordered[i].at, milder=ordered[i], worse=ordered[j]))
        i = j + 1
    return out


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / _SECONDS_PER_DAY


def _pct(base_symptom: float, score: float, th: CourseThresholds) -> float:
    # Multiply before dividing: 6 * 100 / 20 is exactly 30, 6 / 20 * 100 is not.
    return (base_symptom - th.symptom(score)) * 100.0 / base_symptom


def _meets(pct: float, threshold: float) -> bool:
    return pct >= threshold - _PCT_TOLERANCE


def _last_before(
    instants: Sequence[_Instant], before: datetime, lookback: timedelta
) -> Point | None:
    """The milder reading of the latest instant strictly before `before`, no older than
    `lookback` (the edge is inclusive)."""
    earliest = before - lookback
    found: Point | None = None
    for ins in instants:
        if ins.at >= before:
            break
        if ins.at >= earliest:
            found = ins.milder
    return found


def _order_courses(courses: Sequence[CourseEvent]) -> list[CourseEvent]:
    ids = [c.id for c in courses]
    if len(set(ids)) != len(ids):
        raise ValueError("course ids must be unique")
    ordered = sorted(courses, key=lambda c: (c.ordered[0].started_at, c.ordered[-1].ended_at, c.id))
    for prev, nxt in itertools.pairwise(ordered):
        if nxt.ordered[0].started_at < prev.ordered[-1].ended_at:
            raise ValueError(f"course {nxt.id!r} starts before course {prev.id!r} ends")
    return ordered


def _baseline_course(course: CourseEvent, ordered: list[CourseEvent]) -> CourseEvent:
    """The course whose pre-course score judges `course` (module docstring)."""
    by_id = {c.id: c for c in ordered}
    position = {c.id: k for k, c in enumerate(ordered)}
    current = course
    if current.original_course_id is None and current.kind != "induction":
        earlier = [c for c in ordered[: position[current.id]] if c.kind == "induction"]
        if not earlier:
            return current
        current = earlier[-1]
    seen = {course.id}
    while current.original_course_id is not None:
        parent = by_id.get(current.original_course_id)
        if parent is None:
            raise ValueError(
                f"course {current.id!r} names unknown original {current.original_course_id!r}"
            )
        if parent.id in seen:
            raise ValueError(f"original_course_id links form a cycle at {parent.id!r}")
        if position[parent.id] > position[current.id]:
            raise ValueError(f"course {current.id!r} names a later course as its original")
        seen.add(parent.id)
        current = parent
    return current


def _acute_effects(
    course: CourseEvent,
    instants: list[_Instant],
    th: CourseThresholds,
    *,
    next_infusion_start: dict[str, datetime | None],
    withdrawn_at: datetime | None,
) -> tuple[AcuteEffect, ...]:
    out: list[AcuteEffect] = []
    lookback = timedelta(days=th.acute_pre_lookback_days)
    window = timedelta(hours=th.acute_window_hours)
    for inf in course.ordered:
        pre = _last_before(instants, inf.started_at, lookback)
        limit = next_infusion_start[inf.id]
        post: Point | None = None
        for ins in instants:
            if ins.at <= inf.ended_at:
                continue
            if ins.at > inf.ended_at + window or (limit is not None and ins.at >= limit):
                break
            if withdrawn_at is not None and ins.at > withdrawn_at:
                break
            if post is None or th.symptom(ins.worse.score) < th.symptom(post.score):
                post = ins.worse
        change = pct = None
        if pre is not None and post is not None:
            change = th.symptom(pre.score) - th.symptom(post.score)
            base = th.symptom(pre.score)
            pct = _pct(base, post.score, th) if base > 0 else None
        out.append(
            AcuteEffect(
                infusion_id=inf.id,
                label="acute",
                pre_score=None if pre is None else pre.score,
                pre_at=None if pre is None else pre.at,
                post_score=None if post is None else post.score,
                post_at=None if post is None else post.at,
                change=change,
                pct=pct,
            )
        )
    return tuple(out)


@dataclass
class _Scan:
    response_at: datetime | None = None
    last_response: Point | None = None  # the last assessment that met response
    run: list[Point] = field(default_factory=list)  # non-responses since it, after the course
    loss_between: tuple[datetime, datetime] | None = None
    loss_reason: LossReason | None = None


def _scan_response(
    window: Sequence[Point], base_symptom: float, last_end: datetime, th: CourseThresholds
) -> _Scan:
    """Response against the course baseline, then a loss confirmed by
    `loss_consecutive` non-responses in a row after the last infusion."""
    scan = _Scan()
    pending: list[Point] = []  # a run of responding assessments not yet long enough
    for p in window:
        meets = _meets(_pct(base_symptom, p.score, th), th.response_pct)
        if scan.response_at is None:
            if not meets:
                pending = []
                continue
            pending.append(p)
            if len(pending) < th.response_consecutive:
                continue
            scan.response_at = pending[0].at
        if meets:
            scan.last_response, scan.run = p, []  # a responding value resets the run
            continue
        if p.at <= last_end:
            continue  # a dip between infusions of the course is the course still working
        scan.run.append(p)
        if len(scan.run) >= th.loss_consecutive:
            assert scan.last_response is not None
            scan.loss_between = (scan.last_response.at, scan.run[0].at)
            scan.loss_reason = "non_response"
            break
    return scan


def _fading(window: Sequence[Point], last_end: datetime, th: CourseThresholds) -> bool:
    if th.mid is None:
        return False
    after = [p for p in window if p.at >= last_end + timedelta(hours=th.fading_delay_hours)]
    if len(after) < 2:
        return False
    best = min(th.symptom(p.score) for p in after)
    return all(th.symptom(p.score) - best >= th.mid - 1e-9 for p in after[-2:])


def _futility(
    course: CourseEvent,
    window: Sequence[Point],
    base_symptom: float,
    th: CourseThresholds,
) -> bool | None:
    infusions = course.ordered
    k = th.futility_after_infusion
    if course.kind != "induction" or th.improvement_pct is None or len(infusions) < k:
        return None
    due = infusions[k - 1].ended_at + timedelta(hours=th.futility_delay_hours)
    # Before the next infusion of the course: a later one would judge more infusions.
    limit = infusions[k].started_at if len(infusions) > k else None
    for p in window:
        if p.at < due:
            continue
        if limit is not None and p.at >= limit:
            return None
        return not _meets(_pct(base_symptom, p.score, th), th.improvement_pct)
    return None


# ------------------------------------------------------------------------------ public API


def benefit_fading(
    series: Sequence[Point],
    *,
    last_infusion_end: datetime,
    th: CourseThresholds,
    until: datetime | None = None,
) -> bool:
    """Is the benefit slipping? True only when the two latest assessments from
    `fading_delay_hours` (24 h) after the last infusion on are each worse than the best
    of those assessments by at least the MID. The first 24 h are left out of both: the
    acute peak is not the level a patient can hold, and one bad day is not a trend.
    The caller decides "while still responding" (`course_outcomes` asks it only of a
    responding course). Ties in time count the worse answer."""
    points = [ins.worse for ins in _instants(series, th) if until is None or ins.at < until]
    return _fading(points, last_infusion_end, th)


def course_outcomes(
    series: Sequence[Point],
    courses: Sequence[CourseEvent],
    th: CourseThresholds,
    *,
    withdrawn_at: datetime | None = None,
) -> list[CourseOutcome]:
    """One outcome per course, in order of first infusion (ties: last infusion end, id).

    Pass all the patient's courses: each one's follow-up ends where the next begins, and
    the next one's kind decides between a loss (rescue) and censoring (module
    docstring). Raises ValueError for courses that overlap, share an id, or name an
    unknown or later original course."""
    ordered = _order_courses(courses)
    instants = _instants(series, th)

    all_infusions = sorted(
        (inf for c in ordered for inf in c.ordered), key=lambda i: (i.started_at, i.ended_at, i.id)
    )
    next_infusion_start: dict[str, datetime | None] = {
        inf.id: (all_infusions[k + 1].started_at if k + 1 < len(all_infusions) else None)
        for k, inf in enumerate(all_infusions)
    }

    # Baselines first: a maintenance course reads its original's.
    own_baseline: dict[str, Point | None] = {
        c.id: _last_before(
            instants, c.ordered[0].started_at, timedelta(days=th.baseline_lookback_days)
        )
        for c in ordered
    }

    results: list[CourseOutcome] = []
    for k, course in enumerate(ordered):
        nxt = ordered[k + 1] if k + 1 < len(ordered) else None
        results.append(
            _course_outcome(
                course,
                nxt,
                instants,
                th,
                baseline_course=_baseline_course(course, ordered),
                own_baseline=own_baseline,
                next_infusion_start=next_infusion_start,
                withdrawn_at=withdrawn_at,
            )
        )
    return results


_ClosedBy = Literal["next", "withdrawal", ""]


def _window(
    course: CourseEvent,
    instants: Sequence[_Instant],
    next_start: datetime | None,
    withdrawn_at: datetime | None,
) -> list[Point]:
    """Follow-up assessments of a course (module docstring, "Course windows")."""
    during = [(i.started_at, i.ended_at) for i in course.infusions]
    first_end = course.ordered[0].ended_at
    return [
        ins.worse
        for ins in instants
        if ins.at > first_end
        and (next_start is None or ins.at < next_start)
        and (withdrawn_at is None or ins.at <= withdrawn_at)
        and not any(s <= ins.at <= e for s, e in during)
    ]


def _reliable_change(
    base_symptom: float | None, best: Point | None, latest: Point | None, th: CourseThresholds
) -> ReliableChange | None:
    if base_symptom is None or best is None or latest is None:
        return None
    change_best = base_symptom - th.symptom(best.score)
    change_latest = base_symptom - th.symptom(latest.score)
    rc = th.reliable_change
    return ReliableChange(
        threshold=rc,
        change_best=change_best,
        change_latest=change_latest,
        improved_best=None if rc is None else change_best >= rc,
        improved_latest=None if rc is None else change_latest >= rc,
        deteriorated_latest=None if rc is None else -change_latest >= rc,
    )


@dataclass(frozen=True)
class _Durability:
    loss_between: tuple[datetime, datetime] | None = None
    loss_reason: LossReason | None = None
    from_days: float | None = None
    to_days: float | None = None
    days: float | None = None
    censored: bool = False
    censor_reason: CensorReason | None = None
    censored_at: datetime | None = None
    pending: int = 0


def _durability(
    scan: _Scan,
    *,
    last_end: datetime,
    closed_by: _ClosedBy,
    nxt: CourseEvent | None,
) -> _Durability:
    """Loss interval or right-censoring of a responder (module docstring)."""
    last = scan.last_response
    if scan.response_at is None or last is None:
        return _Durability()
    from_days = max(0.0, _days(last.at - last_end))
    between, reason = scan.loss_between, scan.loss_reason
    if between is None and closed_by == "next" and nxt is not None and nxt.kind == "rescue":
        # A booster given because the benefit faded is a loss (INSTRUMENTS.md); it lies
        # before the first non-response since the last response, if there is one.
        rescue_start = nxt.ordered[0].started_at
        between, reason = (last.at, scan.run[0].at if scan.run else rescue_start), "rescue"
    if between is not None:
        to_days = max(from_days, _days(between[1] - last_end))
        return _Durability(
            loss_between=between,
            loss_reason=reason,
            from_days=from_days,
            to_days=to_days,
            days=(from_days + to_days) / 2.0,
        )
    censor_reason: CensorReason = "data_end"
    if closed_by == "withdrawal":
        censor_reason = "withdrawal"
    elif closed_by == "next" and nxt is not None:
        censor_reason = "scheduled_booster" if nxt.kind == "maintenance" else "next_course"
    return _Durability(
        from_days=from_days,
        days=from_days,
        censored=True,
        censor_reason=censor_reason,
        censored_at=last.at,
        pending=len(scan.run),
    )


def _course_outcome(
    course: CourseEvent,
    nxt: CourseEvent | None,
    instants: list[_Instant],
    th: CourseThresholds,
    *,
    baseline_course: CourseEvent,
    own_baseline: dict[str, Point | None],
    next_infusion_start: dict[str, datetime | None],
    withdrawn_at: datetime | None,
) -> CourseOutcome:
    last_end = course.ordered[-1].ended_at
    next_start = None if nxt is None else nxt.ordered[0].started_at
    # What closes the follow-up window: the earlier of the next course and withdrawal.
    closed_by: _ClosedBy = "next" if next_start is not None else ""
    if withdrawn_at is not None and (next_start is None or withdrawn_at < next_start):
        closed_by = "withdrawal"
    window = _window(course, instants, next_start, withdrawn_at)

    baseline = own_baseline[baseline_course.id]
    base_symptom = None if baseline is None else th.symptom(baseline.score)
    evaluable = (
        base_symptom is not None
        and base_symptom > 0
        and (th.evaluable_min is None or base_symptom >= th.evaluable_min)
    )
    best = min(window, key=lambda p: th.symptom(p.score)) if window else None  # earliest of equals
    latest = window[-1] if window else None

    def pct_of(p: Point | None) -> float | None:
        if p is None or base_symptom is None or base_symptom <= 0:
            return None
        return _pct(base_symptom, p.score, th)

    scan = _Scan()
    remission_at: datetime | None = None
    partial = False
    futility: bool | None = None
    if evaluable:
        assert base_symptom is not None
        futility = _futility(course, window, base_symptom, th)
        scan = _scan_response(window, base_symptom, last_end, th)
        best_pct = pct_of(best)
        partial = (
            scan.response_at is None
            and best_pct is not None
            and _meets(best_pct, th.partial_response_pct)
        )
        if scan.response_at is not None and th.remission_below is not None:
            cut = th.remission_below
            remission_at = next((p.at for p in window if th.symptom(p.score) < cut), None)
    dur = _durability(scan, last_end=last_end, closed_by=closed_by, nxt=nxt)

    responding_again = False
    if dur.loss_between is not None and base_symptom is not None:
        after = [p for p in window if p.at > dur.loss_between[1]]
        tail = after[-th.response_consecutive :]
        responding_again = len(tail) == th.response_consecutive and all(
            _meets(_pct(base_symptom, p.score, th), th.response_pct) for p in tail
        )

    status: CourseStatus
    if not evaluable:
        status = "not_evaluable"
    elif not window:
        status = "no_follow_up" if closed_by else "awaiting_data"
    elif dur.loss_between is not None:
        status = "lost"
    elif scan.response_at is not None:
        status = "responding"
    else:
        status = "partial_response" if partial else "no_response"

    return CourseOutcome(
        course_id=course.id,
        kind=course.kind,
        baseline_course_id=baseline_course.id,
        baseline=None if baseline is None else baseline.score,
        baseline_at=None if baseline is None else baseline.at,
        evaluable=evaluable,
        assessments=len(window),
        best_score=None if best is None else best.score,
        best_at=None if best is None else best.at,
        best_pct=pct_of(best),
        latest_score=None if latest is None else latest.score,
        latest_at=None if latest is None else latest.at,
        latest_pct=pct_of(latest),
        responded=scan.response_at is not None,
        response_at=scan.response_at,
        partial_response=partial,
        remitted=remission_at is not None,
        remission_at=remission_at,
        futility_signal=futility,
        status=status,
        loss_between=dur.loss_between,
        loss_reason=dur.loss_reason,
        durability_from_days=dur.from_days,
        durability_to_days=dur.to_days,
        durability_days=dur.days,
        censored=dur.censored,
        censor_reason=dur.censor_reason,
        censored_at=dur.censored_at,
        pending_non_responses=dur.pending,
        benefit_fading=status == "responding" and _fading(window, last_end, th),
        responding_again=responding_again,
        reliable_change=_reliable_change(base_symptom, best, latest, th),
        infusions=_acute_effects(
            course,
            instants,
            th,
            next_infusion_start=next_infusion_start,
            withdrawn_at=withdrawn_at,
        ),
    )
