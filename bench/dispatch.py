"""The dispatcher at clinic-network scale (issue 6): real Celery workers and a real beat.

    .venv/bin/python -m bench.dispatch                      # 1/2/4 workers, lateness, kill
    .venv/bin/python -m bench.dispatch --modes burst --workers 2      # one burst only
    .venv/bin/python -m bench.dispatch --million            # worker RSS over 1,000,000
    .venv/bin/python -m bench.dispatch --profile-worker     # cProfile of one real worker

Uses its own PostgreSQL database, afterglow_bench_dispatch (created if missing, migrated,
truncated at start), and its own Redis database, redis://127.0.0.1:6379/9 (flushed before
each run). It never touches afterglow, the test databases or another benchmark's database.

What runs is the production machinery, unchanged: `celery -A config worker` processes (each
`--pool prefork -c 1`: one broker consumer and one child per worker process, so "N workers"
is N independent consumers and SIGKILL of one is a whole worker dying) and one
`celery -A config beat` with django-celery-beat's DatabaseScheduler and the production
schedule written by config/periodic.py (dispatch every 60 s). Workers and beat run with
config.settings.production (a throwaway secret key, DATABASE_CONN_MAX_AGE at its production
default of 60). The only substitution is the channel: patients have a push device, the
default channel is push, and AFTERGLOW_CHANNEL_OVERRIDES points push at BenchChannel below,
which does no network I/O and records (reminder id, wall-clock time, pid) in a Redis list
the moment the message is handed to it. Seeding (bulk_create and COPY) is not timed.

Results: a table on stdout and bench/out/dispatch.json (dispatch-million.json); worker
logs in bench/out/dispatch-logs/. See docs/BENCHMARKS.md.
"""

import argparse
import io
import json
import os
import pstats
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

from notifications.channels import Channel, Message, Target

BENCH_DB = "afterglow_bench_dispatch"
BROKER_URL = "redis://127.0.0.1:6379/9"
HANDED_KEY = "afterglow:bench:handed"
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = Path(__file__).resolve().parent / "out"
LOG_DIR = OUT_DIR / "dispatch-logs"
PATIENTS_PER_CLINIC = 500
TIMEZONES = ("America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney")


class BenchChannel(Channel):
    """Push, minus the network: records the hand-over in Redis (one RPUSH) and returns."""

    name = "push"
    targets = frozenset({Target.DEVICE})

    def __init__(self):
        import redis

        self._redis = redis.Redis.from_url(os.environ.get("AFTERGLOW_BENCH_RECORD_URL", BROKER_URL))

    def send(self, delivery, message: Message) -> str:
        self._redis.rpush(HANDED_KEY, f"{delivery.reminder_id} {time.time():.6f} {os.getpid()}")
        return f"bench-{delivery.id}"


# --- processes --------------------------------------------------------------------------
def worker_env(*, stale_claim: int, requeue_after: int, visibility: int) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AFTERGLOW_", "CELERY_", "DJANGO_", "DATABASE_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_VISIBILITY_TIMEOUT": str(visibility),
            "AFTERGLOW_CHANNEL_OVERRIDES": "push=bench.dispatch.BenchChannel",
            "AFTERGLOW_DEFAULT_CHANNELS": "push",
            "AFTERGLOW_STALE_CLAIM_SECONDS": str(stale_claim),
            "AFTERGLOW_REQUEUE_AFTER_SECONDS": str(requeue_after),
            "AFTERGLOW_BENCH_RECORD_URL": BROKER_URL,
        }
    )
    return env


class Fleet:
    """The worker and beat processes of one run; every one is stopped at the end."""

    def __init__(self, run: str, env: dict) -> None:
        self.run, self.env = run, env
        self.workers: dict[str, subprocess.Popen] = {}
        self.beat: subprocess.Popen | None = None
        self.beat_started_at = 0.0
        LOG_DIR.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, args: list[str], prefix: list[str] | None = None):
        log = LOG_DIR / f"{self.run}-{name}.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [*(prefix or [sys.executable]), "-m", "celery", "-A", "config", *args],
                cwd=ROOT,
                env=self.env,
                start_new_session=True,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        return proc, log

    def start_workers(self, n: int, *, pool: str = "prefork", prefix=None) -> None:
        logs = []
        for i in range(1, n + 1):
            name = f"w{i}"
            args = ["worker", "--pool", pool, "-n", f"{name}@%h", "--loglevel", "INFO"]
            if pool == "prefork":
                args[3:3] = ["-c", "1"]
            proc, log = self._spawn(name, args, prefix)
            self.workers[name] = proc
            logs.append((name, log))
        deadline = time.monotonic() + 120
        for name, log in logs:
            while " ready." not in log.read_text():
                if self.workers[name].poll() is not None:
                    raise SystemExit(f"worker {name} exited; see {log}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"worker {name} not ready after 120 s; see {log}")
                time.sleep(0.2)

    def ticks(self) -> list[float]:
        """Wall-clock times at which beat sent the dispatch tick, from its log."""
        out = []
        for line in (LOG_DIR / f"{self.run}-beat.log").read_text().splitlines():
            if "Sending due task dispatch due reminders" in line:
                stamp, ms = line[:23].split(",")
                out.append(time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1e3)
        return out

    def start_beat(self) -> float:
        args = [
            "beat",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--loglevel",
            "INFO",
        ]
        self.beat_started_at = time.time()
        self.beat, log = self._spawn("beat", args)
        deadline = time.monotonic() + 120
        while "beat: Starting..." not in log.read_text():
            if self.beat.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"beat did not start; see {log}")
            time.sleep(0.2)
        return self.beat_started_at

    def kill(self, name: str) -> None:
        """SIGKILL the worker's whole process group: the consumer and its child."""
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def pids(self) -> dict[str, list[int]]:
        """Each live worker's main pid and its pool children."""
        out = {}
        for name, proc in self.workers.items():
            if proc.poll() is None:
                out[name] = [proc.pid, *children_of(proc.pid)]
        return out

    def stop(self) -> None:
        procs = [p for p in (*self.workers.values(), self.beat) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.workers.clear()
        self.beat = None


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# --- seeding (not measured) -------------------------------------------------------------
def seed_people(*, patients: int, rng: random.Random) -> None:
    """Clinics, patient accounts, patients with one push device each, one completed infusion
    per patient, each clinic's default plan. Synthetic names and tokens only."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from accounts.models import Clinic
    from notifications.models import Device, Platform
    from notifications.services.plan_store import default_plan_ensure
    from outcomes.models import Infusion, InfusionStatus, Patient

    user_model = get_user_model()
    now = timezone.now()
    n_clinics = max(1, -(-patients // PATIENTS_PER_CLINIC))
    clinics = Clinic.objects.bulk_create(
        Clinic(name=f"Bench Clinic {i}", slug=f"bench-clinic-{i}", timezone=TIMEZONES[i % 4])
        for i in range(n_clinics)
    )
    unusable = make_password(None)
    users = user_model.objects.bulk_create(
        (user_model(username=f"bench-patient-{i}", password=unusable) for i in range(patients)),
        batch_size=5000,
    )
    people = Patient.objects.bulk_create(
        (
            Patient(
                clinic=clinics[i % n_clinics],
                user=users[i],
                display_name=f"Synthetic Patient {i}",
                timezone=rng.choice(TIMEZONES),
            )
            for i in range(patients)
        ),
        batch_size=5000,
    )
    for clinic in clinics:
        default_plan_ensure(clinic=clinic)
    Infusion.objects.bulk_create(
        (
            Infusion(
                patient=p,
                status=InfusionStatus.COMPLETED,
                scheduled_at=now - timedelta(days=2, minutes=40),
                started_at=now - timedelta(days=2, minutes=40),
                ended_at=now - timedelta(days=2),
            )
            for p in people
        ),
        batch_size=5000,
    )
    tokens = (f"bench-token-{uuid.uuid4().hex}" for _ in people)
    Device.objects.bulk_create(
        (
            Device(
                patient=p,
                push_token=t,
                push_token_digest=sha256(t.encode()).hexdigest(),
                platform=Platform.ANDROID,
            )
            for p, t in zip(people, tokens, strict=False)
        ),
        batch_size=5000,
    )


def infusion_rows() -> list[tuple]:
    """(infusion id, patient id, plan id, plan version) for every seeded infusion."""
    from notifications.models import CadencePlan
    from outcomes.models import Infusion

    plan_of = {
        clinic_id: (plan_id, version)
        for clinic_id, plan_id, version in CadencePlan.objects.filter(is_default=True).values_list(
            "clinic_id", "id", "version"
        )
    }
    return [
        (i, p, *plan_of[c])
        for i, p, c in Infusion.objects.values_list("id", "patient_id", "patient__clinic_id")
    ]


def copy_reminders(*, infusions: list[tuple], count: int, label: str, due_at) -> None:
    """`count` pending reminders (COPY), due at `due_at(i)`, window open for a day, one nudge
    four hours later (it never fires during a run). Step keys `label-k` keep them unique."""
    from django.db import connection

    now = datetime.now(UTC)
    n = len(infusions)
    connection.ensure_connection()
    columns = (
        "id, patient_id, infusion_id, plan_id, plan_version, step_key, instruments, due_at, "
        "window_closes_at, status, nudges_left, nudges_sent, nudge_interval_minutes, "
        "created_at, updated_at"
    )
    sql = f"COPY notifications_reminder ({columns}) FROM STDIN"
    with connection.connection.cursor() as cur, cur.copy(sql) as copy:
        for i in range(count):
            inf, patient, plan, version = infusions[i % n]
            due = due_at(i)
            copy.write_row(
                (
                    uuid.uuid4(),
                    patient,
                    inf,
                    plan,
                    version,
                    f"{label}-{i // n}",
                    '["MOOD"]',
                    due,
                    due + timedelta(hours=24),
                    "pending",
                    1,
                    0,
                    240,
                    now,
                    now,
                )
            )
    connection.connection.commit()


def reset_run(*, broker) -> None:
    """Empty reminders, deliveries and the broker; write the production beat schedule with
    the dispatch tick's last run a minute ago, so beat's first tick is at its start (with
    no last run, django-celery-beat waits a full interval from the row's creation)."""
    from django.db import connection
    from django_celery_beat.models import PeriodicTask

    from config.periodic import periodic_tasks_setup

    with connection.cursor() as cur:
        cur.execute("TRUNCATE notifications_delivery, notifications_reminder")
    periodic_tasks_setup()
    PeriodicTask.objects.filter(task="notifications.dispatch_due").update(
        last_run_at=datetime.now(UTC) - timedelta(seconds=61), total_run_count=0
    )
    broker.flushdb()


def due_counts() -> tuple[int, int]:
    """(pending reminders, deliveries not yet delivered)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM notifications_reminder WHERE status = 'pending'")
        pending = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM notifications_delivery WHERE status <> 'delivered'")
        undelivered = cur.fetchone()[0]
    return pending, undelivered


# --- analysis ---------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def read_handed(broker) -> list[tuple[str, float, int]]:
    out = []
    for raw in broker.lrange(HANDED_KEY, 0, -1):
        rid, ts, pid = raw.decode().split()
        out.append((rid, float(ts), int(pid)))
    return out


def analyse(*, handed, t0: float, expected: int) -> dict:
    from notifications.models import Delivery, DeliveryStatus, Reminder

    due = {str(r): d.timestamp() for r, d in Reminder.objects.values_list("id", "due_at")}
    counts = Counter(rid for rid, _, _ in handed)
    first: dict[str, float] = {}
    for rid, ts, _ in handed:
        if rid not in first or ts < first[rid]:
            first[rid] = ts
    lateness = [first[r] - due[r] for r in first if r in due]
    times = sorted(first.values())
    per_delivery = Counter(
        Delivery.objects.values_list("reminder_id", flat=True).order_by().distinct()
    )
    span = (times[-1] - t0) if times else float("nan")
    return {
        "expected": expected,
        "handed_total": len(handed),
        "reminders_handed": len(first),
        "missing": expected - len(first),
        "duplicates": sum(c - 1 for c in counts.values() if c > 1),
        "reminders_handed_twice_or_more": sum(1 for c in counts.values() if c > 1),
        "delivery_rows": Delivery.objects.count(),
        "delivery_rows_delivered": Delivery.objects.filter(status=DeliveryStatus.DELIVERED).count(),
        "reminders_with_delivery_row": len(per_delivery),
        "first_handed_s": round(times[0] - t0, 2) if times else None,
        "last_handed_s": round(span, 2),
        "per_s_from_beat_start": round(len(first) / span, 1) if times else None,
        "per_s_first_to_last": (
            round(len(first) / (times[-1] - times[0]), 1) if len(times) > 1 else None
        ),
        "handed_by_pid": dict(Counter(str(pid) for _, _, pid in handed)),
        "lateness_s": {
            "p50": round(pct(lateness, 50), 2),
            "p90": round(pct(lateness, 90), 2),
            "p99": round(pct(lateness, 99), 2),
            "max": round(max(lateness), 2) if lateness else None,
            "min": round(min(lateness), 2) if lateness else None,
        },
    }


# --- the runs ---------------------------------------------------------------------------
def run_once(
    *,
    mode: str,
    workers: int,
    count: int,
    spread: int,
    infusions,
    broker,
    env: dict,
    kill_at: float | None = None,
    deadline_s: int = 1800,
) -> dict:
    """One run: start `workers`, seed `count` reminders, start beat, wait until every
    reminder has been handed to the channel and every delivery row is delivered."""
    reset_run(broker=broker)
    run = f"{mode}-{workers}w" + ("-kill" if kill_at else "")
    fleet = Fleet(run, env)
    samples, progress = [], []
    killed: dict = {}
    try:
        start = time.perf_counter()
        fleet.start_workers(workers)
        workers_ready_s = round(time.perf_counter() - start, 1)
        # Beat runs from before the reminders exist, as in production: its first tick (at
        # its start) finds nothing; the next ones come every 60 s.
        fleet.start_beat()
        t_seed = time.time()
        start = time.perf_counter()
        if mode == "spread":
            rng = random.Random(7)
            offsets = [rng.uniform(0, spread) for _ in range(count)]
            base = datetime.fromtimestamp(t_seed + 10, UTC)
            copy_reminders(
                infusions=infusions,
                count=count,
                label="s",
                due_at=lambda i: base + timedelta(seconds=offsets[i]),
            )
        else:
            base = datetime.fromtimestamp(t_seed, UTC)
            copy_reminders(infusions=infusions, count=count, label="b", due_at=lambda i: base)
        seeded_at = time.time()  # committed: a tick from now on may find them
        from bench._db import analyze

        analyze()
        seed_s = round(seeded_at - t_seed, 1)
        t0 = seeded_at  # replaced by the first tick after seeding, for a burst
        deadline = time.monotonic() + deadline_s
        last_rss = 0.0
        while True:
            time.sleep(1)
            now = time.time()
            handed = broker.llen(HANDED_KEY)
            distinct = handed  # refined at the end; good enough to decide when to look
            progress.append((round(now - t0, 1), handed))
            if kill_at and not killed and handed >= kill_at * count:
                victim = "w1"
                killed = {
                    "worker": victim,
                    "at": time.time(),
                    "handed_before_kill": handed,
                    "pending_reminders": due_counts()[0],
                }
                fleet.kill(victim)
            if now - last_rss >= 5:
                last_rss = now
                samples.append(
                    {
                        "t": round(now - t0, 1),
                        "rss_mb": {
                            str(pid): rss_mb(pid) for pids in fleet.pids().values() for pid in pids
                        },
                    }
                )
            if distinct >= count:
                pending, undelivered = due_counts()
                if pending == 0 and undelivered == 0:
                    handed_list = read_handed(broker)
                    if len({r for r, _, _ in handed_list}) >= count:
                        break
            if time.monotonic() > deadline:
                print(f"  {run}: deadline reached with {handed} of {count} handed")
                break
        # CPU used by the worker processes (consumers and pool children), a figure the
        # neighbours' load inflates far less than wall-clock time. PostgreSQL's share is not
        # in it: the workers' backends are replaced every CONN_MAX_AGE seconds.
        workers_cpu = sum(cpu_seconds(p) for pids in fleet.pids().values() for p in pids)
        cpu = {
            "workers_s": round(workers_cpu, 1),
            "ms_per_reminder": round(1000 * workers_cpu / count, 3),
        }
        ticks = [t for t in fleet.ticks() if t > seeded_at]
        if mode != "spread" and ticks:
            t0 = ticks[0]
        finished_s = round(time.time() - t0, 2)
    finally:
        fleet.stop()
    result = analyse(handed=read_handed(broker), t0=t0, expected=count)
    result["ticks_after_seeding_s"] = [round(t - t0, 1) for t in ticks]
    result["cpu"] = cpu
    result.update(
        {
            "run": run,
            "mode": mode,
            "workers": workers,
            "spread_s": spread if mode == "spread" else 0,
            "workers_ready_s": workers_ready_s,
            "seed_s": seed_s,
            "all_delivered_s": finished_s,
            "progress_every_10s": progress[9::10],
            "rss_samples": samples,
        }
    )
    if killed:
        result["kill"] = killed
        at = killed.pop("at")
        killed["at_s"] = round(at - t0, 2)
        last = max(ts for _, ts, _ in read_handed(broker))
        result["kill"]["all_handed_s_after_kill"] = round(last - at, 2)
        # The rows the dead worker had claimed: sent again once the reaper found them stale.
        from django.db.models import Max

        from notifications.models import Delivery

        retried = Delivery.objects.filter(attempts__gt=1)
        result["kill"]["deliveries_reclaimed"] = retried.count()
        latest = retried.aggregate(at=Max("delivered_at"))["at"]
        result["kill"]["reclaimed_all_handed_s_after_kill"] = (
            round(latest.timestamp() - at, 2) if latest else None
        )
    return result


def print_row(r: dict) -> None:
    lat = r["lateness_s"]
    line = (
        f"{r['run']:<18} {r['workers']:>2}w  {r['expected']:>7}  "
        f"last at {r['last_handed_s']:>7.1f} s  {r['per_s_from_beat_start'] or 0:>7.1f}/s  "
        f"lateness p50 {lat['p50']:>6.1f} p99 {lat['p99']:>6.1f} max {lat['max'] or 0:>6.1f} s  "
        f"missing {r['missing']} dup {r['duplicates']}  "
        f"worker cpu {r['cpu']['ms_per_reminder']} ms/reminder"
    )
    if "kill" in r:
        k = r["kill"]
        line += (
            f"  killed {k['worker']} at {k['at_s']} s, all handed +{k['all_handed_s_after_kill']} s"
        )
    print(line, flush=True)


def run_million(*, total, chunk, workers, infusions, broker, env) -> dict:
    """Keep the workers busy through `total` reminders, seeding `chunk` at a time (due now)
    whenever the beat has claimed the previous chunk, deleting delivered chunks two behind
    so the tables stay bounded. Samples every worker process's RSS every 5 s."""
    from django.db import connection

    reset_run(broker=broker)
    fleet = Fleet(f"million-{workers}w", env)
    samples, chunks = [], []
    counts: Counter = Counter()
    handed = 0
    try:
        fleet.start_workers(workers)
        fleet.start_beat()
        label = 0
        copy_reminders(
            infusions=infusions, count=chunk, label=f"m{label}", due_at=lambda i: datetime.now(UTC)
        )
        seeded = chunk
        t0 = time.time()
        last_rss = 0.0
        deadline = time.monotonic() + 4 * 3600
        while True:
            time.sleep(1)
            while batch := broker.lpop(HANDED_KEY, 20_000):
                for raw in batch:
                    counts[raw.split(b" ", 1)[0]] += 1
                handed += len(batch)
            now = time.time()
            if now - last_rss >= 5:
                last_rss = now
                samples.append(
                    {
                        "t": round(now - t0, 1),
                        "handed": handed,
                        "rss_mb": {
                            f"{name}:{i}": rss_mb(pid)
                            for name, pids in fleet.pids().items()
                            for i, pid in enumerate(pids)
                        },
                    }
                )
            pending, _ = due_counts()
            if pending == 0 and seeded < total:
                chunks.append({"label": label, "claimed_by_s": round(now - t0, 1)})
                with connection.cursor() as cur:
                    old = f"m{label - 2}-%"
                    cur.execute(
                        "DELETE FROM notifications_delivery d USING notifications_reminder r "
                        "WHERE d.reminder_id = r.id AND r.step_key LIKE %s "
                        "AND d.status = 'delivered'",
                        [old],
                    )
                    cur.execute(
                        "DELETE FROM notifications_reminder r WHERE r.step_key LIKE %s AND NOT "
                        "EXISTS (SELECT 1 FROM notifications_delivery d "
                        "WHERE d.reminder_id = r.id)",
                        [old],
                    )
                label += 1
                copy_reminders(
                    infusions=infusions,
                    count=min(chunk, total - seeded),
                    label=f"m{label}",
                    due_at=lambda i: datetime.now(UTC),
                )
                seeded += min(chunk, total - seeded)
                print(
                    f"  {handed:>9} handed at {now - t0:7.1f} s; seeded chunk {label}", flush=True
                )
            if handed >= total and len(counts) >= total:
                break
            if time.monotonic() > deadline:
                print(f"  deadline reached with {handed} of {total} handed")
                break
        end_s = round(time.time() - t0, 1)
    finally:
        fleet.stop()
    return {
        "total": total,
        "chunk": chunk,
        "workers": workers,
        "seconds": end_s,
        "per_s": round(handed / end_s, 1),
        "handed_total": handed,
        "reminders_handed": len(counts),
        "duplicates": sum(c - 1 for c in counts.values() if c > 1),
        "chunks": chunks,
        "rss_samples": samples,
        "rss_summary": rss_summary(samples, warmup_handed=chunk),
    }


def rss_summary(samples: list[dict], *, warmup_handed: int) -> dict:
    """Per process: RSS at start, after warm-up (the first chunk), at the end, and the
    least-squares slope after warm-up in MB per 100,000 reminders handed."""
    out = {}
    for key in samples[-1]["rss_mb"]:
        series = [(s["handed"], s["rss_mb"].get(key)) for s in samples if s["rss_mb"].get(key)]
        if not series:
            continue
        after = [(h, r) for h, r in series if h >= warmup_handed]
        slope = None
        if len(after) >= 3:
            xs = [h / 100_000 for h, _ in after]
            ys = [r for _, r in after]
            slope = round(statistics.linear_regression(xs, ys).slope, 3)
        out[key] = {
            "start_mb": series[0][1],
            "after_warmup_mb": after[0][1] if after else None,
            "end_mb": series[-1][1],
            "max_mb": max(r for _, r in series),
            "slope_mb_per_100k_after_warmup": slope,
        }
    return out


def profile_worker(*, count: int, infusions, broker, env) -> dict:
    """One worker with the solo pool (the task runs in the consumer process), under
    cProfile, through one burst; the profile is written when the worker shuts down."""
    reset_run(broker=broker)
    OUT_DIR.mkdir(exist_ok=True)
    prof = OUT_DIR / "dispatch-worker.prof"
    fleet = Fleet("profile", env)
    try:
        fleet.start_workers(
            1, pool="solo", prefix=[sys.executable, "-m", "cProfile", "-o", str(prof)]
        )
        fleet.start_beat()
        now = datetime.now(UTC)
        copy_reminders(infusions=infusions, count=count, label="p", due_at=lambda i: now)
        t0 = time.time()
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            time.sleep(1)
            if broker.llen(HANDED_KEY) >= count and due_counts() == (0, 0):
                break
        seconds = round(time.time() - t0, 1)
    finally:
        fleet.stop()
    buf = io.StringIO()
    stats = pstats.Stats(str(prof), stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)
    print(buf.getvalue())
    return {"reminders": count, "seconds_under_cprofile": seconds, "profile": str(prof)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument(
        "--modes",
        default="burst,spread,kill",
        help="comma-separated: burst (all due at beat start), spread (due over --spread "
        "seconds after beat start), kill (burst, SIGKILL one worker at --kill-at)",
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts for burst")
    parser.add_argument("--spread", type=int, default=300)
    parser.add_argument("--spread-workers", type=int, default=2)
    parser.add_argument("--kill-at", type=float, default=0.3, help="fraction handed")
    parser.add_argument("--stale-claim-seconds", type=int, default=60)
    parser.add_argument("--requeue-after-seconds", type=int, default=60)
    parser.add_argument("--visibility-timeout", type=int, default=3600)
    parser.add_argument("--million", action="store_true", help="worker RSS over 1M reminders")
    parser.add_argument("--million-total", type=int, default=1_000_000)
    parser.add_argument("--million-chunk", type=int, default=100_000)
    parser.add_argument("--million-workers", type=int, default=2)
    parser.add_argument("--profile-worker", action="store_true")
    parser.add_argument("--profile-reminders", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from bench._db import machine_info, reset_database, setup_django

    setup_django(BENCH_DB)
    import redis

    broker = redis.Redis.from_url(BROKER_URL)
    env = worker_env(
        stale_claim=args.stale_claim_seconds,
        requeue_after=args.requeue_after_seconds,
        visibility=args.visibility_timeout,
    )
    started = time.perf_counter()
    t = time.perf_counter()
    reset_database()
    seed_people(patients=args.patients, rng=random.Random(args.seed))
    infusions = infusion_rows()
    seeding_s = round(time.perf_counter() - t, 1)
    print(f"seeded {args.patients} patients with a device and an infusion in {seeding_s} s")
    results: dict = {
        "command": " ".join([".venv/bin/python -m bench.dispatch", *sys.argv[1:]]),
        "machine": machine_info(),
        "database": BENCH_DB,
        "broker": BROKER_URL,
        "worker_settings": {
            "DJANGO_SETTINGS_MODULE": env["DJANGO_SETTINGS_MODULE"],
            "AFTERGLOW_STALE_CLAIM_SECONDS": args.stale_claim_seconds,
            "AFTERGLOW_REQUEUE_AFTER_SECONDS": args.requeue_after_seconds,
            "CELERY_VISIBILITY_TIMEOUT": args.visibility_timeout,
        },
        "patients": args.patients,
        "seeding_people_s": seeding_s,
        "load_average_at_start": os.getloadavg(),
    }
    if args.profile_worker:
        results["profile"] = profile_worker(
            count=args.profile_reminders, infusions=infusions, broker=broker, env=env
        )
        out = args.out or OUT_DIR / "dispatch-profile.json"
    elif args.million:
        results["million"] = run_million(
            total=args.million_total,
            chunk=args.million_chunk,
            workers=args.million_workers,
            infusions=infusions,
            broker=broker,
            env=env,
        )
        m = results["million"]
        print(
            f"\n{m['handed_total']} handed in {m['seconds']} s ({m['per_s']}/s), "
            f"duplicates {m['duplicates']}"
        )
        for key, s in m["rss_summary"].items():
            print(
                f"  {key:<6} RSS start {s['start_mb']} MB, after warm-up {s['after_warmup_mb']}"
                f" MB, end {s['end_mb']} MB, max {s['max_mb']} MB, slope "
                f"{s['slope_mb_per_100k_after_warmup']} MB per 100k"
            )
        out = args.out or OUT_DIR / "dispatch-million.json"
    else:
        runs = []
        modes = args.modes.split(",")
        common = {"count": args.reminders, "infusions": infusions, "broker": broker, "env": env}
        if "burst" in modes:
            for n in (int(w) for w in args.workers.split(",")):
                runs.append(run_once(mode="burst", workers=n, spread=0, **common))
                print_row(runs[-1])
        if "spread" in modes:
            runs.append(
                run_once(mode="spread", workers=args.spread_workers, spread=args.spread, **common)
            )
            print_row(runs[-1])
        if "kill" in modes:
            runs.append(run_once(mode="burst", workers=2, spread=0, kill_at=args.kill_at, **common))
            print_row(runs[-1])
        results["runs"] = runs
        out = args.out or OUT_DIR / "dispatch.json"
    results["total_wall_s"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"total {results['total_wall_s']} s; written to {out}")
    return results


if __name__ == "__main__":
    main()
