"""The audit log's writer: after each staff request that touched patient data."""

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
        if (touched.patient_ids or touched.clinic_ids) and response.status_code < 400:
            self._write(request, response, touched)
        return response

    def _write(self, request, response, touched) -> None:
        user = getattr(request, "user", None)  # DRF sets the token's user on the request
        if user is None or not user.is_authenticated:
            return
        if not ClinicMembership.objects.filter(user=user).exists():
            return  # a patient reading their own data is not a staff access
        match = getattr(request, "resolver_match", None)
        common = {
            "actor_id": user.pk,
            "actor_username": user.get_username()[:150],
            "action": ACTIONS.get(request.method, request.method.lower())[:10],
            "method": request.method[:10],
            "path": request.path[:300],
            "view": (match.view_name if match else "")[:100],
            "status_code": response.status_code,
            "ip": request.META.get("REMOTE_ADDR") or None,
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
        }
        clinic_of = dict(
            Patient.objects.filter(id__in=touched.patient_ids).values_list("id", "clinic_id")
        )
        rows = [
            AuditEvent(patient_id=pid, clinic_id=clinic_of.get(pid), **common)
            for pid in sorted(touched.patient_ids)
        ] + [
            AuditEvent(patient_id=None, clinic_id=cid, **common)
            for cid in sorted(touched.clinic_ids)
        ]
        with transaction.atomic():
            AuditEvent.objects.bulk_create(rows)
