"""Reads of reminders, plans and adherence, scoped by the caller's clinics."""

from datetime import datetime
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.errors import NotFoundError
from accounts.models import Role
from accounts.selectors import clinic_ids_for
from outcomes.models import Patient

from .models import CadencePlan, Reminder, ReminderStatus

SCHEDULING_ROLES = frozenset({Role.SCHEDULER, Role.CLINIC_ADMIN})


def plans_for_staff(*, user) -> QuerySet[CadencePlan]:
    return CadencePlan.objects.filter(
        clinic_id__in=clinic_ids_for(user=user, roles=SCHEDULING_ROLES | {Role.CLINICIAN})
    ).order_by("clinic__name", "name")


def access_plan(*, user, plan_id: UUID, roles=SCHEDULING_ROLES) -> CadencePlan:
    try:
        return CadencePlan.objects.get(
            id=plan_id, clinic_id__in=clinic_ids_for(user=user, roles=roles)
        )
    except (CadencePlan.DoesNotExist, ValueError) as exc:
        raise NotFoundError from exc


def reminders_for_staff(*, user) -> QuerySet[Reminder]:
    return (
        Reminder.objects.filter(
            patient__clinic_id__in=clinic_ids_for(user=user, roles=SCHEDULING_ROLES)
        )
        .select_related("plan")
        .order_by("due_at", "id")
    )


def open_reminders_for_patient(
    *, patient: Patient, now: datetime | None = None
) -> QuerySet[Reminder]:
    """What the phone should show now, even if the push never arrived."""
    now = now or timezone.now()
    return Reminder.objects.filter(
        patient=patient,
        status__in=(ReminderStatus.PENDING, ReminderStatus.SENT),
        due_at__lte=now,
        window_closes_at__gt=now,
    ).order_by("window_closes_at")


def upcoming_reminders_for_patient(
    *, patient: Patient, now: datetime | None = None
) -> QuerySet[Reminder]:
    """The schedule ahead, so the app can set local notifications as a backup."""
    now = now or timezone.now()
    return Reminder.objects.filter(
        patient=patient, status=ReminderStatus.PENDING, due_at__gt=now
    ).order_by("due_at")


def adherence_by_step(*, plan: CadencePlan) -> list[dict]:
    """Per step of a plan: reminders sent (including those later completed or missed after
    sending) and completed; adherence = completed / sent."""
    rows = (
        Reminder.objects.filter(plan=plan)
        .values("step_key")
        .annotate(
            # Completed without a send counts as offered too (answered on the app unprompted).
            sent=Count("id", filter=Q(sent_at__isnull=False) | Q(status=ReminderStatus.COMPLETED)),
            completed=Count("id", filter=Q(status=ReminderStatus.COMPLETED)),
            missed=Count("id", filter=Q(status=ReminderStatus.MISSED)),
            pending=Count("id", filter=Q(status=ReminderStatus.PENDING)),
        )
        .order_by("step_key")
    )
    order = {s["key"]: i for i, s in enumerate(plan.steps)}
    out = [
        {**r, "adherence": round(r["completed"] / r["sent"], 4) if r["sent"] else None}
        for r in rows
    ]
    return sorted(out, key=lambda r: order.get(r["step_key"], len(order)))
