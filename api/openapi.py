"""OpenAPI: one documented error shape for every 400 (API.md), whatever the code."""

from drf_standardized_errors.openapi import AutoSchema as StandardizedAutoSchema
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
