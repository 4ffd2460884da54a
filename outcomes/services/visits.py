"""The infusion visit: a monitoring session per infusion, its timed readings (idempotent
like check-ins), visit alerts to the staff on the floor, the pre-dose hold and its
override, adverse events, discharge, and the REMS Patient Monitoring Form.

Checks on a reading are pure (outcomes/visits/thresholds.py); the form is assembled here
and drawn by outcomes/visits/rems.py. Nothing here writes health data to a log.
"""

import hashlib
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from accounts.errors import ConflictError, DomainValidationError
from accounts.models import Clinic, User
from outcomes import events

from ..models import (
    PRODUCT_ROUTES,
    AdverseAction,
    AdverseSeverity,
    ClinicVisitSettings,
    Infusion,
    InfusionStatus,
    MonitoringSession,
    Product,
    ReadingPhase,
    SessionStatus,
    VisitAdverseEvent,
    VisitAlert,
    VisitReading,
)
from ..selectors.visits import given_before, rems_due_on
from ..visits.medications import TABLE_VERSION, MedicationMatch, match_medications
from ..visits.rems import RemsAdverseEvent, RemsForm, RemsReading, form_json, missing_fields
from ..visits.thresholds import (
    VITALS,
    Breach,
    Thresholds,
    Vitals,
    breaches,
    hold_breach,
    phase_of,
    plausibility_errors,
)
from .guards import patient_lock_unerased

# The discharge checklist: every item must be ticked before the patient leaves.
DISCHARGE_ITEMS = (
    "vitals_acceptable",
    "sedation_resolved",
    "dissociation_resolved",
    "ambulating_steadily",
    "escort_present",
    "instructions_given",
)
# A reading is recorded at the visit: not more than this after the fact.
READING_MAX_AGE_HOURS = 24
_SETTINGS_FIELDS = [
    f.name
    for f in ClinicVisitSettings._meta.get_fields()
    if f.concrete and f.name not in ("id", "clinic", "dose_ranges", "updated_at")
]


def visit_settings_for(*, clinic: Clinic) -> ClinicVisitSettings:
    row, _ = ClinicVisitSettings.objects.get_or_create(clinic=clinic)
    return row


def visit_settings_read(*, clinic_id) -> ClinicVisitSettings:
    """The clinic's settings for a read: its row, or the defaults unsaved (a GET writes
    nothing)."""
    row = ClinicVisitSettings.objects.filter(clinic_id=clinic_id).first()
    return row if row is not None else ClinicVisitSettings(clinic_id=clinic_id)


def _digest(body: dict) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _replayed(model, row_id: uuid.UUID, infusion: Infusion, digest: str, what: str):
    """The row a tablet stored before under this id (a retry: the same row back), or None.
    The id reused for other content, or another infusion, is a 409."""
    existing = model.objects.filter(pk=row_id).select_related("session").first()
    if existing is not None and (
        existing.session.infusion_id != infusion.pk or existing.payload_digest != digest
    ):
        raise ConflictError(
            f"This {what} id was already used for a different {what}.",
            code="idempotency_key_reused",
        )
    return existing


def _strict(infusion: Infusion, first_n: int) -> bool:
    """One of the patient's first `first_n` infusions: fewer than that were given before it."""
    at = infusion.started_at or infusion.scheduled_at
    earlier = Infusion.objects.filter(
        given_before(patient_id=infusion.patient_id, at=at, exclude=infusion.pk)
    ).count()
    return earlier < first_n


def thresholds_for(
    infusion: Infusion,
    *,
    settings_row: ClinicVisitSettings | None = None,
    given_before: int | None = None,
) -> Thresholds:
    """The clinic's thresholds as they apply to this infusion now (strict for a patient's
    first infusions). A list passes the settings and the count of infusions given before
    each (`given_before`, annotated) to spare a query per row."""
    if settings_row is None:
        settings_row = visit_settings_read(clinic_id=infusion.patient.clinic_id)
    values = {name: getattr(settings_row, name) for name in _SETTINGS_FIELDS}
    first_n = settings_row.strict_infusions
    strict = given_before < first_n if given_before is not None else _strict(infusion, first_n)
    return Thresholds.from_settings(values, strict=strict)


@transaction.atomic
def session_start(
    *, infusion: Infusion, user: User | None, now: datetime | None = None
) -> tuple[MonitoringSession, bool]:
    """The infusion's monitoring session, started now if it has none (a second start returns
    the first: a tablet may retry). The thresholds in force are kept with it."""
    now = now or timezone.now()
    patient_lock_unerased(infusion.patient)  # erasure is final; the patient, then the infusion
    infusion = Infusion.objects.select_for_update().select_related("patient").get(pk=infusion.pk)
    existing = MonitoringSession.objects.filter(infusion=infusion).first()
    if existing is not None:
        return existing, False
    if infusion.status == InfusionStatus.CANCELLED:
        raise DomainValidationError.single(
            "infusion", "cancelled", "A cancelled infusion has no visit."
        )
    settings_row = visit_settings_for(clinic=infusion.patient.clinic)
    strict = _strict(infusion, settings_row.strict_infusions)
    thresholds = thresholds_for(infusion)
    session = MonitoringSession.objects.create(
        infusion=infusion,
        strict=strict,
        thresholds=thresholds.as_dict(),
        started_at=now,
        started_by=user,
        rems_required=infusion.product == Product.ESKETAMINE,
    )
    return session, True


def session_for(infusion: Infusion) -> MonitoringSession:
    session = MonitoringSession.objects.filter(infusion=infusion).first()
    if session is None:
        raise DomainValidationError.single(
            "visit", "not_started", "Start the visit's monitoring session first."
        )
    return session


READING_FIELDS = (*VITALS, "moaas", "dissociation_scale", "dissociation_score")


def _reading_errors(
    fields: dict, taken_at: datetime, phase: str | None, now: datetime
) -> dict[str, list[tuple[str, str]]]:
    errors = {k: [v] for k, v in plausibility_errors(fields).items()}
    if all(fields.get(k) in (None, "") for k in READING_FIELDS):
        errors["non_field_errors"] = [
            ("required", "A reading needs at least one vital sign, MOAA/S or dissociation score.")
        ]
    if taken_at > now + timedelta(minutes=5):
        errors["taken_at"] = [("future", "A reading cannot be taken in the future.")]
    elif now - taken_at > timedelta(hours=READING_MAX_AGE_HOURS):
        errors["taken_at"] = [
            ("too_old", f"A reading is recorded within {READING_MAX_AGE_HOURS} hours.")
        ]
    if phase is not None and phase not in ReadingPhase.values:
        errors["phase"] = [("invalid_choice", f"One of {', '.join(ReadingPhase.values)}.")]
    return errors


@transaction.atomic
def reading_add(
    *,
    infusion: Infusion,
    reading_id: uuid.UUID,
    taken_at: datetime,
    fields: dict,
    phase: str | None = None,
    user: User | None,
    now: datetime | None = None,
) -> tuple[VisitReading, bool]:
    """Store one timed reading (the tablet's id: a retry is the same row, the id reused for
    other content is a 409), check it against the session's thresholds: a visit alert per
    parameter past its threshold (one open alert per parameter; a later reading past it
    adds to it), and a pre-dose blood pressure past the hold threshold holds the infusion."""
    now = now or timezone.now()
    fields = {k: fields.get(k) for k in READING_FIELDS}
    fields["dissociation_scale"] = fields.get("dissociation_scale") or ""
    body = {"taken_at": taken_at.astimezone(UTC).isoformat(), "phase": phase, **fields}
    digest = _digest(body)
    existing = _replayed(VisitReading, reading_id, infusion, digest, "reading")
    if existing is not None:
        return existing, False
    errors = _reading_errors(fields, taken_at, phase, now)
    if errors:
        raise DomainValidationError(errors)
    # A reading sent before anyone started the session starts it: never lost.
    started, _ = session_start(infusion=infusion, user=user, now=now)
    session = MonitoringSession.objects.select_for_update().get(pk=started.pk)
    # Under the lock: a retry that raced this one is now stored, and is returned as such.
    existing = _replayed(VisitReading, reading_id, infusion, digest, "reading")
    if existing is not None:
        return existing, False
    if session.left_at is not None and taken_at > session.left_at:
        raise DomainValidationError.single(
            "taken_at", "after_departure", "The patient left before this time."
        )
    infusion = session.infusion
    reading = VisitReading(
        id=reading_id,
        session=session,
        taken_at=taken_at,
        phase=phase or phase_of(taken_at, infusion.started_at, infusion.ended_at),
        phase_given=phase is not None,
        payload_digest=digest,
        recorded_by=user,
        **fields,
    )
    reading.save(force_insert=True)
    thresholds = Thresholds(**session.thresholds)
    vitals = Vitals(**{k: fields[k] for k in (*VITALS, "moaas")})
    for breach in breaches(vitals, thresholds):
        _alert_raise(session, reading, breach, now)
    _hold_update(session)
    return reading, True


def _pre_dose_pressure(session: MonitoringSession, start: datetime | None) -> VisitReading | None:
    """The pre-dose blood pressure that decides the hold: the latest TAKEN (not the latest
    to arrive) with both values, before the dose's start if it is known."""
    rows = session.readings.filter(
        phase=ReadingPhase.PRE_DOSE, systolic__isnull=False, diastolic__isnull=False
    )
    if start is not None:
        rows = rows.filter(taken_at__lt=start)
    return rows.order_by("-taken_at", "-created_at").first()


def _held(session: MonitoringSession, start: datetime | None) -> bool:
    reading = _pre_dose_pressure(session, start)
    if reading is None:
        return False
    vitals = Vitals(systolic=reading.systolic, diastolic=reading.diastolic)
    return hold_breach(vitals, Thresholds(**session.thresholds)) is not None


def _hold_update(session: MonitoringSession) -> None:
    """A calmer pre-dose reading, re-measured after rest, lifts the hold; a higher one
    sets it (until the dose has started: then it is history)."""
    if session.infusion.started_at is not None:
        return
    held = _held(session, None)
    if held != session.on_hold:
        session.on_hold = held
        session.save(update_fields=["on_hold", "updated_at"])


def readings_rephase(infusion: Infusion) -> None:
    """The infusion's start or end was recorded or moved: the phases derived from them are
    derived again (a reading sent before the start was recorded looked pre-dose)."""
    session = MonitoringSession.objects.filter(infusion=infusion).first()
    if session is None:
        return
    for reading in session.readings.filter(phase_given=False):
        phase = phase_of(reading.taken_at, infusion.started_at, infusion.ended_at)
        if phase != reading.phase:
            VisitReading.objects.filter(pk=reading.pk).update(phase=phase)
    if infusion.product == Product.ESKETAMINE and not session.rems_required:
        MonitoringSession.objects.filter(pk=session.pk).update(rems_required=True)


def _alert_raise(
    session: MonitoringSession, reading: VisitReading, breach: Breach, now: datetime
) -> VisitAlert:
    open_alert = (
        VisitAlert.objects.select_for_update()
        .filter(session=session, parameter=breach.parameter, acknowledged_at__isnull=True)
        .first()
    )
    if open_alert is not None:
        open_alert.reading, open_alert.value = reading, breach.value
        open_alert.readings_past += 1
        open_alert.save(update_fields=["reading", "value", "readings_past"])
        return open_alert
    alert = VisitAlert.objects.create(
        session=session,
        reading=reading,
        parameter=breach.parameter,
        value=breach.value,
        limit=breach.limit,
        raised_at=now,
    )
    # The staff on the floor are told (never the patient); the notice names nobody.
    events.announce(events.VisitAlertRaised(patient=session.infusion.patient, alert=alert))
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: VisitAlert, user: User, now: datetime | None = None) -> VisitAlert:
    alert = VisitAlert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now or timezone.now(), user
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


@transaction.atomic
def hold_override(
    *, infusion: Infusion, reason: str, user: User, now: datetime | None = None
) -> MonitoringSession:
    """Start despite a pre-dose blood pressure past the hold threshold: a reason, and who."""
    patient_lock_unerased(infusion.patient)
    session = MonitoringSession.objects.select_for_update().get(pk=session_for(infusion).pk)
    reason = (reason or "").strip()
    errors: dict[str, list[tuple[str, str]]] = {}
    if not session.on_hold:
        errors["non_field_errors"] = [("not_on_hold", "The infusion is not on hold.")]
    if not reason:
        errors["reason"] = [("required", "Say why the infusion goes ahead.")]
    elif len(reason) > 300:
        errors["reason"] = [("max_length", "At most 300 characters.")]
    if errors:
        raise DomainValidationError(errors)
    session.hold_override_reason, session.hold_override_by = reason, user
    session.hold_override_at = now or timezone.now()
    session.save(
        update_fields=["hold_override_reason", "hold_override_by", "hold_override_at", "updated_at"]
    )
    return session


def hold_blocks_start(infusion: Infusion, start: datetime) -> bool:
    """The infusion may not start at `start`: the pre-dose blood pressure taken before it
    is above the hold threshold and nobody recorded an override."""
    session = MonitoringSession.objects.filter(infusion=infusion).first()
    if session is None or session.hold_override_at is not None:
        return False
    return _held(session, start)


@transaction.atomic
def adverse_event_add(
    *,
    infusion: Infusion,
    event_id: uuid.UUID,
    occurred_at: datetime,
    term: str,
    severity: str,
    serious: bool,
    action_taken: str,
    notes: str = "",
    user: User | None,
    now: datetime | None = None,
) -> tuple[VisitAdverseEvent, bool]:
    now = now or timezone.now()
    body = {
        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
        "term": term,
        "severity": severity,
        "serious": serious,
        "action_taken": action_taken,
        "notes": notes,
    }
    digest = _digest(body)
    existing = _replayed(VisitAdverseEvent, event_id, infusion, digest, "adverse event")
    if existing is not None:
        return existing, False
    errors: dict[str, list[tuple[str, str]]] = {}
    if severity not in AdverseSeverity.values:
        errors["severity"] = [("invalid_choice", f"One of {', '.join(AdverseSeverity.values)}.")]
    if action_taken not in AdverseAction.values:
        errors["action_taken"] = [("invalid_choice", f"One of {', '.join(AdverseAction.values)}.")]
    if occurred_at > now + timedelta(minutes=5):
        errors["occurred_at"] = [("future", "An adverse event cannot be in the future.")]
    elif now - occurred_at > timedelta(hours=READING_MAX_AGE_HOURS):
        errors["occurred_at"] = [
            ("too_old", f"An adverse event is recorded within {READING_MAX_AGE_HOURS} hours.")
        ]
    if errors:
        raise DomainValidationError(errors)
    session, _ = session_start(infusion=infusion, user=user, now=now)  # locks the infusion
    existing = _replayed(VisitAdverseEvent, event_id, infusion, digest, "adverse event")
    if existing is not None:
        return existing, False
    event = VisitAdverseEvent.objects.create(
        id=event_id,
        session=session,
        payload_digest=digest,
        recorded_by=user,
        **body | {"occurred_at": occurred_at},
    )
    return event, True


@transaction.atomic
def discharge(
    *,
    infusion: Infusion,
    checklist: dict[str, bool],
    ready_to_leave_at: datetime,
    left_at: datetime | None,
    user: User,
    now: datetime | None = None,
) -> MonitoringSession:
    """The discharge checklist and when the patient was ready to leave (the REMS form's
    "without the 2-hour rule" time) and left. Leaving needs every item ticked and no open
    visit alert; the session is then complete."""
    now = now or timezone.now()
    patient_lock_unerased(infusion.patient)
    session = MonitoringSession.objects.select_for_update().get(pk=session_for(infusion).pk)
    if session.status == SessionStatus.COMPLETED:
        raise DomainValidationError.single(
            "non_field_errors", "completed", "The patient was discharged: the visit is closed."
        )
    infusion = session.infusion
    errors = _discharge_errors(session, checklist, ready_to_leave_at, left_at, now)
    if errors:
        raise DomainValidationError(errors)
    session.discharge_checklist = {k: bool(checklist.get(k)) for k in DISCHARGE_ITEMS}
    session.ready_to_leave_at, session.left_at, session.discharged_by = (
        ready_to_leave_at,
        left_at,
        user,
    )
    if left_at is not None:
        session.status = SessionStatus.COMPLETED
    session.save(
        update_fields=[
            "discharge_checklist",
            "ready_to_leave_at",
            "left_at",
            "discharged_by",
            "status",
            "updated_at",
        ]
    )
    return session


# Esketamine REMS: monitored for at least 2 hours after the dose (INSTRUMENTS.md).
REMS_MINIMUM_MONITORING = timedelta(hours=2)


def _discharge_errors(
    session: MonitoringSession,
    checklist: dict[str, bool],
    ready_to_leave_at: datetime,
    left_at: datetime | None,
    now: datetime,
) -> dict[str, list[tuple[str, str]]]:
    infusion = session.infusion
    errors: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(set(checklist) - set(DISCHARGE_ITEMS)):
        errors[f"checklist.{key}"] = [("unknown_field", f"Unknown item '{key}'.")]
    start = infusion.started_at or session.started_at
    if not start <= ready_to_leave_at <= now + timedelta(minutes=5):
        errors["ready_to_leave_at"] = [
            ("invalid", "After the dose started (or the visit, before one), not in the future.")
        ]
    if left_at is None:
        return errors
    if left_at < ready_to_leave_at:
        errors["left_at"] = [("invalid", "The patient leaves once ready to leave.")]
    elif left_at > now + timedelta(minutes=5):
        errors["left_at"] = [("future", "Not in the future.")]
    elif session.rems_required and (
        infusion.started_at is None or left_at - infusion.started_at < REMS_MINIMUM_MONITORING
    ):
        errors["left_at"] = [
            ("rems_minimum", "Esketamine: at least 2 hours after the dose (REMS).")
        ]
    for key in DISCHARGE_ITEMS:
        if not checklist.get(key):
            errors[f"checklist.{key}"] = [("required", "Every item is checked before leaving.")]
    if VisitAlert.objects.filter(session=session, acknowledged_at__isnull=True).exists():
        errors["non_field_errors"] = [
            ("open_alerts", "Acknowledge the visit's alerts before the patient leaves.")
        ]
    return errors


# --- the REMS Patient Monitoring Form -----------------------------------------------------
def _local_date(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def _acceptable(reading: VisitReading | None, thresholds: Thresholds) -> bool | None:
    if reading is None:
        return None
    vitals = Vitals(**{k: getattr(reading, k) for k in (*VITALS, "moaas")})
    return not breaches(vitals, thresholds) and hold_breach(vitals, thresholds) is None


def rems_form(session: MonitoringSession) -> RemsForm:
    """The form as the session knows it now (pre-filled; `missing_fields` says what is not)."""
    infusion = session.infusion
    patient = infusion.patient
    thresholds = Thresholds(**session.thresholds)
    readings = list(session.readings.all())
    matches = infusion.medication_matches or []

    def of(cls: str) -> tuple[str, ...]:
        return tuple(MedicationMatch(**m).describe() for m in matches if m["drug_class"] == cls)

    start = infusion.started_at
    began = start or session.started_at
    # Defensive: a departure before the dose is no answer (the services refuse one).
    left = session.left_at if session.left_at and session.left_at >= began else None
    pressures = [r for r in readings if r.systolic is not None and r.diastolic is not None]
    before = [
        r
        for r in pressures
        if r.phase == ReadingPhase.PRE_DOSE and (start is None or r.taken_at < start)
    ]
    # Before discharge: the nurse's pre-discharge reading, else the last one after the dose
    # ended (never the 40-minute peak of a session without one).
    after_end = [
        r
        for r in pressures
        if infusion.ended_at is not None
        and r.taken_at >= infusion.ended_at
        and (left is None or r.taken_at <= left)
    ]
    at_discharge = [r for r in pressures if r.phase == ReadingPhase.PRE_DISCHARGE] or after_end

    def minutes(at: datetime) -> int | None:
        return None if start is None else int((at - start) // timedelta(minutes=1))

    monitored = [
        r for r in readings if r.taken_at >= began and (left is None or r.taken_at <= left)
    ]
    moaas = [r.moaas for r in readings if r.moaas is not None]
    dissociation = [r.dissociation_score for r in readings if r.dissociation_score is not None]
    breathing = [r for r in monitored if r.spo2 is not None or r.resp_rate is not None]
    return RemsForm(
        session_id=str(session.pk),
        clinic_name=patient.clinic.name,
        patient_name=patient.display_name,
        patient_reference=patient.clinic_reference,
        date_of_birth=patient.date_of_birth,
        timezone=patient.timezone,
        session_date=_local_date(start or session.started_at, patient.timezone),
        due_on=rems_due_on(session),
        product=infusion.product,
        dose_mg=infusion.total_dose_mg,
        dose_started_at=start,
        medications_reviewed=bool(infusion.medication_table_version),
        benzodiazepines=of("benzodiazepine"),
        sedative_hypnotics=of("z_drug"),
        psychostimulants=of("stimulant"),
        maois=of("maoi"),
        # Monitoring runs from the dose (REMS: at least 2 hours after it) to departure.
        monitoring_started_at=began,
        monitoring_ended_at=left,
        ready_to_leave_at=session.ready_to_leave_at,
        # Given despite a pressure above the hold: not acceptable, whatever came after.
        vitals_acceptable_before_dosing=False
        if session.hold_override_at
        else _acceptable(max(before, key=lambda r: r.taken_at, default=None), thresholds),
        vitals_acceptable_before_discharge=_acceptable(
            max(at_discharge, key=lambda r: r.taken_at, default=None), thresholds
        ),
        pulse_oximetry_monitored=any(r.spo2 is not None for r in monitored),
        # MOAA/S below 5: any sedation; a dissociation total above 0: any dissociation.
        # Never assessed: unknown, not "no".
        sedation_observed=(min(moaas) < 5) if moaas else None,
        dissociation_observed=any(score > 0 for score in dissociation) if dissociation else None,
        respiratory_depression=(
            any(
                (r.spo2 is not None and r.spo2 < thresholds.spo2_low)
                or (r.resp_rate is not None and r.resp_rate < thresholds.resp_rate_low)
                for r in breathing
            )
            if breathing
            else None
        ),
        readings=tuple(
            RemsReading(
                taken_at=r.taken_at,
                minutes=minutes(r.taken_at),
                phase=r.phase,
                systolic=r.systolic,
                diastolic=r.diastolic,
                heart_rate=r.heart_rate,
                spo2=r.spo2,
                resp_rate=r.resp_rate,
                alert=_alert_text(r, thresholds),
            )
            for r in readings
            if any(getattr(r, k) is not None for k in VITALS)
        ),
        adverse_events=tuple(
            RemsAdverseEvent(
                e.occurred_at,
                e.term,
                e.severity,
                e.serious,
                AdverseAction(e.action_taken).label + (f"; {e.notes}" if e.notes else ""),
            )
            for e in session.adverse_events.all()
        ),
        filed_at=session.rems_filed_at,
        filed_by=session.rems_filed_by.get_full_name() if session.rems_filed_by else "",
    )


def _alert_text(reading: VisitReading, thresholds: Thresholds) -> str:
    vitals = Vitals(**{k: getattr(reading, k) for k in (*VITALS, "moaas")})
    return "; ".join(b.describe() for b in breaches(vitals, thresholds))


@transaction.atomic
def rems_file(*, infusion: Infusion, user: User, now: datetime | None = None) -> MonitoringSession:
    """Mark the session's form filed, keeping the form as filed. Only a complete form."""
    patient_lock_unerased(infusion.patient)
    session = MonitoringSession.objects.select_for_update().get(pk=session_for(infusion).pk)
    if not session.rems_required:
        raise DomainValidationError.single(
            "visit", "not_required", "This product needs no REMS monitoring form."
        )
    if session.rems_filed_at is not None:
        return session
    form = rems_form(session)
    missing = missing_fields(form)
    if missing:
        raise DomainValidationError(
            {f: [("required", "The form needs this before it is filed.")] for f in missing}
        )
    session.rems_filed_at, session.rems_filed_by = now or timezone.now(), user
    session.rems_filed_form = form_json(
        RemsForm(
            **{**form.__dict__, "filed_at": session.rems_filed_at, "filed_by": user.get_full_name()}
        )
    )
    session.save(update_fields=["rems_filed_at", "rems_filed_by", "rems_filed_form", "updated_at"])
    return session


def medication_matches_for(medications: list[dict]) -> tuple[list[dict], str]:
    """What the shipped table matched in these entries, and the table's version."""
    found = match_medications(str(m.get("name", "")) for m in medications)
    return [
        {"ingredient": m.ingredient, "drug_class": m.drug_class, "matched": m.matched}
        for m in found
    ], TABLE_VERSION


# What a clinic may set: a threshold outside these is a typing error, not a policy.
_SETTING_BOUNDS = {
    "alert_systolic": (120, 260),
    "alert_diastolic": (70, 160),
    "hold_systolic": (110, 260),
    "hold_diastolic": (60, 160),
    "heart_rate_high": (80, 200),
    "heart_rate_low": (30, 70),
    "spo2_low": (80, 99),
    "resp_rate_low": (4, 16),
    "resp_rate_high": (16, 50),
    "sedation_alert_at_or_below": (0, 4),
    "strict_infusions": (0, 20),
}
_DOSE_UNITS = {"mg_per_kg": (Decimal("0"), Decimal("5")), "mg": (Decimal("0"), Decimal("500"))}


def _dose_range_errors(ranges: object) -> dict[str, list[tuple[str, str]]]:
    if not isinstance(ranges, list) or len(ranges) > 20:
        return {"dose_ranges": [("invalid", "A list of at most 20 ranges.")]}
    errors: dict[str, list[tuple[str, str]]] = {}
    seen = set()
    for i, r in enumerate(ranges):
        at = f"dose_ranges.{i}"
        if (
            not isinstance(r, dict)
            or set(r) != {"product", "route", "unit", "min", "max"}
            or not all(isinstance(r[k], str) for k in ("product", "route", "unit"))
            or not all(isinstance(r[k], int | float | str) for k in ("min", "max"))
        ):
            errors[at] = [("invalid", "product, route and unit (text), min and max (numbers).")]
            continue
        if r["product"] not in Product.values or r["route"] not in PRODUCT_ROUTES.get(
            r["product"], ()
        ):
            errors[f"{at}.route"] = [("invalid_choice", "A product and a route it is given by.")]
        if r["unit"] not in _DOSE_UNITS:
            errors[f"{at}.unit"] = [("invalid_choice", "mg_per_kg or mg.")]
            continue
        lo, hi = _DOSE_UNITS[r["unit"]]
        try:
            low, high = Decimal(str(r["min"])), Decimal(str(r["max"]))
        except (ArithmeticError, ValueError):
            low = high = Decimal("NaN")
        if not (low.is_finite() and high.is_finite()):
            errors[f"{at}.min"] = [("invalid", "Numbers.")]
            continue
        if isinstance(r["min"], bool) or isinstance(r["max"], bool) or not (lo <= low < high <= hi):
            errors[f"{at}.max"] = [("invalid", f"{lo} <= min < max <= {hi}.")]
        if (r["product"], r["route"]) in seen:
            errors[f"{at}.route"] = [("unique", "One range per product and route.")]
        seen.add((r["product"], r["route"]))
    return errors


def _consistency_errors(merged: dict) -> dict[str, list[tuple[str, str]]]:
    """The strict set no laxer than the standard one, a hold not above its alert, each low
    limit below its high one."""
    errors: dict[str, list[tuple[str, str]]] = {}
    for name in (
        "alert_systolic",
        "alert_diastolic",
        "hold_systolic",
        "hold_diastolic",
        "heart_rate_high",
    ):
        if merged[f"strict_{name}"] > merged[name]:
            errors[f"strict_{name}"] = [
                ("laxer", f"Not above {name} (the strict set is stricter).")
            ]
    if merged["strict_spo2_low"] < merged["spo2_low"]:
        errors["strict_spo2_low"] = [("laxer", "Not below spo2_low (the strict set is stricter).")]
    for prefix in ("", "strict_"):
        for part in ("systolic", "diastolic"):
            if merged[f"{prefix}hold_{part}"] > merged[f"{prefix}alert_{part}"]:
                errors[f"{prefix}hold_{part}"] = [
                    ("above_alert", f"Not above {prefix}alert_{part}.")
                ]
    if merged["heart_rate_low"] >= merged["heart_rate_high"]:
        errors["heart_rate_low"] = [("invalid", "Below heart_rate_high.")]
    if merged["resp_rate_low"] >= merged["resp_rate_high"]:
        errors["resp_rate_low"] = [("invalid", "Below resp_rate_high.")]
    return errors


@transaction.atomic
def visit_settings_update(*, clinic: Clinic, **changes) -> ClinicVisitSettings:
    """Change a clinic's visit thresholds and dose ranges. Sessions already started keep
    the thresholds they started with. The strict set is never laxer than the standard one,
    and a hold is never above the alert."""
    row = ClinicVisitSettings.objects.select_for_update().get(
        pk=visit_settings_for(clinic=clinic).pk
    )
    merged = {f: getattr(row, f) for f in (*_SETTINGS_FIELDS, "dose_ranges")} | changes
    errors: dict[str, list[tuple[str, str]]] = {}
    for name, value in changes.items():
        base = name.removeprefix("strict_") if name != "strict_infusions" else name
        bounds = _SETTING_BOUNDS.get(base)
        if bounds and (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not bounds[0] <= value <= bounds[1]
        ):
            errors[name] = [("out_of_range", f"From {bounds[0]} to {bounds[1]}.")]
    if not errors:
        errors = _consistency_errors(merged)
    if "dose_ranges" in changes:
        errors |= _dose_range_errors(changes["dose_ranges"])
    if errors:
        raise DomainValidationError(errors)
    for name, value in changes.items():
        setattr(row, name, value)
    if changes:
        row.save()
    return row
