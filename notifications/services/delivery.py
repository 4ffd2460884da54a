"""Sending one delivery: claim the row, call the channel, record the outcome.

The row is claimed with a conditional UPDATE, so a delivery enqueued twice (a reaped
message that was only slow) is sent once. Transient errors retry with exponential
backoff; permanent ones disable the target. No error is swallowed: each is recorded on
the row and logged (without health data).
"""

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from outcomes.models import AlertStatus, SafetyAlert

from ..channels import (
    CARE_TEAM_BODY,
    NUDGE_BODY,
    REMINDER_BODY,
    REMINDER_TITLE,
    SAFETY_ALERT_BODY,
    Message,
    TransportError,
    get_channel,
)
from ..models import ContactPoint, Delivery, DeliveryKind, DeliveryStatus, Device, ReminderStatus
from .care_team import alert_check_in_of

logger = logging.getLogger(__name__)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour, with jitter so retries do not stampede."""
    base = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def message_for(delivery: Delivery) -> Message:
    if delivery.kind == DeliveryKind.CARE_TEAM:
        return Message(
            title=REMINDER_TITLE,
            body=SAFETY_ALERT_BODY if delivery.urgent else CARE_TEAM_BODY,
            data={"type": "care_team_review", "patient_id": str(delivery.patient_id)},
        )
    body = NUDGE_BODY if delivery.sequence else REMINDER_BODY
    return Message(
        title=REMINDER_TITLE,
        body=body,
        data={"type": "check_in_reminder", "reminder_id": str(delivery.reminder_id)},
    )


def _finish(delivery: Delivery, **fields) -> None:
    # Only this claim may finish the row: if a reaper handed it to another worker, a late
    # answer here must not overwrite that worker's outcome.
    Delivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.SENDING, claimed_at=delivery.claimed_at
    ).update(**fields)


def delivery_send(*, delivery_id, now: datetime | None = None) -> str:
    now = now or timezone.now()
    won = Delivery.objects.filter(
        pk=delivery_id, status__in=(DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)
    ).update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not won:
        return "not_claimed"
    d = Delivery.objects.select_related("reminder", "device", "contact_point").get(pk=delivery_id)
    if d.reminder is not None and d.reminder.status in (
        ReminderStatus.COMPLETED,
        ReminderStatus.CANCELLED,
        ReminderStatus.MISSED,
    ):
        _finish(d, status=DeliveryStatus.SKIPPED, error_code=f"reminder_{d.reminder.status}")
        return "skipped"
    if d.urgent and not _alert_still_open(d):
        # Someone acknowledged the alert while this page waited for a retry: paging the
        # team again would only teach them to ignore pages.
        _finish(d, status=DeliveryStatus.SKIPPED, error_code="alert_acknowledged")
        return "skipped"
    try:
        provider_id = get_channel(d.channel).send(d, message_for(d))
    except TransportError as exc:
        return _record_failure(d, exc, now)
    except Exception as exc:
        # A bug or an unexpected library error: record it and retry like a transient one.
        logger.exception("delivery %s: unexpected error from channel %s", d.pk, d.channel)
        return _record_failure(
            d, TransportError(type(exc).__name__, permanent=False, code="unexpected"), now
        )
    _finish(
        d,
        status=DeliveryStatus.DELIVERED,
        provider_message_id=provider_id[:200],
        delivered_at=timezone.now(),
        error_code="",
        error_detail="",
    )
    return "delivered"


def _alert_still_open(d: Delivery) -> bool:
    check_in_id = alert_check_in_of(d.dedupe_key)
    if check_in_id is None:
        return True
    return SafetyAlert.objects.filter(check_in_id=check_in_id, status=AlertStatus.OPEN).exists()


def _record_failure(d: Delivery, exc: TransportError, now: datetime) -> str:
    if exc.permanent:
        if exc.bad_target:
            _disable_target(d, reason=exc.code or "permanent")
        outcome, fields = "failed", {"status": DeliveryStatus.FAILED}
    elif d.attempts >= settings.AFTERGLOW_DELIVERY_MAX_ATTEMPTS:
        outcome, fields = "failed", {"status": DeliveryStatus.FAILED}
    else:
        outcome = "retrying"
        fields = {"status": DeliveryStatus.RETRYING, "next_attempt_at": now + backoff(d.attempts)}
    logger.warning(
        "delivery %s via %s: %s (%s, attempt %d)", d.pk, d.channel, exc.code, outcome, d.attempts
    )
    _finish(d, error_code=exc.code, error_detail=exc.detail, **fields)
    return outcome


def _disable_target(d: Delivery, *, reason: str) -> None:
    now = timezone.now()
    if d.device_id:
        Device.objects.filter(pk=d.device_id, disabled_at__isnull=True).update(
            disabled_at=now, disabled_reason=reason[:200]
        )
    if d.contact_point_id:
        ContactPoint.objects.filter(pk=d.contact_point_id, disabled_at__isnull=True).update(
            disabled_at=now, disabled_reason=reason[:200]
        )
