"""Local development and the embedded demo: SQLite and the filesystem Celery transport
unless DATABASE_URL / CELERY_BROKER_URL say otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-only-insecure-key-never-use-in-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

AFTERGLOW_DEFAULT_CHANNELS = env.list("AFTERGLOW_DEFAULT_CHANNELS", default=["console"])
AFTERGLOW_STAFF_CHANNELS = env.list("AFTERGLOW_STAFF_CHANNELS", default=["console"])
# The demo has no Twilio: a high-risk page goes by the console like any notice, rather
# than queueing texts that could only fail.
AFTERGLOW_STAFF_PAGE_CHANNELS = env.list("AFTERGLOW_STAFF_PAGE_CHANNELS", default=[])
# runserver serves static files itself in local runs; nothing is collected.
STATIC_ROOT = None
