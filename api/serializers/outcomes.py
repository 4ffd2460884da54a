"""Shapes for trajectories, per-infusion outcomes, cohort durability and booster windows."""

from rest_framework import serializers

from outcomes.selectors.analytics import GROUPINGS


class BandSerializer(serializers.Serializer):
    min = serializers.FloatField()
    max = serializers.FloatField()
    label = serializers.CharField()


class ThresholdsSerializer(serializers.Serializer):
    direction = serializers.CharField()
    response_pct = serializers.FloatField()
    partial_response_pct = serializers.FloatField()
    remission_below = serializers.FloatField(allow_null=True)
    mid = serializers.FloatField(allow_null=True, help_text="Minimal important difference.")
    loss_consecutive = serializers.IntegerField()
    baseline_lookback_days = serializers.FloatField()


class PlainRows(serializers.ListSerializer):
    """Long lists of rows the view has already built from plain values (floats, ints,
    strings, UTC datetimes, which the JSON renderer writes as DRF's DateTimeField does):
    passed through as they are, documented by the child serializer. Walking DRF's fields
    over a 20,000-patient survival curve took over a second (docs/BENCHMARKS.md)."""

    def to_representation(self, data):
        return list(data)


class TrajectoryPointSerializer(serializers.Serializer):
    answered_at = serializers.DateTimeField()
    score = serializers.FloatField()
    band = serializers.CharField(allow_blank=True)

    class Meta:
        list_serializer_class = PlainRows


class InfusionOutcomeSerializer(serializers.Serializer):
    infusion_id = serializers.UUIDField()
    infusion_number = serializers.IntegerField()
    baseline = serializers.FloatField(allow_null=True)
    baseline_at = serializers.DateTimeField(allow_null=True)
    onset_hours = serializers.FloatField(allow_null=True)
    best_score = serializers.FloatField(allow_null=True)
    best_at = serializers.DateTimeField(allow_null=True)
    responded = serializers.BooleanField()
    response_at = serializers.DateTimeField(allow_null=True)
    partial_response = serializers.BooleanField()
    remitted = serializers.BooleanField()
    remission_at = serializers.DateTimeField(allow_null=True)
    lost_response_at = serializers.DateTimeField(allow_null=True)
    durability_days = serializers.FloatField(allow_null=True)
    censored = serializers.BooleanField()
    censor_reason = serializers.CharField(allow_blank=True)
    benefit_fading = serializers.BooleanField()
    status = serializers.CharField()
    assessments = serializers.IntegerField()


class InstrumentTrajectorySerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    scale_min = serializers.FloatField()
    scale_max = serializers.FloatField()
    bands = BandSerializer(many=True)
    thresholds = ThresholdsSerializer()
    points = TrajectoryPointSerializer(many=True)
    outcomes = InfusionOutcomeSerializer(many=True)


class InfusionMarkSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()


class TrajectorySerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    timezone = serializers.CharField()
    infusions = InfusionMarkSerializer(many=True)
    instruments = InstrumentTrajectorySerializer(many=True)


class TrajectoryQuerySerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, required=False)


class ChartQuerySerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, default="PHQ-9")
    format = serializers.ChoiceField(choices=["png", "svg"], default="png")


class CurvePointSerializer(serializers.Serializer):
    day = serializers.FloatField()
    survival = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()

    class Meta:
        list_serializer_class = PlainRows


class AtRiskSerializer(serializers.Serializer):
    day = serializers.FloatField()
    at_risk = serializers.IntegerField()


class RatesSerializer(serializers.Serializer):
    evaluable = serializers.IntegerField()
    responders = serializers.IntegerField()
    response_rate = serializers.FloatField(allow_null=True)
    remitters = serializers.IntegerField()
    remission_rate = serializers.FloatField(allow_null=True)


class CohortGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    responders = serializers.IntegerField(help_text="Responders whose durability is measured.")
    events = serializers.IntegerField(help_text="Responders who lost their response.")
    median_days = serializers.FloatField(allow_null=True)
    median_ci_low_days = serializers.FloatField(allow_null=True)
    median_ci_high_days = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField()
    curve = CurvePointSerializer(many=True)
    numbers_at_risk = AtRiskSerializer(many=True)
    rates = RatesSerializer()


class CohortSerializer(serializers.Serializer):
    clinic = serializers.UUIDField()
    instrument = serializers.CharField()
    group_by = serializers.ChoiceField(choices=GROUPINGS)
    patients = serializers.IntegerField()
    infusions = serializers.IntegerField()
    groups = CohortGroupSerializer(many=True)


class CohortQuerySerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, default="PHQ-9")
    group_by = serializers.ChoiceField(choices=GROUPINGS, default="none")


class CohortChartQuerySerializer(CohortQuerySerializer):
    format = serializers.ChoiceField(choices=["png", "svg"], default="png")


class BoosterSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    expected_fade_at = serializers.DateTimeField(allow_null=True)
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    basis = serializers.CharField()
    benefit_fading = serializers.BooleanField()
    detail = serializers.CharField()
