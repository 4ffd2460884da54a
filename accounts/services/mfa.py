"""Second factor for staff: TOTP (django-otp's TOTPDevice and its verification).

Who must present a code: anyone with a confirmed authenticator, and every staff member
(anyone with a ClinicMembership) of a clinic whose security settings require it. Patients
never (their phone holds a per-device token from a single-use enrolment code).

Sign-in is two steps (README, "Accounts and security"): the password step answers a
short-lived, single-use challenge instead of a token; `POST /auth/sign-in/verify/` with the
challenge and a code answers the token. A staff member whose clinic requires MFA but who
has no authenticator yet gets an enrolment challenge *without* a secret: a password alone
must not let anyone choose the account's second factor. A clinic admin issues a staff MFA
enrolment code out of band (single use, hashed at rest, expiring); the challenge and that
code answer the secret (`POST /auth/sign-in/enrol/`), and its first code enrols the
authenticator and signs in. Confirming an authenticator, by either path, revokes the
account's other tokens: they were issued on a password alone.

Replayed codes fail (django-otp keeps the last time step used, and the device row is locked
while a code is checked); failed codes, and wrong enrolment codes, count toward the lockout
(accounts/lockout.py).
"""

import hashlib
import secrets
from base64 import b32encode
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from accounts.audit import audit_action, audit_refused
from accounts.errors import ConflictError, DomainValidationError, NotFoundError
from accounts.models import (
    Clinic,
    ClinicMembership,
    ClinicSecuritySettings,
    MfaChallenge,
    MfaPurpose,
    StaffMfaEnrolmentCode,
)

_SALT = "afterglow.mfa.challenge"
DEVICE_NAME = "Authenticator"
# No 0/O, 1/I/L: read aloud or typed from a message. 12 of 31 symbols: about 59 bits.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 12


def _invalid_code() -> DomainValidationError:
    return DomainValidationError.single(
        "code", "invalid_code", "This code is not valid (wrong, expired or already used)."
    )


def _invalid_challenge() -> DomainValidationError:
    return DomainValidationError.single(
        "challenge", "invalid_challenge", "This sign-in challenge is not valid or has expired."
    )


def _invalid_enrolment_code() -> DomainValidationError:
    return DomainValidationError.single(
        "enrolment_code",
        "invalid_enrolment_code",
        "This MFA enrolment code is not valid (wrong, expired or already used).",
    )


def _already_enrolled() -> ConflictError:
    return ConflictError(
        code="mfa_already_enrolled",
        detail="An authenticator is enrolled; remove it before enrolling another.",
    )


# --- who must present a code ---------------------------------------------------------------
def mfa_clinic_requires(*, user) -> bool:
    """Whether a clinic this user is a staff member of requires MFA."""
    return ClinicSecuritySettings.objects.filter(
        clinic__memberships__user=user, require_staff_mfa=True
    ).exists()


def mfa_confirmed_device(*, user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def mfa_required_for(*, user) -> bool:
    """A confirmed authenticator is always asked for; a clinic's requirement reaches its
    staff members (by membership: a patient's app account has none, and a staff member who
    is also someone's patient is still staff)."""
    return mfa_confirmed_device(user=user) is not None or mfa_clinic_requires(user=user)


def _verify(*, device: TOTPDevice, code: str) -> bool:
    """Check a code with the device row locked, so two requests cannot both spend one code
    (django-otp refuses a time step at or before `last_t`, and throttles failures)."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        ok = locked.verify_token(code.strip().replace(" ", ""))
    device.refresh_from_db()
    return ok


@transaction.atomic
def _device_confirm(*, device: TOTPDevice, keep_token: AuthToken | None = None) -> None:
    """Make `device` the account's one authenticator. The user row is locked, so of two
    confirmations racing (two pending devices, two requests) exactly one wins; the other is
    refused. Tokens issued before (on a password alone) are revoked, except `keep_token`,
    the caller's own, which has just proven the password and this device."""
    User = get_user_model()
    User.objects.select_for_update().filter(pk=device.user_id).first()
    if TOTPDevice.objects.filter(user_id=device.user_id, confirmed=True).exists():
        raise _already_enrolled()
    if TOTPDevice.objects.filter(pk=device.pk, confirmed=False).update(confirmed=True) != 1:
        raise _already_enrolled()  # removed or confirmed meanwhile
    # The one authenticator: any other pending secret stops working.
    TOTPDevice.objects.filter(user_id=device.user_id, confirmed=False).delete()
    stale = AuthToken.objects.filter(user_id=device.user_id)
    if keep_token is not None:
        stale = stale.exclude(digest=keep_token.digest)
    stale.delete()
    device.refresh_from_db()


# --- enrolment by a signed-in staff member ---------------------------------------------------
@dataclass(frozen=True)
class Provisioning:
    device: TOTPDevice
    otpauth_uri: str
    secret: str  # base32, for typing into an authenticator by hand


def _provisioning(device: TOTPDevice) -> Provisioning:
    return Provisioning(
        device=device,
        otpauth_uri=device.config_url,
        secret=b32encode(device.bin_key).decode(),
    )


@transaction.atomic
def totp_device_start(*, user) -> Provisioning:
    """A new, unconfirmed authenticator (its secret is shown once); any earlier unconfirmed
    one stops working. The caller has re-entered the password (the view checks it). One
    authenticator per person: remove the old one first."""
    if mfa_confirmed_device(user=user) is not None:
        raise _already_enrolled()
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return _provisioning(device)


def totp_device_confirm(*, user, code: str, keep_token: AuthToken | None = None) -> TOTPDevice:
    """Confirm the pending authenticator with its first code; the account's other tokens are
    revoked (all but `keep_token`). 409 when an authenticator is already confirmed."""
    if mfa_confirmed_device(user=user) is not None:
        raise _already_enrolled()
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        raise DomainValidationError.single(
            "non_field_errors", "no_pending_authenticator", "Start an enrolment first."
        )
    if not _verify(device=device, code=code):
        raise _invalid_code()
    _device_confirm(device=device, keep_token=keep_token)
    return device


def totp_device_remove(*, user, code: str) -> None:
    """Remove the authenticator, proven by one of its codes. Where a clinic requires MFA,
    the next sign-in asks for a new enrolment (with a new code from a clinic admin)."""
    device = mfa_confirmed_device(user=user)
    if device is None:
        raise DomainValidationError.single(
            "non_field_errors", "no_authenticator", "No authenticator is enrolled."
        )
    if not _verify(device=device, code=code):
        raise _invalid_code()
    TOTPDevice.objects.filter(user=user).delete()


# --- a clinic admin's permission to enrol a first authenticator -----------------------------
def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _code_digest(code: str) -> str:
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def staff_mfa_enrolment_code_issue(
    *, clinic: Clinic, user_id: UUID, issued_by
) -> tuple[StaffMfaEnrolmentCode, str]:
    """A fresh single-use code for a staff member of `clinic` to enrol their first
    authenticator at sign-in; any earlier live code of theirs stops working. Returns the row
    and the code (shown once; only its digest is kept).

    The issuing admin must have an authenticator of their own (as for requiring MFA of the
    clinic's staff): the code vouches for a second factor, so it must not come from an
    account that a password alone opens."""
    User = get_user_model()
    if not ClinicMembership.objects.filter(clinic=clinic, user_id=user_id).exists():
        raise NotFoundError
    if mfa_confirmed_device(user=issued_by) is None:
        raise DomainValidationError.single(
            "non_field_errors",
            "mfa_enrolment_required",
            "Enrol your own authenticator before issuing MFA enrolment codes.",
        )
    now = timezone.now()
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    with transaction.atomic():
        # Serialises issuers: the partial unique constraint allows one live code per user.
        user = User.objects.select_for_update().get(pk=user_id)
        if mfa_confirmed_device(user=user) is not None:
            raise _already_enrolled()
        StaffMfaEnrolmentCode.objects.filter(
            user=user, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        row = StaffMfaEnrolmentCode.objects.create(
            user=user,
            clinic=clinic,
            issued_by=issued_by,
            code_digest=_code_digest(code),
            expires_at=now + timedelta(hours=settings.AFTERGLOW_STAFF_MFA_CODE_TTL_HOURS),
        )
    return row, "-".join(code[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


# --- the sign-in challenge ---------------------------------------------------------------------
@dataclass(frozen=True)
class Challenge:
    row: MfaChallenge
    token: str

    @property
    def enrolment_required(self) -> bool:
        return self.row.purpose == MfaPurpose.ENROL


def _challenge_token(row: MfaChallenge) -> str:
    return signing.dumps(str(row.id), salt=_SALT)


@transaction.atomic
def mfa_challenge_issue(*, user) -> Challenge:
    """After a correct password, for a user who must present a code. Creates no device and
    touches none: a password alone neither learns a secret nor disturbs an enrolment."""
    now = timezone.now()
    MfaChallenge.objects.filter(user=user, expires_at__lt=now).delete()
    expires_at = now + timedelta(seconds=settings.AFTERGLOW_MFA_CHALLENGE_TTL_SECONDS)
    enrolled = mfa_confirmed_device(user=user) is not None
    row = MfaChallenge.objects.create(
        user=user,
        purpose=MfaPurpose.SIGN_IN if enrolled else MfaPurpose.ENROL,
        expires_at=expires_at,
    )
    return Challenge(row=row, token=_challenge_token(row))


def mfa_challenge_open(*, token: str) -> MfaChallenge:
    """The live challenge behind a token, or invalid_challenge."""
    try:
        challenge_id = UUID(
            signing.loads(token, salt=_SALT, max_age=settings.AFTERGLOW_MFA_CHALLENGE_TTL_SECONDS)
        )
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise _invalid_challenge() from exc
    row = (
        MfaChallenge.objects.select_related("user", "device")
        .filter(id=challenge_id, used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if row is None or not row.user.is_active:
        raise _invalid_challenge()
    return row


@dataclass(frozen=True)
class Enrolment:
    provisioning: Provisioning
    challenge: Challenge  # the same challenge, re-signed, with a fresh expiry


def mfa_challenge_enrol(*, challenge: MfaChallenge, enrolment_code: str) -> Enrolment:
    """Spend a clinic admin's staff MFA enrolment code on an enrolment challenge: a new
    pending authenticator bound to this challenge, its secret shown once. The challenge's
    clock restarts, so there is time to scan the QR code. A wrong code raises
    invalid_enrolment_code (the view counts it toward the lockout) and spends nothing."""
    if challenge.purpose != MfaPurpose.ENROL or challenge.device_id is not None:
        raise _invalid_challenge()
    user = challenge.user
    if mfa_confirmed_device(user=user) is not None:
        raise _already_enrolled()
    now = timezone.now()
    with transaction.atomic():
        # A conditional UPDATE: of two requests racing with one code, exactly one wins.
        won = StaffMfaEnrolmentCode.objects.filter(
            user=user,
            code_digest=_code_digest(enrolment_code),
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(used_at=now)
        if won != 1:
            raise _invalid_enrolment_code()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
        expires_at = now + timedelta(seconds=settings.AFTERGLOW_MFA_CHALLENGE_TTL_SECONDS)
        bound = MfaChallenge.objects.filter(
            pk=challenge.pk, device__isnull=True, used_at__isnull=True, expires_at__gt=now
        ).update(device=device, expires_at=expires_at)
        if bound != 1:
            raise _invalid_challenge()  # rolls back: the enrolment code stays unspent
    challenge.refresh_from_db()
    return Enrolment(
        provisioning=_provisioning(device),
        challenge=Challenge(row=challenge, token=_challenge_token(challenge)),
    )


def mfa_challenge_complete(*, challenge: MfaChallenge, code: str) -> bool:
    """Check the code against the challenge's authenticator; on success spend the challenge
    (once: a conditional UPDATE) and, for an enrolment, confirm the authenticator (which
    revokes the account's earlier tokens). False for a wrong or replayed code (the challenge
    stays usable until it expires)."""
    if challenge.purpose == MfaPurpose.ENROL:
        device = challenge.device
        if device is None:
            raise DomainValidationError.single(
                "challenge",
                "mfa_enrolment_code_required",
                "Send this challenge and your MFA enrolment code to /auth/sign-in/enrol/ first.",
            )
    else:
        device = mfa_confirmed_device(user=challenge.user)
    if device is None or not _verify(device=device, code=code):
        return False
    with transaction.atomic():
        won = MfaChallenge.objects.filter(
            pk=challenge.pk, used_at__isnull=True, expires_at__gt=timezone.now()
        ).update(used_at=timezone.now())
        if won != 1:
            raise _invalid_challenge()
        if challenge.purpose == MfaPurpose.ENROL:
            _device_confirm(device=device)
    return True


def mfa_expired_purge(*, now: datetime | None = None) -> tuple[int, int]:
    """Delete expired sign-in challenges and expired, never-used staff MFA enrolment codes
    (nightly, api/tasks.py). Used codes stay: who enrolled with whose permission."""
    now = now or timezone.now()
    challenges, _ = MfaChallenge.objects.filter(expires_at__lt=now).delete()
    codes, _ = StaffMfaEnrolmentCode.objects.filter(
        expires_at__lt=now, used_at__isnull=True
    ).delete()
    return challenges, codes


# --- the clinic's setting ---------------------------------------------------------------------
def clinic_security_settings_for(*, clinic: Clinic) -> ClinicSecuritySettings:
    return ClinicSecuritySettings.objects.filter(clinic=clinic).first() or (
        ClinicSecuritySettings(clinic=clinic)
    )


# Each setting's weaker value, and the audit log's name for a change to each value. A new
# setting adds its entries here: weakening any of them then takes a fresh code, and every
# change is recorded under its name.
_WEAKER: dict[str, object] = {"require_staff_mfa": False}
_CHANGE_ACTIONS: dict[str, dict[object, str]] = {
    "require_staff_mfa": {False: "mfa_off", True: "mfa_on"},
}


def _weakened(row: ClinicSecuritySettings, wanted: dict[str, object]) -> list[str]:
    return [f for f, v in wanted.items() if v != getattr(row, f) and v == _WEAKER[f]]


def _refused(clinic: Clinic, error: DomainValidationError) -> DomainValidationError:
    audit_refused(clinic_id=clinic.pk)
    return error


def _fresh_code_checked(*, clinic: Clinic, user, code: str | None) -> None:
    """The admin's own authenticator vouches for this change now: a token alone (a stolen
    laptop, a leaked token) must not switch a clinic's second factor off. The same check as
    removing an authenticator (`_verify`: a replayed code fails, a wrong one is throttled),
    made outside any transaction of the caller's so a failure's count is kept."""
    device = mfa_confirmed_device(user=user)
    if device is None:
        raise _refused(
            clinic,
            DomainValidationError.single(
                "require_staff_mfa",
                "mfa_enrolment_required",
                "Enrol your own authenticator before weakening your clinic's sign-in policy.",
            ),
        )
    if not code:
        raise _refused(
            clinic,
            DomainValidationError.single(
                "code",
                "mfa_code_required",
                "Weakening the clinic's sign-in policy takes a code from your authenticator.",
            ),
        )
    if not _verify(device=device, code=code):
        raise _refused(clinic, _invalid_code())


def clinic_security_settings_update(
    *,
    clinic: Clinic,
    changed_by,
    require_staff_mfa: bool | None = None,
    code: str | None = None,
) -> ClinicSecuritySettings:
    """Change the clinic's sign-in policy; every change is audited by name (`mfa_on`,
    `mfa_off`).

    Weakening it (turning `require_staff_mfa` off) takes a fresh code from the admin's own
    authenticator (`code`): refused without one (`mfa_code_required`), with a wrong or used
    one (`invalid_code`, which the view counts toward the lockout), or if the admin has no
    authenticator (`mfa_enrolment_required`); each refusal is audited. Turning MFA on signs
    out the clinic's staff who have no authenticator (their tokens came from a password
    alone); the admin who turns it on must have one, so as not to lock themselves out."""
    wanted: dict[str, object] = {
        f: v for f, v in {"require_staff_mfa": require_staff_mfa}.items() if v is not None
    }
    verified = False
    if _weakened(clinic_security_settings_for(clinic=clinic), wanted):
        _fresh_code_checked(clinic=clinic, user=changed_by, code=code)
        verified = True
    with transaction.atomic():
        row, _ = ClinicSecuritySettings.objects.select_for_update().get_or_create(clinic=clinic)
        changed = {f: v for f, v in wanted.items() if getattr(row, f) != v}
        if not changed:
            return row
        if _weakened(row, changed) and not verified:
            # Strengthened by another admin since the first read: now this weakens it.
            raise _refused(
                clinic,
                DomainValidationError.single(
                    "code",
                    "mfa_code_required",
                    "Weakening the clinic's sign-in policy takes a code from your authenticator.",
                ),
            )
        if changed.get("require_staff_mfa") is True:
            if mfa_confirmed_device(user=changed_by) is None:
                raise _refused(
                    clinic,
                    DomainValidationError.single(
                        "require_staff_mfa",
                        "mfa_enrolment_required",
                        "Enrol your own authenticator before requiring one of your staff.",
                    ),
                )
            staff = ClinicMembership.objects.filter(clinic=clinic).values("user_id")
            unprotected = staff.exclude(
                user_id__in=TOTPDevice.objects.filter(confirmed=True).values("user_id")
            )
            AuthToken.objects.filter(user_id__in=unprotected).delete()
        for f, v in changed.items():
            setattr(row, f, v)
        row.save(update_fields=[*changed, "updated_at"])
    for f, v in changed.items():
        audit_action(action=_CHANGE_ACTIONS[f][v], clinic_id=clinic.pk)
    return row
