"""The infusion visit on the real database, through the API a nurse's tablet uses (issue
14): timed readings and their alerts, the pre-dose hold, dose ranges, medications by
ingredient, discharge, the REMS form and its deadline, the FHIR export and the audit."""

import io
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from accounts.models import AuditEvent
from notifications.models import Delivery, DeliveryKind, Reminder
from outcomes.models import Infusion, MonitoringSession, VisitAlert, VisitReading
from outcomes.services.infusions import infusion_schedule
from outcomes.services.visits import DISCHARGE_ITEMS
from tests.factories import PatientFactory
from tests.helpers import give_infusion, validation_error

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def minutes(n: float) -> datetime:
    """n minutes after the dose started (two hours ago)."""
    return NOW - timedelta(hours=2) + timedelta(minutes=n)


def record(personas, **fields):
    body = {"scheduled_at": minutes(-30).isoformat(), **fields}
    resp = personas.client("clinician_x").post(
        f"/api/v1/patients/{personas.patient_a.id}/infusions/", body, format="json"
    )
    assert resp.status_code == 201, resp.content
    return resp.json()


def reading(nurse, infusion_id, at, **values):
    body = {"id": str(uuid.uuid4()), "taken_at": at.isoformat(), **values}
    return nurse.post(f"/api/v1/infusions/{infusion_id}/visit/readings/", body, format="json")


def esketamine_session(personas, *, previous_infusions=0, **fields):
    """An esketamine session of patient A, the dose started 2 hours ago (ended at 40 min),
    after `previous_infusions` earlier infusions."""
    for n in range(previous_infusions):
        give_infusion(personas.patient_a, NOW - timedelta(days=30 - n))
    infusion = record(
        personas,
        product="esketamine",
        route="intranasal",
        total_dose_mg="56",
        concomitant_medications=[{"name": "Ativan 1 mg"}, {"name": "Adderall XR 20mg"}],
        **fields,
    )
    nurse = personas.client("nurse_x")
    assert nurse.post(f"/api/v1/infusions/{infusion['id']}/visit/").status_code == 201
    return infusion, nurse


SPIKE_SESSION = [  # minutes, phase, values: 185/115 at 40 minutes, SpO2 91% at 60
    (0, "pre_dose", {"systolic": 128, "diastolic": 82, "heart_rate": 76, "spo2": 98}),
    (15, None, {"systolic": 138, "diastolic": 86, "heart_rate": 84, "spo2": 97, "moaas": 4}),
    (
        40,
        None,
        {
            "systolic": 185,
            "diastolic": 115,
            "heart_rate": 92,
            "spo2": 96,
            "moaas": 3,
            "dissociation_scale": "CADSS-6",
            "dissociation_score": 9,
        },
    ),
    (60, None, {"systolic": 150, "diastolic": 92, "heart_rate": 88, "spo2": 91, "moaas": 4}),
    (
        90,
        "pre_discharge",
        {
            "systolic": 132,
            "diastolic": 84,
            "heart_rate": 78,
            "spo2": 97,
            "moaas": 5,
            "dissociation_scale": "CADSS-6",
            "dissociation_score": 0,
        },
    ),
]


def run_spike_session(personas, infusion_id, nurse):
    clinician = personas.client("clinician_x")
    pre = SPIKE_SESSION[0]
    resp = reading(nurse, infusion_id, minutes(-1), phase=pre[1], **pre[2])
    assert resp.status_code == 201, resp.content
    resp = nurse.patch(
        f"/api/v1/infusions/{infusion_id}/",
        {"started_at": minutes(0).isoformat(), "ended_at": minutes(40).isoformat()},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    for at, phase, values in SPIKE_SESSION[1:]:
        extra = {"phase": phase} if phase else {}
        resp = reading(nurse, infusion_id, minutes(at), **extra, **values)
        assert resp.status_code == 201, resp.content
    return clinician


@pytest.mark.parametrize("previous_infusions", [0, 5])
def test_a_spike_and_a_low_spo2_raise_exactly_two_alerts_and_the_form_lists_both(
    personas, previous_infusions
):
    """The issue's session: readings at 0, 15, 40, 60 and 90 minutes, 185/115 at 40 and
    SpO2 91% at 60 raise two visit alerts (first infusions' strict thresholds or not), and
    the REMS form lists both readings."""
    for user in (personas.nurse_x, personas.clinician_x):  # reachable by e-mail
        user.email = f"{user.username}@clinic-x.example"
        user.save(update_fields=["email"])
    infusion, nurse = esketamine_session(personas, previous_infusions=previous_infusions)
    run_spike_session(personas, infusion["id"], nurse)
    alerts = list(VisitAlert.objects.filter(session__infusion_id=infusion["id"]))
    assert sorted((a.parameter, a.value) for a in alerts) == [
        ("blood_pressure", "185/115"),
        ("spo2", "91%"),
    ]
    session = MonitoringSession.objects.get(infusion_id=infusion["id"])
    assert session.strict is (previous_infusions == 0)
    form = nurse.get(f"/api/v1/infusions/{infusion['id']}/visit/rems-form/").json()
    flagged = {(r["minutes"], r["alert"].split(" ")[0]) for r in form["alert_readings"]}
    assert flagged == {(40, "blood"), (60, "SpO2")}
    assert "185" in form["alert_readings"][0]["alert"]
    # The alerts are for the floor: the nurse and the care team get the care-team notice
    # (its fixed text names nobody), the patient nothing.
    notices = Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM, patient=personas.patient_a)
    assert {d.staff_user_id for d in notices} == {personas.nurse_x.id, personas.clinician_x.id}
    assert len({d.dedupe_key for d in notices}) == 2  # one notice per alert
    assert not Reminder.objects.filter(patient=personas.patient_a, kind="screener").exists()
    floor = nurse.get(f"/api/v1/clinics/{personas.clinic_x.id}/visit-alerts/").json()
    assert {a["parameter"] for a in floor} == {"blood_pressure", "spo2"}


def test_a_second_reading_past_the_same_threshold_adds_to_the_open_alert(personas):
    infusion, nurse = esketamine_session(personas)
    for at in (30, 45):
        reading(nurse, infusion["id"], minutes(at), systolic=186, diastolic=100)
    (alert,) = VisitAlert.objects.filter(session__infusion_id=infusion["id"])
    assert alert.readings_past == 2
    ack = nurse.post(f"/api/v1/visit-alerts/{alert.id}/acknowledge/")
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == str(personas.nurse_x.id)
    reading(nurse, infusion["id"], minutes(50), systolic=190, diastolic=100)
    assert VisitAlert.objects.filter(session__infusion_id=infusion["id"]).count() == 2


def test_the_form_is_complete_when_the_session_is_and_can_then_be_filed(personas):
    infusion, nurse = esketamine_session(personas, previous_infusions=5)
    run_spike_session(personas, infusion["id"], nurse)
    url = f"/api/v1/infusions/{infusion['id']}/visit/"
    form = nurse.get(url + "rems-form/").json()
    assert form["complete"] is False
    assert {"monitoring_ended_at", "ready_to_leave_at"} <= set(form["missing"])
    assert form["benzodiazepines"] == ["Ativan: lorazepam (benzodiazepine)"]
    assert form["psychostimulants"] and "amphetamine" in form["psychostimulants"][0]
    validation_error(nurse.post(url + "rems-form/file/"), "ready_to_leave_at", "required")
    # Leaving: every item ticked, every alert acknowledged.
    everything = dict.fromkeys(DISCHARGE_ITEMS, True)
    leave = {
        "checklist": everything | {"escort_present": False},
        "ready_to_leave_at": minutes(95).isoformat(),
        "left_at": minutes(121).isoformat(),
    }
    resp = nurse.post(url + "discharge/", leave, format="json")
    validation_error(resp, "checklist.escort_present", "required")
    validation_error(resp, "non_field_errors", "open_alerts")
    assert MonitoringSession.objects.get(infusion_id=infusion["id"]).left_at is None
    for alert in VisitAlert.objects.filter(session__infusion_id=infusion["id"]):
        nurse.post(f"/api/v1/visit-alerts/{alert.id}/acknowledge/")
    resp = nurse.post(url + "discharge/", leave | {"checklist": everything}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "completed"
    form = nurse.get(url + "rems-form/").json()
    assert form["complete"] is True and form["missing"] == []
    assert form["total_minutes_monitored"] >= 120
    assert form["sedation_observed"] is True and form["dissociation_observed"] is True
    assert form["vitals_acceptable_before_dosing"] is True
    assert form["vitals_acceptable_before_discharge"] is True
    filed = nurse.post(url + "rems-form/file/")
    assert filed.status_code == 200, filed.content
    assert filed.json()["filed_at"] is not None
    pdf = nurse.get(url + "rems-form/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert personas.patient_a.display_name in text and "185/115" in text


def test_unfiled_forms_past_seven_calendar_days_are_listed_overdue(personas, clock):
    due, nurse = esketamine_session(personas)
    clock.move_to(NOW + timedelta(days=8))
    late = record(personas, product="esketamine", route="intranasal")
    nurse.post(f"/api/v1/infusions/{late['id']}/visit/")
    url = f"/api/v1/clinics/{personas.clinic_x.id}/rems-forms/"
    overdue = nurse.get(url, {"status": "overdue"}).json()
    assert [r["infusion"] for r in overdue] == [due["id"]]
    assert overdue[0]["due_on"] == (NOW.date() + timedelta(days=7)).isoformat()
    assert [r["infusion"] for r in nurse.get(url, {"status": "due"}).json()] == [late["id"]]
    assert nurse.get(url, {"status": "filed"}).json() == []
    validation_error(nurse.get(url, {"status": "late"}), "status", "invalid")


def test_a_pre_dose_pressure_past_the_hold_needs_an_override_with_a_reason(personas):
    infusion = record(personas)  # the patient's first: strict hold 140/90
    nurse = personas.client("nurse_x")
    nurse.post(f"/api/v1/infusions/{infusion['id']}/visit/")
    reading(nurse, infusion["id"], minutes(-5), systolic=152, diastolic=88)
    start = {"started_at": minutes(0).isoformat()}
    url = f"/api/v1/infusions/{infusion['id']}/"
    validation_error(nurse.patch(url, start, format="json"), "started_at", "on_hold")
    assert Infusion.objects.get(pk=infusion["id"]).started_at is None
    override = url + "visit/hold-override/"
    validation_error(nurse.post(override, {"reason": "  "}, format="json"), "reason", "blank")
    resp = nurse.post(
        override, {"reason": "Anxious on arrival; 2nd reading falling"}, format="json"
    )
    assert resp.status_code == 200 and resp.json()["hold_override_by"] == str(personas.nurse_x.id)
    assert nurse.patch(url, start, format="json").status_code == 200


def test_a_calmer_second_pre_dose_reading_lifts_the_hold(personas):
    infusion = record(personas)
    nurse = personas.client("nurse_x")
    nurse.post(f"/api/v1/infusions/{infusion['id']}/visit/")
    reading(nurse, infusion["id"], minutes(-10), systolic=150, diastolic=95)
    assert MonitoringSession.objects.get(infusion_id=infusion["id"]).on_hold
    reading(nurse, infusion["id"], minutes(-2), systolic=132, diastolic=84)
    assert not MonitoringSession.objects.get(infusion_id=infusion["id"]).on_hold
    resp = nurse.patch(
        f"/api/v1/infusions/{infusion['id']}/",
        {"started_at": minutes(0).isoformat()},
        format="json",
    )
    assert resp.status_code == 200, resp.content


def test_a_dose_of_2_mg_per_kg_needs_a_recorded_override(personas):
    body = {"weight_kg": "70.0", "dose_mg_per_kg": "2.000"}
    resp = personas.client("clinician_x").post(
        f"/api/v1/patients/{personas.patient_a.id}/infusions/",
        {"scheduled_at": NOW.isoformat(), **body},
        format="json",
    )
    validation_error(resp, "dose_mg_per_kg", "out_of_range")
    assert "0.1-1.0 mg/kg" in resp.json()["errors"][0]["detail"]
    assert not Infusion.objects.exists()
    given = record(personas, **body, dose_override_reason="Protocol for refractory pain")
    assert given["total_dose_mg"] == "140.00"  # 70 kg x 2 mg/kg, shown computed
    row = Infusion.objects.get(pk=given["id"])
    assert row.dose_override_by == personas.clinician_x
    ok = record(personas, weight_kg="70.0", dose_mg_per_kg="0.500")
    assert ok["total_dose_mg"] == "35.00" and ok["dose_override_reason"] == ""


def test_an_esketamine_dose_is_checked_in_mg_and_by_its_route(personas):
    client = personas.client("clinician_x")
    url = f"/api/v1/patients/{personas.patient_a.id}/infusions/"
    body = {"scheduled_at": NOW.isoformat(), "product": "esketamine", "route": "intranasal"}
    validation_error(
        client.post(url, body | {"total_dose_mg": "112"}, format="json"),
        "total_dose_mg",
        "out_of_range",
    )
    validation_error(
        client.post(url, body | {"route": "iv"}, format="json"), "route", "invalid_choice"
    )
    assert not Infusion.objects.exists()


@pytest.mark.parametrize(
    ("name", "ingredient"),
    [
        ("Ativan", "lorazepam"),
        ("Xanax XR", "alprazolam"),
        ("Klonopin", "clonazepam"),
        ("Valium", "diazepam"),
        ("Restoril", "temazepam"),
        ("Ativan 1 mg", "lorazepam"),
    ],
)
def test_a_brand_name_benzodiazepine_raises_the_warning_naming_its_ingredient(
    personas, name, ingredient
):
    body = record(personas, concomitant_medications=[{"name": name}])
    assert body["benzodiazepine_recorded"] is True
    assert len(body["warnings"]) == 1 and f"{ingredient} (benzodiazepine)" in body["warnings"][0]
    assert body["medication_matches"][0]["ingredient"] == ingredient


def test_vitals_past_the_thresholds_after_an_infusion_no_longer_pass_silently(personas):
    body = record(
        personas,
        vitals_after={
            "systolic_mmhg": 182,
            "diastolic_mmhg": 112,
            "heart_rate_bpm": 118,
            "spo2_pct": 89,
        },
    )
    warned = " ".join(body["warnings"])
    assert "blood pressure 182/112" in warned
    assert "heart rate 118" in warned
    assert "SpO2 89% below 94%" in warned  # a first infusion: the strict set


def test_age_is_derived_from_the_date_of_birth(personas):
    admin = personas.client("admin_x")
    url = f"/api/v1/patients/{personas.patient_a.id}/"
    validation_error(
        admin.patch(url, {"date_of_birth": "2099-01-01"}, format="json"), "date_of_birth", "invalid"
    )
    assert admin.patch(url, {"date_of_birth": "1980-11-03"}, format="json").status_code == 200
    body = record(personas)
    assert body["age_years"] == 45  # the day before the 46th birthday
    assert PatientFactory._meta.model.objects.get(pk=personas.patient_a.pk).date_of_birth == date(
        1980, 11, 3
    )


def test_a_retried_reading_is_the_same_row_and_a_reused_id_is_refused(personas):
    infusion, nurse = esketamine_session(personas)
    body = {"id": str(uuid.uuid4()), "taken_at": minutes(10).isoformat(), "heart_rate": 82}
    url = f"/api/v1/infusions/{infusion['id']}/visit/readings/"
    first = nurse.post(url, body, format="json")
    again = nurse.post(url, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    clash = nurse.post(url, body | {"heart_rate": 90}, format="json")
    assert clash.status_code == 409
    assert VisitReading.objects.get(pk=body["id"]).heart_rate == 82


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({}, "non_field_errors", "required"),
        ({"systolic": 300}, "systolic", "max_value"),
        ({"systolic": 120, "diastolic": 130}, "diastolic", "invalid"),
        ({"dissociation_score": 4}, "dissociation_scale", "required"),
        (
            {"dissociation_scale": "CADSS-6", "dissociation_score": 40},
            "dissociation_score",
            "out_of_range",
        ),
        ({"moaas": 6}, "moaas", "max_value"),
        ({"heart_rate": "fast"}, "heart_rate", "invalid"),
    ],
)
def test_a_bad_reading_is_refused_with_its_field_and_changes_nothing(personas, values, field, code):
    infusion, nurse = esketamine_session(personas)
    resp = reading(nurse, infusion["id"], minutes(10), **values)
    validation_error(resp, field, code)
    assert not VisitReading.objects.exists()


def test_a_first_reading_starts_the_session_and_one_in_the_future_is_refused(personas):
    infusion = record(personas)
    nurse = personas.client("nurse_x")
    assert reading(nurse, infusion["id"], minutes(1), heart_rate=80).status_code == 201
    session = MonitoringSession.objects.get(infusion_id=infusion["id"])
    assert session.started_by == personas.nurse_x and session.readings.count() == 1
    future = reading(nurse, infusion["id"], NOW + timedelta(hours=1), heart_rate=80)
    validation_error(future, "taken_at", "future")
    cancelled = record(personas)
    personas.client("clinician_x").post(f"/api/v1/infusions/{cancelled['id']}/cancel/", {})
    late = reading(nurse, cancelled["id"], minutes(1), heart_rate=80)
    validation_error(late, "infusion", "cancelled")


def test_the_patients_record_and_fhir_export_carry_the_visit(personas):
    infusion, nurse = esketamine_session(personas, previous_infusions=5)
    run_spike_session(personas, infusion["id"], nurse)
    clinician = personas.client("clinician_x")
    listed = clinician.get(f"/api/v1/patients/{personas.patient_a.id}/infusions/").json()
    visit = next(i for i in listed["results"] if i["id"] == infusion["id"])["visit"]
    assert visit["peak_blood_pressure"] == {"systolic": 185, "diastolic": 115, "minutes": 40}
    assert visit["lowest_spo2"] == {"spo2": 91, "minutes": 60}
    assert visit["alerts"] == 2 and visit["rems"]["status"] == "due"
    bundle = clinician.get(f"/api/v1/patients/{personas.patient_a.id}/exports/fhir/").json()
    resources = [e["resource"] for e in bundle["entry"]]
    admin = next(r for r in resources if r["resourceType"] == "MedicationAdministration")
    assert admin["dosage"]["dose"]["value"] == 56
    assert admin["dosage"]["route"]["coding"][0]["code"] == "46713006"
    codes = {
        c["code"]
        for r in resources
        if r["resourceType"] == "Observation" and r.get("partOf")
        for c in r["code"]["coding"]
    }
    assert {"85354-9", "8867-4", "2708-6", "59408-5", "MOAA-S", "CADSS-6-total"} <= codes
    spike = next(
        r
        for r in resources
        if r["resourceType"] == "Observation"
        and r["code"]["coding"][0]["code"] == "85354-9"
        and r["component"][0]["valueQuantity"]["value"] == 185
    )
    assert spike["component"][1]["code"]["coding"][0]["code"] == "8462-4"


def test_a_nurses_reads_and_writes_of_the_visit_are_audited(personas):
    infusion, nurse = esketamine_session(personas)
    before = AuditEvent.objects.filter(actor_id=personas.nurse_x.id).count()
    nurse.get(f"/api/v1/infusions/{infusion['id']}/visit/")
    reading(nurse, infusion["id"], minutes(5), heart_rate=80)
    events = AuditEvent.objects.filter(actor_id=personas.nurse_x.id).order_by("at", "id")[before:]
    assert [(e.method, e.patient_id) for e in events] == [
        ("GET", personas.patient_a.id),
        ("POST", personas.patient_a.id),
    ]


def test_clinic_admins_set_the_thresholds_and_a_laxer_strict_set_is_refused(personas):
    admin = personas.client("admin_x")
    url = f"/api/v1/clinics/{personas.clinic_x.id}/visit-settings/"
    validation_error(
        admin.patch(url, {"strict_alert_systolic": 200}, format="json"),
        "strict_alert_systolic",
        "laxer",
    )
    validation_error(
        admin.patch(url, {"hold_systolic": 190}, format="json"), "hold_systolic", "above_alert"
    )
    bad_range = [{"product": "ketamine", "route": "iv", "unit": "mg_per_kg", "min": 1, "max": 0.5}]
    validation_error(
        admin.patch(url, {"dose_ranges": bad_range}, format="json"), "dose_ranges.0.max", "invalid"
    )
    resp = admin.patch(url, {"spo2_low": 92, "strict_spo2_low": 93}, format="json")
    assert resp.status_code == 200 and resp.json()["spo2_low"] == 92
    # A session started before keeps its thresholds.
    infusion, nurse = esketamine_session(personas)
    admin.patch(url, {"spo2_low": 90, "strict_spo2_low": 90}, format="json")
    reading(nurse, infusion["id"], minutes(20), spo2=91)
    assert VisitAlert.objects.filter(session__infusion_id=infusion["id"], parameter="spo2").exists()


# --- what a review found (each failed before its fix) -------------------------------------


def test_a_departure_before_the_dose_is_refused_and_the_forms_stay_readable(personas):
    infusion, nurse = esketamine_session(personas)
    nurse.patch(
        f"/api/v1/infusions/{infusion['id']}/",
        {"started_at": minutes(0).isoformat(), "ended_at": minutes(10).isoformat()},
        format="json",
    )
    url = f"/api/v1/infusions/{infusion['id']}/visit/"
    early = {"checklist": {}, "ready_to_leave_at": minutes(-30).isoformat()}
    validation_error(nurse.post(url + "discharge/", early, format="json"), "ready_to_leave_at")
    leave = {
        "checklist": dict.fromkeys(DISCHARGE_ITEMS, True),
        "ready_to_leave_at": minutes(60).isoformat(),
        "left_at": minutes(70).isoformat(),
    }
    short = nurse.post(url + "discharge/", leave, format="json")
    validation_error(short, "left_at", "rems_minimum")  # esketamine: 2 hours at least
    ok = nurse.post(
        url + "discharge/", leave | {"left_at": minutes(121).isoformat()}, format="json"
    )
    assert ok.status_code == 200, ok.content
    again = nurse.post(url + "discharge/", leave | {"left_at": None}, format="json")
    validation_error(again, "non_field_errors", "completed")
    assert MonitoringSession.objects.get(infusion_id=infusion["id"]).left_at == minutes(121)
    late = reading(nurse, infusion["id"], minutes(125), heart_rate=80)
    validation_error(late, "taken_at", "after_departure")
    moved = nurse.patch(
        f"/api/v1/infusions/{infusion['id']}/",
        {"started_at": minutes(122).isoformat()},
        format="json",
    )
    validation_error(moved, "started_at", "after_departure")
    assert nurse.get(url + "rems-form/").status_code == 200
    assert nurse.get(f"/api/v1/clinics/{personas.clinic_x.id}/rems-forms/").status_code == 200


def test_readings_sent_before_the_start_was_recorded_get_their_phase_back(personas):
    """A 40-minute reading sent while the start was not yet recorded looked pre-dose: it
    must neither hold the infusion nor stay labelled pre-dose."""
    infusion, nurse = esketamine_session(personas, previous_infusions=5)
    reading(nurse, infusion["id"], minutes(-5), systolic=128, diastolic=80)
    reading(nurse, infusion["id"], minutes(40), systolic=165, diastolic=96)
    start = {"started_at": minutes(0).isoformat(), "ended_at": minutes(10).isoformat()}
    resp = nurse.patch(f"/api/v1/infusions/{infusion['id']}/", start, format="json")
    assert resp.status_code == 200, resp.content
    phases = list(
        VisitReading.objects.filter(session__infusion_id=infusion["id"]).values_list(
            "phase", flat=True
        )
    )
    assert phases == ["pre_dose", "peak"]


def test_the_latest_reading_taken_decides_the_hold_and_one_value_alone_does_not(personas):
    infusion = record(personas)  # a first infusion: strict hold, above 140/90
    nurse = personas.client("nurse_x")
    reading(nurse, infusion["id"], minutes(-5), systolic=130, diastolic=98)
    session = MonitoringSession.objects.get(infusion_id=infusion["id"])
    assert session.on_hold
    reading(nurse, infusion["id"], minutes(-3), systolic=130)  # the diastolic is what held
    session.refresh_from_db()
    assert session.on_hold
    reading(nurse, infusion["id"], minutes(-2), systolic=128, diastolic=84)
    reading(nurse, infusion["id"], minutes(-20), systolic=160, diastolic=100)  # arrives late
    session.refresh_from_db()
    assert not session.on_hold


def test_only_infusions_given_count_towards_the_first_three(personas):
    for days in (30, 20, 10):  # booked, never given
        infusion_schedule(patient=personas.patient_a, scheduled_at=NOW - timedelta(days=days))
    infusion_schedule(patient=personas.patient_a, scheduled_at=NOW + timedelta(days=5))
    infusion, _ = esketamine_session(personas)
    assert MonitoringSession.objects.get(infusion_id=infusion["id"]).strict is True


def test_an_esketamine_dose_without_a_route_is_nasal_and_checked(personas):
    client = personas.client("clinician_x")
    url = f"/api/v1/patients/{personas.patient_a.id}/infusions/"
    body = {"scheduled_at": NOW.isoformat(), "product": "esketamine", "total_dose_mg": "500"}
    validation_error(client.post(url, body, format="json"), "total_dose_mg", "out_of_range")
    given = record(personas, product="esketamine", total_dose_mg="84")
    assert given["route"] == "intranasal"


def test_a_new_dose_needs_its_own_override_reason(personas):
    given = record(
        personas, weight_kg="70.0", dose_mg_per_kg="1.500", dose_override_reason="Pain protocol"
    )
    url = f"/api/v1/infusions/{given['id']}/"
    nurse = personas.client("nurse_x")
    validation_error(
        nurse.patch(url, {"dose_mg_per_kg": "1.900"}, format="json"),
        "dose_mg_per_kg",
        "out_of_range",
    )
    row = Infusion.objects.get(pk=given["id"])
    assert (row.dose_mg_per_kg, row.dose_override_by) == (Decimal("1.500"), personas.clinician_x)
    back = nurse.patch(url, {"dose_mg_per_kg": "0.500"}, format="json").json()
    assert back["dose_override_reason"] == ""


def test_the_form_leaves_unknown_what_was_never_assessed(personas):
    infusion, nurse = esketamine_session(personas, previous_infusions=5)
    nurse.patch(
        f"/api/v1/infusions/{infusion['id']}/",
        {"started_at": minutes(0).isoformat(), "ended_at": minutes(10).isoformat()},
        format="json",
    )
    # Blood pressure only; the 40-minute peak is the last pressure before discharge.
    reading(nurse, infusion["id"], minutes(-5), systolic=128, diastolic=80)
    reading(nurse, infusion["id"], minutes(40), systolic=178, diastolic=108)
    leave = {
        "checklist": dict.fromkeys(DISCHARGE_ITEMS, True),
        "ready_to_leave_at": minutes(100).isoformat(),
        "left_at": minutes(125).isoformat(),
    }
    url = f"/api/v1/infusions/{infusion['id']}/visit/"
    assert nurse.post(url + "discharge/", leave, format="json").status_code == 200
    form = nurse.get(url + "rems-form/").json()
    assert form["sedation_observed"] is None and form["dissociation_observed"] is None
    assert form["respiratory_depression"] is None and form["pulse_oximetry_monitored"] is False
    assert form["vitals_acceptable_before_discharge"] is False  # the peak was the last one
    assert {"sedation_observed", "dissociation_observed"} <= set(form["missing"])


def test_a_medication_recorded_before_the_table_keeps_its_warning():
    """The migration that brought the table matches what was already recorded."""
    import importlib

    from django.apps import apps

    patient = PatientFactory()
    infusion = infusion_schedule(patient=patient, scheduled_at=NOW)
    Infusion.objects.filter(pk=infusion.pk).update(
        concomitant_medications=[{"name": "Klonopin 0.5 mg"}],
        medication_matches=[],
        medication_table_version="",
        benzodiazepine_recorded=False,
    )
    module = importlib.import_module("outcomes.migrations.0006_medication_matches_backfill")
    module.backfill(apps, None)
    infusion.refresh_from_db()
    assert infusion.benzodiazepine_recorded
    assert infusion.medication_matches == [
        {"ingredient": "clonazepam", "drug_class": "benzodiazepine", "matched": "Klonopin"}
    ]


def test_the_infusions_list_costs_the_same_queries_for_one_or_many(personas):
    client = personas.client("clinician_x")
    vitals = {"systolic_mmhg": 182, "diastolic_mmhg": 112, "heart_rate_bpm": 80, "spo2_pct": 97}
    url = f"/api/v1/patients/{personas.patient_a.id}/infusions/"

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    esketamine_session(personas)
    record(personas, vitals_after=vitals)
    few = queries()
    for _ in range(5):
        record(personas, vitals_after=vitals)
    esketamine_session(personas)
    assert queries() == few
    listed = client.get(url).json()["results"]
    warned = [i for i in listed if "blood pressure 182/112" in " ".join(i["warnings"])]
    assert len(warned) == 6


def test_a_naive_time_is_refused(personas):
    infusion, nurse = esketamine_session(personas)
    body = {"id": str(uuid.uuid4()), "taken_at": "2026-11-02T14:00:00", "heart_rate": 80}
    resp = nurse.post(f"/api/v1/infusions/{infusion['id']}/visit/readings/", body, format="json")
    validation_error(resp, "taken_at", "naive")
    assert not VisitReading.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_tablets_sending_the_same_reading_at_once_both_get_the_one_row():
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from django.db import connections

    from outcomes.services import instruments_sync
    from outcomes.services.visits import reading_add

    instruments_sync()  # a transactional test's database was flushed before it
    patient = PatientFactory()
    infusion = infusion_schedule(patient=patient, scheduled_at=NOW)
    reading_id, barrier = uuid.uuid4(), Barrier(2)

    def send():
        barrier.wait(timeout=10)
        try:
            return reading_add(
                infusion=infusion,
                reading_id=reading_id,
                taken_at=NOW - timedelta(minutes=5),
                fields={"heart_rate": 80},
                user=None,
                now=NOW,
            )[1]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        created = sorted(pool.map(lambda _: send(), range(2)))
    assert created == [False, True]
    assert VisitReading.objects.filter(pk=reading_id).count() == 1
