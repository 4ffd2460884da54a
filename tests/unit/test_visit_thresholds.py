"""The visit's checks on one reading (outcomes/visits/thresholds.py): alerts, the pre-dose
hold, the phase of a reading, plausibility and the dose range. Pure: no database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outcomes.visits.thresholds import (
    Thresholds,
    Vitals,
    breaches,
    dose_check,
    hold_breach,
    phase_of,
    plausibility_errors,
)

SETTINGS = {
    "alert_systolic": 180,
    "alert_diastolic": 110,
    "strict_alert_systolic": 160,
    "strict_alert_diastolic": 100,
    "hold_systolic": 150,
    "hold_diastolic": 95,
    "strict_hold_systolic": 140,
    "strict_hold_diastolic": 90,
    "heart_rate_high": 110,
    "strict_heart_rate_high": 100,
    "heart_rate_low": 50,
    "spo2_low": 93,
    "strict_spo2_low": 94,
    "resp_rate_low": 10,
    "resp_rate_high": 24,
    "sedation_alert_at_or_below": 2,
    "strict_infusions": 3,
}
STANDARD = Thresholds.from_settings(SETTINGS, strict=False)
STRICT = Thresholds.from_settings(SETTINGS, strict=True)


def test_the_strict_set_takes_the_strict_columns():
    assert (STRICT.alert_systolic, STRICT.hold_diastolic, STRICT.spo2_low) == (160, 90, 94)
    assert (STANDARD.alert_systolic, STANDARD.hold_diastolic, STANDARD.spo2_low) == (180, 95, 93)
    assert STRICT.heart_rate_low == STANDARD.heart_rate_low == 50  # no strict column


def test_the_issues_vitals_after_an_infusion_breach_three_thresholds():
    found = breaches(Vitals(systolic=182, diastolic=112, heart_rate=118, spo2=89), STANDARD)
    assert [(b.parameter, b.value, b.limit) for b in found] == [
        ("blood_pressure", "182/112", "180/110"),
        ("heart_rate", "118", "50-110"),
        ("spo2", "89%", "93%"),
    ]
    assert [b.describe() for b in found] == [
        "blood pressure 182/112 at or over 180/110",
        "heart rate 118 outside 50-110",
        "SpO2 89% below 93%",
    ]


@pytest.mark.parametrize(
    ("vitals", "parameters"),
    [
        (Vitals(systolic=179, diastolic=109), []),
        (Vitals(systolic=180, diastolic=80), ["blood_pressure"]),
        (Vitals(systolic=150, diastolic=110), ["blood_pressure"]),
        (Vitals(spo2=93), []),  # "SpO2 < 93% is the usual flag"
        (Vitals(spo2=92), ["spo2"]),
        (Vitals(heart_rate=49), ["heart_rate"]),
        (Vitals(resp_rate=8), ["resp_rate"]),
        (Vitals(resp_rate=25), ["resp_rate"]),
        (Vitals(moaas=2), ["sedation"]),
        (Vitals(moaas=3), []),
    ],
)
def test_each_threshold_at_its_edge(vitals, parameters):
    assert [b.parameter for b in breaches(vitals, STANDARD)] == parameters


def test_a_first_infusion_alerts_sooner():
    spike = Vitals(systolic=165, diastolic=95, heart_rate=105, spo2=93)
    assert breaches(spike, STANDARD) == []
    assert [b.parameter for b in breaches(spike, STRICT)] == [
        "blood_pressure",
        "heart_rate",
        "spo2",
    ]


def test_the_hold_is_a_pre_dose_blood_pressure_above_its_threshold():
    """ "Withholds treatment above 140/90": 140/90 itself goes ahead."""
    assert hold_breach(Vitals(systolic=150, diastolic=95), STANDARD) is None
    assert hold_breach(Vitals(systolic=151, diastolic=70), STANDARD).limit == "150/95"
    assert hold_breach(Vitals(systolic=140, diastolic=90), STRICT) is None
    assert hold_breach(Vitals(systolic=120, diastolic=91), STRICT) is not None
    assert hold_breach(Vitals(heart_rate=130), STRICT) is None


def test_one_blood_pressure_value_alone_decides_no_hold():
    assert hold_breach(Vitals(systolic=170), STRICT) is None
    assert hold_breach(Vitals(diastolic=70), STRICT) is None


START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "ended", "phase"),
    [
        (-5, True, "pre_dose"),
        (0, True, "during"),
        (40, False, "peak"),
        (35, True, "peak"),
        (20, True, "during"),
        (45, True, "peak"),
        (48, True, "end"),
        (90, True, "other"),
    ],
)
def test_the_phase_follows_the_infusions_start_and_end(after, ended, phase):
    end = START + timedelta(minutes=40) if ended else None
    assert phase_of(START + timedelta(minutes=after), START, end) == phase


def test_a_short_nasal_dose_still_peaks_at_about_40_minutes():
    end = START + timedelta(minutes=10)
    assert phase_of(START + timedelta(minutes=40), START, end) == "peak"
    assert phase_of(START + timedelta(minutes=15), START, end) == "end"


def test_before_the_start_is_recorded_every_reading_is_pre_dose():
    assert phase_of(START, None, None) == "pre_dose"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"systolic": 300}, "systolic"),
        ({"spo2": 101}, "spo2"),
        ({"moaas": 6}, "moaas"),
        ({"heart_rate": True}, "heart_rate"),
        ({"systolic": 100, "diastolic": 100}, "diastolic"),
        ({"dissociation_scale": "CADSS", "dissociation_score": 93}, "dissociation_score"),
        ({"dissociation_scale": "DES", "dissociation_score": 3}, "dissociation_scale"),
        ({"dissociation_score": 3}, "dissociation_scale"),
        ({"dissociation_scale": "CADSS-6"}, "dissociation_score"),
    ],
)
def test_implausible_values_are_refused_by_field(values, field):
    assert field in plausibility_errors(values)


@given(
    diastolic=st.integers(30, 160),
    gap=st.integers(1, 100),
    heart_rate=st.integers(20, 250),
    spo2=st.integers(50, 100),
)
def test_any_plausible_reading_passes(diastolic, gap, heart_rate, spo2):
    systolic = min(max(diastolic + gap, 50), 260)
    values = {"systolic": systolic, "diastolic": diastolic, "heart_rate": heart_rate, "spo2": spo2}
    assert plausibility_errors(values) == {}


RANGES = [
    {"product": "ketamine", "route": "iv", "unit": "mg_per_kg", "min": 0.1, "max": 1.0},
    {"product": "esketamine", "route": "intranasal", "unit": "mg", "min": 28, "max": 84},
]


def test_the_dose_is_checked_per_product_route_and_unit():
    two = dose_check(RANGES, product="ketamine", route="iv", mg_per_kg=Decimal("2"), total_mg=None)
    assert (
        not two.within and two.describe() == "2 mg/kg is outside the clinic's range 0.1-1.0 mg/kg"
    )
    usual = dose_check(
        RANGES, product="ketamine", route="iv", mg_per_kg=Decimal("0.5"), total_mg=None
    )
    assert usual.within
    flat = dose_check(
        RANGES, product="esketamine", route="intranasal", mg_per_kg=None, total_mg=Decimal("112")
    )
    assert not flat.within and flat.unit == "mg"
    assert (
        dose_check(RANGES, product="ketamine", route="im", mg_per_kg=Decimal("5"), total_mg=None)
        is None
    )
    assert dose_check(RANGES, product="ketamine", route="iv", mg_per_kg=None, total_mg=None) is None
