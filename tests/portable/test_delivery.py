"""Sending deliveries on SQLite (notifications/services/delivery.py): outcomes are committed
as they are, where PostgreSQL switches synchronous_commit off around the sends; the claim's
SELECT ... FOR UPDATE SKIP LOCKED is a plain SELECT (SQLite takes the write lock for the
whole transaction), and each outcome is the same hand-built UPDATE. The expected values
are those the PostgreSQL tests assert (tests/integration/test_delivery_batches.py)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.channels import Channel, reset_channels
from notifications.models import Delivery, DeliveryStatus, ReminderStatus
from notifications.services.delivery import deliveries_send_batch
from tests.factories import (
    CadencePlanFactory,
    DeliveryFactory,
    InfusionFactory,
    PatientFactory,
    ReminderFactory,
)

sent: list[str] = []


class ListChannel(Channel):
    """Records each send in `sent`; a test may hook `during` to act mid-send."""

    name = "console"
    during = None

    def send(self, delivery, message) -> str:
        sent.append(str(delivery.id))
        if ListChannel.during:
            ListChannel.during(delivery)
        return f"list-{delivery.id}"


@pytest.fixture(autouse=True)
def list_channel(settings):
    settings.AFTERGLOW_CHANNELS = {
        **settings.AFTERGLOW_CHANNELS,
        "console": f"{__name__}.ListChannel",
    }
    reset_channels()
    sent.clear()
    ListChannel.during = None
    yield
    ListChannel.during = None
    reset_channels()


def queued(n: int) -> list[Delivery]:
    patient = PatientFactory()
    now = timezone.now()
    infusion = InfusionFactory(patient=patient, scheduled_at=now - timedelta(hours=5))
    plan = CadencePlanFactory(clinic=patient.clinic)
    return [
        DeliveryFactory(
            reminder=ReminderFactory(
                patient=patient,
                infusion=infusion,
                plan=plan,
                step_key=f"s-{i}",
                due_at=now - timedelta(minutes=5),
                window_closes_at=now + timedelta(hours=5),
                status=ReminderStatus.SENT,
            ),
            channel="console",
        )
        for i in range(n)
    ]


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
    def statements(n: int) -> int:
        ids = [d.id for d in queued(n)]
        with CaptureQueriesContext(connection) as ctx:
            assert deliveries_send_batch(delivery_ids=ids) == {"delivered": n}
        return len(ctx.captured_queries)

    assert statements(15) - statements(5) == 10
    assert Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).count() == 0
    assert all(d.provider_message_id == f"list-{d.id}" for d in Delivery.objects.all())
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_an_id_twice_in_a_chunk_or_in_two_chunks_is_sent_once():
    a, b = queued(2)
    assert deliveries_send_batch(delivery_ids=[a.id, a.id, b.id]) == {"delivered": 2}
    assert deliveries_send_batch(delivery_ids=[str(a.id), str(b.id)]) == {"not_claimed": 2}
    assert sorted(sent) == sorted([str(a.id), str(b.id)])


@pytest.mark.django_db
def test_a_row_another_worker_claimed_is_left_to_it():
    a, b = queued(2)
    Delivery.objects.filter(pk=a.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now()
    )
    assert deliveries_send_batch(delivery_ids=[a.id, b.id]) == {
        "not_claimed": 1,
        "delivered": 1,
    }
    assert sent == [str(b.id)]


@pytest.mark.django_db
def test_a_slow_chunk_renews_its_claim_and_drops_rows_the_reaper_took(settings):
    settings.AFTERGLOW_STALE_CLAIM_SECONDS = 0  # renew before every send
    a, b, c = queued(3)

    def reaper_takes_c(delivery):
        if str(delivery.id) == str(a.id):
            Delivery.objects.filter(pk=c.pk).update(status=DeliveryStatus.RETRYING)

    ListChannel.during = reaper_takes_c
    assert deliveries_send_batch(delivery_ids=[a.id, b.id, c.id]) == {"delivered": 2}
    assert sent == [str(a.id), str(b.id)]
    c.refresh_from_db()
    assert c.status == DeliveryStatus.RETRYING
    b.refresh_from_db()
    assert b.status == DeliveryStatus.DELIVERED
    assert b.claimed_at > a.created_at
