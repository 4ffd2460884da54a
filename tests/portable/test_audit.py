"""The append-only audit trail on SQLite: accounts/migrations/0003_audit_append_only.py
creates its trigger on PostgreSQL only, so here the model alone refuses to change or
remove a row (tests/integration/test_audit.py asserts the trigger's refusal as well)."""

from importlib import import_module
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from accounts.models import AuditEvent
from tests.helpers import client_for

pytestmark = pytest.mark.django_db
MIGRATION = "accounts.migrations.0003_audit_append_only"


def sqlite_triggers() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return [name for (name,) in cur.fetchall()]


def test_the_migration_ran_and_created_no_trigger():
    applied = MigrationRecorder(connection).applied_migrations()
    assert ("accounts", "0003_audit_append_only") in applied
    assert "audit_event_append_only" not in sqlite_triggers()


def test_the_migration_issues_no_sql_on_sqlite_either_way():
    migration = import_module(MIGRATION)
    executed: list[str] = []
    editor = SimpleNamespace(connection=connection, execute=executed.append)
    migration.forwards(None, editor)
    migration.backwards(None, editor)
    assert executed == []


def test_the_model_refuses_to_change_or_remove_an_audit_row(clinician, patient_a):
    resp = client_for(clinician).get(f"/api/v1/patients/{patient_a.id}/")
    assert resp.status_code == 200
    row = AuditEvent.objects.get()
    assert (row.actor_id, row.action, row.patient_id) == (clinician.id, "read", patient_a.id)
    row.path = "/elsewhere/"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    assert AuditEvent.objects.get(pk=row.pk).path == f"/api/v1/patients/{patient_a.id}/"
