"""Notices to a patient's care team, through the same delivery outbox as reminders.

The text never names the patient or says why: "A patient on your care team may need
review." The clinician opens Afterglow, signed in, to see who and what.

Notices go by the staff channels (settings.AFTERGLOW_STAFF_CHANNELS). An urgent notice of
a high-risk alert also pages, by AFTERGLOW_STAFF_PAGE_CHANNELS (SMS to each recipient's
pager number), with the same fixed text.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Role
from outcomes.models import (
    AlertLevel,
    CheckIn,
    ClinicSafetySettings,
    MonitoringSession,
    Patient,
    SafetyAlert,
)

from ..channels import Target, channel_targets
from ..models import Channel, Delivery, DeliveryKind
from .dispatch import enqueue_deliveries

User = get_user_model()
logger = logging.getLogger(__name__)


def alert_notice_key(alert: SafetyAlert) -> str:
    """The notice of an open alert, first (escalation step 0) or escalated. Alerts of one
    check-in and level run on one clock (raised together, acknowledged together), so they
    share a key per step: one page, not one per rule. Each level runs its own clock (high
    10 minutes, moderate 30, low the next working day), so the level is in the key: a low
    alert's first escalation after the moderate one's is a page, not a duplicate of it."""
    return f"alert:{alert.check_in_id}:{alert.level}:{alert.escalation_level}"


def follow_up_notice_key(alert: SafetyAlert) -> str:
    """An overdue follow-up's notice: apart from the pages, once per check-in, level (each
    has its own follow-up deadline) and escalation step."""
    return f"follow-up:{alert.check_in_id}:{alert.level}:{alert.escalation_level}"


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


def care_team_and_on_call(patient: Patient) -> list:
    """Whom a high-risk alert pages at once: the care team and the on-call list, each
    person once."""
    people = {u.pk: u for u in care_team_of(patient)}
    for user in on_call_for(patient):
        people.setdefault(user.pk, user)
    return list(people.values())


def with_capturer(people: list, check_in: CheckIn) -> list:
    """`people` and, for a check-in on the clinic's tablet, the staff member who handed it
    over: the patient is with them now (they are told to tell them), each person once."""
    by_pk = {u.pk: u for u in people}
    capturer = check_in.captured_by if check_in.captured_by_id else None
    if capturer is not None and capturer.is_active:
        by_pk.setdefault(capturer.pk, capturer)
    return list(by_pk.values())


def visit_staff(session: MonitoringSession) -> list:
    """The active staff who started a visit's session or recorded its readings: the people
    on the floor with the patient."""
    ids = {session.started_by_id, *session.readings.values_list("recorded_by_id", flat=True)}
    return list(
        User.objects.filter(
            is_active=True,
            id__in=[i for i in ids if i is not None],
            # Still staff of the patient's clinic who see visits.
            memberships__clinic_id=session.infusion.patient.clinic_id,
            memberships__role__in=(Role.NURSE, Role.CLINICIAN),
        ).distinct()
    )


def follow_up_recipients(alert: SafetyAlert) -> list:
    """Whom an acknowledged alert's overdue follow-up goes to: who acknowledged it (while
    still a clinician of the clinic) and the on-call list."""
    people = {u.pk: u for u in _clinicians(alert.patient).filter(pk=alert.acknowledged_by_id)}
    for user in on_call_for(alert.patient):
        people.setdefault(user.pk, user)
    return list(people.values())


# The account field a staff channel sends to; a recipient without one is skipped on it.
_STAFF_ADDRESS = {Channel.EMAIL: "email", Channel.SMS: "pager_phone"}


def _page_channels(*, urgent: bool, alert: SafetyAlert | None) -> list[str]:
    """The channels that page, beside the staff channels: only for an urgent notice of a
    high-risk alert (INSTRUMENTS.md "Safety": an immediate page to on-call by phone or
    SMS). A channel this deployment does not have, or that cannot reach staff, is left
    out (the demo has no Twilio): the staff channels still carry the notice."""
    if not (urgent and alert is not None and alert.level == AlertLevel.HIGH):
        return []
    return [
        name
        for name in settings.AFTERGLOW_STAFF_PAGE_CHANNELS
        if name not in settings.AFTERGLOW_STAFF_CHANNELS
        and Target.STAFF_USER in channel_targets(name)
    ]


def _rows(users, *, patient, dedupe_key, urgent, alert) -> list[Delivery]:
    channels = [*settings.AFTERGLOW_STAFF_CHANNELS, *_page_channels(urgent=urgent, alert=alert)]
    rows = []
    for user in users:
        for channel in channels:
            if channel in _STAFF_ADDRESS and not getattr(user, _STAFF_ADDRESS[channel]):
                continue  # no address of theirs on this channel
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
    names its `alert`: it is dropped unsent once no alert of that check-in is open. An
    urgent notice of a high-risk alert also pages each recipient with a pager number."""
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
