"""A send task's deliveries are claimed together and each outcome is recorded on its own;
the dispatcher's per-tick queries stay on their indexes."""

import pytest
from django.db import connection
from django.utils import timezone

from notifications.models import Reminder, ReminderStatus
from notifications.services.delivery import deliveries_send_batch
from tests.delivery_support import (
    ListChannel,
    check_a_row_another_worker_claimed_is_left_to_it,
    check_a_slow_chunk_renews_its_claim_and_drops_rows_the_reaper_took,
    check_an_id_twice_is_sent_once,
    check_claimed_together_and_each_outcome_written_alone,
    list_channel,
    queued,
)


@pytest.fixture(autouse=True)
def _list_channel(settings):
    with list_channel(settings):
        yield


@pytest.mark.django_db(transaction=True)
def test_outcomes_commit_asynchronously_and_the_setting_is_restored(settings):
    seen = []
    ListChannel.during = lambda d: seen.append(_synchronous_commit())
    (d,) = queued(1)

    assert deliveries_send_batch(delivery_ids=[d.id]) == {"delivered": 1}
    assert seen == ["off"]
    assert _synchronous_commit() == "on"

    settings.AFTERGLOW_SEND_ASYNC_COMMIT = False
    seen.clear()
    (d,) = queued(1)
    deliveries_send_batch(delivery_ids=[d.id])
    assert seen == ["on"]


def _synchronous_commit() -> str:
    with connection.cursor() as cur:
        cur.execute("SHOW synchronous_commit")
        return cur.fetchone()[0]


@pytest.mark.django_db
def test_the_ticks_expiry_of_closed_windows_can_use_its_partial_index():
    qs = Reminder.objects.filter(
        status__in=(ReminderStatus.PENDING, ReminderStatus.SENT),
        window_closes_at__lte=timezone.now(),
    ).order_by()
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cur.fetchall())
    assert "reminder_open_closing" in plan


def test_the_beats_ticks_have_their_own_queue_that_every_worker_consumes():
    from config.celery import app

    router = app.amqp.router
    assert router.route({}, "notifications.dispatch_due")["queue"].name == "ticks"
    assert router.route({}, "outcomes.alerts_escalate")["queue"].name == "ticks"
    assert router.route({}, "notifications.send_deliveries")["queue"].name == "celery"
    # A worker started without -Q consumes every declared queue.
    assert set(app.amqp.queues) == {"celery", "ticks"}


@pytest.mark.django_db
def test_a_chunk_is_claimed_in_one_transaction_and_each_outcome_written_alone():
    check_claimed_together_and_each_outcome_written_alone()


@pytest.mark.django_db
def test_an_id_twice_in_a_chunk_or_in_two_chunks_is_sent_once():
    check_an_id_twice_is_sent_once()


@pytest.mark.django_db
def test_a_row_another_worker_claimed_is_left_to_it():
    check_a_row_another_worker_claimed_is_left_to_it()


@pytest.mark.django_db
def test_a_slow_chunk_renews_its_claim_and_drops_rows_the_reaper_took(settings):
    check_a_slow_chunk_renews_its_claim_and_drops_rows_the_reaper_took(settings)
