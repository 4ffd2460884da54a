"""The edges an independent probe found (issue 15): weakening a clinic's sign-in policy, an
erased patient brought back, answers rebuilt from an erased patient's digests, refused
reach that left no trace, and a push token taken by another clinic's patient."""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, ClinicSecuritySettings
from notifications.models import Device
from outcomes.models import (
    CheckIn,
    EnrolmentCode,
    Infusion,
    InstrumentResponse,
    Patient,
    TreatmentCourse,
)
from outcomes.services.checkins import ResponseInput, submission_digest
from tests.factories import (
    ClinicSecuritySettingsFactory,
    TOTPDeviceFactory,
    checkin_payload,
    phq9,
)
from tests.helpers import validation_error

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # Throttle counters live in the local-memory cache; each test starts with none.
    cache.clear()


@pytest.fixture(autouse=True)
def no_otp_delay(settings):
    # django-otp makes each failed code wait before the next try; here a wrong code may be
    # followed at once by the right one.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 1) % 1_000_000:06d}"


def refused_rows(user, **fields):
    return AuditEvent.objects.filter(actor_id=user.id, action="refused", **fields)


# --- 1. weakening a clinic's sign-in policy -----------------------------------------------------


def security_url(clinic) -> str:
    return f"/api/v1/clinics/{clinic.id}/security-settings/"


def mfa_required(clinic) -> bool:
    return ClinicSecuritySettings.objects.get(clinic=clinic).require_staff_mfa


def test_turning_staff_mfa_off_takes_a_fresh_code_and_is_audited(personas):
    ClinicSecuritySettingsFactory(clinic=personas.clinic_x, require_staff_mfa=True)
    device = TOTPDeviceFactory(user=personas.admin_x)
    admin = personas.client("admin_x")  # a token issued after the clinic required MFA
    url = security_url(personas.clinic_x)

    # A token alone (say, stolen) cannot weaken the policy.
    missing = admin.patch(url, {"require_staff_mfa": False}, format="json")
    validation_error(missing, "code", "mfa_code_required")
    wrong = admin.patch(url, {"require_staff_mfa": False, "code": wrong_code(device)}, "json")
    validation_error(wrong, "code", "invalid_code")
    assert mfa_required(personas.clinic_x)
    refused = refused_rows(personas.admin_x, clinic_id=personas.clinic_x.id, path=url)
    assert sorted(refused.values_list("method", "status_code")) == [("PATCH", 400)] * 2

    code = code_for(device)
    resp = admin.patch(url, {"require_staff_mfa": False, "code": code}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json() == {"clinic": str(personas.clinic_x.id), "require_staff_mfa": False}
    assert not mfa_required(personas.clinic_x)
    event = AuditEvent.objects.get(actor_id=personas.admin_x.id, action="mfa_off")
    assert (event.clinic_id, event.patient_id, event.method, event.status_code) == (
        personas.clinic_x.id,
        None,
        "PATCH",
        200,
    )

    # Turning it on again is audited too; the code just used cannot weaken it twice.
    assert admin.patch(url, {"require_staff_mfa": True}, format="json").status_code == 200
    assert AuditEvent.objects.filter(actor_id=personas.admin_x.id, action="mfa_on").exists()
    replay = admin.patch(url, {"require_staff_mfa": False, "code": code}, format="json")
    validation_error(replay, "code", "invalid_code")
    assert mfa_required(personas.clinic_x)


def test_an_admin_without_an_authenticator_cannot_weaken_the_policy(personas):
    ClinicSecuritySettingsFactory(clinic=personas.clinic_x, require_staff_mfa=True)
    resp = personas.client("admin_x").patch(
        security_url(personas.clinic_x), {"require_staff_mfa": False, "code": "123456"}, "json"
    )
    validation_error(resp, "require_staff_mfa", "mfa_enrolment_required")
    assert mfa_required(personas.clinic_x)
    assert refused_rows(personas.admin_x, clinic_id=personas.clinic_x.id).count() == 1


def test_wrong_codes_for_weakening_count_toward_the_lockout(personas, settings):
    ClinicSecuritySettingsFactory(clinic=personas.clinic_x, require_staff_mfa=True)
    device = TOTPDeviceFactory(user=personas.admin_x)
    admin = personas.client("admin_x")
    url = security_url(personas.clinic_x)
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        admin.patch(url, {"require_staff_mfa": False, "code": wrong_code(device)}, "json")
        for _ in range(limit)
    ]
    assert [r.status_code for r in statuses] == [400] * (limit - 1) + [429]
    assert AccessAttempt.objects.get(username=personas.admin_x.username).failures_since_start
    locked = admin.patch(url, {"require_staff_mfa": False, "code": code_for(device)}, "json")
    assert locked.status_code == 429
    assert mfa_required(personas.clinic_x)


def test_a_change_that_weakens_nothing_needs_no_code(personas):
    # Off already: nothing is weakened, nothing is audited as a change.
    resp = personas.client("admin_x").patch(
        security_url(personas.clinic_x), {"require_staff_mfa": False}, format="json"
    )
    assert resp.status_code == 200
    assert not AuditEvent.objects.filter(action="mfa_off").exists()


# --- 2. erasure is final ------------------------------------------------------------------------


def erase(personas, patient) -> None:
    resp = personas.client("admin_x").post(
        f"/api/v1/patients/{patient.id}/erase/", {"confirm": True}
    )
    assert resp.status_code == 200, resp.content


def patient_state(patient) -> dict:
    row = Patient.objects.get(pk=patient.pk)
    return {
        **model_to_dict(row, exclude=["care_team"]),
        "care_team": sorted(row.care_team.values_list("id", flat=True)),
        "conditions": sorted(row.conditions.values_list("condition", flat=True)),
        "user": (row.user.username, row.user.is_active, row.user.has_usable_password()),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"status": "active"},
        {"display_name": "Synthetic Name Again"},
        {"date_of_birth": "1980-02-03"},
        {"timezone": "Europe/Berlin"},
        {"conditions": ["ptsd"]},
        {"care_team": "clinician"},
        {},
    ],
    ids=["status", "display_name", "date_of_birth", "timezone", "conditions", "care_team", "empty"],
)
def test_an_erased_patient_cannot_be_changed_back(personas, body):
    a = personas.patient_a
    erase(personas, a)
    if body.get("care_team") == "clinician":
        body = {"care_team": [str(personas.clinician_x.id)]}
    before = patient_state(a)
    resp = personas.client("admin_x").patch(f"/api/v1/patients/{a.id}/", body, format="json")
    validation_error(resp, "non_field_errors", "erased")
    assert patient_state(a) == before
    row = refused_rows(personas.admin_x, patient_id=a.id).get()
    assert (row.clinic_id, row.method, row.status_code) == (personas.clinic_x.id, "PATCH", 400)


@pytest.mark.parametrize("persona", ["admin_x", "clinician_x"])
def test_an_erased_patient_gets_no_enrolment_code(personas, persona):
    a = personas.patient_a
    erase(personas, a)
    resp = personas.client(persona).post(f"/api/v1/patients/{a.id}/enrolment-codes/")
    validation_error(resp, "non_field_errors", "erased")
    assert not EnrolmentCode.objects.filter(patient=a).exists()
    user = getattr(personas, persona)
    assert refused_rows(user, patient_id=a.id, status_code=400).count() == 1


def test_erasing_twice_is_refused_and_audited(personas):
    a = personas.patient_a
    erase(personas, a)
    again = personas.client("admin_x").post(f"/api/v1/patients/{a.id}/erase/", {"confirm": True})
    validation_error(again, "non_field_errors", "already_erased")
    assert refused_rows(personas.admin_x, patient_id=a.id, status_code=400).count() == 1


# --- 3. nothing left to rebuild answers from -------------------------------------------------


def phq9_candidates(total: int, answered_at: datetime) -> dict[str, tuple[int, ...]]:
    """Every PHQ-9 answer vector adding up to `total`, by the digest it would have had."""
    out = {}
    for values in itertools.product(range(4), repeat=9):
        if sum(values) != total:
            continue
        answers = {f"item{i}": v for i, v in enumerate(values, start=1)}
        digest = submission_digest(
            answered_at=answered_at, responses=[ResponseInput("PHQ-9", "1", answers)]
        )
        out[digest] = values
    return out


def stored_values(patient) -> set[str]:
    """Every value kept in the patient's check-in and response rows, as text."""
    rows = [
        *CheckIn.objects.filter(patient=patient).values(),
        *InstrumentResponse.objects.filter(patient=patient).values(),
    ]
    return {str(v) for row in rows for v in row.values()}


def test_erasure_leaves_no_digest_from_which_answers_can_be_rebuilt(personas):
    a = personas.patient_a
    phone = personas.client("patient_a")
    answered = [
        (datetime.now(UTC) - timedelta(hours=5, microseconds=123), (2, 1, 3, 0, 2, 1, 2, 3, 0)),
        (datetime.now(UTC) - timedelta(hours=1), (1, 1, 0, 2, 0, 1, 1, 0, 0)),
    ]
    for at, values in answered:
        payload = checkin_payload(responses=[phq9(*values)], answered_at=at)
        assert phone.post("/api/v1/me/check-ins/", payload, format="json").status_code == 201

    def attack() -> list[tuple[int, ...]]:
        """What an attacker holding the kept rows recovers: the kept total and time narrow
        the answers to a few thousand vectors, each checked against every stored value."""
        recovered = []
        for response in InstrumentResponse.objects.filter(patient=a).select_related("check_in"):
            candidates = phq9_candidates(int(response.total), response.check_in.answered_at)
            assert len(candidates) > 1  # the total alone does not give the answers away
            recovered += [candidates[v] for v in stored_values(a) if v in candidates]
        return recovered

    # The attack is real: before erasure it recovers both check-ins' answers exactly.
    assert sorted(attack()) == sorted(values for _, values in answered)
    erase(personas, a)
    assert sorted(InstrumentResponse.objects.filter(patient=a).values_list("total", flat=True)) == [
        6.0,
        14.0,
    ]  # the aggregates stay
    assert attack() == []


# --- 4. refused reach leaves a trace ---------------------------------------------------------


def test_a_refused_reach_of_another_clinics_patient_is_audited_without_revealing_it(world):
    client = world.client("clinician_y")
    known = client.get(f"/api/v1/patients/{world.patient_a.id}/")
    unknown_id = uuid.uuid4()
    unknown = client.get(f"/api/v1/patients/{unknown_id}/")
    assert known.status_code == unknown.status_code == 404
    assert known.json() == unknown.json()  # the response says nothing of existence

    row = refused_rows(world.clinician_y, path=f"/api/v1/patients/{world.patient_a.id}/").get()
    assert (row.method, row.status_code, row.patient_id, row.clinic_id) == (
        "GET",
        404,
        world.patient_a.id,
        world.clinic_x.id,
    )
    # An unknown id leaves no row: no admin could read it, and guesses would fill the log.
    assert not refused_rows(world.clinician_y, path=f"/api/v1/patients/{unknown_id}/").exists()
    # Nothing was read: no row but the refusals.
    assert set(
        AuditEvent.objects.filter(actor_id=world.clinician_y.id).values_list("action", flat=True)
    ) == {"refused"}
    # The refused rows are as append-only as the rest.
    for sql in ("UPDATE audit_event SET path = '/x/'", "DELETE FROM audit_event"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)


@pytest.mark.parametrize(
    ("persona", "method", "path", "patient", "clinic"),
    [
        ("clinician_y", "get", "/api/v1/alerts/{alert_a}/", "patient_a", "clinic_x"),
        ("clinician_y", "get", "/api/v1/infusions/{infusion_a}/", "patient_a", "clinic_x"),
        ("clinician_y", "get", "/api/v1/patients/{patient_a}/check-ins/", "patient_a", "clinic_x"),
        ("patient_b", "get", "/api/v1/me/check-ins/{checkin_a}/", "patient_a", "clinic_x"),
        ("patient_y", "get", "/api/v1/me/check-ins/{checkin_a}/", "patient_a", "clinic_x"),
        ("clinician_y", "get", "/api/v1/clinics/{clinic_x}/durability/", None, "clinic_x"),
        ("clinician_x", "get", "/api/v1/clinics/{clinic_y}/durability/", None, "clinic_y"),
    ],
)
def test_every_refused_reach_is_audited(world, persona, method, path, patient, clinic):
    url = path.format(
        alert_a=world.alert_a.id,
        infusion_a=world.infusion_a.id,
        patient_a=world.patient_a.id,
        checkin_a=world.checkin_a,
        clinic_x=world.clinic_x.id,
        clinic_y=world.clinic_y.id,
    )
    resp = getattr(world.client(persona), method)(url)
    assert resp.status_code == 404
    who = getattr(world, persona)
    row = refused_rows(getattr(who, "user", who), path=url).get()
    assert (row.method, row.status_code) == (method.upper(), 404)
    assert row.patient_id == (getattr(world, patient).id if patient else None)
    assert row.clinic_id == getattr(world, clinic).id


def test_a_clinic_named_in_a_body_and_refused_is_audited(personas):
    resp = personas.client("clinician_y").post(
        "/api/v1/patients/",
        {"clinic": str(personas.clinic_x.id), "display_name": "Synthetic", "timezone": "UTC"},
        format="json",
    )
    validation_error(resp, "clinic", "does_not_exist")
    row = refused_rows(personas.clinician_y).get()
    assert (row.clinic_id, row.patient_id, row.status_code) == (personas.clinic_x.id, None, 400)


# --- 5. a push token stays within its clinic -----------------------------------------------


def register(client, token: str):
    return client.post(
        "/api/v1/me/devices/", {"push_token": token, "platform": "android"}, format="json"
    )


def test_another_clinics_patient_cannot_take_a_push_token(personas):
    token = f"synthetic-shared-{uuid.uuid4()}"
    assert register(personas.client("patient_a"), token).status_code == 201
    resp = register(personas.client("patient_y"), token)
    assert resp.status_code == 409, resp.content
    assert resp.json()["errors"][0]["code"] == "push_token_registered_elsewhere"
    device = Device.objects.get(push_token=token)
    assert device.patient_id == personas.patient_a.id
    assert not Device.objects.filter(patient=personas.patient_y).exists()
    row = refused_rows(personas.patient_y.user).get()
    assert (row.status_code, row.patient_id, row.clinic_id) == (
        409,
        personas.patient_a.id,
        personas.clinic_x.id,
    )


def test_a_push_token_moves_within_a_clinic_and_every_move_is_audited(personas):
    token = f"synthetic-handed-on-{uuid.uuid4()}"
    assert register(personas.client("patient_a"), token).status_code == 201
    assert register(personas.client("patient_a"), token).status_code == 200  # not a move
    assert not AuditEvent.objects.filter(action="dev_move").exists()

    b = personas.client("patient_b")
    assert register(b, token).status_code == 200
    assert Device.objects.get(push_token=token).patient_id == personas.patient_b.id
    moves = AuditEvent.objects.filter(action="dev_move", actor_id=personas.patient_b.user_id)
    assert sorted(moves.values_list("patient_id", "clinic_id", "status_code")) == sorted(
        [
            (personas.patient_a.id, personas.clinic_x.id, 200),
            (personas.patient_b.id, personas.clinic_x.id, 200),
        ]
    )
    # Back again: another move, another pair of rows.
    assert register(personas.client("patient_a"), token).status_code == 200
    assert AuditEvent.objects.filter(action="dev_move").count() == 4


# --- erasure is final for every record that takes free text (a review's findings) ----------


def test_nothing_about_an_erased_patient_takes_new_text(world):
    """A course's notes, an infusion, a cancellation's reason, an alert's note, a visit:
    each used to write a name back after erasure."""
    a = world.patient_a
    erase(world, a)
    clinician, nurse = world.client("clinician_x"), world.client("nurse_x")
    attempts = [
        clinician.post(
            f"/api/v1/patients/{a.id}/treatment-courses/",
            {"kind": "induction", "started_on": "2026-11-01", "notes": "Synthetic Name"},
            format="json",
        ),
        clinician.post(
            f"/api/v1/patients/{a.id}/infusions/",
            {"scheduled_at": "2026-12-01T15:00:00Z"},
            format="json",
        ),
        clinician.post(
            f"/api/v1/infusions/{world.infusion_a.id}/cancel/",
            {"reason": "Synthetic Name moved"},
            format="json",
        ),
        clinician.post(
            f"/api/v1/alerts/{world.alert_a.id}/acknowledge/",
            {"note": "Called Synthetic Name"},
            format="json",
        ),
        nurse.post(
            f"/api/v1/infusions/{world.infusion_e.id}/visit/hold-override/", {"reason": "x"}
        ),
    ]
    for resp in attempts:
        validation_error(resp, "non_field_errors", "erased")
    assert not TreatmentCourse.objects.filter(patient=a).exists()
    assert Infusion.objects.filter(patient=a).count() == 2  # the world's two, no third
    assert Infusion.objects.get(pk=world.infusion_a.pk).cancel_reason == ""


def test_erasure_takes_the_visits_free_text_and_the_filed_form(world):
    from outcomes.models import MonitoringSession, VisitAdverseEvent

    session = MonitoringSession.objects.get(infusion=world.infusion_e)
    MonitoringSession.objects.filter(pk=session.pk).update(
        hold_override_reason="Synthetic Name was anxious",
        rems_filed_form={"patient_name": world.patient_a.display_name},
    )
    VisitAdverseEvent.objects.create(
        id=uuid.uuid4(),
        session=session,
        occurred_at=timezone.now(),
        term="nausea",
        severity="mild",
        action_taken="observed",
        notes="Synthetic Name vomited",
        payload_digest="x",
    )
    erase(world, world.patient_a)
    session.refresh_from_db()
    assert (session.hold_override_reason, session.rems_filed_form) == ("", None)
    assert not VisitAdverseEvent.objects.exclude(notes="").exists()
    form = world.client("nurse_x").get(f"/api/v1/infusions/{world.infusion_e.id}/visit/rems-form/")
    assert form.status_code == 200
    assert form.json()["patient_name"].startswith("Erased patient")
    assert form.json()["date_of_birth"] is None
