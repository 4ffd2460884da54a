"""Check-in submission: validate every answer, score, store once."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.errors import ConflictError, DomainValidationError
from accounts.models import User
from outcomes import events
from outcomes.models import (
    CheckIn,
    CheckInSource,
    InstrumentResponse,
    InstrumentVersion,
    LatestScore,
    OutcomeState,
    Patient,
    PatientStatus,
)

from .. import scoring
from ..instruments import definition_for
from ..instruments.schema import Definition
from .instruments import active_versions
from .outcome_records import outcomes_mark_changed
from .safety import safety_evaluate


@dataclass(frozen=True)
class ResponseInput:
    instrument: str
    version: str
    answers: object


def submission_digest(*, answered_at: datetime, responses: list[ResponseInput]) -> str:
    """A fingerprint of what the phone sent, to tell a retry from a reused id."""
    body = {
        "answered_at": answered_at.astimezone(UTC).isoformat(),
        "responses": sorted(
            (
                {"instrument": r.instrument, "version": r.version, "answers": r.answers}
                for r in responses
            ),
            key=lambda r: (r["instrument"], r["version"]),
        ),
    }
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def _replay(
    existing: CheckIn, *, patient: Patient, digest: str, captured_by: User | None
) -> tuple[CheckIn, bool]:
    # Who captured it is part of what was submitted: the tablet retrying a phone's id (or
    # another staff member's) is not a retry, whatever the answers.
    captured_by_id = None if captured_by is None else captured_by.pk
    if (
        existing.patient_id != patient.id
        or existing.content_digest != digest
        or existing.captured_by_id != captured_by_id
    ):
        raise ConflictError(
            "This check-in id was already used for a different submission.",
            code="idempotency_key_reused",
        )
    return existing, False


# Parsed definitions by (row id, content digest): a loaded version never changes.
_DEFINITIONS: dict[tuple[uuid.UUID, str], Definition] = {}


def _definition(row: InstrumentVersion) -> Definition:
    key = (row.id, row.content_digest)
    defn = _DEFINITIONS.get(key)
    if defn is None:
        defn = _DEFINITIONS[key] = definition_for(row)  # reads the deferred column once
    return defn


def _stale(row: InstrumentVersion | None) -> bool:
    return row is None or not _definition(row).text_included


# A check-in on the clinic's tablet is answered at a visit, with the staff member who
# handed it over: not a record of answers given days ago (a phone may sync late; the
# tablet is in the clinic). 12 hours covers a long infusion day.
CLINIC_CAPTURE_MAX_AGE_HOURS = 12
# A check-in answered before the patient's record existed is a wrong clock (or a made-up
# date: 1900), not an answer. A day of allowance: a phone whose wall clock is right but whose
# zone is set wrong is off by up to a day (UTC-12 to UTC+14), and a sync is not instant.
ENROLMENT_CLOCK_ALLOWANCE = timedelta(days=1)


def _validate(
    *,
    patient: Patient,
    answered_at: datetime,
    responses: list[ResponseInput],
    now: datetime,
    captured: bool,
    since_enrolment: bool,
) -> list[tuple[InstrumentVersion, Definition]]:
    errors: dict[str, list[tuple[str, str]]] = {}
    if patient.status != PatientStatus.ACTIVE:
        raise DomainValidationError.single(
            "non_field_errors", "patient_withdrawn", "This patient no longer takes check-ins."
        )
    skew = timedelta(seconds=settings.AFTERGLOW_ANSWERED_AT_MAX_SKEW_SECONDS)
    if answered_at > now + skew:
        errors["answered_at"] = [("in_future", "answered_at lies in the future.")]
    elif captured and answered_at < now - timedelta(hours=CLINIC_CAPTURE_MAX_AGE_HOURS):
        errors["answered_at"] = [
            (
                "too_old_for_clinic",
                "A check-in on the clinic's tablet is answered at the visit: answered_at "
                f"must be within the last {CLINIC_CAPTURE_MAX_AGE_HOURS} hours.",
            )
        ]
    elif since_enrolment and answered_at < patient.created_at - ENROLMENT_CLOCK_ALLOWANCE:
        errors["answered_at"] = [
            ("before_enrolment", "answered_at lies before the patient was enrolled.")
        ]
    if not responses:
        errors["responses"] = [("empty", "A check-in answers at least one instrument.")]
    versions = active_versions(clinic_id=patient.clinic_id) if responses else {}
    if any(_stale(versions.get((r.instrument, r.version))) for r in responses):
        # Loaded (or licensed) in another process since this one cached the versions.
        versions = active_versions(clinic_id=patient.clinic_id, fresh=True)
    resolved: list[tuple[InstrumentVersion, Definition]] = []
    seen: set[str] = set()
    for i, r in enumerate(responses):
        where = f"responses.{i}"
        if r.instrument in seen:
            errors[f"{where}.instrument"] = [
                ("duplicate", f"{r.instrument} is answered twice in this check-in.")
            ]
            continue
        seen.add(r.instrument)
        row = versions.get((r.instrument, r.version))
        if row is None:
            errors[f"{where}.version"] = [
                (
                    "unknown_instrument_version",
                    f"Unknown instrument version {r.instrument} v{r.version}.",
                )
            ]
            continue
        defn = _definition(row)
        if not defn.text_included:
            errors[f"{where}.instrument"] = [
                ("not_licensed", f"{r.instrument} is not licensed for this clinic.")
            ]
            continue
        for err in scoring.validate_answers(defn, r.answers):
            attr = f"{where}.answers" + (f".{err.link_id}" if err.link_id else "")
            errors.setdefault(attr, []).append((err.code, err.detail))
        resolved.append((row, defn))
    if errors:
        raise DomainValidationError(errors)
    return resolved


def _lock_patient(patient: Patient) -> None:
    """SELECT ... FOR NO KEY UPDATE of the patient's row, without building a Patient. A
    withdrawal that committed after the request read the patient is refused here."""
    table, pk = Patient._meta.db_table, Patient._meta.pk
    status = Patient._meta.get_field("status").column
    assert status is not None and pk.column is not None  # concrete fields have a column
    quote = connection.ops.quote_name
    lock = " FOR NO KEY UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {quote(status)} FROM {quote(table)} "  # noqa: S608 - identifiers are ours
            f"WHERE {quote(pk.column)} = %s{lock}",
            [pk.get_db_prep_value(patient.pk, connection)],
        )
        row = cur.fetchone()
    if row is None or row[0] != PatientStatus.ACTIVE:
        raise DomainValidationError.single(
            "non_field_errors", "patient_withdrawn", "This patient no longer takes check-ins."
        )


def _insert_columns(model) -> list:
    """The columns the ORM's INSERT writes: every concrete one. A generated column or a
    database default would need the ORM's special handling, which _store does not repeat."""
    fields = model._meta.concrete_fields
    for f in fields:
        if getattr(f, "generated", False) or f.has_db_default():
            raise ImproperlyConfigured(f"_store cannot write {model.__name__}.{f.name}")
    return fields


def _values(model, objs: list) -> tuple[str, str, list]:
    """(column list, VALUES rows, parameters) of these unsaved instances: each value
    prepared by its field as the ORM's own INSERT prepares it, and cast to the column's
    type so that the rows can also be selected from."""
    quote = connection.ops.quote_name
    fields = _insert_columns(model)
    row = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in fields) + ")"
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    return ", ".join(quote(f.column) for f in fields), ", ".join([row] * len(objs)), params


def _stored(objs: list) -> None:
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias


class _AlreadyStored(Exception):
    """The check-in id is taken: a retry (or a reused id), told apart by the caller."""


def _store(
    *, patient: Patient, check_in: CheckIn, rows: list[InstrumentResponse]
) -> dict[str, tuple[float | None, datetime]]:
    """Write the check-in and its responses, make each score its instrument's latest
    (unless a newer one is already stored: a late-arriving older answer), mark the
    patient's stored outcomes stale, and return the latest scores as they were before.
    Raises _AlreadyStored if the check-in id is taken, having written nothing.

    On PostgreSQL this is one statement: every part of a WITH runs once and sees the same
    snapshot, so `before` holds the previous values; the foreign keys (deferred, as Django
    creates them) are checked at commit, when the check-in and its responses exist.
    Issued one by one through the ORM these were five round trips and most of a
    submission's CPU (docs/BENCHMARKS.md, "Clinic-network scale"). Runs under the patient's row
    lock.

    A taken id (a phone's retry: routine) makes the check-in's INSERT do nothing rather
    than fail, and every other part writes only if it wrote. A failing statement would be
    written to PostgreSQL's log with its values, answers included (client-side binding):
    no answer or score may reach a log. Elsewhere (the embedded SQLite demo) the same,
    statement by statement through the ORM."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                check_in.save(force_insert=True)
        except IntegrityError as exc:
            raise _AlreadyStored from exc
        InstrumentResponse.objects.bulk_create(rows)
        before = _latest_scores_swap_portable(patient=patient, rows=rows)
        outcomes_mark_changed(patient_ids=[patient.pk])
        return before
    quote = connection.ops.quote_name
    check_in_columns, check_in_row, check_in_params = _values(CheckIn, [check_in])
    check_in_pk = CheckIn._meta.pk.column
    assert check_in_pk is not None  # a concrete field has a column
    response_columns, response_rows, response_params = _values(InstrumentResponse, rows)
    check_ins = quote(CheckIn._meta.db_table)
    responses = quote(InstrumentResponse._meta.db_table)
    latest = LatestScore._meta.db_table
    state = OutcomeState._meta.db_table
    sql = f"""
        WITH check_in AS (
            INSERT INTO {check_ins} ({check_in_columns}) VALUES {check_in_row}
            ON CONFLICT ({quote(check_in_pk)}) DO NOTHING RETURNING 1
        ), responses AS (
            INSERT INTO {responses} ({response_columns})
            SELECT * FROM (VALUES {response_rows}) AS v WHERE EXISTS (SELECT FROM check_in)
        ), before AS (
            SELECT instrument_code, total, answered_at FROM {latest}
            WHERE patient_id = %s AND instrument_code = ANY(%s::varchar[])
        ), upsert AS (
            INSERT INTO {latest}
                (patient_id, instrument_code, response_id, answered_at, total, band)
            SELECT %s, code, response_id, at, total, band FROM unnest(
                %s::varchar[], %s::uuid[], %s::timestamptz[], %s::float8[], %s::varchar[]
            ) AS t(code, response_id, at, total, band)
            WHERE EXISTS (SELECT FROM check_in)
            ON CONFLICT (patient_id, instrument_code) DO UPDATE SET
                response_id = EXCLUDED.response_id, answered_at = EXCLUDED.answered_at,
                total = EXCLUDED.total, band = EXCLUDED.band
            WHERE {latest}.answered_at <= EXCLUDED.answered_at
        ), marked AS (
            INSERT INTO {state} (patient_id, version)
            SELECT %s, 1 WHERE EXISTS (SELECT FROM check_in)
            ON CONFLICT (patient_id) DO UPDATE SET version = {state}.version + 1
        )
        SELECT true, NULL, NULL, NULL FROM check_in
        UNION ALL SELECT false, instrument_code, total, answered_at FROM before
    """  # noqa: S608 - the table names are ours, every value is a parameter
    codes = [r.instrument_code for r in rows]
    with connection.cursor() as cur:
        cur.execute(
            sql,
            [
                *check_in_params,
                *response_params,
                patient.pk,
                codes,
                patient.pk,
                codes,
                [r.pk for r in rows],
                [r.answered_at for r in rows],
                [None if r.total is None else float(r.total) for r in rows],
                [r.band for r in rows],
                patient.pk,
            ],
        )
        result = cur.fetchall()
    if not any(inserted for inserted, *_ in result):
        raise _AlreadyStored
    _stored([check_in, *rows])
    return {code: (total, at) for inserted, code, total, at in result if not inserted}


def _latest_scores_swap_portable(
    *, patient: Patient, rows: list[InstrumentResponse]
) -> dict[str, tuple[float | None, datetime]]:
    current = {
        ls.instrument_code: ls
        for ls in LatestScore.objects.filter(
            patient=patient, instrument_code__in=[r.instrument_code for r in rows]
        )
    }
    before = {code: (ls.total, ls.answered_at) for code, ls in current.items()}
    for r in rows:
        ls = current.get(r.instrument_code)
        if ls is None:
            current[r.instrument_code] = LatestScore.objects.create(
                patient=patient,
                instrument_code=r.instrument_code,
                response=r,
                answered_at=r.answered_at,
                total=r.total,
                band=r.band,
            )
        elif ls.answered_at <= r.answered_at:
            LatestScore.objects.filter(pk=ls.pk).update(
                response=r, answered_at=r.answered_at, total=r.total, band=r.band
            )
    return before


def _previous_totals(
    *, before: dict[str, tuple[float | None, datetime]], answered_at: datetime
) -> dict[str, float | None]:
    """The score each instrument had before this check-in (for the large-worsening rule);
    a late-arriving older answer is compared with nothing."""
    return {code: total for code, (total, at) in before.items() if at < answered_at}


def checkin_submit(
    *,
    patient: Patient,
    check_in_id: uuid.UUID,
    answered_at: datetime,
    responses: list[ResponseInput],
    captured_by: User | None = None,
    now: datetime | None = None,
    since_enrolment: bool = False,
) -> tuple[CheckIn, bool]:
    """Validate, score and store a check-in exactly once.

    Returns (check_in, created). A retry with the same id and content returns the stored
    check-in with created=False; the same id with other content, or captured otherwise
    (phone or tablet, another staff member), is a ConflictError. Nothing is stored when
    any answer is invalid.

    `captured_by`: the staff member who handed the clinic's tablet to the patient at a
    visit (source "clinic"); None for the patient's own phone (source "app"). The caller
    has checked that they may (the patient is in their reach).

    `since_enrolment`: refuse an `answered_at` before the patient's record was created (less
    ENROLMENT_CLOCK_ALLOWANCE), as the API does for every submission it takes: the phone and
    the tablet answer after enrolment. False for history recorded after the fact (the demo,
    the benchmarks, tests' timelines), which predates the patient row it is recorded for.
    """
    now = now or timezone.now()
    digest = submission_digest(answered_at=answered_at, responses=responses)
    # A retry is told apart by the INSERT below, whose primary key refuses a stored id:
    # no read before it on the hot path. Only a submission that fails validation looks
    # first, so that a retry of a stored check-in still gets its 200 (say the patient
    # withdrew since) rather than a 400.
    try:
        resolved = _validate(
            patient=patient,
            answered_at=answered_at,
            responses=responses,
            now=now,
            captured=captured_by is not None,
            since_enrolment=since_enrolment,
        )
    except DomainValidationError:
        existing = CheckIn.objects.filter(id=check_in_id).first()
        if existing is not None:
            return _replay(existing, patient=patient, digest=digest, captured_by=captured_by)
        raise
    scored = [
        # _validate found no error: the answers are an object of linkId: whole number.
        (row, scoring.score(defn, cast(dict[str, int], r.answers)))
        for (row, defn), r in zip(resolved, responses, strict=True)
    ]
    try:
        with transaction.atomic():
            # One submission per patient at a time: serialises the latest-score upkeep
            # and makes a racing retry of the same id find the first one's row. NO KEY:
            # rows that merely reference the patient (the stored-outcome refresh inserts
            # them while holding the patient's OutcomeState row, which this transaction
            # bumps below) must not wait for us; FOR UPDATE deadlocked with it (the
            # network-scale load test, the mix of submissions and cohort reads).
            _lock_patient(patient)
            # A taken id (a retry, or a concurrent submission of the same id that
            # committed first) writes nothing and is replayed below (_AlreadyStored).
            check_in = CheckIn(
                id=check_in_id,
                patient=patient,
                answered_at=answered_at,
                received_at=timezone.now(),
                content_digest=digest,
                source=CheckInSource.APP if captured_by is None else CheckInSource.CLINIC,
                captured_by=captured_by,
            )
            rows = [
                InstrumentResponse(
                    check_in=check_in,
                    instrument_version=row,
                    patient=patient,
                    instrument_code=row.code,
                    answered_at=answered_at,
                    position=i,
                    answers=r.answers,
                    total=s.total,
                    band=s.band,
                    subscales=s.subscales,
                    flags=list(s.flags),
                )
                for i, ((row, s), r) in enumerate(zip(scored, responses, strict=True))
            ]
            before = _store(patient=patient, check_in=check_in, rows=rows)
            previous = _previous_totals(before=before, answered_at=answered_at)
            alerts = safety_evaluate(
                patient=patient,
                check_in=check_in,
                scored=[
                    (row, defn, s)
                    for row, (_, defn), (_, s) in zip(rows, resolved, scored, strict=True)
                ],
                previous_totals=previous,
                now=timezone.now(),  # escalation runs on the real clock
            )
            # Answering closes the open reminder (notifications subscribes).
            events.announce(
                events.CheckInStored(
                    check_in=check_in, instrument_codes=tuple(r.instrument_code for r in rows)
                )
            )
    except (IntegrityError, _AlreadyStored):
        existing = CheckIn.objects.filter(id=check_in_id).first()
        if existing is None:
            raise
        return _replay(existing, patient=patient, digest=digest, captured_by=captured_by)
    # The caller renders what was just stored: `check_in.responses.all()` and
    # `check_in.safety_alerts.count()` answer from these rows, without reading them back.
    _prefetched(check_in, "responses", rows)
    _prefetched(check_in, "safety_alerts", alerts)
    return check_in, True


def _prefetched(instance, related_name: str, rows: list) -> None:
    """Fill a reverse relation's cache as prefetch_related would (same structure: a
    queryset with its results), with rows already in memory."""
    qs = getattr(instance, related_name).all()
    qs._result_cache = list(rows)
    qs._prefetch_done = True
    if not hasattr(instance, "_prefetched_objects_cache"):
        instance._prefetched_objects_cache = {}
    instance._prefetched_objects_cache[related_name] = qs
