"""A patient changes their password and signs out their other phones from the app
(issue 15: a patient could set a password only at enrolment)."""

import pytest
from knox.models import AuthToken

from accounts.models import ClinicMembership
from notifications.models import Device
from tests.factories import PASSWORD, PatientFactory, StaffFactory
from tests.helpers import client_for, validation_error

pytestmark = pytest.mark.django_db
NEW = "a-new-synthetic-pass-77"


@pytest.fixture
def phones():
    """A patient signed in on two phones, each with its push registration."""
    patient = PatientFactory()
    this, other = client_for(patient.user), client_for(patient.user)
    for n, client in enumerate((this, other)):
        resp = client.post(
            "/api/v1/me/devices/",
            {"push_token": f"synthetic-push-{n}", "platform": "ios"},
            format="json",
        )
        assert resp.status_code in (200, 201), resp.content
    return patient, this, other


def test_a_patient_changes_the_password_and_the_other_phone_is_signed_out(phones):
    patient, this, other = phones
    resp = this.post(
        "/api/v1/me/password/",
        {"current_password": PASSWORD, "new_password": NEW},
        format="json",
    )
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"signed_out": 1}
    patient.user.refresh_from_db()
    assert patient.user.check_password(NEW)
    assert this.get("/api/v1/me/").status_code == 200
    assert other.get("/api/v1/me/").status_code == 401
    assert list(Device.objects.filter(patient=patient).values_list("push_token", flat=True)) == [
        "synthetic-push-0"
    ]
    signed_in = client_for(None).post(
        "/api/v1/auth/sign-in/",
        {"username": patient.user.username, "password": NEW},
        format="json",
    )
    assert signed_in.status_code == 200, signed_in.content


def test_a_wrong_current_password_changes_nothing_and_counts_toward_the_lockout(phones):
    patient, this, other = phones
    resp = this.post(
        "/api/v1/me/password/",
        {"current_password": "not-it", "new_password": NEW},
        format="json",
    )
    validation_error(resp, "current_password", "invalid_password")
    patient.user.refresh_from_db()
    assert patient.user.check_password(PASSWORD)
    assert other.get("/api/v1/me/").status_code == 200
    codes = [
        this.post(
            "/api/v1/me/password/",
            {"current_password": f"guess-{n}", "new_password": NEW},
            format="json",
        ).status_code
        for n in range(6)
    ]
    assert codes[-1] == 429


def test_a_weak_new_password_is_refused_by_field(phones):
    _, this, _ = phones
    resp = this.post(
        "/api/v1/me/password/", {"current_password": PASSWORD, "new_password": "123"}, format="json"
    )
    assert validation_error(resp, "new_password")["code"] in {
        "password_too_short",
        "password_too_common",
        "password_entirely_numeric",
    }


def test_a_patient_enrolled_without_a_password_sets_a_first_one_and_no_phone_is_signed_out():
    """A stolen token setting a first password must not lock the owner's phone out."""
    patient = PatientFactory()
    patient.user.set_unusable_password()
    patient.user.save()
    client, owner = client_for(patient.user), client_for(patient.user)
    resp = client.post("/api/v1/me/password/", {"new_password": NEW}, format="json")
    assert resp.status_code == 200 and resp.json() == {"signed_out": 0}, resp.content
    patient.user.refresh_from_db()
    assert patient.user.check_password(NEW)
    assert owner.get("/api/v1/me/").status_code == 200


def test_a_staff_member_who_is_also_a_patient_cannot_skip_the_second_factor(phones):
    patient, this, other = phones
    ClinicMembership.objects.create(user=patient.user, clinic=patient.clinic, role="clinician")
    resp = this.post(
        "/api/v1/me/password/", {"current_password": PASSWORD, "new_password": NEW}, format="json"
    )
    assert resp.status_code == 403
    assert this.post("/api/v1/me/sign-out-others/").status_code == 403
    assert other.get("/api/v1/me/").status_code == 200


def test_a_registration_whose_token_expired_is_kept(phones):
    """It may be this very phone's, signed in again since: its pushes must not stop."""
    patient, this, _ = phones
    Device.objects.filter(push_token="synthetic-push-0").update(auth_token=None)
    assert this.post("/api/v1/me/sign-out-others/").status_code == 200
    assert set(Device.objects.filter(patient=patient).values_list("push_token", flat=True)) == {
        "synthetic-push-0"
    }


def test_signing_out_the_other_phones_keeps_this_one(phones):
    patient, this, other = phones
    resp = this.post("/api/v1/me/sign-out-others/")
    assert resp.status_code == 200 and resp.json() == {"signed_out": 1}
    assert this.get("/api/v1/me/").status_code == 200
    assert other.get("/api/v1/me/").status_code == 401
    assert AuthToken.objects.filter(user=patient.user).count() == 1
    assert Device.objects.filter(patient=patient).count() == 1


def test_staff_cannot_use_the_patients_account_endpoints():
    nurse = client_for(StaffFactory(clinic=PatientFactory().clinic, role="nurse"))
    assert nurse.post("/api/v1/me/sign-out-others/").status_code == 403
    assert nurse.post("/api/v1/me/password/", {"new_password": NEW}).status_code == 403


def test_a_clinic_admin_reads_back_the_patient_they_enrolled(personas):
    admin = personas.client("admin_x")
    enrolled = admin.post(
        "/api/v1/patients/",
        {
            "clinic": str(personas.clinic_x.id),
            "display_name": "Synthetic Enrolled",
            "timezone": "UTC",
        },
        format="json",
    ).json()["patient"]
    resp = admin.get(f"/api/v1/patients/{enrolled['id']}/")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["access"] == "administrative" and body["display_name"] == "Synthetic Enrolled"
    assert "latest_scores" not in body and "conditions" not in body
    clinical = personas.client("clinician_x").get(f"/api/v1/patients/{enrolled['id']}/").json()
    assert clinical["access"] == "clinical"
