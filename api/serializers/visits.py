"""Shapes for the infusion visit: the monitoring session, its readings, adverse events,
alerts, discharge, the REMS form and the clinic's visit settings."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from outcomes.models import (
    AdverseAction,
    AdverseSeverity,
    ClinicVisitSettings,
    MonitoringSession,
    Product,
    ReadingPhase,
    Route,
    VisitAdverseEvent,
    VisitAlert,
    VisitReading,
)
from outcomes.selectors.visits import visit_summary
from outcomes.services.visits import DISCHARGE_ITEMS
from outcomes.visits.thresholds import DISSOCIATION_SCALES, PLAUSIBLE, Breach

from .fields import AwareDateTimeField, StrictUUIDField


def _bounded(name: str, **kw) -> serializers.IntegerField:
    lo, hi = PLAUSIBLE[name]
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=lo, max_value=hi, **kw
    )


class ReadingWriteSerializer(serializers.Serializer):
    id = StrictUUIDField(help_text="The tablet's id for this reading: a retry reuses it.")
    taken_at = AwareDateTimeField()
    phase = serializers.ChoiceField(
        choices=ReadingPhase.choices,
        required=False,
        allow_null=True,
        help_text="Derived from the time and the infusion's start and end when omitted.",
    )
    systolic = _bounded("systolic", help_text="mmHg")
    diastolic = _bounded("diastolic", help_text="mmHg")
    heart_rate = _bounded("heart_rate", help_text="beats per minute")
    spo2 = _bounded("spo2", help_text="% by pulse oximetry")
    resp_rate = _bounded("resp_rate", help_text="breaths per minute")
    moaas = _bounded("moaas", help_text="MOAA/S, 0-5 (5: responds readily to name)")
    dissociation_scale = serializers.ChoiceField(
        choices=sorted(DISSOCIATION_SCALES), required=False, allow_blank=True
    )
    dissociation_score = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=92
    )


class ReadingSerializer(serializers.ModelSerializer):
    recorded_by = serializers.UUIDField(source="recorded_by_id", allow_null=True)

    class Meta:
        model = VisitReading
        fields = [
            "id",
            "taken_at",
            "phase",
            "systolic",
            "diastolic",
            "heart_rate",
            "spo2",
            "resp_rate",
            "moaas",
            "dissociation_scale",
            "dissociation_score",
            "recorded_by",
            "created_at",
        ]


class AdverseEventWriteSerializer(serializers.Serializer):
    id = StrictUUIDField(help_text="The tablet's id for this event: a retry reuses it.")
    occurred_at = AwareDateTimeField()
    term = serializers.CharField(max_length=40, help_text="e.g. nausea, hypertension, agitation")
    severity = serializers.ChoiceField(choices=AdverseSeverity.choices)
    serious = serializers.BooleanField(default=False)
    action_taken = serializers.ChoiceField(choices=AdverseAction.choices)
    notes = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class AdverseEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = VisitAdverseEvent
        fields = [
            "id",
            "occurred_at",
            "term",
            "severity",
            "serious",
            "action_taken",
            "notes",
            "created_at",
        ]


class VisitAlertSerializer(serializers.ModelSerializer):
    session = serializers.UUIDField(source="session_id")
    infusion = serializers.UUIDField(source="session.infusion_id")
    patient = serializers.UUIDField(source="session.infusion.patient_id")
    reading = serializers.UUIDField(source="reading_id")
    acknowledged_by = serializers.UUIDField(source="acknowledged_by_id", allow_null=True)

    class Meta:
        model = VisitAlert
        fields = [
            "id",
            "session",
            "infusion",
            "patient",
            "reading",
            "parameter",
            "value",
            "limit",
            "readings_past",
            "raised_at",
            "acknowledged_at",
            "acknowledged_by",
        ]


class HoldOverrideSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class DischargeChecklistSerializer(serializers.Serializer):
    vitals_acceptable = serializers.BooleanField(required=False)
    sedation_resolved = serializers.BooleanField(required=False)
    dissociation_resolved = serializers.BooleanField(required=False)
    ambulating_steadily = serializers.BooleanField(required=False)
    escort_present = serializers.BooleanField(required=False)
    instructions_given = serializers.BooleanField(required=False)


assert set(DischargeChecklistSerializer().fields) == set(DISCHARGE_ITEMS)


class DischargeSerializer(serializers.Serializer):
    checklist = DischargeChecklistSerializer()
    ready_to_leave_at = AwareDateTimeField(
        help_text="When the patient would have been ready to leave (without the REMS 2-hour rule)."
    )
    left_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="Every item ticked; completes the session."
    )


class MonitoringSessionSerializer(serializers.ModelSerializer):
    infusion = serializers.UUIDField(source="infusion_id")
    patient = serializers.UUIDField(source="infusion.patient_id")
    product = serializers.ChoiceField(source="infusion.product", choices=Product.choices)
    route = serializers.ChoiceField(source="infusion.route", choices=Route.choices)
    readings = ReadingSerializer(many=True)
    adverse_events = AdverseEventSerializer(many=True)
    alerts = VisitAlertSerializer(many=True)
    summary = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    hold_override_by = serializers.UUIDField(source="hold_override_by_id", allow_null=True)

    class Meta:
        model = MonitoringSession
        fields = [
            "id",
            "infusion",
            "patient",
            "product",
            "route",
            "status",
            "strict",
            "thresholds",
            "started_at",
            "on_hold",
            "hold_override_reason",
            "hold_override_by",
            "hold_override_at",
            "discharge_checklist",
            "ready_to_leave_at",
            "left_at",
            "rems_required",
            "rems_filed_at",
            "summary",
            "timeline",
            "readings",
            "adverse_events",
            "alerts",
        ]

    @extend_schema_field(serializers.DictField())
    def get_summary(self, obj) -> dict:
        return visit_summary(obj)

    @extend_schema_field(
        serializers.ListField(
            child=serializers.DictField(),
            help_text="Every reading, adverse event and alert in time order: {at, kind, id, text}.",
        )
    )
    def get_timeline(self, obj) -> list[dict]:
        start = obj.infusion.started_at
        rows = []
        for r in obj.readings.all():
            parts = []
            if r.systolic is not None or r.diastolic is not None:
                parts.append(f"BP {r.systolic or '-'}/{r.diastolic or '-'}")
            for label, value in (("HR", r.heart_rate), ("SpO2", r.spo2), ("RR", r.resp_rate)):
                if value is not None:
                    parts.append(f"{label} {value}{'%' if label == 'SpO2' else ''}")
            if r.moaas is not None:
                parts.append(f"MOAA/S {r.moaas}")
            if r.dissociation_score is not None:
                parts.append(f"{r.dissociation_scale} {r.dissociation_score}")
            rows.append((r.taken_at, "reading", r.id, ", ".join(parts)))
        for e in obj.adverse_events.all():
            text = f"{e.term} ({e.severity}{', serious' if e.serious else ''}): {e.action_taken}"
            rows.append((e.occurred_at, "adverse_event", e.id, text))
        for a in obj.alerts.all():
            text = Breach(a.parameter, a.value, a.limit).describe()
            rows.append((a.raised_at, "alert", a.id, text))
        rows.sort(key=lambda row: (row[0], row[1]))
        return [
            {
                "at": at,
                "minutes": None if start is None else int((at - start).total_seconds() // 60),
                "kind": kind,
                "id": str(pk),
                "text": text,
            }
            for at, kind, pk, text in rows
        ]


class RemsReadingSerializer(serializers.Serializer):
    taken_at = serializers.DateTimeField()
    minutes = serializers.IntegerField(allow_null=True)
    phase = serializers.CharField()
    systolic = serializers.IntegerField(allow_null=True)
    diastolic = serializers.IntegerField(allow_null=True)
    heart_rate = serializers.IntegerField(allow_null=True)
    spo2 = serializers.IntegerField(allow_null=True)
    resp_rate = serializers.IntegerField(allow_null=True)
    alert = serializers.CharField(allow_blank=True)


class RemsAdverseEventSerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField()
    term = serializers.CharField()
    severity = serializers.CharField()
    serious = serializers.BooleanField()
    action_taken = serializers.CharField()


def _texts() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField())


class RemsFormSerializer(serializers.Serializer):
    """The REMS Patient Monitoring Form as the session knows it (outcomes/visits/rems.py
    `form_json`, times in UTC): every field the form asks, `complete` and `missing`."""

    session_id = serializers.CharField()
    clinic_name = serializers.CharField()
    patient_name = serializers.CharField()
    patient_reference = serializers.CharField(allow_blank=True)
    date_of_birth = serializers.DateField(allow_null=True)
    timezone = serializers.CharField()
    session_date = serializers.DateField()
    due_on = serializers.DateField()
    product = serializers.CharField()
    dose_mg = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    dose_started_at = serializers.DateTimeField(allow_null=True)
    medications_reviewed = serializers.BooleanField()
    benzodiazepines = _texts()
    sedative_hypnotics = _texts()
    psychostimulants = _texts()
    maois = _texts()
    monitoring_started_at = serializers.DateTimeField(allow_null=True)
    monitoring_ended_at = serializers.DateTimeField(allow_null=True)
    total_minutes_monitored = serializers.IntegerField(allow_null=True)
    ready_to_leave_at = serializers.DateTimeField(allow_null=True)
    vitals_acceptable_before_dosing = serializers.BooleanField(allow_null=True)
    vitals_acceptable_before_discharge = serializers.BooleanField(allow_null=True)
    pulse_oximetry_monitored = serializers.BooleanField()
    sedation_observed = serializers.BooleanField(allow_null=True)
    dissociation_observed = serializers.BooleanField(allow_null=True)
    respiratory_depression = serializers.BooleanField(allow_null=True)
    readings = RemsReadingSerializer(many=True)
    alert_readings = RemsReadingSerializer(many=True)
    adverse_events = RemsAdverseEventSerializer(many=True)
    serious_adverse_events = RemsAdverseEventSerializer(many=True)
    filed_at = serializers.DateTimeField(allow_null=True)
    filed_by = serializers.CharField(allow_blank=True)
    complete = serializers.BooleanField()
    missing = _texts()

    def to_representation(self, instance):
        return instance  # already JSON-ready (form_json); the fields above document it


class RemsFormListItemSerializer(serializers.Serializer):
    session = serializers.UUIDField()
    infusion = serializers.UUIDField()
    patient = serializers.UUIDField()
    session_date = serializers.DateField()
    due_on = serializers.DateField()
    status = serializers.ChoiceField(choices=["due", "overdue", "filed"])
    complete = serializers.BooleanField()
    filed_at = serializers.DateTimeField(allow_null=True)


class ClinicVisitSettingsSerializer(serializers.ModelSerializer):
    """Alert and hold thresholds (the `strict_` ones for a patient's first
    `strict_infusions` infusions) and dose ranges per product and route."""

    class Meta:
        model = ClinicVisitSettings
        exclude = ["id", "clinic", "updated_at"]
