"""Shapes for treatment records: courses and infusions."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from outcomes.models import CourseKind, Infusion, MonitoringSession, Product, Route, TreatmentCourse
from outcomes.selectors.visits import visit_summary
from outcomes.services.infusions import (
    SIDE_EFFECTS,
    VITALS_RANGES,
    medication_warnings,
    vitals_warnings,
)
from outcomes.services.patients import age_on

from .fields import AwareDateTimeField


class VitalsSerializer(serializers.Serializer):
    systolic_mmhg = serializers.IntegerField(
        required=False,
        min_value=VITALS_RANGES["systolic_mmhg"][0],
        max_value=VITALS_RANGES["systolic_mmhg"][1],
    )
    diastolic_mmhg = serializers.IntegerField(
        required=False,
        min_value=VITALS_RANGES["diastolic_mmhg"][0],
        max_value=VITALS_RANGES["diastolic_mmhg"][1],
    )
    heart_rate_bpm = serializers.IntegerField(
        required=False,
        min_value=VITALS_RANGES["heart_rate_bpm"][0],
        max_value=VITALS_RANGES["heart_rate_bpm"][1],
    )
    spo2_pct = serializers.IntegerField(
        required=False,
        min_value=VITALS_RANGES["spo2_pct"][0],
        max_value=VITALS_RANGES["spo2_pct"][1],
    )


class MedicationSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    dose = serializers.CharField(max_length=100, required=False, allow_blank=True)


class TreatmentCourseSerializer(serializers.ModelSerializer):
    class Meta:
        model = TreatmentCourse
        fields = ["id", "kind", "started_on", "ended_on", "notes", "created_at"]
        read_only_fields = ["id", "created_at", "ended_on"]


class TreatmentCourseCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CourseKind.choices)
    started_on = serializers.DateField()
    notes = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class MedicationMatchSerializer(serializers.Serializer):
    ingredient = serializers.CharField()
    drug_class = serializers.ChoiceField(choices=["benzodiazepine", "z_drug", "stimulant", "maoi"])
    matched = serializers.CharField(help_text="The name that matched, e.g. 'Ativan'.")


class InfusionSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="patient_id", read_only=True)
    course = serializers.UUIDField(source="course_id", allow_null=True, read_only=True)
    duration_minutes = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    medication_matches = MedicationMatchSerializer(many=True)
    age_years = serializers.SerializerMethodField()
    visit = serializers.SerializerMethodField()
    vitals_before = VitalsSerializer()
    vitals_after = VitalsSerializer()
    concomitant_medications = MedicationSerializer(many=True)

    class Meta:
        model = Infusion
        fields = [
            "id",
            "patient",
            "course",
            "status",
            "scheduled_at",
            "planned_duration_minutes",
            "started_at",
            "ended_at",
            "duration_minutes",
            "weight_kg",
            "dose_mg_per_kg",
            "total_dose_mg",
            "observation_minutes",
            "vitals_before",
            "vitals_after",
            "side_effects",
            "concomitant_medications",
            "benzodiazepine_recorded",
            "medication_matches",
            "medication_table_version",
            "product",
            "route",
            "age_years",
            "dose_override_reason",
            "warnings",
            "visit",
            "cancelled_at",
            "cancel_reason",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_duration_minutes(self, obj) -> int | None:
        if obj.started_at and obj.ended_at:
            return round((obj.ended_at - obj.started_at).total_seconds() / 60)
        return None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, obj) -> list[str]:
        settings_row = self.context.get("visit_settings")
        return medication_warnings(obj) + vitals_warnings(obj, settings_row=settings_row)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_age_years(self, obj) -> int | None:
        """Age on the day of the infusion, from the patient's date of birth."""
        return age_on(obj.patient.date_of_birth, (obj.started_at or obj.scheduled_at).date())

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_visit(self, obj) -> dict | None:
        """The visit's summary (monitoring, alerts, discharge, REMS), if one was recorded."""
        try:
            session = obj.visit
        except MonitoringSession.DoesNotExist:
            return None
        return visit_summary(session)


class InfusionWriteSerializer(serializers.Serializer):
    """Create (scheduled_at required) or change (every field optional) an infusion."""

    course = serializers.UUIDField(required=False, allow_null=True)
    scheduled_at = AwareDateTimeField()
    planned_duration_minutes = serializers.IntegerField(min_value=1, max_value=240, required=False)
    started_at = AwareDateTimeField(required=False, allow_null=True)
    ended_at = AwareDateTimeField(required=False, allow_null=True)
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=20, max_value=350, required=False, allow_null=True
    )
    dose_mg_per_kg = serializers.DecimalField(
        max_digits=5, decimal_places=3, min_value=0, max_value=2, required=False, allow_null=True
    )
    total_dose_mg = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=0, max_value=1000, required=False, allow_null=True
    )
    observation_minutes = serializers.IntegerField(
        min_value=0, max_value=600, required=False, allow_null=True
    )
    vitals_before = VitalsSerializer(required=False)
    vitals_after = VitalsSerializer(required=False)
    side_effects = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(SIDE_EFFECTS)), required=False, max_length=20
    )
    concomitant_medications = MedicationSerializer(many=True, required=False, max_length=50)
    product = serializers.ChoiceField(choices=Product.choices, required=False)
    route = serializers.ChoiceField(choices=Route.choices, required=False)
    dose_override_reason = serializers.CharField(
        max_length=300,
        required=False,
        allow_blank=True,
        help_text="Why a dose outside the clinic's range for the product and route is given.",
    )


class InfusionCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class MyInfusionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Infusion
        fields = [
            "id",
            "status",
            "scheduled_at",
            "planned_duration_minutes",
            "started_at",
            "ended_at",
        ]
