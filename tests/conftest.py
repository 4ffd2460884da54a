"""Shared fixtures: the real PostgreSQL and Redis, personas, an API client per persona."""

import pytest
from rest_framework.test import APIClient

from api.auth import device_token_issue
from api.preflight import check

from . import factories


def pytest_sessionstart(session):
    # A run that cannot reach PostgreSQL or Redis stops here, loudly; it never skips.
    problems = check()
    if problems:
        pytest.exit("; ".join(problems), returncode=3)


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


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        _, token = device_token_issue(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


class Personas:
    """Patient A and B (clinic X), a patient of clinic Y, a clinician, scheduler and admin
    of clinic X, a clinician and a scheduler of clinic Y, and anonymous."""

    def __init__(self):
        self.clinic_x = factories.ClinicFactory(name="Clinic X")
        self.clinic_y = factories.ClinicFactory(name="Clinic Y")
        self.clinician_x = factories.StaffFactory(clinic=self.clinic_x, role="clinician")
        self.scheduler_x = factories.StaffFactory(clinic=self.clinic_x, role="scheduler")
        self.admin_x = factories.StaffFactory(clinic=self.clinic_x, role="clinic_admin")
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
def patient(db):
    return factories.PatientFactory()


@pytest.fixture
def patient_client(patient) -> APIClient:
    return client_for(patient.user)


def pytest_terminal_summary(terminalreporter):
    """Print what the schemathesis run covered (tests/test_fuzz_api.py), in every run."""
    import sys

    fuzz = sys.modules.get("tests.test_fuzz_api")
    if fuzz is None or not fuzz.TOTALS["roles"]:
        return
    for line in fuzz.SUMMARY:
        terminalreporter.write_line(line)
