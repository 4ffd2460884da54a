"""Reminders through real Celery workers and beat on the real Redis broker and PostgreSQL.

Each test starts worker and beat processes against the test database, waits on a
condition with a deadline (never a bare sleep), and stops them. The RecordingChannel
(tests/channels.py) counts every provider call per delivery in Redis.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from notifications.models import Delivery, DeliveryStatus, Reminder, ReminderStatus
from notifications.services.plans import cadence_plan_create
from notifications.services.preferences import patient_preference_update
from notifications.tasks import dispatch_due
from outcomes.services import instruments_sync
from outcomes.services.infusions import infusion_schedule, infusion_update
from tests.channels import SENDS_KEY
from tests.factories import ClinicFactory, PatientFactory

# Real worker and beat processes: slow, and run by default (`-m "not slow"` leaves them out).
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
STEPS = [  # every step is already due when the test starts; MOOD has no recall window
    {"key": f"m-{m}", "offset_minutes": m, "instruments": ["MOOD"], "window_hours": 12}
    for m in (30, 60, 90)
]


def wait_for(condition, *, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(autouse=True)
def instruments():
    """A transactional test's database is flushed after it: load the instruments again."""
    instruments_sync()


@pytest.fixture
def broker():
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def processes(broker):
    started: list[subprocess.Popen] = []
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "AFTERGLOW_CHANNEL_OVERRIDES": "console=tests.channels.RecordingChannel",
        "AFTERGLOW_DEFAULT_CHANNELS": "console",
        "AFTERGLOW_STALE_CLAIM_SECONDS": "3",
        "AFTERGLOW_REQUEUE_AFTER_SECONDS": "3",
    }

    def start(kind: str, name: str, **extra_env) -> subprocess.Popen:
        if kind == "worker":
            args = [
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                "2",
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ]
        else:
            args = [
                "beat",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--loglevel",
                "WARNING",
                "--max-interval",
                "1",
            ]
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env={**env, **extra_env},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def kill_hard(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def due_reminders(patients: int) -> int:
    """`patients` patients whose infusion ended 2 hours ago, each with 3 due reminders."""
    clinic = ClinicFactory()
    plan = cadence_plan_create(clinic=clinic, name="Test minutes", steps=STEPS)
    now = timezone.now()
    for _ in range(patients):
        patient = PatientFactory(clinic=clinic)
        patient_preference_update(patient=patient, cadence_plan=plan)
        infusion = infusion_schedule(patient=patient, scheduled_at=now - timedelta(hours=3))
        infusion_update(
            infusion=infusion,
            started_at=now - timedelta(hours=3),
            ended_at=now - timedelta(hours=2),
        )
    count = Reminder.objects.filter(status=ReminderStatus.PENDING, due_at__lte=now).count()
    assert count == patients * len(STEPS)
    return count


def beat_every(seconds: int) -> None:
    every, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name="dispatch due reminders",
        defaults={"task": "notifications.dispatch_due", "interval": every, "enabled": True},
    )


def sends(broker) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in broker.hgetall(SENDS_KEY).items()}


def all_delivered(expected: int):
    return lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == expected


def test_due_reminders_go_out_exactly_once_with_two_workers_and_racing_beats(processes, broker):
    expected = due_reminders(patients=20)
    beat_every(1)
    processes("worker", "w1")
    processes("worker", "w2")
    processes("beat", "b1")
    processes("beat", "b2")
    # And two more ticks fired at the same moment, racing the beats.
    dispatch_due.delay()
    dispatch_due.delay()
    wait_for(all_delivered(expected), timeout=90, what=f"{expected} deliveries")
    counts = sends(broker)
    assert len(counts) == expected
    assert set(counts.values()) == {1}, "a reminder was sent more than once"
    assert Reminder.objects.filter(status=ReminderStatus.SENT).count() == expected
    assert Delivery.objects.count() == expected


def test_a_worker_killed_mid_dispatch_loses_no_reminder(processes, broker):
    expected = due_reminders(patients=10)
    beat_every(1)
    victim = processes("worker", "victim", AFTERGLOW_TEST_CHANNEL_DELAY_MS="300")
    processes("beat", "b1")
    wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.DELIVERED).exists(),
        timeout=60,
        what="the first delivery",
    )
    in_flight = Delivery.objects.exclude(status=DeliveryStatus.DELIVERED).count()
    assert in_flight > 0, "the worker finished before it could be killed"
    kill_hard(victim)
    processes("worker", "survivor")
    wait_for(all_delivered(expected), timeout=120, what=f"all {expected} deliveries after the kill")
    counts = sends(broker)
    assert len(counts) == expected, "a reminder was lost"
    # A send the provider took but the dead worker never recorded may go out again: at
    # most one per process slot of the killed worker (its concurrency is 2).
    assert sum(counts.values()) - expected <= 2
    assert not Reminder.objects.filter(status=ReminderStatus.PENDING).exists()
