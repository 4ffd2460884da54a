"""The dispatcher: claim due reminders, write their deliveries (the outbox), hand the
delivery ids to the send task after commit.

Claims use SELECT ... FOR UPDATE SKIP LOCKED, so any number of workers and overlapping
beat ticks each take different rows and none double-sends (docs/house/STYLE.md, habit 6).
A batch costs the same handful of queries whatever its size. If the process dies
mid-batch, the transaction rolls back and the rows are simply claimed again on the next
tick; if it dies after commit but before enqueueing, deliveries_reap re-enqueues the
queued rows.

Which rows a channel sends to is the channel's to say (notifications.channels.Target):
the dispatcher asks the registry, so a new channel needs no change here.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from outcomes.models import Patient

from ..channels import Target, channel_targets
from ..models import (
    ClinicNotificationSettings,
    ContactPoint,
    Delivery,
    DeliveryStatus,
    Device,
    PatientPreference,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from .probes import probes_after_missed

logger = logging.getLogger(__name__)
# The send task's name (notifications/tasks.py registers it under this name).
SEND_TASK = "notifications.send_deliveries"


@dataclass
class DispatchReport:
    sent: int = 0
    nudged: int = 0
    missed: int = 0
    paused: int = 0
    deliveries: int = 0
    batches: int = 0


def reminders_dispatch_due(
    *, now: datetime | None = None, batch_size: int | None = None, enqueue=None
) -> DispatchReport:
    """One beat tick: expire closed windows, send what is due, nudge what is unanswered."""
    now = now or timezone.now()
    batch_size = batch_size or settings.AFTERGLOW_DISPATCH_BATCH
    enqueue = enqueue or enqueue_deliveries
    report = DispatchReport()
    report.missed = reminders_expire(now=now)
    while (
        _dispatch_batch(now=now, batch_size=batch_size, report=report, enqueue=enqueue, nudge=False)
        == batch_size
    ):
        pass
    while (
        _dispatch_batch(now=now, batch_size=batch_size, report=report, enqueue=enqueue, nudge=True)
        == batch_size
    ):
        pass
    if report.sent or report.nudged or report.missed:
        logger.info(
            "dispatch: %d sent, %d nudged, %d missed, %d paused, %d deliveries in %d batches",
            report.sent,
            report.nudged,
            report.missed,
            report.paused,
            report.deliveries,
            report.batches,
        )
    return report


def reminders_expire(*, now: datetime) -> int:
    """A reminder whose window closed unanswered is missed, never sent late. A missed
    probe is asked again (notifications/services/probes.py), in the same transaction."""
    closing = Reminder.objects.filter(
        status__in=(ReminderStatus.PENDING, ReminderStatus.SENT), window_closes_at__lte=now
    )
    with transaction.atomic():
        probes = list(
            closing.filter(kind=ReminderKind.PROBE)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("patient", "infusion")
        )
        missed = closing.update(status=ReminderStatus.MISSED, next_nudge_at=None, updated_at=now)
        if probes:
            probes_after_missed(rows=probes, now=now)
    return missed


def _dispatch_batch(*, now, batch_size, report, enqueue, nudge: bool) -> int:
    with transaction.atomic():
        due = Reminder.objects.select_for_update(skip_locked=True, of=("self",))
        if nudge:
            due = due.filter(
                status=ReminderStatus.SENT, next_nudge_at__lte=now, window_closes_at__gt=now
            ).order_by("next_nudge_at")
        else:
            due = due.filter(
                status=ReminderStatus.PENDING, due_at__lte=now, window_closes_at__gt=now
            ).order_by("due_at")
        # Plain tuples of the columns used: a batch builds no Reminder instances.
        rows = list(
            due.values_list(
                "id",
                "patient_id",
                "nudges_sent",
                "nudges_left",
                "nudge_interval_minutes",
                "window_closes_at",
            )[:batch_size]
        )
        if not rows:
            return 0
        report.batches += 1
        targets = _targets_for(patient_ids={r[1] for r in rows}, now=now)
        deliveries, paused = [], []
        by_next: dict[object, list] = defaultdict(list)  # next nudge time -> reminder ids
        for reminder_id, patient_id, nudges_sent, nudges_left, interval, closes_at in rows:
            patient_targets = targets.get(patient_id)
            if patient_targets is None:
                paused.append(reminder_id)
                continue
            if nudge:
                nudges_left -= 1
            next_nudge_at = now + timedelta(minutes=interval) if nudges_left > 0 else None
            if next_nudge_at and next_nudge_at >= closes_at:
                next_nudge_at = None
            by_next[next_nudge_at].append(reminder_id)
            sequence = nudges_sent + 1 if nudge else 0
            deliveries += [
                Delivery(
                    reminder_id=reminder_id,
                    sequence=sequence,
                    channel=channel,
                    target_key=key,
                    device_id=device_id,
                    contact_point_id=contact_id,
                )
                for channel, key, device_id, contact_id in patient_targets
            ]
        _record_claims(by_next, paused, now=now, nudge=nudge)
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        ids = [str(d.id) for d in deliveries]
        transaction.on_commit(lambda: enqueue(ids))
    report.paused += len(paused)
    report.deliveries += len(deliveries)
    if nudge:
        report.nudged += len(rows) - len(paused)
    else:
        report.sent += len(rows) - len(paused)
    return len(rows)


def _record_claims(by_next: dict, paused: list, *, now, nudge: bool) -> None:
    """Write the claimed rows' new state with plain UPDATEs: one per distinct next-nudge
    time (a handful per batch: one per plan step's interval), never one CASE per row
    (bulk_update spent 87% of dispatch time building those)."""
    common = (
        {"nudges_sent": F("nudges_sent") + 1, "nudges_left": F("nudges_left") - 1}
        if nudge
        else {"status": ReminderStatus.SENT, "sent_at": now}
    )
    for next_nudge_at, ids in by_next.items():
        Reminder.objects.filter(pk__in=ids).update(
            next_nudge_at=next_nudge_at, updated_at=now, **common
        )
    if paused:
        Reminder.objects.filter(pk__in=paused).update(
            status=ReminderStatus.CANCELLED, next_nudge_at=None, updated_at=now
        )


DeliveryTarget = tuple[str, str, UUID | None, UUID | None]  # channel, key, device, contact


def _targets_for(*, patient_ids: set, now: datetime) -> dict[object, list[DeliveryTarget] | None]:
    """Where each patient is reminded, in a fixed number of queries. A paused patient maps
    to None."""
    prefs = {p.patient_id: p for p in PatientPreference.objects.filter(patient_id__in=patient_ids)}
    clinic_of = dict(Patient.objects.filter(id__in=patient_ids).values_list("id", "clinic_id"))
    clinic_channels = dict(
        ClinicNotificationSettings.objects.filter(clinic_id__in=set(clinic_of.values()))
        .exclude(default_channels=[])
        .values_list("clinic_id", "default_channels")
    )
    devices = defaultdict(list)
    for dev_id, patient_id in Device.objects.filter(
        patient_id__in=patient_ids, disabled_at__isnull=True
    ).values_list("id", "patient_id"):
        devices[patient_id].append(dev_id)
    contacts = defaultdict(list)
    for cid, patient_id, channel in ContactPoint.objects.filter(
        patient_id__in=patient_ids, disabled_at__isnull=True
    ).values_list("id", "patient_id", "channel"):
        contacts[(patient_id, channel)].append(cid)

    serves: dict[str, frozenset[Target]] = {}  # channel -> what it serves, asked once a batch
    out: dict[object, list[DeliveryTarget] | None] = {}
    for pid in patient_ids:
        pref = prefs.get(pid)
        if pref is not None and pref.paused_until is not None and pref.paused_until > now:
            out[pid] = None
            continue
        clinic_id = clinic_of.get(pid)
        channels = (
            (pref.channels if pref and pref.channels else None)
            or (clinic_channels.get(clinic_id) if clinic_id is not None else None)
            or settings.AFTERGLOW_DEFAULT_CHANNELS
        )
        targets: list[DeliveryTarget] = []
        for channel in channels:
            if channel not in serves:
                serves[channel] = channel_targets(channel)
            if Target.DEVICE in serves[channel]:
                targets += [(channel, f"device:{d}", d, None) for d in devices[pid]]
            if Target.CONTACT_POINT in serves[channel]:
                targets += [(channel, f"contact:{c}", None, c) for c in contacts[(pid, channel)]]
            if Target.PATIENT in serves[channel]:
                targets.append((channel, channel, None, None))
        out[pid] = targets
    return out


def enqueue_deliveries(ids: list[str]) -> None:
    """Hand delivery ids to the send task in chunks. Runs after commit; if the broker is
    unreachable the rows stay queued and deliveries_reap enqueues them again. Sent by the
    task's name (notifications/tasks.py imports this module)."""
    chunk = settings.AFTERGLOW_SEND_CHUNK
    for i in range(0, len(ids), chunk):
        try:
            current_app.send_task(SEND_TASK, args=[ids[i : i + chunk]])
        except Exception:
            logger.exception(
                "could not enqueue %d deliveries; the reaper will retry", len(ids[i : i + chunk])
            )
            return


def deliveries_reap(*, now: datetime | None = None, enqueue=None) -> int:
    """Re-enqueue what a lost message or a dead worker left behind: retries that are due,
    queued rows nobody picked up, and claims a dead worker never finished."""
    now = now or timezone.now()
    enqueue = enqueue or enqueue_deliveries
    stale = now - timedelta(seconds=settings.AFTERGLOW_STALE_CLAIM_SECONDS)
    Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lte=stale).update(
        status=DeliveryStatus.RETRYING, next_attempt_at=now
    )
    ids = [
        str(i)
        for i in Delivery.objects.filter(
            Q(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now)
            | Q(
                status=DeliveryStatus.QUEUED,
                created_at__lte=now - timedelta(seconds=settings.AFTERGLOW_REQUEUE_AFTER_SECONDS),
            )
        ).values_list("id", flat=True)[:10_000]
    ]
    if ids:
        enqueue(ids)
    return len(ids)
