"""Adaptive probes and safety screeners: reminder rows the engine adds between plan steps.

A probe (notifications/probes.py has the rule): after a check-in on a momentary measure
with a minimal important difference (MOOD, the pain NRS), if the benefit of the patient's
latest infusion looks like it is fading, one more short ask two days later; again after
that one, until the loss is confirmed or the score recovers. A probe is a Reminder like
any other (kind "probe", planned once per local day by its unique key, never sent twice),
with the reason schedulers see, and only within the patient's weekly burden budget: a
probe the budget refuses is stored cancelled, with that reason, so the choice is visible.

A safety screener: a positive PHQ-9 item 9 (or EPDS item 10) is followed by a short
screener (docs/clinical/INSTRUMENTS.md, "Safety"), due at once.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from outcomes.instruments import definition_for
from outcomes.models import (
    CheckIn,
    ClinicOutcomeSettings,
    Infusion,
    InfusionStatus,
    InstrumentResponse,
    InstrumentVersion,
    Patient,
    PatientStatus,
)

from ..models import (
    ClinicNotificationSettings,
    PatientPreference,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from ..probes import Reading, Trend, fits_budget, probe_key, probe_window, trend
from .plan_store import quiet_hours_for

DEFAULT_WEEKLY_BUDGET = 4
SCREENER_WINDOW = timedelta(hours=24)
SCREENER_NUDGES = (2, 120)  # two nudges, two hours apart
OPEN = (ReminderStatus.PENDING, ReminderStatus.SENT)


def weekly_budget(patient: Patient) -> int:
    """The patient's burden budget, or the clinic's (schedulers set both)."""
    own = (
        PatientPreference.objects.filter(patient=patient)
        .values_list("weekly_budget", flat=True)
        .first()
    )
    if own is not None:
        return own
    clinic = (
        ClinicNotificationSettings.objects.filter(clinic_id=patient.clinic_id)
        .values_list("weekly_budget", flat=True)
        .first()
    )
    return clinic if clinic is not None else DEFAULT_WEEKLY_BUDGET


def _probe_rule(patient: Patient, response: InstrumentResponse) -> tuple[float, bool] | None:
    """(minimal important difference, higher is better) when this answer's instrument is a
    momentary one a probe can ask again in two days; None otherwise."""
    version = InstrumentVersion.objects.filter(pk=response.instrument_version_id).first()
    if version is None:
        return None
    defn = definition_for(version)
    if defn.recall.hours > 24:
        return None
    mid = (
        ClinicOutcomeSettings.objects.filter(
            clinic_id=patient.clinic_id, instrument_code=response.instrument_code
        )
        .values_list("mid", flat=True)
        .first()
    ) or defn.thresholds.mid
    if not mid:
        return None
    return float(mid), defn.direction == "higher_is_better"


def _latest_infusion(patient: Patient, before: datetime) -> Infusion | None:
    return (
        Infusion.objects.filter(
            patient=patient, status=InfusionStatus.COMPLETED, ended_at__lte=before
        )
        .order_by("-ended_at")
        .first()
    )


def probes_consider(*, check_in: CheckIn, now: datetime | None = None) -> list[Reminder]:
    """After a stored check-in: add, refuse or stop probes for each momentary instrument it
    answered (runs in the check-in's transaction)."""
    now = now or timezone.now()
    patient = check_in.patient
    if patient.status != PatientStatus.ACTIVE:
        return []
    infusion = _latest_infusion(patient, check_in.answered_at)
    if infusion is None or infusion.ended_at is None:
        return []
    ended = infusion.ended_at
    added = []
    for response in InstrumentResponse.objects.filter(check_in=check_in, total__isnull=False):
        rule = _probe_rule(patient, response)
        if rule is None:
            continue
        mid, higher = rule
        code = response.instrument_code
        readings = [
            Reading(at, float(total))
            for at, total in InstrumentResponse.objects.filter(
                patient=patient, instrument_code=code, answered_at__gte=ended, total__isnull=False
            ).values_list("answered_at", "total")
            if total is not None
        ]
        state = trend(readings, since=ended, mid=mid, higher_is_better=higher)
        if state == Trend.FADING:
            row = _probe_add(patient, infusion, code, check_in.answered_at, now)
            if row is not None:
                added.append(row)
        elif state in (Trend.STABLE, Trend.CONFIRMED):
            why = "recovered" if state == Trend.STABLE else "the loss is confirmed"
            pending = Reminder.objects.filter(
                patient=patient, kind=ReminderKind.PROBE, status=ReminderStatus.PENDING
            ).values_list("pk", "instruments")
            Reminder.objects.filter(pk__in=[pk for pk, codes in pending if code in codes]).update(
                status=ReminderStatus.CANCELLED, reason=f"not needed: {why}", updated_at=now
            )
    return added


def _probe_add(
    patient: Patient, infusion: Infusion, code: str, answered_at: datetime, now: datetime
) -> Reminder | None:
    tz = ZoneInfo(patient.timezone)
    due, closes = probe_window(answered_at, tz, quiet_hours_for(patient=patient))
    if closes <= now:
        return None
    asks = list(
        Reminder.objects.filter(
            patient=patient,
            due_at__gt=min(now, due) - timedelta(days=7),
            due_at__lt=due + timedelta(days=7),
        )
        .exclude(status=ReminderStatus.CANCELLED)
        .values_list("due_at", "window_closes_at", "status", "instruments")
    )
    # Another ask of this instrument opening after this answer, before the probe would
    # close: enough (an ask already open is the one being answered now).
    if any(
        status in OPEN and code in codes and answered_at < opens < closes and shut > now
        for opens, shut, status, codes in asks
    ):
        return None
    near = [opens for opens, *_ in asks]
    budget = weekly_budget(patient)
    within = fits_budget(near, due, budget)
    reason = (
        f"{code} worse than its best since the infusion by its minimal important difference"
        if within
        else f"not asked: over the weekly burden budget ({budget})"
    )
    return _extra_once(
        patient=patient,
        infusion=infusion,
        kind=ReminderKind.PROBE,
        step_key=probe_key(due, tz),  # that day's probe: planned once, never sent twice
        instruments=[code],
        due_at=due,
        window_closes_at=closes,
        status=ReminderStatus.PENDING if within else ReminderStatus.CANCELLED,
        reason=reason[:200],
    )


def _extra_once(**fields) -> Reminder | None:
    """A probe or screener row, or None if its key exists (unique per patient and key)."""
    try:
        with transaction.atomic():
            return Reminder.objects.create(**fields)
    except IntegrityError:
        return None


def screener_add(
    *, patient: Patient, check_in: CheckIn, instrument_code: str, now: datetime | None = None
) -> Reminder | None:
    """A short safety screener, due at once, after a positive self-harm item."""
    now = now or timezone.now()
    infusion = (
        Infusion.objects.filter(patient=patient, status__in=(InfusionStatus.COMPLETED,))
        .order_by("-ended_at")
        .first()
    )
    nudges, interval = SCREENER_NUDGES
    return _extra_once(
        patient=patient,
        infusion=infusion,
        kind=ReminderKind.SCREENER,
        step_key=f"screener-{check_in.pk.hex[:12]}",
        instruments=[instrument_code],
        due_at=now,
        window_closes_at=now + SCREENER_WINDOW,
        nudges_left=nudges,
        nudge_interval_minutes=interval,
        reason="safety follow-up screener after a self-harm item",
    )
