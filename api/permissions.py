"""Coarse, role-level gates. Object-level reach is decided by outcomes.selectors."""

from rest_framework.permissions import BasePermission

from accounts.models import ClinicMembership
from outcomes.models import Patient
from outcomes.selectors import patient_for_user


class IsPatient(BasePermission):
    message = "Only a patient's app account can do this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        # Token requests bring the patient (and clinic) with the token's own query
        # (api.authentication); anything else reads it here. Kept on the request, so the
        # view need not read it a second time (request_patient).
        try:
            request.patient = user.patient
        except Patient.DoesNotExist:
            request.patient = None
        return request.patient is not None


def request_patient(request) -> Patient:
    """The patient whose app account made this request: the row IsPatient read while
    checking it, or (on a view without IsPatient) read now. 404 for a non-patient."""
    patient = getattr(request, "patient", None)
    return patient if patient is not None else patient_for_user(user=request.user)


class IsStaffWithRole(BasePermission):
    """The user holds at least one of the view's `staff_roles` at some clinic."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return ClinicMembership.objects.filter(user=user, role__in=view.staff_roles).exists()
