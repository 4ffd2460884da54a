"""Reads of the infusion visit: a session's timeline, its summary for the patient's record,
the REMS forms due, overdue and filed, and the open visit alerts of a clinic."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Infusion, InfusionStatus, MonitoringSession, VisitAlert

# REMS: the Patient Monitoring Form is due within 7 calendar days of the session
# (INSTRUMENTS.md, "The infusion visit").
REMS_DUE_DAYS = 7


def rems_due_on(session: MonitoringSession) -> date:
    """The last day to file the session's form: 7 calendar days after the session's day on
    the patient's clock."""
    infusion = session.infusion
    at = infusion.started_at or session.started_at
    return at.astimezone(ZoneInfo(infusion.patient.timezone)).date() + timedelta(days=REMS_DUE_DAYS)


def session_queryset() -> QuerySet[MonitoringSession]:
    return MonitoringSession.objects.select_related(
        "infusion__patient__clinic", "hold_override_by", "rems_filed_by"
    ).prefetch_related("readings", "adverse_events", "alerts")


def rems_status(session: MonitoringSession, today: date | None = None) -> str:
    """ "not_required", "filed", "overdue" (past its 7 calendar days) or "due"."""
    if not session.rems_required:
        return "not_required"
    if session.rems_filed_at is not None:
        return "filed"
    patient_today = (
        today or timezone.now().astimezone(ZoneInfo(session.infusion.patient.timezone)).date()
    )
    return "overdue" if patient_today > rems_due_on(session) else "due"


def visit_summary(session: MonitoringSession) -> dict[str, Any]:
    """What the patient's record shows of a visit (from prefetched rows: no query)."""
    infusion: Infusion = session.infusion
    readings = list(session.readings.all())
    alerts = list(session.alerts.all())
    events = list(session.adverse_events.all())
    start = infusion.started_at

    def minutes(at: datetime) -> int | None:
        return None if start is None else int((at - start) // timedelta(minutes=1))

    bp = [r for r in readings if r.systolic is not None]
    peak = max(bp, key=lambda r: (r.systolic, r.diastolic or 0), default=None)
    spo2 = [r for r in readings if r.spo2 is not None]
    low = min(spo2, key=lambda r: r.spo2 or 0, default=None)
    moaas = [r.moaas for r in readings if r.moaas is not None]
    dissociation = [r for r in readings if r.dissociation_score is not None]
    worst = max(dissociation, key=lambda r: r.dissociation_score or 0, default=None)
    monitored = (  # from the dose (or the session, before one) to departure
        int((session.left_at - (start or session.started_at)) // timedelta(minutes=1))
        if session.left_at
        else None
    )
    return {
        "id": str(session.pk),
        "status": session.status,
        "strict_thresholds": session.strict,
        "on_hold": session.on_hold,
        "hold_overridden": session.hold_override_at is not None,
        "readings": len(readings),
        "peak_blood_pressure": None
        if peak is None
        else {
            "systolic": peak.systolic,
            "diastolic": peak.diastolic,
            "minutes": minutes(peak.taken_at),
        },
        "lowest_spo2": None
        if low is None
        else {"spo2": low.spo2, "minutes": minutes(low.taken_at)},
        "deepest_moaas": min(moaas) if moaas else None,
        "highest_dissociation": None
        if worst is None
        else {"scale": worst.dissociation_scale, "score": worst.dissociation_score},
        "alerts": len(alerts),
        "open_alerts": sum(1 for a in alerts if a.acknowledged_at is None),
        "adverse_events": len(events),
        "serious_adverse_events": sum(1 for e in events if e.serious),
        "ready_to_leave_at": session.ready_to_leave_at,
        "left_at": session.left_at,
        "minutes_monitored": monitored,
        "rems": {
            "required": session.rems_required,
            "status": rems_status(session),
            "due_on": rems_due_on(session) if session.rems_required else None,
            "filed_at": session.rems_filed_at,
        },
    }


def rems_sessions(
    *, clinic_id, status: str | None, today: date | None = None
) -> list[MonitoringSession]:
    """The clinic's sessions that need a REMS form; `status` filters ("due", "overdue",
    "filed"). Oldest first. Overdue is decided on the patient's own calendar."""
    rows = session_queryset().filter(infusion__patient__clinic_id=clinic_id, rems_required=True)
    if status == "filed":
        rows = rows.filter(rems_filed_at__isnull=False)
    elif status is not None:
        rows = rows.filter(rems_filed_at__isnull=True)
    return [
        s for s in rows.order_by("started_at") if status is None or rems_status(s, today) == status
    ]


def open_visit_alerts(*, clinic_id) -> QuerySet[VisitAlert]:
    return (
        VisitAlert.objects.filter(
            session__infusion__patient__clinic_id=clinic_id, acknowledged_at__isnull=True
        )
        .select_related("session__infusion__patient", "reading")
        .order_by("raised_at")
    )


def given_before(*, patient_id, at, exclude=None) -> Q:
    """Infusions of the patient given before `at` (`with_given_before` counts them per row
    of a list): started, or completed;
    a booked or cancelled one was not given."""
    return (
        Q(patient_id=patient_id)
        & ~Q(status=InfusionStatus.CANCELLED)
        & (
            Q(started_at__isnull=False, started_at__lt=at)
            | Q(started_at__isnull=True, status=InfusionStatus.COMPLETED, scheduled_at__lt=at)
        )
        & ~Q(pk=exclude)
    )


def with_given_before(rows: QuerySet[Infusion]) -> QuerySet[Infusion]:
    """Each infusion with the count of its patient's infusions given before it
    (`given_before`: whether the strict thresholds apply), in the one query."""
    earlier = Infusion.objects.filter(
        given_before(
            patient_id=OuterRef("patient_id"),
            at=Coalesce(OuterRef("started_at"), OuterRef("scheduled_at")),
            exclude=OuterRef("pk"),
        )
    )
    count = (
        earlier.order_by()
        .values("patient_id")
        .annotate(n=Func(F("id"), function="COUNT", output_field=IntegerField()))
    )
    return rows.annotate(given_before=Coalesce(Subquery(count.values("n")), 0))
