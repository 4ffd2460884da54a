"""A send task's deliveries are claimed together and each outcome is recorded on its own;
the dispatcher's per-tick queries stay on their indexes (issue 6)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.channels import Channel, reset_channels
from notifications.models import Delivery, DeliveryStatus, Reminder, ReminderStatus
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
    """Records each send in sent; a test may hook `during` to act mid-send."""

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
    rows = []
    for i in range(n):
        reminder = ReminderFactory(
            patient=patient,
            infusion=infusion,
            plan=plan,
            step_key=f"s-{i}",
            due_at=now - timedelta(minutes=5),
            window_closes_at=now + timedelta(hours=5),
            status=ReminderStatus.SENT,
        )
        rows.append(DeliveryFactory(reminder=reminder, channel="console"))
    return rows


@pytest.mark.django_db
def test_a_chunk_is_claimed_in_one_transaction_and_each_outcome_written_alone():
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
    outcomes = deliveries_send_batch(delivery_ids=[a.id, b.id, c.id])

    assert outcomes == {"delivered": 2}
    assert sent == [str(a.id), str(b.id)]
    c.refresh_from_db()
    assert c.status == DeliveryStatus.RETRYING  # the reaper's, sent by whoever gets it next
    b.refresh_from_db()
    assert b.status == DeliveryStatus.DELIVERED
    assert b.claimed_at > a.created_at


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
