"""Reads of clinics and staff roles: which clinics a user reaches, and with which role.

`access_clinic` is the one check that a clinic is in the caller's reach; like
`outcomes.selectors.access_patient` it raises NotFoundError otherwise (existence is not
revealed) and marks the clinic for the audit log; a refusal is marked too.
"""

from collections.abc import Iterable
from uuid import UUID

from django.db.models import QuerySet

from accounts.audit import audit_recording, audit_refused, audit_touch
from accounts.errors import DomainValidationError, NotFoundError
from accounts.models import Clinic, ClinicMembership


def clinic_ids_for(*, user, roles: Iterable[str]) -> list[UUID]:
    if not user.is_authenticated:
        return []
    return list(
        ClinicMembership.objects.filter(user=user, role__in=list(roles))
        .values_list("clinic_id", flat=True)
        .distinct()
    )


def clinics_for_staff(*, user) -> QuerySet[Clinic]:
    return Clinic.objects.filter(memberships__user=user).distinct().order_by("name")


def memberships_for(*, user) -> QuerySet[ClinicMembership]:
    return ClinicMembership.objects.filter(user=user).select_related("clinic")


def access_clinic(
    *,
    user,
    clinic_id: UUID,
    roles: Iterable[str],
    audit: bool = True,
    field: str | None = None,
) -> Clinic:
    """The clinic, if `user` holds one of `roles` there.

    `audit` marks a read or change that covers the clinic's patients for the audit log.
    A clinic named in a path is answered 404 when out of reach; one named in a body field
    (`field`) is a 400 on that field, worded as if the clinic did not exist.
    """
    if clinic_id not in clinic_ids_for(user=user, roles=roles):
        # The refused attempt names the clinic in the audit log only if it exists.
        # An unknown clinic leaves no row (no admin could read it; guesses would fill it).
        if audit_recording() and Clinic.objects.filter(id=clinic_id).exists():
            audit_refused(clinic_id=clinic_id)
        if field is not None:
            raise DomainValidationError.single(field, "does_not_exist", "Unknown clinic.")
        raise NotFoundError
    if audit:
        audit_touch(clinic_id=clinic_id)
    return Clinic.objects.get(id=clinic_id)
