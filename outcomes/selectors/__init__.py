"""Every read of clinic and patient data goes through these permission-scoped selectors.

Staff see a patient only through a role at the patient's clinic; a patient sees only
themself. Objects outside the caller's reach raise NotFoundError, so their existence is
not revealed; the refused attempt is marked for the audit log (`_refused`), naming the
object's patient and clinic where it exists.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Exists, Model, OuterRef, Prefetch, Q, QuerySet

from accounts.audit import audit_recording, audit_refused, audit_touch
from accounts.errors import NotFoundError
from accounts.models import ClinicMembership, Role
from accounts.selectors import clinic_ids_for
from outcomes.models import (
    CheckIn,
    Infusion,
    InstrumentResponse,
    InstrumentVersion,
    LatestScore,
    Patient,
    PatientCondition,
    SafetyAlert,
)

logger = logging.getLogger(__name__)

# Roles that may read a patient's health data (answers, scores). Schedulers and clinic
# admins run the clinic but do not need symptoms to do so (minimum necessary).
HEALTH_DATA_ROLES = frozenset({Role.CLINICIAN})
# The infusion visit (monitoring, adverse events, discharge, the REMS form): nurses on the
# floor record it, clinicians too.
VISIT_ROLES = frozenset({Role.CLINICIAN, Role.NURSE})
ENROLMENT_ROLES = frozenset({Role.CLINICIAN, Role.CLINIC_ADMIN})


def _refused(model: type[Model], object_id: object, *, patient: str) -> None:
    """Mark a refused reach of `model` row `object_id` for the audit log, with its patient
    (the field path `patient`) and that patient's clinic if the row exists. The caller
    answers 404 either way: only the log, which the clinic's admins read, knows which."""
    if not audit_recording():
        return
    clinic = "clinic_id" if patient == "id" else "patient__clinic_id"
    try:
        found = model._default_manager.filter(pk=object_id).values_list(patient, clinic).first()
    except (ValueError, ValidationError):
        found = None  # not an id at all
    if found is None:
        # Nothing of any clinic's: no row that no admin could ever read (and a flood of
        # guesses would fill); the application log says it, without the id.
        logger.info("refused reach of an unknown %s", model.__name__)
    else:
        audit_refused(patient_id=found[0], clinic_id=found[1])


def patient_for_user(*, user) -> Patient:
    """The patient whose app account `user` is."""
    if not user.is_authenticated:
        raise NotFoundError
    try:
        return Patient.objects.select_related("clinic").get(user=user)
    except Patient.DoesNotExist as exc:
        raise NotFoundError from exc


def _patient_queryset() -> QuerySet[Patient]:
    return Patient.objects.select_related("clinic").prefetch_related(
        Prefetch("conditions", queryset=PatientCondition.objects.order_by("condition")),
        Prefetch("latest_scores", queryset=LatestScore.objects.order_by("instrument_code")),
        "care_team",
    )


def patients_for_staff(
    *, user, roles: Iterable[str] = HEALTH_DATA_ROLES, clinic_id: UUID | None = None
) -> QuerySet[Patient]:
    clinic_ids = clinic_ids_for(user=user, roles=roles)
    qs = _patient_queryset().filter(clinic_id__in=clinic_ids)
    if clinic_id is not None:
        qs = qs.filter(clinic_id=clinic_id)
    return qs


def access_patient(
    *,
    user,
    patient_id: UUID,
    roles: Iterable[str] = HEALTH_DATA_ROLES,
    with_details: bool = False,
) -> Patient:
    """The patient, if `user` holds one of `roles` at the patient's clinic; with their
    conditions, latest scores and care team prefetched when `with_details` (the record's
    own views), else just the row (three queries fewer for every read about the patient)."""
    qs = _patient_queryset() if with_details else Patient.objects.select_related("clinic")
    try:
        patient = qs.filter(clinic_id__in=clinic_ids_for(user=user, roles=roles)).get(id=patient_id)
    except (Patient.DoesNotExist, ValueError) as exc:
        _refused(Patient, patient_id, patient="id")
        raise NotFoundError from exc
    audit_touch(patient_ids=[patient.id])
    return patient


def checkins_for_patient(
    *,
    patient: Patient,
    instrument_code: str | None = None,
    answered_after: datetime | None = None,
    answered_before: datetime | None = None,
) -> QuerySet[CheckIn]:
    qs = CheckIn.objects.filter(patient=patient).prefetch_related(
        Prefetch(
            "responses",
            queryset=InstrumentResponse.objects.select_related("instrument_version").order_by(
                "position"
            ),
        )
    )
    if instrument_code:
        qs = qs.filter(
            Exists(
                InstrumentResponse.objects.filter(
                    check_in=OuterRef("pk"), instrument_code=instrument_code
                )
            )
        )
    if answered_after:
        qs = qs.filter(answered_at__gte=answered_after)
    if answered_before:
        qs = qs.filter(answered_at__lt=answered_before)
    return qs.order_by("-answered_at", "-id")


def access_checkin(*, patient: Patient, check_in_id: UUID) -> CheckIn:
    try:
        return checkins_for_patient(patient=patient).get(id=check_in_id)
    except (CheckIn.DoesNotExist, ValueError) as exc:
        _refused(CheckIn, check_in_id, patient="patient_id")
        raise NotFoundError from exc


def instrument_versions_visible(*, clinic_ids: Iterable[UUID]) -> QuerySet[InstrumentVersion]:
    """Shipped instruments, plus licensed ones loaded by one of `clinic_ids`."""
    return InstrumentVersion.objects.filter(
        Q(clinic__isnull=True) | Q(clinic_id__in=list(clinic_ids)), is_active=True
    ).order_by("code", "version")


def instrument_clinic_ids_for(*, user) -> list[UUID]:
    """The clinics whose licensed instruments `user` may read: a patient's own clinic, or
    every clinic where the user holds any role."""
    if not user.is_authenticated:
        return []
    ids = set(ClinicMembership.objects.filter(user=user).values_list("clinic_id", flat=True))
    ids.update(Patient.objects.filter(user=user).values_list("clinic_id", flat=True))
    return list(ids)


def alerts_for_staff(*, user) -> QuerySet[SafetyAlert]:
    """Safety alerts of the patients of every clinic where `user` is a clinician."""
    return (
        SafetyAlert.objects.filter(
            patient__clinic_id__in=clinic_ids_for(user=user, roles=HEALTH_DATA_ROLES)
        )
        .select_related("patient", "acknowledged_by", "resolved_by")
        .order_by("-created_at", "id")
    )


def access_alert(*, user, alert_id: UUID) -> SafetyAlert:
    try:
        alert = alerts_for_staff(user=user).get(id=alert_id)
    except (SafetyAlert.DoesNotExist, ValueError) as exc:
        _refused(SafetyAlert, alert_id, patient="patient_id")
        raise NotFoundError from exc
    audit_touch(patient_ids=[alert.patient_id])
    return alert


def access_infusion(
    *, user, infusion_id: UUID, roles: Iterable[str] = HEALTH_DATA_ROLES
) -> Infusion:
    """An infusion of a patient of a clinic where `user` holds one of `roles` (audited)."""
    try:
        infusion = (
            Infusion.objects.select_related("patient__clinic")
            .filter(
                patient__clinic__memberships__user=user,
                patient__clinic__memberships__role__in=list(roles),
            )
            .distinct()
            .get(id=infusion_id)
        )
    except (Infusion.DoesNotExist, ValueError) as exc:
        _refused(Infusion, infusion_id, patient="patient_id")
        raise NotFoundError from exc
    audit_touch(patient_ids=[infusion.patient_id])
    return infusion


def responses_for_export(
    *, patient: Patient | None = None, clinic_id: UUID | None = None
) -> QuerySet[InstrumentResponse]:
    """The scored answers of one patient or of a whole clinic, for an export. The caller has
    passed access_patient or access_clinic (which audited the read)."""
    if patient is not None and clinic_id is None:
        return InstrumentResponse.objects.filter(patient=patient)
    if clinic_id is not None and patient is None:
        return InstrumentResponse.objects.filter(patient__clinic_id=clinic_id)
    raise ValueError("name one patient or one clinic")
