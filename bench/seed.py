"""Seed a synthetic clinic network on PostgreSQL (issue 6), fast, with COPY.

    .venv/bin/python -m bench.seed [--clinics 50] [--patients 20000] [--check-ins 2000000]
        [--database afterglow_bench_network] [--force]

Writes into its own database, afterglow_bench_network by default (created if missing,
migrated, its tables truncated before seeding). It never touches afterglow or a test
database. A marker table (`bench_seed_marker`) records the sizes that were seeded: run
again with the same sizes and it does nothing (`--force` reseeds). The load test
(`bench.load`) and any other benchmark call `seed_network(...)`, which does the same and
returns the ids they need.

What it writes (all synthetic; one shared precomputed PBKDF2 password hash):

- clinics; per clinic a clinician and a scheduler (users + memberships) and the clinic's
  default cadence plan (the product's own `default_plan_ensure`);
- patients, each with an app-account user, 1-2 conditions, the clinic's clinician as care
  team, one registered push device; 3% withdrawn;
- treatment courses (induction, and maintenance once there are boosters) and infusions:
  an induction series of six over 12 days, boosters every 4-13 weeks until now, and one
  upcoming scheduled infusion for active patients;
- check-ins and their instrument responses: a quarter answer PHQ-9 and GAD-7 (all of them
  in the 2 weeks before the first infusion), the rest MOOD, 15% of those with PAIN-NRS.
  Scores follow a baseline-drop-plateau-fade shape after each infusion. Every distinct set
  of answers is scored once by the real engine (`outcomes.scoring.score`), and the
  content digest is the product's `submission_digest`, written out by hand and checked
  on a sample;
- the derived rows the API keeps: LatestScore (the newest response per patient and
  instrument, computed in SQL from the stored responses), SafetyAlert for every response
  whose safety rule fired (acknowledged or resolved by the clinic's clinician), and the
  reminders of each active patient's latest infusion (if within 60 days) and upcoming one,
  planned with the product's `plan_step` (completed by a matching check-in in the window,
  else missed; sent if the window is open; pending if ahead).

Not written: the delivery outbox and audit log (history, not state the API reads), and the
care-team notices of past large worsenings.

COPY runs with `session_replication_role = replica` (foreign-key triggers off) and with
the secondary indexes of the check-in and response tables dropped and rebuilt after; the
foreign keys are then checked with anti-joins, and a sample of responses is re-scored
with the real engine.
"""

import argparse
import hashlib
import io
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from bench._db import Copier, analyze, reset_database, setup_django

BENCH_DB = "afterglow_bench_network"
MARKER_TABLE = "bench_seed_marker"
SEED_VERSION = 2  # bump when the shape of the seeded data changes
# The shared password of every seeded account (synthetic data in a bench database only).
BENCH_PASSWORD = "afterglow-bench-network"  # noqa: S105
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Sydney",
)
CONDITIONS = (("trd", 0.55), ("anxiety", 0.2), ("ptsd", 0.1), ("bipolar", 0.1))
CONDITIONS += (("chronic_pain", 0.05),)
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)
FULL = ("PHQ-9", "GAD-7")
MOOD = ("MOOD",)
MOOD_PAIN = ("MOOD", "PAIN-NRS")
KINDS = (FULL, MOOD, MOOD_PAIN)
VARIANTS = 6  # answer patterns per total (which items carry the remainder)


@dataclass
class NetworkSeed:
    """What a benchmark needs to drive the seeded network."""

    database: str
    clinic_ids: list[str]
    clinician_user_ids: list[str]  # one per clinic, same order
    scheduler_user_ids: list[str]
    patient_ids: list[str]  # active patients only
    patient_user_ids: list[str]  # same order
    patient_clinic_index: list[int]  # same order: index into clinic_ids
    device_tokens: list[str]  # same order: the patient's registered push token
    sizes: dict = field(default_factory=dict)
    seeded: bool = False  # False: the marker said the data was already there
    seconds: float = 0.0


# --- the marker ---------------------------------------------------------------------------
def _marker_read() -> dict | None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [MARKER_TABLE])
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT params, summary FROM {MARKER_TABLE} ORDER BY id DESC LIMIT 1")  # noqa: S608
        row = cur.fetchone()
    if row is None:
        return None
    params, summary = row
    return {
        "params": json.loads(params) if isinstance(params, str) else params,
        "summary": json.loads(summary) if isinstance(summary, str) else summary,
    }


def _marker_write(params: dict, summary: dict) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id serial PRIMARY KEY, "
            "params jsonb NOT NULL, summary jsonb NOT NULL, seeded_at timestamptz NOT NULL "
            "DEFAULT now())"
        )
        cur.execute(
            f"INSERT INTO {MARKER_TABLE} (params, summary) VALUES (%s, %s)",  # noqa: S608
            [json.dumps(params), json.dumps(summary)],
        )


def _marker_drop() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {MARKER_TABLE}")


# --- COPY ---------------------------------------------------------------------------------
def _uuid_hex(rng: random.Random) -> str:
    """A random version-4 UUID as 32 hex digits (PostgreSQL reads it without hyphens)."""
    x = rng.getrandbits(128)
    x = (x & ~(0xF << 76)) | (4 << 76)
    x = (x & ~(0x3 << 62)) | (0x2 << 62)
    return f"{x:032x}"


def _hyphenated(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


# --- answers scored by the real engine ------------------------------------------------------
class Scorer:
    """Answers for (instrument, total, variant, item9) and their real scores, computed once
    per distinct key with the product's own validation and scoring."""

    def __init__(self) -> None:
        from outcomes.instruments import definition_for
        from outcomes.models import InstrumentVersion

        self.versions = {
            v.code: v
            for v in InstrumentVersion.objects.filter(
                clinic__isnull=True, is_active=True, code__in=["PHQ-9", "GAD-7", "MOOD", "PAIN-NRS"]
            )
        }
        self.defs = {code: definition_for(v) for code, v in self.versions.items()}
        self.version_id = {code: v.id.hex for code, v in self.versions.items()}
        self.severity = {rule.code: rule.severity for d in self.defs.values() for rule in d.safety}
        self._cache: dict[tuple, tuple] = {}

    @staticmethod
    def answers(code: str, total: int, variant: int, item9: int) -> dict[str, int]:
        if code in ("MOOD", "PAIN-NRS"):
            return {"item1": total}
        n = 8 if code == "PHQ-9" else 7  # PHQ-9: item9 is set apart (the safety item)
        rest = total - item9
        q, r = divmod(rest, n)
        values = [q + (1 if (i - variant) % n < r else 0) for i in range(n)]
        out = {f"item{i + 1}": v for i, v in enumerate(values)}
        if code == "PHQ-9":
            out["item9"] = item9
        return out

    def get(self, code: str, total: int, variant: int, item9: int) -> tuple:
        """(answers JSON, total, band, flags JSON, safety rule codes)."""
        key = (code, total, variant, item9)
        hit = self._cache.get(key)
        if hit is None:
            from outcomes import scoring

            defn = self.defs[code]
            answers = self.answers(code, total, variant, item9)
            errors = scoring.validate_answers(defn, answers)
            if errors:
                raise AssertionError(f"seeded answers invalid: {code} {answers} {errors}")
            s = scoring.score(defn, answers)
            hit = (
                json.dumps(answers, sort_keys=True, separators=(",", ":")),
                "\\N" if s.total is None else repr(float(s.total)),
                s.band,
                json.dumps(list(s.flags), separators=(",", ":")),
                tuple(h.code for h in s.safety),
            )
            self._cache[key] = hit
        return hit


def digest_of(answered_iso: str, parts: list[tuple[str, str]]) -> str:
    """`outcomes.services.checkins.submission_digest`, written out for speed: the same
    canonical JSON (sorted keys, compact separators, responses sorted by instrument and
    version). `parts` holds (instrument code, canonical answers JSON). Checked against the
    real function on a sample after seeding."""
    responses = ",".join(
        f'{{"answers":{answers},"instrument":"{code}","version":"1"}}'
        for code, answers in sorted(parts)
    )
    body = f'{{"answered_at":"{answered_iso}","responses":[{responses}]}}'
    return hashlib.sha256(body.encode()).hexdigest()


# --- one patient's history ------------------------------------------------------------------
@dataclass
class History:
    infusions: list[tuple[float, float, str]]  # (start, end, status) in epoch seconds
    checkins: np.ndarray  # epoch seconds, sorted
    kinds: np.ndarray  # index into KINDS
    phq: np.ndarray  # PHQ-9 level at each check-in (0-27, int)
    withdrawn_at: float | None


def history(*, n_checkins: int, now: float, rng: np.random.Generator) -> History:
    """Synthetic, clinically shaped: a PHQ-9 baseline of 12-25 in the two weeks before an
    induction series of six infusions; boosters every 4-13 weeks; after each infusion a drop
    (65% of patients respond, 55-85%; the others 5-40%), a plateau (lognormal, median 10
    days), then a fade back towards baseline over 1-5 weeks; Gaussian noise of 1.5 points."""
    day = 86400.0
    first = now - rng.uniform(30, 720) * day
    first = math.floor(first / day) * day + rng.uniform(13, 19) * 3600  # a daytime start
    withdrawn = None
    if rng.random() < 0.03:
        withdrawn = first + rng.uniform(20, max(21, (now - first) / day - 1)) * day
    stop = withdrawn if withdrawn is not None else now
    starts = [first + d * day + rng.uniform(-1, 1) * 3600 for d in INDUCTION_DAYS]
    t = starts[-1]
    while True:
        t += rng.uniform(28, 90) * day
        if t >= stop - 3600:
            break
        starts.append(t)
    infusions = [(s, s + 40 * 60 + rng.uniform(-5, 15) * 60, "completed") for s in starts]
    infusions = [i for i in infusions if i[1] < stop]
    if withdrawn is None:
        s = now + rng.uniform(1, 40) * day
        infusions.append((s, s + 40 * 60, "scheduled"))

    begin = first - 14 * day
    end = stop - rng.uniform(0, 3) * day if withdrawn is None else stop
    end = max(end, first + day)
    times = np.sort(rng.uniform(begin, end, n_checkins)).round()
    ends = np.array([e for _, e, st in infusions if st == "completed"])
    baseline = rng.uniform(12, 25)
    responder = rng.random() < 0.65
    k = len(ends)
    depth = rng.uniform(0.55, 0.85, k) if responder else rng.uniform(0.05, 0.4, k)
    hold = rng.lognormal(math.log(10), 0.8, k) * day
    fade = rng.uniform(7, 35, k) * day
    residual = rng.uniform(0.0, 0.15, k)
    idx = np.searchsorted(ends, times) - 1  # the infusion each check-in follows, or -1
    j = np.maximum(idx, 0)
    since = times - ends[j]
    f = np.where(
        since <= hold[j],
        1.0,
        np.where(
            since <= hold[j] + fade[j],
            1.0 - (since - hold[j]) / fade[j] * (1.0 - residual[j]),
            residual[j],
        ),
    )
    level = np.where(idx >= 0, baseline * (1.0 - depth[j] * f), baseline)
    phq = np.clip(np.rint(level + rng.normal(0, 1.5, n_checkins)), 0, 27).astype(int)
    mood_kind = np.where(rng.random(n_checkins) < 0.15, 2, 1)
    kinds = np.where(rng.random(n_checkins) < 0.25, 0, mood_kind)
    kinds[times < first] = 0  # the baseline weeks: the full questionnaires
    return History(infusions, times, kinds, phq, withdrawn)


def split_counts(total: int, weights: np.ndarray, minimum: int) -> np.ndarray:
    if total < minimum * len(weights):
        raise SystemExit(f"--check-ins must be at least {minimum} per patient")
    spare = total - minimum * len(weights)
    counts = minimum + np.floor(weights / weights.sum() * spare).astype(int)
    counts[: total - counts.sum()] += 1
    return counts


# --- the seed -----------------------------------------------------------------------------
def _secondary_indexes(tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of every index of `tables` that backs no constraint."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
            """,
            [tables],
        )
        return cur.fetchall()


def _people(*, args, rng: random.Random, now_dt: datetime, password_hash: str) -> dict:
    """Clinics, staff, patients, conditions, care teams, devices (COPY and bulk_create)."""
    from django.contrib.auth import get_user_model

    from accounts.models import Clinic, ClinicMembership, Role
    from notifications.services.plan_store import default_plan_ensure
    from outcomes.models import Patient

    user_model = get_user_model()
    now_iso = now_dt.isoformat()
    clinics = Clinic.objects.bulk_create(
        Clinic(
            name=f"Network Clinic {i}",
            slug=f"net-clinic-{i}",
            timezone=TIMEZONES[i % len(TIMEZONES)],
        )
        for i in range(args.clinics)
    )
    staff = []
    for i, _ in enumerate(clinics):
        for role in ("clinician", "scheduler"):
            staff.append(
                user_model(
                    username=f"net-{role}-{i}",
                    email=f"net-{role}-{i}@clinic.example.org",  # care-team notices go here
                    password=password_hash,
                    is_active=True,
                    date_joined=now_dt,
                )
            )
    user_model.objects.bulk_create(staff, batch_size=1000)
    clinicians = staff[0::2]
    schedulers = staff[1::2]
    ClinicMembership.objects.bulk_create(
        ClinicMembership(user=u, clinic=c, role=role)
        for group, role in ((clinicians, Role.CLINICIAN), (schedulers, Role.SCHEDULER))
        for u, c in zip(group, clinics, strict=True)
    )
    for clinic in clinics:
        default_plan_ensure(clinic=clinic)

    n = args.patients
    user_ids = [_uuid_hex(rng) for _ in range(n)]
    patient_ids = [_uuid_hex(rng) for _ in range(n)]
    users = Copier(
        user_model._meta.db_table,
        [
            "id",
            "password",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
    )
    for i in range(n):
        users.add(
            user_ids[i], password_hash, "f", f"net-patient-{i}", "", "", "", "f", "t", now_iso
        )
    users.flush()
    return {
        "clinics": clinics,
        "clinicians": clinicians,
        "schedulers": schedulers,
        "user_ids": user_ids,
        "patient_ids": patient_ids,
        "patient_table": Patient._meta.db_table,
        "care_table": Patient.care_team.through._meta.db_table,
    }


def seed(args) -> dict:
    """Reset the database and write the whole network. Returns counts and timings."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from django.db import connection, transaction

    from notifications.cadence import parse_steps, plan_step
    from notifications.cadence_templates import DEFAULT_PLAN_STEPS
    from notifications.models import CadencePlan

    rng = random.Random(args.seed)
    nrng = np.random.default_rng(args.seed)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    _marker_drop()
    reset_database()
    times["reset_migrate_s"] = round(time.perf_counter() - t0, 2)

    now_dt = datetime.now(UTC).replace(microsecond=0)
    now = now_dt.timestamp()
    # The production hasher (whatever the settings in use list), computed once and shared.
    hasher = PBKDF2PasswordHasher()
    password_hash = hasher.encode(BENCH_PASSWORD, hasher.salt())
    scorer = Scorer()

    start = time.perf_counter()
    weights = nrng.uniform(0.4, 1.6, args.patients)
    counts = split_counts(args.check_ins, weights, minimum=5)
    histories = [history(n_checkins=int(c), now=now, rng=nrng) for c in counts]
    times["generate_histories_s"] = round(time.perf_counter() - start, 2)

    start = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET maintenance_work_mem = '512MB'")
    big = ["outcomes_checkin", "outcomes_instrumentresponse"]
    dropped = _secondary_indexes(big)
    with transaction.atomic():
        with connection.cursor() as cur:
            # Bulk load: no foreign-key triggers (checked below with anti-joins) and no
            # secondary indexes on the two big tables (rebuilt after the COPY).
            cur.execute("SET LOCAL session_replication_role = replica")
            for name, _ in dropped:
                cur.execute(f'DROP INDEX "{name}"')
        people = _people(args=args, rng=rng, now_dt=now_dt, password_hash=password_hash)
        times["people_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        counts_out = _write_histories(
            args=args, rng=rng, nrng=nrng, now=now, now_dt=now_dt, people=people,
            histories=histories, scorer=scorer,
            plan_steps=parse_steps(DEFAULT_PLAN_STEPS, recall_hours=None),
            plan_of={p.clinic_id: p for p in CadencePlan.objects.filter(is_default=True)},
            plan_step=plan_step,
        )  # fmt: skip
        times["copy_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        with connection.cursor() as cur:
            for _, definition in dropped:
                cur.execute(definition)
        times["rebuild_indexes_s"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        counts_out.update(_derived(now_dt=now_dt, severity=scorer.severity))
        counts_out.update(_history_rows(now_dt=now_dt))
        times["derived_rows_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    analyze()
    times["analyze_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    counts_out["outcome_records"] = _outcome_records()
    times["outcome_records_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    analyze()
    checks = verify(sample=300)
    times["verify_s"] = round(time.perf_counter() - start, 2)
    times["total_s"] = round(time.perf_counter() - t0, 2)
    return {"rows": table_counts(), "written": counts_out, "checks": checks, "seeding": times}


def _write_histories(  # noqa: C901 - one linear COPY script of a synthetic network, not logic
    *, args, rng, nrng, now, now_dt, people, histories, scorer, plan_steps, plan_of, plan_step
) -> dict:
    """COPY patients and everything that hangs off their histories."""
    day = 86400.0
    clinics = people["clinics"]
    clinicians = people["clinicians"]
    user_ids, patient_ids = people["user_ids"], people["patient_ids"]
    now_iso = now_dt.isoformat()
    n_clinics = len(clinics)

    patients = Copier(
        people["patient_table"],
        [
            "id",
            "clinic_id",
            "user_id",
            "display_name",
            "clinic_reference",
            "timezone",
            "status",
            "withdrawn_at",
            "erased_at",
            "created_at",
        ],
    )
    care = Copier(people["care_table"], ["patient_id", "user_id"], before=[patients])
    conditions = Copier("outcomes_patientcondition", ["patient_id", "condition"], [patients])
    devices = Copier(
        "notifications_device",
        [
            "id",
            "patient_id",
            "auth_token_id",
            "push_token",
            "push_token_digest",
            "platform",
            "app_version",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ],
        [patients],
    )
    courses = Copier(
        "outcomes_treatmentcourse",
        ["id", "patient_id", "kind", "started_on", "ended_on", "notes", "created_at"],
        [patients],
    )
    infusions = Copier(
        "outcomes_infusion",
        [
            "id",
            "patient_id",
            "course_id",
            "status",
            "scheduled_at",
            "planned_duration_minutes",
            "started_at",
            "ended_at",
            "weight_kg",
            "dose_mg_per_kg",
            "total_dose_mg",
            "observation_minutes",
            "vitals_before",
            "vitals_after",
            "side_effects",
            "concomitant_medications",
            "benzodiazepine_recorded",
            "cancelled_at",
            "cancel_reason",
            "created_by_id",
            "created_at",
            "updated_at",
        ],
        [courses],
    )
    checkins = Copier(
        "outcomes_checkin",
        ["id", "patient_id", "answered_at", "received_at", "content_digest"],
        [patients],
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
        [checkins],
    )
    reminders = Copier(
        "notifications_reminder",
        [
            "id",
            "patient_id",
            "infusion_id",
            "plan_id",
            "plan_version",
            "step_key",
            "instruments",
            "due_at",
            "window_closes_at",
            "status",
            "sent_at",
            "completed_at",
            "check_in_id",
            "nudges_left",
            "nudges_sent",
            "nudge_interval_minutes",
            "next_nudge_at",
            "created_at",
            "updated_at",
        ],
        [infusions, responses],
    )
    cond_names = [c for c, _ in CONDITIONS]
    cond_weights = [w for _, w in CONDITIONS]
    vid = scorer.version_id
    sample_digests = []
    n_checkins = n_responses = n_withdrawn = n_reminders = 0

    for i, h in enumerate(histories):
        pid, uid = patient_ids[i], user_ids[i]
        ci = i % n_clinics
        clinic = clinics[ci]
        tz_name = TIMEZONES[(i // n_clinics) % len(TIMEZONES)]
        withdrawn = h.withdrawn_at is not None
        n_withdrawn += withdrawn
        first = h.infusions[0][0]
        patients.add(
            pid, clinic.id.hex, uid, f"Synthetic Patient {i}", f"NET-{i:06d}", tz_name,
            "withdrawn" if withdrawn else "active",
            _iso(h.withdrawn_at) if withdrawn else None, None, _iso(first - 21 * day),
        )  # fmt: skip
        care.add(pid, clinicians[ci].id.hex)
        picked = {rng.choices(cond_names, cond_weights)[0]}
        if rng.random() < 0.2:
            picked.add(rng.choices(cond_names, cond_weights)[0])
        for c in sorted(picked):
            conditions.add(pid, c)
        if not withdrawn:
            token = f"bench-push-{i}-{rng.getrandbits(64):016x}"
            devices.add(
                _uuid_hex(rng), pid, None, token, hashlib.sha256(token.encode()).hexdigest(),
                "ios" if i % 3 else "android", "1.0.0", None, "", now_iso, now_iso,
            )  # fmt: skip

        # Courses and infusions.
        induction = _uuid_hex(rng)
        first_day = datetime.fromtimestamp(first, UTC).date()
        last_induction = datetime.fromtimestamp(h.infusions[min(5, len(h.infusions) - 1)][0], UTC)
        courses.add(
            induction, pid, "induction", first_day, last_induction.date(), "", _iso(first - 7 * day)
        )
        maintenance = None
        if len(h.infusions) > len(INDUCTION_DAYS):
            maintenance = _uuid_hex(rng)
            start_m = h.infusions[len(INDUCTION_DAYS)][0]
            courses.add(
                maintenance, pid, "maintenance", datetime.fromtimestamp(start_m, UTC).date(),
                None, "", _iso(start_m - 7 * day),
            )  # fmt: skip
        weight = round(rng.uniform(50, 110), 1)
        inf_rows = []
        for k, (s, e, status) in enumerate(h.infusions):
            iid = _uuid_hex(rng)
            done = status == "completed"
            inf_rows.append((iid, s, e, status))
            infusions.add(
                iid, pid, induction if k < len(INDUCTION_DAYS) else maintenance, status,
                _iso(s - rng.randint(0, 30) * 60), 40,
                _iso(s) if done else None, _iso(e) if done else None,
                weight if done else None, "0.500" if done else None,
                f"{weight * 0.5:.2f}" if done else None, 60 if done else None,
                "{}", "{}", "[]", "[]", "f", None, "", clinicians[ci].id.hex,
                _iso(s - 7 * day), _iso(e if done else s - 7 * day),
            )  # fmt: skip

        # Check-ins and responses.
        kinds = h.kinds
        answered_ids: list[tuple[float, str, tuple, str]] = []  # (at, id, codes, received)
        for t, kind, phq in zip(h.checkins.tolist(), kinds.tolist(), h.phq.tolist(), strict=True):
            cid = _uuid_hex(rng)
            at_iso = _iso(t)
            codes = KINDS[kind]
            parts = []
            for pos, code in enumerate(codes):
                if code == "PHQ-9":
                    p9 = 0
                    risk = 0.01 if phq < 15 else (0.05 if phq < 20 else 0.12)
                    if phq > 0 and rng.random() < risk:
                        p9 = min(phq, 1 if rng.random() < 0.8 else 2)
                    p9 = max(p9, phq - 24)  # items 1-8 carry at most 24
                    ans, total, band, flags, _ = scorer.get(code, phq, rng.randrange(VARIANTS), p9)
                elif code == "GAD-7":
                    g = min(21, max(0, round(phq * 0.7 + rng.gauss(0, 1.5))))
                    ans, total, band, flags, _ = scorer.get(code, g, rng.randrange(VARIANTS), 0)
                elif code == "MOOD":
                    m = min(10, max(0, round(10 - phq * 10 / 27 + rng.gauss(0, 1))))
                    ans, total, band, flags, _ = scorer.get(code, m, 0, 0)
                else:
                    pn = min(10, max(0, round(phq / 3 + rng.gauss(0, 1.5))))
                    ans, total, band, flags, _ = scorer.get(code, pn, 0, 0)
                parts.append((code, ans))
                responses.add_line(
                    f"{_uuid_hex(rng)}\t{cid}\t{vid[code]}\t{pid}\t{code}\t{at_iso}\t{pos}\t"
                    f"{ans}\t{total}\t{band}\t{{}}\t{flags}"
                )
                n_responses += 1
            digest = digest_of(at_iso, parts)
            received = _iso(min(now, t + rng.randint(1, 90)))
            checkins.add_line(f"{cid}\t{pid}\t{at_iso}\t{received}\t{digest}")
            answered_ids.append((t, cid, codes, received))
            n_checkins += 1
            if len(sample_digests) < 50 and rng.random() < 0.001:
                sample_digests.append(cid)

        # Reminders of the live infusions (the latest, if recent, and the upcoming one).
        if withdrawn:
            continue
        tz = ZoneInfo(tz_name)
        plan = plan_of[clinic.id]
        live = [r for r in inf_rows if r[3] == "scheduled"]
        done_rows = [r for r in inf_rows if r[3] == "completed"]
        if done_rows and done_rows[-1][2] > now - 60 * day:
            live.insert(0, done_rows[-1])
        ts = np.array([a[0] for a in answered_ids])
        for iid, s, e, status in live:
            start_dt = datetime.fromtimestamp(s, UTC)
            end_dt = datetime.fromtimestamp(e, UTC)
            for step in plan_steps:
                planned = plan_step(step, infusion_start=start_dt, infusion_end=end_dt, tz=tz)
                due, closes = planned.due_at.timestamp(), planned.window_closes_at.timestamp()
                if closes <= due:
                    continue
                state, sent_at, completed_at = "pending", None, None
                check_in, next_nudge = None, None
                if status == "completed" and due <= now:
                    sent_at = _iso(due)
                    lo, hi = np.searchsorted(ts, due), np.searchsorted(ts, min(closes, now))
                    match = next(
                        (answered_ids[j] for j in range(lo, hi)
                         if set(step.instruments) <= set(answered_ids[j][2])),
                        None,
                    )  # fmt: skip
                    if match is not None:
                        state, check_in, completed_at = "completed", match[1], match[3]
                    elif closes <= now:
                        state = "missed"
                    else:
                        state = "sent"
                        if step.nudge_count:
                            next_nudge = _iso(due + step.nudge_interval_minutes * 60)
                reminders.add(
                    _uuid_hex(rng), pid, iid, plan.id.hex, plan.version, step.key,
                    json.dumps(list(step.instruments)), _iso(due), _iso(closes), state,
                    sent_at, completed_at, check_in, step.nudge_count,
                    0, step.nudge_interval_minutes, next_nudge, _iso(s - 7 * day), now_iso,
                )  # fmt: skip
                n_reminders += 1
    for c in (patients, care, conditions, devices, courses, infusions, reminders):
        c.flush()
    return {
        "patients": patients.rows,
        "withdrawn": n_withdrawn,
        "check_ins": n_checkins,
        "responses": n_responses,
        "infusions": infusions.rows,
        "reminders": n_reminders,
        "devices": devices.rows,
        "distinct_scored_answer_sets": len(scorer._cache),
    }


def _derived(*, now_dt: datetime, severity: dict[str, str]) -> dict:
    """LatestScore and SafetyAlert from the stored responses, as the API would have kept
    them (the newest response per patient and instrument; one alert per rule that fired)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO outcomes_latestscore
                (patient_id, instrument_code, response_id, answered_at, total, band)
            SELECT DISTINCT ON (patient_id, instrument_code)
                patient_id, instrument_code, id, answered_at, total, band
            FROM outcomes_instrumentresponse
            ORDER BY patient_id, instrument_code, answered_at DESC
            """
        )
        out["latest_scores"] = cur.rowcount
        out["safety_alerts"] = 0
        for rule, sev in severity.items():
            # Older alerts were resolved by the clinic's clinician; the last two days' are
            # acknowledged (none is left open: nothing runs the escalation beat here).
            cur.execute(
                """
                INSERT INTO outcomes_safetyalert
                    (id, patient_id, check_in_id, response_id, rule, severity, status,
                     created_at, escalation_level, next_escalation_at, acknowledged_by_id,
                     acknowledged_at, resolved_by_id, resolved_at, note)
                SELECT gen_random_uuid(), r.patient_id, r.check_in_id, r.id, %(rule)s,
                    %(sev)s,
                    CASE WHEN r.answered_at < %(now)s - interval '2 days'
                         THEN 'resolved' ELSE 'acknowledged' END,
                    r.answered_at + interval '1 minute', 0, NULL, m.user_id,
                    r.answered_at + interval '20 minutes',
                    CASE WHEN r.answered_at < %(now)s - interval '2 days' THEN m.user_id END,
                    CASE WHEN r.answered_at < %(now)s - interval '2 days'
                         THEN r.answered_at + interval '1 day' END,
                    ''
                FROM outcomes_instrumentresponse r
                JOIN outcomes_patient p ON p.id = r.patient_id
                JOIN outcomes_clinicmembership m
                    ON m.clinic_id = p.clinic_id AND m.role = 'clinician'
                WHERE r.flags ? %(flag)s
                """,
                {"rule": rule, "sev": sev, "now": now_dt, "flag": f"safety:{rule}"},
            )
            out["safety_alerts"] += cur.rowcount
    return out


def _history_rows(*, now_dt: datetime) -> dict:
    """One "created" history row (django-simple-history) per row of every tracked model,
    as the API would have written when it created them; SQL, generic over the fields."""
    from django.apps import apps
    from django.db import connection

    out = {}
    for model in apps.get_models():
        manager = getattr(model, "history", None)
        history = getattr(manager, "model", None)
        if history is None or model._meta.app_label not in ("api", "outcomes", "notifications"):
            continue
        base = {f.column for f in model._meta.concrete_fields}
        cols, exprs = [], []
        for f in history._meta.concrete_fields:
            if f.column == "history_id":
                expr = "gen_random_uuid()"
            elif f.column == "history_date":
                expr = "created_at" if "created_at" in base else "%(now)s"
            elif f.column == "history_type":
                expr = "'+'"
            elif f.column in ("history_change_reason", "history_user_id"):
                expr = "NULL"
            elif f.column in base:
                expr = connection.ops.quote_name(f.column)
            else:
                raise SystemExit(
                    f"bench.seed: unknown history column {history.__name__}.{f.column}"
                )
            cols.append(connection.ops.quote_name(f.column))
            exprs.append(expr)
        with connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {history._meta.db_table} ({', '.join(cols)}) "  # noqa: S608
                f"SELECT {', '.join(exprs)} FROM {model._meta.db_table}",
                {"now": now_dt},
            )
            out[history._meta.db_table] = cur.rowcount
    return {"history_rows": out}


def _outcome_records() -> object:
    """The stored per-infusion outcomes the beat keeps (outcomes.services.outcome_records),
    computed by the product's own refresh, if this checkout has them."""
    try:
        from outcomes.models import Patient
        from outcomes.services.outcome_records import (
            outcome_records_refresh_stale,
            outcomes_mark_changed,
        )
    except ImportError:
        return "not in this checkout"
    outcomes_mark_changed(patient_ids=Patient.objects.values_list("id", flat=True))
    return outcome_records_refresh_stale(limit=10**7)


FOREIGN_KEYS = (
    ("outcomes_checkin", "patient_id", "outcomes_patient"),
    ("outcomes_instrumentresponse", "check_in_id", "outcomes_checkin"),
    ("outcomes_instrumentresponse", "patient_id", "outcomes_patient"),
    ("outcomes_instrumentresponse", "instrument_version_id", "outcomes_instrumentversion"),
    ("outcomes_infusion", "patient_id", "outcomes_patient"),
    ("outcomes_infusion", "course_id", "outcomes_treatmentcourse"),
    ("outcomes_patient", "user_id", "accounts_user"),
    ("notifications_reminder", "infusion_id", "outcomes_infusion"),
    ("notifications_reminder", "check_in_id", "outcomes_checkin"),
    ("notifications_device", "patient_id", "outcomes_patient"),
)


def verify(*, sample: int) -> dict:
    """Foreign keys (the COPY ran without their triggers), and a sample of responses
    re-validated and re-scored by the real engine, and of check-ins re-digested by the
    real `submission_digest`."""
    from django.db import connection

    from outcomes import scoring
    from outcomes.instruments import definition_for
    from outcomes.models import CheckIn, InstrumentResponse
    from outcomes.services.checkins import ResponseInput, submission_digest

    with connection.cursor() as cur:
        for table, column, target in FOREIGN_KEYS:
            cur.execute(
                f"SELECT count(*) FROM {table} a WHERE a.{column} IS NOT NULL AND NOT EXISTS "  # noqa: S608
                f"(SELECT 1 FROM {target} b WHERE b.id = a.{column})"
            )
            orphans = cur.fetchone()[0]
            if orphans:
                raise AssertionError(f"{orphans} rows of {table}.{column} point nowhere")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id FROM outcomes_instrumentresponse TABLESAMPLE SYSTEM (1) LIMIT %s", [sample]
        )
        ids = [r[0] for r in cur.fetchall()]
        cur.execute(
            "SELECT id FROM outcomes_checkin TABLESAMPLE SYSTEM (1) LIMIT %s", [sample // 3]
        )
        checkin_ids = [r[0] for r in cur.fetchall()]
    rows = InstrumentResponse.objects.select_related("instrument_version").filter(id__in=ids)
    for r in rows:
        defn = definition_for(r.instrument_version)
        assert scoring.validate_answers(defn, r.answers) == [], r.id
        s = scoring.score(defn, r.answers)
        assert (s.total, s.band, list(s.flags)) == (r.total, r.band, r.flags), r.id
    checkins = CheckIn.objects.prefetch_related("responses").filter(id__in=checkin_ids)
    for c in checkins:
        digest = submission_digest(
            answered_at=c.answered_at,
            responses=[
                ResponseInput(instrument=r.instrument_code, version="1", answers=r.answers)
                for r in c.responses.all()
            ],
        )
        assert digest == c.content_digest, c.id
    return {
        "foreign_keys_checked": len(FOREIGN_KEYS),
        "responses_rescored": len(rows),
        "digests_checked": len(checkin_ids),
    }


def table_counts() -> dict:
    from django.db import connection

    tables = (
        "outcomes_clinic", "accounts_user", "outcomes_clinicmembership", "outcomes_patient",
        "outcomes_patientcondition", "outcomes_patient_care_team", "outcomes_treatmentcourse",
        "outcomes_infusion", "outcomes_checkin", "outcomes_instrumentresponse",
        "outcomes_latestscore", "outcomes_safetyalert", "notifications_reminder",
        "notifications_device", "notifications_cadenceplan",
    )  # fmt: skip
    out = {}
    with connection.cursor() as cur:
        for t in tables:
            cur.execute(f"SELECT count(*) FROM {t}")  # noqa: S608
            out[t] = cur.fetchone()[0]
    return out


# --- the entry points -----------------------------------------------------------------------
def _params(clinics: int, patients: int, check_ins: int, seed_value: int) -> dict:
    return {
        "clinics": clinics,
        "patients": patients,
        "check_ins": check_ins,
        "seed": seed_value,
        "version": SEED_VERSION,
    }


def seed_network(
    *,
    clinics: int = 50,
    patients: int = 20_000,
    check_ins: int = 2_000_000,
    seed_value: int = 6,
    force: bool = False,
    database: str = BENCH_DB,
    setup: bool = True,
) -> NetworkSeed:
    """Make sure `database` holds this network (seeding only if its marker differs, or
    with `force`) and return the ids a benchmark needs."""
    if setup:
        setup_django(database)
    params = _params(clinics, patients, check_ins, seed_value)
    marker = _marker_read()
    seeded, summary, seconds = False, None, 0.0
    if force or marker is None or marker["params"] != params:
        start = time.perf_counter()
        summary = seed(argparse.Namespace(**params))
        seconds = time.perf_counter() - start
        _marker_write(params, summary)
        seeded = True
    else:
        summary = marker["summary"]
    return _ids(database=database, summary=summary, seeded=seeded, seconds=seconds)


def _ids(*, database: str, summary: dict, seeded: bool, seconds: float) -> NetworkSeed:
    from accounts.models import Clinic, ClinicMembership, Role
    from notifications.models import Device
    from outcomes.models import Patient, PatientStatus

    clinics = list(Clinic.objects.filter(slug__startswith="net-clinic-").values_list("id", "slug"))
    clinics.sort(key=lambda c: int(c[1].rsplit("-", 1)[1]))
    clinic_ids = [c[0] for c in clinics]
    index = {cid: i for i, cid in enumerate(clinic_ids)}
    role_of = {
        (m.clinic_id, m.role): m.user_id
        for m in ClinicMembership.objects.filter(clinic_id__in=clinic_ids)
    }
    patients = list(
        Patient.objects.filter(status=PatientStatus.ACTIVE, clinic_id__in=clinic_ids)
        .order_by("clinic_reference")
        .values_list("id", "user_id", "clinic_id")
    )
    token_of = dict(Device.objects.values_list("patient_id", "push_token"))
    return NetworkSeed(
        database=database,
        clinic_ids=[str(c) for c in clinic_ids],
        clinician_user_ids=[str(role_of[(c, Role.CLINICIAN)]) for c in clinic_ids],
        scheduler_user_ids=[str(role_of[(c, Role.SCHEDULER)]) for c in clinic_ids],
        patient_ids=[str(p[0]) for p in patients],
        patient_user_ids=[str(p[1]) for p in patients],
        patient_clinic_index=[index[p[2]] for p in patients],
        device_tokens=[token_of.get(p[0], "") for p in patients],
        sizes=summary,
        seeded=seeded,
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> NetworkSeed:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--check-ins", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=6, help="random seed")
    parser.add_argument("--database", default=BENCH_DB)
    parser.add_argument("--force", action="store_true", help="reseed even if the marker matches")
    args = parser.parse_args(argv)
    net = seed_network(
        clinics=args.clinics,
        patients=args.patients,
        check_ins=args.check_ins,
        seed_value=args.seed,
        force=args.force,
        database=args.database,
    )
    out = io.StringIO()
    if net.seeded:
        print(f"seeded {args.database} in {net.seconds:.1f} s", file=out)
    else:
        print(f"{args.database} already holds this seed (marker matches)", file=out)
    print(f"\n{'table':<34}{'rows':>12}", file=out)
    for table, n in net.sizes["rows"].items():
        print(f"{table:<34}{n:>12,}", file=out)
    print("\nseeding times (s): " + json.dumps(net.sizes["seeding"]), file=out)
    print("written: " + json.dumps(net.sizes["written"]), file=out)
    print("checks: " + json.dumps(net.sizes["checks"]), file=out)
    sys.stdout.write(out.getvalue())
    return net


if __name__ == "__main__":
    main()
