"""The esketamine REMS Patient Monitoring Form: which answers are missing, its JSON, its PDF."""

import dataclasses
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from outcomes.visits.rems import (
    RemsAdverseEvent,
    RemsForm,
    RemsReading,
    form_json,
    form_pdf,
    missing_fields,
)

ROOT = Path(__file__).resolve().parents[2]
# 10:00 in New York (EST, UTC-5) on a winter day.
DOSE = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
BP_ALERT = "blood pressure 185/115 at or over 180/110"
SPO2_ALERT = "SpO2 91% under 93%"
REQUIRED = [
    "dose_mg",
    "dose_started_at",
    "medications_reviewed",
    "monitoring_started_at",
    "monitoring_ended_at",
    "ready_to_leave_at",
    "vitals_acceptable_before_dosing",
    "vitals_acceptable_before_discharge",
    "pulse_oximetry_monitored",
    "sedation_observed",
    "dissociation_observed",
    "respiratory_depression",
]


def reading(minutes, phase, bp, spo2, alert="", *, start=DOSE):
    return RemsReading(
        taken_at=start + timedelta(minutes=minutes),
        minutes=minutes,
        phase=phase,
        systolic=bp[0],
        diastolic=bp[1],
        heart_rate=76,
        spo2=spo2,
        resp_rate=14,
        alert=alert,
    )


def make_form(**changes) -> RemsForm:
    form = RemsForm(
        session_id="s-1",
        clinic_name="Example Clinic",
        patient_name="Sam Example",
        patient_reference="EX-1",
        date_of_birth=date(1980, 6, 1),
        timezone="America/New_York",
        session_date=date(2026, 1, 15),
        due_on=date(2026, 1, 22),
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
        dissociation_observed=False,
        respiratory_depression=False,
        readings=(
            reading(0, "pre_dose", (128, 82), 98),
            reading(15, "during", (142, 90), 97),
            reading(40, "peak", (185, 115), 96, BP_ALERT),
            reading(60, "during", (150, 94), 91, SPO2_ALERT),
            reading(90, "pre_discharge", (132, 84), 97),
        ),
        adverse_events=(
            RemsAdverseEvent(
                occurred_at=DOSE + timedelta(minutes=40),
                term="Transient hypertension",
                severity="moderate",
                serious=False,
                action_taken="BP repeated every 10 minutes",
            ),
        ),
    )
    return dataclasses.replace(form, **changes)


def pdf_text(data: bytes) -> str:
    """All pages' text with whitespace collapsed, so a wrapped cell still reads as one phrase."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


# --- missing fields ---------------------------------------------------------------------------


def test_complete_form_misses_nothing():
    assert missing_fields(make_form()) == []


def test_empty_form_misses_every_required_answer_in_the_forms_order():
    form = make_form(
        dose_mg=None,
        dose_started_at=None,
        medications_reviewed=False,
        monitoring_started_at=None,
        monitoring_ended_at=None,
        ready_to_leave_at=None,
        vitals_acceptable_before_dosing=None,
        vitals_acceptable_before_discharge=None,
        pulse_oximetry_monitored=False,
        sedation_observed=None,
        dissociation_observed=None,
        respiratory_depression=None,
    )
    assert missing_fields(form) == REQUIRED


@pytest.mark.parametrize("name", REQUIRED)
def test_each_unknown_answer_is_missing_on_its_own(name):
    blank = False if name in {"medications_reviewed", "pulse_oximetry_monitored"} else None
    assert missing_fields(make_form(**{name: blank})) == [name]


def test_a_no_answer_is_an_answer():
    form = make_form(
        sedation_observed=False,
        dissociation_observed=False,
        respiratory_depression=False,
        vitals_acceptable_before_discharge=False,
    )
    assert missing_fields(form) == []


def test_readings_and_adverse_events_are_not_required():
    assert missing_fields(make_form(readings=(), adverse_events=())) == []


# --- derived values and validation -----------------------------------------------------------


def test_total_minutes_monitored_counts_whole_minutes():
    form = make_form(
        monitoring_started_at=DOSE,
        monitoring_ended_at=DOSE + timedelta(minutes=125, seconds=59),
    )
    assert form.total_minutes_monitored == 125
    assert make_form().total_minutes_monitored == 130


@pytest.mark.parametrize("name", ["monitoring_started_at", "monitoring_ended_at"])
def test_total_minutes_monitored_unknown_without_both_ends(name):
    assert make_form(**{name: None}).total_minutes_monitored is None


def test_alert_readings_and_serious_events_are_picked_out():
    serious = RemsAdverseEvent(DOSE, "Syncope", "severe", True, "Transferred to ED")
    form = make_form(adverse_events=(*make_form().adverse_events, serious))
    assert [r.alert for r in form.alert_readings] == [BP_ALERT, SPO2_ALERT]
    assert form.serious_adverse_events == (serious,)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="dose_started_at"):
        make_form(dose_started_at=datetime(2026, 1, 15, 10))  # noqa: DTZ001
    with pytest.raises(ValueError, match="taken_at"):
        dataclasses.replace(reading(0, "pre_dose", (120, 80), 98), taken_at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_monitoring_cannot_end_before_it_starts():
    with pytest.raises(ValueError, match="before"):
        make_form(monitoring_ended_at=DOSE - timedelta(minutes=10))


def test_unknown_timezone_is_refused():
    with pytest.raises(LookupError):
        make_form(timezone="Mars/Olympus_Mons")


# --- JSON -------------------------------------------------------------------------------------


def test_json_round_trips_and_carries_every_field():
    form = make_form()
    data = form_json(form)
    assert json.loads(json.dumps(data)) == data
    names = {f.name for f in dataclasses.fields(RemsForm)}
    extras = {"total_minutes_monitored", "alert_readings", "serious_adverse_events"}
    assert set(data) == names | extras | {"complete", "missing"}


def test_json_values_are_iso_strings_and_plain_lists():
    data = form_json(make_form(filed_at=DOSE + timedelta(days=1), filed_by="Nurse Example"))
    assert data["dose_mg"] == "84"
    assert data["dose_started_at"] == "2026-01-15T15:00:00+00:00"
    assert data["session_date"] == "2026-01-15"
    assert data["due_on"] == "2026-01-22"
    assert data["date_of_birth"] == "1980-06-01"
    assert data["filed_at"] == "2026-01-16T15:00:00+00:00"
    assert data["benzodiazepines"] == ["Ativan: lorazepam (benzodiazepine)"]
    assert data["maois"] == []
    assert data["readings"][2] == {
        "taken_at": "2026-01-15T15:40:00+00:00",
        "minutes": 40,
        "phase": "peak",
        "systolic": 185,
        "diastolic": 115,
        "heart_rate": 76,
        "spo2": 96,
        "resp_rate": 14,
        "alert": BP_ALERT,
    }
    assert data["adverse_events"][0]["occurred_at"] == "2026-01-15T15:40:00+00:00"
    assert data["total_minutes_monitored"] == 130
    assert [r["alert"] for r in data["alert_readings"]] == [BP_ALERT, SPO2_ALERT]
    assert data["serious_adverse_events"] == []
    assert data["complete"] is True
    assert data["missing"] == []


def test_json_of_an_incomplete_form_says_what_is_missing():
    data = form_json(make_form(dose_mg=None, ready_to_leave_at=None))
    assert data["complete"] is False
    assert data["missing"] == ["dose_mg", "ready_to_leave_at"]
    assert data["dose_mg"] is None
    assert json.loads(json.dumps(data)) == data


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_holds_patient_alerts_and_due_date():
    data = form_pdf(make_form())
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "Sam Example" in text
    assert "Example Clinic" in text
    assert "2026-01-22" in text
    assert "185/115" in text
    assert f"ALERT: {BP_ALERT}" in text
    assert "91%" in text
    assert f"ALERT: {SPO2_ALERT}" in text
    assert "Ativan: lorazepam (benzodiazepine)" in text
    assert "84 mg" in text
    assert "Not filed" in text
    assert "Incomplete" not in text


def test_pdf_sections_follow_the_forms_order():
    text = pdf_text(form_pdf(make_form()))
    headings = [
        "1. Concomitant medications",
        "2. Dose",
        "3. Monitoring",
        "4. Ready to leave",
        "5. Vital signs",
        "6. Sedation, dissociation, respiratory depression",
        "7. Serious adverse events",
        "8. Pulse oximetry",
        "Vital-sign readings",
        "Adverse events",
    ]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)


def test_incomplete_pdf_says_so_on_every_page_with_the_missing_answers():
    many = tuple(reading(m, "during", (130, 80), 97) for m in range(0, 200))
    data = form_pdf(make_form(ready_to_leave_at=None, sedation_observed=None, readings=many))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 1
    for page in reader.pages:
        text = " ".join(page.extract_text().split())
        assert "Incomplete: ready-to-leave time, sedation" in text
    assert "NOT RECORDED" in pdf_text(data)


def test_times_are_shown_in_the_forms_zone():
    # 15:00 UTC is 10:00 in New York in winter (EST) and 11:00 in summer (EDT).
    text = pdf_text(form_pdf(make_form()))
    assert "10:00 EST" in text  # dose started
    assert "10:00 0 pre-dose 128/82" in text
    assert "15:00" not in text

    summer = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)
    form = make_form(
        session_date=date(2026, 7, 15),
        due_on=date(2026, 7, 22),
        dose_started_at=summer,
        monitoring_started_at=summer,
        monitoring_ended_at=summer + timedelta(minutes=120),
        ready_to_leave_at=summer + timedelta(minutes=90),
        readings=(reading(0, "pre_dose", (128, 82), 98, start=summer),),
        adverse_events=(),
    )
    text = pdf_text(form_pdf(form))
    assert "11:00 EDT" in text
    assert "11:00 0 pre-dose 128/82" in text
    assert "15:00" not in text


def test_short_monitoring_is_flagged_against_the_two_hour_minimum():
    form = make_form(monitoring_ended_at=DOSE + timedelta(minutes=90))
    text = pdf_text(form_pdf(form))
    assert "Total minutes monitored 95" in text
    assert "Under the 120-minute minimum" in text
    assert "Under the 120-minute minimum" not in pdf_text(form_pdf(make_form()))


def test_filed_form_shows_who_filed_it_and_when():
    form = make_form(filed_at=DOSE + timedelta(days=1), filed_by="Nurse Example")
    text = pdf_text(form_pdf(form))
    assert "Filed 2026-01-16 10:00 EST by Nurse Example" in text
    assert "Not filed" not in text


def test_serious_adverse_event_is_answered_yes_and_named():
    serious = RemsAdverseEvent(
        DOSE + timedelta(minutes=30), "Syncope", "severe", True, "Transferred to ED"
    )
    text = pdf_text(form_pdf(make_form(adverse_events=(serious,))))
    assert "Serious adverse events? Yes Syncope (severe) at 10:30" in text
    assert "SERIOUS" in text


def test_unreviewed_medications_are_not_answered_no():
    text = pdf_text(form_pdf(make_form(medications_reviewed=False, benzodiazepines=())))
    assert "Taking benzodiazepines? NOT RECORDED" in text
    assert "No match in the medication list" not in text


def test_same_form_renders_the_same_bytes():
    form = make_form()
    assert form_pdf(form) == form_pdf(form)


def test_same_bytes_in_another_process():
    # Set and dict order can vary with the hash seed between processes; a stored PDF's
    # checksum must not. The form travels to the child as a pickle, built here.
    script = (
        "import hashlib, pickle, sys; from outcomes.visits.rems import form_pdf; "
        "print(hashlib.sha256(form_pdf(pickle.loads(sys.stdin.buffer.read()))).hexdigest())"
    )
    form = make_form(patient_name="Zoë Ødegård")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        input=pickle.dumps(form),
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == hashlib.sha256(form_pdf(form)).hexdigest()


def test_two_hundred_readings_paginate_with_the_header_repeated():
    many = tuple(
        reading(m, "during", (130 + m % 7, 80), 97, BP_ALERT if m == 199 else "")
        for m in range(200)
    )
    data = form_pdf(make_form(readings=many))
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 4
    pages = [" ".join(page.extract_text().split()) for page in reader.pages]
    # 15:00 UTC + 199 minutes is 13:19 in New York; 199 % 7 == 3.
    assert f"13:19 199 during 133/80 76 97% 14 ALERT: {BP_ALERT}" in " ".join(pages)
    # A page the table runs onto starts it with the header row again.
    continued = [text for text in pages[1:] if " during 13" in text]
    assert len(continued) >= 3
    for text in continued:
        assert "Time Min Phase BP HR SpO2 RR Alert" in text
    for number, text in enumerate(pages, 1):
        assert f"Page {number}" in text


def test_latin1_names_print_as_written():
    form = make_form(patient_name="Zoë Ødegård", filed_by="José", filed_at=DOSE)
    text = pdf_text(form_pdf(form))
    assert "Zoë Ødegård" in text
    assert "by José" in text
    assert "cannot draw" not in text


def test_characters_outside_the_font_print_as_question_marks_and_are_named():
    form = make_form(patient_name="Dvořák 漢", clinic_name="Clinic <A & B>")
    text = pdf_text(form_pdf(form))
    assert "Dvo?ák ?" in text
    assert "U+0159, U+6F22" in text
    assert "Clinic <A & B>" in text


def test_decomposed_accents_are_composed_before_drawing():
    # "e" + combining acute, as some keyboards and imports send it.
    text = pdf_text(form_pdf(make_form(patient_name="Jose\u0301")))
    assert "José" in text
    assert "?" not in text.split("Patient reference")[0]
