"""Sending deliveries: claim the rows, call the channel, record each outcome.

A send task's rows are claimed together, in one transaction (SELECT ... FOR UPDATE SKIP
LOCKED of the rows still queued or retrying, then one UPDATE to `sending`), so a delivery
enqueued twice (a reaped message that was only slow) is sent once. Each outcome is then
written as soon as the channel answers, one conditional UPDATE per delivery, so a worker
that dies mid-task leaves at most the one message it was sending unrecorded (sent again
after the stale-claim interval), never a chunk of them. Transient errors retry with
exponential backoff; permanent ones disable the target. No error is swallowed: each is
recorded on the row and logged (without health data).
"""

import logging
import random
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Field, ForeignObjectRel
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

if TYPE_CHECKING:
    from typing import TypedDict

    from django_stubs_ext import WithAnnotations

    class _ReminderStatus(TypedDict):
        reminder_status: str | None

    # A delivery as _claim reads it: with its reminder's status annotated.
    ClaimedDelivery = WithAnnotations[Delivery, _ReminderStatus]

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
    """Record one outcome. Only this claim may finish the row: if a reaper handed it to
    another worker, a late answer here must not overwrite that worker's outcome.

    One of these runs per message sent, so it is a plain parametrised UPDATE built once
    per set of fields: the ORM's query building was a third of a worker's CPU per
    reminder (profile in docs/BENCHMARKS.md, "Dispatcher at network scale")."""
    names = tuple(fields)
    sql, columns = _finish_statement(names)
    params = [
        column.get_db_prep_save(value, connection)
        for column, value in zip(columns, fields.values(), strict=True)
    ]
    params += [
        Delivery._meta.pk.get_db_prep_save(delivery.pk, connection),
        DeliveryStatus.SENDING.value,
        _CLAIMED_AT.get_db_prep_save(delivery.claimed_at, connection),
    ]
    with connection.cursor() as cur:
        cur.execute(sql, params)


_CLAIMED_AT = Delivery._meta.get_field("claimed_at")


def _column(field: Field | ForeignObjectRel) -> str:
    """The column of one of Delivery's own concrete fields (every one has a column)."""
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{field!r} has no column of its own")
    return field.column


@cache
def _finish_statement(names: tuple[str, ...]) -> tuple[str, list]:
    meta = Delivery._meta
    columns = [meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(_column(c))} = %s" for c in columns)
    table, pk, status = meta.db_table, _column(meta.pk), _column(meta.get_field("status"))
    # Identifiers from the model's own meta; every value is a parameter.
    sql = (
        f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk)} = %s "  # noqa: S608
        f"AND {quote(status)} = %s AND {quote(_column(_CLAIMED_AT))} = %s"
    )
    return sql, columns


def delivery_send(*, delivery_id, now: datetime | None = None) -> str:
    """Send one delivery (see deliveries_send_batch); "not_claimed" if it was not ours."""
    outcomes = deliveries_send_batch(delivery_ids=[delivery_id], now=now)
    return next(iter(outcomes))


def _claim(delivery_ids, *, now: datetime) -> list["ClaimedDelivery"]:
    """Claim the rows still waiting to be sent, with what sending them reads, in one
    transaction: a row locked or already claimed by another worker is not ours."""
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            # The reminder's status is all sending reads of it: an annotation, not a
            # Reminder instance (with its JSON) per row.
            .select_related("device", "contact_point")
            .annotate(reminder_status=F("reminder__status"))
            .filter(
                pk__in=delivery_ids, status__in=(DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)
            )
            .order_by("created_at")
        )
        if rows:
            Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
                status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
    for d in rows:
        d.status, d.claimed_at, d.attempts = DeliveryStatus.SENDING, now, d.attempts + 1
    return rows


def _renew(
    rows: list["ClaimedDelivery"], *, claimed_at: datetime, now: datetime
) -> list["ClaimedDelivery"]:
    """Extend the claim of the rows not sent yet, so a slow chunk is never taken for a dead
    worker's: only rows still claimed by us are kept (the reaper may have taken some)."""
    ids = [d.pk for d in rows]
    Delivery.objects.filter(
        pk__in=ids, status=DeliveryStatus.SENDING, claimed_at=claimed_at
    ).update(claimed_at=now)
    mine = set(
        Delivery.objects.filter(
            pk__in=ids, status=DeliveryStatus.SENDING, claimed_at=now
        ).values_list("pk", flat=True)
    )
    kept = [d for d in rows if d.pk in mine]
    for d in kept:
        d.claimed_at = now
    return kept


def deliveries_send_batch(*, delivery_ids, now: datetime | None = None) -> dict[str, int]:
    """Claim and send a send task's deliveries; returns how many ended how."""
    now = now or timezone.now()
    unique = list(dict.fromkeys(str(i) for i in delivery_ids))
    rows = _claim(unique, now=now)
    outcomes: dict[str, int] = {}
    if len(rows) < len(unique):
        outcomes["not_claimed"] = len(unique) - len(rows)
    # Renew the claim once half the stale interval has passed, long before the reaper
    # would hand the rows not yet sent to another worker.
    renew_after = timedelta(seconds=settings.AFTERGLOW_STALE_CLAIM_SECONDS / 2)
    claimed_at = now
    with _outcomes_committed_asynchronously():
        while rows:
            current = timezone.now()
            if current - claimed_at >= renew_after:
                rows = _renew(rows, claimed_at=claimed_at, now=current)
                claimed_at = current
                if not rows:
                    break
            outcome = _send_claimed(rows.pop(0), now=current)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@contextmanager
def _outcomes_committed_asynchronously():
    """Record outcomes without waiting for PostgreSQL to flush each commit to disk (a
    commit's fsync was most of a delivery's cost). A worker that dies loses nothing: the
    server has the commit. Only a crash of PostgreSQL itself can lose the last fraction of
    a second of outcomes (at most 3 x wal_writer_delay); those rows stay `sending` and are
    sent again after the stale-claim interval: a possible repeat, never a loss. The claims
    and the outbox rows themselves are committed synchronously, as before."""
    if (
        not settings.AFTERGLOW_SEND_ASYNC_COMMIT
        or connection.vendor != "postgresql"
        or connection.in_atomic_block
    ):
        yield
        return
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET synchronous_commit")


def _send_claimed(d: "ClaimedDelivery", *, now: datetime) -> str:
    if d.reminder_status in (
        ReminderStatus.COMPLETED,
        ReminderStatus.CANCELLED,
        ReminderStatus.MISSED,
    ):
        _finish(d, status=DeliveryStatus.SKIPPED, error_code=f"reminder_{d.reminder_status}")
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
    """Is any alert of the check-in this urgent notice is about still open? (One notice
    covers every rule its check-in fired.)"""
    if d.alert_id is None:
        return True
    return SafetyAlert.objects.filter(
        check_in__safety_alerts=d.alert_id, status=AlertStatus.OPEN
    ).exists()


def _record_failure(d: Delivery, exc: TransportError, now: datetime) -> str:
    fields: dict[str, object]
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
