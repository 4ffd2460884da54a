"""Consent, the patient's own copy of their data, and erasure.

Erasure follows the clinic's policy of anonymising while keeping aggregates: the
patient's identity, contact points, devices, tokens and raw answers are removed; scores,
bands and infusion dates stay (unlinked from any name) so the clinic's durability figures
do not change. The audit log keeps its ids; the change history loses the identity and
the clinicians' free text too (`_history_scrub`).

Nothing is left from which an answer can be rebuilt: each check-in's `content_digest` (an
unsalted SHA-256 of the time and the raw answers, kept to tell a retry from a reused id)
is overwritten too, since with the kept total and time the few thousand answer vectors
that add up to it can each be hashed and compared. Erasure is final: an erased patient is
never changed, re-activated or given an enrolment code again (outcomes/services/patients.py).
"""

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from accounts.audit import audit_refused
from accounts.errors import DomainValidationError
from accounts.history import history_record_change
from outcomes import events
from outcomes.models import (
    CheckIn,
    Consent,
    Infusion,
    InstrumentResponse,
    MonitoringSession,
    Patient,
    PatientStatus,
    SafetyAlert,
    TreatmentCourse,
    VisitAdverseEvent,
)

from .outcome_records import outcomes_mark_changed

# What erasure leaves in place of a check-in's content digest: not a SHA-256 of anything,
# so it matches no submission, and a later submission reusing the id is a 409 (never the
# replay of an answer nobody holds any more).
ERASED_DIGEST = ""


@transaction.atomic
def consent_record(*, patient: Patient, document: str, version: str) -> tuple[Consent, bool]:
    consent, created = Consent.objects.get_or_create(
        patient=patient, document=document, version=version
    )
    if not created and consent.withdrawn_at is not None:
        Consent.objects.filter(pk=consent.pk).update(withdrawn_at=None)
        consent.refresh_from_db()
        history_record_change(record=consent)
    return consent, created


@transaction.atomic
def consent_withdraw(*, consent: Consent) -> Consent:
    won = Consent.objects.filter(pk=consent.pk, withdrawn_at__isnull=True).update(
        withdrawn_at=timezone.now()
    )
    consent.refresh_from_db()
    if won:
        history_record_change(record=consent)
    return consent


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def patient_data_export(*, patient: Patient) -> dict:
    """Everything Afterglow holds about the patient, in plain JSON (a fixed number of
    queries)."""
    check_ins = []
    responses: dict = {}
    for r in (
        InstrumentResponse.objects.filter(patient=patient)
        .select_related("instrument_version")
        .order_by("answered_at", "position")
    ):
        responses.setdefault(r.check_in_id, []).append(
            {
                "instrument": r.instrument_code,
                "version": r.instrument_version.version,
                "answers": r.answers,
                "total": r.total,
                "band": r.band,
                "flags": r.flags,
            }
        )
    for c in CheckIn.objects.filter(patient=patient).order_by("answered_at"):
        check_ins.append(
            {
                "id": str(c.id),
                "answered_at": _iso(c.answered_at),
                "received_at": _iso(c.received_at),
                "responses": responses.get(c.id, []),
            }
        )
    return {
        "patient": {
            "id": str(patient.id),
            "display_name": patient.display_name,
            "clinic": patient.clinic.name,
            "timezone": patient.timezone,
            "date_of_birth": patient.date_of_birth.isoformat() if patient.date_of_birth else None,
            "conditions": sorted(patient.conditions.values_list("condition", flat=True)),
            "status": patient.status,
        },
        "consents": [
            {
                "document": c.document,
                "version": c.version,
                "accepted_at": _iso(c.accepted_at),
                "withdrawn_at": _iso(c.withdrawn_at),
            }
            for c in patient.consents.order_by("accepted_at")
        ],
        "infusions": [
            {
                "id": str(i.id),
                "status": i.status,
                "scheduled_at": _iso(i.scheduled_at),
                "started_at": _iso(i.started_at),
                "ended_at": _iso(i.ended_at),
            }
            for i in Infusion.objects.filter(patient=patient).order_by("scheduled_at")
        ],
        "check_ins": check_ins,
        "exported_at": _iso(timezone.now()),
    }


@transaction.atomic
def patient_erase(*, patient: Patient) -> Patient:
    """Anonymise a patient on request (clinic policy): keep aggregates, drop identity."""
    patient = Patient.objects.select_for_update().select_related("user").get(pk=patient.pk)
    if patient.erased_at is not None:
        audit_refused(patient_id=patient.pk, clinic_id=patient.clinic_id)
        raise DomainValidationError.single(
            "non_field_errors", "already_erased", "This patient's data is already erased."
        )
    now = timezone.now()
    user = patient.user
    AuthToken.objects.filter(user=user).delete()
    user.username = f"erased-{uuid.uuid4().hex[:12]}"
    user.first_name = user.last_name = user.email = ""
    user.is_active = False
    user.set_unusable_password()
    user.save(
        update_fields=["username", "first_name", "last_name", "email", "is_active", "password"]
    )
    patient.enrolment_codes.all().delete()
    patient.care_team.clear()
    InstrumentResponse.objects.filter(patient=patient).update(answers={})
    CheckIn.objects.filter(patient=patient).update(content_digest=ERASED_DIGEST)
    Patient.objects.filter(pk=patient.pk).update(
        display_name=f"Erased patient {str(patient.id)[:8]}",
        clinic_reference="",
        date_of_birth=None,
        status=PatientStatus.WITHDRAWN,
        withdrawn_at=patient.withdrawn_at or now,
        erased_at=now,
    )
    patient.refresh_from_db()
    _history_scrub(patient=patient)
    outcomes_mark_changed(patient_ids=[patient.pk])  # withdrawn now, if not before
    # Devices and contact points go; withdrawn, the pending reminders are cancelled.
    events.announce(events.PatientErased(patient=patient))
    return patient


def _history_scrub(*, patient: Patient) -> None:
    """The change history must not keep what erasure removed. The patient's own historical
    rows held the name and the clinic's reference: deleted (the audit log records who
    erased whom and when). Clinicians' free text on the records erasure keeps (a course's
    notes, an alert's note and follow-up note, a cancellation reason) may name the patient:
    blanked in the records and in every historical row of them. Dates, doses and statuses
    stay, as they do in the records themselves. The infusion visit's free text (an
    override's reason, an adverse event's notes) and the REMS form as filed go too: the
    form's filing time stays, and the form is assembled again, without the identity, on
    request."""
    Patient.history.filter(id=patient.pk).delete()
    TreatmentCourse.objects.filter(patient=patient).update(notes="")
    TreatmentCourse.history.filter(patient_id=patient.pk).update(notes="")
    SafetyAlert.objects.filter(patient=patient).update(note="", follow_up_note="")
    SafetyAlert.history.filter(patient_id=patient.pk).update(note="", follow_up_note="")
    Infusion.objects.filter(patient=patient).update(cancel_reason="", dose_override_reason="")
    Infusion.history.filter(patient_id=patient.pk).update(cancel_reason="", dose_override_reason="")
    # The infusion visit: free text, and the REMS form as filed (it names the patient).
    sessions = MonitoringSession.objects.filter(infusion__patient=patient)
    visit_text = {"hold_override_reason": "", "rems_filed_form": None}
    MonitoringSession.history.filter(id__in=list(sessions.values_list("pk", flat=True))).update(
        **visit_text
    )
    sessions.update(**visit_text)
    VisitAdverseEvent.objects.filter(session__infusion__patient=patient).update(notes="")
