"""Notices to a patient's care team, through the same delivery outbox as reminders.

The text never names the patient or says why: "A patient on your care team may need
review." The clinician opens Afterglow, signed in, to see who and what.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from outcomes.models import Patient, Role

from ..models import Channel, Delivery, DeliveryKind
from .dispatch import enqueue_deliveries

User = get_user_model()


def care_team_of(patient: Patient) -> list:
    """The patient's care team; with none named, every clinician of the clinic."""
    team = list(patient.care_team.filter(is_active=True))
    if team:
        return team
    return list(
        User.objects.filter(
            is_active=True,
            memberships__clinic_id=patient.clinic_id,
            memberships__role=Role.CLINICIAN,
        ).distinct()
    )


def on_call_for(patient: Patient) -> list:
    """Who an unacknowledged safety alert escalates to: the clinic's on-call list, or with
    none set, its clinic admins and clinicians."""
    from outcomes.models import ClinicSafetySettings

    settings_row = ClinicSafetySettings.objects.filter(clinic_id=patient.clinic_id).first()
    if settings_row is not None:
        on_call = list(settings_row.on_call.filter(is_active=True))
        if on_call:
            return on_call
    return list(
        User.objects.filter(
            is_active=True,
            memberships__clinic_id=patient.clinic_id,
            memberships__role__in=[Role.CLINICIAN, Role.CLINIC_ADMIN],
        ).distinct()
    )


@transaction.atomic
def care_team_notify(
    *, patient: Patient, dedupe_key: str, urgent: bool = False, recipients: list | None = None
) -> int:
    """Queue one notice per recipient (default: the care team) and staff channel, at most
    once per `dedupe_key`; returns how many new deliveries were queued."""
    rows = []
    for user in care_team_of(patient) if recipients is None else recipients:
        for channel in settings.AFTERGLOW_STAFF_CHANNELS:
            if channel == Channel.EMAIL and not user.email:
                continue
            rows.append(
                Delivery(
                    kind=DeliveryKind.CARE_TEAM,
                    urgent=urgent,
                    patient=patient,
                    staff_user=user,
                    channel=channel,
                    target_key=f"staff:{user.id}:{channel}",
                    dedupe_key=dedupe_key[:120],
                )
            )
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
