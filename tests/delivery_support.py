"""Sending deliveries, asserted the same way on PostgreSQL
(tests/integration/test_delivery_batches.py) and on SQLite (tests/portable/test_delivery.py):
a recording channel, queued deliveries, and the batch scenarios both engines must pass."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

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


@contextmanager
def list_channel(settings) -> Iterator[None]:
    """The console channel replaced by ListChannel for the duration."""
    settings.AFTERGLOW_CHANNELS = {
        **settings.AFTERGLOW_CHANNELS,
        "console": f"{__name__}.ListChannel",
    }
    reset_channels()
    sent.clear()
    ListChannel.during = None
    try:
        yield
    finally:
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


def check_claimed_together_and_each_outcome_written_alone() -> None:
    def statements(n: int) -> int:
        ids = [d.id for d in queued(n)]
        with CaptureQueriesContext(connection) as ctx:
            assert deliveries_send_batch(delivery_ids=ids) == {"delivered": n}
        return len(ctx.captured_queries)

    # One claim (SELECT ... FOR UPDATE SKIP LOCKED with its joins, then one UPDATE) and
    # one finishing UPDATE per delivery: 10 more deliveries, exactly 10 more statements.
    assert statements(15) - statements(5) == 10
    assert Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).count() == 0
    assert all(d.provider_message_id == f"list-{d.id}" for d in Delivery.objects.all())
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {1}


def check_an_id_twice_is_sent_once() -> None:
    a, b = queued(2)
    assert deliveries_send_batch(delivery_ids=[a.id, a.id, b.id]) == {"delivered": 2}
    assert deliveries_send_batch(delivery_ids=[str(a.id), str(b.id)]) == {"not_claimed": 2}
    assert sorted(sent) == sorted([str(a.id), str(b.id)])


def check_a_row_another_worker_claimed_is_left_to_it() -> None:
    a, b = queued(2)
    Delivery.objects.filter(pk=a.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now()
    )
    assert deliveries_send_batch(delivery_ids=[a.id, b.id]) == {
        "not_claimed": 1,
        "delivered": 1,
    }
    assert sent == [str(b.id)]


def check_a_slow_chunk_renews_its_claim_and_drops_rows_the_reaper_took(settings) -> None:
    settings.AFTERGLOW_STALE_CLAIM_SECONDS = 0  # renew before every send
    a, b, c = queued(3)

    def reaper_takes_c(delivery):
        if str(delivery.id) == str(a.id):
            Delivery.objects.filter(pk=c.pk).update(status=DeliveryStatus.RETRYING)

    ListChannel.during = reaper_takes_c
    assert deliveries_send_batch(delivery_ids=[a.id, b.id, c.id]) == {"delivered": 2}
    assert sent == [str(a.id), str(b.id)]
    c.refresh_from_db()
    assert c.status == DeliveryStatus.RETRYING  # the reaper's, sent by whoever gets it next
    b.refresh_from_db()
    assert b.status == DeliveryStatus.DELIVERED
    assert b.claimed_at > a.created_at
