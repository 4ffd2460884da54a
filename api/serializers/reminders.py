"""Shapes for cadence plans, reminders, devices and reminder preferences."""

from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from notifications.cadence import DEFAULT_PLAN_STEPS
from notifications.models import (
    CadencePlan,
    Channel,
    ClinicNotificationSettings,
    Device,
    Platform,
    Reminder,
)


class CadenceStepSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=40)
    label = serializers.CharField(max_length=80, required=False, allow_blank=True)
    anchor = serializers.ChoiceField(choices=["infusion_start", "infusion_end"], required=False)
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
            "version",
            "steps",
            "created_at",
            "updated_at",
        ]


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
    infusion = serializers.UUIDField(source="infusion_id")
    plan = serializers.UUIDField(source="plan_id")

    class Meta:
        model = Reminder
        fields = [
            "id",
            "patient",
            "infusion",
            "plan",
            "plan_version",
            "step_key",
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
    paused_until = serializers.DateTimeField(allow_null=True, required=False)


class PatientReminderSettingsSerializer(ReminderPreferencesSerializer):
    cadence_plan = serializers.UUIDField(
        allow_null=True,
        required=False,
        help_text="A plan of the patient's clinic, or null for the default.",
    )


class ClinicNotificationSettingsSerializer(serializers.ModelSerializer):
    default_channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), max_length=4
    )
    quiet_hours_start = LocalTimeField(allow_null=True, required=False)
    quiet_hours_end = LocalTimeField(allow_null=True, required=False)

    class Meta:
        model = ClinicNotificationSettings
        fields = ["default_channels", "quiet_hours_start", "quiet_hours_end"]
