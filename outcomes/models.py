"""The clinical domain: patients, instruments, check-ins, infusions, outcomes, safety.

Clinics, staff and roles live in accounts (the tenancy every layer builds on).

Public ids are UUIDs (docs/house/API.md). Invariants live in the database as well as in services.
"""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from accounts.models import Clinic, validate_iana_zone


class Condition(models.TextChoices):
    TREATMENT_RESISTANT_DEPRESSION = "trd", "Treatment-resistant depression"
    ANXIETY = "anxiety", "Anxiety"
    PTSD = "ptsd", "PTSD"
    ACUTE_SUICIDALITY = "acute_suicidality", "Acute suicidality"
    BIPOLAR_DEPRESSION = "bipolar", "Bipolar depression"
    POSTPARTUM_DEPRESSION = "postpartum", "Postpartum depression"
    CHRONIC_PAIN = "chronic_pain", "Chronic pain"


class PatientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Patient(models.Model):
    """A patient of one clinic. `display_name` is what the clinic shows; the clinic's own
    record number is `clinic_reference`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="patient"
    )
    display_name = models.CharField(max_length=200)
    clinic_reference = models.CharField(max_length=64, blank=True, default="")
    # Age is derived from it where a dose is checked or a form filed (never stored twice).
    date_of_birth = models.DateField(null=True, blank=True)
    timezone = models.CharField(max_length=64, validators=[validate_iana_zone])
    care_team = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="care_team_patients", blank=True
    )
    status = models.CharField(
        max_length=20, choices=PatientStatus.choices, default=PatientStatus.ACTIVE
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="Identity and raw answers removed; scores kept."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Erasure deletes these rows: history must not keep the identity erasure removed.
    history = HistoricalRecords()

    class Meta:
        ordering = ["display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "clinic_reference"],
                condition=~Q(clinic_reference=""),
                name="patient_clinic_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PatientStatus.values), name="patient_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Patient {self.id}"


class PatientCondition(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="conditions")
    condition = models.CharField(max_length=32, choices=Condition.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "condition"], name="patient_condition_unique"
            ),
            models.CheckConstraint(
                condition=Q(condition__in=Condition.values), name="patient_condition_valid"
            ),
        ]
        indexes = [models.Index(fields=["condition"])]

    def __str__(self) -> str:
        return self.condition


class EnrolmentCode(models.Model):
    """A single-use code the clinic hands a patient to sign the phone in the first time.

    Only a hash is stored; the code itself is shown once, when it is issued.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="enrolment_codes")
    code_digest = models.CharField(max_length=64, unique=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Enrolment code {self.id}"


class InstrumentVersion(models.Model):
    """One immutable version of a questionnaire definition, loaded from a file.

    Shipped instruments have no clinic; a licensed instrument (EPDS, C-SSRS) is loaded
    by a clinic that holds the licence and is visible to that clinic only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=32)
    version = models.CharField(max_length=32)
    title = models.CharField(max_length=200)
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, null=True, blank=True, related_name="instruments"
    )
    definition = models.JSONField()
    content_digest = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "version"],
                condition=Q(clinic__isnull=True),
                name="instrument_version_unique_shipped",
            ),
            models.UniqueConstraint(
                fields=["clinic", "code", "version"],
                condition=Q(clinic__isnull=False),
                name="instrument_version_unique_clinic",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"


class CheckInSource(models.TextChoices):
    APP = "app", "The patient's phone"
    CLINIC = "clinic", "The clinic's tablet, handed over by staff"


class CheckIn(models.Model):
    """One submission: answers to one or more instruments, from the patient's phone or, at
    a visit, from the clinic's tablet (the patient answers; `captured_by` is the staff
    member who handed it over).

    The id is the submitting device's own UUID, so a retried submission finds the stored one.
    """

    id = models.UUIDField(primary_key=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="check_ins")
    answered_at = models.DateTimeField(help_text="When the patient answered (device clock).")
    received_at = models.DateTimeField(help_text="When the server stored it.")
    content_digest = models.CharField(max_length=64)
    source = models.CharField(
        max_length=10, choices=CheckInSource.choices, default=CheckInSource.APP
    )
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who handed the clinic's tablet to the patient.",
    )

    class Meta:
        ordering = ["-answered_at", "-id"]
        indexes = [models.Index(fields=["patient", "-answered_at"], name="checkin_patient_time")]
        constraints = [
            # A tablet check-in names who handed the tablet over; a phone's names nobody.
            models.CheckConstraint(
                condition=(Q(source="app") & Q(captured_by__isnull=True))
                | (Q(source="clinic") & Q(captured_by__isnull=False)),
                name="checkin_capture_consistent",
            )
        ]

    def __str__(self) -> str:
        return f"Check-in {self.id}"


class InstrumentResponse(models.Model):
    """The answers to one instrument within a check-in and the scores computed from them,
    pinned to the instrument version that scored them.

    patient, instrument_code and answered_at are copied from the check-in so that a
    patient's series per instrument is one index range scan.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    check_in = models.ForeignKey(CheckIn, on_delete=models.CASCADE, related_name="responses")
    instrument_version = models.ForeignKey(
        InstrumentVersion, on_delete=models.PROTECT, related_name="responses"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="responses")
    instrument_code = models.CharField(max_length=32)
    answered_at = models.DateTimeField()
    position = models.PositiveSmallIntegerField(default=0)
    answers = models.JSONField()
    total = models.FloatField(null=True)
    band = models.CharField(max_length=64, blank=True, default="")
    subscales = models.JSONField(default=dict)
    flags = models.JSONField(default=list)

    class Meta:
        ordering = ["check_in", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["check_in", "instrument_code"], name="response_one_per_instrument"
            ),
        ]
        indexes = [
            models.Index(
                fields=["patient", "instrument_code", "-answered_at"],
                name="response_patient_series",
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument_code} response {self.id}"


class LatestScore(models.Model):
    """The newest score per patient and instrument, kept by checkin_submit so that the
    clinician's patient list reads it without scanning the history."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="latest_scores")
    instrument_code = models.CharField(max_length=32)
    response = models.ForeignKey(InstrumentResponse, on_delete=models.CASCADE, related_name="+")
    answered_at = models.DateTimeField()
    total = models.FloatField(null=True)
    band = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "instrument_code"], name="latest_score_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument_code} latest for {self.patient_id}"


# --- treatment records ------------------------------------------------------------------
class CourseKind(models.TextChoices):
    INDUCTION = "induction", "Induction series"
    # A booster given on schedule while still responding: it censors durability.
    MAINTENANCE = "maintenance", "Maintenance"
    # A booster given because the benefit faded: a loss of response (docs/clinical/
    # INSTRUMENTS.md, "Outcome definitions").
    RESCUE = "rescue", "Rescue booster"


class TreatmentCourse(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="courses")
    kind = models.CharField(max_length=20, choices=CourseKind.choices)
    started_on = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True, default="", max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=CourseKind.values), name="course_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                name="course_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} course {self.id}"


class InfusionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Product(models.TextChoices):
    KETAMINE = "ketamine", "Racemic ketamine"
    ESKETAMINE = "esketamine", "Esketamine (Spravato)"


class Route(models.TextChoices):
    IV = "iv", "Intravenous"
    IM = "im", "Intramuscular"
    INTRANASAL = "intranasal", "Intranasal"


# Which routes each product is given by (esketamine is a nasal spray: Spravato label); the
# first is the default when none is recorded.
PRODUCT_ROUTES = {
    Product.KETAMINE: (Route.IV, Route.IM),
    Product.ESKETAMINE: (Route.INTRANASAL,),
}


class Infusion(models.Model):
    """One ketamine infusion. Reminders are planned from its end (or, until it has
    happened, from its scheduled start plus its planned duration)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="infusions")
    course = models.ForeignKey(
        TreatmentCourse, on_delete=models.PROTECT, related_name="infusions", null=True, blank=True
    )
    status = models.CharField(
        max_length=20, choices=InfusionStatus.choices, default=InfusionStatus.SCHEDULED
    )
    scheduled_at = models.DateTimeField()
    planned_duration_minutes = models.PositiveSmallIntegerField(default=40)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    product = models.CharField(max_length=20, choices=Product.choices, default=Product.KETAMINE)
    route = models.CharField(max_length=20, choices=Route.choices, default=Route.IV)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    dose_mg_per_kg = models.DecimalField(max_digits=5, decimal_places=3, null=True, blank=True)
    total_dose_mg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    observation_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    vitals_before = models.JSONField(default=dict, blank=True)
    vitals_after = models.JSONField(default=dict, blank=True)
    side_effects = models.JSONField(default=list, blank=True)
    concomitant_medications = models.JSONField(default=list, blank=True)
    benzodiazepine_recorded = models.BooleanField(default=False)
    # What the medication table (outcomes/visits/medication_table.json) matched, and its
    # version: [{"ingredient", "drug_class", "matched"}].
    medication_matches = models.JSONField(default=list, blank=True)
    medication_table_version = models.CharField(max_length=20, blank=True, default="")
    # A dose outside the clinic's range for the product and route needs a recorded reason.
    dose_override_reason = models.CharField(max_length=300, blank=True, default="")
    dose_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-scheduled_at"]
        indexes = [models.Index(fields=["patient", "scheduled_at"], name="infusion_patient_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=InfusionStatus.values), name="infusion_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True)
                | Q(started_at__isnull=False, ended_at__gte=models.F("started_at")),
                name="infusion_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Infusion {self.id}"


# --- outcome settings -------------------------------------------------------------------
class ClinicOutcomeSettings(models.Model):
    """A clinic's own outcome thresholds for one instrument; unset fields fall back to the
    instrument definition's defaults (docs/clinical/INSTRUMENTS.md)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="outcome_settings")
    instrument_code = models.CharField(max_length=32)
    response_pct = models.FloatField(null=True, blank=True)
    partial_response_pct = models.FloatField(null=True, blank=True)
    remission_below = models.FloatField(null=True, blank=True)
    mid = models.FloatField(null=True, blank=True, help_text="Minimal important difference.")
    loss_consecutive = models.PositiveSmallIntegerField(null=True, blank=True)
    baseline_lookback_days = models.PositiveSmallIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "instrument_code"], name="outcome_settings_unique"
            ),
            models.CheckConstraint(
                condition=Q(response_pct__isnull=True)
                | Q(response_pct__gt=0, response_pct__lte=100),
                name="outcome_settings_response_pct_range",
            ),
            models.CheckConstraint(
                condition=Q(loss_consecutive__isnull=True) | Q(loss_consecutive__gte=1),
                name="outcome_settings_loss_consecutive_min",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_code} thresholds of {self.clinic_id}"


# --- safety -----------------------------------------------------------------------------
class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class AlertSeverity(models.TextChoices):
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class AlertLevel(models.TextChoices):
    """The graded response to a safety rule (docs/clinical/INSTRUMENTS.md, "Safety")."""

    LOW = "low", "Low: review within a working day"
    MODERATE = "moderate", "Moderate: the care team, escalating if unacknowledged"
    HIGH = "high", "High: on-call paged at once"

    @classmethod
    def worst(cls, levels: Iterable[str]) -> "AlertLevel":
        """The highest of `levels` (listed low to high above)."""
        order = list(cls)
        return max((cls(level) for level in levels), key=order.index)

    @classmethod
    def up_to(cls, level: str) -> list[str]:
        """`level` and every lower one: the alerts of a check-in that acting on an alert of
        `level` also covers (services/safety.py)."""
        order = list(cls)
        return [lv.value for lv in order[: order.index(cls(level)) + 1]]


CRISIS_RESOURCE_KEYS = frozenset({"name", "contact", "description"})
MAX_CRISIS_RESOURCES = 10


def crisis_resource_error(entry: object) -> str | None:
    """Why `entry` cannot be shown to a patient as a crisis resource, or None: an object
    with a non-empty "name" and "contact" and, optionally, a "description", all text
    (other keys are not shown)."""
    if not isinstance(entry, dict):
        return 'Each crisis resource is an object: {"name": ..., "contact": ...}.'
    for key in ("name", "contact"):
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            return f'"{key}" is required, as text.'
    if not isinstance(entry.get("description", ""), str):
        return '"description" is text.'
    return None


class ClinicSafetySettings(models.Model):
    """How a clinic handles safety alerts: crisis resources shown to the patient, how long an
    alert of each level may wait before it escalates, by when its follow-up must be
    documented, and who is on call.

    The per-level defaults are UNVERIFIED clinical choices, for each clinic to review: a
    high alert acknowledged within 10 minutes, a moderate one within 30; a low one reviewed
    by 17:00 (clinic time) of the next working day, Monday to Friday, public holidays not
    known; a follow-up documented within 24 hours (high), 72 hours (moderate) or 7 days
    (low) of the acknowledgement."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="safety_settings")
    crisis_resources = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"name": ..., "contact": ..., "description": ...}]; empty: the US default.',
    )
    acknowledge_within_minutes = models.PositiveIntegerField(
        default=30,
        help_text="A moderate alert escalates when unacknowledged this long, and again each "
        "such interval (as does a low alert once its review time has passed).",
    )
    high_acknowledge_within_minutes = models.PositiveIntegerField(
        default=10,
        help_text="A high alert escalates when unacknowledged this long, and again each "
        "such interval.",
    )
    low_review_by_hour = models.PositiveSmallIntegerField(
        default=17,
        help_text="A low alert is due for review by this hour (clinic time) of the next "
        "working day (Monday to Friday).",
    )
    high_follow_up_within_hours = models.PositiveIntegerField(default=24)
    moderate_follow_up_within_hours = models.PositiveIntegerField(default=72)
    low_follow_up_within_hours = models.PositiveIntegerField(default=168)
    on_call = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # The on-call list (many-to-many) is not tracked: it names staff, not clinical choices.
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(acknowledge_within_minutes__gte=1), name="safety_ack_minutes_min"
            ),
            models.CheckConstraint(
                condition=Q(high_acknowledge_within_minutes__gte=1),
                name="safety_high_ack_minutes_min",
            ),
            models.CheckConstraint(
                condition=Q(low_review_by_hour__lte=23), name="safety_low_review_hour_valid"
            ),
            models.CheckConstraint(
                condition=Q(high_follow_up_within_hours__gte=1)
                & Q(moderate_follow_up_within_hours__gte=1)
                & Q(low_follow_up_within_hours__gte=1),
                name="safety_follow_up_hours_min",
            ),
        ]

    def __str__(self) -> str:
        return f"Safety settings of {self.clinic_id}"

    def clean(self) -> None:
        """The crisis resources' shape (full_clean: the Django admin's form). A stored
        malformed value is still never shown (services/safety.py skips bad entries)."""
        value = self.crisis_resources
        if not isinstance(value, list):
            raise ValidationError({"crisis_resources": "A list of crisis resources."})
        if len(value) > MAX_CRISIS_RESOURCES:
            raise ValidationError(
                {"crisis_resources": f"At most {MAX_CRISIS_RESOURCES} crisis resources."}
            )
        problems = [
            f"Entry {i}: {problem}"
            for i, entry in enumerate(value)
            if (problem := crisis_resource_error(entry)) is not None
        ]
        if problems:
            raise ValidationError({"crisis_resources": problems})


class SafetyAlert(models.Model):
    """Raised on the server, in the check-in's transaction, by an instrument's safety rule
    (PHQ-9 item 9 > 0, EPDS item 10 > 0, a positive C-SSRS) or a large worsening."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="safety_alerts")
    check_in = models.ForeignKey(CheckIn, on_delete=models.PROTECT, related_name="safety_alerts")
    response = models.ForeignKey(
        InstrumentResponse, on_delete=models.PROTECT, related_name="safety_alerts"
    )
    rule = models.CharField(max_length=64)
    # `level` grades the response (the rule's level); `severity` is the older two-step grade,
    # kept for the API's clients: "urgent" for a high level, else "high".
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    # db_default: rows written outside the ORM (bench/seed.py) are moderate, as every alert
    # was before levels existed.
    level = models.CharField(
        max_length=10,
        choices=AlertLevel.choices,
        default=AlertLevel.MODERATE,
        db_default=AlertLevel.MODERATE,
    )
    status = models.CharField(max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # The next time escalation acts on it: while open, its acknowledgement deadline (for a
    # low alert, review_due_at), re-armed at each escalation; once acknowledged, its
    # follow-up deadline, re-armed likewise until the follow-up is documented.
    next_escalation_at = models.DateTimeField(null=True, blank=True)
    review_due_at = models.DateTimeField(
        null=True, blank=True, help_text="A low alert: reviewed by then, or it escalates."
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    follow_up_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set at the acknowledgement: the follow-up is documented by then, or the "
        "alert escalates again.",
    )
    followed_up_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    followed_up_at = models.DateTimeField(null=True, blank=True)
    follow_up_note = models.TextField(blank=True, default="", db_default="", max_length=2000)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, default="", max_length=2000)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["response", "rule"], name="alert_once_per_rule"),
            models.CheckConstraint(
                condition=Q(status__in=AlertStatus.values), name="alert_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(level__in=AlertLevel.values), name="alert_level_valid"
            ),
            # A documented follow-up names who wrote it (its note may be blanked later, by
            # an erasure).
            models.CheckConstraint(
                condition=Q(followed_up_at__isnull=True) | Q(followed_up_by__isnull=False),
                name="alert_follow_up_documented",
            ),
        ]
        indexes = [
            # The escalation poll (services/safety.py, alerts_escalate_due): open alerts
            # past their acknowledgement deadline, acknowledged ones past their follow-up.
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(status__in=["open", "acknowledged"]),
                name="alert_escalation_due",
            ),
            models.Index(fields=["patient", "-created_at"], name="alert_patient_time"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} alert {self.id}"


# --- privacy ----------------------------------------------------------------------------
class Consent(models.Model):
    """A patient's acceptance of one version of a document (privacy notice, data use)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consents")
    document = models.SlugField(max_length=60)
    version = models.CharField(max_length=20)
    accepted_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    # Withdrawn and accepted again: the history shows each change.
    history = HistoricalRecords()

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "document", "version"], name="consent_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.version} by {self.patient_id}"


# --- stored durability ------------------------------------------------------------------
class OutcomeState(models.Model):
    """Whether a patient's stored infusion outcomes are current. Every change to what they
    are computed from (a check-in, an infusion, a withdrawal) bumps `version` in the
    change's own transaction; a refresh records the version it read. A patient without a
    row has never been computed."""

    patient = models.OneToOneField(
        Patient, on_delete=models.CASCADE, primary_key=True, related_name="outcome_state"
    )
    version = models.PositiveBigIntegerField(default=0)
    computed_version = models.PositiveBigIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    reviewed_version = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="The version the fading-benefit review last looked at (benefit.py).",
    )

    def __str__(self) -> str:
        return f"outcomes of {self.patient_id} v{self.version}/{self.computed_version}"


class InfusionOutcomeRecord(models.Model):
    """One infusion's outcome on one instrument, as the durability engine computed it
    (outcomes/analytics/durability.py). The clinic's cohort reads these rows instead of
    re-deriving every score on each request; `thresholds_digest` names the thresholds
    they were computed with, so a changed definition or clinic setting recomputes them."""

    infusion = models.ForeignKey(Infusion, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    instrument_code = models.CharField(max_length=20)
    number = models.PositiveSmallIntegerField(help_text="1 for the patient's first infusion.")
    status = models.CharField(max_length=16)
    has_baseline = models.BooleanField()
    assessments = models.PositiveIntegerField()
    responded = models.BooleanField()
    partial_response = models.BooleanField()
    remitted = models.BooleanField()
    durability_days = models.FloatField(null=True, blank=True)
    censored = models.BooleanField()
    thresholds_digest = models.CharField(max_length=16)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["infusion", "instrument_code"], name="outcome_record_once"
            )
        ]
        indexes = [
            models.Index(fields=["instrument_code", "patient"], name="outcome_record_cohort"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_code} outcome of infusion {self.infusion_id}"


# --- the infusion visit (issue 14) ------------------------------------------------------
# Defaults cite docs/clinical/INSTRUMENTS.md, "The infusion visit: monitoring"; each is a
# clinic setting. A patient's first `strict_infusions` infusions use the stricter column.
def _default_dose_ranges() -> list[dict]:
    # Racemic ketamine for depression: 0.5 mg/kg over 40 min (Murrough 2013), up to
    # 1.0 mg/kg in dose-finding work (Fava 2018); esketamine: 56 or 84 mg, 28 mg in older
    # patients' starts (Spravato label). UNVERIFIED beyond those sources: clinic-set.
    return [
        {"product": "ketamine", "route": "iv", "unit": "mg_per_kg", "min": 0.1, "max": 1.0},
        {"product": "ketamine", "route": "im", "unit": "mg_per_kg", "min": 0.1, "max": 1.0},
        {"product": "esketamine", "route": "intranasal", "unit": "mg", "min": 28, "max": 84},
    ]


class ClinicVisitSettings(models.Model):
    """A clinic's visit thresholds and dose ranges. A blood pressure at or over its alert
    threshold, a heart or respiratory rate outside its range, an SpO2 below its floor or a
    MOAA/S at or below its level raises a visit alert to the staff on the floor; a pre-dose
    blood pressure above a hold threshold holds the infusion until someone records an
    override with a reason."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="visit_settings")
    # Murrough 2013 stopped an infusion at 180/115; severe hypertension as >= 180/110
    # (Yale series, PMID 38991311, counts it so); 43% of it in the first 3 infusions.
    alert_systolic = models.PositiveSmallIntegerField(default=180)
    alert_diastolic = models.PositiveSmallIntegerField(default=110)
    strict_alert_systolic = models.PositiveSmallIntegerField(default=160)
    strict_alert_diastolic = models.PositiveSmallIntegerField(default=100)
    # Pre-dose hold: the Spravato label asks to weigh the risk above 140/90; one clinic
    # protocol withholds above 140/90 (UNVERIFIED): 140/90 for the first infusions, 150/95
    # after, both clinic-set.
    hold_systolic = models.PositiveSmallIntegerField(default=150)
    hold_diastolic = models.PositiveSmallIntegerField(default=95)
    strict_hold_systolic = models.PositiveSmallIntegerField(default=140)
    strict_hold_diastolic = models.PositiveSmallIntegerField(default=90)
    heart_rate_high = models.PositiveSmallIntegerField(default=110)
    strict_heart_rate_high = models.PositiveSmallIntegerField(default=100)
    heart_rate_low = models.PositiveSmallIntegerField(default=50)
    # SpO2 < 93% is the usual flag (INSTRUMENTS.md): an alert below this.
    spo2_low = models.PositiveSmallIntegerField(default=93)
    strict_spo2_low = models.PositiveSmallIntegerField(default=94)
    resp_rate_low = models.PositiveSmallIntegerField(default=10)
    resp_rate_high = models.PositiveSmallIntegerField(default=24)
    # MOAA/S (0-5, 5 = responds readily to name): at or below this, deep sedation.
    sedation_alert_at_or_below = models.PositiveSmallIntegerField(default=2)
    strict_infusions = models.PositiveSmallIntegerField(default=3)
    dose_ranges = models.JSONField(default=_default_dose_ranges)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    def __str__(self) -> str:
        return f"Visit settings of {self.clinic_id}"


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"


class MonitoringSession(models.Model):
    """The monitoring of one infusion visit: readings, adverse events, discharge. The
    thresholds in force when it started are kept with it (`thresholds`), so a later change
    of the clinic's settings does not rewrite what was alerted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    infusion = models.OneToOneField(Infusion, on_delete=models.PROTECT, related_name="visit")
    status = models.CharField(
        max_length=20, choices=SessionStatus.choices, default=SessionStatus.OPEN
    )
    strict = models.BooleanField(help_text="One of the patient's first infusions.")
    thresholds = models.JSONField()
    started_at = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    on_hold = models.BooleanField(default=False)
    hold_override_reason = models.CharField(max_length=300, blank=True, default="")
    hold_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    hold_override_at = models.DateTimeField(null=True, blank=True)
    discharge_checklist = models.JSONField(default=dict, blank=True)
    ready_to_leave_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    discharged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rems_required = models.BooleanField(default=False)
    rems_filed_at = models.DateTimeField(null=True, blank=True)
    rems_filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    rems_filed_form = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="session_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True)
                | Q(ready_to_leave_at__isnull=False, left_at__gte=models.F("ready_to_leave_at")),
                name="session_leaves_after_ready",
            ),
        ]
        indexes = [models.Index(fields=["rems_required", "rems_filed_at"], name="session_rems")]

    def __str__(self) -> str:
        return f"Visit of infusion {self.infusion_id}"


class ReadingPhase(models.TextChoices):
    PRE_DOSE = "pre_dose", "Before the dose"
    DURING = "during", "During the infusion"
    PEAK = "peak", "About 40 minutes in"
    END = "end", "End of the infusion"
    PRE_DISCHARGE = "pre_discharge", "Before discharge"
    OTHER = "other", "Other"


class VisitReading(models.Model):
    """One timed reading at the visit: vital signs, sedation (MOAA/S) and dissociation, any
    of them. Its id is the tablet's (a retry of the same reading is the same row)."""

    id = models.UUIDField(primary_key=True, editable=False)
    session = models.ForeignKey(
        MonitoringSession, on_delete=models.PROTECT, related_name="readings"
    )
    taken_at = models.DateTimeField()
    phase = models.CharField(max_length=20, choices=ReadingPhase.choices)
    # False: derived from the time and the infusion's start and end (thresholds.phase_of),
    # and derived again when those are recorded or changed.
    phase_given = models.BooleanField(default=True)
    systolic = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic = models.PositiveSmallIntegerField(null=True, blank=True)
    heart_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    spo2 = models.PositiveSmallIntegerField(null=True, blank=True)
    resp_rate = models.PositiveSmallIntegerField(null=True, blank=True)
    moaas = models.PositiveSmallIntegerField(null=True, blank=True)
    dissociation_scale = models.CharField(max_length=16, blank=True, default="")
    dissociation_score = models.PositiveSmallIntegerField(null=True, blank=True)
    payload_digest = models.CharField(max_length=64)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["taken_at", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(phase__in=ReadingPhase.values), name="reading_phase_valid"
            ),
            models.CheckConstraint(
                condition=Q(moaas__isnull=True) | Q(moaas__lte=5), name="reading_moaas_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Reading {self.id}"


class AdverseSeverity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class AdverseAction(models.TextChoices):
    NONE = "none", "None"
    OBSERVED = "observed", "Observed longer"
    PAUSED = "paused", "Infusion paused"
    RATE_REDUCED = "rate_reduced", "Rate reduced"
    STOPPED = "stopped", "Infusion stopped"
    MEDICATION = "medication", "Medication given"
    TRANSFERRED = "transferred", "Transferred to emergency care"


class VisitAdverseEvent(models.Model):
    id = models.UUIDField(primary_key=True, editable=False)
    session = models.ForeignKey(
        MonitoringSession, on_delete=models.PROTECT, related_name="adverse_events"
    )
    occurred_at = models.DateTimeField()
    term = models.CharField(max_length=40)
    severity = models.CharField(max_length=20, choices=AdverseSeverity.choices)
    serious = models.BooleanField(default=False)
    action_taken = models.CharField(max_length=20, choices=AdverseAction.choices)
    notes = models.CharField(max_length=500, blank=True, default="")
    payload_digest = models.CharField(max_length=64)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__in=AdverseSeverity.values), name="adverse_severity_valid"
            ),
            models.CheckConstraint(
                condition=Q(action_taken__in=AdverseAction.values), name="adverse_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Adverse event {self.id}"


class VisitAlert(models.Model):
    """A reading at or past a threshold, for the staff on the floor (never the patient). One
    per parameter while unacknowledged: a later reading past it updates the open alert."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(MonitoringSession, on_delete=models.PROTECT, related_name="alerts")
    reading = models.ForeignKey(VisitReading, on_delete=models.PROTECT, related_name="alerts")
    parameter = models.CharField(max_length=20)
    value = models.CharField(max_length=20)
    limit = models.CharField(max_length=40)
    readings_past = models.PositiveSmallIntegerField(default=1)
    raised_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "parameter"],
                condition=Q(acknowledged_at__isnull=True),
                name="visit_alert_one_open_per_parameter",
            )
        ]

    def __str__(self) -> str:
        return f"Visit alert {self.parameter} {self.id}"
