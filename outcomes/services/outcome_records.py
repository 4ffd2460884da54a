"""Stored infusion outcomes: what the clinic's cohort reads.

Deriving every infusion's outcome from every score on each cohort request costs seconds
at network scale (2,000,000 check-ins: docs/BENCHMARKS.md). So each infusion's outcome is
computed by the one durability engine (outcomes/analytics/durability.py) and stored, and
kept current like this:

- whatever changes what an outcome is computed from (a check-in, an infusion, a
  withdrawal) bumps the patient's `OutcomeState.version` in its own transaction
  (`outcomes_mark_changed`): one row, one statement;
- `outcome_records_refresh` recomputes a batch of patients and records the version it
  read, so a change that lands while it computes leaves the patient stale, never lost;
- a stored row names the thresholds it was computed with, so a changed instrument
  definition or clinic setting makes its rows stale too;
- the beat refreshes stale patients every minute, and a cohort read refreshes the stale
  patients of its clinics before it reads, so a clinician never sees an old figure.
"""

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from outcomes.models import (
    Infusion,
    InfusionOutcomeRecord,
    InfusionStatus,
    InstrumentResponse,
    OutcomeState,
    Patient,
)

from ..analytics.durability import InfusionEvent, Point, Thresholds, infusion_outcomes
from ..dbtime import epoch_seconds, from_epoch
from ..selectors.instruments import instrument_infos

REFRESH_BATCH = 500


def thresholds_digest(th: Thresholds) -> str:
    """A short name for one set of thresholds (the dataclass's repr lists every field)."""
    return hashlib.sha256(repr(th).encode()).hexdigest()[:16]


def outcomes_mark_changed(*, patient_ids: Iterable) -> None:
    """Call inside the transaction that changes a patient's scores, infusions or
    withdrawal: their stored outcomes are stale from the moment it commits."""
    ids = sorted({UUID(str(p)) for p in patient_ids})
    if not ids:
        return
    # One upsert (PostgreSQL and SQLite both have ON CONFLICT), in id order so that two
    # transactions marking the same patients lock them in the same order.
    table = connection.ops.quote_name(OutcomeState._meta.db_table)
    field = OutcomeState._meta.get_field("patient").target_field
    rows = ", ".join(["(%s, 1)"] * len(ids))
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (patient_id, version) VALUES {rows} "  # noqa: S608 - no input
            f"ON CONFLICT (patient_id) DO UPDATE SET version = {table}.version + 1",
            [field.get_db_prep_value(i, connection) for i in ids],
        )


def stale_patient_ids(*, clinic_ids: Iterable | None = None, limit: int | None = None) -> list:
    """Patients whose stored outcomes are older than their data (or never computed)."""
    qs = Patient.objects.filter(
        Q(outcome_state__computed_version__isnull=True)
        | Q(outcome_state__computed_version__lt=F("outcome_state__version"))
    )
    if clinic_ids is not None:
        qs = qs.filter(clinic_id__in=list(clinic_ids))
    return list(qs.order_by("pk").values_list("pk", flat=True)[:limit])


def outdated_threshold_patient_ids(*, clinic_id, instrument_code: str, digest: str) -> list:
    """Patients of a clinic whose stored rows for an instrument used other thresholds."""
    return list(
        InfusionOutcomeRecord.objects.filter(
            patient__clinic_id=clinic_id, instrument_code=instrument_code
        )
        .exclude(thresholds_digest=digest)
        .order_by()
        .values_list("patient_id", flat=True)
        .distinct()
    )


def outcome_records_refresh(*, patient_ids: Iterable, now: datetime | None = None) -> int:
    """Recompute and store the outcomes of these patients, in batches. Returns how many
    rows were written."""
    ids = list(patient_ids)
    written = 0
    for start in range(0, len(ids), REFRESH_BATCH):
        written += _refresh_batch(ids[start : start + REFRESH_BATCH], now or timezone.now())
    return written


def outcome_records_refresh_stale(*, limit: int = 5_000) -> int:
    """The beat's tick: bring up to `limit` stale patients up to date (a backfill of a
    whole network spreads over several ticks instead of holding one worker for minutes)."""
    return outcome_records_refresh(patient_ids=stale_patient_ids(limit=limit))


def _refresh_batch(ids: list, now: datetime) -> int:
    # The versions first: anything that changes after this read leaves the patient stale.
    versions = dict(
        OutcomeState.objects.filter(patient_id__in=ids).values_list("patient_id", "version")
    )
    patients = list(
        Patient.objects.filter(pk__in=ids).values_list("pk", "clinic_id", "withdrawn_at")
    )
    series: dict = defaultdict(lambda: defaultdict(list))
    for pid, code, at, total in (
        InstrumentResponse.objects.filter(patient_id__in=ids, total__isnull=False)
        .order_by("answered_at")
        .values_list("patient_id", "instrument_code", epoch_seconds("answered_at"), "total")
    ):
        series[pid][code].append(Point(at=from_epoch(at), score=total))
    events: dict = defaultdict(list)
    for pid, iid, s, e in (
        Infusion.objects.filter(
            patient_id__in=ids, status=InfusionStatus.COMPLETED, ended_at__isnull=False
        )
        .order_by("started_at")
        .values_list("patient_id", "id", "started_at", "ended_at")
    ):
        # Filtered on ended_at; the infusion_ends_after_start constraint sets started_at.
        assert s is not None and e is not None
        events[pid].append(InfusionEvent(id=str(iid), started_at=s, ended_at=e))

    infos_by_clinic: dict = {}
    rows: list[InfusionOutcomeRecord] = []
    for pid, clinic_id, withdrawn_at in patients:
        if clinic_id not in infos_by_clinic:
            infos_by_clinic[clinic_id] = {
                code: (info, thresholds_digest(info.thresholds))
                for code, info in instrument_infos(clinic_id=clinic_id).items()
            }
        infos = infos_by_clinic[clinic_id]
        evs = events.get(pid)
        if not evs:
            continue
        for code, points in series.get(pid, {}).items():
            if code not in infos:
                continue  # not a scored instrument (a triage screen)
            info, digest = infos[code]
            outs = infusion_outcomes(points, evs, info.thresholds, withdrawn_at=withdrawn_at)
            rows.extend(
                InfusionOutcomeRecord(
                    infusion_id=o.infusion_id,
                    patient_id=pid,
                    instrument_code=code,
                    number=number,
                    status=o.status,
                    has_baseline=o.baseline is not None,
                    assessments=o.assessments,
                    responded=o.responded,
                    partial_response=o.partial_response,
                    remitted=o.remitted,
                    durability_days=o.durability_days,
                    censored=o.censored,
                    thresholds_digest=digest,
                    computed_at=now,
                )
                for number, o in enumerate(outs, start=1)
            )

    with transaction.atomic():
        OutcomeState.objects.bulk_create(
            [OutcomeState(patient_id=pid, version=0) for pid in ids], ignore_conflicts=True
        )
        # Two refreshes of one patient take turns here (the lock is held only while
        # writing, never while computing); a check-in's version bump waits for it too.
        list(OutcomeState.objects.select_for_update().filter(patient_id__in=ids).order_by("pk"))
        InfusionOutcomeRecord.objects.filter(patient_id__in=ids).delete()
        InfusionOutcomeRecord.objects.bulk_create(rows, batch_size=2000)
        by_version: dict = defaultdict(list)
        for pid in ids:
            by_version[versions.get(pid, 0)].append(pid)
        for version, pids in by_version.items():
            OutcomeState.objects.filter(patient_id__in=pids).update(
                computed_version=version, computed_at=now
            )
    return len(rows)
