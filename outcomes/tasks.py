"""Tasks of the clinical domain. They take ids, never health data."""

from celery import shared_task

from .models import Patient
from .services.benefit import benefit_review
from .services.outcome_records import outcome_records_refresh, outcome_records_refresh_stale
from .services.safety import alerts_escalate_due


@shared_task(name="outcomes.alerts_escalate", acks_late=True)
def alerts_escalate() -> int:
    """The beat's tick for safety alerts nobody has acknowledged in time."""
    return alerts_escalate_due()


@shared_task(name="outcomes.outcomes_refresh", acks_late=True)
def outcomes_refresh() -> int:
    """The beat's tick for stored infusion outcomes whose data changed."""
    return outcome_records_refresh_stale()


@shared_task(name="outcomes.benefit_check", acks_late=True)
def benefit_check(patient_id: str) -> int:
    """After a check-in: store the patient's infusion outcomes afresh (the clinic's
    cohort reads them), and if their benefit is fading, tell the care team (once per
    infusion and instrument)."""
    patient = Patient.objects.filter(pk=patient_id).select_related("clinic").first()
    if patient is None:
        return 0
    outcome_records_refresh(patient_ids=[patient.pk])
    return benefit_review(patient=patient)
