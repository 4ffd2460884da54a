from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from notifications.services.devices import (
    devices_unregister_for_token,
    devices_unregister_for_user,
)
from outcomes.errors import DomainValidationError
from outcomes.selectors import memberships_for
from outcomes.services import enrolment_code_redeem

from ..auth import device_token_issue, device_token_revoke, device_tokens_revoke_all
from ..serializers import AccountSerializer, EnrolSerializer, SignInSerializer, TokenSerializer


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
        summary="Sign in with username and password; get a token for this device",
        request=SignInSerializer,
        responses={200: TokenSerializer},
        tags=["auth"],
    )
    def post(self, request):
        s = SignInSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        user = authenticate(
            request, username=s.validated_data["username"], password=s.validated_data["password"]
        )
        if user is None or not user.is_active:
            raise DomainValidationError.single(
                "non_field_errors", "invalid_credentials", "Unknown username or wrong password."
            )
        return _token_response(user)


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


class AccountView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="account_retrieve",
        summary="Who is signed in, and their roles",
        responses={200: AccountSerializer},
        tags=["auth"],
    )
    def get(self, request):
        user = request.user
        patient = getattr(user, "patient", None)
        body = {
            "id": user.id,
            "username": user.username,
            "kind": _kind(user),
            "patient_id": patient.id if patient else None,
            "memberships": list(memberships_for(user=user)),
        }
        return Response(AccountSerializer(body).data)
