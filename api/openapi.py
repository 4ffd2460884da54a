"""OpenAPI: one documented error shape for every 400 (docs/house/API.md), whatever the code."""

from django.db import models
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_standardized_errors.openapi import AutoSchema as StandardizedAutoSchema
from drf_standardized_errors.openapi_serializers import ClientErrorEnum
from rest_framework import serializers


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse400Serializer(serializers.Serializer):
    """Bad input: each error names its field (`attr`, e.g. responses.0.answers.item9)."""

    type = serializers.ChoiceField(choices=["validation_error", "client_error"])
    errors = ErrorItemSerializer(many=True)


class AutoSchema(StandardizedAutoSchema):
    def _should_add_validation_error_response(self) -> bool:
        # Query parameters and domain rules can refuse any operation that takes input.
        return bool(
            super()._should_add_validation_error_response()
            or self.method in ("POST", "PUT", "PATCH")
            or self._get_parameters()
        )


class ErrorCode429(models.TextChoices):
    THROTTLED = "throttled"
    LOCKED_OUT = "locked_out"  # too many failed sign-ins from this address (accounts/lockout.py)


class Error429Serializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ErrorCode429.choices)
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ErrorResponse429Serializer(serializers.Serializer):
    """Too many requests, or a locked-out sign-in: wait `Retry-After` seconds."""

    type = serializers.ChoiceField(choices=ClientErrorEnum.choices)
    errors = Error429Serializer(many=True)


class TokenScheme(KnoxTokenScheme):
    """Our TokenAuthentication is knox's with one query changed: the same scheme."""

    target_class = "api.authentication.TokenAuthentication"


def anonymous_security(result, generator, request, public):
    """drf-spectacular marks an operation open to anyone as `security: [{}]` ("no scheme,
    optionally"); generated clients read that as needing an authenticated client. An
    operation with no authentication at all (sign-in, enrol) says so: `security: []`."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("security") == [{}]:
                operation["security"] = []
    return result
