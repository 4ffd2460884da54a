"""Benchmarks for outcomes (issue 4): the clinic's Kaplan-Meier and a patient's trajectory.

    .venv/bin/python -m bench.outcomes [--patients 10000] [--checkins 500000]
        [--trajectory-checkins 2000] [--repeat 20] [--km-repeat 5] [--no-seed] [--profile]

Runs against its own PostgreSQL database, afterglow_bench_outcomes (created if missing,
migrated, its tables truncated at start so repeated runs are comparable). It never
connects to the afterglow, afterglow_bench or test_* databases.

Two processes. The first seeds (timed apart, never part of a measured figure): one clinic
of --patients patients, each with an app account, 1-2 completed infusions and, in all,
--checkins PHQ-9 check-ins (one scored response each, pinned to the loaded PHQ-9 version),
written with COPY; and, in a second clinic so the cohort sizes stay exact, one patient
with --trajectory-checkins check-ins and 8 infusions and one with 20 check-ins. It then
starts a fresh interpreter for the measurements, so that the peak RSS reported is that of
the measuring process (Django + the computation), not of the seeding. `--no-seed` runs
only that second step on the data already there.

Measured: `clinic_cohort` called directly (group_by none and condition, --km-repeat runs,
min and median), the same through GET /api/v1/clinics/{id}/durability/ with DRF's
APIClient (in process: URL routing, middleware, permission checks, serializer, JSON
rendering; no network, no token lookup: force_authenticate), and GET
/api/v1/patients/{id}/trajectory/?instrument=PHQ-9 --repeat times. Query counts come from
an execute_wrapper on one extra untimed call (see QueryLog). Results: a table on stdout and
bench/out/outcomes.json. See docs/BENCHMARKS.md.
"""

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import re
import statistics
import subprocess
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._db import Copier, analyze, machine_info, reset_database, setup_django

BENCH_DB = "afterglow_bench_outcomes"
OUT_DIR = Path(__file__).resolve().parent / "out"
SEED_FILE = OUT_DIR / "outcomes-seed.json"
INSTRUMENT = "PHQ-9"
TRAJECTORY_INFUSIONS = 8
SHORT_TRAJECTORY_CHECKINS = 20
CONDITIONS = (("trd", 0.55), ("anxiety", 0.2), ("ptsd", 0.1), ("bipolar", 0.1), ("", 0.05))


def _proc_status_mb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident set size of this process (VmHWM). Not ru_maxrss: Linux carries that
    over execve, so a child started by the seeding process would report the seeder's."""
    return _proc_status_mb("VmHWM")


def current_rss_mb() -> float:
    return _proc_status_mb("VmRSS")


# --- synthetic trajectories (not measured) ------------------------------------------------
def split_total(total: int, parts: int, *, minimum: int, rng: random.Random) -> list[int]:
    """`parts` counts, each >= minimum, varying +-70% around the mean, summing to `total`."""
    if total < parts * minimum:
        raise SystemExit(f"--checkins must be at least {minimum} per patient")
    weights = [rng.uniform(0.3, 1.7) for _ in range(parts)]
    spare = total - parts * minimum
    scale = spare / sum(weights)
    counts = [minimum + int(w * scale) for w in weights]
    short = total - sum(counts)
    for i in rng.sample(range(parts), short):  # the rounding remainder, one each
        counts[i] += 1
    return counts


def timeline(
    *, n_checkins: int, n_infusions: int, rng: random.Random, now: datetime, gap_scale: float = 1.0
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, int]], datetime | None]:
    """One patient's infusions (start, end), PHQ-9 check-ins (answered_at, total) and
    withdrawal time. Clinical shape, synthetic numbers: a baseline of 12-25 in the two
    weeks before the first infusion; after each infusion a drop (65% of infusions reach a
    >= 50% reduction at their best), a plateau of a few days to weeks, then a fade back
    towards baseline over 1-5 weeks; Gaussian noise of 1.5 points. Check-ins daily for the
    first week after an infusion, then every 1.5-4 days (times gap_scale). A later
    infusion follows the last check-in of the previous window by 1-3 days, so it is often
    a booster given while the benefit is fading (and sometimes before it is lost: the
    previous responder is then censored by the next infusion). The last check-in is 0.5-20
    days ago; 3% of patients withdraw during their last window."""
    baseline = rng.uniform(12, 25)
    n_base = min(3, n_checkins - n_infusions)
    post = n_checkins - n_base
    per_window = [post // n_infusions] * n_infusions
    for i in range(post - sum(per_window)):
        per_window[i] += 1

    # Relative times in days; the first infusion ends at day 0.
    base_days = sorted(-rng.uniform(0.2, 13.0) for _ in range(n_base))
    checkins: list[tuple[float, float]] = []
    for d in base_days:
        checkins.append((d, baseline))
    infusions: list[tuple[float, float]] = []
    end = 0.0
    for k in range(n_infusions):
        start = end - 40 / 1440
        infusions.append((start, end))
        responder = rng.random() < 0.65
        depth = rng.uniform(0.55, 0.85) if responder else rng.uniform(0.05, 0.4)
        hold = rng.lognormvariate(math.log(10), 0.8)
        fade = rng.uniform(7, 35)
        residual = rng.uniform(0.0, 0.15)
        t = end
        for j in range(per_window[k]):
            t += (rng.uniform(0.7, 1.3) if j < 8 else rng.uniform(1.5, 4.0)) * gap_scale
            since = t - end
            if since <= hold:
                f = 1.0
            elif since <= hold + fade:
                f = 1.0 - (since - hold) / fade * (1.0 - residual)
            else:
                f = residual
            checkins.append((t, baseline * (1.0 - depth * f)))
        end = t + rng.uniform(1.0, 3.0)  # the next infusion (if any) ends then
    last = checkins[-1][0]
    shift = now - timedelta(days=last + rng.uniform(0.5, 20.0))  # day 0 as a datetime

    def at(days: float) -> datetime:
        return shift + timedelta(days=days)

    scored = [(at(d), min(27, max(0, round(level + rng.gauss(0.0, 1.5))))) for d, level in checkins]
    withdrawn = None
    if rng.random() < 0.03 and per_window[-1] > 2:
        e = infusions[-1][1]
        withdrawn = at(e + (last - e) * rng.uniform(0.3, 0.8))
    return [(at(s), at(e)) for s, e in infusions], scored, withdrawn


# --- seeding (not measured) -------------------------------------------------------------
PHQ9_BANDS = ((0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"))
PHQ9_BANDS += ((15, 19, "moderately severe"), (20, 27, "severe"))


def phq9_answers(total: int) -> str:
    """Nine item answers (0-3) summing to `total`, as JSON."""
    q, r = divmod(total, 9)
    return json.dumps({f"item{i}": q + (1 if i <= r else 0) for i in range(1, 10)})


def band_of(total: int) -> str:
    return next(label for lo, hi, label in PHQ9_BANDS if lo <= total <= hi)


def _ts(dt: datetime) -> str:
    return dt.isoformat()


def seed_checkins(
    *, patients: list, timelines: list, version_id, now: datetime, rng: random.Random
) -> int:
    """COPY the check-ins and their PHQ-9 responses (one response per check-in)."""
    answers = [phq9_answers(t) for t in range(28)]
    bands = [band_of(t) for t in range(28)]
    checkins = Copier(
        "outcomes_checkin", ["id", "patient_id", "answered_at", "received_at", "content_digest"]
    )
    responses = Copier(
        "outcomes_instrumentresponse",
        [
            "id",
            "check_in_id",
            "instrument_version_id",
            "patient_id",
            "instrument_code",
            "answered_at",
            "position",
            "answers",
            "total",
            "band",
            "subscales",
            "flags",
        ],
    )
    for patient, (_, scored, _) in zip(patients, timelines, strict=True):
        for answered_at, total in scored:
            cid = uuid.UUID(int=rng.getrandbits(128), version=4)
            rid = uuid.UUID(int=rng.getrandbits(128), version=4)
            at = _ts(answered_at)
            received = _ts(min(now, answered_at + timedelta(seconds=rng.randint(1, 90))))
            checkins.add(cid, patient.id, at, received, f"{cid.int:064x}"[:64])
            responses.add(
                rid,
                cid,
                version_id,
                patient.id,
                INSTRUMENT,
                at,
                0,
                answers[total],
                float(total),
                bands[total],
                "{}",
                "[]",
            )
    # Check-ins first: the responses reference them (the FKs are deferred, but the order
    # keeps each COPY valid on its own).
    checkins.flush()
    responses.flush()
    return responses.rows


def seed(args, rng: random.Random) -> dict:
    """Everything the measurements read. Returns the ids they need and the seeding times."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Clinic, ClinicMembership, Role
    from outcomes.models import (
        Infusion,
        InfusionStatus,
        InstrumentVersion,
        Patient,
        PatientCondition,
        PatientStatus,
    )

    user_model = get_user_model()
    times: dict[str, float] = {}
    now = timezone.now()
    version = InstrumentVersion.objects.get(code=INSTRUMENT, clinic__isnull=True, is_active=True)

    start = time.perf_counter()
    counts = split_total(args.checkins, args.patients, minimum=5, rng=rng)
    timelines = [
        timeline(n_checkins=c, n_infusions=2 if rng.random() < 0.4 else 1, rng=rng, now=now)
        for c in counts
    ]
    long_tl = timeline(
        n_checkins=args.trajectory_checkins,
        n_infusions=TRAJECTORY_INFUSIONS,
        rng=rng,
        now=now,
        gap_scale=0.5,
    )
    short_tl = timeline(n_checkins=SHORT_TRAJECTORY_CHECKINS, n_infusions=2, rng=rng, now=now)
    times["generate_trajectories_s"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    with transaction.atomic():
        clinic = Clinic.objects.create(
            name="Bench Outcomes Clinic", slug="bench-outcomes", timezone="America/New_York"
        )
        other = Clinic.objects.create(
            name="Bench Trajectory Clinic", slug="bench-trajectory", timezone="Europe/London"
        )
        clinician = user_model.objects.create(
            username="bench-clinician", password=make_password(None)
        )
        ClinicMembership.objects.bulk_create(
            ClinicMembership(user=clinician, clinic=c, role=Role.CLINICIAN) for c in (clinic, other)
        )
        n = args.patients + 2
        users = user_model.objects.bulk_create(
            (
                user_model(username=f"bench-outcomes-patient-{i}", password=make_password(None))
                for i in range(n)
            ),
            batch_size=5000,
        )
        all_timelines = [*timelines, long_tl, short_tl]
        patients = Patient.objects.bulk_create(
            (
                Patient(
                    clinic=clinic if i < args.patients else other,
                    user=users[i],
                    display_name=f"Synthetic Patient {i}",
                    timezone="America/New_York",
                    status=PatientStatus.WITHDRAWN if tl[2] else PatientStatus.ACTIVE,
                    withdrawn_at=tl[2],
                )
                for i, tl in enumerate(all_timelines)
            ),
            batch_size=5000,
        )
        conditions = []
        names = [c for c, _ in CONDITIONS]
        weights = [w for _, w in CONDITIONS]
        for p in patients:
            picked = {rng.choices(names, weights)[0]}
            if rng.random() < 0.2:
                picked.add(rng.choices(names, weights)[0])
            conditions += [PatientCondition(patient=p, condition=c) for c in picked if c]
        PatientCondition.objects.bulk_create(conditions, batch_size=5000)
        infusions = [
            Infusion(
                patient=p,
                status=InfusionStatus.COMPLETED,
                scheduled_at=s - timedelta(minutes=rng.randint(0, 30)),
                started_at=s,
                ended_at=e,
            )
            for p, tl in zip(patients, all_timelines, strict=True)
            for s, e in tl[0]
        ]
        Infusion.objects.bulk_create(infusions, batch_size=5000)
    times["people_infusions_s"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    with transaction.atomic():
        rows = seed_checkins(
            patients=patients, timelines=all_timelines, version_id=version.id, now=now, rng=rng
        )
    times["checkins_copy_s"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    analyze()
    times["analyze_s"] = round(time.perf_counter() - start, 2)
    return {
        "sizes": {
            "patients": args.patients,
            "checkins": args.checkins,
            "trajectory_checkins": args.trajectory_checkins,
            "infusions_in_cohort": sum(len(tl[0]) for tl in timelines),
            "withdrawn_in_cohort": sum(1 for tl in timelines if tl[2]),
            "conditions_rows": len(conditions),
            "responses_written": rows,
        },
        "ids": {
            "clinic": str(clinic.id),
            "clinician": str(clinician.id),
            "long_patient": str(patients[-2].id),
            "short_patient": str(patients[-1].id),
        },
        "seeding": times,
    }


# --- the measurements -------------------------------------------------------------------
def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


_TABLE = re.compile(r'FROM\s+"(\w+)"')


class QueryLog:
    """An execute_wrapper that records each statement's main table. Used instead of
    CaptureQueriesContext because the test client's request_started signal resets
    connection.queries_log mid-capture, which empties the captured slice."""

    def __init__(self) -> None:
        self.tables: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        m = _TABLE.search(sql)
        self.tables.append(m.group(1) if m else sql.split(None, 1)[0])
        return execute(sql, params, many, context)

    def __enter__(self):
        from django.db import connection

        self._wrap = connection.execute_wrapper(self)
        self._wrap.__enter__()
        return self

    def __exit__(self, *exc):
        return self._wrap.__exit__(*exc)


def measure_cohort(*, clinic_id, group_by: str, runs: int) -> dict:
    from outcomes.selectors.analytics import clinic_cohort

    with QueryLog() as ctx:
        cohort = clinic_cohort(
            clinic_ids=[clinic_id], instrument_code=INSTRUMENT, group_by=group_by
        )
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        clinic_cohort(clinic_ids=[clinic_id], instrument_code=INSTRUMENT, group_by=group_by)
        seconds.append(time.perf_counter() - start)
    return {
        "group_by": group_by,
        "runs": runs,
        "min_ms": _ms(min(seconds)),
        "median_ms": _ms(statistics.median(seconds)),
        "max_ms": _ms(max(seconds)),
        "queries": len(ctx.tables),
        "query_tables": ctx.tables,
        "patients": cohort.patients,
        "infusions": cohort.infusions,
        "groups": {
            g.name: {
                "responders": g.km.n,
                "events": g.km.events,
                "censored": g.km.n - g.km.events,
                "median_days": None if g.km.median is None else round(g.km.median, 1),
                "evaluable": g.rates["evaluable"],
                "response_rate": g.rates["response_rate"] and round(g.rates["response_rate"], 3),
                "remission_rate": g.rates["remission_rate"] and round(g.rates["remission_rate"], 3),
            }
            for g in cohort.groups
        },
    }


def measure_stored_outcomes(*, clinic_id, runs: int) -> dict:
    """The stored infusion outcomes (outcomes/services/outcome_records.py): the one-off
    backfill of every patient (after the migration, or a changed threshold), then cohort
    reads with 1% and 5% of the clinic's patients changed since the last refresh (the beat
    refreshes every minute; 5% of 20,000 is the peak of 15 check-ins/s for a minute)."""
    from outcomes.models import Patient
    from outcomes.selectors.analytics import clinic_cohort
    from outcomes.services.outcome_records import (
        outcome_records_refresh_stale,
        outcomes_mark_changed,
        stale_patient_ids,
    )

    patients = list(Patient.objects.filter(clinic_id=clinic_id).values_list("pk", flat=True))
    outcomes_mark_changed(patient_ids=Patient.objects.values_list("pk", flat=True))
    start = time.perf_counter()
    rows = outcome_records_refresh_stale(limit=10**9)
    backfill_s = time.perf_counter() - start
    assert not stale_patient_ids(), "the backfill left stale patients"
    rng = random.Random(11)
    stale_reads = {}
    for fraction in (0.01, 0.05):
        seconds = []
        for _ in range(runs):
            outcomes_mark_changed(patient_ids=rng.sample(patients, int(len(patients) * fraction)))
            start = time.perf_counter()
            clinic_cohort(clinic_ids=[clinic_id], instrument_code=INSTRUMENT)
            seconds.append(time.perf_counter() - start)
        stale_reads[f"{fraction:.0%}"] = {
            "stale_patients": int(len(patients) * fraction),
            "runs": runs,
            "min_ms": _ms(min(seconds)),
            "median_ms": _ms(statistics.median(seconds)),
            "max_ms": _ms(max(seconds)),
        }
    return {
        "backfill_s": round(backfill_s, 2),
        "backfill_rows": rows,
        "backfill_patients": len(patients),
        "cohort_with_stale": stale_reads,
    }


def cohort_memory(*, clinic_id) -> dict:
    """Peak Python allocation of one clinic_cohort call (tracemalloc; untimed, as
    tracemalloc slows allocation-heavy code several-fold)."""
    from outcomes.selectors.analytics import clinic_cohort

    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    clinic_cohort(clinic_ids=[clinic_id], instrument_code=INSTRUMENT, group_by="none")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tracemalloc_peak_mb": round((peak - base) / 2**20, 1)}


def measure_get(*, client, url: str, runs: int) -> dict:
    with QueryLog() as ctx:
        resp = client.get(url)
    if resp.status_code != 200:
        raise SystemExit(f"GET {url}: {resp.status_code} {resp.content[:500]!r}")
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        r = client.get(url)
        seconds.append(time.perf_counter() - start)
        assert r.status_code == 200
    return {
        "url": url,
        "runs": runs,
        "min_ms": _ms(min(seconds)),
        "p50_ms": _ms(statistics.median(seconds)),
        "p95_ms": _ms(_pct(seconds, 0.95)),
        "p99_ms": _ms(_pct(seconds, 0.99)),
        "max_ms": _ms(max(seconds)),
        "queries": len(ctx.tables),
        "query_tables": ctx.tables,
        "response_bytes": len(resp.content),
        "body": json.loads(resp.content),
    }


def profile_cohort(*, clinic_id) -> str:
    from outcomes.selectors.analytics import clinic_cohort

    profiler = cProfile.Profile()
    profiler.enable()
    clinic_cohort(clinic_ids=[clinic_id], instrument_code=INSTRUMENT, group_by="none")
    profiler.disable()
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / "outcomes-cohort.prof"
    profiler.dump_stats(str(path))
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)
    return f"--- cProfile of clinic_cohort(group_by='none') (written to {path}) ---\n" + (
        buf.getvalue()
    )


def db_counts(clinic_id) -> dict:
    from outcomes.models import CheckIn, Infusion, InstrumentResponse, Patient

    return {
        "patients": Patient.objects.filter(clinic_id=clinic_id).count(),
        "checkins": CheckIn.objects.filter(patient__clinic_id=clinic_id).count(),
        "responses": InstrumentResponse.objects.filter(patient__clinic_id=clinic_id).count(),
        "infusions": Infusion.objects.filter(patient__clinic_id=clinic_id).count(),
    }


def measure(args) -> dict:
    """The measuring process: a fresh interpreter, so peak RSS is its own."""
    from rest_framework.test import APIClient

    from accounts.models import User
    from outcomes.models import InstrumentResponse

    seeded = json.loads(SEED_FILE.read_text())
    ids = seeded["ids"]
    clinic_id = uuid.UUID(ids["clinic"])
    rss: dict[str, float] = {"after_setup": peak_rss_mb()}
    import api.urls  # noqa: F401  the views, and through them numpy, scipy, matplotlib

    rss["after_imports"] = peak_rss_mb()
    counts = db_counts(clinic_id)

    client = APIClient()
    client.force_authenticate(user=User.objects.get(id=ids["clinician"]))

    # Trajectory first (small), so the RSS it adds can be told apart from the cohort's.
    trajectory = {}
    for key, pid in (("long", ids["long_patient"]), ("short", ids["short_patient"])):
        runs = args.repeat if key == "long" else max(5, args.repeat // 4)
        t = measure_get(
            client=client,
            url=f"/api/v1/patients/{pid}/trajectory/?instrument={INSTRUMENT}",
            runs=runs,
        )
        body = t.pop("body")
        t["points"] = sum(len(i["points"]) for i in body["instruments"])
        t["infusions"] = len(body["infusions"])
        t["checkins_in_db"] = InstrumentResponse.objects.filter(patient_id=pid).count()
        trajectory[key] = t
    rss["after_trajectory"] = peak_rss_mb()

    stored = measure_stored_outcomes(clinic_id=clinic_id, runs=args.km_repeat)
    cohort = {}
    for group_by in ("none", "condition"):
        cohort[group_by] = measure_cohort(
            clinic_id=clinic_id, group_by=group_by, runs=args.km_repeat
        )
    rss["after_cohort"] = peak_rss_mb()
    rss["current_after_cohort"] = current_rss_mb()

    http = {}
    for group_by in ("none", "condition"):
        h = measure_get(
            client=client,
            url=f"/api/v1/clinics/{clinic_id}/durability/?instrument={INSTRUMENT}&group_by={group_by}",
            runs=args.km_repeat,
        )
        h.pop("body")
        http[group_by] = h
    rss["after_http"] = peak_rss_mb()
    memory = cohort_memory(clinic_id=clinic_id)

    profile = profile_cohort(clinic_id=clinic_id) if args.profile else None
    return {
        "command": " ".join([".venv/bin/python -m bench.outcomes", *sys.argv[1:]]).replace(
            " --measure-child", ""
        ),
        "machine": machine_info(),
        "settings_module": os.environ["DJANGO_SETTINGS_MODULE"],
        "database": BENCH_DB,
        "sizes": seeded["sizes"],
        "db_counts_in_cohort": counts,
        "seeding": seeded["seeding"],
        "stored_outcomes": stored,
        "cohort_direct": cohort,
        "cohort_http": http,
        "trajectory_http": trajectory,
        "memory": {
            "peak_rss_mb_by_phase": rss,
            **memory,
            "note": "VmHWM (peak RSS) of the measuring process, after each phase; "
            "after_trajectory is the base for the cohort (everything imported, small requests "
            "served); tracemalloc_peak_mb is the Python heap peak of one clinic_cohort call",
        },
        "profile": profile,
    }


# --- report -----------------------------------------------------------------------------
def print_table(results: dict) -> None:
    rows = [("measurement", "runs", "min ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "queries")]
    for g, c in results["cohort_direct"].items():
        rows.append(
            (
                f"clinic_cohort(group_by={g})",
                c["runs"],
                c["min_ms"],
                c["median_ms"],
                "",
                "",
                c["max_ms"],
                c["queries"],
            )
        )
    for g, h in results["cohort_http"].items():
        rows.append(
            (
                f"GET durability/?group_by={g}",
                h["runs"],
                h["min_ms"],
                h["p50_ms"],
                h["p95_ms"],
                h["p99_ms"],
                h["max_ms"],
                h["queries"],
            )
        )
    for t in results["trajectory_http"].values():
        rows.append(
            (
                f"GET trajectory/ ({t['checkins_in_db']} check-ins)",
                t["runs"],
                t["min_ms"],
                t["p50_ms"],
                t["p95_ms"],
                t["p99_ms"],
                t["max_ms"],
                t["queries"],
            )
        )
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
    s = results["sizes"]
    print(
        f"cohort: {s['patients']} patients, {s['infusions_in_cohort']} infusions, "
        f"{s['checkins']} PHQ-9 check-ins (db: {results['db_counts_in_cohort']})"
    )
    for g, c in results["cohort_direct"].items():
        print(f"  group_by={g}: queries {c['query_tables']}")
        for name, grp in c["groups"].items():
            print(f"    {name}: {grp}")
    for key, t in results["trajectory_http"].items():
        print(
            f"trajectory ({key}): {t['points']} points, {t['infusions']} infusions, "
            f"{t['response_bytes']} bytes, queries {t['query_tables']}"
        )
    for g, h in results["cohort_http"].items():
        print(f"durability HTTP ({g}): {h['response_bytes']} bytes, queries {h['query_tables']}")
    print(f"stored outcomes: {results['stored_outcomes']}")
    print(f"seeding: {results['seeding']}")
    print(f"memory: {results['memory']}")
    m = results["machine"]
    print(
        f"machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, PostgreSQL {m['postgres']}"
    )


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m bench.outcomes", description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--checkins", type=int, default=500_000)
    parser.add_argument("--trajectory-checkins", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=200, help="trajectory requests")
    parser.add_argument("--km-repeat", type=int, default=5, help="Kaplan-Meier runs per case")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-seed", action="store_true", help="measure the data already there")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run one clinic_cohort under cProfile (after the timed runs) and print it",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "outcomes.json")
    parser.add_argument("--measure-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv

    setup_django(BENCH_DB)
    if not args.measure_child:
        if not args.no_seed:
            rng = random.Random(args.seed)
            start = time.perf_counter()
            reset_database()
            reset_s = round(time.perf_counter() - start, 2)
            seeded = seed(args, rng)
            seeded["seeding"] = {"reset_migrate_instruments_s": reset_s, **seeded["seeding"]}
            seeded["seeding"]["total_s"] = round(time.perf_counter() - start, 2)
            seeded["seeding"]["seeding_peak_rss_mb"] = peak_rss_mb()
            seeded["seeded_at"] = datetime.now(UTC).isoformat()
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            SEED_FILE.write_text(json.dumps(seeded, indent=2) + "\n")
            print(f"seeded: {seeded['sizes']} in {seeded['seeding']}", flush=True)
        elif not SEED_FILE.exists():
            raise SystemExit(f"--no-seed: {SEED_FILE} is missing; seed first")
        else:
            from django.core.management import call_command

            call_command("migrate", verbosity=0, interactive=False)  # data kept, schema current
        from django.db import connection

        connection.close()
        child = [sys.executable, "-m", "bench.outcomes", *argv, "--measure-child"]
        # Our own interpreter and module with the caller's own arguments: nothing untrusted.
        raise SystemExit(subprocess.call(child))  # noqa: S603

    results = measure(args)
    profile = results.pop("profile")
    if profile:
        print(profile)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {args.out}")
    return results


if __name__ == "__main__":
    main()
