"""Benchmarks for the reminder engine (issue 3): planning, dispatching and sending.

    .venv/bin/python -m bench.reminders [--infusions 10000] [--reminders 100000] [--batch 500]

Runs in one process against its own PostgreSQL database, afterglow_bench (created if
missing, migrated, its tables truncated at start so repeated runs are comparable). It
never connects to the afterglow or test_afterglow databases. Seeding is timed separately
and is not part of any measured figure. Wall-clock times are time.perf_counter around the
real services, called as production calls them; "db" times are the time spent inside
cursor.execute (round trip to PostgreSQL), measured by a counting execute_wrapper that
logs nothing. Query counts per call or per batch come from CaptureQueriesContext on small
samples run outside the timed loops. Results: a table on stdout and bench/out/reminders.json.
See docs/BENCHMARKS.md.
"""

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

from bench._db import analyze, machine_info, reset_database, setup_django

BENCH_DB = "afterglow_bench"
OUT_DIR = Path(__file__).resolve().parent / "out"
TIMEZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",
)
INFUSIONS_PER_PATIENT = 4
PATIENTS_PER_CLINIC = 250
QUERY_SAMPLE = 50
QUERY_COUNT_BATCHES = (100, 1000)
BATCHES_PER_QUERY_COUNT = 3


# --- measuring --------------------------------------------------------------------------
_TABLE = re.compile(r'(?:FROM|UPDATE|INTO)\s+"(\w+)"')


def query_kind(sql: str) -> str:
    verb = sql.lstrip().split(None, 1)[0].upper()
    match = _TABLE.search(sql)
    if not match:
        return verb  # BEGIN, COMMIT, SAVEPOINT...
    table = match.group(1)
    if verb == "SELECT" and "FOR UPDATE" in sql:
        return f"SELECT FOR UPDATE {table}"
    return f"{verb} {table}"


class QueryMeter:
    """An execute_wrapper: counts queries and the seconds spent in cursor.execute, by kind.
    Stores no SQL, so it can stay on during a timed loop."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.by_kind: dict[str, list] = defaultdict(lambda: [0, 0.0])
        self.claim_seconds: list[float] = []  # each dispatcher claim, in order

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - start
            kind = query_kind(sql)
            self.count += 1
            self.seconds += spent
            self.by_kind[kind][0] += 1
            self.by_kind[kind][1] += spent
            if kind == "SELECT FOR UPDATE notifications_reminder" and "SKIP LOCKED" in sql:
                self.claim_seconds.append(spent)

    def summary(self) -> dict:
        return {
            "queries": self.count,
            "db_seconds": round(self.seconds, 3),
            "by_kind": {
                k: {"queries": n, "db_seconds": round(s, 3)}
                for k, (n, s) in sorted(self.by_kind.items(), key=lambda kv: -kv[1][1])
            },
        }


class Phase:
    """perf_counter around a block, with the query meter on, optionally under cProfile."""

    def __init__(self, name: str, profile: str | None) -> None:
        self.name = name
        self.meter = QueryMeter()
        self.profiler = cProfile.Profile() if profile == name else None
        self.seconds = 0.0

    def __enter__(self):
        from django.db import connection

        self._wrap = connection.execute_wrapper(self.meter)
        self._wrap.__enter__()
        if self.profiler:
            self.profiler.enable()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        if self.profiler:
            self.profiler.disable()
            self._dump_profile()
        self._wrap.__exit__(*exc)
        return False

    def _dump_profile(self) -> None:
        OUT_DIR.mkdir(exist_ok=True)
        path = OUT_DIR / f"reminders-{self.name}.prof"
        self.profiler.dump_stats(str(path))
        buf = io.StringIO()
        stats = pstats.Stats(self.profiler, stream=buf).strip_dirs()
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumulative").print_stats(30)
        print(f"\n--- cProfile of {self.name} (written to {path}) ---\n{buf.getvalue()}")


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- seeding (not measured) -------------------------------------------------------------
def seed_people(*, n_infusions: int, rng: random.Random, now) -> list:
    """Clinics, patient accounts, patients, each clinic's default plan, and completed
    infusions that ended between 2 hours and 27 days ago (so steps are due, open or ahead).
    Synthetic names only."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import Clinic
    from notifications.services.plan_store import default_plan_ensure
    from outcomes.models import Infusion, InfusionStatus, Patient

    user_model = get_user_model()
    n_patients = max(1, -(-n_infusions // INFUSIONS_PER_PATIENT))
    n_clinics = max(1, -(-n_patients // PATIENTS_PER_CLINIC))
    clinics = Clinic.objects.bulk_create(
        Clinic(name=f"Bench Clinic {i}", slug=f"bench-clinic-{i}", timezone=TIMEZONES[i % 6])
        for i in range(n_clinics)
    )
    users = user_model.objects.bulk_create(
        (
            user_model(username=f"bench-patient-{i}", password=make_password(None))
            for i in range(n_patients)
        ),
        batch_size=2000,
    )
    patients = Patient.objects.bulk_create(
        (
            Patient(
                clinic=clinics[i % n_clinics],
                user=users[i],
                display_name=f"Synthetic Patient {i}",
                timezone=rng.choice(TIMEZONES),
            )
            for i in range(n_patients)
        ),
        batch_size=2000,
    )
    for clinic in clinics:
        default_plan_ensure(clinic=clinic)  # steady state: every clinic has its plan
    infusions = []
    for i in range(n_infusions):
        ended = now - timedelta(minutes=rng.randint(2 * 60, 27 * 24 * 60))
        started = ended - timedelta(minutes=40)
        infusions.append(
            Infusion(
                patient=patients[i % n_patients],
                status=InfusionStatus.COMPLETED,
                scheduled_at=started - timedelta(minutes=rng.randint(0, 30)),
                started_at=started,
                ended_at=ended,
            )
        )
    return Infusion.objects.bulk_create(infusions, batch_size=2000)


def seed_due_reminders(*, infusions: list, count: int, prefix: str, now, rng) -> int:
    """`count` pending reminders due in the last 6 hours whose windows close 1-24 hours from
    now, spread over the given infusions (one step key per pass over them)."""
    from notifications.models import CadencePlan, Reminder

    plan_of = dict(CadencePlan.objects.filter(is_default=True).values_list("clinic_id", "id"))
    clinic_of = {inf.id: inf.patient.clinic_id for inf in infusions}  # select_related
    rows = []
    n = len(infusions)
    for i in range(count):
        inf = infusions[i % n]
        rows.append(
            Reminder(
                patient_id=inf.patient_id,
                infusion_id=inf.id,
                plan_id=plan_of[clinic_of[inf.id]],
                plan_version=1,
                step_key=f"{prefix}-{i // n}",
                instruments=["MOOD"],
                due_at=now - timedelta(minutes=rng.randint(1, 6 * 60)),
                window_closes_at=now + timedelta(minutes=rng.randint(60, 24 * 60)),
                nudges_left=1,
                nudge_interval_minutes=240,
            )
        )
    Reminder.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


# --- the measurements -------------------------------------------------------------------
def measure_planning(*, infusions: list, sample: list, now, profile) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.models import Reminder
    from notifications.services.reminders import reminders_plan_for_infusion

    # Query counts on infusions that are not in the timed set (first planning of each).
    first_counts, first_kinds = [], None
    for inf in sample:
        with CaptureQueriesContext(connection) as ctx:
            reminders_plan_for_infusion(infusion=inf, now=now)
        first_counts.append(len(ctx.captured_queries))
        first_kinds = first_kinds or [query_kind(q["sql"]) for q in ctx.captured_queries]
    replan_counts = []
    for inf in sample:
        with CaptureQueriesContext(connection) as ctx:
            reminders_plan_for_infusion(infusion=inf, now=now)
        replan_counts.append(len(ctx.captured_queries))
    before = Reminder.objects.count()

    created = 0
    with Phase("plan", profile) as phase:
        for inf in infusions:
            created += len(reminders_plan_for_infusion(infusion=inf, now=now).created)
    assert Reminder.objects.count() - before == created

    untouched = 0
    with Phase("replan", profile) as rephase:
        for inf in infusions:
            diff = reminders_plan_for_infusion(infusion=inf, now=now)
            assert not (diff.created or diff.moved or diff.cancelled), "re-plan changed rows"
            untouched += len(diff.untouched)

    n = len(infusions)
    return {
        "plan": {
            "infusions": n,
            "seconds": round(phase.seconds, 3),
            "infusions_per_s": round(n / phase.seconds, 1),
            "ms_per_infusion": round(1000 * phase.seconds / n, 3),
            "reminders_created": created,
            "queries_per_infusion_sample": sorted(set(first_counts)),
            "query_sample_size": len(sample),
            "queries_of_one_call": first_kinds,
            **phase.meter.summary(),
        },
        "replan_unchanged": {
            "infusions": n,
            "seconds": round(rephase.seconds, 3),
            "infusions_per_s": round(n / rephase.seconds, 1),
            "ms_per_infusion": round(1000 * rephase.seconds / n, 3),
            "reminders_untouched": untouched,
            "queries_per_infusion_sample": sorted(set(replan_counts)),
            **rephase.meter.summary(),
        },
    }


TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})


def batch_query_counts(captured: list[dict]) -> dict:
    """Split a captured dispatcher tick at each claim (SELECT ... FOR UPDATE SKIP LOCKED).
    SQL statements before the first claim are the tick's fixed cost; a claim followed by
    more SQL is a batch, a claim alone found nothing. BEGIN/COMMIT are counted apart."""
    segments: list[list[str]] = [[]]
    control = 0
    for q in captured:
        kind = query_kind(q["sql"])
        if kind in TRANSACTION_CONTROL:
            control += 1
            continue
        if "SKIP LOCKED" in q["sql"]:
            segments.append([])
        segments[-1].append(kind)
    head, claims = segments[0], segments[1:]
    batches = [b for b in claims if len(b) > 1]
    return {
        "total_statements": len(captured),
        "transaction_control_statements": control,
        "sql_before_first_claim": head,
        "empty_claims": len(claims) - len(batches),
        "batches": len(batches),
        "sql_queries_per_batch": [len(b) for b in batches],
        "queries_of_one_batch": batches[0] if batches else [],
    }


def measure_dispatch(*, now, batch_size: int, profile) -> tuple[dict, list[str]]:
    from notifications.services.dispatch import reminders_dispatch_due

    collected: list[str] = []

    def collect(ids: list[str]) -> None:
        collected.extend(ids)  # no Celery: the send task is measured separately

    with Phase("dispatch", profile) as phase:
        report = reminders_dispatch_due(now=now, batch_size=batch_size, enqueue=collect)
    claims = phase.meter.claim_seconds
    k = min(10, len(claims))
    out = {
        "batch_size": batch_size,
        "seconds": round(phase.seconds, 3),
        "reminders_sent": report.sent,
        "reminders_per_s": round(report.sent / phase.seconds, 1),
        "deliveries_written": report.deliveries,
        "deliveries_enqueued": len(collected),
        "batches": report.batches,
        "missed": report.missed,
        "paused": report.paused,
        "ms_per_batch": round(1000 * phase.seconds / max(report.batches, 1), 2),
        # Minus the expiry UPDATE and the claims that found nothing (one per pass).
        "queries_per_batch_avg": round(
            (phase.meter.count - 1 - (len(claims) - report.batches)) / max(report.batches, 1), 2
        ),
        "claim_ms_first_10": round(1000 * sum(claims[:k]) / max(k, 1), 2),
        "claim_ms_last_10": round(1000 * sum(claims[-k:]) / max(k, 1), 2),
        **phase.meter.summary(),
    }
    return out, collected


def measure_dispatch_query_counts(*, infusions: list, now, rng) -> dict:
    """For each batch size, seed exactly three batches of due reminders and capture every
    query of one dispatcher tick."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.services.dispatch import reminders_dispatch_due

    out = {}
    for size in QUERY_COUNT_BATCHES:
        seed_due_reminders(
            infusions=infusions,
            count=size * BATCHES_PER_QUERY_COUNT,
            prefix=f"qc{size}",
            now=now,
            rng=rng,
        )
        analyze()
        meter = QueryMeter()
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(meter):
            report = reminders_dispatch_due(now=now, batch_size=size, enqueue=lambda ids: None)
        seconds = time.perf_counter() - start
        counts = batch_query_counts(ctx.captured_queries)
        counts["reminders_sent"] = report.sent
        counts["seconds_with_query_capture"] = round(seconds, 3)
        counts["ms_per_reminder_with_query_capture"] = round(1000 * seconds / report.sent, 3)
        # The claim's bulk_update (one UPDATE ... CASE WHEN per batch): its database time
        # per row shows whether a batch's cost grows faster than its size.
        _, update_s = meter.by_kind["UPDATE notifications_reminder"]
        counts["bulk_update_db_ms_per_reminder"] = round(1000 * update_s / report.sent, 4)
        counts["db_by_kind"] = meter.summary()["by_kind"]
        out[str(size)] = counts
    return out


def measure_sending(*, delivery_ids: list[str], count: int, profile) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.services.delivery import delivery_send

    timed = delivery_ids[:count]
    sample = delivery_ids[count : count + QUERY_SAMPLE]
    reminder_log = logging.getLogger("afterglow.reminders")
    old_level = reminder_log.level
    reminder_log.setLevel(logging.ERROR)  # the console channel logs one line per send
    try:
        outcomes: Counter = Counter()
        with Phase("send", profile) as phase:
            for delivery_id in timed:
                outcomes[delivery_send(delivery_id=delivery_id)] += 1
        sample_counts = []
        for delivery_id in sample:
            with CaptureQueriesContext(connection) as ctx:
                delivery_send(delivery_id=delivery_id)
            sample_counts.append(len(ctx.captured_queries))
    finally:
        reminder_log.setLevel(old_level)
    n = len(timed)
    return {
        "deliveries": n,
        "channel": "console",
        "seconds": round(phase.seconds, 3),
        "deliveries_per_s": round(n / phase.seconds, 1),
        "ms_per_delivery": round(1000 * phase.seconds / max(n, 1), 3),
        "outcomes": dict(outcomes),
        "queries_per_delivery_sample": sorted(set(sample_counts)),
        **phase.meter.summary(),
    }


# --- report -----------------------------------------------------------------------------
def print_table(results: dict) -> None:
    p, r = results["planning"]["plan"], results["planning"]["replan_unchanged"]
    d, s = results["dispatch"], results["sending"]
    qc = results["dispatch_query_counts"]
    rows = [
        ("measurement", "items", "seconds", "items/s", "queries", "db s"),
        (
            "plan (first time)",
            p["infusions"],
            p["seconds"],
            p["infusions_per_s"],
            p["queries"],
            p["db_seconds"],
        ),
        (
            "re-plan (no change)",
            r["infusions"],
            r["seconds"],
            r["infusions_per_s"],
            r["queries"],
            r["db_seconds"],
        ),
        (
            f"dispatch (batch {d['batch_size']})",
            d["reminders_sent"],
            d["seconds"],
            d["reminders_per_s"],
            d["queries"],
            d["db_seconds"],
        ),
        (
            "send (console)",
            s["deliveries"],
            s["seconds"],
            s["deliveries_per_s"],
            s["queries"],
            s["db_seconds"],
        ),
    ]
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        print(
            "  ".join(
                str(v).rjust(w) if i else str(v).ljust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()
    print(
        f"planning: {p['reminders_created']} reminders created; queries per infusion "
        f"{p['queries_per_infusion_sample']} (first plan), "
        f"{r['queries_per_infusion_sample']} (re-plan), sample of {p['query_sample_size']}"
    )
    print(
        f"dispatch: {d['deliveries_written']} deliveries in {d['batches']} batches, "
        f"{d['ms_per_batch']} ms/batch; claim query {d['claim_ms_first_10']} ms (first 10) "
        f"vs {d['claim_ms_last_10']} ms (last 10)"
    )
    for size, c in qc.items():
        print(
            f"dispatch queries, batch {size}: SQL per batch {c['sql_queries_per_batch']}, "
            f"{len(c['sql_before_first_claim'])} before the first claim, "
            f"{c['empty_claims']} empty claims, {c['transaction_control_statements']} "
            f"BEGIN/COMMIT, {c['total_statements']} statements in all; "
            f"{c['ms_per_reminder_with_query_capture']} ms/reminder, of which UPDATE (db) "
            f"{c['bulk_update_db_ms_per_reminder']} ms"
        )
    print(f"send: queries per delivery {s['queries_per_delivery_sample']}")
    print(f"seeding: {results['seeding']}")
    print(f"peak RSS: {results['peak_rss_mb']} MB (after phase: {results['rss_after_phase_mb']})")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__)
    parser.add_argument("--infusions", type=int, default=10_000)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--sends", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--profile",
        choices=("plan", "replan", "dispatch", "send"),
        help="run that phase under cProfile (its figures are then inflated; do not quote them)",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "reminders.json")
    args = parser.parse_args(argv)

    setup_django(BENCH_DB)
    from django.conf import settings
    from django.utils import timezone

    # Import every measured service now, so a broken import fails before the long seeding.
    import notifications.services.delivery
    import notifications.services.dispatch
    import notifications.services.reminders  # noqa: F401
    from notifications.channels import reset_channels
    from outcomes.models import Infusion

    # Every patient falls back to the console channel (no preferences, no clinic channels).
    settings.AFTERGLOW_DEFAULT_CHANNELS = ["console"]
    reset_channels()
    rng = random.Random(args.seed)
    rss: dict[str, float] = {}
    seeding: dict[str, float] = {}

    start = time.perf_counter()
    reset_database()
    seeding["reset_migrate_instruments_s"] = round(time.perf_counter() - start, 2)

    now = timezone.now()
    start = time.perf_counter()
    seed_people(n_infusions=args.infusions + QUERY_SAMPLE, rng=rng, now=now)
    analyze()
    seeding["people_and_infusions_s"] = round(time.perf_counter() - start, 2)
    all_infusions = list(Infusion.objects.select_related("patient").order_by("created_at", "id"))
    timed, sample = all_infusions[: args.infusions], all_infusions[args.infusions :]
    rss["seed"] = peak_rss_mb()

    planning = measure_planning(infusions=timed, sample=sample, now=now, profile=args.profile)
    rss["plan"] = peak_rss_mb()

    # Dispatch: exactly --reminders due rows, nothing left from planning.
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE notifications_reminder, notifications_delivery CASCADE")
    now = timezone.now()
    start = time.perf_counter()
    seed_due_reminders(infusions=timed, count=args.reminders, prefix="bench", now=now, rng=rng)
    analyze()
    seeding["due_reminders_s"] = round(time.perf_counter() - start, 2)
    rss["seed_reminders"] = peak_rss_mb()

    dispatch, delivery_ids = measure_dispatch(now=now, batch_size=args.batch, profile=args.profile)
    rss["dispatch"] = peak_rss_mb()

    sending = measure_sending(delivery_ids=delivery_ids, count=args.sends, profile=args.profile)
    rss["send"] = peak_rss_mb()

    query_counts = measure_dispatch_query_counts(infusions=timed, now=timezone.now(), rng=rng)

    results = {
        "command": " ".join([".venv/bin/python -m bench.reminders", *sys.argv[1:]]),
        "profiled_phase": args.profile,
        "machine": machine_info(),
        "settings_module": os.environ["DJANGO_SETTINGS_MODULE"],
        "database": BENCH_DB,
        "sizes": {
            "infusions": args.infusions,
            "reminders": args.reminders,
            "batch": args.batch,
            "sends": args.sends,
        },
        "seeding": seeding,
        "planning": planning,
        "dispatch": dispatch,
        "dispatch_query_counts": query_counts,
        "sending": sending,
        "rss_after_phase_mb": rss,
        "peak_rss_mb": peak_rss_mb(),
    }
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {args.out}")
    return results


if __name__ == "__main__":
    main()
