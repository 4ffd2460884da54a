"""Render docs/images/rems-form-example.pdf from a synthetic session (no database, no real
patient): a nasal esketamine dose with readings at 0, 15, 40, 60 and 90 minutes, a blood
pressure spike at 40 minutes and a low SpO2 at 60, both carrying an alert.

.venv/bin/python docs/images/make_rems_example.py
"""

import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Run as a script, Python puts docs/images/ first on the path, not the project.
sys.path.insert(0, str(ROOT))

from outcomes.visits.rems import (  # noqa: E402
    RemsAdverseEvent,
    RemsForm,
    RemsReading,
    form_pdf,
)

OUT = ROOT / "docs" / "images" / "rems-form-example.pdf"
# 10:00 in New York on a winter day (EST, UTC-5).
DOSE = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)


def reading(minutes: int, phase: str, bp: tuple[int, int], hr: int, spo2: int, rr: int, alert=""):
    return RemsReading(
        taken_at=DOSE + timedelta(minutes=minutes),
        minutes=minutes,
        phase=phase,
        systolic=bp[0],
        diastolic=bp[1],
        heart_rate=hr,
        spo2=spo2,
        resp_rate=rr,
        alert=alert,
    )


def example_form() -> RemsForm:
    readings = (
        reading(0, "pre_dose", (128, 82), 74, 98, 14),
        reading(15, "during", (142, 90), 80, 97, 14),
        reading(40, "peak", (185, 115), 88, 96, 16, "blood pressure 185/115 at or over 180/110"),
        reading(60, "during", (150, 94), 82, 91, 12, "SpO2 91% under 93%"),
        reading(90, "pre_discharge", (132, 84), 76, 97, 14),
    )
    events = (
        RemsAdverseEvent(
            occurred_at=DOSE + timedelta(minutes=40),
            term="Transient hypertension",
            severity="moderate",
            serious=False,
            action_taken="BP repeated every 10 minutes; back under 140/90 by 90 minutes.",
        ),
        RemsAdverseEvent(
            occurred_at=DOSE + timedelta(minutes=25),
            term="Dissociation",
            severity="mild",
            serious=False,
            action_taken="Reassurance; resolved by 75 minutes.",
        ),
    )
    session = date(2026, 1, 15)
    return RemsForm(
        session_id="example-0001",
        clinic_name="Example Ketamine Clinic",
        patient_name="Sam Example",
        patient_reference="EX-1042",
        date_of_birth=date(1980, 6, 1),
        timezone="America/New_York",
        session_date=session,
        due_on=session + timedelta(days=7),
        product="esketamine",
        dose_mg=Decimal("84"),
        dose_started_at=DOSE,
        medications_reviewed=True,
        benzodiazepines=("Ativan: lorazepam (benzodiazepine)",),
        sedative_hypnotics=(),
        psychostimulants=(),
        maois=(),
        monitoring_started_at=DOSE - timedelta(minutes=5),
        monitoring_ended_at=DOSE + timedelta(minutes=125),
        ready_to_leave_at=DOSE + timedelta(minutes=95),
        vitals_acceptable_before_dosing=True,
        vitals_acceptable_before_discharge=True,
        pulse_oximetry_monitored=True,
        sedation_observed=True,
        dissociation_observed=True,
        respiratory_depression=False,
        readings=readings,
        adverse_events=events,
    )


def main() -> None:
    OUT.write_bytes(form_pdf(example_form()))
    print(OUT)


if __name__ == "__main__":
    main()
