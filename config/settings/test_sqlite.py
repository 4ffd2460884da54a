"""Test settings for tests/portable/: the embedded default's database, SQLite, and no servers.

The hot paths' portable twins (docs/architecture.md, "The embedded default: SQLite stays")
run here on a real SQLite file with the demo's connection options, against the same
expected values the PostgreSQL tests assert. Nothing is read from DATABASE_URL,
CELERY_BROKER_URL or CACHE_URL: .ci/test exports the PostgreSQL and Redis ones for the main
run, and this run must need neither. Everything else is as in config/settings/test.py
(tests/portable/test_settings.py keeps the two, and the SQLite options, in step).

    DJANGO_SETTINGS_MODULE=config.settings.test_sqlite .venv/bin/pytest tests/portable
"""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

SECRET_KEY = "test-only-key"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

# A file, not ":memory:", so that the demo's journal mode (WAL) and write lock are the ones
# under test. pytest-django creates it (TEST NAME) and Django removes it at the end; the
# process id keeps two runs on one machine apart.
_SQLITE_FILE = str(Path(tempfile.gettempdir()) / f"afterglow-test-{os.getpid()}.sqlite3")
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _SQLITE_FILE,
        "TEST": {"NAME": _SQLITE_FILE},
        "ATOMIC_REQUESTS": False,
        "CONN_MAX_AGE": 0,
        # As config/settings/base.py sets them for the embedded default.
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
# Kombu's in-process transport: a task enqueued on commit goes nowhere, and needs no Redis.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}

# --- as config/settings/test.py -----------------------------------------------------------
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_KNOX = {**REST_KNOX, "SECURE_HASH_ALGORITHM": "hashlib.sha512"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        "sign_in": "1000/min",
        "enrol": "1000/min",
        "submission": "1000/min",
        "export": "1000/min",
    },
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STATIC_ROOT = None
