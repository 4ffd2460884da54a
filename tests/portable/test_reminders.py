"""A check-in completes its open reminder on SQLite: the open rows matched in Python
(notifications/services/reminders.py), where PostgreSQL matches them with jsonb
containment in one UPDATE. The expected values are those the PostgreSQL tests assert
(tests/integration/test_portable_paths.py, test_reminders.py)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications.models import Reminder, ReminderStatus
from outcomes.services.checkins import ResponseInput, checkin_submit
from tests.helpers import give_infusion, phq9_total

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
MOOD = ResponseInput("MOOD", "1", {"item1": 6})
PHQ9 = ResponseInput("PHQ-9", "1", phq9_total(5))


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def submit(patient, *responses, answered_at=NOW):
    check_in, created = checkin_submit(
        patient=patient, check_in_id=uuid.uuid4(), answered_at=answered_at, responses=responses
    )
    assert created
    return check_in


def open_hour_4(patient):
    infusion = give_infusion(patient, NOW - timedelta(hours=5))
    reminder = Reminder.objects.get(infusion=infusion, step_key="hour-4")
    assert reminder.instruments == ["MOOD"]
    assert reminder.due_at <= NOW < reminder.window_closes_at
    return infusion, reminder


def test_a_check_in_inside_the_window_completes_the_reminder(patient_a):
    infusion, reminder = open_hour_4(patient_a)
    check_in = submit(patient_a, MOOD)
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.COMPLETED
    assert reminder.check_in_id == check_in.id
    assert reminder.completed_at == NOW
    assert reminder.next_nudge_at is None
    # The reminders whose windows have not opened stay as they were.
    later = Reminder.objects.filter(infusion=infusion).exclude(pk=reminder.pk)
    assert later.exists()
    assert set(later.values_list("status", flat=True)) == {ReminderStatus.PENDING.value}
    assert not later.filter(check_in__isnull=False).exists()


def test_a_sent_reminder_completes_only_once_every_instrument_it_asks_is_answered(patient_a):
    _, reminder = open_hour_4(patient_a)
    Reminder.objects.filter(pk=reminder.pk).update(status=ReminderStatus.SENT)

    submit(patient_a, PHQ9)  # does not answer MOOD
    reminder.refresh_from_db()
    assert (reminder.status, reminder.check_in_id) == (ReminderStatus.SENT, None)

    check_in = submit(patient_a, PHQ9, MOOD)  # answers more than it asks: enough
    reminder.refresh_from_db()
    assert (reminder.status, reminder.check_in_id) == (ReminderStatus.COMPLETED, check_in.id)


def test_an_answer_from_before_the_window_opened_completes_nothing(patient_a):
    _, reminder = open_hour_4(patient_a)
    submit(patient_a, MOOD, answered_at=reminder.due_at - timedelta(minutes=1))
    reminder.refresh_from_db()
    assert (reminder.status, reminder.check_in_id) == (ReminderStatus.PENDING, None)
