"""The benchmarks' private PostgreSQL databases: created if missing, migrated, emptied.

Each benchmark names its own database; these helpers refuse any other (the development
`afterglow` database and every test database are never touched).
"""

import io
import os
import platform
from pathlib import Path

# The only databases a benchmark may empty: never `afterglow`, never a test database.
BENCH_DATABASES = frozenset(
    {
        "afterglow_bench",
        "afterglow_bench_outcomes",
        "afterglow_bench_dispatch",
        "afterglow_bench_network",
        "afterglow_bench_network_quick",
    }
)


def _ensure_database(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(bench_db: str) -> None:
    """Point Django at `bench_db` (whatever the caller's environment says) and start it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{bench_db}"
    _ensure_database(bench_db)
    import django

    django.setup()
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if name != bench_db or name not in BENCH_DATABASES:
        raise SystemExit(f"refusing to run against database {name!r}")


def reset_database() -> None:
    """Migrate, truncate every table of our apps, load the shipped instruments."""
    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    tables = sorted(
        {
            model._meta.db_table
            for label in ("api", "outcomes", "notifications")
            for model in apps.get_app_config(label).get_models(include_auto_created=True)
        }
    )
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE {} RESTART IDENTITY CASCADE".format(
                ", ".join(connection.ops.quote_name(t) for t in tables)
            )
        )
    call_command("instruments_sync", verbosity=0, stdout=io.StringIO())


def analyze() -> None:
    """Fresh planner statistics after bulk seeding, so autovacuum does not change plans
    half-way through a timed loop."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE")


def machine_info() -> dict:
    """What the figures were measured on, for the JSON output."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "postgres": pg,
        "platform": platform.platform(),
    }


# Rows per COPY statement: large enough to amortise the round trip, small enough to
# keep the buffered text to tens of MB.
COPY_CHUNK = 50_000


class Copier:
    """COPY ... FROM STDIN in text format, in chunks. Values must need no escaping (UUIDs,
    ISO times, numbers, tab- and backslash-free JSON and text). `before` copiers are
    flushed first, so that each chunk's references are already written."""

    def __init__(self, table: str, columns: list[str], before: list["Copier"] = ()) -> None:
        self.table, self.columns, self.before = table, columns, list(before)
        self.lines: list[str] = []
        self.rows = 0

    def add(self, *values) -> None:
        self.lines.append("\t".join("\\N" if v is None else str(v) for v in values))
        if len(self.lines) >= COPY_CHUNK:
            self.flush()

    def add_line(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= COPY_CHUNK:
            self.flush()

    def flush(self) -> None:
        from django.db import connection

        for other in self.before:
            other.flush()
        if not self.lines:
            return
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        with (
            connection.cursor() as cur,
            cur.cursor.copy(f"COPY {self.table} ({cols}) FROM STDIN") as copy,
        ):
            copy.write(("\n".join(self.lines) + "\n").encode())
        self.rows += len(self.lines)
        self.lines = []
