"""Helpers more than one test module uses: an API client per user, a patient's timeline
of infusions and PHQ-9 answers, the endpoint-by-persona matrix, and the FCM fakes.

Test modules import from here (and from tests/factories.py), never from one another.
"""

import uuid
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.services.tokens import device_token_issue
from outcomes.services.checkins import ResponseInput, checkin_submit
from outcomes.services.infusions import infusion_schedule
from tests.factories import PASSWORD, checkin_payload, phq9

# --- API clients ------------------------------------------------------------------------------


def client_for(user) -> APIClient:
    """An API client signed in as `user` with a device token (anonymous for None)."""
    client = APIClient()
    if user is not None:
        _, token = device_token_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


# --- a patient's timeline, through the services -----------------------------------------------

T0 = datetime(2026, 9, 1, 14, 0, tzinfo=UTC)


def phq9_total(total: int) -> dict[str, int]:
    """PHQ-9 answers adding up to `total` (item 9 kept at 0)."""
    answers, left = {}, total
    for i in range(1, 10):
        v = min(3, left) if i < 9 else 0
        answers[f"item{i}"] = v
        left -= v
    assert left == 0
    return answers


def give_infusion(patient, at):
    """A 40-minute infusion given at `at`, recorded as the clinic records it."""
    return infusion_schedule(
        patient=patient, scheduled_at=at, started_at=at, ended_at=at + timedelta(minutes=40)
    )


def answer(patient, at, total):
    """A PHQ-9 check-in answered at `at` adding up to `total`, submitted as the phone does."""
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=at,
        responses=[ResponseInput("PHQ-9", "1", phq9_total(total))],
        now=at,
    )


# --- every endpoint with the status each persona gets (tests/integration/test_permissions.py) ---
# The `world` fixture (tests/integration/conftest.py) holds the objects the paths name.

PERSONAS = [
    "patient_a",
    "patient_b",
    "patient_y",
    "clinician_x",
    "scheduler_x",
    "admin_x",
    "nurse_x",
    "clinician_y",
    "scheduler_y",
    "anonymous",
]


def _everyone(code, **overrides):
    return {p: overrides.get(p, code) for p in PERSONAS}


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
STAFF_PERSONAS = ["clinician_x", "scheduler_x", "admin_x", "nurse_x", "clinician_y", "scheduler_y"]
# The infusion visit: nurses and clinicians of clinic X; another clinic's objects are 404.
VISIT_X = _everyone(403, anonymous=401, clinician_x=200, nurse_x=200, clinician_y=404)


def _visit(code, other=404):
    return _everyone(403, anonymous=401, clinician_x=code, nurse_x=code, clinician_y=other)


def _reading(w):
    return {"id": str(uuid.uuid4()), "taken_at": timezone.now().isoformat(), "heart_rate": 80}


def _staff(code):
    return dict.fromkeys(STAFF_PERSONAS, code)


STAFF_ANY = _everyone(403, anonymous=401, **_staff(200))
STAFF_400 = _everyone(403, anonymous=401, **_staff(400))
ADMIN_X = _everyone(403, anonymous=401, admin_x=200)


def _with_admin_authenticator(w) -> None:
    TOTPDevice.objects.get_or_create(user=w.admin_x, confirmed=True, defaults={"name": "A"})


# (method, path template, body factory, expected status per persona)
MATRIX = [
    ("get", "/api/v1/account/", None, _everyone(200, anonymous=401)),
    (
        "patch",
        "/api/v1/account/",
        lambda w: {"pager_phone": "+15551234567"},
        _everyone(400, anonymous=401, **_staff(200)),  # a patient has no pager number
    ),
    ("get", "/api/v1/me/", None, PATIENT_ONLY),
    ("get", "/api/v1/me/check-ins/", None, PATIENT_ONLY),
    ("post", "/api/v1/me/sign-out-others/", None, PATIENT_ONLY),
    (
        "post",
        "/api/v1/me/password/",
        lambda w: {"current_password": PASSWORD, "new_password": "another-synthetic-pass-9"},
        PATIENT_ONLY,
    ),
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
    (
        "get",
        "/api/v1/patients/{patient_a}/",
        None,
        _everyone(403, anonymous=401, clinician_x=200, admin_x=200, clinician_y=404),
    ),
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
    ("get", "/api/v1/infusions/{infusion_a}/", None, VISIT_X),
    (
        "patch",
        "/api/v1/infusions/{infusion_a}/",
        lambda w: {"observation_minutes": 60},
        VISIT_X,
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
    (
        "post",
        "/api/v1/cadence-plans/preview/",
        lambda w: {
            "clinic": str(w.clinic_x.id),
            "course": {
                "infusions": [(datetime.now(UTC) + timedelta(days=1)).isoformat()],
                "timezone": "America/New_York",
            },
        },
        _everyone(
            403,
            anonymous=401,
            clinician_x=200,
            scheduler_x=200,
            admin_x=200,
            clinician_y=400,
            scheduler_y=400,
        ),
    ),
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
    (
        "post",
        "/api/v1/alerts/{alert_a}/resolve/",
        lambda w: {"note": "Called back; safety plan reviewed."},
        STAFF_ONLY_HEALTH,
    ),
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
    # in-clinic capture (issue 13)
    (
        "post",
        "/api/v1/patients/{patient_a}/check-ins/",
        lambda w: checkin_payload(responses=[phq9(*[0] * 9)]),
        _everyone(403, anonymous=401, clinician_x=201, admin_x=201, clinician_y=404),
    ),
    # graded safety (issue 13): the follow-up of an alert that clinician X acknowledged
    # first (through the API, in the body factory); the clinic's per-level deadlines.
    (
        "post",
        "/api/v1/alerts/{alert_a}/follow-up/",
        lambda w: (
            w.client("clinician_x").post(f"/api/v1/alerts/{w.alert_a.id}/acknowledge/"),
            {"note": "Called back; safety plan reviewed."},
        )[1],
        STAFF_ONLY_HEALTH,
    ),
    ("get", "/api/v1/clinics/{clinic_x}/safety-settings/", None, ADMIN_X),
    (
        "patch",
        "/api/v1/clinics/{clinic_x}/safety-settings/",
        lambda w: {"high_acknowledge_within_minutes": 5},
        ADMIN_X,
    ),
    # The infusion visit (issue 14).
    ("get", "/api/v1/infusions/{infusion_a}/visit/", None, VISIT_X),
    ("post", "/api/v1/infusions/{infusion_a}/visit/", None, VISIT_X),
    ("post", "/api/v1/infusions/{infusion_a}/visit/readings/", _reading, _visit(201)),
    (
        "post",
        "/api/v1/infusions/{infusion_a}/visit/adverse-events/",
        lambda w: {
            "id": str(uuid.uuid4()),
            "occurred_at": timezone.now().isoformat(),
            "term": "nausea",
            "severity": "mild",
            "action_taken": "observed",
        },
        _visit(201),
    ),
    (
        "post",
        "/api/v1/infusions/{infusion_a}/visit/hold-override/",
        lambda w: {"reason": "Re-measured at rest"},
        VISIT_X,  # the world's pre-dose 190/118 holds it
    ),
    (
        "post",
        "/api/v1/infusions/{infusion_a}/visit/discharge/",
        lambda w: {
            "checklist": {"vitals_acceptable": True},
            "ready_to_leave_at": timezone.now().isoformat(),
        },
        VISIT_X,
    ),
    ("get", "/api/v1/infusions/{infusion_e}/visit/rems-form/", None, VISIT_X),
    ("get", "/api/v1/infusions/{infusion_e}/visit/rems-form/pdf/", None, VISIT_X),
    ("post", "/api/v1/infusions/{infusion_e}/visit/rems-form/file/", None, _visit(400)),
    ("get", "/api/v1/clinics/{clinic_x}/rems-forms/", None, VISIT_X),
    ("get", "/api/v1/clinics/{clinic_x}/visit-alerts/", None, VISIT_X),
    ("post", "/api/v1/visit-alerts/{visit_alert_a}/acknowledge/", None, VISIT_X),
    (
        "get",
        "/api/v1/clinics/{clinic_x}/visit-settings/",
        None,
        _everyone(403, anonymous=401, clinician_x=200, nurse_x=200, admin_x=200, clinician_y=404),
    ),
    (
        "patch",
        "/api/v1/clinics/{clinic_x}/visit-settings/",
        lambda w: {"spo2_low": 92},
        _everyone(403, anonymous=401, admin_x=200),
    ),
]
# Open by design: they take credentials or a code, and answer 400 to bad ones.
PUBLIC = {
    ("post", "/api/v1/auth/sign-in/"),
    ("post", "/api/v1/auth/sign-in/enrol/"),
    ("post", "/api/v1/auth/sign-in/verify/"),
    ("post", "/api/v1/auth/enrol/"),
}


def endpoint_path(template: str, w) -> str:
    """A MATRIX path template filled in with the `world` fixture's objects."""
    return template.format(
        checkin_a=w.checkin_a,
        instrument_id=w.instrument_id,
        patient_a=w.patient_a.id,
        device_a=w.device_a.id,
        infusion_a=w.infusion_a.id,
        plan_x=w.plan_x.id,
        clinic_x=w.clinic_x.id,
        alert_a=w.alert_a.id,
        infusion_e=w.infusion_e.id,
        visit_alert_a=w.visit_alert_a.id,
        staff_x=w.clinician_x.id,
    )


# --- FCM HTTP v1 with no network (the fixtures are in tests/conftest.py) ----------------------

PROJECT_ID = "afterglow-test"
TOKEN_URL = "https://oauth2.googleapis.com/token"
FCM_URL = f"https://fcm.googleapis.com/v1/projects/{PROJECT_ID}/messages:send"
FCM_NAME = f"projects/{PROJECT_ID}/messages/0:123"
FCM_APP = "afterglow-fcm"
PUSH_TOKEN = "fcm-registration-token-for-a-synthetic-phone"


def fcm_calls(rsps) -> list:
    return [c for c in rsps.calls if c.request.url == FCM_URL]


def answer_mood(patient, at, mood):
    """A 0-10 MOOD check-in ("right now") answered at `at`, submitted as the phone does."""
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=at,
        responses=[ResponseInput("MOOD", "1", {"item1": mood})],
        now=at,
    )


def validation_error(resp, attr: str, code: str | None = None) -> dict:
    """Assert the one error shape and return the error naming `attr`."""
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["type"] == "validation_error"
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"}, error
    matching = [e for e in body["errors"] if e["attr"] == attr]
    assert matching, body
    if code is not None:
        assert matching[0]["code"] == code, body
    return matching[0]
