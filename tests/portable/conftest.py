"""tests/portable/: the hot paths' portable twins on a real SQLite database, with no
PostgreSQL and no Redis (docs/architecture.md, "The embedded default: SQLite stays").

    DJANGO_SETTINGS_MODULE=config.settings.test_sqlite .venv/bin/pytest tests/portable

The twins are chosen by `connection.vendor`, so these tests mean nothing on another
database: a run that collects any test here on a backend other than SQLite stops before
the first test, loudly (exit status 4); it never skips. The root conftest keeps this
folder out of the PostgreSQL run and the other folders out of this one.
"""

from pathlib import Path

import pytest
from django.db import connection

from tests import factories

HERE = Path(__file__).resolve().parent


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    if not any(HERE in Path(item.path).resolve().parents for item in session.items):
        return
    if connection.vendor != "sqlite":
        pytest.exit(
            f"tests/portable runs on SQLite only, and the database here is "
            f"{connection.vendor} ({connection.settings_dict['ENGINE']}): run it with "
            "DJANGO_SETTINGS_MODULE=config.settings.test_sqlite",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the shipped instrument definitions once into the test database."""
    from outcomes.services import instruments_sync

    with django_db_blocker.unblock():
        instruments_sync()


@pytest.fixture
def instruments(db):
    """The shipped instrument definitions, loaded again if a transactional test's flush
    removed them."""
    from outcomes.models import InstrumentVersion
    from outcomes.services import instruments_sync

    if not InstrumentVersion.objects.filter(clinic__isnull=True).exists():
        instruments_sync()


@pytest.fixture(autouse=True)
def _forget_cached_instrument_versions():
    """A test's rows are rolled back (or flushed); the process's cache of them must go too."""
    yield
    from outcomes.services.instruments import active_versions_forget

    active_versions_forget()


@pytest.fixture
def clinic(instruments):
    return factories.ClinicFactory(name="Clinic X")


@pytest.fixture
def clinician(clinic):
    return factories.StaffFactory(clinic=clinic, role="clinician")


@pytest.fixture
def patient_a(clinic, clinician):
    return factories.PatientFactory(clinic=clinic, care_team=[clinician])


@pytest.fixture
def patient_b(clinic):
    return factories.PatientFactory(clinic=clinic)
