"""tests/unit/ needs no database and no broker: `pytest tests/unit` passes on a machine with
neither. pytest-django already refuses a query from a test without the `db` fixture; here a
unit test that asks for the database at all (`db`, `transactional_db`, the django_db mark)
fails at setup, even on a machine where PostgreSQL is up. Such a test belongs in
tests/integration/."""

import pytest


@pytest.fixture(scope="session")
def django_db_setup():
    pytest.fail(
        "a unit test asked for the database: tests/unit/ runs without one; "
        "move the test to tests/integration/",
        pytrace=False,
    )
