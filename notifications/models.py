"""Reminders and delivery: cadence plans, reminder rows, devices, contact points, the
delivery outbox, and patient/clinic preferences.

The due time is a column (docs/house/STYLE.md, habit 6): a partial index serves the dispatcher's
poll;
rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED, so any number of workers and
beats can run and none double-sends. No reminder is ever an ETA task in the broker.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class CadencePlan(models.Model):
    """A clinic's named reminder cadence. `steps` is validated by notifications.cadence;
    every edit bumps `version` and keeps the old one in CadencePlanRevision."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(
        "accounts.Clinic", on_delete=models.CASCADE, related_name="cadence_plans"
    )
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    condition = models.CharField(
        max_length=32,
        blank=True,
        default="",
        help_text="The condition this plan is the clinic's template for ('' for none): a "
        "patient with that condition follows it, merged with their other conditions' templates.",
    )
    version = models.PositiveIntegerField(default=1)
    steps = models.JSONField()
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="plan_name_unique"),
            models.UniqueConstraint(
                fields=["clinic"], condition=Q(is_default=True), name="plan_one_default_per_clinic"
            ),
            models.UniqueConstraint(
                fields=["clinic", "condition"],
                condition=~Q(condition=""),
                name="plan_one_template_per_condition",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class CadencePlanRevision(models.Model):
    """An immutable past (or current) version of a plan's steps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plan = models.ForeignKey(CadencePlan, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    steps = models.JSONField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["plan", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "version"], name="plan_revision_unique")
        ]

    def __str__(self) -> str:
        return f"{self.plan_id} v{self.version}"


class Channel(models.TextChoices):
    PUSH = "push", "Push (FCM)"
    EMAIL = "email", "E-mail"
    SMS = "sms", "SMS"
    CONSOLE = "console", "Console"


class ClinicNotificationSettings(models.Model):
    clinic = models.OneToOneField(
        "accounts.Clinic", on_delete=models.CASCADE, related_name="notification_settings"
    )
    default_channels = models.JSONField(default=list)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    weekly_budget = models.PositiveSmallIntegerField(
        default=4,
        help_text="At most this many reminders in any 7 days before the engine adds a probe "
        "(planned steps are not dropped for it).",
    )

    def __str__(self) -> str:
        return f"Notification settings of {self.clinic_id}"


class PatientPreference(models.Model):
    """A patient's own reminder preferences; unset fields fall back to the clinic's."""

    patient = models.OneToOneField(
        "outcomes.Patient", on_delete=models.CASCADE, related_name="notification_preference"
    )
    cadence_plan = models.ForeignKey(
        CadencePlan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="A per-patient override of the clinic's default plan.",
    )
    channels = models.JSONField(null=True, blank=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)
    weekly_budget = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="This patient's burden budget; unset: the clinic's."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Preferences of {self.patient_id}"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    COMPLETED = "completed", "Completed"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class ReminderKind(models.TextChoices):
    PLAN = "plan", "A step of the patient's cadence plan"
    PROBE = "probe", "A probe added because benefit may be fading"
    SCREENER = "screener", "A safety follow-up screener"


class Reminder(models.Model):
    """One ask of the patient. A plan step belongs to the infusion it follows (or precedes,
    a baseline); a probe or a safety screener the engine added says why in `reason`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        "outcomes.Patient", on_delete=models.CASCADE, related_name="reminders"
    )
    infusion = models.ForeignKey(
        "outcomes.Infusion",
        on_delete=models.CASCADE,
        related_name="reminders",
        null=True,
        blank=True,
        help_text="The infusion a plan step or probe follows; none for a screener asked "
        "before any infusion.",
    )
    plan = models.ForeignKey(
        CadencePlan, on_delete=models.PROTECT, related_name="reminders", null=True, blank=True
    )
    plan_version = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=ReminderKind.choices, default=ReminderKind.PLAN)
    reason = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="Why the engine added or moved it, for schedulers (never a score).",
    )
    step_key = models.CharField(max_length=40)
    instruments = models.JSONField()
    due_at = models.DateTimeField()
    window_closes_at = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=ReminderStatus.choices, default=ReminderStatus.PENDING
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    check_in = models.ForeignKey(
        "outcomes.CheckIn",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reminders",
    )
    nudges_left = models.PositiveSmallIntegerField(default=0)
    nudges_sent = models.PositiveSmallIntegerField(default=0)
    nudge_interval_minutes = models.PositiveIntegerField(default=0)
    next_nudge_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["infusion", "step_key"], name="reminder_one_per_step"),
            # Probes and screeners have patient-wide keys ("probe-2026-12-03"): once each.
            models.UniqueConstraint(
                fields=["patient", "step_key"],
                condition=~Q(kind="plan"),
                name="reminder_extra_once",
            ),
            models.CheckConstraint(
                condition=~Q(kind="plan")
                | (
                    Q(infusion__isnull=False)
                    & Q(plan__isnull=False)
                    & Q(plan_version__isnull=False)
                ),
                name="reminder_plan_step_has_plan",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReminderStatus.values), name="reminder_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(window_closes_at__gt=models.F("due_at")),
                name="reminder_window_after_due",
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=Q(status="pending"), name="reminder_due_pending"
            ),
            models.Index(
                fields=["next_nudge_at"], condition=Q(status="sent"), name="reminder_nudge_due"
            ),
            models.Index(
                fields=["window_closes_at"],
                condition=Q(status="sent"),
                name="reminder_sent_closing",
            ),
            models.Index(fields=["patient", "due_at"], name="reminder_patient_due"),
            # Every beat tick expires open rows whose window closed: without this, that
            # UPDATE reads the whole table, history included, once a minute.
            models.Index(
                fields=["window_closes_at"],
                condition=Q(status__in=["pending", "sent"]),
                name="reminder_open_closing",
            ),
        ]

    def __str__(self) -> str:
        return f"Reminder {self.step_key} of {self.infusion_id}"


class Platform(models.TextChoices):
    IOS = "ios", "iOS"
    ANDROID = "android", "Android"
    WEB = "web", "Web"


class Device(models.Model):
    """A phone registered for push. Re-registering the same token updates it; signing out
    removes it; a token the provider calls unregistered is disabled."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        "outcomes.Patient", on_delete=models.CASCADE, related_name="devices"
    )
    auth_token = models.ForeignKey(
        settings.KNOX_TOKEN_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    push_token = models.CharField(max_length=4096)
    push_token_digest = models.CharField(max_length=64, unique=True)
    platform = models.CharField(max_length=10, choices=Platform.choices)
    app_version = models.CharField(max_length=40, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.platform} device {self.id}"


class ContactPoint(models.Model):
    """An e-mail address or phone number (E.164) a patient may be reminded at."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        "outcomes.Patient", on_delete=models.CASCADE, related_name="contact_points"
    )
    channel = models.CharField(
        max_length=10, choices=[(Channel.EMAIL, "E-mail"), (Channel.SMS, "SMS")]
    )
    address = models.CharField(max_length=254)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "channel", "address"], name="contact_point_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} contact {self.id}"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Handed to the provider"
    RETRYING = "retrying", "Waiting to retry"
    FAILED = "failed", "Failed permanently"
    SKIPPED = "skipped", "Not needed any more"


class DeliveryKind(models.TextChoices):
    REMINDER = "reminder", "Check-in reminder (to the patient)"
    CARE_TEAM = "care_team", "Care-team notice (to staff)"


class Delivery(models.Model):
    """The outbox (docs/house/STYLE.md, habit 7): written before the provider is called, records the
    outcome. One row per message, channel and target."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(
        max_length=12, choices=DeliveryKind.choices, default=DeliveryKind.REMINDER
    )
    patient = models.ForeignKey(
        "outcomes.Patient",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whom a care-team notice is about (never named in its text).",
    )
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="care_team_deliveries",
    )
    urgent = models.BooleanField(
        default=False, help_text="A safety alert: the text asks for attention now."
    )
    alert = models.ForeignKey(
        "outcomes.SafetyAlert",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The safety alert an urgent notice is about (one of its check-in's alerts).",
    )
    dedupe_key = models.CharField(
        max_length=120,
        blank=True,
        default="",
        help_text="A care-team notice is sent once per key and recipient.",
    )
    reminder = models.ForeignKey(
        Reminder, on_delete=models.CASCADE, related_name="deliveries", null=True, blank=True
    )
    sequence = models.PositiveSmallIntegerField(
        default=0, help_text="0 the reminder, 1.. its nudges."
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    contact_point = models.ForeignKey(
        ContactPoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    target_key = models.CharField(
        max_length=80,
        help_text="'device:<id>', 'contact:<id>' or 'console': one delivery per target.",
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True, default="")
    error_code = models.CharField(max_length=100, blank=True, default="")
    error_detail = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reminder", "sequence", "target_key"], name="delivery_once_per_target"
            ),
            models.UniqueConstraint(
                fields=["dedupe_key", "target_key"],
                condition=~Q(dedupe_key=""),
                name="delivery_once_per_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(status="queued"), name="delivery_queued"
            ),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="retrying"),
                name="delivery_retry_due",
            ),
            models.Index(
                fields=["claimed_at"], condition=Q(status="sending"), name="delivery_sending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery {self.id}"
