"""The audit log's writer: after each staff request that touched patient data, and after
any request that left a named event (a refused attempt, a security change)."""

from django.db import transaction

from accounts.audit import audit_end, audit_start
from accounts.models import AuditEvent, ClinicMembership
from outcomes.models import Patient

ACTIONS = {
    "GET": "read",
    "HEAD": "read",
    "POST": "create",
    "PUT": "update",
    "PATCH": "update",
    "DELETE": "delete",
}


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = audit_start()
        try:
            response = self.get_response(request)
        finally:
            touched = audit_end(token)
        if touched.patient_ids or touched.clinic_ids or touched.marks:
            self._write(request, response, touched)
        return response

    def _write(self, request, response, touched) -> None:
        user = getattr(request, "user", None)  # DRF sets the token's user on the request
        if user is None or not user.is_authenticated:
            return
        status = response.status_code
        marks = touched.marks_for(status)
        reads = status < 400 and bool(touched.patient_ids or touched.clinic_ids)
        # A patient reading their own data is not a staff access; a refused attempt or a
        # named change is recorded whoever made it.
        if reads and not ClinicMembership.objects.filter(user=user).exists():
            reads = False
        if not (reads or marks):
            return
        match = getattr(request, "resolver_match", None)
        common = {
            "actor_id": user.pk,
            "actor_username": user.get_username()[:150],
            "method": request.method[:10],
            "path": request.path[:300],
            "view": (match.view_name if match else "")[:100],
            "status_code": status,
            "ip": request.META.get("REMOTE_ADDR") or None,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
        }
        patient_ids = set(touched.patient_ids) if reads else set()
        patient_ids |= {m.patient_id for m in marks if m.patient_id and not m.clinic_id}
        clinic_of = dict(Patient.objects.filter(id__in=patient_ids).values_list("id", "clinic_id"))
        rows = [
            AuditEvent(
                action=m.action,
                patient_id=m.patient_id,
                clinic_id=m.clinic_id or clinic_of.get(m.patient_id),
                **common,
            )
            for m in marks
        ]
        if reads:
            action = ACTIONS.get(request.method, request.method.lower())[:10]
            rows += [
                AuditEvent(action=action, patient_id=pid, clinic_id=clinic_of.get(pid), **common)
                for pid in sorted(touched.patient_ids)
            ] + [
                AuditEvent(action=action, patient_id=None, clinic_id=cid, **common)
                for cid in sorted(touched.clinic_ids)
            ]
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows)
