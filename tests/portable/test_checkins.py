"""Check-in storage on SQLite: the patient's row read without FOR NO KEY UPDATE, and the
check-in, its responses, the latest scores and the outcome mark written statement by
statement through the ORM (outcomes/services/checkins.py), where PostgreSQL writes them
in one statement. The expected values are those the PostgreSQL tests assert
(tests/integration/test_portable_paths.py, test_checkins_api.py)."""

import uuid
from datetime import timedelta

import pytest
import time_machine

from accounts.errors import ConflictError, DomainValidationError
from outcomes.models import (
    CheckIn,
    CheckInSource,
    InstrumentResponse,
    InstrumentVersion,
    LatestScore,
    OutcomeState,
    Patient,
)
from outcomes.selectors.analytics import patient_series
from outcomes.services.checkins import ResponseInput, checkin_submit, submission_digest
from tests.factories import StaffFactory
from tests.helpers import T0, answer, give_infusion, phq9_total

pytestmark = pytest.mark.django_db

RECEIVED = T0 + timedelta(days=30)
# (answered at, PHQ-9 total, band), in the order the phone sends them: the last one, from
# day 1, arrives after the one from day 3 and must not become the latest score.
SENT = [
    (T0 - timedelta(days=2), 20, "severe"),
    (T0 + timedelta(days=3), 9, "mild"),
    (T0 + timedelta(days=1), 12, "moderate"),
]


def history(patient) -> None:
    with time_machine.travel(RECEIVED, tick=False):
        answer(patient, SENT[0][0], SENT[0][1])
        give_infusion(patient, T0)
        for at, total, _ in SENT[1:]:
            answer(patient, at, total)


def phq9_responses(total: int) -> list[ResponseInput]:
    return [ResponseInput("PHQ-9", "1", phq9_total(total))]


def test_the_orm_path_stores_the_check_ins_responses_latest_score_and_outcome_mark(patient_a):
    history(patient_a)
    phq9 = InstrumentVersion.objects.get(code="PHQ-9", version="1", clinic__isnull=True)
    in_order = sorted(SENT)

    check_ins = list(
        CheckIn.objects.filter(patient=patient_a)
        .order_by("answered_at")
        .values_list("answered_at", "received_at", "content_digest")
    )
    assert check_ins == [
        (at, RECEIVED, submission_digest(answered_at=at, responses=phq9_responses(total)))
        for at, total, _ in in_order
    ]

    responses = list(
        InstrumentResponse.objects.filter(patient=patient_a)
        .order_by("answered_at")
        .values_list(
            "instrument_version_id", "instrument_code", "answered_at", "position", "answers",
            "total", "band", "subscales", "flags", "check_in__answered_at",
        )
    )  # fmt: skip
    assert responses == [
        (phq9.id, "PHQ-9", at, 0, phq9_total(total), float(total), band, {}, [], at)
        for at, total, band in in_order
    ]

    latest = list(
        LatestScore.objects.filter(patient=patient_a).values_list(
            "instrument_code", "answered_at", "total", "band", "response__answered_at"
        )
    )
    day_3 = T0 + timedelta(days=3)
    assert latest == [("PHQ-9", day_3, 9.0, "mild", day_3)]  # not day 1's late 12

    assert OutcomeState.objects.get(patient=patient_a).version == 4  # 3 check-ins, 1 infusion


def test_the_patients_series_reads_back_the_answers(patient_a, patient_b):
    """dbtime's twin: the datetimes are read as they are, not as epoch seconds."""
    history(patient_a)
    assert patient_series(patient=patient_a) == {
        "PHQ-9": [(at, float(total), band) for at, total, band in sorted(SENT)]
    }
    assert patient_series(patient=patient_b) == {}  # another patient's scores are not in it


def test_a_retry_is_stored_once_and_a_reused_id_with_other_content_changes_nothing(patient_a):
    """The ORM path tells a retry apart by the check-in's primary key (an IntegrityError in
    a savepoint) before it writes anything else."""
    check_in_id, at = uuid.uuid4(), T0

    def submit(total: int):
        return checkin_submit(
            patient=patient_a,
            check_in_id=check_in_id,
            answered_at=at,
            responses=phq9_responses(total),
            now=at,
        )

    first, created = submit(0)
    again, created_again = submit(0)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    with pytest.raises(ConflictError) as conflict:
        submit(24)
    assert conflict.value.code == "idempotency_key_reused"

    assert CheckIn.objects.filter(patient=patient_a).count() == 1
    assert InstrumentResponse.objects.get(check_in_id=check_in_id).total == 0
    assert list(LatestScore.objects.filter(patient=patient_a).values_list("total", flat=True)) == [
        0.0
    ]
    assert OutcomeState.objects.get(patient=patient_a).version == 1  # marked once


def test_a_withdrawal_stored_after_the_patient_was_read_is_refused_under_the_lock(patient_a):
    """The request read an active patient; the row, read again under the lock (without FOR
    NO KEY UPDATE on SQLite), says withdrawn: nothing is stored."""
    Patient.objects.filter(pk=patient_a.pk).update(status="withdrawn")
    assert patient_a.status == "active"  # the instance the request holds
    with pytest.raises(DomainValidationError) as refused:
        checkin_submit(
            patient=patient_a,
            check_in_id=uuid.uuid4(),
            answered_at=T0,
            responses=phq9_responses(5),
            now=T0,
        )
    assert refused.value.errors == {
        "non_field_errors": [("patient_withdrawn", "This patient no longer takes check-ins.")]
    }
    assert not CheckIn.objects.filter(patient=patient_a).exists()
    assert not LatestScore.objects.filter(patient=patient_a).exists()
    assert not OutcomeState.objects.filter(patient=patient_a).exists()


def test_a_tablet_check_in_names_who_handed_it_over_and_a_replay_must_match_it(
    patient_a, clinician, clinic
):
    """The clinic's tablet (captured_by: source "clinic"), through the ORM path: the check
    constraint holds on SQLite too, and a retry counts only from the same hands."""
    check_in_id = uuid.uuid4()

    def submit(captured_by):
        return checkin_submit(
            patient=patient_a,
            check_in_id=check_in_id,
            answered_at=T0,
            responses=phq9_responses(12),
            captured_by=captured_by,
            now=T0,
        )

    stored, created = submit(clinician)
    again, created_again = submit(clinician)
    assert (created, created_again) == (True, False)
    assert again.pk == stored.pk
    for other in (None, StaffFactory(clinic=clinic, role="clinic_admin")):  # phone, colleague
        with pytest.raises(ConflictError) as conflict:
            submit(other)
        assert conflict.value.code == "idempotency_key_reused"

    row = CheckIn.objects.get(pk=check_in_id)
    assert (row.source, row.captured_by_id) == (CheckInSource.CLINIC, clinician.pk)
    assert LatestScore.objects.get(patient=patient_a).total == 12.0
    assert OutcomeState.objects.get(patient=patient_a).version == 1  # marked once
