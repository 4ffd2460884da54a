"""Settings for the load test (`bench.load`): production's, plus the floor endpoint.

Everything comes from config.settings.production (DEBUG off, persistent database connections,
the Redis cache for throttles, whitenoise, security middleware, the same middleware list,
knox tokens, the same REST framework settings), with only these differences:

- the `bench.floor` app and its URL (`bench.urls`: the API's URLs plus /bench/floor/);
- bench-only values for what production refuses to default: DJANGO_SECRET_KEY and
  DJANGO_ALLOWED_HOSTS (127.0.0.1, localhost), unless the environment sets them;
- throttle rates high enough for a load test (100,000/min per user): throttles still run,
  with their cache round trips, they just never say no. Production's 60 submissions per
  minute per user would not bind either with thousands of simulated patients, but a short
  saturation run could cross it for a few of them.

SECURE_SSL_REDIRECT stays on, as in production behind its TLS proxy: the load client sends
`X-Forwarded-Proto: https`, which is what the proxy adds (gunicorn runs with
`--forwarded-allow-ips "*"`, as in docker-compose.yml).
"""

import os

os.environ.setdefault(
    "DJANGO_SECRET_KEY",
    "bench-load-only-key-synthetic-data-" + "x" * 32,
)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

from config.settings.production import *  # noqa: F403
from config.settings.production import INSTALLED_APPS, REST_FRAMEWORK

INSTALLED_APPS = [*INSTALLED_APPS, "bench.floor"]
ROOT_URLCONF = "bench.urls"
BENCH_THROTTLE_RATE = os.environ.get("BENCH_THROTTLE_RATE", "100000/min")
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        scope: BENCH_THROTTLE_RATE for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    },
}
