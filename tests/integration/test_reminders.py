"""Reminder planning by diff, completion by check-in, and the dispatcher's claims."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.cadence_templates import DEFAULT_PLAN_STEPS
from notifications.models import (
    CadencePlan,
    Delivery,
    DeliveryStatus,
    PatientPreference,
    Reminder,
    ReminderStatus,
)
from notifications.services.dispatch import reminders_dispatch_due
from notifications.services.plan_store import default_plan_ensure
from notifications.services.plans import cadence_plan_update
from notifications.services.preferences import patient_preference_update
from notifications.services.reminders import reminders_plan_for_infusion
from outcomes.models import Infusion
from outcomes.services.infusions import infusion_cancel, infusion_schedule, infusion_update
from outcomes.services.patients import patient_update
from tests.factories import DeviceFactory, PatientFactory, checkin_payload

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    """The clock starts at NOW, so times of day (10:00 local) and 'in the past' checks
    do not depend on when the suite runs."""
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def patient(db):
    """A patient with no recorded condition follows the clinic's default plan, which these
    tests edit (condition templates: test_course_cadence.py)."""
    return PatientFactory(conditions=[])


@pytest.fixture
def console(settings):
    settings.AFTERGLOW_DEFAULT_CHANNELS = ["console"]


def schedule(patient, at=NOW + timedelta(days=2), **fields):
    return infusion_schedule(patient=patient, scheduled_at=at, **fields)


def reminders(infusion):
    return {r.step_key: r for r in Reminder.objects.filter(infusion=infusion)}


def test_recording_an_infusion_plans_one_reminder_per_step(patient):
    infusion = schedule(patient)
    rows = reminders(infusion)
    keys = [s["key"] for s in DEFAULT_PLAN_STEPS]
    # A course step and this infusion's step on the same day ask MOOD once.
    assert list(rows) == [
        k for k in keys if not (k.startswith("day-") and f"course-{k[4:]}" in keys)
    ]
    assert all(r.status == ReminderStatus.PENDING for r in rows.values())
    end = infusion.scheduled_at + timedelta(minutes=infusion.planned_duration_minutes)
    assert rows["hour-4"].due_at == end + timedelta(hours=4)
    assert rows["baseline"].window_closes_at == infusion.scheduled_at
    local = rows["day-7"].due_at.astimezone(ZoneInfo(patient.timezone))
    assert (local.hour, local.minute) == (10, 0)


def test_planning_twice_changes_nothing(patient):
    infusion = schedule(patient)
    before = {k: (r.id, r.due_at, r.updated_at) for k, r in reminders(infusion).items()}
    diff = reminders_plan_for_infusion(infusion=infusion)
    assert diff.created == diff.moved == diff.cancelled == []
    assert {k: (r.id, r.due_at, r.updated_at) for k, r in reminders(infusion).items()} == before


def test_moving_an_infusion_moves_pending_reminders_and_leaves_sent_ones(patient, console):
    infusion = schedule(patient, at=NOW - timedelta(minutes=60))
    infusion_update(
        infusion=infusion,
        started_at=NOW - timedelta(minutes=60),
        ended_at=NOW - timedelta(minutes=20),
    )
    reminders_dispatch_due(now=NOW + timedelta(hours=4), enqueue=lambda ids: None)
    sent = reminders(infusion)["hour-4"]
    assert sent.status == ReminderStatus.SENT
    infusion_update(
        infusion=Infusion.objects.get(pk=infusion.pk), ended_at=NOW - timedelta(minutes=5)
    )
    after = reminders(infusion)
    assert after["hour-4"].due_at == sent.due_at  # sent: untouched
    assert after["hour-4"].status == ReminderStatus.SENT
    assert Delivery.objects.filter(reminder=sent).count() == 1


def test_cancelling_an_infusion_cancels_pending_reminders(patient):
    infusion = schedule(patient)
    infusion_cancel(infusion=infusion, reason="patient unwell")
    assert {r.status for r in reminders(infusion).values()} == {ReminderStatus.CANCELLED}


def test_editing_a_plan_replans_without_sending_anything_again(patient, console):
    infusion = schedule(patient, at=NOW - timedelta(hours=30))
    infusion_update(
        infusion=infusion, started_at=NOW - timedelta(hours=30), ended_at=NOW - timedelta(hours=29)
    )
    reminders_dispatch_due(now=NOW, enqueue=lambda ids: None)
    sent_before = {r.step_key for r in Reminder.objects.filter(status=ReminderStatus.SENT)}
    deliveries_before = Delivery.objects.count()
    assert sent_before  # the +1 day reminder went out
    plan = default_plan_ensure(clinic=patient.clinic)
    steps = [s for s in plan.steps if s["key"] != "day-22"]
    steps.append(
        {
            "key": "day-10",
            "offset_minutes": 10 * 1440,
            "align_local_time": "09:00",
            "instruments": ["MOOD"],
            "window_hours": 12,
        }
    )
    cadence_plan_update(plan=plan, steps=steps)
    rows = reminders(infusion)
    assert rows["day-22"].status == ReminderStatus.CANCELLED
    assert rows["day-10"].status == ReminderStatus.PENDING
    assert {r.step_key for r in rows.values() if r.status == ReminderStatus.SENT} == sent_before
    reminders_dispatch_due(now=NOW, enqueue=lambda ids: None)
    assert Delivery.objects.count() == deliveries_before
    assert CadencePlan.objects.get(pk=plan.pk).version == 2


def test_a_plan_asking_phq9_twice_in_two_weeks_is_refused(patient):
    from accounts.errors import DomainValidationError

    plan = default_plan_ensure(clinic=patient.clinic)
    steps = [
        *plan.steps,
        {"key": "day-3", "offset_minutes": 3 * 1440, "instruments": ["PHQ-9"], "window_hours": 24},
    ]
    with pytest.raises(DomainValidationError) as exc:
        cadence_plan_update(plan=plan, steps=steps)
    assert any("instruments" in k for k in exc.value.errors)
    assert CadencePlan.objects.get(pk=plan.pk).version == 1


def test_changing_time_zone_replans_pending_reminders(patient):
    infusion = schedule(patient)
    patient_update(patient=patient, timezone_name="Europe/Berlin")
    from notifications.services.reminders import reminders_replan_for_patient

    reminders_replan_for_patient(patient=patient)
    local = reminders(infusion)["day-7"].due_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (10, 0)


def test_a_check_in_inside_the_window_completes_the_reminder(patient, patient_client, console):
    infusion = schedule(patient, at=datetime.now(UTC) - timedelta(hours=5))
    infusion_update(
        infusion=infusion,
        started_at=infusion.scheduled_at,
        ended_at=infusion.scheduled_at + timedelta(minutes=40),
    )
    reminder = reminders(infusion)["hour-4"]
    assert reminder.due_at <= datetime.now(UTC) < reminder.window_closes_at
    resp = patient_client.post(
        "/api/v1/me/check-ins/",
        checkin_payload(
            responses=[{"instrument": "MOOD", "version": "1", "answers": {"item1": 6}}]
        ),
        format="json",
    )
    assert resp.status_code == 201
    reminder.refresh_from_db()
    assert reminder.status == ReminderStatus.COMPLETED
    assert str(reminder.check_in_id) == resp.json()["id"]


def test_due_reminders_are_sent_once_and_late_ones_become_missed(patient, console):
    infusion = schedule(patient, at=NOW - timedelta(days=3))
    infusion_update(
        infusion=infusion,
        started_at=NOW - timedelta(days=3),
        ended_at=NOW - timedelta(days=3) + timedelta(minutes=40),
    )
    # Planned retroactively: windows that had closed are not created at all.
    assert "hour-4" not in reminders(infusion)
    enqueued = []
    first = reminders_dispatch_due(now=NOW, enqueue=enqueued.extend)
    second = reminders_dispatch_due(now=NOW, enqueue=enqueued.extend)
    assert second.sent == 0
    assert len(enqueued) == Delivery.objects.count() == first.deliveries
    later = reminders_dispatch_due(now=NOW + timedelta(days=40), enqueue=enqueued.extend)
    assert later.missed >= 1
    assert not Reminder.objects.filter(status=ReminderStatus.PENDING, due_at__lt=NOW).exists()


def test_paused_patient_gets_nothing(patient, console):
    infusion = schedule(patient, at=NOW - timedelta(hours=30))
    infusion_update(
        infusion=infusion, started_at=NOW - timedelta(hours=30), ended_at=NOW - timedelta(hours=29)
    )
    patient_preference_update(patient=patient, paused_until=NOW + timedelta(days=1))
    report = reminders_dispatch_due(now=NOW, enqueue=lambda ids: None)
    assert report.deliveries == 0
    assert report.paused >= 1


def test_push_goes_to_every_enabled_device(patient, settings):
    settings.AFTERGLOW_DEFAULT_CHANNELS = ["push"]
    for n, disabled in ((1, None), (2, None), (3, NOW)):
        DeviceFactory(patient=patient, push_token=f"t{n}", disabled_at=disabled)
    infusion = schedule(patient, at=NOW - timedelta(hours=30))
    infusion_update(
        infusion=infusion, started_at=NOW - timedelta(hours=30), ended_at=NOW - timedelta(hours=29)
    )
    reminders_dispatch_due(now=NOW, enqueue=lambda ids: None)
    sent = Reminder.objects.get(infusion=infusion, status=ReminderStatus.SENT)
    assert sorted(d.device.push_token for d in sent.deliveries.all()) == ["t1", "t2"]
    assert {d.status for d in sent.deliveries.all()} == {DeliveryStatus.QUEUED}


def test_dispatcher_query_count_does_not_grow_with_the_batch(console):
    def run(n):
        Reminder.objects.all().delete()
        for _ in range(n):
            p = PatientFactory()
            i = schedule(p, at=NOW - timedelta(hours=30))
            infusion_update(
                infusion=i, started_at=NOW - timedelta(hours=30), ended_at=NOW - timedelta(hours=29)
            )
        with CaptureQueriesContext(connection) as q:
            report = reminders_dispatch_due(now=NOW, batch_size=1000, enqueue=lambda ids: None)
        assert report.sent == n
        return len(q.captured_queries)

    assert run(3) == run(30)


def test_nudges_follow_until_answered(patient, console):
    infusion = schedule(patient, at=NOW - timedelta(hours=30))
    infusion_update(
        infusion=infusion, started_at=NOW - timedelta(hours=30), ended_at=NOW - timedelta(hours=29)
    )
    reminders_dispatch_due(now=NOW, enqueue=lambda ids: None)
    r = Reminder.objects.get(infusion=infusion, status=ReminderStatus.SENT)
    assert r.next_nudge_at is not None
    reminders_dispatch_due(now=r.next_nudge_at, enqueue=lambda ids: None)
    r.refresh_from_db()
    assert r.nudges_sent == 1
    assert sorted(r.deliveries.values_list("sequence", flat=True)) == [0, 1]


def test_override_plan_applies_to_one_patient(patient):
    from notifications.services.plans import cadence_plan_create

    infusion = schedule(patient)
    short = cadence_plan_create(
        clinic=patient.clinic,
        name="Short",
        steps=[
            {"key": "hour-2", "offset_minutes": 120, "instruments": ["MOOD"], "window_hours": 6},
        ],
    )
    patient_preference_update(patient=patient, cadence_plan=short)
    assert PatientPreference.objects.get(patient=patient).cadence_plan == short
    rows = reminders(infusion)
    assert rows["hour-2"].status == ReminderStatus.PENDING
    assert rows["day-7"].status == ReminderStatus.CANCELLED


@pytest.mark.parametrize(
    ("zone", "infusion_at"),
    [
        # US clocks go forward on 2026-03-08, EU clocks on 2026-03-29.
        ("America/New_York", datetime(2026, 3, 4, 15, 0, tzinfo=UTC)),
        ("Europe/Berlin", datetime(2026, 3, 25, 9, 0, tzinfo=UTC)),
    ],
)
def test_day_7_reminder_stays_at_10_local_across_dst(clock, zone, infusion_at):
    clock.move_to(infusion_at - timedelta(days=1))
    patient = PatientFactory(timezone=zone)
    infusion = schedule(patient, at=infusion_at)
    day7 = reminders(infusion)["day-7"]
    local = day7.due_at.astimezone(ZoneInfo(zone))
    assert (local.hour, local.minute) == (10, 0)
    before = infusion_at.astimezone(ZoneInfo(zone))
    assert local.utcoffset() - before.utcoffset() == timedelta(hours=1)
    # The day-1 reminder, still in winter time, is at 10:00 local too.
    day1 = reminders(infusion)["day-1"].due_at.astimezone(ZoneInfo(zone))
    assert (day1.hour, day1.minute) == (10, 0)


def test_reaper_requeues_lost_messages_and_dead_workers_claims(patient, console, settings):
    from notifications.services.dispatch import deliveries_reap

    infusion = schedule(patient, at=NOW - timedelta(hours=30))
    infusion_update(
        infusion=infusion,
        started_at=NOW - timedelta(hours=30),
        ended_at=NOW - timedelta(hours=29),
    )
    reminders_dispatch_due(now=NOW, enqueue=lambda ids: None)  # the message is "lost"
    (lost,) = Delivery.objects.all()
    assert deliveries_reap(now=NOW, enqueue=lambda ids: None) == 0  # too young to be lost
    later = NOW + timedelta(seconds=settings.AFTERGLOW_REQUEUE_AFTER_SECONDS + 1)
    requeued = []
    assert deliveries_reap(now=later, enqueue=requeued.extend) == 1
    assert requeued == [str(lost.id)]
    # A worker claimed it and died: after the stale interval it is retried.
    Delivery.objects.filter(pk=lost.pk).update(status=DeliveryStatus.SENDING, claimed_at=later)
    stale = later + timedelta(seconds=settings.AFTERGLOW_STALE_CLAIM_SECONDS + 1)
    requeued.clear()
    assert deliveries_reap(now=stale, enqueue=requeued.extend) == 1
    lost.refresh_from_db()
    assert lost.status == DeliveryStatus.RETRYING
