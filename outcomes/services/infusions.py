"""Treatment records: courses and infusions. Every change that moves an infusion in time
re-plans its reminders (by diff) in the same transaction."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from accounts.errors import DomainValidationError
from accounts.history import history_record_change
from outcomes import events
from outcomes.models import (
    PRODUCT_ROUTES,
    ClinicVisitSettings,
    CourseKind,
    Infusion,
    InfusionStatus,
    MonitoringSession,
    Patient,
    Product,
    Route,
    TreatmentCourse,
)

from ..visits.medications import MedicationMatch
from ..visits.thresholds import Thresholds, Vitals, breaches, dose_check
from .guards import patient_lock_unerased
from .outcome_records import outcomes_mark_changed
from .visits import (
    hold_blocks_start,
    medication_matches_for,
    readings_rephase,
    thresholds_for,
    visit_settings_for,
)

# Benzodiazepines can blunt ketamine's antidepressant effect (docs/clinical/INSTRUMENTS.md):
# recording one raises a warning naming the ingredient matched. Names are matched by
# ingredient against the shipped, versioned table (outcomes/visits/medication_table.json).
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
    """The benzodiazepine ingredients these entries name (brands included)."""
    found, _ = medication_matches_for(medications)
    return [m["ingredient"] for m in found if m["drug_class"] == "benzodiazepine"]


def medication_warnings(infusion: Infusion) -> list[str]:
    """One warning per matched ingredient of the four classes, saying what matched."""
    out = []
    for m in infusion.medication_matches or []:
        what = MedicationMatch(**m).describe()
        if m["drug_class"] == "benzodiazepine":
            out.append(f"{BENZODIAZEPINE_WARNING} {what}.")
        else:
            out.append(f"Recorded: {what}.")
    return out


def _medications(fields: dict) -> dict:
    found, version = medication_matches_for(fields.get("concomitant_medications") or [])
    return {
        "medication_matches": found,
        "medication_table_version": version,
        "benzodiazepine_recorded": any(m["drug_class"] == "benzodiazepine" for m in found),
    }


def _check_dose(patient: Patient, fields: dict, errors: dict, user) -> dict:
    """The dose against the clinic's range for the product and route: outside it needs a
    recorded override reason. Returns the override fields to store."""
    settings_row = visit_settings_for(clinic=patient.clinic)
    check = dose_check(
        settings_row.dose_ranges,
        product=fields.get("product") or Product.KETAMINE,
        route=fields.get("route") or Route.IV,
        mg_per_kg=fields.get("dose_mg_per_kg"),
        total_mg=fields.get("total_dose_mg"),
    )
    reason = (fields.get("dose_override_reason") or "").strip()
    if check is None or check.within:
        return {"dose_override_reason": "", "dose_override_by": None}
    if not reason:
        field = "dose_mg_per_kg" if check.unit == "mg_per_kg" else "total_dose_mg"
        errors[field] = [
            (
                "out_of_range",
                f"{check.describe()}: record dose_override_reason to give it.",
            )
        ]
        return {}
    return {"dose_override_reason": reason[:300], "dose_override_by": user}


def vitals_warnings(
    infusion: Infusion, *, settings_row: ClinicVisitSettings | None = None
) -> list[str]:
    """The infusion's recorded vitals (vitals_before / vitals_after) past the visit's alert
    thresholds: those of its monitoring session, else the clinic's for this infusion (a
    list annotates `given_before` and passes the clinic's settings: no query per row)."""
    if not (infusion.vitals_before or infusion.vitals_after):
        return []
    try:
        thresholds = Thresholds(**infusion.visit.thresholds)
    except MonitoringSession.DoesNotExist:
        thresholds = thresholds_for(
            infusion,
            settings_row=settings_row,
            given_before=getattr(infusion, "given_before", None),
        )
    out = []
    for key, label in (("vitals_before", "Before"), ("vitals_after", "After")):
        v = getattr(infusion, key) or {}
        vitals = Vitals(
            systolic=v.get("systolic_mmhg"),
            diastolic=v.get("diastolic_mmhg"),
            heart_rate=v.get("heart_rate_bpm"),
            spo2=v.get("spo2_pct"),
        )
        out += [f"{label} the infusion: {b.describe()}." for b in breaches(vitals, thresholds)]
    return out


def _check_product(fields: dict, errors: dict) -> None:
    """A known product and a route it is given by; no route: the product's usual one."""
    product, route = fields.get("product") or Product.KETAMINE, fields.get("route")
    if product not in Product.values:
        errors["product"] = [("invalid_choice", f"One of {', '.join(Product.values)}.")]
    elif route is None:
        fields["route"] = PRODUCT_ROUTES[Product(product)][0]
    elif route not in Route.values:
        errors["route"] = [("invalid_choice", f"One of {', '.join(Route.values)}.")]
    elif route not in PRODUCT_ROUTES[Product(product)]:
        errors["route"] = [("invalid_choice", f"{product} is not given by this route.")]


def _check_clinical(fields: dict, errors: dict) -> None:  # noqa: C901 - a check per field
    _check_product(fields, errors)
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
    patient_lock_unerased(patient)
    return TreatmentCourse.objects.create(
        patient=patient, kind=kind, started_on=started_on, notes=notes
    )


@transaction.atomic
def infusion_schedule(
    *, patient: Patient, scheduled_at: datetime, created_by=None, **fields
) -> Infusion:
    """Record an infusion (planned, or already given) and plan its reminders."""
    patient_lock_unerased(patient)
    course = fields.pop("course", None)
    if course is not None and course.patient_id != patient.id:
        raise DomainValidationError.single("course", "does_not_exist", "Unknown course.")
    errors: dict = {}
    _check_clinical(fields, errors)
    override = _check_dose(patient, fields, errors, created_by) if not errors else {}
    if errors:
        raise DomainValidationError(errors)
    infusion = Infusion.objects.create(
        patient=patient,
        course=course,
        scheduled_at=scheduled_at,
        created_by=created_by,
        status=_status_for(fields, InfusionStatus.SCHEDULED),
        **(fields | _medications(fields) | override),
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
    "product",
    "route",
    "dose_override_reason",
}
TIMING = {"scheduled_at", "planned_duration_minutes", "started_at", "ended_at"}


@transaction.atomic
def infusion_update(*, infusion: Infusion, user=None, **changes) -> Infusion:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise DomainValidationError(
            {k: [("not_editable", "This field cannot be changed.")] for k in unknown}
        )
    patient_lock_unerased(infusion.patient)  # before the infusion: one lock order
    infusion = Infusion.objects.select_for_update().get(pk=infusion.pk)
    if infusion.status == InfusionStatus.CANCELLED:
        raise DomainValidationError.single(
            "non_field_errors", "cancelled", "A cancelled infusion cannot be changed."
        )
    merged = {k: getattr(infusion, k) for k in EDITABLE} | changes
    if "total_dose_mg" not in changes and {"weight_kg", "dose_mg_per_kg"} & set(changes):
        merged["total_dose_mg"] = None  # derived from weight x mg/kg: derive it again
    dose_fields = {"weight_kg", "dose_mg_per_kg", "total_dose_mg", "product", "route"}
    if dose_fields & set(changes) and "dose_override_reason" not in changes:
        merged["dose_override_reason"] = ""  # a new dose needs its own reason
    errors: dict = {}
    _check_clinical(merged, errors)
    if "route" not in changes and merged["route"] != infusion.route:
        changes["route"] = merged["route"]
    override = {}
    if not errors and (dose_fields | {"dose_override_reason"}) & set(changes):
        override = _check_dose(infusion.patient, merged, errors, user)
    _check_visit_timing(infusion, changes, errors)
    if errors:
        raise DomainValidationError(errors)
    if merged.get("total_dose_mg") != infusion.total_dose_mg or (
        "total_dose_mg" in changes and changes["total_dose_mg"] is None
    ):
        changes["total_dose_mg"] = merged["total_dose_mg"]
    changes |= override
    if "concomitant_medications" in changes:
        changes |= _medications(merged)
    for k, v in changes.items():
        setattr(infusion, k, v)
    infusion.status = _status_for(merged, infusion.status)
    infusion.save(update_fields=[*changes, "status", "updated_at"])
    outcomes_mark_changed(patient_ids=[infusion.patient_id])
    if (TIMING | {"product"}) & set(changes):
        readings_rephase(infusion)
    if TIMING & set(changes):
        events.announce(events.InfusionMoved(infusion=infusion))
    return infusion


def _check_visit_timing(infusion: Infusion, changes: dict, errors: dict) -> None:
    """The dose may not start while the pre-dose pressure holds it, nor after the patient
    left the visit."""
    start = changes.get("started_at")
    if start is None:
        return
    if infusion.started_at is None and hold_blocks_start(infusion, start):
        errors["started_at"] = [
            (
                "on_hold",
                "A pre-dose blood pressure is above the hold threshold: record an override "
                "with a reason (POST .../visit/hold-override/) or re-measure.",
            )
        ]
    left = MonitoringSession.objects.filter(infusion=infusion).values_list("left_at", flat=True)
    if any(at is not None and start > at for at in left):
        errors["started_at"] = [("after_departure", "The patient left the visit before this.")]


@transaction.atomic
def infusion_cancel(*, infusion: Infusion, reason: str = "") -> Infusion:
    """Cancel a scheduled infusion; its pending reminders are cancelled, nothing sent is touched."""
    patient_lock_unerased(infusion.patient)
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
