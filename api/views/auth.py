from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.errors import DomainValidationError
from accounts.lockout import (
    LockedOut,
    lockout_check,
    lockout_is_locked,
    lockout_record_failure,
    lockout_record_success,
)
from accounts.models import Clinic, Role
from accounts.selectors import access_clinic, memberships_for
from accounts.services.mfa import (
    Challenge,
    Provisioning,
    clinic_security_settings_for,
    clinic_security_settings_update,
    mfa_challenge_complete,
    mfa_challenge_enrol,
    mfa_challenge_issue,
    mfa_challenge_open,
    mfa_clinic_requires,
    mfa_confirmed_device,
    mfa_required_for,
    staff_mfa_enrolment_code_issue,
    totp_device_confirm,
    totp_device_remove,
    totp_device_start,
)
from accounts.services.tokens import (
    device_token_issue,
    device_token_revoke,
    device_tokens_revoke_all,
)
from notifications.services.devices import (
    devices_unregister_for_token,
    devices_unregister_for_user,
)
from notifications.services.pager import pager_phone_set
from outcomes.services import enrolment_code_redeem

from ..permissions import IsStaffWithRole
from ..serializers import (
    AccountSerializer,
    AccountUpdateSerializer,
    ClinicSecuritySettingsSerializer,
    ConflictErrorSerializer,
    EnrolSerializer,
    MfaEnrolmentStartedSerializer,
    MfaEnrolSerializer,
    MfaVerifySerializer,
    SignInResultSerializer,
    SignInSerializer,
    StaffMfaEnrolmentCodeSerializer,
    TokenSerializer,
    TotpCodeSerializer,
    TotpProvisioningSerializer,
    TotpStartSerializer,
    TotpStatusSerializer,
)


def _kind(user) -> str:
    return "patient" if hasattr(user, "patient") else "staff"


def _token_response(user, status_code=status.HTTP_200_OK) -> Response:
    token_row, token = device_token_issue(user=user)
    body = {
        "token": token,
        "expiry": token_row.expiry,
        "username": user.username,
        "kind": _kind(user),
    }
    return Response(TokenSerializer(body).data, status=status_code)


class SignInView(APIView):
    """Staff, and patients who set a password, sign in with username and password."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "sign_in"

    @extend_schema(
        operation_id="auth_sign_in",
        summary="Sign in with username and password; get a token, or an MFA challenge",
        description=(
            "`status` says what follows. `signed_in`: the body carries the token. "
            "`mfa_required` (staff with an authenticator, or whose clinic requires one): no "
            "token yet; send `challenge` and an authenticator code to `/auth/sign-in/verify/`. "
            "`mfa_enrolment_required` (the clinic requires an authenticator and the staff "
            "member has none): no secret and no token; send `challenge` and the MFA enrolment "
            "code a clinic admin issued to `/auth/sign-in/enrol/`. Too many failures for this "
            "username from this address: 429 `locked_out` with `Retry-After`."
        ),
        request=SignInSerializer,
        responses={200: SignInResultSerializer},
        tags=["auth"],
    )
    def post(self, request):
        s = SignInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        # django-axes watches authenticate() and flags a lockout on Django's request (the
        # one DRF wraps), where its middleware and accounts/lockout.py look for it.
        user = authenticate(
            request._request,
            username=s.validated_data["username"],
            password=s.validated_data["password"],
        )
        if lockout_is_locked(request=request):
            raise LockedOut
        if user is None or not user.is_active:
            raise DomainValidationError.single(
                "non_field_errors", "invalid_credentials", "Unknown username or wrong password."
            )
        if mfa_required_for(user=user):
            return Response(_challenge_body(mfa_challenge_issue(user=user)))
        lockout_record_success(request=request, user=user)
        return _token_response(user)


def _provisioning_body(p: Provisioning) -> dict:
    return {
        "otpauth_uri": p.otpauth_uri,
        "secret": p.secret,
        "digits": p.device.digits,
        "period_seconds": p.device.step,
    }


def _challenge_body(challenge: Challenge) -> dict:
    body = {
        "status": "mfa_enrolment_required" if challenge.enrolment_required else "mfa_required",
        "challenge": challenge.token,
        "expires_at": challenge.row.expires_at,
    }
    return SignInResultSerializer.serializers[body["status"]](body).data


def _failure_counted(request, username: str, exc: DomainValidationError, attr: str) -> None:
    """A wrong second factor (or enrolment code) counts like a wrong password."""
    if attr in exc.errors:
        lockout_record_failure(request=request, username=username)
        if lockout_is_locked(request=request):
            raise LockedOut from exc


class SignInEnrolView(APIView):
    """A staff member's first authenticator at sign-in, with a clinic admin's code."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "sign_in"

    @extend_schema(
        operation_id="auth_sign_in_enrol",
        summary="Enrol a first authenticator during sign-in, with a clinic admin's code",
        description=(
            "For an `mfa_enrolment_required` challenge: the staff MFA enrolment code (single "
            "use, issued by an admin of one of your clinics) answers a new authenticator's "
            "secret, shown once, and the challenge renewed. Send the renewed challenge and the "
            "authenticator's first code to `/auth/sign-in/verify/`. A wrong code is 400 "
            "`invalid_enrolment_code` and counts toward the lockout (429 `locked_out`)."
        ),
        request=MfaEnrolSerializer,
        responses={
            200: MfaEnrolmentStartedSerializer,
            409: OpenApiResponse(ConflictErrorSerializer, description="Already enrolled."),
        },
        tags=["auth"],
    )
    def post(self, request):
        s = MfaEnrolSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        challenge = mfa_challenge_open(token=s.validated_data["challenge"])
        username = challenge.user.get_username()
        lockout_check(request=request, username=username)
        try:
            enrolment = mfa_challenge_enrol(
                challenge=challenge, enrolment_code=s.validated_data["enrolment_code"]
            )
        except DomainValidationError as exc:
            _failure_counted(request, username, exc, "enrolment_code")
            raise
        body = {
            "challenge": enrolment.challenge.token,
            "expires_at": enrolment.challenge.row.expires_at,
            "totp": _provisioning_body(enrolment.provisioning),
        }
        return Response(MfaEnrolmentStartedSerializer(body).data)


class SignInVerifyView(APIView):
    """The second step of a staff sign-in: the challenge and an authenticator code."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "sign_in"

    @extend_schema(
        operation_id="auth_sign_in_verify",
        summary="Complete a sign-in with an authenticator code; get a token for this device",
        description=(
            "The challenge is single use and expires within minutes. A wrong or already "
            "used code is 400 `invalid_code` and counts toward the lockout (429 `locked_out`); "
            "the challenge stays usable until it expires. For `mfa_enrolment_required`, after "
            "`/auth/sign-in/enrol/`, the first correct code also enrols the authenticator and "
            "revokes the account's earlier tokens."
        ),
        request=MfaVerifySerializer,
        responses={
            200: TokenSerializer,
            409: OpenApiResponse(
                ConflictErrorSerializer,
                description="Another authenticator was confirmed meanwhile (enrolment).",
            ),
        },
        tags=["auth"],
    )
    def post(self, request):
        s = MfaVerifySerializer(data=request.data)
        s.is_valid(raise_exception=True)
        challenge = mfa_challenge_open(token=s.validated_data["challenge"])
        username = challenge.user.get_username()
        lockout_check(request=request, username=username)
        if not mfa_challenge_complete(challenge=challenge, code=s.validated_data["code"]):
            lockout_record_failure(request=request, username=username)
            if lockout_is_locked(request=request):
                raise LockedOut
            raise DomainValidationError.single(
                "code", "invalid_code", "This code is not valid (wrong, expired or already used)."
            )
        lockout_record_success(request=request, user=challenge.user)
        return _token_response(challenge.user)


class EnrolView(APIView):
    """The phone's first sign-in, with the single-use code the clinic gave the patient."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "enrol"

    @extend_schema(
        operation_id="auth_enrol",
        summary="Redeem an enrolment code; get a token for this device",
        request=EnrolSerializer,
        responses={201: TokenSerializer},
        tags=["auth"],
    )
    def post(self, request):
        s = EnrolSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        patient = enrolment_code_redeem(
            code=s.validated_data["code"], password=s.validated_data.get("password")
        )
        return _token_response(patient.user, status.HTTP_201_CREATED)


class SignOutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_sign_out",
        summary="Revoke this device's token",
        request=None,
        responses={204: OpenApiResponse(description="Signed out")},
        tags=["auth"],
    )
    def post(self, request):
        # A signed-out phone must not keep receiving pushes.
        devices_unregister_for_token(auth_token=request.auth)
        device_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignOutAllView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_sign_out_all",
        summary="Revoke every token of this account",
        request=None,
        responses={204: OpenApiResponse(description="Signed out everywhere")},
        tags=["auth"],
    )
    def post(self, request):
        devices_unregister_for_user(user=request.user)
        device_tokens_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _account_body(user) -> dict:
    patient = getattr(user, "patient", None)
    return {
        "id": user.id,
        "username": user.username,
        "kind": _kind(user),
        "patient_id": patient.id if patient else None,
        "memberships": list(memberships_for(user=user)),
        "pager_phone": None if patient else user.pager_phone,
    }


class AccountView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="account_retrieve",
        summary="Who is signed in, and their roles",
        responses={200: AccountSerializer},
        tags=["auth"],
    )
    def get(self, request):
        return Response(AccountSerializer(_account_body(request.user)).data)

    @extend_schema(
        operation_id="account_update",
        summary="Change my own account: a staff member's pager number",
        description=(
            "`pager_phone` (staff only): the number, in E.164 form, that an urgent notice "
            "of a high-risk safety alert pages by SMS, beside the usual staff channels; "
            '`""` removes it. Not in E.164 form: 400 `invalid` on `pager_phone`; from a '
            "patient's account: 400 `staff_only`. Nothing is stored on a 400."
        ),
        request=AccountUpdateSerializer,
        responses={200: AccountSerializer},
        examples=[
            OpenApiExample(
                "Set my pager number", value={"pager_phone": "+15551234567"}, request_only=True
            )
        ],
        tags=["auth"],
    )
    def patch(self, request):
        s = AccountUpdateSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        if "pager_phone" in s.validated_data:
            pager_phone_set(user=request.user, pager_phone=s.validated_data["pager_phone"])
        return Response(AccountSerializer(_account_body(request.user)).data)


# --- the staff member's own authenticator -------------------------------------------------
ALL_STAFF_ROLES = frozenset(Role.values)


def _totp_status(user) -> dict:
    device = mfa_confirmed_device(user=user)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return {
        "enrolled": device is not None,
        "pending": TOTPDevice.objects.filter(user=user, confirmed=False).exists(),
        "required_by_clinic": mfa_clinic_requires(user=user),
        "created_at": device.created_at if device else None,
        "last_used_at": device.last_used_at if device else None,
    }


class _StaffAuthenticatorView(APIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = ALL_STAFF_ROLES
    # Codes are guessable one in a million: as throttled as sign-in, and failures count
    # toward the same lockout.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "sign_in"

    def _code_checked(self, request, action, **kwargs) -> None:
        s = TotpCodeSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        username = request.user.get_username()
        lockout_check(request=request, username=username)
        try:
            action(user=request.user, code=s.validated_data["code"], **kwargs)
        except DomainValidationError as exc:
            _failure_counted(request, username, exc, "code")
            raise


class MyAuthenticatorView(_StaffAuthenticatorView):
    @extend_schema(
        operation_id="account_totp_retrieve",
        summary="My authenticator (TOTP): enrolled, pending, required by my clinic",
        responses={200: TotpStatusSerializer},
        tags=["auth"],
    )
    def get(self, request):
        return Response(TotpStatusSerializer(_totp_status(request.user)).data)

    @extend_schema(
        operation_id="account_totp_start",
        summary="Start enrolling an authenticator: its secret, shown once",
        description=(
            "Takes the current password again (a wrong one is 400 `invalid_password` and "
            "counts toward the lockout). Creates an unconfirmed authenticator (any earlier "
            "unconfirmed one stops working); confirm it with its first code at "
            "`/account/totp/confirm/`. 409 `mfa_already_enrolled` when one is enrolled: "
            "remove it first."
        ),
        request=TotpStartSerializer,
        responses={
            201: TotpProvisioningSerializer,
            409: OpenApiResponse(ConflictErrorSerializer, description="Already enrolled."),
        },
        tags=["auth"],
    )
    def post(self, request):
        s = TotpStartSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        # Re-authentication: a stolen token alone must not choose the second factor. Through
        # authenticate(), so axes refuses a locked-out pair and counts a wrong password.
        user = authenticate(
            request._request,
            username=request.user.get_username(),
            password=s.validated_data["password"],
        )
        if lockout_is_locked(request=request):
            raise LockedOut
        if user is None or user.pk != request.user.pk:
            raise DomainValidationError.single(
                "password", "invalid_password", "This is not your current password."
            )
        provisioning = totp_device_start(user=request.user)
        return Response(
            TotpProvisioningSerializer(_provisioning_body(provisioning)).data,
            status=status.HTTP_201_CREATED,
        )


class MyAuthenticatorConfirmView(_StaffAuthenticatorView):
    @extend_schema(
        operation_id="account_totp_confirm",
        summary="Confirm the new authenticator with its first code",
        description=(
            "Signs out the account's other devices (their tokens were issued on a password "
            "alone); this one stays signed in. 409 `mfa_already_enrolled` when an "
            "authenticator is already confirmed."
        ),
        request=TotpCodeSerializer,
        responses={
            200: TotpStatusSerializer,
            409: OpenApiResponse(ConflictErrorSerializer, description="Already enrolled."),
        },
        tags=["auth"],
    )
    def post(self, request):
        self._code_checked(request, totp_device_confirm, keep_token=request.auth)
        return Response(TotpStatusSerializer(_totp_status(request.user)).data)


class MyAuthenticatorRemoveView(_StaffAuthenticatorView):
    @extend_schema(
        operation_id="account_totp_remove",
        summary="Remove my authenticator, proven by one of its codes",
        description=(
            "Where a clinic of yours requires MFA, your next sign-in asks you to enrol "
            "a new authenticator (with a new MFA enrolment code from a clinic admin)."
        ),
        request=TotpCodeSerializer,
        responses={204: OpenApiResponse(description="Removed")},
        tags=["auth"],
    )
    def post(self, request):
        self._code_checked(request, totp_device_remove)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the clinic's sign-in policy ------------------------------------------------------------
ADMIN_ROLES = frozenset({Role.CLINIC_ADMIN})


class ClinicSecuritySettingsUpdateSerializer(ClinicSecuritySettingsSerializer):
    # The change request: the settings and, to weaken them, a fresh authenticator code.
    # (Beside the view until api/serializers/ can take it: that module has another owner.)
    code = serializers.RegexField(
        r"^\s*\d{3}\s?\d{3}\s*$",
        max_length=12,
        required=False,
        write_only=True,
        help_text="A current code from your own authenticator: required to weaken the policy "
        "(turning `require_staff_mfa` off).",
    )


class ClinicSecuritySettingsView(APIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = ADMIN_ROLES
    # A change may carry an authenticator code: as throttled as sign-in, and wrong codes
    # count toward the same lockout.
    throttle_scope = "sign_in"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.request.method == "PATCH" else []

    def _clinic(self, clinic_id) -> Clinic:
        return access_clinic(
            user=self.request.user, clinic_id=clinic_id, roles=ADMIN_ROLES, audit=False
        )

    @extend_schema(
        operation_id="clinics_security_settings_retrieve",
        summary="The clinic's sign-in policy (clinic admins)",
        responses={200: ClinicSecuritySettingsSerializer},
        tags=["auth"],
    )
    def get(self, request, clinic_id):
        row = clinic_security_settings_for(clinic=self._clinic(clinic_id))
        return Response(ClinicSecuritySettingsSerializer(row).data)

    @extend_schema(
        operation_id="clinics_security_settings_update",
        summary="Change the clinic's sign-in policy (require an authenticator of staff)",
        description=(
            "Turning `require_staff_mfa` on signs out the clinic's staff who have no "
            "authenticator; it needs the admin's own authenticator enrolled first (400 "
            "`mfa_enrolment_required`). Turning it off (weakening the policy) takes a fresh "
            "`code` from the admin's own authenticator: 400 `mfa_code_required` without one, "
            "400 `invalid_code` for a wrong or already used one (counted toward the lockout, "
            "429 `locked_out`), 400 `mfa_enrolment_required` for an admin with no "
            "authenticator. Every change and every refused weakening is audited "
            "(`mfa_on`, `mfa_off`, `refused`)."
        ),
        request=ClinicSecuritySettingsUpdateSerializer,
        responses={200: ClinicSecuritySettingsSerializer},
        tags=["auth"],
    )
    def patch(self, request, clinic_id):
        clinic = self._clinic(clinic_id)
        s = ClinicSecuritySettingsUpdateSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        data = dict(s.validated_data)
        username = request.user.get_username()
        if data.get("code"):
            lockout_check(request=request, username=username)
        try:
            row = clinic_security_settings_update(
                clinic=clinic,
                changed_by=request.user,
                require_staff_mfa=data.get("require_staff_mfa"),
                code=data.get("code"),
            )
        except DomainValidationError as exc:
            if any(code == "invalid_code" for code, _ in exc.errors.get("code", [])):
                _failure_counted(request, username, exc, "code")
            raise
        return Response(ClinicSecuritySettingsSerializer(row).data)


class StaffMfaEnrolmentCodeView(APIView):
    """A clinic admin lets one of the clinic's staff enrol a first authenticator."""

    permission_classes = [IsStaffWithRole]
    staff_roles = ADMIN_ROLES

    @extend_schema(
        operation_id="clinics_staff_mfa_enrolment_code_create",
        summary="Issue a staff member's MFA enrolment code (clinic admins), shown once",
        description=(
            "For a staff member of this clinic with no authenticator: a single-use code, "
            "valid for 72 hours (`AFTERGLOW_STAFF_MFA_CODE_TTL_HOURS`), that lets them enrol "
            "one at sign-in (`/auth/sign-in/enrol/`). Give it to them in person or by another "
            "channel than their e-mail. Issuing a new one revokes the earlier one. Needs the "
            "admin's own authenticator (400 `mfa_enrolment_required`); 409 "
            "`mfa_already_enrolled` when the staff member has one. Audited."
        ),
        request=None,
        responses={
            201: StaffMfaEnrolmentCodeSerializer,
            409: OpenApiResponse(ConflictErrorSerializer, description="Already enrolled."),
        },
        tags=["auth"],
    )
    def post(self, request, clinic_id, user_id):
        # Audited: who let whom enrol.
        clinic = access_clinic(user=request.user, clinic_id=clinic_id, roles=ADMIN_ROLES)
        row, code = staff_mfa_enrolment_code_issue(
            clinic=clinic, user_id=user_id, issued_by=request.user
        )
        body = {
            "code": code,
            "expires_at": row.expires_at,
            "user_id": row.user_id,
            "clinic_id": row.clinic_id,
        }
        return Response(StaffMfaEnrolmentCodeSerializer(body).data, status=status.HTTP_201_CREATED)
