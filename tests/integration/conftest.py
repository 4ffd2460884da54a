"""Fixtures for tests on the real PostgreSQL and Redis: the test database with the shipped
instruments loaded, personas and an API client per persona.

A run that collects any test here and cannot reach PostgreSQL or Redis stops before the
first test, loudly (exit status 3); it never skips. pytest calls `pytest_sessionstart` only
in root conftests, before this one is loaded, so the check runs when collection finishes.
"""

import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from config.preflight import check
from notifications.services.devices import device_register
from notifications.services.plan_store import default_plan_ensure
from outcomes.models import InstrumentVersion, SafetyAlert, VisitAlert
from outcomes.services.infusions import infusion_schedule
from outcomes.services.visits import reading_add, session_start
from tests import factories
from tests.factories import checkin_payload, phq9
from tests.helpers import client_for

HERE = Path(__file__).resolve().parent


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    if not any(HERE in Path(item.path).resolve().parents for item in session.items):
        return
    problems = check()
    if connection.vendor != "postgresql":
        problems.append(f"the database is {connection.vendor}, not PostgreSQL")
    if problems:
        pytest.exit(
            "integration tests need PostgreSQL and Redis: " + "; ".join(problems), returncode=3
        )


def pytest_terminal_summary(terminalreporter):
    """Print what the schemathesis run covered (test_fuzz_api.py), in every run."""
    fuzz = sys.modules.get("tests.integration.test_fuzz_api")
    if fuzz is None or not fuzz.TOTALS["roles"]:
        return
    for line in fuzz.SUMMARY:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the shipped instrument definitions once into the test database."""
    from outcomes.services import instruments_sync

    with django_db_blocker.unblock():
        instruments_sync()


@pytest.fixture(autouse=True)
def _forget_cached_instrument_versions():
    """A test's rows are rolled back; the process's cache of them must go too."""
    yield
    from outcomes.services.instruments import active_versions_forget

    active_versions_forget()


class Personas:
    """Patient A and B (clinic X), a patient of clinic Y, a clinician, scheduler, admin and
    nurse of clinic X, a clinician and a scheduler of clinic Y, and anonymous."""

    def __init__(self):
        self.clinic_x = factories.ClinicFactory(name="Clinic X")
        self.clinic_y = factories.ClinicFactory(name="Clinic Y")
        self.clinician_x = factories.StaffFactory(clinic=self.clinic_x, role="clinician")
        self.scheduler_x = factories.StaffFactory(clinic=self.clinic_x, role="scheduler")
        self.admin_x = factories.StaffFactory(clinic=self.clinic_x, role="clinic_admin")
        self.nurse_x = factories.StaffFactory(clinic=self.clinic_x, role="nurse")
        self.clinician_y = factories.StaffFactory(clinic=self.clinic_y, role="clinician")
        self.scheduler_y = factories.StaffFactory(clinic=self.clinic_y, role="scheduler")
        self.patient_a = factories.PatientFactory(
            clinic=self.clinic_x, care_team=[self.clinician_x]
        )
        self.patient_b = factories.PatientFactory(clinic=self.clinic_x)
        self.patient_y = factories.PatientFactory(clinic=self.clinic_y)

    def client(self, name: str) -> APIClient:
        if name == "anonymous":
            return APIClient()
        who = getattr(self, name)
        return client_for(getattr(who, "user", who))


@pytest.fixture
def personas(db) -> Personas:
    return Personas()


@pytest.fixture
def world(personas):
    """Personas plus one stored check-in of patient A, and the objects the endpoint
    matrix's paths name (tests/helpers.py, MATRIX)."""
    payload = checkin_payload(responses=[phq9(1, 2, 1, 2, 1, 2, 1, 2, 0)])
    assert personas.client("patient_a").post("/api/v1/me/check-ins/", payload).status_code == 201
    personas.checkin_a = payload["id"]
    personas.instrument_id = InstrumentVersion.objects.filter(code="PHQ-9").first().id
    personas.plan_x = default_plan_ensure(clinic=personas.clinic_x)
    personas.infusion_a = infusion_schedule(
        patient=personas.patient_a, scheduled_at=timezone.now() + timedelta(days=2)
    )
    personas.device_a, _ = device_register(
        patient=personas.patient_a, push_token="synthetic-token-a", platform="ios"
    )
    # An older check-in (so check-in A stays the latest) that raises a safety alert.
    alerting = checkin_payload(
        responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)],
        answered_at=timezone.now() - timedelta(days=1),
    )
    personas.client("patient_a").post("/api/v1/me/check-ins/", alerting, format="json")
    personas.alert_a = SafetyAlert.objects.get(check_in_id=alerting["id"])
    # The infusion visit: A's infusion monitored, one reading past the alert threshold; and
    # an esketamine session of A, whose REMS form is due.
    session_start(infusion=personas.infusion_a, user=personas.nurse_x)
    reading_add(
        infusion=personas.infusion_a,
        reading_id=uuid.uuid4(),
        taken_at=timezone.now(),
        fields={"systolic": 190, "diastolic": 118},
        user=personas.nurse_x,
    )
    personas.visit_alert_a = VisitAlert.objects.get(session__infusion=personas.infusion_a)
    personas.infusion_e = infusion_schedule(
        patient=personas.patient_a,
        scheduled_at=timezone.now() - timedelta(hours=3),
        product="esketamine",
        route="intranasal",
    )
    session_start(infusion=personas.infusion_e, user=personas.nurse_x)
    return personas


@pytest.fixture
def patient(db):
    return factories.PatientFactory()


@pytest.fixture
def patient_client(patient) -> APIClient:
    return client_for(patient.user)
