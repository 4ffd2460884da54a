"""Shapes for cadence plans, reminders, devices and reminder preferences."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.models import validate_iana_zone
from notifications.cadence import ANCHORS
from notifications.cadence_templates import DEFAULT_PLAN_STEPS
from notifications.models import (
    CadencePlan,
    Channel,
    ClinicNotificationSettings,
    Device,
    Platform,
    Reminder,
)
from outcomes.models import Condition

from .fields import AwareDateTimeField


class CadenceStepSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=40)
    label = serializers.CharField(max_length=80, required=False, allow_blank=True)
    anchor = serializers.ChoiceField(choices=list(ANCHORS), required=False)
    offset_minutes = serializers.IntegerField()
    instruments = serializers.ListField(child=serializers.CharField(max_length=32))
    window_hours = serializers.IntegerField()
    align_local_time = serializers.CharField(
        max_length=5,
        required=False,
        allow_null=True,
        help_text="Patient-local 'HH:MM' for whole-day offsets.",
    )
    nudge_count = serializers.IntegerField(required=False)
    nudge_interval_minutes = serializers.IntegerField(required=False)
    skip_maintenance = serializers.BooleanField(
        required=False,
        help_text="Not asked after a maintenance booster (an induction or a rescue asks it).",
    )


class CadencePlanSerializer(serializers.ModelSerializer):
    clinic = serializers.UUIDField(source="clinic_id")
    steps = CadenceStepSerializer(many=True)

    class Meta:
        model = CadencePlan
        fields = [
            "id",
            "clinic",
            "name",
            "is_default",
            "condition",
            "version",
            "steps",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "condition": {
                "help_text": "The condition this plan is the clinic's template for; '' for none."
            }
        }


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "The standard cadence",
            value={
                "clinic": "5b8f6d2e-8a0b-4c1e-9f55-2b7a0c3d9e11",
                "name": "Standard",
                "is_default": True,
                "steps": DEFAULT_PLAN_STEPS[:3],
            },
            request_only=True,
        )
    ]
)
class CadencePlanWriteSerializer(serializers.Serializer):
    clinic = serializers.UUIDField()
    name = serializers.CharField(max_length=100)
    is_default = serializers.BooleanField(required=False, default=False)
    steps = serializers.JSONField(help_text="The list of steps; validated by the server.")


class CadencePlanUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    is_default = serializers.BooleanField(required=False)
    steps = serializers.JSONField(required=False)


class StepAdherenceSerializer(serializers.Serializer):
    step_key = serializers.CharField()
    sent = serializers.IntegerField()
    completed = serializers.IntegerField()
    missed = serializers.IntegerField()
    pending = serializers.IntegerField()
    adherence = serializers.FloatField(allow_null=True, help_text="completed / sent")


class ReminderSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="patient_id")
    infusion = serializers.UUIDField(source="infusion_id", allow_null=True)
    plan = serializers.UUIDField(source="plan_id", allow_null=True)

    class Meta:
        model = Reminder
        fields = [
            "id",
            "patient",
            "infusion",
            "plan",
            "plan_version",
            "kind",
            "step_key",
            "reason",
            "instruments",
            "due_at",
            "window_closes_at",
            "status",
            "sent_at",
            "completed_at",
            "nudges_sent",
        ]


class OpenCheckInSerializer(serializers.ModelSerializer):
    reminder_id = serializers.UUIDField(source="id")
    closes_at = serializers.DateTimeField(source="window_closes_at")

    class Meta:
        model = Reminder
        fields = ["reminder_id", "instruments", "due_at", "closes_at"]


class ScheduleEntrySerializer(serializers.ModelSerializer):
    reminder_id = serializers.UUIDField(source="id")
    closes_at = serializers.DateTimeField(source="window_closes_at")

    class Meta:
        model = Reminder
        fields = ["reminder_id", "due_at", "closes_at", "instruments"]


class ScheduleSerializer(serializers.Serializer):
    timezone = serializers.CharField(help_text="The patient's IANA zone, for local display.")
    entries = ScheduleEntrySerializer(many=True)


class DeviceSerializer(serializers.ModelSerializer):
    enabled = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = ["id", "platform", "app_version", "enabled", "created_at", "updated_at"]

    def get_enabled(self, obj) -> bool:
        return obj.disabled_at is None


class DeviceRegisterSerializer(serializers.Serializer):
    push_token = serializers.CharField(max_length=4096, help_text="The FCM registration token.")
    platform = serializers.ChoiceField(choices=Platform.choices)
    app_version = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?$",
        "example": "21:00",
        "description": "A wall-clock time in the patient's own zone.",
    }
)
class LocalTimeField(serializers.TimeField):
    """A local time of day with no offset (quiet hours are wall-clock times), HH:MM."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)


class ReminderPreferencesSerializer(serializers.Serializer):
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        allow_null=True,
        required=False,
        max_length=4,
    )
    quiet_hours_start = LocalTimeField(allow_null=True, required=False)
    quiet_hours_end = LocalTimeField(allow_null=True, required=False)
    paused_until = AwareDateTimeField(allow_null=True, required=False)


class PatientReminderSettingsSerializer(ReminderPreferencesSerializer):
    cadence_plan = serializers.UUIDField(
        allow_null=True,
        required=False,
        help_text="A plan of the patient's clinic, or null for their conditions' templates "
        "(or the clinic's default).",
    )
    weekly_budget = serializers.IntegerField(
        min_value=1,
        max_value=21,
        allow_null=True,
        required=False,
        help_text="At most this many reminders in any 7 days before a probe is added; null: "
        "the clinic's.",
    )


class ClinicNotificationSettingsSerializer(serializers.ModelSerializer):
    default_channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), max_length=4
    )
    quiet_hours_start = LocalTimeField(allow_null=True, required=False)
    quiet_hours_end = LocalTimeField(allow_null=True, required=False)
    weekly_budget = serializers.IntegerField(
        min_value=1,
        max_value=21,
        required=False,
        help_text="The clinic's burden budget: at most this many reminders in any 7 days "
        "before the engine adds a probe.",
    )

    class Meta:
        model = ClinicNotificationSettings
        fields = ["default_channels", "quiet_hours_start", "quiet_hours_end", "weekly_budget"]


# --- the scheduler's preview -------------------------------------------------------------------
PREVIEW_PAST, PREVIEW_FUTURE, PREVIEW_SPAN = (
    timedelta(days=366),
    timedelta(days=2 * 366),
    timedelta(days=366),
)


class SampleCourseSerializer(serializers.Serializer):
    infusions = serializers.ListField(
        child=AwareDateTimeField(),
        min_length=1,
        max_length=30,
        help_text="When each infusion of the sample course starts.",
    )
    duration_minutes = serializers.IntegerField(min_value=10, max_value=240, default=40)
    timezone = serializers.CharField(max_length=64, validators=[validate_iana_zone])
    conditions = serializers.ListField(
        child=serializers.ChoiceField(choices=Condition.choices),
        required=False,
        default=list,
        max_length=len(Condition.choices),
    )
    quiet_hours_start = LocalTimeField(allow_null=True, required=False, default=None)
    quiet_hours_end = LocalTimeField(allow_null=True, required=False, default=None)

    def validate_infusions(self, value):
        # A sample course near today: the preview counts weeks, and a course spread over
        # centuries is a typo, not a plan.
        now = timezone.now()
        if any(not (now - PREVIEW_PAST <= t <= now + PREVIEW_FUTURE) for t in value):
            raise serializers.ValidationError(
                "Infusions from a year ago to two years ahead, with a time zone offset."
            )
        if max(value) - min(value) > PREVIEW_SPAN:
            raise serializers.ValidationError("A sample course spans at most a year.")
        return value

    def validate(self, attrs):
        if (attrs["quiet_hours_start"] is None) != (attrs["quiet_hours_end"] is None):
            raise serializers.ValidationError(
                {"quiet_hours_end": "Give both ends of the quiet hours, or neither."}
            )
        return attrs


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An induction of six infusions, with the templates of two conditions",
            value={
                "clinic": "5b8f6d2e-8a0b-4c1e-9f55-2b7a0c3d9e11",
                "course": {
                    "infusions": [
                        "2026-03-02T15:00:00Z",
                        "2026-03-04T15:00:00Z",
                        "2026-03-06T15:00:00Z",
                        "2026-03-09T14:00:00Z",
                        "2026-03-11T14:00:00Z",
                        "2026-03-13T14:00:00Z",
                    ],
                    "timezone": "America/New_York",
                    "conditions": ["trd", "chronic_pain"],
                },
            },
            request_only=True,
        )
    ]
)
class CadencePreviewRequestSerializer(serializers.Serializer):
    clinic = serializers.UUIDField(help_text="Whose instruments and template plans to use.")
    plan = serializers.UUIDField(required=False, help_text="A stored plan of that clinic.")
    steps = serializers.JSONField(required=False, help_text="Unsaved steps, checked as a plan's.")
    template = serializers.ChoiceField(
        choices=Condition.choices, required=False, help_text="A shipped condition template."
    )
    course = SampleCourseSerializer()

    def validate(self, attrs):
        given = [k for k in ("plan", "steps", "template") if k in attrs]
        if len(given) > 1:
            raise serializers.ValidationError(
                {
                    given[
                        1
                    ]: "Give one of plan, steps or template (or none: the course's conditions)."
                }
            )
        return attrs


class PreviewRecallSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    recall_hours = serializers.IntegerField()
    previous_closes_at = serializers.DateTimeField(
        allow_null=True, help_text="When the previous ask of this instrument closes."
    )
    gap_hours = serializers.FloatField(
        allow_null=True, help_text="From that close to this ask's opening."
    )
    ok = serializers.BooleanField()


class PreviewReminderSerializer(serializers.Serializer):
    infusion = serializers.IntegerField(help_text="The infusion's position in the course, from 0.")
    step_key = serializers.CharField()
    label = serializers.CharField()
    instruments = serializers.ListField(child=serializers.CharField())
    due_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    local_due = serializers.CharField(help_text="The due time on the patient's wall clock.")
    reason = serializers.CharField(help_text="What moved or was dropped, and why.")
    recall = PreviewRecallSerializer(many=True)


class PreviewSkippedSerializer(serializers.Serializer):
    infusion = serializers.IntegerField()
    step_key = serializers.CharField()
    instruments = serializers.ListField(child=serializers.CharField())
    due_at = serializers.DateTimeField()
    reason = serializers.CharField()


class PreviewWeekSerializer(serializers.Serializer):
    week_start = serializers.DateTimeField()
    reminders = serializers.IntegerField()


class PreviewBurdenSerializer(serializers.Serializer):
    per_week = PreviewWeekSerializer(many=True)
    max_per_week = serializers.IntegerField()
    total = serializers.IntegerField()
    in_8_weeks_after_last_infusion = serializers.IntegerField(
        help_text="Reminders in the 8 weeks after the course's last infusion (before probes)."
    )


class CadencePreviewSerializer(serializers.Serializer):
    reminders = PreviewReminderSerializer(many=True)
    skipped = PreviewSkippedSerializer(many=True)
    burden = PreviewBurdenSerializer()
    notes = serializers.ListField(child=serializers.CharField())
