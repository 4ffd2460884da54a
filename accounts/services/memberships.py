"""Staff roles at clinics."""

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from accounts.errors import DomainValidationError
from accounts.models import Clinic, ClinicMembership, ClinicSecuritySettings, Role


def membership_grant(*, user, clinic: Clinic, role: str) -> ClinicMembership:
    """Give a user a role at a clinic. Joining a clinic that requires MFA without an
    authenticator signs the user out everywhere: their tokens came from a password alone,
    and their next sign-in asks for an enrolment (accounts/services/mfa.py)."""
    if role not in Role.values:
        raise DomainValidationError.single("role", "invalid_choice", f"Unknown role '{role}'.")
    with transaction.atomic():
        membership, created = ClinicMembership.objects.get_or_create(
            user=user, clinic=clinic, role=role
        )
        if (
            created
            and ClinicSecuritySettings.objects.filter(
                clinic=clinic, require_staff_mfa=True
            ).exists()
            and not TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        ):
            AuthToken.objects.filter(user=user).delete()
    return membership
