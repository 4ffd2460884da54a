"""Brute-force lockout (django-axes): failures lock a username from one address, with a
JSON 429 and Retry-After; a success resets the count; the lock lifts after the cool-off."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from rest_framework.test import APIClient

from tests.factories import PASSWORD, TOTPDeviceFactory, UserFactory

pytestmark = pytest.mark.django_db
SIGN_IN = "/api/v1/auth/sign-in/"
WRONG = "wrong-password"


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    # Sign-in throttle counters live in the local-memory cache; each test starts with none.
    cache.clear()


def attempt(user, password=WRONG, ip="127.0.0.1", forwarded_for=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return APIClient().post(
        SIGN_IN,
        {"username": user.username, "password": password},
        format="json",
        REMOTE_ADDR=ip,
        **extra,
    )


def fail(user, times, ip="127.0.0.1", forwarded_for=None):
    return [attempt(user, ip=ip, forwarded_for=forwarded_for).status_code for _ in range(times)]


@pytest.fixture
def proxies(settings):
    """Set TRUSTED_PROXY_COUNT as the settings module does: DRF's NUM_PROXIES, which the
    lockout's client address follows too."""

    def use(count: int) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return use


def test_failures_lock_the_username_from_that_address_with_a_json_429(personas, settings):
    limit = settings.AXES_FAILURE_LIMIT
    assert fail(personas.clinician_x, limit) == [400] * (limit - 1) + [429]
    locked = attempt(personas.clinician_x, password=PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json"
    assert locked["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    body = locked.json()
    assert body["type"] == "client_error"
    assert body["errors"][0]["code"] == "locked_out"
    assert body["errors"][0]["attr"] is None


def test_the_lock_is_per_username_and_address(personas, settings):
    fail(personas.clinician_x, settings.AXES_FAILURE_LIMIT)
    # Someone hammering a clinician's username from elsewhere does not lock them out.
    assert attempt(personas.clinician_x, password=PASSWORD, ip="10.0.0.7").status_code == 200
    assert attempt(personas.scheduler_x, password=PASSWORD).status_code == 200


def test_a_successful_sign_in_resets_the_count(personas, settings):
    limit = settings.AXES_FAILURE_LIMIT
    fail(personas.clinician_x, limit - 1)
    assert attempt(personas.clinician_x, password=PASSWORD).status_code == 200
    assert fail(personas.clinician_x, limit - 1) == [400] * (limit - 1)
    assert attempt(personas.clinician_x, password=PASSWORD).status_code == 200


def test_the_lock_lifts_after_the_cooloff(personas, settings):
    fail(personas.clinician_x, settings.AXES_FAILURE_LIMIT)
    assert attempt(personas.clinician_x, password=PASSWORD).status_code == 429
    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    with time_machine.travel(later):
        assert attempt(personas.clinician_x, password=PASSWORD).status_code == 200


def test_an_operator_can_lift_a_lock(personas, settings):
    fail(personas.clinician_x, settings.AXES_FAILURE_LIMIT)
    call_command("axes_reset_username", personas.clinician_x.username)
    assert attempt(personas.clinician_x, password=PASSWORD).status_code == 200


def test_unknown_usernames_are_counted_too(db, settings):
    ghost = UserFactory.build(username="nobody-here")
    limit = settings.AXES_FAILURE_LIMIT
    assert fail(ghost, limit)[-1] == 429
    assert AccessAttempt.objects.filter(username="nobody-here").exists()


def test_admin_login_still_works_and_is_locked_out_the_same_way(db, settings):
    operator = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDeviceFactory(user=operator)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    ok = Client().post(
        "/admin/login/",
        {
            "username": operator.username,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": f"{totp.token():06d}",
        },
    )
    assert ok.status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT):
        resp = Client().post(
            "/admin/login/", {"username": operator.username, "password": "wrong-password"}
        )
    assert resp.status_code == 429
    assert resp.json()["errors"][0]["code"] == "locked_out"
    assert resp["Retry-After"]


def test_attempts_during_a_lockout_do_not_extend_it(personas, settings):
    locked_at = timezone.now()
    with time_machine.travel(locked_at, tick=False):
        fail(personas.clinician_x, settings.AXES_FAILURE_LIMIT)
    # Someone keeps trying until a minute before the lock would lift.
    nearly = locked_at + settings.AXES_COOLOFF_TIME - timedelta(minutes=1)
    with time_machine.travel(nearly, tick=False):
        assert fail(personas.clinician_x, 3) == [429] * 3
        assert attempt(personas.clinician_x, password=PASSWORD).status_code == 429
    lifted = locked_at + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    with time_machine.travel(lifted, tick=False):
        assert attempt(personas.clinician_x, password=PASSWORD).status_code == 200


def test_behind_one_proxy_clients_are_locked_by_their_own_address(personas, settings, proxies):
    proxies(1)
    proxy = "10.0.0.2"
    limit = settings.AXES_FAILURE_LIMIT
    # The proxy appends the address it saw; whatever the client put before it is ignored.
    mallory = "192.0.2.66, 203.0.113.5"
    assert fail(personas.clinician_x, limit, ip=proxy, forwarded_for=mallory)[-1] == 429
    assert AccessAttempt.objects.get().ip_address == "203.0.113.5"
    # The clinician, from their own address through the same proxy, is not locked out.
    ok = attempt(personas.clinician_x, PASSWORD, ip=proxy, forwarded_for="203.0.113.9")
    assert ok.status_code == 200
    again = attempt(
        personas.clinician_x, PASSWORD, ip=proxy, forwarded_for="198.51.100.1, 203.0.113.5"
    )
    assert again.status_code == 429


def test_without_a_proxy_a_forged_forwarded_for_does_not_evade_the_lock(personas, settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0  # the default: direct connections
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        attempt(personas.clinician_x, forwarded_for=f"198.51.100.{n}").status_code
        for n in range(limit)
    ]
    assert statuses == [400] * (limit - 1) + [429]
    assert AccessAttempt.objects.get().ip_address == "127.0.0.1"
    forged = attempt(personas.clinician_x, password=PASSWORD, forwarded_for="198.51.100.200")
    assert forged.status_code == 429


def test_without_a_proxy_a_forged_forwarded_for_does_not_evade_the_throttle(db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sign_in": "3/min",
        },
    }
    from rest_framework.throttling import ScopedRateThrottle

    # ScopedRateThrottle copied the rates when imported; restored below.
    original_rates = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        codes = [
            APIClient()
            .post(
                SIGN_IN,
                {"username": f"someone-{n}", "password": WRONG},
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            )
            .status_code
            for n in range(4)
        ]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original_rates
        cache.clear()
    assert codes == [400, 400, 400, 429]


def test_the_sign_in_throttle_and_the_lockout_share_one_proxy_setting():
    from django.conf import settings

    from config.settings import base

    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == base.TRUSTED_PROXY_COUNT == 0
    assert settings.AXES_CLIENT_IP_CALLABLE == "accounts.lockout.client_ip_address"
    assert settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is False
