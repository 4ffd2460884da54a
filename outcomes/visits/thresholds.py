"""The infusion visit's checks on one reading, pure (no ORM): plausibility, the alert
thresholds, the pre-dose hold, the phase of a reading, and the dose range.

Facts and defaults: docs/clinical/INSTRUMENTS.md, "The infusion visit: monitoring". Every
threshold is a clinic setting (outcomes.models.ClinicVisitSettings); a patient's first
infusions (3 by default: 43% of severe hypertension falls in them, Yale series, PMID
38991311) use the stricter set.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

# What a monitor can plausibly show; outside it the number is a typing error, refused.
PLAUSIBLE: dict[str, tuple[int, int]] = {
    "systolic": (50, 260),
    "diastolic": (30, 160),
    "heart_rate": (20, 250),
    "spo2": (50, 100),
    "resp_rate": (4, 60),
    "moaas": (0, 5),  # MOAA/S: 5 responds readily to name spoken in a normal tone
}
# Dissociation scales and their totals. CADSS (Bremner 1998): 23 items 0-4, total 0-92; its
# 6-item short form (Rodrigues 2017) 0-24. Licence not verified: no item text is shipped,
# the nurse enters the total from the clinic's own copy.
DISSOCIATION_SCALES: dict[str, tuple[int, int]] = {"CADSS": (0, 92), "CADSS-6": (0, 24)}

VITALS = ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate")
# Blood pressure peaks about 40 minutes into a 40-minute infusion (INSTRUMENTS.md).
PEAK_MINUTES = (35, 45)
END_MINUTES = 10  # a reading this soon after the end is the end-of-infusion reading


@dataclass(frozen=True)
class Thresholds:
    alert_systolic: int
    alert_diastolic: int
    hold_systolic: int
    hold_diastolic: int
    heart_rate_high: int
    heart_rate_low: int
    spo2_low: int
    resp_rate_low: int
    resp_rate_high: int
    sedation_alert_at_or_below: int

    @classmethod
    def from_settings(cls, row: Mapping[str, int], *, strict: bool) -> "Thresholds":
        """From a ClinicVisitSettings' values; `strict` takes the `strict_` columns where
        there is one (a patient's first infusions)."""

        def pick(name: str) -> int:
            return (
                int(row[f"strict_{name}"]) if strict and f"strict_{name}" in row else int(row[name])
            )

        return cls(**{f: pick(f) for f in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Vitals:
    systolic: int | None = None
    diastolic: int | None = None
    heart_rate: int | None = None
    spo2: int | None = None
    resp_rate: int | None = None
    moaas: int | None = None


@dataclass(frozen=True)
class Breach:
    parameter: str  # blood_pressure, heart_rate, spo2, resp_rate, sedation
    value: str
    limit: str

    def describe(self) -> str:
        """E.g. "blood pressure 185/115 at or over 180/110", "SpO2 91% below 93%"."""
        name, relation = _WORDING[self.parameter]
        return f"{name} {self.value} {relation} {self.limit}"


_WORDING = {
    "blood_pressure": ("blood pressure", "at or over"),
    "heart_rate": ("heart rate", "outside"),
    "spo2": ("SpO2", "below"),
    "resp_rate": ("respiratory rate", "outside"),
    "sedation": ("sedation", "at or below"),
}


def _bp(v: Vitals) -> str:
    return f"{v.systolic if v.systolic is not None else '-'}/" + (
        f"{v.diastolic if v.diastolic is not None else '-'}"
    )


def _over(value: int | None, limit: int) -> bool:
    return value is not None and value >= limit


def breaches(v: Vitals, t: Thresholds) -> list[Breach]:
    """The alerts this reading raises, one per parameter: a blood pressure at or over its
    threshold, a heart or respiratory rate outside its range (the range's ends are
    normal), an SpO2 below its floor, a MOAA/S at or below its level."""
    found = []
    if _over(v.systolic, t.alert_systolic) or _over(v.diastolic, t.alert_diastolic):
        found.append(Breach("blood_pressure", _bp(v), f"{t.alert_systolic}/{t.alert_diastolic}"))
    if v.heart_rate is not None and not t.heart_rate_low <= v.heart_rate <= t.heart_rate_high:
        found.append(
            Breach("heart_rate", str(v.heart_rate), f"{t.heart_rate_low}-{t.heart_rate_high}")
        )
    if v.spo2 is not None and v.spo2 < t.spo2_low:  # "SpO2 < 93% is the usual flag"
        found.append(Breach("spo2", f"{v.spo2}%", f"{t.spo2_low}%"))
    if v.resp_rate is not None and not t.resp_rate_low <= v.resp_rate <= t.resp_rate_high:
        found.append(Breach("resp_rate", str(v.resp_rate), f"{t.resp_rate_low}-{t.resp_rate_high}"))
    if v.moaas is not None and v.moaas <= t.sedation_alert_at_or_below:
        found.append(
            Breach("sedation", f"MOAA/S {v.moaas}", f"MOAA/S {t.sedation_alert_at_or_below}")
        )
    return found


def hold_breach(v: Vitals, t: Thresholds) -> Breach | None:
    """A pre-dose blood pressure (both values) above the hold threshold ("withholds
    treatment above 140/90"): the infusion waits for an override with a reason. One value
    alone decides nothing."""
    if v.systolic is None or v.diastolic is None:
        return None
    if v.systolic > t.hold_systolic or v.diastolic > t.hold_diastolic:
        return Breach("blood_pressure", _bp(v), f"{t.hold_systolic}/{t.hold_diastolic}")
    return None


def phase_of(taken_at: datetime, started_at: datetime | None, ended_at: datetime | None) -> str:
    """The phase of a reading from its time, when the nurse did not say: before the dose,
    about 40 minutes in (the blood-pressure peak), during, at the end, or after."""
    if started_at is None or taken_at < started_at:
        return "pre_dose"
    minutes = (taken_at - started_at) / timedelta(minutes=1)
    if PEAK_MINUTES[0] <= minutes <= PEAK_MINUTES[1]:
        return "peak"  # whatever the dose's length: a short nasal dose peaks then too
    if ended_at is None or taken_at < ended_at:
        return "during"
    if taken_at - ended_at <= timedelta(minutes=END_MINUTES):
        return "end"
    return "other"


def plausibility_errors(values: Mapping[str, object]) -> dict[str, tuple[str, str]]:
    """Field -> (code, message) for a number outside what a monitor can show, a diastolic
    not below the systolic, or a dissociation total outside its scale."""
    errors: dict[str, tuple[str, str]] = {}
    for name, (lo, hi) in PLAUSIBLE.items():
        value = values.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            errors[name] = ("out_of_range", f"A whole number from {lo} to {hi}.")
    sys_, dia = values.get("systolic"), values.get("diastolic")
    if (
        "systolic" not in errors
        and "diastolic" not in errors
        and isinstance(sys_, int)
        and isinstance(dia, int)
        and dia >= sys_
    ):
        errors["diastolic"] = ("invalid", "The diastolic pressure must be below the systolic.")
    scale, score = str(values.get("dissociation_scale") or ""), values.get("dissociation_score")
    if scale and scale not in DISSOCIATION_SCALES:
        errors["dissociation_scale"] = (
            "invalid_choice",
            f"One of {', '.join(DISSOCIATION_SCALES)}.",
        )
    elif (score is None) != (not scale):
        which = "dissociation_scale" if score is not None else "dissociation_score"
        errors[which] = ("required", "A dissociation score and its scale go together.")
    elif scale:
        lo, hi = DISSOCIATION_SCALES[scale]
        if isinstance(score, bool) or not isinstance(score, int) or not lo <= score <= hi:
            errors["dissociation_score"] = ("out_of_range", f"{scale}: from {lo} to {hi}.")
    return errors


@dataclass(frozen=True)
class DoseCheck:
    unit: str  # mg_per_kg or mg
    low: Decimal
    high: Decimal
    value: Decimal
    within: bool

    def describe(self) -> str:
        unit = "mg/kg" if self.unit == "mg_per_kg" else "mg"
        return f"{self.value} {unit} is outside the clinic's range {self.low}-{self.high} {unit}"


def dose_check(
    ranges: Sequence[Mapping[str, object]],
    *,
    product: str,
    route: str,
    mg_per_kg: Decimal | None,
    total_mg: Decimal | None,
) -> DoseCheck | None:
    """The dose against the clinic's range for this product and route (mg/kg, or a flat dose
    in mg for esketamine). None when no range applies or no dose is recorded."""
    for r in ranges:
        if r.get("product") != product or r.get("route") != route:
            continue
        unit = str(r.get("unit"))
        value = mg_per_kg if unit == "mg_per_kg" else total_mg
        if value is None:
            return None
        low, high = Decimal(str(r["min"])), Decimal(str(r["max"]))
        return DoseCheck(unit, low, high, value, low <= value <= high)
    return None
