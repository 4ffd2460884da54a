"""Tasks of the clinical domain. They take ids, never health data."""

import logging

from celery import shared_task
from django.utils import timezone

from outcomes.models import EnrolmentCode, Patient

from .services.benefit import benefit_review, benefit_reviews_due
from .services.outcome_records import outcome_records_refresh, outcome_records_refresh_stale
from .services.safety import alerts_escalate_due

logger = logging.getLogger(__name__)


@shared_task(name="outcomes.enrolment_codes_purge_expired")
def enrolment_codes_purge_expired() -> int:
    """Delete unused enrolment codes past their expiry: they can no longer enrol anyone."""
    deleted, _ = EnrolmentCode.objects.filter(
        expires_at__lt=timezone.now(), used_at__isnull=True
    ).delete()
    logger.info("purged %d expired enrolment codes", deleted)
    return deleted


@shared_task(name="outcomes.alerts_escalate", acks_late=True)
def alerts_escalate() -> int:
    """The beat's tick for safety alerts nobody has acknowledged in time."""
    return alerts_escalate_due()


@shared_task(name="outcomes.outcomes_refresh", acks_late=True)
def outcomes_refresh() -> int:
    """The beat's tick for stored infusion outcomes whose data changed."""
    return outcome_records_refresh_stale()


@shared_task(name="outcomes.benefit_reviews", acks_late=True)
def benefit_reviews() -> dict:
    """The beat's tick: tell care teams of fading benefit, for the patients whose data
    changed since their last review."""
    return benefit_reviews_due()


@shared_task(name="outcomes.benefit_check", acks_late=True)
def benefit_check(patient_id: str) -> int:
    """One patient's review, as check-ins used to enqueue it after commit. Kept so that
    messages queued before an upgrade are still worked off; nothing enqueues it now (the
    beat's benefit_reviews tick does this for every changed patient)."""
    patient = Patient.objects.filter(pk=patient_id).select_related("clinic").first()
    if patient is None:
        return 0
    outcome_records_refresh(patient_ids=[patient.pk])
    return benefit_review(patient=patient)
