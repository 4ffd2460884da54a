"""Check-in submission from the phone: validation, scoring, idempotency, reads."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from outcomes.models import CheckIn, InstrumentResponse, InstrumentVersion, LatestScore
from tests.factories import checkin_payload, phq9

URL = "/api/v1/me/check-ins/"
pytestmark = pytest.mark.django_db


def submit(client, payload):
    return client.post(URL, payload, format="json")


def test_patient_submits_phq9_and_gets_scores(patient_client, patient):
    resp = submit(patient_client, checkin_payload(responses=[phq9(1, 1, 1, 1, 1, 1, 1, 1, 2)]))
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    (r,) = body["responses"]
    assert r["instrument"] == "PHQ-9"
    assert r["total"] == 10
    assert r["band"] == "moderate"
    assert any(f.startswith("safety:") for f in r["flags"])
    stored = InstrumentResponse.objects.get(check_in_id=body["id"])
    assert stored.instrument_version.code == "PHQ-9"
    assert stored.answers["item9"] == 2
    assert LatestScore.objects.get(patient=patient, instrument_code="PHQ-9").total == 10


def test_several_instruments_in_one_check_in(patient_client):
    payload = checkin_payload(
        responses=[
            {"instrument": "MOOD", "version": "1", "answers": {"item1": 7}},
            {"instrument": "PAIN-NRS", "version": "1", "answers": {"item1": 3}},
            {"instrument": "PEG", "version": "1", "answers": {"item1": 4, "item2": 5, "item3": 6}},
        ]
    )
    resp = submit(patient_client, payload)
    assert resp.status_code == 201, resp.json()
    totals = {r["instrument"]: r["total"] for r in resp.json()["responses"]}
    assert totals == {"MOOD": 7, "PAIN-NRS": 3, "PEG": 5}


def test_same_submission_twice_is_stored_once(patient_client):
    payload = checkin_payload(responses=[phq9(0, 1, 2, 3, 0, 1, 2, 3, 0)])
    first = submit(patient_client, payload)
    second = submit(patient_client, payload)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == first.json()
    assert CheckIn.objects.filter(id=payload["id"]).count() == 1
    assert InstrumentResponse.objects.filter(check_in_id=payload["id"]).count() == 1


def test_a_retry_is_recognised_even_when_it_would_no_longer_validate(patient_client, patient):
    """The phone retries a check-in the server stored (the answer was lost on the way back)
    after the patient withdrew: it is told the check-in is stored, not that it is refused."""
    payload = checkin_payload(responses=[phq9(0, 1, 2, 3, 0, 1, 2, 3, 0)])
    first = submit(patient_client, payload)
    patient.status = "withdrawn"
    patient.save(update_fields=["status"])
    again = submit(patient_client, payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert CheckIn.objects.filter(id=payload["id"]).count() == 1


def test_a_retry_runs_no_failing_statement(patient_client):
    """A failing statement reaches PostgreSQL's log with its values (client-side
    binding), answers included: a retry, which phones send routinely, must not fail one."""
    from django.db import connection

    failed = []

    def watch(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            failed.append((type(exc).__name__, sql[:80]))
            raise

    payload = checkin_payload(responses=[phq9(0, 1, 2, 3, 0, 1, 2, 3, 0)])
    assert submit(patient_client, payload).status_code == 201
    with connection.execute_wrapper(watch):
        assert submit(patient_client, payload).status_code == 200
        other = {**payload, "responses": [phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)]}
        assert submit(patient_client, other).status_code == 409
    assert failed == []
    assert InstrumentResponse.objects.filter(check_in_id=payload["id"]).count() == 1


def test_same_id_with_other_content_is_409_and_changes_nothing(patient_client):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 0)])
    assert submit(patient_client, payload).status_code == 201
    changed = {**payload, "responses": [phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)]}
    resp = submit(patient_client, changed)
    assert resp.status_code == 409
    assert resp.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert InstrumentResponse.objects.get(check_in_id=payload["id"]).total == 0


def test_another_patients_id_is_409_without_revealing_content(personas):
    payload = checkin_payload(responses=[phq9(1, 1, 1, 1, 1, 1, 1, 1, 0)])
    assert submit(personas.client("patient_a"), payload).status_code == 201
    resp = submit(personas.client("patient_b"), payload)
    assert resp.status_code == 409
    assert "responses" not in resp.json()
    assert CheckIn.objects.get(id=payload["id"]).patient == personas.patient_a


def test_bad_answers_are_400_per_item_and_store_nothing(patient_client):
    bad = phq9(0, 1, 2, 3, 0, 1, 2, 3)  # item9 missing
    bad["answers"]["item2"] = 7  # out of range
    bad["answers"]["item3"] = "2"  # wrong type
    bad["answers"]["item42"] = 1  # extra
    resp = submit(patient_client, checkin_payload(responses=[bad]))
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "validation_error"
    attrs = {e["attr"]: e["code"] for e in body["errors"]}
    assert attrs == {
        "responses.0.answers.item2": "invalid_choice",
        "responses.0.answers.item3": "invalid_type",
        "responses.0.answers.item9": "required",
        "responses.0.answers.item42": "unknown_item",
    }
    assert CheckIn.objects.count() == 0
    assert InstrumentResponse.objects.count() == 0


def test_errors_name_the_response_index(patient_client):
    resp = submit(
        patient_client,
        checkin_payload(
            responses=[
                {"instrument": "MOOD", "version": "1", "answers": {"item1": 5}},
                {"instrument": "PAIN-NRS", "version": "1", "answers": {"item1": 11}},
            ]
        ),
    )
    assert resp.status_code == 400
    assert [e["attr"] for e in resp.json()["errors"]] == ["responses.1.answers.item1"]
    assert CheckIn.objects.count() == 0


@pytest.mark.parametrize(
    ("response", "attr", "code"),
    [
        (
            {"instrument": "PHQ-9", "version": "99", "answers": {}},
            "responses.0.version",
            "unknown_instrument_version",
        ),
        (
            {"instrument": "NOPE", "version": "1", "answers": {}},
            "responses.0.version",
            "unknown_instrument_version",
        ),
        (
            {"instrument": "MOOD", "version": "1", "answers": [5]},
            "responses.0.answers",
            "not_an_object",
        ),
        (
            {"instrument": "MOOD", "version": "1", "answers": {"item1": True}},
            "responses.0.answers.item1",
            "invalid_type",
        ),
        (
            {"instrument": "MOOD", "version": "1", "answers": {"item1": 5.5}},
            "responses.0.answers.item1",
            "invalid_type",
        ),
        (
            {"instrument": "MOOD", "version": "1", "answers": {"item1": None}},
            "responses.0.answers.item1",
            "invalid_type",
        ),
        ({"instrument": "MOOD", "version": "1"}, "responses.0.answers", "required"),
    ],
)
def test_bad_response_shapes(patient_client, response, attr, code):
    resp = submit(patient_client, checkin_payload(responses=[response]))
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert {"attr": attr, "code": code} in [{"attr": e["attr"], "code": e["code"]} for e in errors]
    assert CheckIn.objects.count() == 0


def test_same_instrument_twice_is_refused(patient_client):
    mood = {"instrument": "MOOD", "version": "1", "answers": {"item1": 5}}
    resp = submit(patient_client, checkin_payload(responses=[mood, mood]))
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["attr"] == "responses.1.instrument"


@pytest.mark.parametrize(
    "payload_change",
    [
        {"id": "not-a-uuid"},
        {"answered_at": "yesterday"},
        {"responses": []},
        {"responses": "PHQ-9"},
    ],
)
def test_malformed_envelope_is_400(patient_client, payload_change):
    payload = {**checkin_payload(responses=[phq9(*[0] * 9)]), **payload_change}
    resp = submit(patient_client, payload)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["attr"].split(".")[0] == next(iter(payload_change))
    assert CheckIn.objects.count() == 0


def test_missing_fields_are_named(patient_client):
    resp = submit(patient_client, {})
    assert resp.status_code == 400
    assert {e["attr"] for e in resp.json()["errors"]} == {"id", "answered_at", "responses"}


def test_answered_at_in_the_future_is_refused_beyond_skew(patient_client):
    late = datetime.now(UTC) + timedelta(minutes=30)
    resp = submit(patient_client, checkin_payload(responses=[phq9(*[0] * 9)], answered_at=late))
    assert resp.status_code == 400
    assert resp.json()["errors"][0] == {
        "code": "in_future",
        "detail": "answered_at lies in the future.",
        "attr": "answered_at",
    }


def test_small_clock_skew_is_accepted_and_both_times_stored(patient_client):
    ahead = datetime.now(UTC) + timedelta(seconds=60)
    resp = submit(patient_client, checkin_payload(responses=[phq9(*[0] * 9)], answered_at=ahead))
    assert resp.status_code == 201
    stored = CheckIn.objects.get(id=resp.json()["id"])
    assert stored.answered_at == ahead
    assert stored.received_at < ahead


def test_answered_at_is_returned_in_utc(patient_client):
    payload = checkin_payload(responses=[phq9(*[0] * 9)])
    payload["answered_at"] = "2026-11-20T10:00:00-05:00"
    resp = submit(patient_client, payload)
    assert resp.json()["answered_at"] == "2026-11-20T15:00:00Z"


def test_latest_score_keeps_the_newest_answer_even_when_an_older_one_arrives_late(
    patient_client, patient
):
    now = datetime.now(UTC)
    submit(patient_client, checkin_payload(responses=[phq9(*[1] * 9)], answered_at=now))
    late = checkin_payload(responses=[phq9(*[3] * 9)], answered_at=now - timedelta(days=3))
    assert submit(patient_client, late).status_code == 201
    assert LatestScore.objects.get(patient=patient, instrument_code="PHQ-9").total == 9


def test_patient_reads_own_check_ins_filtered_and_paginated(patient_client):
    now = datetime.now(UTC)
    for days in range(5):
        submit(
            patient_client,
            checkin_payload(
                responses=[{"instrument": "MOOD", "version": "1", "answers": {"item1": days}}],
                answered_at=now - timedelta(days=days),
            ),
        )
    submit(patient_client, checkin_payload(responses=[phq9(*[0] * 9)], answered_at=now))
    page = patient_client.get(URL, {"page_size": 2, "instrument": "MOOD"}).json()
    assert len(page["results"]) == 2
    assert page["next"]
    seen = [r["responses"][0]["answers"]["item1"] for r in page["results"]]
    while page["next"]:
        page = patient_client.get(page["next"]).json()
        seen += [r["responses"][0]["answers"]["item1"] for r in page["results"]]
    assert seen == [0, 1, 2, 3, 4]
    window = patient_client.get(
        URL,
        {
            "instrument": "MOOD",
            "answered_after": (now - timedelta(days=2, hours=1)).isoformat(),
            "answered_before": (now - timedelta(hours=12)).isoformat(),
        },
    ).json()
    assert [r["responses"][0]["answers"]["item1"] for r in window["results"]] == [1, 2]


def test_patient_reads_one_check_in(patient_client):
    created = submit(patient_client, checkin_payload(responses=[phq9(*[2] * 9)])).json()
    resp = patient_client.get(f"{URL}{created['id']}/")
    assert resp.status_code == 200
    assert resp.json() == {k: v for k, v in created.items() if k != "safety"}
    assert patient_client.get(f"{URL}{uuid.uuid4()}/").status_code == 404


def test_withdrawn_patient_cannot_submit(patient_client, patient):
    patient.status = "withdrawn"
    patient.save(update_fields=["status"])
    resp = submit(patient_client, checkin_payload(responses=[phq9(*[0] * 9)]))
    assert resp.status_code == 400
    assert CheckIn.objects.count() == 0


def test_submission_statements_do_not_grow_with_history_or_read_back(patient_client):
    """The hot path (issue 6): a new check-in is rendered from the rows just written (no
    read-back), and the statement count does not depend on how much the patient has sent."""
    from django.db import connection

    def statements() -> int:
        seen = []

        def count(execute, sql, params, many, context):
            seen.append(sql)
            return execute(sql, params, many, context)

        payload = checkin_payload(
            responses=[
                phq9(1, 1, 1, 1, 1, 1, 1, 1, 0),
                {
                    "instrument": "GAD-7",
                    "version": "1",
                    "answers": {f"item{i}": 1 for i in range(1, 8)},
                },
            ]
        )
        with connection.execute_wrapper(count):
            resp = submit(patient_client, payload)
        assert resp.status_code == 201, resp.json()
        reads = [s for s in seen if s.lstrip().startswith("SELECT")]
        # A retry is told by the INSERT's primary key, not by a read first.
        assert not any('FROM "outcomes_checkin"' in s for s in reads), "retry read"
        assert not any(
            'FROM "outcomes_instrumentresponse"' in s or 'FROM "outcomes_safetyalert"' in s
            for s in reads
        ), "read back after insert"
        return len(seen), sum('FROM "outcomes_instrumentversion"' in s for s in reads)

    statements()  # the process's first use of these versions reads them and their definitions
    first, version_reads = statements()
    assert version_reads == 0  # cached by the process
    for _ in range(5):
        statements()
    assert statements() == (first, 0)
    # 2 token (the first also brings the patient: api.authentication), 1 row lock, 1
    # statement that writes the check-in, its responses, the latest scores and the
    # outcome mark, 1 reminders completed, 1 pending asks inside the new answers' recall
    # windows (notifications.services.reminders.reminders_inside_recall); and here,
    # inside the test's transaction, the atomic block's SAVEPOINT and RELEASE.
    assert first == 8


# --- the per-process cache of active instrument versions (issue 6) ----------------------
def test_a_version_retired_in_this_process_is_refused_at_once(patient_client):
    version = InstrumentVersion.objects.get(code="MOOD", version="1", clinic__isnull=True)
    mood = {"instrument": "MOOD", "version": "1", "answers": {"item1": 5}}
    assert submit(patient_client, checkin_payload(responses=[mood])).status_code == 201
    version.is_active = False
    version.save(update_fields=["is_active"])  # the admin's save: forgets the cache
    resp = submit(patient_client, checkin_payload(responses=[mood]))
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["code"] == "unknown_instrument_version"


def test_another_processs_change_is_seen_within_the_cache_interval(patient, monkeypatch):
    """A change made elsewhere (no signal here, as in another worker) is seen once the
    interval has passed, and not re-read before."""
    from outcomes.services import instruments

    clock = [1000.0]
    monkeypatch.setattr(instruments, "_clock", lambda: clock[0])
    instruments.active_versions_forget()
    assert ("MOOD", "1") in instruments.active_versions(clinic_id=patient.clinic_id)
    InstrumentVersion.objects.filter(code="MOOD", clinic__isnull=True).update(is_active=False)
    clock[0] += settings.AFTERGLOW_INSTRUMENT_CACHE_SECONDS - 1
    assert ("MOOD", "1") in instruments.active_versions(clinic_id=patient.clinic_id)
    clock[0] += 2
    assert ("MOOD", "1") not in instruments.active_versions(clinic_id=patient.clinic_id)


def test_a_version_another_process_added_is_accepted_at_once(patient_client, patient):
    """The cache never refuses what the database has: a version it lacks is looked up
    before the submission is refused (another process loaded it, so no signal here)."""
    from outcomes.services import instruments

    mood = {"instrument": "MOOD", "version": "1", "answers": {"item1": 5}}
    InstrumentVersion.objects.filter(code="MOOD", clinic__isnull=True).update(is_active=False)
    instruments.active_versions_forget()
    assert ("MOOD", "1") not in instruments.active_versions(clinic_id=patient.clinic_id)
    InstrumentVersion.objects.filter(code="MOOD", clinic__isnull=True).update(is_active=True)
    assert submit(patient_client, checkin_payload(responses=[mood])).status_code == 201
