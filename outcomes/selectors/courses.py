"""Outcomes per treatment course, for one patient and for a clinic's cohort.

The rules are the pure engine's (outcomes/analytics/courses.py: response, remission and
loss against the course baseline; durability as an interval from the course's last
infusion) and the cohort curve is the interval-censored Turnbull estimator with bootstrap
intervals (outcomes/analytics/interval.py). This module reads the data they need and
decides two things the data do not say outright:

- Which infusions form a course. A course the clinic recorded (TreatmentCourse) is taken
  as recorded. Infusions without one are grouped: a gap of more than
  `AFTERGLOW_COURSE_GAP_DAYS` (default 10) since the previous infusion starts a new
  course. The first inferred course, and any later one of 3 or more infusions, is an
  induction; a shorter later one is a booster: "rescue" when the course before it was
  fading or lost by the time it was given (docs/clinical/INSTRUMENTS.md: a rescue is a
  loss event), else "maintenance" (which censors).
- Whether a curve's signal can date a loss. Durability needs assessments every few days
  (INSTRUMENTS.md: a 2-week-recall score asked every 14 days cannot); a cohort whose
  responders were assessed, in the median, less often than every
  `AFTERGLOW_DURABILITY_MAX_GAP_DAYS` (default 7) gets no curve and says why.
"""

from __future__ import annotations

import itertools
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes.models import (
    ClinicOutcomeSettings,
    CourseKind,
    Infusion,
    InfusionStatus,
    InstrumentResponse,
    Patient,
    PatientCondition,
)

from ..analytics.courses import (
    CourseEvent,
    CourseOutcome,
    CourseThresholds,
    course_outcomes,
)
from ..analytics.durability import InfusionEvent, Point
from ..analytics.interval import IntervalSurvival, interval_survival
from ..dbtime import epoch_seconds, from_epoch
from .instruments import InstrumentInfo, instrument_infos

logger = logging.getLogger(__name__)

COURSE_GROUPINGS = ("none", "condition", "course_kind")
ESTIMATOR = "turnbull_npmle"  # interval-censored NPMLE, linear between assessment times
# The clinic's own rules (ClinicOutcomeSettings) that apply to courses too.
_CLINIC_OVERRIDES = ("loss_consecutive", "baseline_lookback_days")


def _gap_days() -> float:
    return float(settings.AFTERGLOW_COURSE_GAP_DAYS)


def _max_signal_gap_days() -> float:
    return float(settings.AFTERGLOW_DURABILITY_MAX_GAP_DAYS)


def _max_signal_recall_days() -> float:
    return float(settings.AFTERGLOW_DURABILITY_MAX_RECALL_DAYS)


@dataclass(frozen=True)
class InfusionRow:
    id: str
    number: int  # 1-based, over the patient's given infusions
    course_id: str | None  # the recorded TreatmentCourse, if any
    course_kind: str | None
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class PatientCourse:
    """One course as the patient page shows it: the event and, per instrument, its
    outcome."""

    event: CourseEvent
    recorded: bool  # the clinic recorded it (TreatmentCourse), rather than inferred
    infusions: list[InfusionRow]


@dataclass(frozen=True)
class InstrumentCourses:
    code: str
    info: InstrumentInfo
    thresholds: CourseThresholds
    recall_days: float | None
    outcomes: list[CourseOutcome]


def course_thresholds(info: InstrumentInfo, overrides: dict[str, Any]) -> CourseThresholds:
    """The instrument's thresholds (published, with the clinic's response, remission and
    MID settings already applied in `info`), plus the clinic's loss rule and baseline
    look-back where it set them (otherwise 30 days: INSTRUMENTS.md, "Course baseline")."""
    th = info.thresholds
    base = CourseThresholds.from_definition(
        {
            "response_pct": th.response_pct,
            "partial_response_pct": th.partial_response_pct,
            "remission_below": th.remission_below,
            "mid": th.mid,
            "improvement_pct": info.improvement_pct,
        },
        direction=th.direction,
        scale_max=th.scale_max,
        code=info.code,
        recall_hours=info.recall_hours,
        loss_consecutive=th.loss_consecutive,
    )
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def _clinic_overrides(clinic_id) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in ClinicOutcomeSettings.objects.filter(clinic_id=clinic_id):
        values = {k: getattr(row, k) for k in _CLINIC_OVERRIDES}
        out[row.instrument_code] = {k: v for k, v in values.items() if v is not None}
    return out


def group_courses(rows: Sequence[InfusionRow], *, gap_days: float) -> list[PatientCourse]:
    """Courses from a patient's given infusions (oldest first): recorded ones as
    recorded, the rest split at gaps longer than `gap_days`. An unassigned infusion inside
    a recorded course's span belongs to it (courses may not interleave). Inferred
    boosters are "maintenance" here; `_mark_rescues` decides which were rescues."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for r in rows:
        if r.course_id is not None:
            lo, hi = spans.get(r.course_id, (r.started_at, r.ended_at))
            spans[r.course_id] = (min(lo, r.started_at), max(hi, r.ended_at))
    rows = [
        r
        if r.course_id is not None
        else next(
            (
                replace(r, course_id=cid, course_kind=_kind_of(rows, cid))
                for cid, (lo, hi) in spans.items()
                if lo <= r.started_at <= hi
            ),
            r,
        )
        for r in rows
    ]
    courses: list[PatientCourse] = []
    current: list[InfusionRow] = []
    recorded: dict[str, list[InfusionRow]] = defaultdict(list)
    order: list[tuple[datetime, str, str]] = []  # (first start, kind of key, key)

    def close() -> None:
        if current:
            order.append((current[0].started_at, "inferred", str(len(inferred))))
            inferred.append(list(current))
            current.clear()

    inferred: list[list[InfusionRow]] = []
    for row in rows:
        if row.course_id is not None:
            close()
            if row.course_id not in recorded:
                order.append((row.started_at, "recorded", row.course_id))
            recorded[row.course_id].append(row)
            continue
        if current and row.started_at - current[-1].ended_at > timedelta(days=gap_days):
            close()
        current.append(row)
    close()

    seen_induction = False
    for _, how, key in sorted(order):
        if how == "recorded":
            members = recorded[key]
            kind = members[0].course_kind or CourseKind.MAINTENANCE
            recorded_flag = True
        else:
            members = inferred[int(key)]
            kind = (
                CourseKind.INDUCTION
                if not seen_induction or len(members) >= 3
                else CourseKind.MAINTENANCE
            )
            recorded_flag = False
        seen_induction = seen_induction or kind == CourseKind.INDUCTION
        course_id = key if how == "recorded" else f"inferred-{members[0].id}"
        courses.append(
            PatientCourse(
                event=CourseEvent(
                    id=course_id,
                    kind=str(kind),  # type: ignore[arg-type]  # a CourseKind value
                    infusions=tuple(
                        InfusionEvent(id=r.id, started_at=r.started_at, ended_at=r.ended_at)
                        for r in members
                    ),
                ),
                recorded=recorded_flag,
                infusions=members,
            )
        )
    return courses


def _kind_of(rows: Sequence[InfusionRow], course_id: str) -> str | None:
    return next((r.course_kind for r in rows if r.course_id == course_id), None)


def _mark_rescues(
    courses: list[PatientCourse], outcomes: list[CourseOutcome]
) -> tuple[list[PatientCourse], bool]:
    """An inferred booster given while the course before it was fading (or already lost)
    was a rescue. Returns the courses and whether any kind changed."""
    by_id = {o.course_id: o for o in outcomes}
    changed = False
    out = []
    for k, c in enumerate(courses):
        if (
            k > 0
            and not c.recorded
            and c.event.kind == CourseKind.MAINTENANCE
            and (
                by_id[courses[k - 1].event.id].benefit_fading
                or by_id[courses[k - 1].event.id].status == "lost"
            )
        ):
            c = replace(c, event=replace(c.event, kind="rescue"))
            changed = True
        out.append(c)
    return out, changed


def _outcomes(
    series: list[Point],
    courses: list[PatientCourse],
    th: CourseThresholds,
    withdrawn_at: datetime | None,
) -> tuple[list[PatientCourse], list[CourseOutcome]]:
    try:
        outs = course_outcomes(series, [c.event for c in courses], th, withdrawn_at=withdrawn_at)
    except ValueError:
        # Recorded courses whose infusions interleave cannot be judged as recorded: judge
        # the infusions by their spacing instead, and say so in the log (ids only).
        logger.warning(
            "courses of infusions %s overlap; outcomes grouped by spacing instead",
            ",".join(r.id for c in courses for r in c.infusions),
        )
        rows = sorted(
            (replace(r, course_id=None, course_kind=None) for c in courses for r in c.infusions),
            key=lambda r: (r.started_at, r.ended_at, r.id),
        )
        courses = group_courses(rows, gap_days=_gap_days())
        outs = course_outcomes(series, [c.event for c in courses], th, withdrawn_at=withdrawn_at)
    courses, changed = _mark_rescues(courses, outs)
    if changed:
        outs = course_outcomes(series, [c.event for c in courses], th, withdrawn_at=withdrawn_at)
    return courses, outs


def _infusion_rows(patient_ids: Iterable) -> dict[Any, list[InfusionRow]]:
    rows: dict[Any, list[InfusionRow]] = defaultdict(list)
    for pid, iid, course_id, kind, s, e in (
        Infusion.objects.filter(
            patient_id__in=list(patient_ids),
            status=InfusionStatus.COMPLETED,
            ended_at__isnull=False,
        )
        .order_by("patient_id", "started_at", "ended_at", "id")
        .values_list(
            "patient_id",
            "id",
            "course_id",
            "course__kind",
            epoch_seconds("started_at"),
            epoch_seconds("ended_at"),
        )
    ):
        rows[pid].append(
            InfusionRow(
                id=str(iid),
                number=len(rows[pid]) + 1,
                course_id=None if course_id is None else str(course_id),
                course_kind=kind,
                started_at=from_epoch(s),
                ended_at=from_epoch(e),
            )
        )
    return rows


def _series(patient_ids: Iterable, codes: Sequence[str] | None) -> dict[Any, dict]:
    qs = InstrumentResponse.objects.filter(patient_id__in=list(patient_ids), total__isnull=False)
    if codes is not None:
        qs = qs.filter(instrument_code__in=list(codes))
    out: dict[Any, dict[str, list[Point]]] = defaultdict(lambda: defaultdict(list))
    for pid, code, at, total in qs.order_by().values_list(
        "patient_id", "instrument_code", epoch_seconds("answered_at"), "total"
    ):
        out[pid][code].append(Point(at=from_epoch(at), score=total))
    return out


def _recall_days(info: InstrumentInfo) -> float | None:
    return None if info.recall_hours is None else info.recall_hours / 24


def patient_course_outcomes(
    *, patient: Patient, codes: Sequence[str] | None = None
) -> tuple[list[PatientCourse], dict[str, InstrumentCourses]]:
    """The patient's courses and, per scored instrument with data, each course's outcome.
    A fixed number of queries however long the history."""
    infos = instrument_infos(clinic_id=patient.clinic_id, codes=codes)
    if codes is not None:
        unknown = [c for c in codes if c not in infos]
        if unknown:
            raise DomainValidationError.single(
                "instrument", "unknown_instrument", f"No scored instrument '{unknown[0]}'."
            )
    overrides = _clinic_overrides(patient.clinic_id)
    rows = _infusion_rows([patient.pk]).get(patient.pk, [])
    series = _series([patient.pk], codes).get(patient.pk, {})
    grouped = group_courses(rows, gap_days=_gap_days())
    result: dict[str, InstrumentCourses] = {}
    courses = grouped
    for code in sorted(series):
        info = infos.get(code)
        if info is None or not grouped:
            continue
        th = course_thresholds(info, overrides.get(code, {}))
        courses, outs = _outcomes(series[code], grouped, th, patient.withdrawn_at)
        result[code] = InstrumentCourses(
            code=code, info=info, thresholds=th, recall_days=_recall_days(info), outcomes=outs
        )
    return courses, result


# --- the clinic's cohort ---------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    """What a durability curve is built from, and whether it can date a loss."""

    instrument: str
    recall_days: float | None
    validated: bool  # False for the unvalidated 0-10 mood item
    assessments_per_patient: float | None
    median_days_between_assessments: float | None
    can_date_loss: bool
    reason: str
    # What the response rates cannot see, if anything: said beside them, never hidden.
    rates_caveat: str = ""


@dataclass(frozen=True)
class CourseGroup:
    name: str
    courses: int
    evaluable: int
    responders: int
    partial_responders: int
    remitters: int
    losses: int
    curve: IntervalSurvival | None  # None: no responder, or the signal cannot date a loss


@dataclass(frozen=True)
class ClinicDurability:
    instrument: str
    group_by: str
    patients: int
    signal: Signal
    groups: list[CourseGroup]


def _gaps(outcomes_series: list[tuple[CourseOutcome, list[Point]]]) -> list[float]:
    """Days between consecutive assessments of responders after their course's response:
    the resolution at which a loss can be dated."""
    gaps: list[float] = []
    for out, points in outcomes_series:
        if not out.responded or out.response_at is None:
            continue
        end = out.censored_at or (out.loss_between[1] if out.loss_between else None)
        times = sorted(
            {p.at for p in points if p.at >= out.response_at and (end is None or p.at <= end)}
        )
        gaps.extend((b - a).total_seconds() / 86_400 for a, b in itertools.pairwise(times))
    return gaps


def _signal(
    info: InstrumentInfo,
    with_series: list[tuple[CourseOutcome, list[Point]]],
    *,
    answered: int,
    treated: int,
) -> Signal:
    gaps = _gaps(with_series)
    median_gap = statistics.median(gaps) if gaps else None
    limit = _max_signal_gap_days()
    recall = _recall_days(info)
    if recall is not None and recall > _max_signal_recall_days():
        # A 2-week-recall score averages the past 14 days: it lags a loss by about a week
        # however often it is asked (INSTRUMENTS.md; bench/durability.py: +6.9 days, 0
        # coverage). Its rates stand; its curve would look certain and be late.
        can_date = False
        reason = (
            f"{info.code} asks about the past {recall:g} days, so it shows a loss about "
            f"{recall / 2:g} days late whatever the cadence; use a short-recall signal "
            "for durability."
        )
    elif median_gap is None:
        can_date, reason = False, "No responder has two assessments after responding yet."
    elif median_gap > limit:
        can_date = False
        reason = (
            f"Responders were assessed every {median_gap:.1f} days in the median; a loss "
            f"cannot be dated to better than that (at most {limit:g} days is needed)."
        )
    else:
        can_date, reason = True, ""
    caveat = ""
    if recall is not None and recall > _max_signal_recall_days():
        # Asked only outside its recall (notifications/course_plan.py), a 2-week score is
        # first asked on day 14 of a course, and it averages the days before the response
        # too: bench/durability.py reads 43.9% responders after a 6-infusion induction
        # against a true 49.2% (docs/BENCHMARKS.md, "Course cadence and condition templates").
        caveat = (
            f"{info.code} asks about the past {recall:g} days and is asked at most every "
            f"{recall + 1:g}: a response that lasts less than about three weeks may not show "
            "on it, so its response rate can under-count responders after a short course. "
            "Read it beside a short-recall signal's."
        )
    return Signal(
        instrument=info.code,
        recall_days=_recall_days(info),
        # The 0-10 mood item is unvalidated (INSTRUMENTS.md): say so wherever it decides.
        validated=info.code != "MOOD",
        assessments_per_patient=(answered / treated) if treated else None,
        median_days_between_assessments=median_gap,
        can_date_loss=can_date,
        reason=reason,
        rates_caveat=caveat,
    )


def clinic_course_durability(
    *,
    clinic: Clinic,
    code: str,
    group_by: str = "none",
    bootstrap: int = 200,
    seed: int = 0,
    grid_step_days: float = 1.0,
) -> ClinicDurability:
    """Per-course response, remission and durability across the clinic's patients, with
    the Turnbull curve and bootstrap intervals per group."""
    if group_by not in COURSE_GROUPINGS:
        raise ValueError(group_by)
    infos = instrument_infos(clinic_id=clinic.pk, codes=[code])
    if code not in infos:
        raise DomainValidationError.single(
            "instrument", "unknown_instrument", f"No scored instrument '{code}'."
        )
    info = infos[code]
    th = course_thresholds(info, _clinic_overrides(clinic.pk).get(code, {}))
    patients = list(Patient.objects.filter(clinic=clinic).values_list("pk", "withdrawn_at"))
    ids = [pid for pid, _ in patients]
    rows = _infusion_rows(ids)
    series = _series(ids, [code])
    conditions: dict = defaultdict(list)
    if group_by == "condition":
        for pid, cond in PatientCondition.objects.filter(patient__clinic=clinic).values_list(
            "patient_id", "condition"
        ):
            conditions[pid].append(cond)

    grouped: dict[str, list[CourseOutcome]] = defaultdict(list)
    with_series: list[tuple[CourseOutcome, list[Point]]] = []
    answered = 0
    treated = 0
    gap = _gap_days()
    for pid, withdrawn_at in patients:
        infusion_rows = rows.get(pid)
        if not infusion_rows:
            continue
        treated += 1
        points = series.get(pid, {}).get(code, [])
        answered += len(points)
        courses = group_courses(infusion_rows, gap_days=gap)
        courses, outs = _outcomes(points, courses, th, withdrawn_at)
        for out in outs:
            with_series.append((out, points))
            if group_by == "none":
                keys = ["all"]
            elif group_by == "course_kind":
                keys = [out.kind]
            else:
                keys = conditions.get(pid) or ["unspecified"]
            for k in keys:
                grouped[k].append(out)
    if treated and group_by == "none":
        grouped.setdefault("all", [])

    signal = _signal(info, with_series, answered=answered, treated=treated)
    groups = []
    for name in sorted(grouped):
        outs = grouped[name]
        intervals = [o.durability_interval for o in outs if o.durability_interval is not None]
        curve = None
        if intervals and signal.can_date_loss:
            curve = interval_survival(
                [i for i in intervals if i is not None],
                bootstrap=bootstrap,
                seed=seed,
                grid_step_days=grid_step_days,
            )
        groups.append(
            CourseGroup(
                name=name,
                courses=len(outs),
                evaluable=sum(o.evaluable for o in outs),
                responders=sum(o.responded for o in outs),
                partial_responders=sum(o.partial_response for o in outs),
                remitters=sum(o.remitted for o in outs),
                losses=sum(o.status == "lost" for o in outs),
                curve=curve,
            )
        )
    return ClinicDurability(
        instrument=code, group_by=group_by, patients=treated, signal=signal, groups=groups
    )


__all__ = [
    "COURSE_GROUPINGS",
    "ESTIMATOR",
    "ClinicDurability",
    "CourseGroup",
    "InstrumentCourses",
    "PatientCourse",
    "Signal",
    "clinic_course_durability",
    "course_thresholds",
    "group_courses",
    "patient_course_outcomes",
]
