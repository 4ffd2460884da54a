"""The embedded demo runs on SQLite; where the hot paths use PostgreSQL-only SQL, their
portable twins must give the same answers. Run here on PostgreSQL with the backend's
vendor name switched, so both twins are exercised on the same data."""

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection

from notifications.models import Reminder, ReminderStatus
from outcomes.models import LatestScore
from outcomes.selectors.analytics import patient_series
from outcomes.services.outcome_records import outcome_records_refresh
from tests.helpers import T0, answer, give_infusion

pytestmark = pytest.mark.django_db


def as_sqlite():
    return mock.patch.object(connection, "vendor", "sqlite")


def history(patient):
    import time_machine

    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        answer(patient, T0 - timedelta(days=2), 20)
        give_infusion(patient, T0)
        answer(patient, T0 + timedelta(days=3), 9)
        answer(patient, T0 + timedelta(days=1), 12)  # arrives late: not the latest


def latest(patient):
    return sorted(
        LatestScore.objects.filter(patient=patient).values_list(
            "instrument_code", "total", "answered_at"
        )
    )


def test_latest_scores_and_series_are_the_same_through_the_portable_twins(personas):
    history(personas.patient_a)
    with as_sqlite():
        history(personas.patient_b)
    a, b = latest(personas.patient_a), latest(personas.patient_b)
    assert [(c, t) for c, t, _ in a] == [(c, t) for c, t, _ in b] == [("PHQ-9", 9.0)]
    native = patient_series(patient=personas.patient_a)
    with as_sqlite():
        portable = patient_series(patient=personas.patient_a)
    assert native == portable
    assert [total for _, total, _ in native["PHQ-9"]] == [20, 12, 9]


def test_a_check_in_is_stored_the_same_by_the_one_statement_and_by_the_orm(personas):
    """The PostgreSQL path writes the check-in, its responses, the latest scores and the
    outcome mark in one hand-built statement; the ORM path must store the same rows."""
    from outcomes.models import CheckIn, InstrumentResponse, OutcomeState

    history(personas.patient_a)
    with as_sqlite():
        history(personas.patient_b)

    def stored(patient):
        check_ins = sorted(
            CheckIn.objects.filter(patient=patient).values_list("answered_at", "content_digest")
        )
        responses = sorted(
            InstrumentResponse.objects.filter(patient=patient).values_list(
                "instrument_version_id", "instrument_code", "answered_at", "position",
                "answers", "total", "band", "subscales", "flags", "check_in__answered_at",
            ),
            key=repr,
        )  # fmt: skip
        latest = list(
            LatestScore.objects.filter(patient=patient).values_list(
                "instrument_code", "answered_at", "total", "band", "response__answered_at"
            )
        )
        version = OutcomeState.objects.get(patient=patient).version
        return check_ins, responses, latest, version

    a, b = stored(personas.patient_a), stored(personas.patient_b)
    assert a == b
    check_ins, responses, latest, version = a
    assert len(check_ins) == len(responses) == 3
    assert [(code, total) for code, _, total, _, _ in latest] == [("PHQ-9", 9.0)]
    assert version == 4  # three check-ins and the infusion


def test_stored_outcomes_are_the_same_through_the_portable_twin(personas):
    history(personas.patient_a)
    outcome_records_refresh(patient_ids=[personas.patient_a.id])
    from outcomes.models import InfusionOutcomeRecord

    def rows():
        return list(
            InfusionOutcomeRecord.objects.values_list(
                "number", "status", "responded", "durability_days", "censored"
            )
        )

    native = rows()
    with as_sqlite():
        outcome_records_refresh(patient_ids=[personas.patient_a.id])
    assert rows() == native
    assert native and native[0][1] in {"responding", "lost"}


def test_a_check_in_completes_its_reminder_through_the_portable_twin(personas):
    from datetime import UTC, datetime

    from outcomes.services.checkins import ResponseInput, checkin_submit

    start = datetime.now(UTC) - timedelta(hours=5)
    infusion = give_infusion(personas.patient_a, start)
    reminder = Reminder.objects.get(infusion=infusion, step_key="hour-4")
    now = datetime.now(UTC)
    assert reminder.due_at <= now < reminder.window_closes_at
    with as_sqlite():
        check_in, _ = checkin_submit(
            patient=personas.patient_a,
            check_in_id=uuid.uuid4(),
            answered_at=now,
            responses=[ResponseInput("MOOD", "1", {"item1": 6})],
        )
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.COMPLETED
    assert reminder.check_in_id == check_in.id
