"""Safety alerts. A suicidal-ideation answer must reach a clinician even if the phone app
is buggy: rules are evaluated on the server, in the check-in's own transaction, and the
care team's notices are written to the delivery outbox in that same transaction, so a
stored answer cannot exist without its alert and its notices (docs/clinical/INSTRUMENTS.md,
"Safety").

The response is graded by the rule's level (outcomes/instruments/schema.py, SafetyRule): a
high alert pages on-call at once and must be acknowledged within minutes, and the patient
is told to call for help now; a moderate one must be acknowledged within the clinic's
interval; a low one is reviewed by the end of the next working day, with no page before.
Once acknowledged, an alert still needs its follow-up documented by a deadline
(`alert_follow_up`, or a resolution with a note), or it escalates again. The deadlines are
the clinic's (ClinicSafetySettings), their defaults UNVERIFIED clinical choices.

A check-in's alerts each run on their own level's clock, but are handled together: an
action on one (acknowledge, follow-up, resolve) also applies to its check-in's alerts at the
same or a lower level (`_with_siblings`).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes import events
from outcomes.models import (
    CRISIS_RESOURCE_KEYS,
    AlertLevel,
    AlertStatus,
    CheckIn,
    CheckInSource,
    ClinicSafetySettings,
    InstrumentResponse,
    InstrumentVersion,
    Patient,
    SafetyAlert,
    crisis_resource_error,
)

from ..instruments.schema import Definition
from ..scoring import Score
from .guards import patient_lock_unerased

# Shown with every submission that raised an alert. The 988 Suicide & Crisis Lifeline is
# the US default (docs/clinical/INSTRUMENTS.md); a clinic configures its own resources.
DEFAULT_CRISIS_RESOURCES = [
    {
        "name": "988 Suicide & Crisis Lifeline",
        "contact": "Call or text 988",
        "description": "Free, confidential support, 24 hours a day (United States).",
    },
    {
        "name": "Emergency services",
        "contact": "911",
        "description": "If you are in immediate danger.",
    },
]
# Osmind tells patients that the clinic may not be monitoring in real time
# (docs/clinical/INSTRUMENTS.md).
NOT_MONITORED_MESSAGE = (
    "Your answers suggest you may be going through a very hard time. Your clinic has been "
    "told, but it does not watch check-ins around the clock and may not see this right "
    "away. If you might act on thoughts of harming yourself, contact a crisis line or "
    "emergency services now."
)
# A high alert (C-SSRS high, an acute positive ASQ): the patient is told to get help now
# (docs/clinical/INSTRUMENTS.md: "a directive message to the patient (call 988 or 911
# now)"), from the clinic's crisis resources.
HIGH_RISK_MESSAGE = (
    "Your answers suggest you may be in danger right now. Please get help now: {contacts}. "
    "Do not wait for your clinic: it has been told, but it may not see this right away."
)
# A check-in on the clinic's tablet (source "clinic"): the patient is at the visit, with the
# staff member who handed the tablet over (who is told too, care_team.py), so "the clinic
# may not see this right away" is untrue; the crisis resources are for after they leave.
IN_CLINIC_MESSAGE = (
    "Your answers suggest you may be going through a very hard time. Please tell the staff "
    "member who is with you now, before you leave: they are there to help. After your "
    "visit, if you might act on thoughts of harming yourself, contact a crisis line or "
    "emergency services."
)
IN_CLINIC_HIGH_RISK_MESSAGE = (
    "Your answers suggest you may be in danger right now. Please tell the staff member who "
    "is with you now, before you leave. If you are no longer at the clinic, get help now: "
    "{contacts}."
)
# A worsening of at least this many minimal important differences against the previous
# score of the same instrument tells the care team (a notice, not an alert). UNVERIFIED
# clinical choice: configurable.
LARGE_WORSENING_MIDS = 2
# An acknowledged alert whose follow-up is overdue is brought up again this often until
# the follow-up is documented. UNVERIFIED clinical choice.
FOLLOW_UP_REPEAT = timedelta(hours=24)
# The rules whose positive answer is followed by a short screener: the item alone is not a
# triage tool (item 9 missed 63% of at-risk inpatients, PMC8258235; INSTRUMENTS.md,
# "Safety"). Rule codes of PHQ-9 v1 and EPDS v1 (their files cannot change: answers are
# pinned to them).
SCREENER_AFTER_RULES = frozenset(
    {"phq9_item9_self_harm", "epds_item10_self_harm", "qids_item12_death_or_suicide"}
)
CSSRS_SCREENER = "C-SSRS-SCREENER"
ASQ = "ASQ"


@dataclass(frozen=True)
class SafetyNotice:
    message: str
    crisis_resources: list[dict]
    alerts: int
    level: str  # the highest level among the check-in's alerts


def _settings(patient: Patient) -> ClinicSafetySettings | None:
    return ClinicSafetySettings.objects.filter(clinic_id=patient.clinic_id).first()


def crisis_resources_for(patient: Patient) -> list[dict]:
    """The clinic's crisis resources as the patient is shown them. An entry that cannot be
    shown (stored around ClinicSafetySettings.clean(): a bare string, no contact) is
    skipped, and with none usable the defaults apply: the check-in is already stored, and
    its patient must see a way to get help, not an error."""
    row = _settings(patient)
    stored = row.crisis_resources if row is not None else []
    usable = [
        {key: entry[key] for key in sorted(CRISIS_RESOURCE_KEYS) if key in entry}
        for entry in (stored if isinstance(stored, list) else [])
        if crisis_resource_error(entry) is None
    ]
    return usable or DEFAULT_CRISIS_RESOURCES


def _defaults() -> ClinicSafetySettings:
    return ClinicSafetySettings()  # unsaved: the field defaults


def acknowledge_within(row: ClinicSafetySettings, level: str) -> timedelta:
    """How long an open alert of `level` may wait before it escalates, and the interval of
    its repeated escalations (an overdue low alert repeats like a moderate one)."""
    if level == AlertLevel.HIGH:
        return timedelta(minutes=row.high_acknowledge_within_minutes)
    return timedelta(minutes=row.acknowledge_within_minutes)


def follow_up_within(row: ClinicSafetySettings, level: str) -> timedelta:
    hours = {
        AlertLevel.HIGH: row.high_follow_up_within_hours,
        AlertLevel.MODERATE: row.moderate_follow_up_within_hours,
        AlertLevel.LOW: row.low_follow_up_within_hours,
    }[AlertLevel(level)]
    return timedelta(hours=hours)


def review_due(*, now: datetime, zone: str, hour: int) -> datetime:
    """The end of the next working day (Monday to Friday) at `hour` o'clock in `zone`, in
    UTC: a low alert raised on Friday is due on Monday, one raised on Saturday or Sunday too.
    The wall-clock hour is kept across a daylight-saving change. Public holidays are not
    known."""
    tz = ZoneInfo(zone)
    day: date = now.astimezone(tz).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def _deadlines(
    *, level: str, row: ClinicSafetySettings, patient: Patient, now: datetime
) -> tuple[datetime, datetime | None]:
    """(first escalation, review due) of a new alert: a low alert is not paged before its
    review time, in the clinic's working hours."""
    if level == AlertLevel.LOW:
        due = review_due(now=now, zone=patient.clinic.timezone, hour=row.low_review_by_hour)
        return due, due
    return now + acknowledge_within(row, level), None


def _screener_for(patient: Patient) -> str:
    """The clinic's licensed C-SSRS screener where it has loaded one (with its text) and
    keeps it active; else the shipped ASQ."""
    licensed = InstrumentVersion.objects.filter(
        code=CSSRS_SCREENER,
        clinic_id=patient.clinic_id,
        is_active=True,
        definition__text_included=True,
    ).exists()
    return CSSRS_SCREENER if licensed else ASQ


def safety_evaluate(
    *,
    patient: Patient,
    check_in: CheckIn,
    scored: list[tuple[InstrumentResponse, Definition, Score]],
    previous_totals: dict[str, float | None],
    now: datetime,
) -> list[SafetyAlert]:
    """Create the check-in's alerts and queue the care team's notices. Must run inside the
    check-in's transaction. `scored` holds (stored response, definition, Score)."""
    wanted: dict[tuple, SafetyAlert] = {}
    clinic_settings = None  # read the clinic's settings only when a rule fired (rarely)
    screener_wanted = False
    for row, defn, score in scored:
        levels = {rule.code: rule.graded_level for rule in defn.safety}
        for hit in score.safety:
            if clinic_settings is None:
                clinic_settings = _settings(patient) or _defaults()
            level = levels[hit.code]
            escalate_at, review_at = _deadlines(
                level=level, row=clinic_settings, patient=patient, now=now
            )
            wanted[(row.id, hit.code)] = SafetyAlert(
                patient=patient,
                check_in=check_in,
                response=row,
                rule=hit.code,
                severity=hit.severity,
                level=level,
                next_escalation_at=escalate_at,
                review_due_at=review_at,
            )
            screener_wanted = screener_wanted or hit.code in SCREENER_AFTER_RULES
        previous = previous_totals.get(row.instrument_code)
        mid = defn.thresholds.mid
        if score.total is not None and previous is not None and mid:
            worse = (
                (score.total - previous)
                if defn.direction == "lower_is_better"
                else (previous - score.total)
            )
            if worse >= LARGE_WORSENING_MIDS * mid:
                # Worth a clinician's look, not a crisis: a plain care-team notice, with
                # no escalation and no crisis message to the patient.
                events.announce(events.ScoreWorsened(patient=patient, response=row))
    # With their history rows (simple-history's bulk helper): who raised it is the
    # submitting request's user.
    alerts = bulk_create_with_history(list(wanted.values()), SafetyAlert)
    if alerts:
        events.announce(events.SafetyAlertsRaised(patient=patient, alerts=tuple(alerts)))
    answered = {row.instrument_code for row, _, _ in scored}
    if screener_wanted and not answered & {ASQ, CSSRS_SCREENER}:
        # Once per check-in, whichever of its rules asked; none when it answered a screener.
        events.announce(
            events.SafetyScreenerWanted(
                patient=patient, check_in=check_in, instrument_code=_screener_for(patient)
            )
        )
    return alerts


def _contacts(resources: list[dict]) -> str:
    """The resources as one line ("988 Suicide & Crisis Lifeline (Call or text 988); ...");
    `resources` are crisis_resources_for's, each with its name and contact."""
    return "; ".join(f"{r['name']} ({r['contact']})" for r in resources)


def _message(*, level: str, source: str, resources: list[dict]) -> str:
    if source == CheckInSource.CLINIC:
        if level == AlertLevel.HIGH:
            return IN_CLINIC_HIGH_RISK_MESSAGE.format(contacts=_contacts(resources))
        return IN_CLINIC_MESSAGE
    if level == AlertLevel.HIGH:
        return HIGH_RISK_MESSAGE.format(contacts=_contacts(resources))
    return NOT_MONITORED_MESSAGE


def safety_notice_for(check_in: CheckIn) -> SafetyNotice | None:
    """What the patient is told after a submission that raised an alert (also on a retry):
    after a high alert, to get help now; else that the clinic may not see it right away.
    On the clinic's tablet, to tell the staff member who is with them now."""
    # No query when the submission just stored its alerts (checkin_submit fills the cache).
    alerts = list(check_in.safety_alerts.all())
    if not alerts:
        return None
    level = AlertLevel.worst(a.level for a in alerts)
    resources = crisis_resources_for(check_in.patient)
    return SafetyNotice(
        message=_message(level=level, source=check_in.source, resources=resources),
        crisis_resources=resources,
        alerts=len(alerts),
        level=level,
    )


def alerts_escalate_due(*, now: datetime | None = None, batch_size: int = 200) -> int:
    """Notify the on-call list of every open alert past its acknowledgement time (a low
    alert: its review time), and again each interval until someone acknowledges it; and
    bring up every acknowledged alert whose follow-up is overdue, again every
    FOLLOW_UP_REPEAT until the follow-up is documented. Both wait in `next_escalation_at`.
    Claims rows with SKIP LOCKED, so concurrent beats never notify twice for one level.

    Alerts of one check-in escalating in the same pass are one notice (one page per
    check-in, not one per rule): the event names the highest-level alert among them; a
    lower one escalating on its own clock later is announced itself."""
    now = now or timezone.now()
    done = 0
    per_clinic: dict = {}
    while True:
        with transaction.atomic():
            rows = list(
                SafetyAlert.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    status__in=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED),
                    next_escalation_at__lte=now,
                )
                .select_related("patient")
                .order_by("next_escalation_at")[:batch_size]
            )
            top: dict[tuple, SafetyAlert] = {}  # (check-in, status): its highest alert
            for alert in rows:
                clinic_id = alert.patient.clinic_id
                if clinic_id not in per_clinic:
                    per_clinic[clinic_id] = _settings(alert.patient) or _defaults()
                alert.escalation_level += 1
                if alert.status == AlertStatus.OPEN:
                    alert.next_escalation_at = now + acknowledge_within(
                        per_clinic[clinic_id], alert.level
                    )
                else:
                    alert.next_escalation_at = now + FOLLOW_UP_REPEAT
                group = (alert.check_in_id, alert.status)
                if group not in top or top[group].level != AlertLevel.worst(
                    (alert.level, top[group].level)
                ):
                    top[group] = alert
            # Each escalation level is a history row too (by the system: no user).
            bulk_update_with_history(rows, SafetyAlert, ["escalation_level", "next_escalation_at"])
            for alert in top.values():
                events.announce(events.SafetyAlertEscalated(alert=alert))
        done += len(rows)
        if len(rows) < batch_size:
            return done


def _with_siblings(alert: SafetyAlert, **filters) -> list[SafetyAlert]:
    """`alert` and the alerts of its check-in at the same or a lower level matching
    `filters`, locked, in id order (two clinicians acting on one check-in lock alike).

    An action on an alert speaks for these siblings too: the clinician who acknowledges a
    high C-SSRS alert has handled the patient, and its low siblings (with clocks of their
    own) would otherwise page on-call the next working day. A higher sibling is left: it
    asks for more than was done."""
    return list(
        SafetyAlert.objects.select_for_update(no_key=True)
        .filter(check_in_id=alert.check_in_id, level__in=AlertLevel.up_to(alert.level), **filters)
        .order_by("id")
    )


def _save_as(user, rows: list[SafetyAlert], fields: list[str]) -> None:
    """Store the locked `rows`' changed `fields`, each with its history row by `user`."""
    bulk_update_with_history(rows, SafetyAlert, fields, default_user=user)


@transaction.atomic
def alert_acknowledge(*, alert: SafetyAlert, user, note: str = "") -> SafetyAlert:
    """Someone has it: the acknowledgement deadline no longer applies, and the follow-up is
    due within the clinic's time for the alert's level. Only an open alert can be
    acknowledged; its check-in's open alerts at the same or a lower level are acknowledged
    with it (each with its own level's follow-up deadline)."""
    if note:
        patient_lock_unerased(alert.patient)  # no free text about an erased patient
    now = timezone.now()
    rows = _with_siblings(alert, status=AlertStatus.OPEN)
    if alert.pk not in {a.pk for a in rows}:
        raise DomainValidationError.single(
            "non_field_errors", "not_open", "Only an open alert can be acknowledged."
        )
    clinic_settings = _settings(alert.patient) or _defaults()
    fields = [
        "status",
        "acknowledged_by",
        "acknowledged_at",
        "follow_up_due_at",
        "next_escalation_at",
    ]
    for row in rows:
        due = now + follow_up_within(clinic_settings, row.level)
        row.status = AlertStatus.ACKNOWLEDGED
        row.acknowledged_by, row.acknowledged_at = user, now
        row.follow_up_due_at = row.next_escalation_at = due
        if note:
            row.note = note[:2000]
    _save_as(user, rows, [*fields, "note"] if note else fields)
    alert.refresh_from_db()
    events.announce(events.SafetyAlertAcknowledged(alert=alert))
    return alert


@transaction.atomic
def alert_follow_up(*, alert: SafetyAlert, user, note: str) -> SafetyAlert:
    """Document the follow-up of an acknowledged alert (what was done: a call, a safety
    plan, a referral): its escalation stops, and that of its check-in's acknowledged alerts
    at the same or a lower level still awaiting theirs. Once per alert; resolving it with a
    note counts as its follow-up too."""
    patient_lock_unerased(alert.patient)
    note = note.strip()
    if not note:
        raise DomainValidationError.single(
            "note", "blank", "Say what was done to follow the alert up."
        )
    rows = _with_siblings(alert, status=AlertStatus.ACKNOWLEDGED, followed_up_at__isnull=True)
    if alert.pk not in {a.pk for a in rows}:
        current = SafetyAlert.objects.filter(pk=alert.pk).values_list("status", flat=True).first()
        if current == AlertStatus.ACKNOWLEDGED:
            raise DomainValidationError.single(
                "non_field_errors",
                "already_followed_up",
                "This alert's follow-up is already documented.",
            )
        raise DomainValidationError.single(
            "non_field_errors",
            "not_acknowledged",
            "Only an acknowledged alert's follow-up can be documented.",
        )
    now = timezone.now()
    for row in rows:
        row.followed_up_by, row.followed_up_at = user, now
        row.follow_up_note = note[:2000]
        row.next_escalation_at = None
    _save_as(
        user, rows, ["followed_up_by", "followed_up_at", "follow_up_note", "next_escalation_at"]
    )
    alert.refresh_from_db()
    return alert


@transaction.atomic
def alert_resolve(*, alert: SafetyAlert, user, note: str = "") -> SafetyAlert:
    """Close the alert, and its check-in's open or acknowledged alerts at the same or a
    lower level. An alert closed needs its documented follow-up (INSTRUMENTS.md,
    "Safety"): the note is it, required unless every one of them has one already; 400 on
    `note` otherwise, with nothing changed."""
    if note:
        patient_lock_unerased(alert.patient)  # no free text about an erased patient
    note = note[:2000].strip()
    rows = _with_siblings(alert, status__in=(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))
    if alert.pk not in {a.pk for a in rows}:
        raise DomainValidationError.single(
            "non_field_errors", "already_resolved", "This alert is already resolved."
        )
    if not note and any(row.followed_up_at is None for row in rows):
        raise DomainValidationError.single(
            "note",
            "follow_up_required",
            "Say what was done to follow the alert up: it has no documented follow-up yet.",
        )
    now = timezone.now()
    for row in rows:
        row.status = AlertStatus.RESOLVED
        row.resolved_by, row.resolved_at = user, now
        row.next_escalation_at = None
        if row.acknowledged_at is None:
            row.acknowledged_by, row.acknowledged_at = user, now
        if note:
            row.note = note
        if row.followed_up_at is None:
            # With a note (required above); a follow-up already documented stays its
            # author's.
            row.followed_up_by, row.followed_up_at, row.follow_up_note = user, now, note
    _save_as(
        user,
        rows,
        [
            "status",
            "resolved_by",
            "resolved_at",
            "next_escalation_at",
            "acknowledged_by",
            "acknowledged_at",
            "note",
            "followed_up_by",
            "followed_up_at",
            "follow_up_note",
        ],
    )
    alert.refresh_from_db()
    events.announce(events.SafetyAlertResolved(alert=alert))
    return alert


# --- the clinic's settings ---------------------------------------------------------------


def clinic_safety_settings_for(*, clinic: Clinic) -> ClinicSafetySettings:
    """The clinic's safety settings; unsaved defaults when it has none yet."""
    row = ClinicSafetySettings.objects.filter(clinic=clinic).first()
    return row or ClinicSafetySettings(clinic=clinic)


def _check_order(row: ClinicSafetySettings) -> None:
    """A higher level never waits longer than a lower one."""
    errors: dict[str, list[tuple[str, str]]] = {}
    if row.high_acknowledge_within_minutes > row.acknowledge_within_minutes:
        errors["high_acknowledge_within_minutes"] = [
            (
                "longer_than_moderate",
                "A high alert cannot wait longer than a moderate one (acknowledge_within_minutes).",
            )
        ]
    if row.high_follow_up_within_hours > row.moderate_follow_up_within_hours:
        errors["high_follow_up_within_hours"] = [
            ("longer_than_moderate", "Cannot be longer than moderate_follow_up_within_hours.")
        ]
    if row.moderate_follow_up_within_hours > row.low_follow_up_within_hours:
        errors["moderate_follow_up_within_hours"] = [
            ("longer_than_low", "Cannot be longer than low_follow_up_within_hours.")
        ]
    if errors:
        raise DomainValidationError(errors)


@transaction.atomic
def clinic_safety_settings_update(
    *,
    clinic: Clinic,
    high_acknowledge_within_minutes: int | None = None,
    acknowledge_within_minutes: int | None = None,
    low_review_by_hour: int | None = None,
    high_follow_up_within_hours: int | None = None,
    moderate_follow_up_within_hours: int | None = None,
    low_follow_up_within_hours: int | None = None,
) -> ClinicSafetySettings:
    """Change the clinic's per-level deadlines (None: unchanged). The API checks each
    value's range; the order between levels is checked here, against the values kept.
    Alerts already raised keep the deadlines they were given."""
    given = {
        "high_acknowledge_within_minutes": high_acknowledge_within_minutes,
        "acknowledge_within_minutes": acknowledge_within_minutes,
        "low_review_by_hour": low_review_by_hour,
        "high_follow_up_within_hours": high_follow_up_within_hours,
        "moderate_follow_up_within_hours": moderate_follow_up_within_hours,
        "low_follow_up_within_hours": low_follow_up_within_hours,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    row, _ = ClinicSafetySettings.objects.select_for_update().get_or_create(clinic=clinic)
    for name, value in changes.items():
        setattr(row, name, value)
    _check_order(row)
    if changes:
        row.save(update_fields=list(changes))  # its history row names the request's user
    return row
