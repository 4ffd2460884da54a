"""Tasks of the clinical domain. They take ids, never health data."""

from celery import shared_task

from .models import Patient
from .services.benefit import benefit_review
from .services.safety import alerts_escalate_due


@shared_task(name="outcomes.alerts_escalate", acks_late=True)
def alerts_escalate() -> int:
    """The beat's tick for safety alerts nobody has acknowledged in time."""
    return alerts_escalate_due()


@shared_task(name="outcomes.benefit_check", acks_late=True)
def benefit_check(patient_id: str) -> int:
    """After a check-in: if a patient's benefit is fading, tell the care team (once per
    infusion and instrument)."""
    patient = Patient.objects.filter(pk=patient_id).select_related("clinic").first()
    if patient is None:
        return 0
    return benefit_review(patient=patient)
