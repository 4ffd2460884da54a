"""config.settings.test_sqlite: the demo's SQLite options, no server, and otherwise the
settings of config.settings.test, kept in step with both."""

import ast
import os
import subprocess
import sys
from importlib import import_module

import pytest
from django.conf import settings
from django.db import connection

# config.settings.test's own choices, which test_sqlite repeats (it cannot import them:
# test.py refuses any database but PostgreSQL).
SHARED = [
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "PASSWORD_HASHERS",
    "REST_KNOX",
    "EMAIL_BACKEND",
    "REST_FRAMEWORK",
    "CACHES",
    "STATIC_ROOT",
]
PROBE = f"""
import os
os.environ["DATABASE_URL"] = "sqlite:///demo.sqlite3"
from config.settings import base
print(repr(base.DATABASES["default"]["OPTIONS"]))
os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/afterglow"
from config.settings import test
print(repr({{name: getattr(test, name) for name in {SHARED!r}}}))
"""


def settings_of_the_demo_and_of_the_postgresql_tests() -> tuple[dict, str]:
    """In a fresh interpreter: importing config.settings.test changes base's DATABASES."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
    ).stdout.splitlines()
    return ast.literal_eval(out[0]), out[1]


def test_the_settings_are_the_demos_sqlite_options_and_the_postgresql_tests_rest():
    demo_options, postgresql_tests = settings_of_the_demo_and_of_the_postgresql_tests()
    default = settings.DATABASES["default"]
    assert default["ENGINE"] == "django.db.backends.sqlite3"
    assert default["OPTIONS"] == demo_options
    # The module, not django.conf.settings: the test environment adds to ALLOWED_HOSTS.
    ours = import_module(settings.SETTINGS_MODULE)
    assert repr({name: getattr(ours, name) for name in SHARED}) == postgresql_tests


def test_nothing_needs_a_server():
    assert settings.CELERY_BROKER_URL == "memory://"
    assert settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
    assert [db["ENGINE"] for db in settings.DATABASES.values()] == ["django.db.backends.sqlite3"]


@pytest.mark.django_db
def test_the_test_database_is_a_file_opened_as_the_demo_opens_it():
    assert connection.vendor == "sqlite"
    assert not connection.is_in_memory_db()
    assert connection.transaction_mode == "IMMEDIATE"
    with connection.cursor() as cur:
        cur.execute("PRAGMA journal_mode")
        assert cur.fetchone()[0] == "wal"
        cur.execute("PRAGMA synchronous")
        assert cur.fetchone()[0] == 1  # NORMAL
