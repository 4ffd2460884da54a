"""Reminder rows: planned from an infusion and its patient's plan, re-planned by diff.

Regeneration is a diff, never delete-and-recreate (docs/house/STYLE.md, habit 10; Beiwe issue 350):
missing rows are created, obsolete pending rows cancelled, pending rows whose time moved
are moved, and sent, completed and missed rows are never touched, so nothing is sent twice.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone

from outcomes.models import CheckIn, Infusion, InfusionStatus, Patient, PatientStatus

from ..cadence import Planned, Step, plan_step
from ..models import CadencePlan, PatientPreference, Reminder, ReminderStatus
from .plan_store import plan_for_patient, plan_steps, quiet_hours_for

ACTIVE_INFUSION = (InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS, InfusionStatus.COMPLETED)


@dataclass
class PlanDiff:
    created: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)


def infusion_times(infusion: Infusion) -> tuple[datetime, datetime]:
    """The infusion's actual start and end, or until then its planned ones."""
    start = infusion.started_at or infusion.scheduled_at
    end = infusion.ended_at or start + timedelta(minutes=infusion.planned_duration_minutes)
    return start, end


@transaction.atomic
def reminders_plan_for_infusion(  # noqa: C901 - the diff rules, one branch each (README)
    *, infusion: Infusion, now: datetime | None = None
) -> PlanDiff:
    now = now or timezone.now()
    infusion = Infusion.objects.select_related("patient__clinic").get(pk=infusion.pk)
    patient = infusion.patient
    existing = {
        r.step_key: r for r in Reminder.objects.select_for_update().filter(infusion=infusion)
    }
    # Each wanted step with its timing and the plan it comes from (only an active
    # patient's active infusion has a plan, and so wanted steps).
    wanted: dict[str, tuple[Step, Planned, CadencePlan]] = {}
    if infusion.status in ACTIVE_INFUSION and patient.status == PatientStatus.ACTIVE:
        plan = plan_for_patient(patient=patient)
        tz = ZoneInfo(patient.timezone)
        quiet = quiet_hours_for(patient=patient)
        start, end = infusion_times(infusion)
        for step in plan_steps(plan):
            planned = plan_step(step, infusion_start=start, infusion_end=end, tz=tz, quiet=quiet)
            if planned.window_closes_at <= planned.due_at:
                # A pre-infusion step that quiet hours pushed past the infusion's start:
                # it can no longer be a baseline, so it is not asked.
                continue
            wanted[step.key] = (step, planned, plan)

    diff = PlanDiff()
    to_create, to_update = [], []
    for key, row in existing.items():
        if row.status not in (ReminderStatus.PENDING, ReminderStatus.CANCELLED):
            diff.untouched.append(key)  # sent, completed or missed: history, left alone
            continue
        if key not in wanted:
            if row.status == ReminderStatus.PENDING:
                row.status = ReminderStatus.CANCELLED
                to_update.append(row)
                diff.cancelled.append(key)
            continue
        step, planned, plan = wanted[key]
        if planned.window_closes_at <= now:
            if row.status == ReminderStatus.PENDING and row.window_closes_at > now:
                row.status = ReminderStatus.CANCELLED  # moved into the past: never sent
                to_update.append(row)
                diff.cancelled.append(key)
            continue
        new = _fields(step, planned, plan)
        if row.status == ReminderStatus.CANCELLED or any(
            getattr(row, k) != v for k, v in new.items()
        ):
            for k, v in new.items():
                setattr(row, k, v)
            row.status = ReminderStatus.PENDING
            to_update.append(row)
            diff.moved.append(key)
        else:
            diff.untouched.append(key)
    for key, (step, planned, plan) in wanted.items():
        if key in existing or planned.window_closes_at <= now:
            continue  # a window that closed before it was planned is nobody's miss
        to_create.append(
            Reminder(
                patient=patient, infusion=infusion, step_key=key, **_fields(step, planned, plan)
            )
        )
        diff.created.append(key)
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
                "updated_at",
            ],
        )
    return diff


def _fields(step, planned, plan: CadencePlan) -> dict:
    return {
        # plan_id, not plan: comparing `row.plan` would fetch each row's plan again.
        "plan_id": plan.pk,
        "plan_version": plan.version,
        "instruments": list(step.instruments),
        "due_at": planned.due_at,
        "window_closes_at": planned.window_closes_at,
        "nudges_left": step.nudge_count,
        "nudge_interval_minutes": step.nudge_interval_minutes,
    }


def reminders_replan_for_patient(*, patient: Patient, now: datetime | None = None) -> int:
    """After a change of time zone, plan override, quiet hours or status."""
    now = now or timezone.now()
    count = 0
    for infusion in _replannable_infusions(now).filter(patient=patient):
        reminders_plan_for_infusion(infusion=infusion, now=now)
        count += 1
    return count


def reminders_replan_for_plan(*, plan: CadencePlan, now: datetime | None = None) -> int:
    """After a plan edit: every patient who follows it, by override or as the default."""
    now = now or timezone.now()
    overridden = PatientPreference.objects.filter(cadence_plan__isnull=False)
    patients = Patient.objects.filter(clinic_id=plan.clinic_id)
    if plan.is_default:
        patients = patients.exclude(
            id__in=overridden.exclude(cadence_plan=plan).values("patient_id")
        )
    else:
        patients = patients.filter(id__in=overridden.filter(cadence_plan=plan).values("patient_id"))
    count = 0
    for infusion in _replannable_infusions(now).filter(patient__in=patients):
        reminders_plan_for_infusion(infusion=infusion, now=now)
        count += 1
    return count


def _replannable_infusions(now: datetime):
    # An infusion whose last reminder window closed long ago has nothing left to plan.
    horizon = now - timedelta(days=60)
    return Infusion.objects.filter(scheduled_at__gte=horizon).order_by("scheduled_at")


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
