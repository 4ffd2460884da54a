"""The audit log: every staff read or write of a patient's data leaves an append-only row
(who, what, when, from where), and clinic admins can query it."""

import pytest
from django.db import DatabaseError, connection, transaction

from accounts.models import AuditEvent
from tests.helpers import MATRIX, endpoint_path

pytestmark = pytest.mark.django_db
STAFF = ["clinician_x", "scheduler_x", "admin_x"]
PATIENT_DATA = (
    "{patient_a}",
    "{infusion_a}",
    "{alert_a}",
    "/api/v1/patients/",
    "/api/v1/alerts/",
    "{clinic_x}/durability",
    "{clinic_x}/charts",
    "{clinic_x}/exports",
)
CASES = [
    (persona, method, template, body)
    for method, template, body, expected in MATRIX
    for persona in STAFF
    if 200 <= expected[persona] < 300
    and any(marker in template for marker in PATIENT_DATA)
    and "reminder-settings" not in template
]


@pytest.mark.parametrize(
    ("persona", "method", "template", "body"), CASES, ids=[f"{p} {m} {t}" for p, m, t, _ in CASES]
)
def test_every_staff_access_to_patient_data_is_recorded(world, persona, method, template, body):
    path = endpoint_path(template, world)
    user = getattr(world, persona)
    before = AuditEvent.objects.count()
    resp = getattr(world.client(persona), method)(
        path, body(world) if body else None, format="json"
    )
    assert 200 <= resp.status_code < 300
    rows = AuditEvent.objects.filter(actor_id=user.id, path=path)
    assert rows.exists(), f"no audit row for {method.upper()} {template}"
    assert AuditEvent.objects.count() > before
    row = rows.first()
    assert (
        row.action
        == {"get": "read", "post": "create", "patch": "update", "delete": "delete"}[method]
    )
    assert row.ip == "127.0.0.1"
    assert row.clinic_id == world.clinic_x.id
    if "{patient_a}" in template or "{infusion_a}" in template or "{alert_a}" in template:
        assert rows.filter(patient_id=world.patient_a.id).exists()


def test_a_patient_reading_their_own_data_is_not_a_staff_access(world):
    world.client("patient_a").get("/api/v1/me/check-ins/")
    world.client("patient_a").get("/api/v1/me/trajectory/")
    assert not AuditEvent.objects.filter(actor_id=world.patient_a.user_id).exists()


def test_a_refused_request_records_only_the_refusal(world):
    """Another clinic's patient: 404, and one `refused` row (issue 15: refused attempts
    used to leave nothing), never a read."""
    resp = world.client("clinician_y").get(f"/api/v1/patients/{world.patient_a.id}/")
    assert resp.status_code == 404
    (row,) = AuditEvent.objects.filter(actor_id=world.clinician_y.id)
    assert (row.action, row.status_code) == ("refused", 404)


def test_audit_rows_cannot_be_changed_or_removed(world):
    world.client("clinician_x").get(f"/api/v1/patients/{world.patient_a.id}/")
    row = AuditEvent.objects.first()
    row.path = "/elsewhere/"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    # Even raw SQL is refused by the database.
    for sql in ("UPDATE audit_event SET path = '/x/'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert AuditEvent.objects.get(pk=row.pk).path != "/x/"


def test_clinic_admin_queries_the_audit_log_of_their_clinic_only(world):
    world.client("clinician_x").get(f"/api/v1/patients/{world.patient_a.id}/")
    world.client("clinician_y").get(f"/api/v1/patients/{world.patient_y.id}/")
    listing = (
        world.client("admin_x")
        .get("/api/v1/audit-events/", {"patient": str(world.patient_a.id)})
        .json()
    )
    assert listing["count"] >= 1
    assert {e["patient_id"] for e in listing["results"]} == {str(world.patient_a.id)}
    everything = world.client("admin_x").get("/api/v1/audit-events/", {"limit": 500}).json()
    assert str(world.patient_y.id) not in {e["patient_id"] for e in everything["results"]}
    assert world.client("clinician_x").get("/api/v1/audit-events/").status_code == 403
