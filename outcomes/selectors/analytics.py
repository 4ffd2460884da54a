"""Reads that feed the pure analytics: a patient's scored series and infusions, and a
clinic's cohort, as plain values (never model instances), in a constant number of queries.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, QuerySet

from accounts.errors import DomainValidationError
from outcomes.models import (
    Infusion,
    InfusionOutcomeRecord,
    InfusionStatus,
    InstrumentResponse,
    Patient,
    PatientCondition,
)

from ..analytics.durability import (
    InfusionEvent,
    InfusionOutcome,
    Point,
    infusion_outcomes,
)
from ..analytics.survival import KaplanMeier, kaplan_meier, numbers_at_risk, response_rates
from ..dbtime import epoch_seconds, from_epoch
from ..services.outcome_records import (
    outcome_records_refresh,
    outdated_threshold_patient_ids,
    stale_patient_ids,
    thresholds_digest,
)
from .instruments import InstrumentInfo, instrument_infos

GROUPINGS = ("none", "condition", "infusion_number")


def patient_series(*, patient: Patient, codes=None) -> dict[str, list[tuple[datetime, float, str]]]:
    """(answered_at, total, band) per instrument, oldest first. One query."""
    qs = InstrumentResponse.objects.filter(patient=patient, total__isnull=False)
    if codes is not None:
        qs = qs.filter(instrument_code__in=list(codes))
    out: dict[str, list] = defaultdict(list)
    for code, at, total, band in qs.order_by("answered_at").values_list(
        "instrument_code", epoch_seconds("answered_at"), "total", "band"
    ):
        out[code].append((from_epoch(at), total, band))
    return out


def infusion_events(qs: QuerySet[Infusion]) -> list[InfusionEvent]:
    """Given infusions (they happened: completed, with times), oldest first."""
    events = []
    for i, s, e in (
        qs.filter(status=InfusionStatus.COMPLETED, ended_at__isnull=False)
        .order_by("started_at")
        .values_list("id", "started_at", "ended_at")
    ):
        # Filtered on ended_at; the infusion_ends_after_start constraint sets started_at.
        assert s is not None and e is not None
        events.append(InfusionEvent(id=str(i), started_at=s, ended_at=e))
    return events


def patient_outcomes(
    *, patient: Patient, info: InstrumentInfo, points: list[Point], events: list[InfusionEvent]
) -> list[InfusionOutcome]:
    return infusion_outcomes(points, events, info.thresholds, withdrawn_at=patient.withdrawn_at)


@dataclass(frozen=True)
class CohortGroup:
    name: str
    km: KaplanMeier
    at_risk_times: list[float]
    at_risk: list[int]
    rates: dict


@dataclass(frozen=True)
class Cohort:
    instrument: str
    group_by: str
    groups: list[CohortGroup]
    patients: int
    infusions: int


RISK_TIMES: list[float] = [0, 7, 14, 21, 28, 42, 56]


class StoredOutcome(NamedTuple):
    """The part of a stored infusion outcome that the cohort's figures use (a tuple:
    a cohort makes tens of thousands)."""

    evaluable: bool
    responded: bool
    remitted: bool
    durability_days: float | None
    censored: bool


def _fresh_records(*, clinic_ids: list, instrument_code: str, digest_by_clinic: dict) -> None:
    """Bring the stored outcomes of these clinics up to date before they are read: the
    patients whose data changed since (normally a handful: the beat refreshes every
    minute) and any computed with thresholds that have changed since."""
    stale = set(stale_patient_ids(clinic_ids=clinic_ids))
    for clinic_id in clinic_ids:
        stale.update(
            outdated_threshold_patient_ids(
                clinic_id=clinic_id,
                instrument_code=instrument_code,
                digest=digest_by_clinic[clinic_id],
            )
        )
    if stale:
        outcome_records_refresh(patient_ids=sorted(stale, key=str))


def clinic_cohort(*, clinic_ids, instrument_code: str, group_by: str = "none") -> Cohort:
    """Durability of response across a clinic's patients, by Kaplan-Meier, over the
    stored infusion outcomes (outcomes/services/outcome_records.py), refreshed first where
    stale. Reads values only, in a fixed number of queries whatever the cohort's size
    when nothing is stale."""
    if group_by not in GROUPINGS:
        raise ValueError(group_by)
    clinic_ids = list(clinic_ids)
    infos_by_clinic = {
        c: instrument_infos(clinic_id=c, codes=[instrument_code]) for c in clinic_ids
    }
    if not clinic_ids or any(instrument_code not in i for i in infos_by_clinic.values()):
        raise DomainValidationError.single(
            "instrument", "unknown_instrument", f"No scored instrument '{instrument_code}'."
        )
    _fresh_records(
        clinic_ids=clinic_ids,
        instrument_code=instrument_code,
        digest_by_clinic={
            c: thresholds_digest(i[instrument_code].thresholds) for c, i in infos_by_clinic.items()
        },
    )
    completed = Infusion.objects.filter(
        patient__clinic_id__in=clinic_ids,
        status=InfusionStatus.COMPLETED,
        ended_at__isnull=False,
    )
    counts = completed.aggregate(patients=Count("patient_id", distinct=True), infusions=Count("id"))
    conditions: dict = defaultdict(list)
    if group_by == "condition":
        for pid, cond in PatientCondition.objects.filter(
            patient__clinic_id__in=clinic_ids
        ).values_list("patient_id", "condition"):
            conditions[pid].append(cond)

    grouped: dict[str, list[StoredOutcome]] = defaultdict(list)
    if counts["infusions"] and group_by == "none":
        grouped["all"] = []  # the whole cohort, even before any score has come in
    for pid, number, has_baseline, assessments, responded, remitted, days, censored in (
        InfusionOutcomeRecord.objects.filter(
            patient__clinic_id__in=clinic_ids, instrument_code=instrument_code
        )
        .order_by()
        .values_list(
            "patient_id",
            "number",
            "has_baseline",
            "assessments",
            "responded",
            "remitted",
            "durability_days",
            "censored",
        )
    ):
        o = StoredOutcome(
            evaluable=has_baseline and assessments >= 1,
            responded=responded,
            remitted=remitted,
            durability_days=days,
            censored=censored,
        )
        if group_by == "none":
            keys = ["all"]
        elif group_by == "infusion_number":
            keys = [f"infusion {number}" if number < 4 else "infusion 4+"]
        else:
            keys = conditions.get(pid) or ["unspecified"]
        for k in keys:
            grouped[k].append(o)
    groups = []
    for name in sorted(grouped):
        outs = grouped[name]
        durable = [
            (o.durability_days, not o.censored)
            for o in outs
            if o.responded and o.durability_days is not None
        ]
        durations = [days for days, _ in durable]
        observed = [event for _, event in durable]
        groups.append(
            CohortGroup(
                name=name,
                km=kaplan_meier(durations, observed),
                at_risk_times=RISK_TIMES,
                at_risk=numbers_at_risk(durations, RISK_TIMES),
                rates=response_rates(outs),
            )
        )
    return Cohort(
        instrument=instrument_code,
        group_by=group_by,
        groups=groups,
        patients=counts["patients"],
        infusions=counts["infusions"],
    )


@dataclass(frozen=True)
class InstrumentCourse:
    info: InstrumentInfo
    series: list[tuple[datetime, float, str]]
    outcomes: list[InfusionOutcome]


def patient_courses(
    *, patient: Patient, codes=None
) -> tuple[list[InfusionEvent], dict[str, InstrumentCourse]]:
    """A patient's infusions and, per scored instrument, the series and per-infusion
    outcomes. Four queries, however long the history."""
    infos = instrument_infos(clinic_id=patient.clinic_id, codes=codes)
    series = patient_series(patient=patient, codes=codes)
    events = infusion_events(Infusion.objects.filter(patient=patient))
    courses = {}
    for code in sorted(series):
        info = infos.get(code)
        if info is None:
            continue
        points = [Point(at=at, score=total) for at, total, _ in series[code]]
        courses[code] = InstrumentCourse(
            info=info,
            series=series[code],
            outcomes=patient_outcomes(patient=patient, info=info, points=points, events=events),
        )
    return events, courses
