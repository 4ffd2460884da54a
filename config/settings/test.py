"""Test settings: the real PostgreSQL and Redis, never a silent fallback.

The test command checks both are reachable before pytest starts (.ci/test); here the
database must be PostgreSQL so that a forgotten DATABASE_URL cannot quietly run on SQLite.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, env

SECRET_KEY = "test-only-key"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
DATABASES["default"] = env.db(
    "DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/afterglow"
)
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Tests run on PostgreSQL only; DATABASE_URL must be postgres://")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/15")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_KNOX = {**REST_KNOX, "SECURE_HASH_ALGORITHM": "hashlib.sha512"}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Throttles are exercised by their own tests; the rest of the suite must not trip them.
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
# No collected static files in tests (whitenoise would warn about the missing folder).
STATIC_ROOT = None
