"""What a clinician or a patient reads of outcomes: a patient's trajectory with its
per-infusion outcomes, the clinic's durability of response, charts, the booster window.

Each function composes the analytics (pure, in outcomes/analytics) over the reads in
outcomes/selectors/analytics.py. The caller has already passed the permission-scoped
fetch (access_patient, access_clinic), which marked the read for the audit log.
"""

from dataclasses import asdict

from django.utils import timezone

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes import charts
from outcomes.analytics.booster import propose_booster
from outcomes.analytics.durability import Point
from outcomes.models import Infusion, Patient

from .analytics import (
    clinic_cohort,
    infusion_events,
    instrument_infos,
    patient_courses,
    patient_outcomes,
    patient_series,
)


def _unknown_instrument(code: str) -> DomainValidationError:
    return DomainValidationError.single(
        "instrument", "unknown_instrument", f"No scored instrument '{code}'."
    )


def patient_trajectory(*, patient: Patient, code: str | None) -> dict:
    """Everything the app needs to chart a patient, in a constant number of queries."""
    codes = [code] if code else None
    events, courses = patient_courses(patient=patient, codes=codes)
    if (
        code
        and code not in courses
        and code not in instrument_infos(clinic_id=patient.clinic_id, codes=codes)
    ):
        raise _unknown_instrument(code)
    instruments = [
        {
            "code": c,
            "title": course.info.title,
            "scale_min": course.info.scale[0],
            "scale_max": course.info.scale[1],
            "bands": [
                {"min": lo, "max": hi, "label": label} for lo, hi, label in course.info.bands
            ],
            "thresholds": asdict(course.info.thresholds),
            "points": [
                {"answered_at": at, "score": total, "band": band}
                for at, total, band in course.series
            ],
            "outcomes": _outcome_rows(course.outcomes),
        }
        for c, course in courses.items()
    ]
    return {
        "patient": patient.id,
        "timezone": patient.timezone,
        "infusions": [
            {"id": e.id, "number": n, "started_at": e.started_at, "ended_at": e.ended_at}
            for n, e in enumerate(events, start=1)
        ],
        "instruments": instruments,
    }


def _outcome_rows(outs) -> list[dict]:
    return [{**asdict(o), "infusion_number": n} for n, o in enumerate(outs, start=1)]


def patient_trajectory_chart(*, patient: Patient, code: str, fmt: str) -> bytes:
    infos = instrument_infos(clinic_id=patient.clinic_id, codes=[code])
    if code not in infos:
        raise _unknown_instrument(code)
    info = infos[code]
    series = patient_series(patient=patient, codes=[code]).get(code, [])
    points = [Point(at=at, score=total) for at, total, _ in series]
    events = infusion_events(Infusion.objects.filter(patient=patient))
    outs = patient_outcomes(patient=patient, info=info, points=points, events=events)
    body = charts.trajectory_chart(
        title=info.title,
        series=points,
        infusions=events,
        outcomes=outs,
        thresholds=info.thresholds,
        bands=info.bands,
        scale=info.scale,
        fmt=fmt,
    )
    return body


def clinic_durability(*, clinic: Clinic, code: str, group_by: str) -> dict:
    """The clinic's durability curves and rates; `_cohort` keeps the computed cohort for a
    chart."""
    cohort = clinic_cohort(clinic_ids=[clinic.id], instrument_code=code, group_by=group_by)
    groups = []
    for g in cohort.groups:
        km = g.km
        groups.append(
            {
                "name": g.name,
                "responders": km.n,
                "events": km.events,
                "median_days": km.median,
                "median_ci_low_days": km.median_ci[0],
                "median_ci_high_days": km.median_ci[1],
                "confidence": km.confidence,
                "curve": [
                    {"day": t, "survival": s, "ci_low": lo, "ci_high": hi}
                    for t, s, lo, hi in zip(
                        km.times, km.survival, km.ci_low, km.ci_high, strict=True
                    )
                ],
                "numbers_at_risk": [
                    {"day": t, "at_risk": n}
                    for t, n in zip(g.at_risk_times, g.at_risk, strict=True)
                ],
                "rates": g.rates,
            }
        )
    return {
        "clinic": clinic.id,
        "instrument": code,
        "group_by": group_by,
        "patients": cohort.patients,
        "infusions": cohort.infusions,
        "groups": groups,
        "_cohort": cohort,
    }


def patient_booster(*, patient: Patient, code: str) -> dict:
    if code not in instrument_infos(clinic_id=patient.clinic_id, codes=[code]):
        raise _unknown_instrument(code)
    events, courses = patient_courses(patient=patient, codes=[code])
    outs = courses[code].outcomes if code in courses else []
    # Only losses of response are durations; a censored one says "at least", not "until".
    past = [
        o.durability_days for o in outs[:-1] if o.durability_days is not None and not o.censored
    ]
    proposal = propose_booster(
        current=outs[-1] if outs else None,
        current_ended_at=events[-1].ended_at if events else None,
        past_durability_days=past,
        cohort_median_days=None,
        now=timezone.now(),
    )
    return {"instrument": code, **asdict(proposal)}


def clinic_durability_chart(*, clinic: Clinic, code: str, group_by: str, fmt: str) -> bytes:
    cohort = clinic_durability(clinic=clinic, code=code, group_by=group_by)["_cohort"]
    return charts.km_chart(
        title=f"{clinic.name}: sustained response ({code})",
        curves={g.name: g.km for g in cohort.groups},
        at_risk={g.name: g.at_risk for g in cohort.groups},
        risk_times=cohort.groups[0].at_risk_times if cohort.groups else (0, 7, 14, 21, 28),
        fmt=fmt,
    )
