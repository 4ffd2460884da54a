"""A scheduler's preview: every reminder a plan (or a condition template, or the plans a
patient with these conditions would follow) would send around a sample course, with the
recall check of each ask and the expected burden per week. Nothing is stored."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from accounts.errors import DomainValidationError
from accounts.models import Clinic

from ..cadence import QuietHours, StepsInvalid, parse_steps
from ..cadence_templates import adapt, templates
from ..course_plan import CoursePlan, InfusionSlot, SourcedStep, burden_per_week, plan_course
from ..models import CadencePlan
from .plan_store import (
    default_plan_ensure,
    instrument_recall_hours,
    steps_of,
    template_plans_for,
)

# How far the burden is counted: 8 weeks after the last infusion (issue 13's budget).
BURDEN_WEEKS_AFTER = 8


@dataclass(frozen=True)
class SampleCourse:
    starts: list[datetime]
    duration_minutes: int
    timezone: str
    conditions: list[str]
    quiet: QuietHours | None = None


@dataclass(frozen=True)
class RecallCheck:
    instrument: str
    recall_hours: int
    previous_closes_at: datetime | None
    gap_hours: float | None


@dataclass
class Preview:
    schedule: CoursePlan
    slots: list[InfusionSlot]
    recall_checks: dict[tuple[str, str], list[RecallCheck]]
    burden_weeks: list[tuple[datetime, int]]
    after_last: int
    notes: list[str] = field(default_factory=list)


def _steps(
    *,
    clinic: Clinic,
    recall: dict[str, int],
    plan: CadencePlan | None,
    steps: object,
    template: str | None,
    conditions: list[str],
) -> tuple[list[SourcedStep], list[str]]:
    if plan is not None:
        return steps_of([plan]), []
    if steps is not None:
        try:
            parsed = parse_steps(steps, recall_hours=recall)
        except StepsInvalid as exc:
            raise DomainValidationError(exc.errors) from exc
        return [SourcedStep(s) for s in parsed], []
    if template is not None:
        adapted = adapt(templates()[template], recall)
        try:
            parsed = parse_steps(adapted.steps, recall_hours=recall)
        except StepsInvalid as exc:
            raise DomainValidationError.single(
                "template", "invalid", "This clinic's instruments cannot ask this template."
            ) from exc
        return [SourcedStep(s) for s in parsed], list(adapted.notes)
    chosen = template_plans_for(clinic=clinic, conditions=conditions)
    if chosen:
        return steps_of(chosen), []
    return steps_of([default_plan_ensure(clinic=clinic)]), []


def cadence_preview(
    *,
    clinic: Clinic,
    course: SampleCourse,
    plan: CadencePlan | None = None,
    steps: object = None,
    template: str | None = None,
) -> Preview:
    """What the engine would plan for this course: the same planner as the real rows
    (notifications/course_plan.py), with no answers yet."""
    recall = instrument_recall_hours(clinic=clinic)
    sourced, notes = _steps(
        clinic=clinic,
        recall=recall,
        plan=plan,
        steps=steps,
        template=template,
        conditions=course.conditions,
    )
    duration = timedelta(minutes=course.duration_minutes)
    slots = [
        InfusionSlot(str(n), start, start + duration)
        for n, start in enumerate(sorted(course.starts))
    ]
    schedule = plan_course(
        infusions=slots,
        steps=sourced,
        tz=ZoneInfo(course.timezone),
        quiet=course.quiet,
        recall_hours=recall,
        course_gap=timedelta(days=settings.AFTERGLOW_COURSE_GAP_DAYS),
    )
    checks: dict[tuple[str, str], list[RecallCheck]] = {}
    last_close: dict[str, datetime] = {}
    for ask in schedule.asks:
        rows = []
        for code in ask.instruments:
            hours = recall.get(code, 0)
            prev = last_close.get(code)
            gap = (ask.due_at - prev).total_seconds() / 3600 if prev else None
            rows.append(RecallCheck(code, hours, prev, None if gap is None else round(gap, 1)))
            last_close[code] = ask.closes_at
        checks[(ask.infusion_id, ask.step_key)] = rows
    first = slots[0].start - timedelta(days=1)
    due = [a.due_at for a in schedule.asks]
    last_end = slots[-1].end
    span = max(due, default=first) - first
    weeks = int(span / timedelta(days=7)) + 1
    counts = burden_per_week(due, first, weeks)
    after = sum(burden_per_week(due, last_end, BURDEN_WEEKS_AFTER))
    return Preview(
        schedule=schedule,
        slots=slots,
        recall_checks=checks,
        burden_weeks=[(first + timedelta(days=7 * i), n) for i, n in enumerate(counts)],
        after_last=after,
        notes=notes,
    )
