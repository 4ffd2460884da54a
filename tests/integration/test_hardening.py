"""Hardening: CORS closed unless configured, throttles answer 429 with Retry-After,
production settings pass Django's deployment checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_cors_is_closed_by_default(personas):
    resp = personas.client("clinician_x").get(
        "/api/v1/account/", HTTP_ORIGIN="https://evil.example"
    )
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in {k.lower() for k in resp.headers}


def test_a_configured_origin_is_allowed(personas, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://clinic-tool.example"]
    resp = personas.client("clinician_x").get(
        "/api/v1/account/", HTTP_ORIGIN="https://clinic-tool.example"
    )
    assert resp.headers["Access-Control-Allow-Origin"] == "https://clinic-tool.example"


def test_sign_in_is_throttled_with_retry_after(settings, db):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sign_in": "3/min",
        },
    }
    from rest_framework.throttling import ScopedRateThrottle

    # Restored below: api_settings still holds the overridden rates until the test ends.
    original_rates = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    cache.clear()
    try:
        codes = [
            APIClient()
            .post("/api/v1/auth/sign-in/", {"username": "x", "password": "y"})
            .status_code
            for _ in range(4)
        ]
        resp = APIClient().post("/api/v1/auth/sign-in/", {"username": "x", "password": "y"})
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original_rates
        cache.clear()
    assert codes[:3] == [400, 400, 400]
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert resp.json()["errors"][0]["code"] == "throttled"


def test_production_settings_pass_the_deployment_checks():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 20 + "-synthetic-deploy-check-key-" + "y" * 20,
        "DJANGO_ALLOWED_HOSTS": "afterglow.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_real_secret():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_ALLOWED_HOSTS": "afterglow.example.org",
        "DJANGO_SECRET_KEY": "short",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_a_host_this_api_does_not_serve_gets_the_json_error_shape(personas):
    """Django refuses a Host header outside ALLOWED_HOSTS before any view runs; the answer
    is still the API's documented error shape (found by the schemathesis run), not HTML."""
    client = personas.client("patient_a")
    resp = client.get("/api/v1/me/", HTTP_HOST="~")
    assert resp.status_code == 400
    assert resp["Content-Type"] == "application/json"
    assert resp.json() == {
        "type": "client_error",
        "errors": [{"code": "bad_request", "detail": "Bad request.", "attr": None}],
    }
