"""Sending deliveries on SQLite (notifications/services/delivery.py): outcomes are committed
as they are, where PostgreSQL switches synchronous_commit off around the sends; the claim's
SELECT ... FOR UPDATE SKIP LOCKED is a plain SELECT (SQLite takes the write lock for the
whole transaction), and each outcome is the same hand-built UPDATE. The expected values
are those the PostgreSQL tests assert (tests/integration/test_delivery_batches.py)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import DeliveryStatus
from notifications.services.delivery import deliveries_send_batch
from tests.delivery_support import (
    check_a_row_another_worker_claimed_is_left_to_it,
    check_a_slow_chunk_renews_its_claim_and_drops_rows_the_reaper_took,
    check_an_id_twice_is_sent_once,
    check_claimed_together_and_each_outcome_written_alone,
    list_channel,
    queued,
    sent,
)


@pytest.fixture(autouse=True)
def _list_channel(settings):
    with list_channel(settings):
        yield


@pytest.mark.django_db(transaction=True)
def test_outcomes_are_committed_as_they_are_outside_a_transaction(settings):
    """Outside any transaction, as a worker sends, the vendor alone keeps the PostgreSQL
    setting away from SQLite (which has no synchronous_commit to set)."""
    assert settings.AFTERGLOW_SEND_ASYNC_COMMIT
    for _ in range(2):
        (d,) = queued(1)
        assert not connection.in_atomic_block
        with CaptureQueriesContext(connection) as ctx:
            assert deliveries_send_batch(delivery_ids=[d.id]) == {"delivered": 1}
        assert not [q for q in ctx.captured_queries if "synchronous_commit" in q["sql"]]
        d.refresh_from_db()
        assert (d.status, d.provider_message_id, d.attempts) == (
            DeliveryStatus.DELIVERED,
            f"list-{d.id}",
            1,
        )
        settings.AFTERGLOW_SEND_ASYNC_COMMIT = False
    assert len(sent) == 2


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
