"""Who may call what: every endpoint with every persona (patient A and B of clinic X, a
patient of clinic Y, clinician/scheduler/admin of clinic X, clinician of clinic Y,
anonymous). Other clinics' objects answer 404, never revealing that they exist."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from notifications.models import Reminder
from outcomes.services.infusions import infusion_schedule
from tests.factories import PatientFactory
from tests.helpers import MATRIX, PERSONAS, PUBLIC, endpoint_path

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX]
)
def test_endpoint_access(world, persona, method, template, body, expected):
    client = world.client(persona)
    resp = getattr(client, method)(
        endpoint_path(template, world), body(world) if body else None, format="json"
    )
    assert resp.status_code == expected[persona], resp.content


def test_every_operation_in_the_schema_is_in_the_matrix():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    covered = {
        (
            m,
            t.replace("{checkin_a}", "{check_in_id}")
            .replace("{instrument_id}", "{instrument_version_id}")
            .replace("{patient_a}", "{patient_id}")
            .replace("{device_a}", "{device_id}")
            .replace("{infusion_a}", "{infusion_id}")
            .replace("{infusion_e}", "{infusion_id}")
            .replace("{plan_x}", "{plan_id}")
            .replace("{clinic_x}", "{clinic_id}")
            .replace("{visit_alert_a}", "{alert_id}")
            .replace("{alert_a}", "{alert_id}")
            .replace("{staff_x}", "{user_id}"),
        )
        for m, t, _, _ in MATRIX
    } | PUBLIC
    assert operations - covered == set()


def test_clinician_lists_only_own_clinics_patients(world):
    ids = {p["id"] for p in world.client("clinician_x").get("/api/v1/patients/").json()["results"]}
    assert ids == {str(world.patient_a.id), str(world.patient_b.id)}
    ids_y = {
        p["id"] for p in world.client("clinician_y").get("/api/v1/patients/").json()["results"]
    }
    assert ids_y == {str(world.patient_y.id)}


def test_clinician_of_another_clinic_cannot_filter_into_clinic_x(world):
    resp = world.client("clinician_y").get("/api/v1/patients/", {"clinic": str(world.clinic_x.id)})
    assert resp.json()["results"] == []


def test_patient_lists_only_own_check_ins(world):
    b = world.client("patient_b").get("/api/v1/me/check-ins/").json()
    assert b["results"] == []
    a = world.client("patient_a").get("/api/v1/me/check-ins/").json()
    assert {c["id"] for c in a["results"]} == {world.checkin_a, str(world.alert_a.check_in_id)}


def test_unknown_patient_id_is_404_like_another_clinics(world):
    client = world.client("clinician_x")
    assert client.get(f"/api/v1/patients/{uuid.uuid4()}/").status_code == 404
    assert client.get(f"/api/v1/patients/{world.patient_y.id}/check-ins/").status_code == 404


def test_clinician_sees_patient_list_with_latest_scores(world):
    listing = world.client("clinician_x").get("/api/v1/patients/").json()["results"]
    a = next(p for p in listing if p["id"] == str(world.patient_a.id))
    assert a["latest_scores"][0]["instrument"] == "PHQ-9"
    assert a["latest_scores"][0]["total"] == 12
    assert a["latest_scores"][0]["band"] == "moderate"


def test_patient_list_query_count_does_not_grow_with_patients(world, django_assert_max_num_queries):
    client = world.client("clinician_x")
    # 12 to serve the page, 3 to write its audit rows (constant too).
    with django_assert_max_num_queries(15) as few:
        client.get("/api/v1/patients/")
    for _ in range(15):
        PatientFactory(clinic=world.clinic_x, care_team=[world.clinician_x])
    with django_assert_max_num_queries(len(few.captured_queries)):
        resp = client.get("/api/v1/patients/")
    assert resp.json()["count"] == 17


def test_clinician_reads_patient_check_ins_filtered(world):
    client = world.client("clinician_x")
    url = f"/api/v1/patients/{world.patient_a.id}/check-ins/"
    newest_first = [world.checkin_a, str(world.alert_a.check_in_id)]
    assert [c["id"] for c in client.get(url, {"instrument": "PHQ-9"}).json()["results"]] == (
        newest_first
    )
    assert client.get(url, {"instrument": "GAD-7"}).json()["results"] == []
    bad = client.get(url, {"answered_after": "not-a-date"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "answered_after"


def test_scheduler_lists_only_own_clinics_reminders(world):
    infusion_schedule(patient=world.patient_y, scheduled_at=timezone.now() + timedelta(days=2))
    listing = world.client("scheduler_x").get("/api/v1/reminders/", {"limit": 500}).json()
    patients = {r["patient"] for r in listing["results"]}
    assert patients == {str(world.patient_a.id)}
    own = Reminder.objects.filter(patient__clinic=world.clinic_x).count()
    assert own > 0 and listing["count"] == own
