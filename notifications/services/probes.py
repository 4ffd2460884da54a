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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
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
# Probes per patient and local day, whatever the instruments: fading instruments share the
# day's probe (one check-in); one sent already is not followed by another that day.
MAX_PROBES_PER_DAY = 1
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


@dataclass(frozen=True)
class _Rule:
    mid: float
    higher_is_better: bool
    validated: bool


# Per instrument version, what a probe needs of its definition (a version never changes).
_RULES: dict[object, _Rule | None] = {}


def _rule_of(version_id) -> _Rule | None:
    """The probe rule of a momentary instrument version with a minimal important
    difference; None for any other (a 2-week-recall score cannot be asked again in two
    days). Read once per version and process."""
    if version_id not in _RULES:
        version = InstrumentVersion.objects.filter(pk=version_id).first()
        defn = definition_for(version) if version is not None else None
        if defn is None or defn.recall.hours > 24 or not defn.thresholds.mid:
            _RULES[version_id] = None
        else:
            said = " ".join([defn.source, *defn.notes]).lower()
            _RULES[version_id] = _Rule(
                mid=float(defn.thresholds.mid),
                higher_is_better=defn.direction == "higher_is_better",
                validated="not a validated" not in said,
            )
    return _RULES[version_id]


def _clinic_mid(patient: Patient, code: str) -> float | None:
    return (
        ClinicOutcomeSettings.objects.filter(clinic_id=patient.clinic_id, instrument_code=code)
        .values_list("mid", flat=True)
        .first()
    )


def _latest_infusion(patient: Patient, before: datetime) -> Infusion | None:
    return (
        Infusion.objects.filter(
            patient=patient, status=InfusionStatus.COMPLETED, ended_at__lte=before
        )
        .order_by("-ended_at")
        .first()
    )


def probes_consider(
    *,
    check_in: CheckIn,
    instrument_codes: Iterable[str],
    recall_hours: dict[str, int],
    now: datetime | None = None,
) -> list[Reminder]:
    """After a stored check-in: add, refuse or stop probes for each momentary instrument it
    answered (runs in the check-in's transaction). Two queries for a check-in of momentary
    measures (the latest infusion, the readings since), none for any other."""
    codes = [c for c in instrument_codes if 0 <= recall_hours.get(c, 25) <= 24]
    patient = check_in.patient
    if not codes or patient.status != PatientStatus.ACTIVE:
        return []
    now = now or timezone.now()
    infusion = _latest_infusion(patient, check_in.answered_at)
    if infusion is None or infusion.ended_at is None:
        return []
    ended = infusion.ended_at
    by_code: dict[str, list[Reading]] = {}
    versions: dict[str, object] = {}
    rows = InstrumentResponse.objects.filter(
        patient=patient, instrument_code__in=codes, answered_at__gte=ended, total__isnull=False
    ).values_list("instrument_code", "answered_at", "total", "instrument_version_id")
    for code, at, total, version_id in rows:
        if total is not None:
            by_code.setdefault(code, []).append(Reading(at, float(total)))
            versions[code] = version_id
    added = []
    for code, readings in by_code.items():
        rule = _rule_of(versions[code])
        if rule is None:
            continue
        mid = _clinic_mid(patient, code) if rule.validated else None
        state = trend(
            readings, since=ended, mid=mid or rule.mid, higher_is_better=rule.higher_is_better
        )
        if state == Trend.FADING:
            why = f"{code} worse than its best since the infusion by its minimal difference"
            if not rule.validated:
                why += " (an unvalidated item: a prompt to look, not a clinical label)"
            row = _probe_add(patient, infusion, code, check_in.answered_at, now, why)
            if row is not None:
                added.append(row)
        elif state in (Trend.STABLE, Trend.CONFIRMED):
            _probes_stop(
                patient,
                code,
                "recovered" if state == Trend.STABLE else "the loss is confirmed",
                now,
            )
    return added


def _probes_stop(patient: Patient, code: str, why: str, now: datetime) -> int:
    """Pending probes of `code` no longer need it: one asking only `code` is cancelled, one
    shared with another fading instrument keeps asking that one."""
    # Locked, and status checked under the lock: a probe the dispatcher claimed is history.
    pending = Reminder.objects.select_for_update(of=("self",)).filter(
        patient=patient, kind=ReminderKind.PROBE, status=ReminderStatus.PENDING
    )
    changed = 0
    for row in pending:
        if code not in row.instruments:
            continue
        rest = [c for c in row.instruments if c != code]
        if rest:
            row.instruments = rest
            row.reason = f"{code} not needed ({why}); {row.reason}"[:200]
            row.save(update_fields=["instruments", "reason", "updated_at"])
        else:
            row.status, row.reason = ReminderStatus.CANCELLED, f"not needed: {why}"
            row.save(update_fields=["status", "reason", "updated_at"])
        changed += 1
    return changed


# After this many unanswered probes in a row, the sparse plan carries on alone.
MISSED_PROBES_MAX = 2


def probes_after_missed(*, rows: list[Reminder], now: datetime) -> int:
    """A probe that closed unanswered is asked again two days later (the loss is neither
    confirmed nor ruled out), up to MISSED_PROBES_MAX in a row, within the budget."""
    added = 0
    for row in rows:
        patient = row.patient
        if patient.status != PatientStatus.ACTIVE or row.infusion is None:
            continue
        for code in row.instruments:
            last = (
                InstrumentResponse.objects.filter(patient=patient, instrument_code=code)
                .order_by("-answered_at")
                .values_list("answered_at", flat=True)
                .first()
            )
            missed = Reminder.objects.filter(
                patient=patient, kind=ReminderKind.PROBE, status=ReminderStatus.MISSED
            )
            if last is not None:
                missed = missed.filter(due_at__gt=last)
            if sum(code in asked for asked in missed.values_list("instruments", flat=True)) >= (
                MISSED_PROBES_MAX
            ):
                continue
            why = f"{code}: the previous probe was not answered"
            if _probe_add(patient, row.infusion, code, row.window_closes_at, now, why) is not None:
                added += 1
    return added


def _probe_add(
    patient: Patient,
    infusion: Infusion,
    code: str,
    answered_at: datetime,
    now: datetime,
    why: str,
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
    # A probe already pending that local day asks this instrument too: one reminder, one
    # check-in, for every instrument fading at once (pain and mood).
    that_day = Reminder.objects.filter(
        patient=patient, kind=ReminderKind.PROBE, due_at__range=_local_day(due, tz)
    ).exclude(status=ReminderStatus.CANCELLED)
    shared = (
        that_day.select_for_update(of=("self",))
        .filter(status=ReminderStatus.PENDING)
        .order_by("due_at")
        .first()
    )
    if shared is not None:
        if code in shared.instruments:
            return None
        shared.instruments = [*shared.instruments, code]
        shared.reason = f"{code} fading too; {shared.reason}"[:200]
        shared.save(update_fields=["instruments", "reason", "updated_at"])
        return shared
    budget = weekly_budget(patient)
    within = fits_budget([opens for opens, *_ in asks], due, budget)
    reason = why if within else f"not asked: over the weekly burden budget ({budget})"
    if within and that_day.count() >= MAX_PROBES_PER_DAY:
        # That day's probe was sent already (or answered, or missed): not a second one,
        # whatever the instruments. Kept cancelled, with its reason, as the budget's are.
        within, reason = False, "not asked: that day already has its probe"
    return _extra_once(
        patient=patient,
        infusion=infusion,
        kind=ReminderKind.PROBE,
        # One probe per instrument and local day: planned once, never sent twice.
        step_key=probe_key(due, tz, code),
        instruments=[code],
        due_at=due,
        window_closes_at=closes,
        status=ReminderStatus.PENDING if within else ReminderStatus.CANCELLED,
        reason=reason[:200],
    )


def _local_day(t: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first and last microsecond of `t`'s day on the patient's wall clock, in UTC."""
    day = t.astimezone(tz).date()
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC) - timedelta(microseconds=1)


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
