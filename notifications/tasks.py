"""Celery tasks: thin wrappers that take ids (never health data) and call a service."""

from celery import shared_task

from .services.delivery import deliveries_send_batch
from .services.dispatch import SEND_TASK, deliveries_reap, reminders_dispatch_due


@shared_task(name="notifications.dispatch_due", acks_late=True)
def dispatch_due() -> dict:
    """The beat's one-minute tick. Safe to run concurrently with itself."""
    report = reminders_dispatch_due()
    reaped = deliveries_reap()
    return {
        "sent": report.sent,
        "nudged": report.nudged,
        "missed": report.missed,
        "deliveries": report.deliveries,
        "reaped": reaped,
    }


@shared_task(name=SEND_TASK, acks_late=True)
def deliveries_send(delivery_ids: list[str]) -> dict:
    return deliveries_send_batch(delivery_ids=delivery_ids)
