"""Check-in submission, shared by the patient's phone (`POST /me/check-ins/`) and the
clinic's tablet at a visit (`POST /patients/{id}/check-ins/`): one parse, one service call,
one response shape, so the two cannot drift apart."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from outcomes.models import Patient
from outcomes.selectors import access_checkin
from outcomes.services import checkin_submit
from outcomes.services.checkins import ResponseInput

from ..serializers import (
    CheckInCapturedSerializer,
    CheckInSubmitSerializer,
    CheckInSubmittedSerializer,
    ConflictErrorSerializer,
)


def _submit_responses(body) -> dict:
    return {
        201: body,
        200: OpenApiResponse(body, description="A retry: the stored check-in."),
        409: OpenApiResponse(
            ConflictErrorSerializer,
            description="`idempotency_key_reused`: this `id` was already used for another "
            "submission (other answers, another patient, or captured on another device).",
        ),
    }


SUBMIT_RESPONSES = _submit_responses(CheckInSubmittedSerializer)
CAPTURE_RESPONSES = _submit_responses(CheckInCapturedSerializer)


def check_in_submitted(
    request,
    *,
    patient: Patient,
    captured_by=None,
    serializer_class: type[Serializer] = CheckInSubmittedSerializer,
) -> Response:
    """Parse the body, submit it for `patient` (captured on the clinic's tablet by
    `captured_by`, or on the patient's phone when None) and render the check-in with its
    safety notice by `serializer_class`: 201 when stored now, 200 for a retry."""
    s = CheckInSubmitSerializer(data=request.data)
    s.is_valid(raise_exception=True)
    data = s.validated_data
    check_in, created = checkin_submit(
        patient=patient,
        check_in_id=data["id"],
        answered_at=data["answered_at"],
        responses=[
            ResponseInput(instrument=r["instrument"], version=r["version"], answers=r["answers"])
            for r in data["responses"]
        ],
        captured_by=captured_by,
        # Taken from a phone or the tablet now: not before the patient's enrolment.
        since_enrolment=True,
    )
    if not created:
        # A retry: render the stored check-in. A new one is rendered from the rows the
        # service just wrote (its responses and alerts are already on the instance).
        check_in = access_checkin(patient=patient, check_in_id=check_in.id)
    return Response(
        serializer_class(check_in).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )
