"""Clinical records keep a change history (django-simple-history): who changed what, when;
clinicians of the patient's clinic read it; erasure leaves no identity in it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from outcomes.models import Consent, Infusion, Patient, SafetyAlert, TreatmentCourse
from outcomes.services.privacy import consent_record, consent_withdraw
from outcomes.services.safety import alerts_escalate_due
from tests.factories import checkin_payload, phq9

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def console(settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]


def test_infusion_history_names_who_changed_what(personas):
    client = personas.client("clinician_x")
    created = client.post(
        f"/api/v1/patients/{personas.patient_a.id}/infusions/",
        {"scheduled_at": (timezone.now() + timedelta(days=2)).isoformat()},
        format="json",
    ).json()
    url = f"/api/v1/infusions/{created['id']}/"
    assert client.patch(url, {"observation_minutes": 60}, format="json").status_code == 200
    assert client.post(f"{url}cancel/", {"reason": "rescheduled"}, format="json").status_code == 200

    resp = client.get(f"{url}history/")
    assert resp.status_code == 200
    cancelled, changed, first = resp.json()
    who = personas.clinician_x.username
    assert [e["action"] for e in (cancelled, changed, first)] == ["changed", "changed", "created"]
    assert {e["changed_by"] for e in (cancelled, changed, first)} == {who}
    assert changed["changes"] == [{"field": "observation_minutes", "old": None, "new": 60}]
    assert {"field": "status", "old": "scheduled", "new": "cancelled"} in cancelled["changes"]
    assert {"field": "cancel_reason", "old": "", "new": "rescheduled"} in cancelled["changes"]
    assert {c["field"] for c in first["changes"]} >= {"id", "patient_id", "scheduled_at"}
    # Reading the history is a staff read of the patient's data: audited.
    assert AuditEvent.objects.filter(
        actor_id=personas.clinician_x.id,
        path=f"{url}history/",
        patient_id=personas.patient_a.id,
        action="read",
    ).exists()


def test_alert_history_shows_creation_acknowledgement_and_escalation(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 2)])
    assert personas.client("patient_a").post("/api/v1/me/check-ins/", payload).status_code == 201
    alert = SafetyAlert.objects.get(check_in_id=payload["id"])
    alerts_escalate_due(now=timezone.now() + timedelta(hours=1))
    client = personas.client("clinician_x")
    client.post(f"/api/v1/alerts/{alert.id}/acknowledge/", {"note": "called"}, format="json")

    history = client.get(f"/api/v1/alerts/{alert.id}/history/").json()
    acknowledged, escalated, created = history
    assert acknowledged["changed_by"] == personas.clinician_x.username
    assert {"field": "status", "old": "open", "new": "acknowledged"} in acknowledged["changes"]
    assert escalated["changed_by"] is None  # the escalation task
    assert {"field": "escalation_level", "old": 0, "new": 1} in escalated["changes"]
    assert created["action"] == "created"
    assert created["changed_by"] == personas.patient_a.user.username  # the submission


def test_other_clinics_cannot_read_a_records_history(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)])
    personas.client("patient_a").post("/api/v1/me/check-ins/", payload)
    alert = SafetyAlert.objects.get(check_in_id=payload["id"])
    url = f"/api/v1/alerts/{alert.id}/history/"
    assert personas.client("clinician_y").get(url).status_code == 404
    assert personas.client("admin_x").get(url).status_code == 403


def test_patient_and_consent_changes_are_recorded_with_their_author(personas):
    client = personas.client("clinician_x")
    resp = client.patch(
        f"/api/v1/patients/{personas.patient_a.id}/", {"timezone": "Europe/Berlin"}, format="json"
    )
    assert resp.status_code == 200
    latest = Patient.history.filter(id=personas.patient_a.id).order_by("-history_date").first()
    assert latest.timezone == "Europe/Berlin"
    assert latest.history_user == personas.clinician_x

    consent, _ = consent_record(patient=personas.patient_a, document="privacy", version="1")
    consent_withdraw(consent=consent)
    consent_record(patient=personas.patient_a, document="privacy", version="1")
    states = [
        h.withdrawn_at is None
        for h in Consent.history.filter(id=consent.id).order_by("history_date")
    ]
    assert states == [True, False, True]


def test_erasure_leaves_no_identity_in_the_history(personas):
    a = personas.patient_a
    clinician = personas.client("clinician_x")
    clinician.patch(f"/api/v1/patients/{a.id}/", {"display_name": "Renamed Person"}, format="json")
    course = clinician.post(
        f"/api/v1/patients/{a.id}/treatment-courses/",
        {"kind": "induction", "started_on": "2026-11-01", "notes": "Call Mrs Synthetic at home"},
        format="json",
    ).json()
    infusion = clinician.post(
        f"/api/v1/patients/{a.id}/infusions/",
        {"scheduled_at": (timezone.now() + timedelta(days=2)).isoformat()},
        format="json",
    ).json()
    clinician.post(
        f"/api/v1/infusions/{infusion['id']}/cancel/",
        {"reason": "Mrs Synthetic is travelling"},
        format="json",
    )
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)])
    personas.client("patient_a").post("/api/v1/me/check-ins/", payload)
    alert = SafetyAlert.objects.get(check_in_id=payload["id"])
    clinician.post(
        f"/api/v1/alerts/{alert.id}/resolve/", {"note": "Spoke to Mrs Synthetic"}, format="json"
    )
    assert Patient.history.filter(id=a.id, display_name="Renamed Person").exists()
    assert TreatmentCourse.history.filter(patient_id=a.id).exclude(notes="").exists()
    assert Infusion.history.filter(patient_id=a.id).exclude(cancel_reason="").exists()
    assert SafetyAlert.history.filter(patient_id=a.id).exclude(note="").exists()

    resp = personas.client("admin_x").post(f"/api/v1/patients/{a.id}/erase/", {"confirm": True})
    assert resp.status_code == 200

    assert not Patient.history.filter(id=a.id).exists()
    for model, field in (
        (TreatmentCourse, "notes"),
        (Infusion, "cancel_reason"),
        (SafetyAlert, "note"),
    ):
        assert not model.objects.filter(patient=a).exclude(**{field: ""}).exists()
        assert model.history.filter(patient_id=a.id).exists()  # the timeline stays
        assert not model.history.filter(patient_id=a.id).exclude(**{field: ""}).exists()
    assert TreatmentCourse.history.filter(id=course["id"]).exists()
    # The other patients' history is untouched.
    assert Patient.history.filter(id=personas.patient_b.id).exists()
