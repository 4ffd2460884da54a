"""Who may call what: every endpoint with every persona (patient A and B of clinic X, a
patient of clinic Y, clinician/scheduler/admin of clinic X, clinician of clinic Y,
anonymous). Other clinics' objects answer 404, never revealing that they exist."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.generators import SchemaGenerator

from notifications.services.devices import device_register
from notifications.services.plans import default_plan_ensure
from outcomes.models import InstrumentVersion, SafetyAlert
from outcomes.services.infusions import infusion_schedule

from .factories import PASSWORD, checkin_payload, phq9

pytestmark = pytest.mark.django_db

PERSONAS = [
    "patient_a",
    "patient_b",
    "patient_y",
    "clinician_x",
    "scheduler_x",
    "admin_x",
    "clinician_y",
    "scheduler_y",
    "anonymous",
]


def _everyone(code, **overrides):
    return {p: overrides.get(p, code) for p in PERSONAS}


@pytest.fixture
def world(personas):
    """Personas plus one stored check-in of patient A."""
    payload = checkin_payload(responses=[phq9(1, 2, 1, 2, 1, 2, 1, 2, 0)])
    assert personas.client("patient_a").post("/api/v1/me/check-ins/", payload).status_code == 201
    personas.checkin_a = payload["id"]
    personas.instrument_id = InstrumentVersion.objects.filter(code="PHQ-9").first().id
    personas.plan_x = default_plan_ensure(clinic=personas.clinic_x)
    personas.infusion_a = infusion_schedule(
        patient=personas.patient_a, scheduled_at=timezone.now() + timedelta(days=2)
    )
    personas.device_a, _ = device_register(
        patient=personas.patient_a, push_token="synthetic-token-a", platform="ios"
    )
    # An older check-in (so check-in A stays the latest) that raises a safety alert.
    alerting = checkin_payload(
        responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)],
        answered_at=timezone.now() - timedelta(days=1),
    )
    personas.client("patient_a").post("/api/v1/me/check-ins/", alerting, format="json")
    personas.alert_a = SafetyAlert.objects.get(check_in_id=alerting["id"])
    return personas


STAFF_ONLY_HEALTH = _everyone(403, anonymous=401, clinician_x=200, clinician_y=404)
SCHEDULERS_X = _everyone(403, anonymous=401, scheduler_x=200, admin_x=200, scheduler_y=404)
PLAN_READERS_X = _everyone(
    403,
    anonymous=401,
    clinician_x=200,
    scheduler_x=200,
    admin_x=200,
    clinician_y=404,
    scheduler_y=404,
)
STEPS = [{"key": "hour-2", "offset_minutes": 120, "instruments": ["MOOD"], "window_hours": 6}]
PATIENT_ONLY = _everyone(403, anonymous=401, patient_a=200, patient_b=200, patient_y=200)
STAFF_PERSONAS = ["clinician_x", "scheduler_x", "admin_x", "clinician_y", "scheduler_y"]


def _staff(code):
    return dict.fromkeys(STAFF_PERSONAS, code)


STAFF_ANY = _everyone(403, anonymous=401, **_staff(200))
STAFF_400 = _everyone(403, anonymous=401, **_staff(400))
ADMIN_X = _everyone(403, anonymous=401, admin_x=200)

# (method, path template, body factory, expected status per persona)
MATRIX = [
    ("get", "/api/v1/account/", None, _everyone(200, anonymous=401)),
    ("get", "/api/v1/me/", None, PATIENT_ONLY),
    ("get", "/api/v1/me/check-ins/", None, PATIENT_ONLY),
    (
        "post",
        "/api/v1/me/check-ins/",
        lambda w: checkin_payload(responses=[phq9(*[0] * 9)]),
        _everyone(403, anonymous=401, patient_a=201, patient_b=201, patient_y=201),
    ),
    (
        "get",
        "/api/v1/me/check-ins/{checkin_a}/",
        None,
        _everyone(403, anonymous=401, patient_a=200, patient_b=404, patient_y=404),
    ),
    ("get", "/api/v1/clinics/", None, _everyone(200, anonymous=401)),
    ("get", "/api/v1/instruments/", None, _everyone(200, anonymous=401)),
    ("get", "/api/v1/instruments/{instrument_id}/", None, _everyone(200, anonymous=401)),
    (
        "get",
        "/api/v1/patients/",
        None,
        _everyone(403, anonymous=401, clinician_x=200, clinician_y=200),
    ),
    (
        "post",
        "/api/v1/patients/",
        lambda w: {
            "clinic": str(w.clinic_x.id),
            "display_name": "Synthetic New",
            "timezone": "UTC",
        },
        _everyone(403, anonymous=401, clinician_x=201, admin_x=201, clinician_y=400),
    ),
    ("get", "/api/v1/patients/{patient_a}/", None, STAFF_ONLY_HEALTH),
    (
        "patch",
        "/api/v1/patients/{patient_a}/",
        lambda w: {"timezone": "Europe/Berlin"},
        _everyone(403, anonymous=401, clinician_x=200, admin_x=200, clinician_y=404),
    ),
    (
        "post",
        "/api/v1/patients/{patient_a}/enrolment-codes/",
        None,
        _everyone(403, anonymous=401, clinician_x=201, admin_x=201, clinician_y=404),
    ),
    ("get", "/api/v1/patients/{patient_a}/check-ins/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/me/infusions/", None, PATIENT_ONLY),
    ("get", "/api/v1/me/open-check-ins/", None, PATIENT_ONLY),
    ("get", "/api/v1/me/schedule/", None, PATIENT_ONLY),
    ("get", "/api/v1/me/devices/", None, PATIENT_ONLY),
    (
        "post",
        "/api/v1/me/devices/",
        lambda w: {"push_token": f"synthetic-{uuid.uuid4()}", "platform": "android"},
        _everyone(403, anonymous=401, patient_a=201, patient_b=201, patient_y=201),
    ),
    (
        "delete",
        "/api/v1/me/devices/{device_a}/",
        None,
        _everyone(403, anonymous=401, patient_a=204, patient_b=404, patient_y=404),
    ),
    ("get", "/api/v1/me/reminder-preferences/", None, PATIENT_ONLY),
    (
        "patch",
        "/api/v1/me/reminder-preferences/",
        lambda w: {"quiet_hours_start": "21:00", "quiet_hours_end": "08:00"},
        PATIENT_ONLY,
    ),
    ("get", "/api/v1/patients/{patient_a}/infusions/", None, STAFF_ONLY_HEALTH),
    (
        "post",
        "/api/v1/patients/{patient_a}/infusions/",
        lambda w: {"scheduled_at": (timezone.now() + timedelta(days=3)).isoformat()},
        _everyone(403, anonymous=401, clinician_x=201, clinician_y=404),
    ),
    ("get", "/api/v1/patients/{patient_a}/treatment-courses/", None, STAFF_ONLY_HEALTH),
    (
        "post",
        "/api/v1/patients/{patient_a}/treatment-courses/",
        lambda w: {"kind": "induction", "started_on": "2026-11-01"},
        _everyone(403, anonymous=401, clinician_x=201, clinician_y=404),
    ),
    ("get", "/api/v1/patients/{patient_a}/reminder-settings/", None, SCHEDULERS_X),
    (
        "patch",
        "/api/v1/patients/{patient_a}/reminder-settings/",
        lambda w: {"paused_until": None},
        SCHEDULERS_X,
    ),
    ("get", "/api/v1/infusions/{infusion_a}/", None, STAFF_ONLY_HEALTH),
    (
        "patch",
        "/api/v1/infusions/{infusion_a}/",
        lambda w: {"observation_minutes": 60},
        STAFF_ONLY_HEALTH,
    ),
    (
        "post",
        "/api/v1/infusions/{infusion_a}/cancel/",
        lambda w: {"reason": "rescheduled"},
        STAFF_ONLY_HEALTH,
    ),
    (
        "get",
        "/api/v1/cadence-plans/",
        None,
        _everyone(
            403,
            anonymous=401,
            clinician_x=200,
            scheduler_x=200,
            admin_x=200,
            clinician_y=200,
            scheduler_y=200,
        ),
    ),
    (
        "post",
        "/api/v1/cadence-plans/",
        lambda w: {"clinic": str(w.clinic_x.id), "name": f"Plan {uuid.uuid4()}", "steps": STEPS},
        _everyone(403, anonymous=401, scheduler_x=201, admin_x=201, scheduler_y=400),
    ),
    ("get", "/api/v1/cadence-plans/{plan_x}/", None, PLAN_READERS_X),
    ("patch", "/api/v1/cadence-plans/{plan_x}/", lambda w: {"name": "Renamed"}, SCHEDULERS_X),
    ("get", "/api/v1/cadence-plans/{plan_x}/adherence/", None, PLAN_READERS_X),
    ("get", "/api/v1/reminders/", None, {**SCHEDULERS_X, "scheduler_y": 200}),
    ("get", "/api/v1/clinics/{clinic_x}/notification-settings/", None, SCHEDULERS_X),
    (
        "patch",
        "/api/v1/clinics/{clinic_x}/notification-settings/",
        lambda w: {"default_channels": ["push", "sms"]},
        SCHEDULERS_X,
    ),
    ("get", "/api/v1/me/trajectory/", None, PATIENT_ONLY),
    ("get", "/api/v1/patients/{patient_a}/trajectory/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/patients/{patient_a}/outcomes/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/patients/{patient_a}/charts/trajectory/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/patients/{patient_a}/booster/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/patients/{patient_a}/exports/csv/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/patients/{patient_a}/exports/fhir/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/clinics/{clinic_x}/durability/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/clinics/{clinic_x}/charts/durability/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/clinics/{clinic_x}/exports/csv/", None, STAFF_ONLY_HEALTH),
    (
        "get",
        "/api/v1/alerts/",
        None,
        _everyone(403, anonymous=401, clinician_x=200, clinician_y=200),
    ),
    ("get", "/api/v1/alerts/{alert_a}/", None, STAFF_ONLY_HEALTH),
    ("post", "/api/v1/alerts/{alert_a}/acknowledge/", None, STAFF_ONLY_HEALTH),
    ("post", "/api/v1/alerts/{alert_a}/resolve/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/audit-events/", None, _everyone(403, anonymous=401, admin_x=200)),
    ("get", "/api/v1/me/consents/", None, PATIENT_ONLY),
    (
        "post",
        "/api/v1/me/consents/",
        lambda w: {"document": "privacy-notice", "version": "2026-11"},
        _everyone(403, anonymous=401, patient_a=201, patient_b=201, patient_y=201),
    ),
    ("get", "/api/v1/me/export/", None, PATIENT_ONLY),
    ("get", "/api/v1/me/export/fhir/", None, PATIENT_ONLY),
    (
        "post",
        "/api/v1/patients/{patient_a}/erase/",
        lambda w: {"confirm": True},
        _everyone(403, anonymous=401, admin_x=200),
    ),
    # Accounts and security: a staff member's own authenticator; the clinic's sign-in policy;
    # the change history of clinical records.
    ("get", "/api/v1/account/totp/", None, STAFF_ANY),
    # Starting an enrolment takes the current password again.
    (
        "post",
        "/api/v1/account/totp/",
        lambda w: {"password": PASSWORD},
        {**STAFF_ANY, **_staff(201)},
    ),
    # Nothing pending or enrolled: the code cannot be checked (400), patients 403.
    ("post", "/api/v1/account/totp/confirm/", lambda w: {"code": "000000"}, STAFF_400),
    ("post", "/api/v1/account/totp/remove/", lambda w: {"code": "000000"}, STAFF_400),
    ("get", "/api/v1/clinics/{clinic_x}/security-settings/", None, ADMIN_X),
    (
        "patch",
        "/api/v1/clinics/{clinic_x}/security-settings/",
        lambda w: {"require_staff_mfa": False},
        ADMIN_X,
    ),
    # A staff member's MFA enrolment code, from an admin of their clinic (who must have an
    # authenticator: the body factory gives admin X one).
    (
        "post",
        "/api/v1/clinics/{clinic_x}/staff/{staff_x}/mfa-enrolment-code/",
        lambda w: _with_admin_authenticator(w),
        _everyone(403, anonymous=401, admin_x=201),
    ),
    ("get", "/api/v1/infusions/{infusion_a}/history/", None, STAFF_ONLY_HEALTH),
    ("get", "/api/v1/alerts/{alert_a}/history/", None, STAFF_ONLY_HEALTH),
    ("post", "/api/v1/auth/sign-out/", None, _everyone(204, anonymous=401)),
    ("post", "/api/v1/auth/sign-out-all/", None, _everyone(204, anonymous=401)),
]
# Open by design: they take credentials or a code, and answer 400 to bad ones.
PUBLIC = {
    ("post", "/api/v1/auth/sign-in/"),
    ("post", "/api/v1/auth/sign-in/enrol/"),
    ("post", "/api/v1/auth/sign-in/verify/"),
    ("post", "/api/v1/auth/enrol/"),
}


def _with_admin_authenticator(w) -> None:
    TOTPDevice.objects.get_or_create(user=w.admin_x, confirmed=True, defaults={"name": "A"})


def _path(template: str, w) -> str:
    return template.format(
        checkin_a=w.checkin_a,
        instrument_id=w.instrument_id,
        patient_a=w.patient_a.id,
        device_a=w.device_a.id,
        infusion_a=w.infusion_a.id,
        plan_x=w.plan_x.id,
        clinic_x=w.clinic_x.id,
        alert_a=w.alert_a.id,
        staff_x=w.clinician_x.id,
    )


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize(
    ("method", "template", "body", "expected"), MATRIX, ids=[f"{m} {t}" for m, t, _, _ in MATRIX]
)
def test_endpoint_access(world, persona, method, template, body, expected):
    client = world.client(persona)
    resp = getattr(client, method)(
        _path(template, world), body(world) if body else None, format="json"
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
            .replace("{plan_x}", "{plan_id}")
            .replace("{clinic_x}", "{clinic_id}")
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
    from .factories import PatientFactory

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
    assert listing["count"] == 8
