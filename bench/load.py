"""Load test of the API served by gunicorn (issue 6): check-in submission against a floor.

    .venv/bin/python -m bench.load            # full: 50 clinics, 20,000 patients, 2M check-ins
    .venv/bin/python -m bench.load --quick    # 5 clinics, 1,000 patients, 50,000 check-ins
    .venv/bin/python -m bench.load --profile  # also py-spy the gunicorn workers during saturation

Options: --workers 3 (gunicorn), --concurrency 8 (closed loops), --saturation-seconds 30,
--rate 150 --open-seconds 60 (open loop), --mix-seconds 30, --patients-with-tokens 2000,
--reseed, and the seed sizes --clinics --patients --check-ins.

Database: afterglow_bench_network, seeded by `bench.seed.seed_network` (COPY; skipped when
its marker says the same sizes are already there, so a re-run starts in seconds; rows the
previous runs wrote stay, about 1% per run; `--reseed` starts afresh). Redis: db 12 (cache,
for throttles) and db 13 (Celery broker), both flushed at start; nothing else is touched.

Server: gunicorn as docker-compose.yml's web service (`config.wsgi:application`, 3 sync
workers, access log, `--forwarded-allow-ips "*"`) on 127.0.0.1, with
DJANGO_SETTINGS_MODULE=bench.settings: config.settings.production plus the floor app and URL,
bench-only SECRET_KEY/ALLOWED_HOSTS and throttle rates that never bind (see
bench/settings.py). PostgreSQL and Redis on loopback. No Celery worker runs: the tasks
that submissions enqueue (ids only) wait in Redis db 13.

Client: a separate process (asyncio + httpx), with knox tokens created beforehand for
--patients-with-tokens active patients and every clinic's clinician; every request carries
`X-Forwarded-Proto: https`, as the TLS proxy would. Scenarios, one run, same server:

(a) saturation, closed loop at --concurrency: POST /bench/floor/ (authenticate, insert one
    row) then POST /api/v1/me/check-ins/ (a fresh UUID each time; PHQ-9 + GAD-7 for a
    quarter, MOOD otherwise, 15% with PAIN-NRS, 3% of PHQ-9s with item 9 > 0, so safety
    alerts are raised); throughput, p50/p95/p99, errors, and submission/floor;
(b) open loop: check-ins sent on a fixed clock at --rate per second for --open-seconds,
    each latency measured from its scheduled send time (coordinated omission is not
    hidden: a stalled server shows up in the tail, not as fewer requests);
(c) a mix, closed loop at --concurrency: phone submissions (60%), device-token refreshes
    (re-POST of the registered push token to /me/devices/, 25%), clinician trajectory
    reads (/patients/{id}/trajectory/?instrument=PHQ-9, 12%) and cohort reads
    (/clinics/{id}/durability/?instrument=PHQ-9, 3%); per endpoint.

Each closed-loop run discards its first 3 s (warm-up). Before the runs, the query count
of each endpoint is taken in-process (Django's test client through the same settings and
middleware, an execute_wrapper counting statements) and the submission's statements are
EXPLAIN ANALYZEd on the seeded data. Results: a table on stdout and bench/out/load.json.
See docs/BENCHMARKS.md ("Clinic-network scale").
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

BENCH_DB = "afterglow_bench_network"
QUICK_DB = "afterglow_bench_network_quick"  # --quick: its own seed, the full one stays
OUT_DIR = Path(__file__).resolve().parent / "out"
ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CACHE_URL = "redis://127.0.0.1:6379/12"
BROKER_URL = "redis://127.0.0.1:6379/13"
WARMUP_S = 3.0
MAX_IN_FLIGHT = 300  # open loop: beyond this, a request is counted as an error, not sent
MIX = (("submit", 0.60), ("device", 0.25), ("trajectory", 0.12), ("cohort", 0.03))


# --- server-side preparation (the parent process) --------------------------------------------
def server_env(database: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        CACHE_URL=CACHE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        DJANGO_LOG_LEVEL="WARNING",
    )
    return env


def prepare(args) -> dict:
    """Seed (or reuse) the network, migrate the floor, fresh tokens. Returns the plan the
    client needs."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["CACHE_URL"] = CACHE_URL
    os.environ["CELERY_BROKER_URL"] = BROKER_URL
    from bench.seed import seed_network

    net = seed_network(
        clinics=args.clinics,
        patients=args.patients,
        check_ins=args.check_ins,
        force=args.reseed,
        database=args.database,
    )
    import io

    from django.core.management import call_command
    from django.db import connection
    from knox import crypto
    from knox.models import AuthToken
    from knox.settings import CONSTANTS, knox_settings

    call_command("migrate", verbosity=0, interactive=False, stdout=io.StringIO())
    with connection.cursor() as cur:
        cur.execute("TRUNCATE bench_floor_row")
    _redis_flush()

    # Fresh tokens for this run (the bench database's tokens are all ours).
    rng = random.Random(args.seed)
    AuthToken.objects.all().delete()
    n = min(args.patients_with_tokens, len(net.patient_ids))
    chosen = sorted(rng.sample(range(len(net.patient_ids)), n))
    now = datetime.now(UTC)

    def make(user_id: str) -> tuple[AuthToken, str]:
        token = crypto.create_token_string()
        return (
            AuthToken(
                user_id=user_id,
                digest=crypto.hash_token(token),
                token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH],
                expiry=now + knox_settings.TOKEN_TTL,
            ),
            token,
        )

    patient_tokens = [make(net.patient_user_ids[i]) for i in chosen]
    clinician_tokens = [make(u) for u in net.clinician_user_ids]
    AuthToken.objects.bulk_create([t for t, _ in patient_tokens + clinician_tokens])
    from outcomes.models import LatestScore

    latest: dict[str, dict] = defaultdict(dict)
    for pid, code, total in LatestScore.objects.filter(
        patient_id__in=[net.patient_ids[i] for i in chosen]
    ).values_list("patient_id", "instrument_code", "total"):
        latest[str(pid)][code] = total
    patients = [
        {
            "token": tok,
            "patient_id": net.patient_ids[i],
            "clinic": net.patient_clinic_index[i],
            "push_token": net.device_tokens[i],
            "latest": latest[net.patient_ids[i]],
        }
        for (_, tok), i in zip(patient_tokens, chosen, strict=True)
    ]
    return {
        "patients": patients,
        "clinicians": [tok for _, tok in clinician_tokens],
        "clinic_ids": net.clinic_ids,
        "seed": {
            "seeded_now": net.seeded,
            "seed_seconds": round(net.seconds, 1),
            "rows": net.sizes.get("rows"),
            "seeding": net.sizes.get("seeding"),
        },
    }


def _redis_flush() -> None:
    import redis

    for url in (CACHE_URL, BROKER_URL):
        redis.Redis.from_url(url).flushdb()


def _redis_queue_length() -> int:
    import redis

    r = redis.Redis.from_url(BROKER_URL)
    return sum(r.llen(k) for k in r.keys("*") if r.type(k) == b"list")


# --- query counts and EXPLAIN (in-process, same settings) ----------------------------------
_TABLE = re.compile(r'(?:FROM|UPDATE|INTO)\s+"(\w+)"')


def query_kind(sql: str) -> str:
    verb = sql.lstrip().split(None, 1)[0].upper()
    match = _TABLE.search(sql)
    if not match:
        return verb
    if verb == "SELECT" and "FOR UPDATE" in sql:
        return f"SELECT FOR UPDATE {match.group(1)}"
    return f"{verb} {match.group(1)}"


class Recorder:
    def __init__(self) -> None:
        self.queries: list[tuple[str, object, float]] = []

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((sql, params, time.perf_counter() - start))


def _spread(total: int, items: int, rng: random.Random) -> dict[str, int]:
    """`items` answers of 0-3 summing to `total`, in a random order."""
    values = [0] * items
    for _ in range(total):
        i = rng.choice([k for k in range(items) if values[k] < 3])
        values[i] += 1
    return {f"item{i + 1}": v for i, v in enumerate(values)}


def submission_body(rng: random.Random, latest: dict | None = None) -> dict:
    """One phone submission: a quarter PHQ-9 + GAD-7 (3% of PHQ-9s with item 9 > 0),
    otherwise MOOD, 15% of those with PAIN-NRS. Scores stay within a couple of points of
    the patient's latest ones (`latest`: code -> total), as real ones mostly do, so the
    large-worsening rule fires about as rarely as it would (with no `latest`: uniform)."""
    latest = latest or {}

    def near(code: str, hi: int, spread: int) -> int:
        base = latest.get(code)
        if base is None:
            return rng.randint(0, hi)
        return min(hi, max(0, round(base) + rng.randint(-spread, spread)))

    if rng.random() < 0.25:
        item9 = 1 if rng.random() < 0.03 else 0
        phq = _spread(max(0, min(24, near("PHQ-9", 27, 2) - item9)), 8, rng)
        phq["item9"] = item9
        gad = _spread(near("GAD-7", 21, 2), 7, rng)
        responses = [
            {"instrument": "PHQ-9", "version": "1", "answers": phq},
            {"instrument": "GAD-7", "version": "1", "answers": gad},
        ]
    else:
        mood = {"item1": near("MOOD", 10, 1)}
        responses = [{"instrument": "MOOD", "version": "1", "answers": mood}]
        if rng.random() < 0.15:
            pain = {"item1": near("PAIN-NRS", 10, 1)}
            responses.append({"instrument": "PAIN-NRS", "version": "1", "answers": pain})
    return {
        "id": str(uuid.uuid4()),
        "answered_at": datetime.now(UTC).isoformat(),
        "responses": responses,
    }


def count_queries(plan: dict, *, samples: int = 5) -> dict:
    """Statements per request of each endpoint, through Django's test client (same settings,
    middleware, knox authentication; no gunicorn), and EXPLAIN ANALYZE of the submission's."""
    from django.db import connection
    from django.test import Client

    rng = random.Random(1)
    client = Client(HTTP_HOST="127.0.0.1")  # an ALLOWED_HOSTS name of bench.settings
    p = plan["patients"][0]
    clinician = plan["clinicians"][p["clinic"]]
    clinic_id = plan["clinic_ids"][p["clinic"]]

    def hdr(token):
        return {"HTTP_AUTHORIZATION": f"Token {token}", "secure": True}

    calls = {
        "floor": lambda: client.post(
            "/bench/floor/", {"id": str(uuid.uuid4())}, content_type="application/json",
            **hdr(p["token"]),
        ),
        "submit": lambda: client.post(
            "/api/v1/me/check-ins/", submission_body(rng, p["latest"]),
            content_type="application/json",
            **hdr(p["token"]),
        ),
        "submit_phq9_gad7": lambda: client.post(
            "/api/v1/me/check-ins/", _full_body(rng, p["latest"]),
            content_type="application/json",
            **hdr(p["token"]),
        ),
        "device": lambda: client.post(
            "/api/v1/me/devices/",
            {"push_token": p["push_token"], "platform": "ios", "app_version": "1.0.1"},
            content_type="application/json", **hdr(p["token"]),
        ),
        "trajectory": lambda: client.get(
            f"/api/v1/patients/{p['patient_id']}/trajectory/?instrument=PHQ-9", **hdr(clinician)
        ),
        "cohort": lambda: client.get(
            f"/api/v1/clinics/{clinic_id}/durability/?instrument=PHQ-9", **hdr(clinician)
        ),
    }  # fmt: skip
    out: dict[str, dict] = {}
    explain_source = None
    for name, call in calls.items():
        call()  # warm-up (first-request imports and caches)
        counts, kinds = [], None
        for _ in range(samples if name.startswith("submit") else 2):
            rec = Recorder()
            with connection.execute_wrapper(rec):
                resp = call()
            if resp.status_code >= 400:
                raise SystemExit(f"{name}: HTTP {resp.status_code} {resp.content[:300]!r}")
            counts.append(len(rec.queries))
            kinds = kinds or [query_kind(q[0]) for q in rec.queries]
            if name == "submit_phq9_gad7":
                explain_source = rec.queries
        out[name] = {"statements": sorted(set(counts)), "kinds": kinds}
    out["submit_phq9_gad7"]["explain"] = explain(explain_source or [])
    return out


def _full_body(rng: random.Random, latest: dict) -> dict:
    body = submission_body(rng, latest)
    while body["responses"][0]["instrument"] != "PHQ-9":
        body = submission_body(rng, latest)
    return body


def explain(queries: list) -> list[dict]:
    """EXPLAIN (ANALYZE, BUFFERS) of each data statement, in a transaction rolled back."""
    from django.db import connection, transaction

    out = []
    for sql, params, seconds in queries:
        verb = sql.lstrip().split(None, 1)[0].upper()
        if verb not in ("SELECT", "UPDATE", "INSERT", "DELETE"):
            continue
        try:
            with transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    plan = [r[0] for r in cur.fetchall()]
                transaction.set_rollback(True)
        except Exception as exc:  # a duplicate key on re-insert, say: report and move on
            plan = [f"(not explained: {type(exc).__name__})"]
        nodes = [ln.strip() for ln in plan if "Scan" in ln or "Insert" in ln or "Update" in ln]
        ms = next((ln.split(":")[1].strip() for ln in plan if "Execution Time" in ln), "")
        out.append(
            {
                "kind": query_kind(sql),
                "ms_in_request": round(seconds * 1000, 3),
                "execution": ms,
                "nodes": [n.split("  (")[0] for n in nodes][:4],
            }
        )
    return out


# --- gunicorn ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port: int) -> subprocess.Popen:
    OUT_DIR.mkdir(exist_ok=True)
    log = open(OUT_DIR / "load-gunicorn.log", "w")  # noqa: SIM115 - closed with the process
    cmd = [
        str(VENV_BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--access-logfile", str(OUT_DIR / "load-access.log"),
        "--forwarded-allow-ips", "*",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(args.database), stdout=log, stderr=log)  # noqa: S603
    deadline = time.monotonic() + 180  # a busy 2-core machine boots 3 workers slowly
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited; see {OUT_DIR / 'load-gunicorn.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise SystemExit("gunicorn did not answer /healthz within 180 s")


def worker_pids(master: int) -> list[int]:
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- profiling ----------------------------------------------------------------------------------
def start_profilers(master: int, seconds: float) -> list[tuple[subprocess.Popen, Path]]:
    """py-spy record (raw folded stacks) on every gunicorn worker, for `seconds`."""
    pyspy = VENV_BIN / "py-spy"
    if not pyspy.exists():
        pyspy = Path(shutil.which("py-spy") or "py-spy")
    out = []
    for pid in worker_pids(master):
        path = OUT_DIR / f"load-pyspy-{pid}.txt"
        cmd = [
            str(pyspy), "record", "--pid", str(pid), "--duration", str(int(seconds)),
            "--rate", "250", "--format", "raw", "--output", str(path), "--nonblocking",
        ]  # fmt: skip
        out.append(
            (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path)  # noqa: S603
        )
    return out


def summarise_profiles(profilers) -> dict:
    """Self and inclusive sample shares by function, over every worker's folded stacks."""
    self_n: Counter = Counter()
    incl_n: Counter = Counter()
    total = 0
    for proc, path in profilers:
        proc.wait(timeout=120)
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            n = int(n)
            frames = [_frame(f) for f in stack.split(";")]
            total += n
            self_n[frames[-1]] += n
            for f in set(frames):
                incl_n[f] += n
    if not total:
        return {"samples": 0}
    idle = sum(v for k, v in self_n.items() if "wait" in k or "select" in k or "accept" in k)

    def top(counter, k=25):
        return [(f, round(100 * v / total, 1)) for f, v in counter.most_common(k)]

    return {
        "samples": total,
        "idle_or_waiting_pct_guess": round(100 * idle / total, 1),
        "self_pct": top(self_n),
        "inclusive_pct": top(incl_n, 60),
        "files": [str(p) for _, p in profilers],
    }


def _frame(f: str) -> str:
    # "func (path/to/file.py:123)" -> "func (file.py)"; keep the module path short.
    m = re.match(r"(.*) \((.*?):\d+\)$", f.strip())
    if not m:
        return f.strip()
    func, path = m.groups()
    path = path.split("site-packages/")[-1].replace("/work/main/", "")
    return f"{func} ({path})"


# --- the client (a separate process) ------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(lat_ms: list[float], errors: int, seconds: float, extra: dict | None = None) -> dict:
    return {
        "requests": len(lat_ms) + errors,
        "ok": len(lat_ms),
        "errors": errors,
        "seconds": round(seconds, 2),
        "throughput_per_s": round(len(lat_ms) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(pct(lat_ms, 0.50), 2),
        "p95_ms": round(pct(lat_ms, 0.95), 2),
        "p99_ms": round(pct(lat_ms, 0.99), 2),
        "max_ms": round(max(lat_ms), 2) if lat_ms else float("nan"),
        "mean_ms": round(statistics.fmean(lat_ms), 2) if lat_ms else float("nan"),
        **(extra or {}),
    }


def cpu_by_pid(pids) -> dict[int, float]:
    """utime + stime of these processes (/proc/<pid>/stat), in seconds. CPU time, unlike
    latency, does not grow when the machine is shared: it is the cost of the work."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out


def backend_pids_of(database: str) -> list[int]:
    """PostgreSQL backends connected to `database`, from their process titles (a backend
    that reconnects after CONN_MAX_AGE gets a new pid: look again at each reading)."""
    mark = f" {database} ".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"postgres:") and mark in cmd + b" ":
            pids.append(int(d.name))
    return pids


class CpuMeter:
    """CPU seconds of the gunicorn workers and of the bench database's PostgreSQL backends
    (all of them: the workers' and the test's own idle one) over a window. A backend that
    exits inside the window is lost, one that starts is counted from zero."""

    def __init__(self, pids: dict) -> None:
        self.workers = pids.get("workers", [])
        self.database = pids.get("database")
        self.start: dict[str, dict] = {}
        self.used: dict[str, float] = {}

    def _read(self) -> dict[str, dict]:
        out = {"workers": cpu_by_pid(self.workers)}
        if self.database:
            out["postgres"] = cpu_by_pid(backend_pids_of(self.database))
        return out

    def begin(self) -> None:
        self.start = self._read()

    def end(self) -> None:
        now = self._read()
        self.used = {
            k: sum(v - self.start.get(k, {}).get(pid, 0.0) for pid, v in now[k].items())
            for k in now
        }

    def per_request(self, n: int) -> dict:
        if not n or not self.used:
            return {}
        return {f"{k}_cpu_ms_per_req": round(1000 * v / n, 2) for k, v in self.used.items()}


class Requests:
    """Builds each request of each kind from the plan."""

    def __init__(self, plan: dict, seed: int) -> None:
        self.plan = plan
        self.rng = random.Random(seed)
        self.by_clinic = defaultdict(list)
        for p in plan["patients"]:
            self.by_clinic[p["clinic"]].append(p)

    @staticmethod
    def _h(token: str) -> dict:
        return {"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"}

    def make(self, kind: str) -> tuple[str, str, dict, dict | None, tuple[int, ...]]:
        rng = self.rng
        p = rng.choice(self.plan["patients"])
        if kind == "floor":
            return "POST", "/bench/floor/", self._h(p["token"]), {"id": str(uuid.uuid4())}, (201,)
        if kind == "submit":
            body = submission_body(rng, p["latest"])
            return "POST", "/api/v1/me/check-ins/", self._h(p["token"]), body, (201,)
        if kind == "device":
            body = {
                "push_token": p["push_token"],
                "platform": "ios",
                "app_version": f"1.0.{rng.randint(0, 9)}",
            }
            return "POST", "/api/v1/me/devices/", self._h(p["token"]), body, (200, 201)
        clinician = self.plan["clinicians"][p["clinic"]]
        if kind == "trajectory":
            url = f"/api/v1/patients/{p['patient_id']}/trajectory/?instrument=PHQ-9"
            return "GET", url, self._h(clinician), None, (200,)
        if kind == "cohort":
            clinic_id = self.plan["clinic_ids"][p["clinic"]]
            url = f"/api/v1/clinics/{clinic_id}/durability/?instrument=PHQ-9"
            return "GET", url, self._h(clinician), None, (200,)
        raise ValueError(kind)


async def _send(client, req) -> tuple[bool, int]:
    method, url, headers, body, ok = req
    try:
        resp = await client.request(method, url, headers=headers, json=body)
        return resp.status_code in ok, resp.status_code
    except Exception as exc:  # timeouts, resets: counted as errors
        return False, type(exc).__name__


async def closed_loop(
    client, reqs: Requests, kinds, *, concurrency: int, seconds: float, cpu: CpuMeter
) -> dict:
    """`concurrency` users, each sending its next request when the previous one answered."""
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    lat: dict[str, list[float]] = defaultdict(list)
    errs: Counter = Counter()
    statuses: Counter = Counter()
    loop = asyncio.get_running_loop()
    begin = loop.time()
    measure_from = begin + WARMUP_S
    end = measure_from + seconds

    async def meter():
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        cpu.begin()
        await asyncio.sleep(max(0.0, end - loop.time()))
        cpu.end()

    async def user():
        while loop.time() < end:
            kind = reqs.rng.choices(names, weights)[0]
            req = reqs.make(kind)
            t = loop.time()
            good, code = await _send(client, req)
            done = loop.time()
            if t >= measure_from and done <= end:
                statuses[f"{kind}:{code}"] += 1
                if good:
                    lat[kind].append(1000 * (done - t))
                else:
                    errs[kind] += 1

    await asyncio.gather(meter(), *(user() for _ in range(concurrency)))
    out = {k: summary(lat[k], errs[k], seconds) for k in names}
    total = sum(len(v) for v in lat.values())
    out["_statuses"] = dict(statuses)
    out["_cpu"] = {"requests": total, **cpu.per_request(total)}
    if len(names) == 1:
        out[names[0]].update(cpu.per_request(len(lat[names[0]])))
    return out


async def open_loop(client, reqs: Requests, *, rate: float, seconds: float, cpu: CpuMeter) -> dict:
    """Requests scheduled at fixed times (i / rate); each latency runs from its scheduled
    time, so a server that falls behind is charged for the queueing it caused."""
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    t0 = loop.time() + 0.5
    lat: list[float] = []
    lag: list[float] = []
    errors = 0
    statuses: Counter = Counter()
    in_flight = 0
    max_in_flight = 0

    async def one(at: float, req):
        nonlocal errors, in_flight, max_in_flight
        if in_flight >= MAX_IN_FLIGHT:
            # The server is this far behind: piling on only builds a backlog that poisons
            # the next scenario. Counted as an error (it would have timed out).
            errors += 1
            statuses["dropped_over_max_in_flight"] += 1
            return
        in_flight += 1
        max_in_flight = max(max_in_flight, in_flight)
        lag.append(1000 * (loop.time() - at))
        good, code = await _send(client, req)
        statuses[code] += 1
        if good:
            lat.append(1000 * (loop.time() - at))
        else:
            errors += 1
        in_flight -= 1

    tasks = []
    for i in range(n):
        at = t0 + i / rate
        req = reqs.make("submit")  # built before its slot, so building is not in the latency
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at, req)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - t0
    return summary(
        lat,
        errors,
        elapsed,
        {
            "target_rate_per_s": rate,
            "scheduled": n,
            "send_lag_p99_ms": round(pct(lag, 0.99), 2),
            "send_lag_max_ms": round(max(lag), 2) if lag else 0.0,
            "max_in_flight": max_in_flight,
            "statuses": {str(k): v for k, v in statuses.items()},
        },
    )


async def drain(client, *, quiet_ms: float = 100.0, limit_s: float = 60.0) -> None:
    """Wait until the server answers /healthz promptly (no backlog from the last run)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        t = loop.time()
        with contextlib.suppress(Exception):  # still busy: try again
            await client.get("/healthz")
        if 1000 * (loop.time() - t) < quiet_ms:
            return
        await asyncio.sleep(0.5)


def _merge(parts: list[dict]) -> dict:
    """Rounds of one closed-loop kind, as one run: latencies re-derived from the rounds'
    samples are not kept, so percentiles are the rounds' medians (noted in the JSON)."""
    ok = sum(p["ok"] for p in parts)
    seconds = sum(p["seconds"] for p in parts)
    out = {
        "requests": sum(p["requests"] for p in parts),
        "ok": ok,
        "errors": sum(p["errors"] for p in parts),
        "seconds": round(seconds, 2),
        "throughput_per_s": round(ok / seconds, 1) if seconds else 0.0,
    }
    for key in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms"):
        values = [p[key] for p in parts if p["ok"]]
        out[key] = round(max(values) if key == "max_ms" else statistics.median(values), 2)
    for key in ("workers_cpu_ms_per_req", "postgres_cpu_ms_per_req"):
        n = [(p[key], p["ok"]) for p in parts if key in p]
        if n:
            out[key] = round(sum(v * k for v, k in n) / max(1, sum(k for _, k in n)), 2)
    out["rounds"] = parts
    return out


async def saturation(client, reqs: Requests, cfg: dict, cpu: CpuMeter) -> dict:
    """Floor then submission, `rounds` times, so both see the same (shared) machine: the
    ratio is taken per round and its median reported."""
    c, s = cfg["concurrency"], cfg["saturation_seconds"]
    floors, subs, ratios, statuses = [], [], [], Counter()
    for _ in range(cfg["rounds"]):
        f = await closed_loop(client, reqs, [("floor", 1.0)], concurrency=c, seconds=s, cpu=cpu)
        await drain(client)
        b = await closed_loop(client, reqs, [("submit", 1.0)], concurrency=c, seconds=s, cpu=cpu)
        await drain(client)
        floors.append(f["floor"])
        subs.append(b["submit"])
        statuses.update(f["_statuses"])
        statuses.update(b["_statuses"])
        if f["floor"]["throughput_per_s"]:
            ratios.append(b["submit"]["throughput_per_s"] / f["floor"]["throughput_per_s"])
    floor, sub = _merge(floors), _merge(subs)

    def cost(x: dict) -> float | None:
        if "workers_cpu_ms_per_req" not in x:
            return None
        return x["workers_cpu_ms_per_req"] + x.get("postgres_cpu_ms_per_req", 0.0)

    return {
        "concurrency": c,
        "rounds": cfg["rounds"],
        "seconds_per_phase": s,
        "floor": floor,
        "submit": sub,
        "statuses": dict(statuses),
        "ratio_submit_to_floor": round(statistics.median(ratios), 3) if ratios else None,
        "ratio_per_round": [round(r, 3) for r in ratios],
        # What the ratio would be where CPU (web workers + their database backends) is the
        # limit: the floor's cost over the submission's.
        "cpu_cost_ratio_floor_over_submit": round(cost(floor) / cost(sub), 3)
        if cost(floor) and cost(sub)
        else None,
    }


async def client_main(plan: dict, cfg: dict) -> dict:
    import httpx

    reqs = Requests(plan, cfg["seed"])
    cpu = CpuMeter(cfg.get("cpu_pids", {}))
    base = cfg["base_url"]
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    timeout = httpx.Timeout(10.0)
    results: dict = {}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        if "saturation" in cfg["scenarios"]:
            results["saturation"] = await saturation(client, reqs, cfg, cpu)
        if "open" in cfg["scenarios"]:
            results["open_loop"] = await open_loop(
                client, reqs, rate=cfg["rate"], seconds=cfg["open_seconds"], cpu=cpu
            )
            await drain(client)
        if "mix" in cfg["scenarios"]:
            mix = await closed_loop(
                client,
                reqs,
                MIX,
                concurrency=cfg["concurrency"],
                seconds=cfg["mix_seconds"],
                cpu=cpu,
            )
            results["mix"] = {"concurrency": cfg["concurrency"], "weights": dict(MIX), **mix}
    return results


def run_client(plan_path: Path, cfg: dict) -> dict:
    """The client in its own process (`--client`), so its CPU is not the server's."""
    cfg_path = OUT_DIR / "load-client-config.json"
    res_path = OUT_DIR / "load-client-results.json"
    cfg_path.write_text(json.dumps(cfg))
    cmd = [
        sys.executable,
        "-m",
        "bench.load",
        "--client",
        str(plan_path),
        str(cfg_path),
        str(res_path),
    ]
    subprocess.run(cmd, cwd=ROOT, check=True)  # noqa: S603
    results = json.loads(res_path.read_text())
    cfg_path.unlink()
    res_path.unlink()
    return results


# --- output ---------------------------------------------------------------------------------------
def print_table(res: dict) -> None:
    rows = []
    sat = res["scenarios"].get("saturation")
    if sat:
        for k in ("floor", "submit"):
            rows.append((f"(a) saturation, c={sat['concurrency']}: {k}", sat[k]))
    ol = res["scenarios"].get("open_loop")
    if ol:
        rows.append((f"(b) open loop {ol['target_rate_per_s']:g}/s: submit", ol))
    mix = res["scenarios"].get("mix")
    if mix:
        for k, _ in MIX:
            rows.append((f"(c) mix, c={mix['concurrency']}: {k}", mix[k]))
    head = f"{'scenario':<42}{'req/s':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"
    head += f"{'ok':>8}{'err':>6}{'cpu web/db ms':>15}"
    print("\n" + head + "\n" + "-" * len(head))
    for name, s in rows:
        w, d = s.get("workers_cpu_ms_per_req"), s.get("postgres_cpu_ms_per_req")
        cpu = f"{w:.1f}/{d:.1f}" if w is not None and d is not None else ""
        print(
            f"{name:<42}{s['throughput_per_s']:>9.1f}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}"
            f"{s['p99_ms']:>9.1f}{s['max_ms']:>9.1f}{s['ok']:>8}{s['errors']:>6}{cpu:>15}"
        )
    if sat:
        print(
            f"\nsubmission / floor throughput: {sat['ratio_submit_to_floor']} (median of rounds "
            f"{sat['ratio_per_round']}; target >= 0.60); CPU cost floor / submission: "
            f"{sat['cpu_cost_ratio_floor_over_submit']}"
        )
    if ol:
        print(
            f"open loop: {ol['scheduled']} scheduled, send lag p99 {ol['send_lag_p99_ms']} ms, "
            f"max in flight {ol['max_in_flight']} (target p99 < 50 ms, 0 errors)"
        )
    q = res.get("queries")
    if q:
        print("\nstatements per request (in-process, same settings):")
        for name, v in q.items():
            print(f"  {name:<18} {v['statements']}")
    prof = res.get("profile")
    if prof and prof.get("samples"):
        print(f"\npy-spy, {prof['samples']} samples over the workers; top inclusive:")
        for f, share in prof["inclusive_pct"][:25]:
            print(f"  {share:5.1f}%  {f}")


def main(argv: list[str] | None = None) -> dict | None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--client":
        plan = json.loads(Path(argv[1]).read_text())
        cfg = json.loads(Path(argv[2]).read_text())
        results = asyncio.run(client_main(plan, cfg))
        Path(argv[3]).write_text(json.dumps(results))
        return None
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clinics", type=int, default=None)
    parser.add_argument("--patients", type=int, default=None)
    parser.add_argument("--check-ins", type=int, default=None)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--saturation-seconds", type=float, default=None, help="per phase")
    parser.add_argument("--rounds", type=int, default=3, help="floor/submission alternations")
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--open-seconds", type=float, default=None)
    parser.add_argument("--mix-seconds", type=float, default=None)
    parser.add_argument("--patients-with-tokens", type=int, default=2000)
    parser.add_argument("--scenarios", default="saturation,open,mix")
    parser.add_argument("--profile", action="store_true", help="py-spy the workers (saturation)")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--label", default="", help="a note stored in the JSON (e.g. before/after)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.clinics = args.clinics or (5 if quick else 50)
    args.patients = args.patients or (1000 if quick else 20_000)
    args.check_ins = args.check_ins or (50_000 if quick else 2_000_000)
    args.database = QUICK_DB if quick else BENCH_DB
    args.saturation_seconds = args.saturation_seconds or (5 if quick else 12)
    args.open_seconds = args.open_seconds or (15 if quick else 60)
    args.mix_seconds = args.mix_seconds or (8 if quick else 30)
    started = time.perf_counter()

    plan = prepare(args)
    from bench._db import machine_info

    OUT_DIR.mkdir(exist_ok=True)
    queries = count_queries(plan)
    plan_path = OUT_DIR / "load-plan.json"  # tokens of a bench database: git-ignored, removed
    plan_path.write_text(json.dumps(plan))
    port = free_port()
    server = start_server(args, port)
    profile = None
    try:
        cfg = {
            "base_url": f"http://127.0.0.1:{port}",
            "seed": args.seed,
            "concurrency": args.concurrency,
            "saturation_seconds": args.saturation_seconds,
            "rate": args.rate,
            "open_seconds": args.open_seconds,
            "mix_seconds": args.mix_seconds,
            "scenarios": args.scenarios.split(","),
            "rounds": args.rounds,
        }
        # Warm every worker (imports, connections, the instrument cache) before measuring.
        run_client(plan_path, {**cfg, "scenarios": ["mix"], "mix_seconds": 5})
        cfg["cpu_pids"] = {"workers": worker_pids(server.pid), "database": args.database}
        profilers: list = []
        timer = None
        if args.profile and "saturation" in cfg["scenarios"]:
            # py-spy the first submission phase (the first floor phase comes before it).
            delay = WARMUP_S + args.saturation_seconds + 1.0 + WARMUP_S
            timer = threading.Timer(
                delay,
                lambda: profilers.extend(start_profilers(server.pid, args.saturation_seconds)),
            )
            timer.start()
        results = run_client(plan_path, cfg)
        if timer is not None:
            timer.join()
            profile = summarise_profiles(profilers)
        queued = _redis_queue_length()
    finally:
        stop_server(server)
        plan_path.unlink(missing_ok=True)

    from django.conf import settings as dj

    out = {
        "label": args.label,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_average_at_end": os.getloadavg(),
        "config": {
            "workers": args.workers,
            "concurrency": args.concurrency,
            "saturation_seconds_per_phase": args.saturation_seconds,
            "saturation_rounds": args.rounds,
            "open_rate_per_s": args.rate,
            "open_seconds": args.open_seconds,
            "mix_seconds": args.mix_seconds,
            "warmup_s": WARMUP_S,
            "patients_with_tokens": len(plan["patients"]),
            "settings": "bench.settings (config.settings.production + floor)",
            "conn_max_age": dj.DATABASES["default"]["CONN_MAX_AGE"],
            "client": "httpx AsyncClient, separate process",
        },
        "seed": plan["seed"],
        "queries": queries,
        "scenarios": results,
        "celery_messages_left_in_broker": queued,
        "profile": profile,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    name = "load-quick.json" if quick else "load.json"
    (OUT_DIR / name).write_text(json.dumps(out, indent=2, default=str))
    print_table(out)
    print(f"\nwritten to {OUT_DIR / name}; total {out['total_seconds']} s")
    return out


if __name__ == "__main__":
    main()
