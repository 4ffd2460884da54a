"""Accounts and tenancy: the user (staff, or a patient's app account), clinics, staff
memberships and roles, clinic security settings, MFA and the audit log. Per-device
tokens are django-rest-knox's AuthToken."""

import uuid
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords


class User(AbstractUser):
    """A person who signs in: clinic staff, or a patient through the phone app.

    Staff roles live on ClinicMembership (a role per clinic); a patient's
    account is linked from outcomes.Patient.user.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Checked as E.164 where it is set (notifications/services/pager.py, with the SMS
    # channel's own pattern): accounts sits below notifications and cannot import it.
    pager_phone = models.CharField(
        max_length=16,
        blank=True,
        default="",
        help_text="Staff only: where a high-risk safety alert pages this person by SMS.",
    )

    class Meta:
        db_table = "accounts_user"


def validate_iana_zone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"'{value}' is not an IANA time zone.") from exc


class Clinic(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_iana_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    CLINICIAN = "clinician", "Clinician"
    SCHEDULER = "scheduler", "Scheduler"
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"
    # Records the infusion visit on the floor (monitoring, dose, discharge): issue 14.
    NURSE = "nurse", "Nurse"


class ClinicMembership(models.Model):
    """A staff user's role at one clinic. A person may hold several roles at a clinic."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "clinic", "role"], name="membership_unique_role"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.role} at {self.clinic}"


class ClinicSecuritySettings(models.Model):
    """How a clinic's staff sign in. With `require_staff_mfa`, every staff member of the
    clinic signs in with a password and a TOTP code (accounts/services/mfa.py); patients
    never do."""

    clinic = models.OneToOneField(
        Clinic, on_delete=models.CASCADE, related_name="security_settings"
    )
    require_staff_mfa = models.BooleanField(
        default=False, help_text="Staff must present an authenticator code at sign-in."
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    def __str__(self) -> str:
        return f"Security settings of {self.clinic_id}"


class AuditEvent(models.Model):
    """Who read or changed which patient's health data, when and from where.

    Append-only: rows are never updated or deleted (the model refuses, and on PostgreSQL a
    trigger refuses too). Recorded for staff, not for patients reading their own data.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.UUIDField(help_text="The staff user (kept even if the user is removed).")
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=10)  # read, create, update, delete
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    view = models.CharField(max_length=100)
    status_code = models.PositiveSmallIntegerField()
    clinic_id = models.UUIDField(null=True, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "audit_event"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["clinic_id", "-at"], name="audit_clinic_time"),
            models.Index(fields=["patient_id", "-at"], name="audit_patient_time"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.path}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")


class MfaPurpose(models.TextChoices):
    SIGN_IN = "sign_in", "Sign in with a confirmed authenticator"
    ENROL = "enrol", "Enrol an authenticator during sign-in"


class MfaChallenge(models.Model):
    """The step between a correct password and a TOTP code (accounts/services/mfa.py).

    The client holds a signed reference to this row, never a token: the row is spent once
    (a conditional UPDATE) and expires within minutes. An enrolment challenge (the clinic
    requires MFA of a staff member who has none yet) names no device until a clinic admin's
    staff MFA enrolment code binds one to it; a sign-in challenge never names one.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=10, choices=MfaPurpose.choices)
    device = models.ForeignKey(
        "otp_totp.TOTPDevice", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mfa_challenge"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose__in=MfaPurpose.values), name="mfa_challenge_purpose"
            ),
            models.CheckConstraint(
                condition=~models.Q(purpose="sign_in") | models.Q(device__isnull=True),
                name="mfa_challenge_sign_in_names_no_device",
            ),
        ]

    def __str__(self) -> str:
        return f"MFA challenge {self.id}"


class StaffMfaEnrolmentCode(models.Model):
    """A clinic admin's out-of-band permission for a staff member's first authenticator.

    Without it a stolen password would be enough to enrol the thief's phone as the account's
    only second factor. Shown once, kept as a SHA-256 digest, single use (a conditional
    UPDATE), expiring; issuing a new one revokes the earlier one (at most one is live).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    issued_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    code_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "staff_mfa_enrolment_code"
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(used_at__isnull=True, revoked_at__isnull=True),
                name="staff_mfa_enrolment_code_one_live_per_user",
            ),
        ]
        indexes = [models.Index(fields=["expires_at"], name="staff_mfa_code_expiry")]

    def __str__(self) -> str:
        return f"Staff MFA enrolment code {self.id}"
