"""Shapes for a signed-in user's own account: password, other devices."""

from rest_framework import serializers


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(
        max_length=256,
        required=False,
        allow_blank=True,
        style={"input_type": "password"},
        help_text="Required when the account has a password (a patient enrolled without one "
        "sets their first without it).",
    )
    new_password = serializers.CharField(max_length=256, style={"input_type": "password"})


class SignedOutSerializer(serializers.Serializer):
    signed_out = serializers.IntegerField(help_text="How many other devices were signed out.")
