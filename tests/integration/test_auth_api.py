"""Sign-in: staff with credentials, the phone with an enrolment code; per-device tokens."""

from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from outcomes.models import EnrolmentCode, Patient
from tests.factories import PASSWORD, StaffFactory

pytestmark = pytest.mark.django_db


def enrol_patient(client, clinic_id, **extra):
    body = {
        "clinic": str(clinic_id),
        "display_name": "Synthetic Enrolee",
        "timezone": "Europe/Berlin",
        "conditions": ["ptsd"],
        **extra,
    }
    return client.post("/api/v1/patients/", body, format="json")


def test_staff_signs_in_and_out(personas):
    client = APIClient()
    resp = client.post(
        "/api/v1/auth/sign-in/",
        {"username": personas.clinician_x.username, "password": PASSWORD},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["kind"] == "staff"
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    account = client.get("/api/v1/account/").json()
    assert account["memberships"] == [
        {
            "clinic": {
                "id": str(personas.clinic_x.id),
                "name": "Clinic X",
                "slug": personas.clinic_x.slug,
                "timezone": "America/New_York",
            },
            "role": "clinician",
        }
    ]
    assert client.post("/api/v1/auth/sign-out/").status_code == 204
    assert client.get("/api/v1/account/").status_code == 401


def test_wrong_password_is_400_and_issues_no_token(personas):
    resp = APIClient().post(
        "/api/v1/auth/sign-in/",
        {"username": personas.clinician_x.username, "password": "wrong-password"},
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "invalid_credentials"
    assert not AuthToken.objects.filter(user=personas.clinician_x).exists()


def test_clinic_enrols_patient_and_phone_signs_in_with_code(personas):
    staff = personas.client("admin_x")
    resp = enrol_patient(staff, personas.clinic_x.id)
    assert resp.status_code == 201, resp.json()
    code = resp.json()["enrolment"]["code"]
    patient_id = resp.json()["patient"]["id"]

    phone = APIClient()
    signed = phone.post(
        "/api/v1/auth/enrol/",
        {"code": code.lower(), "password": "a-long-synthetic-passphrase"},
    )
    assert signed.status_code == 201, signed.json()
    assert signed.json()["kind"] == "patient"
    phone.credentials(HTTP_AUTHORIZATION=f"Token {signed.json()['token']}")
    assert phone.get("/api/v1/me/").json()["id"] == patient_id
    # The code is single use.
    again = APIClient().post("/api/v1/auth/enrol/", {"code": code})
    assert again.status_code == 400
    assert again.json()["errors"][0]["attr"] == "code"
    # The password set at enrolment signs in a second device.
    second = APIClient().post(
        "/api/v1/auth/sign-in/",
        {"username": signed.json()["username"], "password": "a-long-synthetic-passphrase"},
    )
    assert second.status_code == 200
    assert AuthToken.objects.filter(user__patient__id=patient_id).count() == 2


def test_weak_password_at_enrolment_leaves_the_code_usable(personas):
    code = enrol_patient(personas.client("clinician_x"), personas.clinic_x.id).json()["enrolment"][
        "code"
    ]
    resp = APIClient().post("/api/v1/auth/enrol/", {"code": code, "password": "123"})
    assert resp.status_code == 400
    assert {e["attr"] for e in resp.json()["errors"]} == {"password"}
    assert APIClient().post("/api/v1/auth/enrol/", {"code": code}).status_code == 201


def test_expired_and_replaced_codes_do_not_work(personas):
    staff = personas.client("clinician_x")
    enrolled = enrol_patient(staff, personas.clinic_x.id).json()
    first = enrolled["enrolment"]["code"]
    second = staff.post(f"/api/v1/patients/{enrolled['patient']['id']}/enrolment-codes/").json()[
        "code"
    ]
    assert APIClient().post("/api/v1/auth/enrol/", {"code": first}).status_code == 400
    EnrolmentCode.objects.filter(patient_id=enrolled["patient"]["id"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert APIClient().post("/api/v1/auth/enrol/", {"code": second}).status_code == 400


def test_no_open_self_signup():
    resp = APIClient().post("/api/v1/patients/", {"display_name": "x"}, format="json")
    assert resp.status_code == 401
    assert Patient.objects.count() == 0


def test_sign_out_all_revokes_every_device(personas):
    user = personas.clinician_x
    clients = [personas.client("clinician_x") for _ in range(3)]
    assert clients[0].post("/api/v1/auth/sign-out-all/").status_code == 204
    assert all(c.get("/api/v1/account/").status_code == 401 for c in clients)
    assert not AuthToken.objects.filter(user=user).exists()


def test_token_limit_evicts_the_oldest_device(settings, personas):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    first, second, third = (personas.client("patient_a") for _ in range(3))
    assert first.get("/api/v1/me/").status_code == 401
    assert second.get("/api/v1/me/").status_code == 200
    assert third.get("/api/v1/me/").status_code == 200


def test_expired_token_is_refused(personas):
    client = personas.client("clinician_x")
    AuthToken.objects.filter(user=personas.clinician_x).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    assert client.get("/api/v1/account/").status_code == 401


def test_knox_method_is_the_one_our_token_authentication_follows():
    """api.authentication repeats knox's authenticate_credentials with one more join. If an
    upgrade changes knox's, this fails: compare the two, carry the change over, and then
    update the digest."""
    import hashlib
    import inspect

    from knox.auth import TokenAuthentication

    source = inspect.getsource(TokenAuthentication.authenticate_credentials)
    assert hashlib.sha256(source.encode()).hexdigest() == (
        "9ee8f829395d3547ed79b01b2b58126add48cec33557a5828fa496ca7cf576e0"
    )


def test_the_patient_comes_with_the_token(personas):
    """One query authenticates a phone and finds its patient; staff tokens still work, and
    a staff account is no patient."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    phone = personas.client("patient_a")
    with CaptureQueriesContext(connection) as ctx:
        assert phone.get("/api/v1/me/").status_code == 200
    sqls = [q["sql"] for q in ctx.captured_queries]
    assert not any('FROM "outcomes_patient"' in s for s in sqls), "read on its own"
    (joined,) = [s for s in sqls if 'JOIN "outcomes_patient"' in s]
    assert 'FROM "knox_authtoken"' in joined
    staff = personas.client("clinician_x")
    assert staff.get("/api/v1/account/").status_code == 200
    assert staff.get("/api/v1/me/").status_code == 403


def test_an_expired_token_is_refused_and_deleted_with_the_patient_join(personas):
    client = personas.client("patient_a")
    AuthToken.objects.filter(user=personas.patient_a.user).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    assert client.get("/api/v1/me/").status_code == 401
    assert not AuthToken.objects.filter(user=personas.patient_a.user).exists()


def test_inactive_staff_cannot_sign_in(db):
    user = StaffFactory(is_active=False)
    resp = APIClient().post(
        "/api/v1/auth/sign-in/", {"username": user.username, "password": PASSWORD}
    )
    assert resp.status_code == 400


def test_enrolment_refuses_bad_input(personas):
    staff = personas.client("clinician_x")
    resp = enrol_patient(
        staff,
        personas.clinic_x.id,
        timezone="Mars/Olympus",
        conditions=["flu"],
        care_team=[str(personas.clinician_y.id)],
    )
    assert resp.status_code == 400
    attrs = {e["attr"] for e in resp.json()["errors"]}
    assert "conditions.0" in attrs
    assert Patient.objects.filter(display_name="Synthetic Enrolee").count() == 0
    resp = enrol_patient(staff, personas.clinic_x.id, timezone="Mars/Olympus")
    assert {e["attr"] for e in resp.json()["errors"]} == {"timezone"}
    resp = enrol_patient(staff, personas.clinic_x.id, care_team=[str(personas.clinician_y.id)])
    assert {e["attr"] for e in resp.json()["errors"]} == {"care_team.0"}
    assert Patient.objects.filter(display_name="Synthetic Enrolee").count() == 0
