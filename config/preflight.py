"""Fail loudly, before anything else runs, when PostgreSQL or Redis cannot be reached.

`python -m config.preflight` (the test command runs it) and the integration tests'
conftest (once any integration test is collected) both call check(); neither ever falls
back to SQLite or an in-memory broker.
"""

import os
import sys

import environ
import psycopg
import redis

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/afterglow"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"


def check() -> list[str]:
    problems = []
    env = environ.Env()
    db = env.db_url_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    if db["ENGINE"] != "django.db.backends.postgresql":
        problems.append(f"DATABASE_URL must point at PostgreSQL, not {db['ENGINE']}")
    else:
        try:
            psycopg.connect(
                host=db.get("HOST") or "127.0.0.1",
                port=db.get("PORT") or 5432,
                user=db.get("USER") or "postgres",
                password=db.get("PASSWORD") or None,
                dbname="postgres",
                connect_timeout=5,
            ).close()
        except psycopg.Error as exc:
            problems.append(f"PostgreSQL unreachable at {db.get('HOST')}:{db.get('PORT')}: {exc}")
    broker = os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
    if not broker.startswith(("redis://", "rediss://")):
        problems.append(f"CELERY_BROKER_URL must point at Redis, not {broker.split(':')[0]}")
    else:
        try:
            redis.Redis.from_url(broker, socket_connect_timeout=5).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis unreachable at {broker}: {exc}")
    return problems


def main() -> int:
    problems = check()
    for p in problems:
        print(f"preflight: {p}", file=sys.stderr)
    if not problems:
        print("preflight: PostgreSQL and Redis are reachable")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
