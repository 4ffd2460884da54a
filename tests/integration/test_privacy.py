"""Privacy: consent records, the patient's own copy of their data, erasure on request."""

from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from knox.models import AuthToken

from notifications.models import Device, Reminder, ReminderStatus
from notifications.services.devices import device_register
from outcomes.models import Consent, InstrumentResponse, Patient
from outcomes.selectors.analytics import clinic_cohort
from outcomes.services.infusions import infusion_schedule
from tests.factories import checkin_payload, phq9

pytestmark = pytest.mark.django_db


def test_consent_is_recorded_once_per_document_version(personas):
    client = personas.client("patient_a")
    body = {"document": "privacy-notice", "version": "2026-11"}
    assert client.post("/api/v1/me/consents/", body).status_code == 201
    assert client.post("/api/v1/me/consents/", body).status_code == 200
    (consent,) = client.get("/api/v1/me/consents/").json()
    assert (consent["document"], consent["version"]) == ("privacy-notice", "2026-11")
    assert Consent.objects.filter(patient=personas.patient_a).count() == 1
    bad = client.post("/api/v1/me/consents/", {"document": "not a slug!", "version": ""})
    assert bad.status_code == 400
    assert {e["attr"] for e in bad.json()["errors"]} == {"document", "version"}


def test_patient_downloads_all_their_data_as_json_and_fhir(personas):
    client = personas.client("patient_a")
    payload = checkin_payload(responses=[phq9(1, 2, 1, 2, 1, 2, 1, 2, 0)])
    client.post("/api/v1/me/check-ins/", payload, format="json")
    client.post("/api/v1/me/consents/", {"document": "privacy-notice", "version": "1"})
    data = client.get("/api/v1/me/export/").json()
    assert data["patient"]["id"] == str(personas.patient_a.id)
    (check_in,) = data["check_ins"]
    assert check_in["id"] == payload["id"]
    assert check_in["responses"][0]["answers"]["item2"] == 2
    assert check_in["responses"][0]["total"] == 12
    assert data["consents"][0]["document"] == "privacy-notice"
    fhir = client.get("/api/v1/me/export/fhir/")
    bundle = Bundle.model_validate_json(fhir.content)
    assert sum(e.resource.get_resource_type() == "Observation" for e in bundle.entry) == 1
    other = personas.client("patient_b").get("/api/v1/me/export/").json()
    assert other["check_ins"] == []


def test_erasure_removes_identity_and_answers_but_keeps_aggregates(personas):
    a = personas.patient_a
    client = personas.client("patient_a")
    client.post(
        "/api/v1/me/check-ins/", checkin_payload(responses=[phq9(*[2] * 8, 0)]), format="json"
    )
    device_register(patient=a, push_token="synthetic-erase-token", platform="ios")
    given_at = timezone.now() - timedelta(days=2)
    infusion_schedule(
        patient=a,
        scheduled_at=given_at,
        started_at=given_at,
        ended_at=given_at + timedelta(minutes=40),
    )
    infusion = infusion_schedule(patient=a, scheduled_at=timezone.now() + timedelta(days=3))
    before = clinic_cohort(clinic_ids=[personas.clinic_x.id], instrument_code="PHQ-9")
    assert before.infusions == 1  # the given infusion counts in the clinic's figures

    resp = personas.client("admin_x").post(f"/api/v1/patients/{a.id}/erase/", {"confirm": True})
    assert resp.status_code == 200
    erased = Patient.objects.get(pk=a.pk)
    assert erased.erased_at is not None
    assert erased.display_name.startswith("Erased patient")
    assert erased.status == "withdrawn"
    assert not erased.user.is_active
    assert not AuthToken.objects.filter(user=erased.user).exists()
    assert not Device.objects.filter(patient=a).exists()
    assert InstrumentResponse.objects.get(patient=a).answers == {}
    assert InstrumentResponse.objects.get(patient=a).total == 16  # the aggregate stays
    assert not Reminder.objects.filter(infusion=infusion, status=ReminderStatus.PENDING).exists()
    after = clinic_cohort(clinic_ids=[personas.clinic_x.id], instrument_code="PHQ-9")
    assert after.infusions == before.infusions
    # The phone is signed out, and erasure cannot run twice.
    assert client.get("/api/v1/me/").status_code == 401
    again = personas.client("admin_x").post(f"/api/v1/patients/{a.id}/erase/", {"confirm": True})
    assert again.status_code == 400


def test_erasure_needs_confirmation(personas):
    resp = personas.client("admin_x").post(
        f"/api/v1/patients/{personas.patient_a.id}/erase/", {"confirm": False}
    )
    assert resp.status_code == 400
    assert Patient.objects.get(pk=personas.patient_a.pk).erased_at is None
