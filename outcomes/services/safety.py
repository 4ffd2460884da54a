"""Safety alerts. A suicidal-ideation answer must reach a clinician even if the phone app
is buggy: rules are evaluated on the server, in the check-in's own transaction, and the
care team's notices are written to the delivery outbox in that same transaction, so a
stored answer cannot exist without its alert and its notices (docs/clinical/INSTRUMENTS.md,
"Safety").
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.errors import DomainValidationError
from accounts.history import history_record_change
from outcomes import events
from outcomes.models import (
    AlertStatus,
    CheckIn,
    ClinicSafetySettings,
    InstrumentResponse,
    Patient,
    SafetyAlert,
)

from ..instruments.schema import Definition
from ..scoring import Score

# Shown with every submission that raised an alert. The 988 Suicide & Crisis Lifeline is
# the US default (docs/clinical/INSTRUMENTS.md); a clinic configures its own resources.
DEFAULT_CRISIS_RESOURCES = [
    {
        "name": "988 Suicide & Crisis Lifeline",
        "contact": "Call or text 988",
        "description": "Free, confidential support, 24 hours a day (United States).",
    },
    {
        "name": "Emergency services",
        "contact": "911",
        "description": "If you are in immediate danger.",
    },
]
# Osmind tells patients that the clinic may not be monitoring in real time
# (docs/clinical/INSTRUMENTS.md).
NOT_MONITORED_MESSAGE = (
    "Your answers suggest you may be going through a very hard time. Your clinic has been "
    "told, but it does not watch check-ins around the clock and may not see this right "
    "away. If you might act on thoughts of harming yourself, contact a crisis line or "
    "emergency services now."
)
# A worsening of at least this many minimal important differences against the previous
# score of the same instrument tells the care team (a notice, not an alert). UNVERIFIED
# clinical choice: configurable.
LARGE_WORSENING_MIDS = 2
DEFAULT_ACK_MINUTES = 30


@dataclass(frozen=True)
class SafetyNotice:
    message: str
    crisis_resources: list[dict]
    alerts: int


def _settings(patient: Patient) -> ClinicSafetySettings | None:
    return ClinicSafetySettings.objects.filter(clinic_id=patient.clinic_id).first()


def crisis_resources_for(patient: Patient) -> list[dict]:
    row = _settings(patient)
    return list(row.crisis_resources) if row and row.crisis_resources else DEFAULT_CRISIS_RESOURCES


def _ack_minutes(patient: Patient) -> int:
    row = _settings(patient)
    return row.acknowledge_within_minutes if row else DEFAULT_ACK_MINUTES


def safety_evaluate(
    *,
    patient: Patient,
    check_in: CheckIn,
    scored: list[tuple[InstrumentResponse, Definition, Score]],
    previous_totals: dict[str, float | None],
    now: datetime,
) -> list[SafetyAlert]:
    """Create the check-in's alerts and queue the care team's notices. Must run inside the
    check-in's transaction. `scored` holds (stored response, definition, Score)."""
    wanted: dict[tuple, SafetyAlert] = {}
    next_at = None  # read the clinic's settings only when a rule fired (rarely)
    for row, defn, score in scored:
        for hit in score.safety:
            if next_at is None:
                next_at = now + timedelta(minutes=_ack_minutes(patient))
            wanted[(row.id, hit.code)] = SafetyAlert(
                patient=patient,
                check_in=check_in,
                response=row,
                rule=hit.code,
                severity=hit.severity,
                next_escalation_at=next_at,
            )
        previous = previous_totals.get(row.instrument_code)
        mid = defn.thresholds.mid
        if score.total is not None and previous is not None and mid:
            worse = (
                (score.total - previous)
                if defn.direction == "lower_is_better"
                else (previous - score.total)
            )
            if worse >= LARGE_WORSENING_MIDS * mid:
                # Worth a clinician's look, not a crisis: a plain care-team notice, with
                # no escalation and no crisis message to the patient.
                events.announce(events.ScoreWorsened(patient=patient, response=row))
    # With their history rows (simple-history's bulk helper): who raised it is the
    # submitting request's user.
    alerts = bulk_create_with_history(list(wanted.values()), SafetyAlert)
    if alerts:
        events.announce(events.SafetyAlertsRaised(patient=patient, alerts=tuple(alerts)))
    return alerts


def safety_notice_for(check_in: CheckIn) -> SafetyNotice | None:
    """What the patient is told after a submission that raised an alert (also on a retry)."""
    # No query when the submission just stored its alerts (checkin_submit fills the cache).
    count = check_in.safety_alerts.count()
    if not count:
        return None
    return SafetyNotice(
        message=NOT_MONITORED_MESSAGE,
        crisis_resources=crisis_resources_for(check_in.patient),
        alerts=count,
    )


def alerts_escalate_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Notify the on-call list of every open alert past its acknowledgement time, and again
    each interval until someone acknowledges it. Claims rows with SKIP LOCKED, so
    concurrent beats never notify twice for one level."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            rows = list(
                SafetyAlert.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=AlertStatus.OPEN, next_escalation_at__lte=now)
                .select_related("patient")
                .order_by("next_escalation_at")[:batch_size]
            )
            for alert in rows:
                alert.escalation_level += 1
                alert.next_escalation_at = now + timedelta(minutes=_ack_minutes(alert.patient))
                events.announce(events.SafetyAlertEscalated(alert=alert))
            # Each escalation level is a history row too (by the system: no user).
            bulk_update_with_history(rows, SafetyAlert, ["escalation_level", "next_escalation_at"])
        done += len(rows)
        if len(rows) < batch_size:
            return done


@transaction.atomic
def alert_acknowledge(*, alert: SafetyAlert, user, note: str = "") -> SafetyAlert:
    """Someone has it: escalation stops. Only an open alert can be acknowledged."""
    won = SafetyAlert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_by=user,
        acknowledged_at=timezone.now(),
        next_escalation_at=None,
        note=note[:2000] or alert.note,
    )
    if not won:
        raise DomainValidationError.single(
            "non_field_errors", "not_open", "Only an open alert can be acknowledged."
        )
    alert.refresh_from_db()
    history_record_change(record=alert, user=user)
    events.announce(events.SafetyAlertAcknowledged(alert=alert))
    return alert


@transaction.atomic
def alert_resolve(*, alert: SafetyAlert, user, note: str = "") -> SafetyAlert:
    won = SafetyAlert.objects.filter(
        pk=alert.pk, status__in=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)
    ).update(
        status=AlertStatus.RESOLVED,
        resolved_by=user,
        resolved_at=timezone.now(),
        next_escalation_at=None,
        note=note[:2000] or alert.note,
        acknowledged_by=alert.acknowledged_by or user,
        acknowledged_at=alert.acknowledged_at or timezone.now(),
    )
    if not won:
        raise DomainValidationError.single(
            "non_field_errors", "already_resolved", "This alert is already resolved."
        )
    alert.refresh_from_db()
    history_record_change(record=alert, user=user)
    events.announce(events.SafetyAlertResolved(alert=alert))
    return alert
