"""Reminder rows: planned from an infusion and its patient's plan, re-planned by diff.

Regeneration is a diff, never delete-and-recreate (docs/house/STYLE.md, habit 10; Beiwe issue 350):
missing rows are created, obsolete pending rows cancelled, pending rows whose time moved
are moved, and sent, completed and missed rows are never touched, so nothing is sent twice.
"""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from outcomes.models import (
    CheckIn,
    Infusion,
    InfusionStatus,
    InstrumentResponse,
    Patient,
    PatientStatus,
)

from ..course_plan import Ask, CoursePlan, InfusionSlot, Made, SourcedStep, plan_course
from ..models import CadencePlan, PatientPreference, Reminder, ReminderKind, ReminderStatus
from .plan_store import instrument_recall_hours, plans_for_patient, quiet_hours_for, steps_of

ACTIVE_INFUSION = (InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS, InfusionStatus.COMPLETED)


@dataclass
class PlanDiff:
    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)

    def of(self, infusion_id: str) -> "PlanDiff":
        """The part of a patient's diff that concerns one infusion, by step key."""
        pick = lambda keys: [k.split(":", 1)[1] for k in keys if k.startswith(f"{infusion_id}:")]  # noqa: E731
        return PlanDiff(
            pick(self.created), pick(self.moved), pick(self.cancelled), pick(self.untouched)
        )


def infusion_times(infusion: Infusion) -> tuple[datetime, datetime]:
    """The infusion's actual start and end, or until then its planned ones."""
    start = infusion.started_at or infusion.scheduled_at
    end = infusion.ended_at or start + timedelta(minutes=infusion.planned_duration_minutes)
    return start, end


# A course's last reminder is 12 weeks after its last infusion (the templates' longest
# tail): an infusion older than this has nothing left to plan, and only its history counts.
# A plan with a longer tail widens it (`_horizon`).
HORIZON = timedelta(days=100)
OPEN = (ReminderStatus.PENDING, ReminderStatus.SENT)


def _history(row: Reminder) -> bool:
    """Sent, completed or missed, or sent and then cancelled (a pause): never re-planned,
    never sent again."""
    return row.status not in (ReminderStatus.PENDING, ReminderStatus.CANCELLED) or (
        row.sent_at is not None
    )


def _horizon(steps: list[SourcedStep]) -> timedelta:
    longest = max(
        (timedelta(minutes=s.step.offset_minutes, hours=s.step.window_hours) for s in steps),
        default=timedelta(0),
    )
    return max(HORIZON, longest + timedelta(days=2))


def _made(row: Reminder) -> Made:
    """An ask already made, and where its recall runs from (course_plan.Made)."""
    if row.status == ReminderStatus.COMPLETED:
        edge = row.check_in.answered_at if row.check_in is not None else row.completed_at
    elif row.status == ReminderStatus.SENT or row.sent_at is not None:
        edge = row.window_closes_at  # it may be answered until it closes
    else:
        edge = None  # missed: nothing was answered, nothing blocks
    return Made(str(row.infusion_id), row.step_key, tuple(row.instruments), edge)


def _answers(patient: Patient, since: datetime, codes: set[str]) -> dict[str, list[datetime]]:
    found: dict[str, list[datetime]] = {}
    rows = InstrumentResponse.objects.filter(
        patient=patient, answered_at__gte=since, instrument_code__in=codes
    ).values_list("instrument_code", "answered_at")
    for code, at in rows:
        found.setdefault(code, []).append(at)
    return found


def course_schedule(
    *,
    patient: Patient,
    steps: list[SourcedStep],
    infusions: list[Infusion],
    made: dict,
    treated_before: bool = False,
) -> CoursePlan:
    """What the patient's plans ask around these infusions, as one schedule
    (notifications/course_plan.py), given the asks already made and their answers."""
    recall = instrument_recall_hours(clinic=patient.clinic)
    slots = [
        InfusionSlot(
            str(i.pk),
            *infusion_times(i),
            course=str(i.course_id) if i.course_id else None,
            kind=i.course.kind if i.course is not None else None,
        )
        for i in infusions
    ]
    longest = max((recall.get(c, 0) for s in steps for c in s.step.instruments), default=0)
    since = min((s.start for s in slots), default=timezone.now()) - timedelta(hours=longest)
    codes = {c for s in steps for c in s.step.instruments if recall.get(c, 0) > 0}
    return plan_course(
        infusions=slots,
        steps=steps,
        tz=ZoneInfo(patient.timezone),
        quiet=quiet_hours_for(patient=patient),
        recall_hours=recall,
        answers=_answers(patient, since, codes) if codes else {},
        made=made,
        course_gap=timedelta(days=settings.AFTERGLOW_COURSE_GAP_DAYS),
        treated_before=treated_before,
    )


@transaction.atomic
def reminders_plan_for_patient(*, patient: Patient, now: datetime | None = None) -> PlanDiff:
    """Plan the patient's reminders across all their recent infusions as one schedule, by
    diff: missing rows created, obsolete pending rows cancelled, moved ones moved; sent,
    completed and missed rows are history and never touched. Diff entries read
    "<infusion id>:<step key>"."""
    now = now or timezone.now()
    # One re-plan of a patient at a time, behind the lock a check-in takes too
    # (outcomes.services.checkins): two infusions booked at once each see the other.
    patient = (
        Patient.objects.select_for_update(no_key=True, of=("self",))
        .select_related("clinic")
        .get(pk=patient.pk)
    )
    steps = steps_of(plans_for_patient(patient=patient))
    since = now - _horizon(steps)
    infusions = list(
        Infusion.objects.filter(patient=patient, scheduled_at__gte=since)
        .select_related("course")
        .order_by("scheduled_at")
    )
    ids = [i.pk for i in infusions]
    existing = {
        (str(r.infusion_id), r.step_key): r
        for r in Reminder.objects.select_for_update(of=("self",))
        .select_related("check_in")
        .filter(Q(infusion_id__in=ids) | Q(status=ReminderStatus.PENDING))
        .filter(patient=patient, kind=ReminderKind.PLAN)
    }
    active = [i for i in infusions if i.status in ACTIVE_INFUSION]
    wanted: dict[tuple[str, str], Ask] = {}
    if patient.status == PatientStatus.ACTIVE and active:
        made = {k: _made(r) for k, r in existing.items() if _history(r)}
        # An infusion before the horizon means these courses are not the patient's first.
        treated_before = Infusion.objects.filter(
            patient=patient, scheduled_at__lt=since, status__in=ACTIVE_INFUSION
        ).exists()
        schedule = course_schedule(
            patient=patient,
            steps=steps,
            infusions=active,
            made=made,
            treated_before=treated_before,
        )
        wanted = {(a.infusion_id, a.step_key): a for a in schedule.asks}

    diff = PlanDiff()
    to_create, to_update = [], []
    for key, row in existing.items():
        label = ":".join(key)
        if _history(row):
            diff.untouched.append(label)  # sent, completed or missed: history, left alone
            continue
        if key not in wanted:
            if row.status == ReminderStatus.PENDING:
                row.status = ReminderStatus.CANCELLED
                to_update.append(row)
                diff.cancelled.append(label)
            continue
        ask = wanted[key]
        if ask.closes_at <= now:
            if row.status == ReminderStatus.PENDING and row.window_closes_at > now:
                row.status = ReminderStatus.CANCELLED  # moved into the past: never sent
                to_update.append(row)
                diff.cancelled.append(label)
            continue
        new = _fields(ask)
        if row.status == ReminderStatus.CANCELLED or any(
            getattr(row, k) != v for k, v in new.items()
        ):
            for k, v in new.items():
                setattr(row, k, v)
            row.status = ReminderStatus.PENDING
            to_update.append(row)
            diff.moved.append(label)
        else:
            diff.untouched.append(label)
    for key, ask in wanted.items():
        if key in existing or ask.closes_at <= now:
            continue  # a window that closed before it was planned is nobody's miss
        to_create.append(
            Reminder(
                patient=patient,
                infusion_id=ask.infusion_id,
                step_key=ask.step_key,
                kind=ReminderKind.PLAN,
                **_fields(ask),
            )
        )
        diff.created.append(":".join(key))
    if to_create:
        Reminder.objects.bulk_create(to_create)
    if to_update:
        for row in to_update:
            row.updated_at = now
        Reminder.objects.bulk_update(
            to_update,
            [
                "status",
                "plan",
                "plan_version",
                "instruments",
                "due_at",
                "window_closes_at",
                "nudges_left",
                "nudge_interval_minutes",
                "reason",
                "updated_at",
            ],
        )
    _extras_superseded(patient, active_infusions=active, now=now)
    return diff


def _extras_superseded(patient: Patient, *, active_infusions: list[Infusion], now: datetime) -> int:
    """A pending probe asks about the benefit of the infusion it follows: once another
    infusion has started before it falls due, it is not needed. A patient who is no longer
    active gets no probe or screener either (their care team has the alert)."""
    pending = Reminder.objects.filter(patient=patient, status=ReminderStatus.PENDING).exclude(
        kind=ReminderKind.PLAN
    )
    if patient.status != PatientStatus.ACTIVE:
        return pending.update(
            status=ReminderStatus.CANCELLED, reason="not needed: no longer active", updated_at=now
        )
    obsolete = []
    for row in pending.filter(kind=ReminderKind.PROBE):
        for inf in active_infusions:
            start, _ = infusion_times(inf)
            if inf.pk != row.infusion_id and row.created_at < start <= row.due_at:
                obsolete.append(row.pk)
                break
    # status in the UPDATE too: a row the dispatcher claimed meanwhile is history.
    return Reminder.objects.filter(pk__in=obsolete, status=ReminderStatus.PENDING).update(
        status=ReminderStatus.CANCELLED,
        reason="not needed: another infusion came first",
        updated_at=now,
    )


def reminders_plan_for_infusion(*, infusion: Infusion, now: datetime | None = None) -> PlanDiff:
    """After an infusion was recorded, moved or cancelled: its patient's whole course is
    re-planned (the other infusions' steps may be superseded or freed); returns the part of
    the diff that concerns this infusion."""
    patient = Patient.objects.get(pk=infusion.patient_id)
    return reminders_plan_for_patient(patient=patient, now=now).of(str(infusion.pk))


def _fields(ask: Ask) -> dict:
    return {
        # plan_id, not plan: comparing `row.plan` would fetch each row's plan again.
        "plan_id": uuid.UUID(ask.plan_id),
        "plan_version": ask.plan_version,
        "instruments": list(ask.instruments),
        "due_at": ask.due_at,
        "window_closes_at": ask.closes_at,
        "nudges_left": ask.nudge_count,
        "nudge_interval_minutes": ask.nudge_interval_minutes,
        "reason": ask.reason,
    }


def reminders_replan_for_patient(*, patient: Patient, now: datetime | None = None) -> int:
    """After a change of time zone, plan override, quiet hours, conditions or status, or an
    answer that starts a recall window: the patient's schedule, re-planned by diff."""
    diff = reminders_plan_for_patient(patient=patient, now=now)
    return len(diff.created) + len(diff.moved) + len(diff.cancelled)


def reminders_replan_for_plan(*, plan: CadencePlan, now: datetime | None = None) -> int:
    """After a plan edit: every patient who follows it, by override, as their condition's
    template, or as the default."""
    now = now or timezone.now()
    overridden = PatientPreference.objects.filter(cadence_plan__isnull=False)
    patients = Patient.objects.filter(clinic_id=plan.clinic_id)
    if plan.condition:
        patients = patients.filter(conditions__condition=plan.condition).exclude(
            id__in=overridden.values("patient_id")
        )
    elif plan.is_default:
        patients = patients.exclude(
            id__in=overridden.exclude(cadence_plan=plan).values("patient_id")
        )
    else:
        patients = patients.filter(id__in=overridden.filter(cadence_plan=plan).values("patient_id"))
    horizon = _horizon(steps_of([plan]))
    recent = Infusion.objects.filter(scheduled_at__gte=now - horizon).values("patient_id")
    waiting = Reminder.objects.filter(plan=plan, status=ReminderStatus.PENDING).values("patient_id")
    count = 0
    for patient in patients.filter(Q(id__in=recent) | Q(id__in=waiting)).distinct():
        reminders_plan_for_patient(patient=patient, now=now)
        count += 1
    return count


def reminders_inside_recall(
    *, check_in: CheckIn, instrument_codes: Iterable[str], recall_hours: dict[str, int]
) -> bool:
    """Does this check-in's answer fall inside the recall window of a pending planned ask
    (one query, and none for a check-in of momentary measures only)? An answer given in
    its planned step never does: the next ask opens a recall after that step closes."""
    codes = {c: recall_hours.get(c, 0) for c in instrument_codes}
    longest = max(codes.values(), default=0)
    if longest <= 0:
        return False
    pending = Reminder.objects.filter(
        patient_id=check_in.patient_id,
        kind=ReminderKind.PLAN,
        status=ReminderStatus.PENDING,
        due_at__gt=check_in.answered_at - timedelta(hours=longest),
        due_at__lt=check_in.answered_at + timedelta(hours=longest),
    ).values_list("due_at", "instruments")
    return any(
        abs(due - check_in.answered_at) < timedelta(hours=codes[c])
        for due, asked in pending
        for c in asked
        if codes.get(c, 0) > 0
    )


def reminders_complete_for_checkin(*, check_in: CheckIn, instrument_codes: list[str]) -> int:
    """A check-in inside an open reminder's window that answers its instruments completes
    it. Runs inside the check-in's transaction."""
    answered = sorted(set(instrument_codes))
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One plain UPDATE (it locks the rows it changes): "asks only instruments this
        # check-in answered" is jsonb containment, so there is no SELECT ... FOR UPDATE
        # first, and no ORM query building, on the submission's hot path (docs/BENCHMARKS.md,
        # "Clinic-network scale").
        with connection.cursor() as cur:
            cur.execute(_COMPLETE_SQL, [now, check_in.pk, check_in.patient_id,
                                        check_in.answered_at, check_in.answered_at,
                                        json.dumps(answered)])  # fmt: skip
            return cur.rowcount
    # Elsewhere (the embedded SQLite demo, which has no jsonb) the open rows are locked
    # and matched here.
    open_rows = Reminder.objects.filter(
        patient_id=check_in.patient_id,
        status__in=(ReminderStatus.PENDING, ReminderStatus.SENT),
        due_at__lte=check_in.answered_at,
        window_closes_at__gt=check_in.answered_at,
    ).select_for_update()
    done = [r.pk for r in open_rows if set(r.instruments) <= set(answered)]
    return Reminder.objects.filter(pk__in=done).update(
        status=ReminderStatus.COMPLETED, completed_at=now, check_in=check_in, next_nudge_at=None
    )


_COMPLETE_SQL = f"""
    UPDATE {Reminder._meta.db_table}
    SET status = '{ReminderStatus.COMPLETED.value}', completed_at = %s, check_in_id = %s,
        next_nudge_at = NULL
    WHERE patient_id = %s
      AND status IN ('{ReminderStatus.PENDING.value}', '{ReminderStatus.SENT.value}')
      AND due_at <= %s AND window_closes_at > %s AND instruments <@ %s::jsonb
"""  # noqa: S608 - the table name and statuses are ours, every value is a parameter
