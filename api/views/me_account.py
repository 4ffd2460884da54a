"""A patient's own account from the app: change the password, sign out the other phones."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.errors import DomainValidationError
from accounts.lockout import LockedOut, lockout_check, lockout_is_locked, lockout_record_failure
from accounts.models import ClinicMembership
from accounts.services.passwords import device_tokens_revoke_others, password_change
from notifications.services.devices import devices_unregister_other_tokens

from ..permissions import IsPatient
from ..serializers.account import PasswordChangeSerializer, SignedOutSerializer


class IsPatientOnly(IsPatient):
    """A patient's app account that is not also a staff member's: staff change their
    password and sessions with their second factor (`/account/`), not here."""

    message = "Only a patient's app account can do this."

    def has_permission(self, request, view) -> bool:
        return (
            super().has_permission(request, view)
            and not ClinicMembership.objects.filter(user=request.user).exists()
        )


class MyPasswordView(APIView):
    permission_classes = [IsPatientOnly]
    # A guess at the current password is a guess at a sign-in: throttled and locked out alike.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "sign_in"

    @extend_schema(
        operation_id="me_password_change",
        summary="Change my password; my other phones are signed out",
        description=(
            "400 `invalid_password` on `current_password` when it is wrong (it counts toward "
            "the sign-in lockout, 429 once locked); the new one must pass the password rules "
            "(400 on `new_password`). This phone stays signed in; every other token of the "
            "account is revoked and their pushes stop."
        ),
        request=PasswordChangeSerializer,
        responses={200: SignedOutSerializer, 429: OpenApiResponse(description="Locked out.")},
        tags=["me"],
    )
    def post(self, request):
        s = PasswordChangeSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        username = request.user.get_username()
        lockout_check(request=request, username=username)
        try:
            sign_out = password_change(
                user=request.user,
                current_password=s.validated_data.get("current_password"),
                new_password=s.validated_data["new_password"],
            )
        except DomainValidationError as exc:
            if "current_password" in exc.errors:
                lockout_record_failure(request=request, username=username)
                if lockout_is_locked(request=request):
                    raise LockedOut from exc
            raise
        others = _sign_out_others(request) if sign_out else 0
        return Response(SignedOutSerializer({"signed_out": others}).data)


class MySignOutOthersView(APIView):
    permission_classes = [IsPatientOnly]

    @extend_schema(
        operation_id="me_sign_out_others",
        summary="Sign out every other phone of my account (this one stays signed in)",
        request=None,
        responses={200: SignedOutSerializer},
        tags=["me"],
    )
    def post(self, request):
        return Response(SignedOutSerializer({"signed_out": _sign_out_others(request)}).data)


def _sign_out_others(request) -> int:
    # Their push registrations first: revoking a token nulls its registrations' link.
    devices_unregister_other_tokens(user=request.user, keep=request.auth)
    return device_tokens_revoke_others(user=request.user, keep=request.auth)
