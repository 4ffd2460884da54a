"""Shapes for trajectories, per-infusion outcomes, cohort durability and booster windows."""

from rest_framework import serializers

from outcomes.analytics.booster import ADVICE as BOOSTER_ADVICE
from outcomes.analytics.booster import BASES as BOOSTER_BASES
from outcomes.analytics.courses import CENSOR_REASONS, COURSE_KINDS, COURSE_STATUSES, LOSS_REASONS
from outcomes.selectors.courses import COURSE_GROUPINGS, ESTIMATOR


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


class InfusionMarkSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()


class TrajectoryQuerySerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, required=False)


class ChartQuerySerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, default="PHQ-9")
    format = serializers.ChoiceField(choices=["png", "svg"], default="png")


class BoosterSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    advice = serializers.ChoiceField(choices=BOOSTER_ADVICE)
    basis = serializers.ChoiceField(
        choices=BOOSTER_BASES,
        allow_null=True,
        help_text="Where the expected durability comes from: this patient's own courses, "
        "the clinic's similar courses, or published figures. Null when no window is planned.",
    )
    reference_context = serializers.CharField(
        help_text="The published context or clinic group the prior comes from."
    )
    reference_median_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)
    expected_fade_at = serializers.DateTimeField(allow_null=True)
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    window_percentile = serializers.IntegerField(
        help_text="Estimated % of such patients who have lost response by window_end."
    )
    patient_losses = serializers.IntegerField()
    patient_censored = serializers.IntegerField()
    benefit_fading = serializers.BooleanField()
    detail = serializers.CharField()


# --- outcomes per treatment course --------------------------------------------------------


class AcuteEffectSerializer(serializers.Serializer):
    """The ACUTE effect of one infusion: change from its own pre-score to the best score
    within 48 h. A labelled secondary figure, never the course's response."""

    infusion_id = serializers.CharField()
    infusion_number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    label = serializers.ChoiceField(choices=["acute"])
    pre_score = serializers.FloatField(allow_null=True)
    pre_at = serializers.DateTimeField(allow_null=True)
    post_score = serializers.FloatField(allow_null=True)
    post_at = serializers.DateTimeField(allow_null=True)
    change = serializers.FloatField(allow_null=True, help_text="Symptom points, positive = better.")
    pct = serializers.FloatField(allow_null=True)


class ReliableChangeSerializer(serializers.Serializer):
    threshold = serializers.FloatField(allow_null=True, help_text="Jacobson-Truax, in points.")
    change_best = serializers.FloatField()
    change_latest = serializers.FloatField()
    improved_best = serializers.BooleanField(allow_null=True)
    improved_latest = serializers.BooleanField(allow_null=True)
    deteriorated_latest = serializers.BooleanField(allow_null=True)


class CourseOutcomeSerializer(serializers.Serializer):
    course_id = serializers.CharField(
        help_text="The recorded treatment course's id, or `inferred-<first infusion id>`."
    )
    recorded = serializers.BooleanField(help_text="Recorded by the clinic, not inferred.")
    kind = serializers.ChoiceField(choices=COURSE_KINDS)
    instrument = serializers.CharField()
    baseline_course_id = serializers.CharField()
    baseline = serializers.FloatField(allow_null=True)
    baseline_at = serializers.DateTimeField(allow_null=True)
    evaluable = serializers.BooleanField(
        help_text="A baseline in the clinical range (PHQ-9 >= 10, GAD-7 >= 10, PCL-5 >= 31)."
    )
    assessments = serializers.IntegerField()
    best_score = serializers.FloatField(allow_null=True)
    best_at = serializers.DateTimeField(allow_null=True)
    best_pct = serializers.FloatField(allow_null=True)
    latest_score = serializers.FloatField(allow_null=True)
    latest_at = serializers.DateTimeField(allow_null=True)
    latest_pct = serializers.FloatField(allow_null=True)
    responded = serializers.BooleanField()
    response_at = serializers.DateTimeField(allow_null=True)
    partial_response = serializers.BooleanField()
    remitted = serializers.BooleanField()
    remission_at = serializers.DateTimeField(allow_null=True)
    futility_signal = serializers.BooleanField(
        allow_null=True,
        help_text="Induction only: under 20% improvement 24 h after the 4th infusion.",
    )
    status = serializers.ChoiceField(choices=COURSE_STATUSES)
    loss_between = serializers.ListField(
        child=serializers.DateTimeField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text="[last assessment that met response, first of the confirming run].",
    )
    loss_reason = serializers.ChoiceField(choices=LOSS_REASONS, allow_null=True)
    durability_from_days = serializers.FloatField(allow_null=True)
    durability_to_days = serializers.FloatField(allow_null=True)
    durability_days = serializers.FloatField(
        allow_null=True,
        help_text="Midpoint of the loss interval, or the censoring time when censored.",
    )
    censored = serializers.BooleanField()
    censor_reason = serializers.ChoiceField(choices=CENSOR_REASONS, allow_null=True)
    censored_at = serializers.DateTimeField(allow_null=True)
    benefit_fading = serializers.BooleanField()
    reliable_change = ReliableChangeSerializer(allow_null=True)
    infusions = AcuteEffectSerializer(many=True)


class PatientCoursesSerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    instrument = serializers.CharField()
    recall_days = serializers.FloatField(allow_null=True)
    courses = CourseOutcomeSerializer(many=True)


class SignalSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    recall_days = serializers.FloatField(allow_null=True)
    validated = serializers.BooleanField(
        help_text="False for the unvalidated 0-10 mood item: not a clinical label."
    )
    assessments_per_patient = serializers.FloatField(allow_null=True)
    median_days_between_assessments = serializers.FloatField(allow_null=True)
    can_date_loss = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    rates_caveat = serializers.CharField(
        allow_blank=True,
        help_text="What the response rates may miss (a long-recall score asked only outside "
        "its recall under-counts short responses); empty when nothing is known to.",
    )


class CourseRatesSerializer(serializers.Serializer):
    courses = serializers.IntegerField()
    evaluable = serializers.IntegerField()
    responders = serializers.IntegerField()
    response_rate = serializers.FloatField(allow_null=True)
    partial_responders = serializers.IntegerField()
    partial_response_rate = serializers.FloatField(allow_null=True)
    remitters = serializers.IntegerField()
    remission_rate = serializers.FloatField(allow_null=True)
    losses = serializers.IntegerField()


class IntervalCurvePointSerializer(serializers.Serializer):
    day = serializers.FloatField()
    survival = serializers.FloatField()
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    at_risk = serializers.IntegerField()

    class Meta:
        list_serializer_class = PlainRows


class CourseDurabilityGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    rates = CourseRatesSerializer()
    responders = serializers.IntegerField(help_text="Responding courses whose durability counts.")
    events = serializers.IntegerField(help_text="Losses seen (within an interval).")
    median_days = serializers.FloatField(allow_null=True)
    median_ci_low_days = serializers.FloatField(allow_null=True)
    median_ci_high_days = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    bootstrap_samples = serializers.IntegerField()
    curve = IntervalCurvePointSerializer(many=True)


class ClinicDurabilitySerializer(serializers.Serializer):
    clinic = serializers.UUIDField()
    instrument = serializers.CharField()
    unit = serializers.ChoiceField(choices=["course"])
    group_by = serializers.ChoiceField(choices=COURSE_GROUPINGS)
    estimator = serializers.ChoiceField(choices=[ESTIMATOR])
    patients = serializers.IntegerField()
    signal = SignalSerializer()
    groups = CourseDurabilityGroupSerializer(many=True)


class ClinicDurabilityQuerySerializer(serializers.Serializer):
    instrument = serializers.CharField(max_length=32, default="PHQ-9")
    group_by = serializers.ChoiceField(choices=COURSE_GROUPINGS, default="none")


class ClinicDurabilityChartQuerySerializer(ClinicDurabilityQuerySerializer):
    format = serializers.ChoiceField(choices=["png", "svg"], default="png")


class InstrumentTrajectorySerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    scale_min = serializers.FloatField()
    scale_max = serializers.FloatField()
    bands = BandSerializer(many=True)
    thresholds = ThresholdsSerializer()
    points = TrajectoryPointSerializer(many=True)
    outcomes = InfusionOutcomeSerializer(
        many=True,
        help_text="Deprecated: per infusion, against each infusion's own pre-score. Use "
        "`courses`: response, remission and durability are judged per treatment course.",
    )
    courses = CourseOutcomeSerializer(many=True)


class TrajectorySerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    timezone = serializers.CharField()
    infusions = InfusionMarkSerializer(many=True)
    instruments = InstrumentTrajectorySerializer(many=True)
