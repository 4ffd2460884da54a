"""Marks which patients' health data the current request touched, for the audit log.

Reads call `audit_touch` (access_patient, and serializers of health data); the HTTP
boundary (api.middleware.AuditMiddleware) writes one append-only AuditEvent per touched
patient once the response is known. Outside a request (tasks, commands) it does nothing.
"""

from contextvars import ContextVar
from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class Touched:
    patient_ids: set[UUID] = field(default_factory=set)
    clinic_ids: set[UUID] = field(default_factory=set)


_current: ContextVar[Touched | None] = ContextVar("afterglow_audit", default=None)


def audit_start() -> object:
    return _current.set(Touched())


def audit_end(token: object) -> Touched:
    touched = _current.get() or Touched()
    _current.reset(token)
    return touched


def audit_touch(*, patient_ids=(), clinic_id: UUID | None = None) -> None:
    touched = _current.get()
    if touched is None:
        return
    touched.patient_ids.update(patient_ids)
    if clinic_id is not None:
        touched.clinic_ids.add(clinic_id)
