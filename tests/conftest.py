"""Fixtures for every layer. Nothing here needs PostgreSQL or Redis: tests/unit/ runs on a
machine with neither, and tests/portable/ on SQLite (config.settings.test_sqlite). The
database, the services' preflight check and the personas are in
tests/integration/conftest.py."""

from pathlib import Path

import firebase_admin
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection
from google.auth.credentials import CredentialsWithRegionalAccessBoundary

from notifications.channels import reset_channels
from tests.helpers import FCM_APP, PROJECT_ID, TOKEN_URL

HERE = Path(__file__).resolve().parent

# --- one run per database ---------------------------------------------------------------------


def pytest_ignore_collect(collection_path, config):
    """On SQLite (config.settings.test_sqlite) a run collects tests/portable/ alone; on
    PostgreSQL everything but it. A folder named on the command line is collected whatever
    this says, and tests/portable/conftest.py refuses to run on another database."""
    if collection_path.parent != HERE or not collection_path.is_dir():
        return None
    if (collection_path.name == "portable") != (connection.vendor == "sqlite"):
        return True
    return None


# --- the delivery channels at the HTTP boundary -----------------------------------------------


@pytest.fixture
def real_channels(settings):
    """The shipped channel classes, whatever AFTERGLOW_CHANNEL_OVERRIDES says, and no cached
    instance (or provider client) carried from one test to the next."""
    settings.AFTERGLOW_CHANNELS = {
        "push": "notifications.channels.push.FcmChannel",
        "email": "notifications.channels.email.EmailChannel",
        "sms": "notifications.channels.sms.TwilioSmsChannel",
        "console": "notifications.channels.console.ConsoleChannel",
    }
    reset_channels()
    yield
    reset_channels()


@pytest.fixture(scope="session")
def service_account() -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": f"fcm@{PROJECT_ID}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": TOKEN_URL,
    }


def _delete_fcm_app() -> None:
    try:
        app = firebase_admin.get_app(FCM_APP)
    except ValueError:
        return
    firebase_admin.delete_app(app)


@pytest.fixture
def fcm(settings, service_account, monkeypatch):
    """FCM configured with a synthetic service account; the firebase app (and the access
    token it caches) is created fresh in each test. `responses` patches requests'
    HTTPAdapter, the one chokepoint firebase-admin goes through: an unregistered URL raises
    ConnectionError, so a call nobody expected fails the test."""
    # google-auth (2.5x+) follows each token refresh with a Regional Access Boundary lookup
    # (GET iamcredentials.googleapis.com/.../allowedLocations) in a background thread that
    # swallows every error. It is no part of FCM's protocol, and its thread could outlive the
    # mock and reach the network, so it is switched off; a renamed hook fails here loudly.
    monkeypatch.setattr(
        CredentialsWithRegionalAccessBoundary,
        "_is_regional_access_boundary_lookup_required",
        lambda self: False,
    )
    _delete_fcm_app()
    settings.AFTERGLOW_FCM_CREDENTIALS = service_account
    reset_channels()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(
            TOKEN_URL,
            json={"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"},
        )
        yield rsps
    _delete_fcm_app()
