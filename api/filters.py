"""Query-parameter filters (django-filter), documented in the schema."""

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils.dateparse import parse_datetime
from django_filters.fields import IsoDateTimeField

from outcomes.models import CheckIn, Condition, InstrumentResponse, Patient, PatientStatus

from .serializers.fields import AwareDateTimeField

NAIVE = AwareDateTimeField.default_error_messages["naive"]


class UtcIsoDateTimeField(IsoDateTimeField):
    """ISO 8601 with its offset (API.md: a naive time is refused with 400, never guessed;
    django-filter would read it in the server's zone), handed to the database in UTC:
    PostgreSQL refuses offsets beyond +/-15:59, and a year-1 time with a positive offset
    overflows."""

    def to_python(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # not a date and time: the field's own message says so
            if parsed is not None and parsed.tzinfo is None:
                raise ValidationError(NAIVE, code="naive")
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ValidationError(
                "Enter a date and time within the supported range.", code="out_of_range"
            ) from exc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class CheckInFilter(django_filters.FilterSet):
    instrument = django_filters.CharFilter(
        method="filter_instrument",
        max_length=32,
        help_text="Only check-ins that answered this instrument (code, e.g. PHQ-9).",
    )
    answered_after = UtcDateTimeFilter(
        field_name="answered_at", lookup_expr="gte", help_text="Inclusive, ISO 8601."
    )
    answered_before = UtcDateTimeFilter(
        field_name="answered_at", lookup_expr="lt", help_text="Exclusive, ISO 8601."
    )

    class Meta:
        model = CheckIn
        fields = ["instrument", "answered_after", "answered_before"]

    def filter_instrument(self, queryset, name, value):
        return queryset.filter(
            Exists(
                InstrumentResponse.objects.filter(check_in=OuterRef("pk"), instrument_code=value)
            )
        )


class PatientFilter(django_filters.FilterSet):
    clinic = django_filters.UUIDFilter(field_name="clinic_id")
    status = django_filters.ChoiceFilter(choices=PatientStatus.choices)
    condition = django_filters.ChoiceFilter(
        choices=Condition.choices,
        method="filter_condition",
        help_text="Only patients treated for this condition.",
    )

    class Meta:
        model = Patient
        fields = ["clinic", "status", "condition"]

    def filter_condition(self, queryset, name, value):
        return queryset.filter(conditions__condition=value)


class InstrumentFilter(django_filters.FilterSet):
    code = django_filters.CharFilter(field_name="code", max_length=32)
