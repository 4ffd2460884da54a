"""Patients, their app accounts and enrolment codes."""

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from accounts.errors import DomainValidationError
from accounts.models import Clinic, Role, validate_iana_zone
from outcomes import events
from outcomes.models import Condition, EnrolmentCode, Patient, PatientCondition, PatientStatus

from .guards import patient_erased, patient_lock_unerased
from .outcome_records import outcomes_mark_changed

User = get_user_model()

# No 0/O, 1/I/L: codes are read aloud and typed on a phone.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 10


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _code_digest(code: str) -> str:
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def _check_patient_fields(
    *,
    clinic: Clinic,
    timezone_name: str | None,
    conditions: Iterable[str] | None,
    care_team_ids: Iterable[uuid.UUID] | None,
) -> list:
    errors: dict[str, list[tuple[str, str]]] = {}
    if timezone_name is not None:
        try:
            validate_iana_zone(timezone_name)
        except DjangoValidationError:
            errors["timezone"] = [("invalid", f"'{timezone_name}' is not an IANA time zone.")]
    if conditions is not None:
        for i, cond in enumerate(conditions):
            if cond not in Condition.values:
                errors[f"conditions.{i}"] = [("invalid_choice", f"Unknown condition '{cond}'.")]
    team: list = []
    if care_team_ids is not None:
        wanted = list(dict.fromkeys(care_team_ids))
        team = list(
            User.objects.filter(
                id__in=wanted,
                memberships__clinic=clinic,
                memberships__role=Role.CLINICIAN,
            ).distinct()
        )
        found = {u.id for u in team}
        for i, uid in enumerate(wanted):
            if uid not in found:
                errors[f"care_team.{i}"] = [
                    ("not_a_clinician", "Not a clinician of this patient's clinic.")
                ]
    if errors:
        raise DomainValidationError(errors)
    return team


def patient_enrol(
    *,
    clinic: Clinic,
    display_name: str,
    timezone_name: str,
    conditions: Iterable[str] = (),
    care_team_ids: Iterable[uuid.UUID] = (),
    clinic_reference: str = "",
    date_of_birth: date | None = None,
    issued_by=None,
) -> tuple[Patient, str]:
    """Register a patient with an app account that has no usable password, and issue the
    first enrolment code. Returns the patient and the code (shown once)."""
    conditions = list(dict.fromkeys(conditions))
    _check_date_of_birth(date_of_birth)
    team = _check_patient_fields(
        clinic=clinic,
        timezone_name=timezone_name,
        conditions=conditions,
        care_team_ids=care_team_ids,
    )
    if (
        clinic_reference
        and Patient.objects.filter(clinic=clinic, clinic_reference=clinic_reference).exists()
    ):
        raise DomainValidationError.single(
            "clinic_reference", "unique", "A patient with this reference exists at this clinic."
        )
    with transaction.atomic():
        user = User(username=f"p-{uuid.uuid4().hex[:12]}")
        user.set_unusable_password()
        user.save()
        patient = Patient.objects.create(
            clinic=clinic,
            user=user,
            display_name=display_name,
            clinic_reference=clinic_reference,
            date_of_birth=date_of_birth,
            timezone=timezone_name,
        )
        PatientCondition.objects.bulk_create(
            PatientCondition(patient=patient, condition=c) for c in conditions
        )
        patient.care_team.set(team)
        _, code = enrolment_code_issue(patient=patient, issued_by=issued_by)
    return patient, code


def patient_update(
    *,
    patient: Patient,
    display_name: str | None = None,
    timezone_name: str | None = None,
    conditions: Iterable[str] | None = None,
    care_team_ids: Iterable[uuid.UUID] | None = None,
    status: str | None = None,
    date_of_birth: date | None = None,
) -> Patient:
    """Change a patient's details. An erased patient is refused (`erased`), whatever the
    change, an empty one included: nothing is written."""
    if patient.erased_at is not None:
        raise patient_erased(patient)
    conditions = list(dict.fromkeys(conditions)) if conditions is not None else None
    _check_date_of_birth(date_of_birth)
    team = _check_patient_fields(
        clinic=patient.clinic,
        timezone_name=timezone_name,
        conditions=conditions,
        care_team_ids=care_team_ids,
    )
    if status is not None and status not in PatientStatus.values:
        raise DomainValidationError.single(
            "status", "invalid_choice", f"Unknown status '{status}'."
        )
    fields: list[str] = []
    with transaction.atomic():
        patient_lock_unerased(patient)
        if display_name is not None:
            patient.display_name = display_name
            fields.append("display_name")
        if timezone_name is not None:
            patient.timezone = timezone_name
            fields.append("timezone")
        if date_of_birth is not None:
            patient.date_of_birth = date_of_birth
            fields.append("date_of_birth")
        if status is not None and status != patient.status:
            patient.status = status
            patient.withdrawn_at = timezone.now() if status == PatientStatus.WITHDRAWN else None
            fields += ["status", "withdrawn_at"]
        if fields:
            patient.save(update_fields=fields)
        if "withdrawn_at" in fields:
            outcomes_mark_changed(patient_ids=[patient.pk])  # outcomes stop at withdrawal
        if conditions is not None:
            PatientCondition.objects.filter(patient=patient).exclude(
                condition__in=conditions
            ).delete()
            have = set(patient.conditions.values_list("condition", flat=True))
            PatientCondition.objects.bulk_create(
                PatientCondition(patient=patient, condition=c) for c in conditions if c not in have
            )
        if care_team_ids is not None:
            patient.care_team.set(team)
        if {"timezone", "status"} & set(fields):
            # 10:00 local is another instant in another zone; a withdrawn patient gets
            # no more reminders.
            events.announce(events.PatientChanged(patient=patient))
    return patient


def _check_date_of_birth(value: date | None) -> None:
    """A date of birth in the past, of someone alive (age up to 120)."""
    if value is None:
        return
    today = timezone.now().date()
    if value > today or value < today.replace(year=today.year - 120):
        raise DomainValidationError.single(
            "date_of_birth", "invalid", "A date of birth in the past 120 years."
        )


def age_on(date_of_birth: date | None, on: date) -> int | None:
    """Whole years of age on a day; derived, never stored."""
    if date_of_birth is None:
        return None
    return (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )


def enrolment_code_issue(*, patient: Patient, issued_by=None) -> tuple[EnrolmentCode, str]:
    """Issue a fresh single-use code; any earlier unused code of the patient stops working.
    None for an erased patient (`erased`): a code would sign a phone into that record."""
    if patient.erased_at is not None:
        raise patient_erased(patient)
    now = timezone.now()
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    with transaction.atomic():
        patient_lock_unerased(patient)
        EnrolmentCode.objects.filter(
            patient=patient, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        row = EnrolmentCode.objects.create(
            patient=patient,
            code_digest=_code_digest(code),
            issued_by=issued_by,
            expires_at=now + timedelta(hours=settings.AFTERGLOW_ENROLMENT_CODE_TTL_HOURS),
        )
    return row, f"{code[:5]}-{code[5:]}"


def enrolment_code_redeem(
    *, code: str, password: str | None = None, now: datetime | None = None
) -> Patient:
    """Spend a code once and return its patient; optionally set the account's password
    so the phone can later sign in with credentials."""
    now = now or timezone.now()
    digest = _code_digest(code)
    invalid = DomainValidationError.single(
        "code", "invalid_code", "This enrolment code is not valid or has expired."
    )
    with transaction.atomic():
        # A conditional UPDATE: of two phones racing with one code, exactly one wins.
        won = EnrolmentCode.objects.filter(
            code_digest=digest,
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
            patient__status=PatientStatus.ACTIVE,
            patient__erased_at__isnull=True,
        ).update(used_at=now)
        if won != 1:
            raise invalid
        patient = Patient.objects.select_related("user", "clinic").get(
            enrolment_codes__code_digest=digest
        )
        if password:
            try:
                validate_password(password, user=patient.user)
            except DjangoValidationError as exc:
                # Leaves the code unspent: the atomic block rolls the UPDATE back.
                raise DomainValidationError(
                    {
                        "password": [
                            (e.code or "invalid", str(e.message % (e.params or {})))
                            for e in exc.error_list
                        ]
                    }
                ) from exc
            patient.user.set_password(password)
            patient.user.save(update_fields=["password"])
    return patient
