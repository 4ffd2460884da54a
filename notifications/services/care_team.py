"""Notices to a patient's care team, through the same delivery outbox as reminders.

The text never names the patient or says why: "A patient on your care team may need
review." The clinician opens Afterglow, signed in, to see who and what.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Role
from outcomes.models import ClinicSafetySettings, Patient, SafetyAlert

from ..models import Channel, Delivery, DeliveryKind
from .dispatch import enqueue_deliveries

User = get_user_model()
logger = logging.getLogger(__name__)


def alert_notice_key(check_in_id, level: int) -> str:
    """Alerts of one check-in share a key per escalation level: one page, not one per rule."""
    return f"alert:{check_in_id}:{level}"


def _clinicians(patient: Patient):
    """Users who can open and acknowledge this patient's alerts: the clinic's clinicians."""
    return User.objects.filter(
        is_active=True, memberships__clinic_id=patient.clinic_id, memberships__role=Role.CLINICIAN
    ).distinct()


def care_team_of(patient: Patient) -> list:
    """The patient's care team, as far as its members are still clinicians of the clinic;
    with none, every clinician of the clinic."""
    team = list(_clinicians(patient).filter(care_team_patients=patient))
    return team or list(_clinicians(patient))


def on_call_for(patient: Patient) -> list:
    """Who an unacknowledged safety alert escalates to: the clinic's on-call clinicians, or
    with none set, all its clinicians (an admin without the clinician role could read the
    notice but neither see nor acknowledge the alert)."""
    settings_row = ClinicSafetySettings.objects.filter(clinic_id=patient.clinic_id).first()
    if settings_row is not None:
        on_call = list(_clinicians(patient).filter(pk__in=settings_row.on_call.values("pk")))
        if on_call:
            return on_call
    return list(_clinicians(patient))


def _rows(users, *, patient, dedupe_key, urgent, alert) -> list[Delivery]:
    rows = []
    for user in users:
        for channel in settings.AFTERGLOW_STAFF_CHANNELS:
            if channel == Channel.EMAIL and not user.email:
                continue  # cannot be reached by e-mail
            rows.append(
                Delivery(
                    kind=DeliveryKind.CARE_TEAM,
                    urgent=urgent,
                    alert=alert,
                    patient=patient,
                    staff_user=user,
                    channel=channel,
                    target_key=f"staff:{user.id}:{channel}",
                    dedupe_key=dedupe_key[:120],
                )
            )
    return rows


@transaction.atomic
def care_team_notify(
    *,
    patient: Patient,
    dedupe_key: str,
    urgent: bool = False,
    recipients: list | None = None,
    alert: SafetyAlert | None = None,
) -> int:
    """Queue one notice per recipient (default: the care team) and staff channel, at most
    once per `dedupe_key`; returns how many new deliveries were queued. An urgent notice
    names its `alert`: it is dropped unsent once no alert of that check-in is open."""
    users = care_team_of(patient) if recipients is None else recipients
    rows = _rows(users, patient=patient, dedupe_key=dedupe_key, urgent=urgent, alert=alert)
    if not rows and urgent:
        # Nobody chosen can be reached: an urgent notice goes to every clinician of the
        # clinic who can be, rather than nowhere.
        rows = _rows(
            _clinicians(patient), patient=patient, dedupe_key=dedupe_key, urgent=True, alert=alert
        )
    if not rows:
        logger.error(
            "care-team notice %s for patient %s reached no one: no staff member of the "
            "clinic can be contacted on %s",
            dedupe_key,
            patient.id,
            ",".join(settings.AFTERGLOW_STAFF_CHANNELS),
        )
        return 0
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    # ignore_conflicts cannot say which rows were new: read back the queued ones.
    new = [
        str(i)
        for i in Delivery.objects.filter(
            dedupe_key=dedupe_key[:120], id__in=[r.id for r in rows]
        ).values_list("id", flat=True)
    ]
    if new:
        transaction.on_commit(lambda: enqueue_deliveries(new))
    return len(new)
