"""A guard every write about a patient shares: erasure is final
(outcomes/services/privacy.py). Nothing brings an erased identity back, not a new name, a
status, a code, a care team, nor free text on a course, an infusion, a visit or an alert."""

from accounts.audit import audit_refused
from accounts.errors import DomainValidationError

from ..models import Patient


def patient_erased(patient: Patient) -> DomainValidationError:
    """Erasure is final (outcomes/services/privacy.py): nothing brings the identity back,
    not a new name, a status, a code or a care team. The refusal is audited."""
    audit_refused(patient_id=patient.pk, clinic_id=patient.clinic_id)
    return DomainValidationError.single(
        "non_field_errors",
        "erased",
        "This patient's data was erased, and erasure is final: enrol them as a new patient.",
    )


def patient_lock_unerased(patient: Patient) -> None:
    """Lock the patient's row (in the caller's transaction) and refuse an erased patient.
    Erasure takes the same lock, so a change racing an erasure either lands before it (and
    is erased with the rest) or sees it and is refused: never writes a name back after."""
    erased_at = (
        Patient.objects.select_for_update(no_key=True)
        .filter(pk=patient.pk)
        .values_list("erased_at", flat=True)
        .first()
    )
    if erased_at is not None:
        raise patient_erased(patient)
