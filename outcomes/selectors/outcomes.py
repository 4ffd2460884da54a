"""What a clinician or a patient reads of outcomes: a patient's trajectory with its
per-infusion outcomes, the clinic's durability of response, charts, the booster window.

Each function composes the analytics (pure, in outcomes/analytics) over the reads in
outcomes/selectors/analytics.py. The caller has already passed the permission-scoped
fetch (access_patient, access_clinic), which marked the read for the audit log.
"""

from dataclasses import asdict

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes import charts
from outcomes.analytics.booster import (
    MIN_CLINIC_EVENTS,
    Reference,
    plan_booster,
    published_reference,
)
from outcomes.analytics.courses import CourseOutcome
from outcomes.analytics.durability import Point
from outcomes.models import Condition, Infusion, Patient, PatientCondition

from .analytics import (
    infusion_events,
    instrument_infos,
    patient_courses,
    patient_outcomes,
    patient_series,
)
from .courses import (
    ESTIMATOR,
    ClinicDurability,
    CourseGroup,
    PatientCourse,
    clinic_course_durability,
    patient_course_outcomes,
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
    treatment, by_code = patient_course_outcomes(patient=patient, codes=codes)
    by_id = {c.event.id: c for c in treatment}
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
            "courses": [
                _course_row(by_id[o.course_id], o, c)
                for o in (by_code[c].outcomes if c in by_code else [])
            ],
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


def _course_row(pc: PatientCourse, out: CourseOutcome, code: str) -> dict:
    number_of = {r.id: r.number for r in pc.infusions}
    times = {r.id: (r.started_at, r.ended_at) for r in pc.infusions}
    row = asdict(out)
    row["loss_between"] = list(out.loss_between) if out.loss_between else None
    row["instrument"] = code
    row["recorded"] = pc.recorded
    row["infusions"] = [
        {
            **asdict(a),
            "infusion_number": number_of[a.infusion_id],
            "started_at": times[a.infusion_id][0],
            "ended_at": times[a.infusion_id][1],
        }
        for a in out.infusions
    ]
    return row


def patient_course_view(*, patient: Patient, code: str) -> dict:
    """The patient's outcomes per treatment course on one instrument."""
    courses, by_code = patient_course_outcomes(patient=patient, codes=[code])
    result = by_code.get(code)
    outs = result.outcomes if result else []
    by_id = {c.event.id: c for c in courses}
    return {
        "patient": patient.id,
        "instrument": code,
        "recall_days": result.recall_days if result else None,
        "courses": [_course_row(by_id[o.course_id], o, code) for o in outs],
    }


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _group_body(g: CourseGroup) -> dict:
    curve = g.curve
    rows: list[dict] = []
    if curve is not None:
        none: list[float | None] = [None] * len(curve.grid)
        lows: list[float | None] = list(curve.ci_low) if curve.ci_low else none
        highs: list[float | None] = list(curve.ci_high) if curve.ci_high else none
        rows = [
            {"day": t, "survival": s, "ci_low": lo, "ci_high": hi, "at_risk": n}
            for t, s, lo, hi, n in zip(
                curve.grid, curve.survival, lows, highs, curve.at_risk, strict=True
            )
        ]
    return {
        "name": g.name,
        "rates": {
            "courses": g.courses,
            "evaluable": g.evaluable,
            "responders": g.responders,
            "response_rate": _rate(g.responders, g.evaluable),
            "partial_responders": g.partial_responders,
            "partial_response_rate": _rate(g.partial_responders, g.evaluable),
            "remitters": g.remitters,
            "remission_rate": _rate(g.remitters, g.evaluable),
            "losses": g.losses,
        },
        "responders": curve.n if curve else g.responders,
        "events": curve.events if curve else g.losses,
        "median_days": curve.median if curve else None,
        "median_ci_low_days": curve.median_ci[0] if curve else None,
        "median_ci_high_days": curve.median_ci[1] if curve else None,
        "confidence": curve.confidence if curve else None,
        "bootstrap_samples": curve.bootstrap_samples if curve else 0,
        "curve": rows,
    }


def clinic_durability(*, clinic: Clinic, code: str, group_by: str) -> dict:
    """The clinic's per-course rates and durability curves (Turnbull, bootstrap bands),
    with the signal they are built from; `_result` keeps the computation for a chart."""
    result = clinic_course_durability(
        clinic=clinic,
        code=code,
        group_by=group_by,
        bootstrap=settings.AFTERGLOW_DURABILITY_BOOTSTRAP,
    )
    return {
        "clinic": clinic.id,
        "instrument": code,
        "unit": "course",
        "group_by": group_by,
        "estimator": ESTIMATOR,
        "patients": result.patients,
        "signal": asdict(result.signal),
        "groups": [_group_body(g) for g in result.groups],
        "_result": result,
    }


def clinic_durability_chart(*, clinic: Clinic, code: str, group_by: str, fmt: str) -> bytes:
    result: ClinicDurability = clinic_durability(clinic=clinic, code=code, group_by=group_by)[
        "_result"
    ]
    signal = result.signal
    note = (
        f"From {code} (recall {signal.recall_days:g} days), assessed every "
        f"{signal.median_days_between_assessments:.1f} days in the median."
        if signal.can_date_loss
        and signal.recall_days is not None
        and signal.median_days_between_assessments is not None
        else signal.reason
    )
    return charts.durability_chart(
        title=f"{clinic.name}: sustained response per course ({code})",
        curves={g.name: g.curve for g in result.groups},
        note=note,
        fmt=fmt,
    )


def _clinic_reference(*, clinic_id, code: str, kind: str) -> float | None:
    """The clinic's own median for this instrument and course kind, when it rests on
    enough losses (booster.MIN_CLINIC_EVENTS). The medians of every course kind are
    computed together and cached together for 10 minutes."""
    key = f"afterglow:booster-ref:{clinic_id}:{code}"
    medians = cache.get(key)
    if medians is None:
        result = clinic_course_durability(
            clinic=Clinic.objects.get(pk=clinic_id), code=code, group_by="course_kind", bootstrap=0
        )
        medians = {
            g.name: g.curve.median
            for g in result.groups
            if g.curve is not None and g.curve.events >= MIN_CLINIC_EVENTS and g.curve.median
        }
        cache.set(key, medians, timeout=600)
    return medians.get(kind)


def patient_booster(*, patient: Patient, code: str) -> dict:
    """Booster advice for the patient's current course on one instrument."""
    courses, by_code = patient_course_outcomes(patient=patient, codes=[code])
    result = by_code.get(code)
    outs = result.outcomes if result else []
    current = outs[-1] if outs else None
    course = next((c for c in courses if current and c.event.id == current.course_id), None)
    last_end = course.infusions[-1].ended_at if course else None
    ptsd = PatientCondition.objects.filter(patient=patient, condition=Condition.PTSD).exists()
    reference: Reference = published_reference(
        infusions=len(course.infusions) if course else 0, condition_ptsd=ptsd
    )
    # The clinic's median is not per condition: a PTSD patient keeps the PTSD figure.
    if current is not None and not ptsd:
        clinic_median = _clinic_reference(clinic_id=patient.clinic_id, code=code, kind=current.kind)
        if clinic_median:
            reference = Reference(clinic_median, "clinic", current.kind)
    plan = plan_booster(
        current=current,
        last_infusion_end=last_end,
        past=outs[:-1],
        reference=reference,
        now=timezone.now(),
    )
    return {"instrument": code, "reference_context": reference.context, **asdict(plan)}
