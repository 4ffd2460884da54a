"""Fields the API's shapes share."""

from django.utils.dateparse import parse_datetime
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """An instant with its offset (API.md: "a naive time is refused with 400, never
    guessed"); returned in UTC like every other."""

    default_error_messages = {
        "naive": "An instant with its offset, e.g. 2026-11-23T15:04:05Z.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


class StrictUUIDField(serializers.UUIDField):
    """A UUID in its text form only: DRF's own field turns an integer into a UUID
    (`uuid.UUID(int=7)`), which is no client-chosen id (issue 15)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
