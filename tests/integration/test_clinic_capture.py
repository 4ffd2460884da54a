"""In-clinic capture (issue 13): staff hand the clinic's tablet to a patient at a visit
(`POST /api/v1/patients/{id}/check-ins/`). The patient answers; the staff member is recorded
as the one who handed it over. Same scoring, safety rules and idempotency as the phone."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditEvent
from notifications.models import Delivery
from outcomes.models import (
    CheckIn,
    CheckInSource,
    InstrumentResponse,
    LatestScore,
    SafetyAlert,
)
from outcomes.selectors.courses import patient_course_outcomes
from outcomes.services.privacy import patient_erase
from tests.factories import checkin_payload, phq9
from tests.helpers import give_infusion, phq9_total

pytestmark = pytest.mark.django_db
ME = "/api/v1/me/check-ins/"


def url(patient) -> str:
    return f"/api/v1/patients/{patient.id}/check-ins/"


def capture(personas, persona, payload, patient=None):
    """The tablet's submission, signed in as `persona`, for patient A unless told."""
    return personas.client(persona).post(url(patient or personas.patient_a), payload, format="json")


def stored() -> tuple[int, int, int, int]:
    return (
        CheckIn.objects.count(),
        InstrumentResponse.objects.count(),
        LatestScore.objects.count(),
        SafetyAlert.objects.count(),
    )


def test_a_same_day_infusion_recorded_after_it_was_given_has_the_tablet_baseline(personas):
    """The bug: the baseline reminder's window had closed by the time the infusion was
    recorded, and only the patient could submit, so the course had no baseline."""
    now = timezone.now()
    before_infusion = now - timedelta(hours=3)
    payload = checkin_payload(
        responses=[{"instrument": "PHQ-9", "version": "1", "answers": phq9_total(18)}],
        answered_at=before_infusion,
    )
    resp = capture(personas, "clinician_x", payload)
    assert resp.status_code == 201, resp.json()
    # The infusion, given two hours ago, is recorded only now.
    give_infusion(personas.patient_a, now - timedelta(hours=2))

    _, by_code = patient_course_outcomes(patient=personas.patient_a, codes=["PHQ-9"])
    (course,) = by_code["PHQ-9"].outcomes
    assert course.baseline == 18
    assert abs(course.baseline_at - before_infusion) < timedelta(seconds=1)
    assert course.evaluable

    outcomes = personas.client("clinician_x").get(
        f"/api/v1/patients/{personas.patient_a.id}/outcomes/", {"instrument": "PHQ-9"}
    )
    assert outcomes.status_code == 200
    assert [c["baseline"] for c in outcomes.json()["courses"]] == [18]


def test_the_tablet_check_in_records_who_handed_it_over(personas):
    payload = checkin_payload(responses=[phq9(1, 1, 1, 1, 1, 1, 1, 1, 0)])
    resp = capture(personas, "admin_x", payload)
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["source"] == "clinic"
    assert body["safety"] is None
    row = CheckIn.objects.get(id=payload["id"])
    assert (row.patient, row.source, row.captured_by) == (
        personas.patient_a,
        CheckInSource.CLINIC,
        personas.admin_x,
    )
    assert LatestScore.objects.get(patient=personas.patient_a, instrument_code="PHQ-9").total == 8


def test_a_clinic_admin_capturing_gets_a_receipt_without_answers_or_scores(personas, settings):
    """An admin cannot read the patient's check-ins (GET is 403): the capture's response
    must not show them either. A clinician gets the full response."""
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]
    payload = checkin_payload(responses=[phq9(1, 1, 1, 1, 1, 1, 1, 1, 1)])
    resp = capture(personas, "admin_x", payload)
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert sorted(body) == ["access", "answered_at", "id", "received_at", "safety", "source"]
    assert (body["access"], body["id"]) == ("administrative", payload["id"])
    assert body["source"] == "clinic"
    assert body["safety"]["alerts"] == 1  # the patient still sees the notice
    assert sorted(body["safety"]) == ["alerts", "crisis_resources", "level", "message"]
    again = capture(personas, "admin_x", payload)  # a retry: the same receipt
    assert (again.status_code, again.json()) == (200, body)
    assert personas.client("admin_x").get(url(personas.patient_a)).status_code == 403

    mine = checkin_payload(responses=[phq9(1, 1, 1, 1, 1, 1, 1, 1, 0)])
    clinical = capture(personas, "clinician_x", mine).json()
    assert clinical["access"] == "clinical"
    assert clinical["responses"][0]["total"] == 8
    assert clinical["responses"][0]["answers"]["item1"] == 1


def test_an_alert_on_the_tablet_tells_the_patient_to_tell_the_staff_member_with_them(
    personas, settings
):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 2)])
    safety = capture(personas, "admin_x", payload).json()["safety"]
    assert "staff member who is with you now" in safety["message"]
    assert "may not see this right away" not in safety["message"]
    assert "around the clock" not in safety["message"]
    assert safety["crisis_resources"]  # for after the visit
    # The staff member who handed the tablet over is told too, beside the care team.
    alert = SafetyAlert.objects.get(check_in_id=payload["id"])
    told = Delivery.objects.filter(alert=alert, urgent=True)
    assert {d.staff_user for d in told} == {personas.admin_x, personas.clinician_x}
    # A high alert: the same, with the crisis line for when they have left.
    high = checkin_payload(
        responses=[{"instrument": "SI-NOW", "version": "1", "answers": {"q1": 1}}]
    )
    safety = capture(personas, "clinician_x", high).json()["safety"]
    assert safety["level"] == "high"
    assert "staff member who is with you now" in safety["message"]
    assert "988" in safety["message"]
    assert "may not see this right away" not in safety["message"]
    # The phone's message is unchanged.
    phone = personas.client("patient_a").post(
        ME, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 2)]), format="json"
    )
    assert "may not see this right away" in phone.json()["safety"]["message"]


def test_a_positive_item_9_on_the_tablet_raises_an_alert_and_pages_the_care_team(
    personas, settings
):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 2)])
    resp = capture(personas, "clinician_x", payload)
    assert resp.status_code == 201, resp.json()
    safety = resp.json()["safety"]
    assert safety["alerts"] == 1
    assert safety["crisis_resources"]
    alert = SafetyAlert.objects.get(check_in_id=payload["id"])
    assert alert.patient == personas.patient_a
    # The same events as the phone's: the urgent page points at the alert.
    assert Delivery.objects.filter(urgent=True, alert=alert).exists()


def test_a_tablet_retry_returns_the_stored_check_in_once(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)])
    first = capture(personas, "clinician_x", payload)
    again = capture(personas, "clinician_x", payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert again.json()["safety"]["alerts"] == 1  # the retry shows the notice too
    assert (CheckIn.objects.count(), SafetyAlert.objects.count()) == (1, 1)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("phone", "clinician_x"),  # the tablet replays a phone check-in's id
        ("clinician_x", "phone"),  # the phone replays a tablet check-in's id
        ("clinician_x", "admin_x"),  # another staff member replays it
    ],
)
def test_the_same_id_and_answers_captured_otherwise_is_409(personas, first, second):
    payload = checkin_payload(responses=[phq9(2, 1, 2, 1, 2, 1, 2, 1, 0)])

    def send(who):
        if who == "phone":
            return personas.client("patient_a").post(ME, payload, format="json")
        return capture(personas, who, payload)

    assert send(first).status_code == 201
    resp = send(second)
    assert resp.status_code == 409, resp.json()
    assert resp.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert "responses" not in resp.json()
    row = CheckIn.objects.get(id=payload["id"])
    expected_by = None if first == "phone" else getattr(personas, first)
    assert row.captured_by == expected_by
    assert CheckIn.objects.count() == 1


def test_the_same_id_with_other_answers_is_409_and_changes_nothing(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    assert capture(personas, "clinician_x", payload).status_code == 201
    changed = {**payload, "responses": [phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)]}
    assert capture(personas, "clinician_x", changed).status_code == 409
    assert InstrumentResponse.objects.get(check_in_id=payload["id"]).total == 0


@pytest.mark.parametrize(
    ("persona", "status"),
    [("patient_a", 403), ("scheduler_x", 403), ("scheduler_y", 403), ("clinician_y", 404)],
)
def test_only_clinicians_and_admins_of_the_patients_clinic_capture(personas, persona, status):
    before = stored()
    resp = capture(personas, persona, checkin_payload(responses=[phq9(*[0] * 9)]))
    assert resp.status_code == status
    assert stored() == before
    # Nothing was read or written; another clinic's clinician's attempt is audited as refused.
    actions = set(
        AuditEvent.objects.filter(patient_id=personas.patient_a.id).values_list("action", flat=True)
    )
    assert actions == ({"refused"} if persona == "clinician_y" else set())


def test_another_clinics_patient_is_404_like_an_unknown_one(personas):
    payload = checkin_payload(responses=[phq9(*[0] * 9)])
    resp = capture(personas, "clinician_x", payload, patient=personas.patient_y)
    assert resp.status_code == 404
    unknown = personas.client("clinician_x").post(
        f"/api/v1/patients/{uuid.uuid4()}/check-ins/", payload, format="json"
    )
    assert unknown.status_code == 404
    assert stored() == (0, 0, 0, 0)


def test_a_capture_is_audited_as_a_staff_write(personas):
    resp = capture(personas, "clinician_x", checkin_payload(responses=[phq9(*[0] * 9)]))
    assert resp.status_code == 201
    row = AuditEvent.objects.get(actor_id=personas.clinician_x.id)
    assert (row.action, row.patient_id, row.clinic_id, row.status_code) == (
        "create",
        personas.patient_a.id,
        personas.clinic_x.id,
        201,
    )
    assert row.path == url(personas.patient_a)


def test_answered_at_in_the_future_is_400_on_the_field_and_stores_nothing(personas):
    payload = checkin_payload(
        responses=[phq9(*[0] * 9)], answered_at=timezone.now() + timedelta(hours=1)
    )
    resp = capture(personas, "clinician_x", payload)
    assert resp.status_code == 400
    assert [(e["attr"], e["code"]) for e in resp.json()["errors"]] == [("answered_at", "in_future")]
    assert stored() == (0, 0, 0, 0)


@pytest.mark.parametrize("ago", [timedelta(hours=13), timedelta(days=400)])
def test_a_tablet_check_in_answered_before_the_visit_is_400_on_the_field(personas, ago):
    payload = checkin_payload(responses=[phq9(*[0] * 9)], answered_at=timezone.now() - ago)
    resp = capture(personas, "clinician_x", payload)
    assert resp.status_code == 400
    assert [(e["attr"], e["code"]) for e in resp.json()["errors"]] == [
        ("answered_at", "too_old_for_clinic")
    ]
    assert stored() == (0, 0, 0, 0)
    # Within the visit's 12 hours it is taken; the phone, which may sync late, is not bound.
    recent = checkin_payload(
        responses=[phq9(*[0] * 9)], answered_at=timezone.now() - timedelta(hours=11)
    )
    assert capture(personas, "clinician_x", recent).status_code == 201
    assert personas.client("patient_a").post(ME, payload, format="json").status_code == 201


def test_bad_answers_are_400_per_item_and_store_nothing(personas):
    bad = phq9(0, 7, 0, 0, 0, 0, 0, 0)  # item2 out of range, item9 missing
    resp = capture(personas, "clinician_x", checkin_payload(responses=[bad]))
    assert resp.status_code == 400
    assert {e["attr"] for e in resp.json()["errors"]} == {
        "responses.0.answers.item2",
        "responses.0.answers.item9",
    }
    assert stored() == (0, 0, 0, 0)


@pytest.mark.parametrize("how", ["withdrawn", "erased"])
def test_a_withdrawn_or_erased_patient_is_400_and_nothing_is_stored(personas, how):
    patient = personas.patient_a
    if how == "erased":
        patient_erase(patient=patient)
    else:
        patient.status = "withdrawn"
        patient.save(update_fields=["status"])
    resp = capture(personas, "clinician_x", checkin_payload(responses=[phq9(*[0] * 9)]))
    assert resp.status_code == 400
    assert [(e["attr"], e["code"]) for e in resp.json()["errors"]] == [
        ("non_field_errors", "patient_withdrawn")
    ]
    assert stored() == (0, 0, 0, 0)


def test_the_listings_show_the_source_and_staff_see_who_captured_it(personas):
    phone = checkin_payload(
        responses=[phq9(*[0] * 9)], answered_at=timezone.now() - timedelta(hours=1)
    )
    tablet = checkin_payload(responses=[phq9(*[1] * 8, 0)])
    assert personas.client("patient_a").post(ME, phone, format="json").status_code == 201
    assert capture(personas, "clinician_x", tablet).status_code == 201

    staff = personas.client("clinician_x").get(url(personas.patient_a)).json()["results"]
    assert [(c["id"], c["source"], c["captured_by"]) for c in staff] == [
        (tablet["id"], "clinic", personas.clinician_x.username),
        (phone["id"], "app", None),
    ]
    own = personas.client("patient_a").get(ME).json()["results"]
    assert [(c["id"], c["source"]) for c in own] == [
        (tablet["id"], "clinic"),
        (phone["id"], "app"),
    ]
    assert all("captured_by" not in c for c in own)
    one = personas.client("patient_a").get(f"{ME}{tablet['id']}/").json()
    assert one["source"] == "clinic"


def queries(fn) -> int:
    """How many statements `fn` runs (the test client's requests reset Django's own query
    log, so it is counted here)."""
    count = 0

    def counted(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        fn()
    return count


def test_the_staff_listing_reads_who_captured_them_in_a_fixed_number_of_queries(personas):
    client = personas.client("clinician_x")
    capture(personas, "admin_x", checkin_payload(responses=[phq9(*[0] * 9)]))
    few = queries(lambda: client.get(url(personas.patient_a)))
    for i in range(5):
        who = "clinician_x" if i % 2 else "admin_x"
        at = timezone.now() - timedelta(hours=i + 1)
        payload = checkin_payload(responses=[phq9(*[0] * 9)], answered_at=at)
        assert capture(personas, who, payload).status_code == 201
    many = queries(lambda: client.get(url(personas.patient_a)))
    assert many == few
    assert len(client.get(url(personas.patient_a)).json()["results"]) == 6
