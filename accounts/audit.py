"""Marks what the current request did that the audit log must record.

Reads call `audit_touch` (access_patient, and serializers of health data); the HTTP
boundary (api.middleware.AuditMiddleware) writes one append-only AuditEvent per touched
patient once the response is known. Outside a request (tasks, commands) it does nothing.

Two kinds of named event go beside the touches, written whoever the caller is (staff or a
patient's phone):

- `audit_refused`: an attempt refused, recorded whatever the response (a 404 from an
  `access_*` selector, a 400 refusing to bring an erased patient back, a weakening of a
  clinic's sign-in policy without a fresh second factor). It names the object's patient
  and clinic only where the object exists; the response itself never says.
- `audit_action`: a security-relevant change under its own name (`mfa_off`, `dev_move`),
  recorded only if the request succeeds.
"""

from contextvars import ContextVar
from dataclasses import dataclass, field
from uuid import UUID

# AuditEvent.action values besides read/create/update/delete (at most 10 characters).
REFUSED = "refused"


@dataclass(frozen=True)
class Mark:
    action: str
    patient_id: UUID | None = None
    clinic_id: UUID | None = None


@dataclass
class Touched:
    patient_ids: set[UUID] = field(default_factory=set)
    clinic_ids: set[UUID] = field(default_factory=set)
    marks: list[Mark] = field(default_factory=list)

    def marks_for(self, status_code: int) -> list[Mark]:
        """The named events to write for a response: refusals always, changes only if the
        request succeeded (a change whose transaction rolled back did not happen)."""
        wanted = (m for m in self.marks if m.action == REFUSED or status_code < 400)
        return list(dict.fromkeys(wanted))


_current: ContextVar[Touched | None] = ContextVar("afterglow_audit", default=None)


def audit_start() -> object:
    return _current.set(Touched())


def audit_end(token: object) -> Touched:
    touched = _current.get() or Touched()
    _current.reset(token)
    return touched


def audit_recording() -> bool:
    """Whether a request is being audited (so a lookup made only for the log is worth it)."""
    return _current.get() is not None


def audit_touch(*, patient_ids=(), clinic_id: UUID | None = None) -> None:
    touched = _current.get()
    if touched is None:
        return
    touched.patient_ids.update(patient_ids)
    if clinic_id is not None:
        touched.clinic_ids.add(clinic_id)


def _mark(mark: Mark) -> None:
    touched = _current.get()
    if touched is not None:
        touched.marks.append(mark)


def audit_refused(*, patient_id: UUID | None = None, clinic_id: UUID | None = None) -> None:
    """Record a refused attempt on an object (its patient and clinic only if it exists)."""
    _mark(Mark(REFUSED, patient_id, clinic_id))


def audit_action(
    *, action: str, patient_id: UUID | None = None, clinic_id: UUID | None = None
) -> None:
    """Record a security-relevant change by name (at most 10 characters)."""
    if len(action) > 10 or action == REFUSED:
        raise ValueError(f"not an audit action name: {action!r}")
    _mark(Mark(action, patient_id, clinic_id))
