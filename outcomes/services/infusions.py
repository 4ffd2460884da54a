"""Treatment records: courses and infusions. Every change that moves an infusion in time
re-plans its reminders (by diff) in the same transaction."""

import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from accounts.errors import DomainValidationError
from accounts.history import history_record_change
from outcomes import events
from outcomes.models import CourseKind, Infusion, InfusionStatus, Patient, TreatmentCourse

from .outcome_records import outcomes_mark_changed

# Benzodiazepines can blunt ketamine's antidepressant effect (docs/clinical/INSTRUMENTS.md, product
# brief); recording one raises a warning on the infusion. Generic names, lower case.
BENZODIAZEPINES = frozenset(
    {
        "alprazolam",
        "bromazepam",
        "chlordiazepoxide",
        "clobazam",
        "clonazepam",
        "clorazepate",
        "diazepam",
        "estazolam",
        "flurazepam",
        "lorazepam",
        "midazolam",
        "oxazepam",
        "quazepam",
        "temazepam",
        "triazolam",
        "nitrazepam",
        "lormetazepam",
        "remimazolam",
    }
)
BENZODIAZEPINE_WARNING = "A benzodiazepine is recorded: it can blunt the response to ketamine."
# Plausible ranges for vitals; outside them the value is a typo, not a patient.
VITALS_RANGES = {
    "systolic_mmhg": (50, 260),
    "diastolic_mmhg": (30, 160),
    "heart_rate_bpm": (20, 250),
    "spo2_pct": (50, 100),
}
SIDE_EFFECTS = frozenset(
    {
        "dissociation",
        "nausea",
        "vomiting",
        "dizziness",
        "headache",
        "hypertension",
        "tachycardia",
        "sedation",
        "anxiety",
        "blurred_vision",
        "other",
    }
)


def benzodiazepines_in(medications: list[dict]) -> list[str]:
    found = []
    for med in medications:
        words = set(re.findall(r"[a-z]+", str(med.get("name", "")).lower()))
        found += sorted(words & BENZODIAZEPINES)
    return found


def _check_clinical(fields: dict, errors: dict) -> None:  # noqa: C901 - a check per field
    for key in ("vitals_before", "vitals_after"):
        vitals = fields.get(key)
        if vitals is None:
            continue
        if not isinstance(vitals, dict):
            errors[key] = [("invalid", "An object of vital signs.")]
            continue
        for name, value in vitals.items():
            if name not in VITALS_RANGES:
                errors[f"{key}.{name}"] = [("unknown_field", f"Unknown vital '{name}'.")]
                continue
            lo, hi = VITALS_RANGES[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not lo <= value <= hi
            ):
                errors[f"{key}.{name}"] = [("out_of_range", f"A number from {lo} to {hi}.")]
    for i, effect in enumerate(fields.get("side_effects") or []):
        if effect not in SIDE_EFFECTS:
            errors[f"side_effects.{i}"] = [("invalid_choice", f"Unknown side effect '{effect}'.")]
    for i, med in enumerate(fields.get("concomitant_medications") or []):
        if (
            not isinstance(med, dict)
            or not isinstance(med.get("name"), str)
            or not med["name"].strip()
        ):
            errors[f"concomitant_medications.{i}.name"] = [("required", "A medication name.")]
    weight, per_kg, total = (
        fields.get(k) for k in ("weight_kg", "dose_mg_per_kg", "total_dose_mg")
    )
    if weight is not None and per_kg is not None:
        expected = (Decimal(weight) * Decimal(per_kg)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if total is None:
            fields["total_dose_mg"] = expected
        elif abs(Decimal(total) - expected) > max(Decimal("0.5"), expected * Decimal("0.02")):
            errors["total_dose_mg"] = [
                (
                    "inconsistent",
                    f"weight_kg x dose_mg_per_kg is {expected} mg; check the dose.",
                )
            ]
    start, end = fields.get("started_at"), fields.get("ended_at")
    if end is not None and (start is None or end < start):
        errors["ended_at"] = [("invalid", "An infusion ends after it starts.")]
    if end is not None and end > timezone.now():
        errors["ended_at"] = [("in_future", "ended_at lies in the future.")]


def _status_for(fields: dict, current: str) -> str:
    if current == InfusionStatus.CANCELLED:
        return current
    if fields.get("ended_at"):
        return InfusionStatus.COMPLETED
    if fields.get("started_at"):
        return InfusionStatus.IN_PROGRESS
    return current


@transaction.atomic
def treatment_course_create(
    *, patient: Patient, kind: str, started_on, notes: str = ""
) -> TreatmentCourse:
    if kind not in CourseKind.values:
        raise DomainValidationError.single("kind", "invalid_choice", f"Unknown kind '{kind}'.")
    return TreatmentCourse.objects.create(
        patient=patient, kind=kind, started_on=started_on, notes=notes
    )


@transaction.atomic
def infusion_schedule(
    *, patient: Patient, scheduled_at: datetime, created_by=None, **fields
) -> Infusion:
    """Record an infusion (planned, or already given) and plan its reminders."""
    course = fields.pop("course", None)
    if course is not None and course.patient_id != patient.id:
        raise DomainValidationError.single("course", "does_not_exist", "Unknown course.")
    errors: dict = {}
    _check_clinical(fields, errors)
    if errors:
        raise DomainValidationError(errors)
    meds = fields.get("concomitant_medications") or []
    infusion = Infusion.objects.create(
        patient=patient,
        course=course,
        scheduled_at=scheduled_at,
        created_by=created_by,
        status=_status_for(fields, InfusionStatus.SCHEDULED),
        benzodiazepine_recorded=bool(benzodiazepines_in(meds)),
        **fields,
    )
    events.announce(events.InfusionRecorded(infusion=infusion))  # its reminders are planned
    outcomes_mark_changed(patient_ids=[patient.pk])
    return infusion


EDITABLE = {
    "scheduled_at",
    "planned_duration_minutes",
    "started_at",
    "ended_at",
    "weight_kg",
    "dose_mg_per_kg",
    "total_dose_mg",
    "observation_minutes",
    "vitals_before",
    "vitals_after",
    "side_effects",
    "concomitant_medications",
}
TIMING = {"scheduled_at", "planned_duration_minutes", "started_at", "ended_at"}


@transaction.atomic
def infusion_update(*, infusion: Infusion, **changes) -> Infusion:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise DomainValidationError(
            {k: [("not_editable", "This field cannot be changed.")] for k in unknown}
        )
    infusion = Infusion.objects.select_for_update().get(pk=infusion.pk)
    if infusion.status == InfusionStatus.CANCELLED:
        raise DomainValidationError.single(
            "non_field_errors", "cancelled", "A cancelled infusion cannot be changed."
        )
    merged = {k: getattr(infusion, k) for k in EDITABLE} | changes
    if "total_dose_mg" not in changes and {"weight_kg", "dose_mg_per_kg"} & set(changes):
        merged["total_dose_mg"] = None  # derived from weight x mg/kg: derive it again
    errors: dict = {}
    _check_clinical(merged, errors)
    if errors:
        raise DomainValidationError(errors)
    if merged.get("total_dose_mg") != infusion.total_dose_mg or (
        "total_dose_mg" in changes and changes["total_dose_mg"] is None
    ):
        changes["total_dose_mg"] = merged["total_dose_mg"]
    for k, v in changes.items():
        setattr(infusion, k, v)
    infusion.status = _status_for(merged, infusion.status)
    infusion.benzodiazepine_recorded = bool(
        benzodiazepines_in(merged.get("concomitant_medications") or [])
    )
    infusion.save(update_fields=[*changes, "status", "benzodiazepine_recorded", "updated_at"])
    outcomes_mark_changed(patient_ids=[infusion.patient_id])
    if TIMING & set(changes):
        events.announce(events.InfusionMoved(infusion=infusion))
    return infusion


@transaction.atomic
def infusion_cancel(*, infusion: Infusion, reason: str = "") -> Infusion:
    """Cancel a scheduled infusion; its pending reminders are cancelled, nothing sent is touched."""
    updated = Infusion.objects.filter(
        pk=infusion.pk, status__in=(InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS)
    ).update(
        status=InfusionStatus.CANCELLED, cancelled_at=timezone.now(), cancel_reason=reason[:200]
    )
    if not updated:
        raise DomainValidationError.single(
            "non_field_errors", "not_cancellable", "Only a scheduled infusion can be cancelled."
        )
    infusion.refresh_from_db()
    history_record_change(record=infusion)
    outcomes_mark_changed(patient_ids=[infusion.patient_id])
    events.announce(events.InfusionCancelled(infusion=infusion))
    return infusion
