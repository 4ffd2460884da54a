"""Issue 15, "no input reaches a 500": every request is bounded (body size 413, nesting and
key counts 400), invalid Unicode is a 400, a long list of errors is cut short, a bad cursor
is a 400 on `cursor`, every instant in a body or a filter carries its offset and lies in a
plausible range, plans and probes are bounded, and a body naming an alert's read-only
fields is refused by name. Each answer in the one error shape (api/exceptions.py)."""

import base64
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications.models import Reminder, ReminderKind, ReminderStatus
from outcomes.models import AlertStatus, CheckIn, Patient, SafetyAlert
from outcomes.services.checkins import ENROLMENT_CLOCK_ALLOWANCE, ResponseInput, checkin_submit
from tests.factories import PatientFactory, checkin_payload, phq9
from tests.helpers import give_infusion

pytestmark = pytest.mark.django_db

CHECK_INS = "/api/v1/me/check-ins/"
MB = 1024 * 1024


def post_raw(client, path: str, body: bytes, **extra):
    return client.generic("POST", path, body, content_type="application/json", **extra)


def only_error(resp) -> dict:
    body = resp.json()
    assert set(body) == {"type", "errors"}
    (error,) = body["errors"]
    assert set(error) == {"code", "detail", "attr"}
    return error


def padded_check_in(size: int) -> bytes:
    """A check-in whose id is followed by `size` bytes of padding in an unknown field."""
    body = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    return json.dumps({**body, "padding": "x" * size}).encode()


# --- 1. body size ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [3 * MB, 10 * MB])
def test_a_body_over_the_limit_is_refused_with_413(personas, size):
    resp = post_raw(personas.client("patient_a"), CHECK_INS, padded_check_in(size))
    assert resp.status_code == 413
    assert resp["Content-Type"] == "application/json"
    assert resp.json()["type"] == "client_error"
    error = only_error(resp)
    assert error["code"] == "request_too_large"
    assert error["attr"] is None
    assert "1048576 bytes" in error["detail"]


def test_the_body_limit_is_a_setting(personas, settings):
    settings.AFTERGLOW_MAX_BODY_BYTES = 2000
    client = personas.client("patient_a")
    assert post_raw(client, CHECK_INS, padded_check_in(1000)).status_code == 201
    resp = post_raw(client, CHECK_INS, padded_check_in(2000))
    assert resp.status_code == 413
    assert "2000 bytes" in only_error(resp)["detail"]


def test_an_oversized_body_is_refused_before_authentication(db):
    from rest_framework.test import APIClient

    resp = post_raw(APIClient(), "/api/v1/auth/sign-in/", b'{"username": "' + b"u" * 2 * MB)
    assert resp.status_code == 413
    assert only_error(resp)["code"] == "request_too_large"


def test_a_streamed_body_without_a_length_over_the_limit_is_refused_with_413(personas):
    """Transfer-Encoding: chunked, no Content-Length (gunicorn hands such a body on as a
    terminated wsgi.input): what is read is counted, not what is declared."""
    resp = personas.client("patient_a").generic(
        "POST",
        CHECK_INS,
        b"",
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(padded_check_in(2 * MB)), "wsgi.input_terminated": True},
    )
    assert resp.status_code == 413
    assert only_error(resp)["code"] == "request_too_large"


def test_a_streamed_body_within_the_limit_is_served_like_a_declared_one(personas):
    """Django reads a WSGI body by its Content-Length: a chunked one used to be refused
    (411), so a phone that streams its requests could never submit."""
    body = json.dumps(checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])).encode()
    resp = personas.client("patient_a").generic(
        "POST",
        CHECK_INS,
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    assert resp.status_code == 201, resp.content
    assert CheckIn.objects.filter(pk=json.loads(body)["id"]).exists()


def test_a_stream_the_server_did_not_terminate_is_asked_for_its_length(personas):
    resp = personas.client("patient_a").generic(
        "POST",
        CHECK_INS,
        b"",
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(padded_check_in(10))},
    )
    assert resp.status_code == 411
    assert only_error(resp)["code"] == "length_required"


@pytest.mark.parametrize("length", ["lots", "-1", "1e9"])
def test_a_malformed_content_length_is_a_400(personas, length):
    resp = post_raw(personas.client("patient_a"), CHECK_INS, b"{}", CONTENT_LENGTH=length)
    assert resp.status_code == 400
    assert only_error(resp)["code"] == "bad_request"


# --- 2. nesting and key counts -----------------------------------------------------------------
def test_json_nested_100000_deep_is_a_400(personas):
    body = b"[" * 100_000 + b"]" * 100_000
    resp = post_raw(personas.client("patient_a"), CHECK_INS, body)
    assert resp.status_code == 400
    error = only_error(resp)
    assert error["code"] == "nesting_too_deep"
    assert "32" in error["detail"]


def test_deep_nesting_inside_answers_is_a_400(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    deep: object = 1
    for _ in range(40):
        deep = {"a": deep}
    payload["responses"][0]["answers"]["item1"] = deep
    resp = personas.client("patient_a").post(CHECK_INS, payload, format="json")
    assert resp.status_code == 400
    assert only_error(resp)["code"] == "nesting_too_deep"


def test_a_body_of_too_many_keys_is_a_400_quickly_said(personas):
    """A 1 MB body of unknown keys answered 5.9 MB of errors; now one error."""
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    payload["responses"][0]["answers"].update({f"k{i:06}": 1 for i in range(60_000)})
    body = json.dumps(payload).encode()
    assert len(body) < MB
    resp = post_raw(personas.client("patient_a"), CHECK_INS, body)
    assert resp.status_code == 400
    error = only_error(resp)
    assert error["code"] == "too_many_keys"
    assert "1000" in error["detail"]


# --- 3. invalid Unicode ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        b'{"\\ud800": 1}',
        b'{"id": "\\udfff"}',
        b'["\\ud83d"]',
        b'{"id": "\xff\xfe"}',
        b'{"id": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes: not UTF-8
    ],
    ids=["lone-high-in-key", "lone-low-in-value", "in-a-list", "bad-bytes", "encoded-surrogate"],
)
def test_invalid_unicode_anywhere_is_a_400(personas, body):
    resp = post_raw(personas.client("patient_a"), CHECK_INS, body)
    assert resp.status_code == 400
    assert only_error(resp)["code"] == "invalid_unicode"


def test_a_lone_surrogate_in_an_answers_key_is_a_400_and_stores_nothing(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    payload["responses"][0]["answers"]["\ud800"] = 1
    body = json.dumps(payload).encode()  # ensure_ascii: the surrogate travels as \ud800
    resp = post_raw(personas.client("patient_a"), CHECK_INS, body)
    assert resp.status_code == 400
    assert only_error(resp)["code"] == "invalid_unicode"
    assert not personas.patient_a.check_ins.exists()


def test_a_surrogate_pair_is_a_character_like_any_other(personas):
    resp = personas.client("patient_a").patch(
        "/api/v1/account/", b'{"pager_phone": "\\ud83d\\ude00"}', content_type="application/json"
    )
    assert resp.status_code != 500
    assert all(e["code"] != "invalid_unicode" for e in resp.json().get("errors", []))


def test_a_nul_character_is_a_400_not_a_database_error(personas):
    """PostgreSQL's jsonb refuses a NUL character: a plan's label holding one was a 500."""
    step = {**mood_step(0, 60), "label": "a\x00b"}
    body = {"clinic": str(personas.clinic_x.id), "name": "Nul", "steps": [step]}
    resp = personas.client("scheduler_x").post("/api/v1/cadence-plans/", body, format="json")
    assert resp.status_code == 400
    assert only_error(resp)["code"] == "null_character"


# --- 4. the error list is cut short -------------------------------------------------------------
def test_a_long_error_list_is_cut_to_50_and_says_how_many_more(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    payload["responses"][0]["answers"].update({f"k{i:03}": 1 for i in range(120)})
    resp = personas.client("patient_a").post(CHECK_INS, payload, format="json")
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert len(errors) == 51
    shown, last = errors[:50], errors[50]
    assert all(e["attr"].startswith("responses.0.answers.") for e in shown)
    assert last["code"] == "too_many_errors"
    assert last["attr"] is None
    assert last["detail"] == "70 more errors not shown."


def test_fifty_errors_are_all_shown(personas):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    payload["responses"][0]["answers"].update({f"k{i:03}": 1 for i in range(50)})
    resp = personas.client("patient_a").post(CHECK_INS, payload, format="json")
    assert len(resp.json()["errors"]) == 50
    assert all(e["code"] != "too_many_errors" for e in resp.json()["errors"])


# --- 5. cursors ---------------------------------------------------------------------------------
def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "é",
        cursor("p=notadate"),
        cursor("p=2026-11-23 15:04:05"),  # naive
        cursor("p=0001-01-01 00:00:00+01:00"),  # before year 1 in UTC
        cursor("p=2026-13-45 00:00:00+00:00"),
        cursor("o=lots"),
        cursor("r=maybe"),
    ],
)
def test_a_bad_cursor_is_a_400_on_cursor(personas, value):
    resp = personas.client("patient_a").get(CHECK_INS, {"cursor": value})
    assert resp.status_code == 400
    error = only_error(resp)
    assert error["attr"] == "cursor"
    assert error["code"] == "invalid"


def test_the_next_cursor_still_pages(personas):
    client = personas.client("patient_a")
    for minutes in (30, 20, 10):
        at = datetime.now(UTC) - timedelta(minutes=minutes)
        payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)], answered_at=at)
        assert client.post(CHECK_INS, payload, format="json").status_code == 201
    first = client.get(CHECK_INS, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 1
    assert second["next"] is None


# --- 6. instants carry an offset and lie in a plausible range ------------------------------------
def capture_url(personas) -> str:
    return f"/api/v1/patients/{personas.patient_a.id}/check-ins/"


@pytest.mark.parametrize("where", ["phone", "tablet"])
@pytest.mark.parametrize(
    ("answered_at", "code"),
    [
        ("2026-11-23T15:04:05", "naive"),
        ("2026-11-23", "naive"),
        ("1900-01-01T00:00:00Z", None),
    ],
)
def test_answered_at_needs_an_offset_and_a_plausible_time(personas, where, answered_at, code):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    payload["answered_at"] = answered_at
    if where == "phone":
        resp = personas.client("patient_a").post(CHECK_INS, payload, format="json")
    else:
        resp = personas.client("clinician_x").post(capture_url(personas), payload, format="json")
    assert resp.status_code == 400, resp.content
    (error,) = resp.json()["errors"]
    assert error["attr"] == "answered_at"
    expected = code or ("before_enrolment" if where == "phone" else "too_old_for_clinic")
    assert error["code"] == expected
    assert not personas.patient_a.check_ins.exists()


def test_answered_at_before_enrolment_is_refused_beyond_a_clock_allowance(personas):
    enrolled = Patient.objects.get(pk=personas.patient_a.pk).created_at
    client = personas.client("patient_a")
    early = enrolled - ENROLMENT_CLOCK_ALLOWANCE - timedelta(minutes=1)
    resp = client.post(
        CHECK_INS,
        checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)], answered_at=early),
        format="json",
    )
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "before_enrolment"
    # A phone clock a little behind: stored.
    behind = enrolled - ENROLMENT_CLOCK_ALLOWANCE + timedelta(minutes=1)
    resp = client.post(
        CHECK_INS,
        checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)], answered_at=behind),
        format="json",
    )
    assert resp.status_code == 201, resp.content


def test_answered_at_beyond_the_allowed_skew_is_refused(personas, settings):
    settings.AFTERGLOW_ANSWERED_AT_MAX_SKEW_SECONDS = 300
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)], answered_at=ahead)
    resp = personas.client("patient_a").post(CHECK_INS, payload, format="json")
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "in_future"


def test_history_imported_through_the_service_is_not_bounded_by_enrolment(patient):
    """The demo and the benchmarks record months of answers for a patient created today:
    the enrolment bound is the API's submissions', not every caller's."""
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    _, created = checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=at,
        responses=[ResponseInput("MOOD", "1", {"item1": 5})],
        now=at,
    )
    assert created


@pytest.mark.parametrize(
    ("path", "persona", "param"),
    [
        (CHECK_INS, "patient_a", "answered_after"),
        (CHECK_INS, "patient_a", "answered_before"),
        ("/api/v1/reminders/", "scheduler_x", "due_after"),
        ("/api/v1/reminders/", "scheduler_x", "due_before"),
    ],
)
def test_an_instant_filter_without_an_offset_is_a_400(personas, path, persona, param):
    resp = personas.client(persona).get(path, {param: "2026-11-23T15:04:05"})
    assert resp.status_code == 400
    error = only_error(resp)
    assert (error["attr"], error["code"]) == (param, "naive")
    ok = personas.client(persona).get(path, {param: "2026-11-23T15:04:05+01:00"})
    assert ok.status_code == 200


def test_a_pause_without_an_offset_is_a_400(personas):
    resp = personas.client("patient_a").patch(
        "/api/v1/me/reminder-preferences/", {"paused_until": "2026-12-24T09:00"}, format="json"
    )
    assert resp.status_code == 400
    error = only_error(resp)
    assert (error["attr"], error["code"]) == ("paused_until", "naive")


def test_a_preview_infusion_without_an_offset_is_a_400(personas):
    body = {
        "clinic": str(personas.clinic_x.id),
        "course": {"infusions": ["2026-12-02T15:00:00"], "timezone": "America/New_York"},
    }
    resp = personas.client("scheduler_x").post("/api/v1/cadence-plans/preview/", body, "json")
    assert resp.status_code == 400
    error = only_error(resp)
    assert (error["attr"], error["code"]) == ("course.infusions.0", "naive")


# --- 7. plans and probes are bounded ------------------------------------------------------------
def plan_body(personas, steps) -> dict:
    return {"clinic": str(personas.clinic_x.id), "name": "Every minute", "steps": steps}


def mood_step(i: int, minutes: int) -> dict:
    return {
        "key": f"s{i}",
        "offset_minutes": i * minutes,
        "instruments": ["MOOD"],
        "window_hours": 1,
    }


def test_a_300_step_plan_of_one_minute_asks_is_refused(personas):
    client = personas.client("scheduler_x")
    steps = [mood_step(i, 1) for i in range(300)]
    resp = client.post("/api/v1/cadence-plans/", plan_body(personas, steps), format="json")
    assert resp.status_code == 400
    assert only_error(resp)["code"] == "too_many_keys"  # 1200 keys: refused when parsed
    # 41 steps fit the body's limits; the plan's own cap refuses them.
    steps = [mood_step(i, 30) for i in range(41)]
    resp = client.post("/api/v1/cadence-plans/", plan_body(personas, steps), format="json")
    assert resp.status_code == 400
    error = only_error(resp)
    assert (error["attr"], error["code"]) == ("steps", "invalid")
    assert error["detail"] == "A plan has a list of 1 to 40 steps."
    assert not Reminder.objects.exists()


def test_steps_closer_than_half_an_hour_are_refused(personas):
    steps = [mood_step(i, 20) for i in range(3)]
    resp = personas.client("scheduler_x").post(
        "/api/v1/cadence-plans/", plan_body(personas, steps), format="json"
    )
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert [(e["attr"], e["code"]) for e in errors] == [
        ("steps.1.offset_minutes", "invalid"),
        ("steps.2.offset_minutes", "invalid"),
    ]
    assert errors[0]["detail"] == "At least 30 minutes after step 's0' (20 minutes)."


def test_forty_steps_half_an_hour_apart_are_a_plan(personas):
    steps = [mood_step(i, 30) for i in range(40)]
    resp = personas.client("scheduler_x").post(
        "/api/v1/cadence-plans/", plan_body(personas, steps), format="json"
    )
    assert resp.status_code == 201, resp.content


def probes(patient) -> list[Reminder]:
    return list(
        Reminder.objects.filter(patient=patient, kind=ReminderKind.PROBE).order_by("created_at")
    )


def test_at_most_one_probe_a_local_day_whatever_the_instruments():
    """Mood fades: a probe for the day after next. It is sent; later the same day pain
    fades too: the day already has its probe (one row per instrument and day would have
    asked twice that day), so pain's is kept cancelled with its reason."""
    patient = PatientFactory(conditions=["chronic_pain"])
    given = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)

    def answer(at, responses):
        checkin_submit(
            patient=patient, check_in_id=uuid.uuid4(), answered_at=at, responses=responses, now=at
        )

    with time_machine.travel(given + timedelta(hours=1), tick=False) as clock:
        give_infusion(patient, given)
        for day, mood, pain in ((2, 8, 2), (7, 8, 2)):
            clock.move_to(given + timedelta(days=day))
            answer(
                given + timedelta(days=day),
                [
                    ResponseInput("MOOD", "1", {"item1": mood}),
                    ResponseInput("PAIN-NRS", "2", {"item1": pain}),
                ],
            )
        morning = given + timedelta(days=15)
        clock.move_to(morning)
        answer(morning, [ResponseInput("MOOD", "1", {"item1": 5})])
        (first,) = probes(patient)
        Reminder.objects.filter(pk=first.pk).update(status=ReminderStatus.SENT, sent_at=morning)
        evening = morning + timedelta(hours=6)
        clock.move_to(evening)
        answer(evening, [ResponseInput("PAIN-NRS", "2", {"item1": 6})])
    rows = probes(patient)
    asked = [r for r in rows if r.status != ReminderStatus.CANCELLED]
    assert [r.instruments for r in asked] == [["MOOD"]]
    (refused,) = [r for r in rows if r.status == ReminderStatus.CANCELLED]
    assert refused.instruments == ["PAIN-NRS"]
    assert refused.reason == "not asked: that day already has its probe"


# --- 8. an alert's read-only fields are refused by name ------------------------------------------
@pytest.mark.parametrize("action", ["acknowledge", "resolve", "follow-up"])
def test_an_alert_action_refuses_read_only_fields_by_name(world, action):
    alert = world.alert_a
    body = {
        "note": "Called the patient.",
        "status": "resolved",
        "acknowledged_by": "someone-else",
    }
    resp = world.client("clinician_x").post(f"/api/v1/alerts/{alert.id}/{action}/", body, "json")
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert [(e["attr"], e["code"]) for e in errors] == [
        ("acknowledged_by", "read_only"),
        ("status", "read_only"),
    ]
    assert errors[1]["detail"] == "status is set by the server; leave it out."
    assert SafetyAlert.objects.get(pk=alert.pk).status == AlertStatus.OPEN


def test_an_alert_action_without_read_only_fields_still_works(world):
    alert = world.alert_a
    resp = world.client("clinician_x").post(
        f"/api/v1/alerts/{alert.id}/acknowledge/", {"note": "Called."}, format="json"
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "acknowledged"
