"""The phone's own view of itself: /api/v1/me/..."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from outcomes.models import CheckIn
from outcomes.selectors import access_checkin, checkins_for_patient

from ..filters import CheckInFilter
from ..pagination import TimeSeriesCursorPagination
from ..permissions import IsPatient, request_patient
from ..serializers import (
    CheckInSerializer,
    CheckInSubmitSerializer,
    PatientSelfSerializer,
)
from .checkins import SUBMIT_RESPONSES, check_in_submitted


class MeView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = PatientSelfSerializer

    @extend_schema(operation_id="me_retrieve", summary="The signed-in patient", tags=["me"])
    def get(self, request):
        return Response(PatientSelfSerializer(request_patient(request)).data)


class MyCheckInListView(generics.ListAPIView):
    """The patient's own check-ins and scores, newest first."""

    permission_classes = [IsPatient]
    serializer_class = CheckInSerializer
    pagination_class = TimeSeriesCursorPagination
    filterset_class = CheckInFilter
    throttle_scope = "submission"

    def get_throttles(self):
        # Only submissions are throttled; reading one's own history is not.
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CheckIn.objects.none()
        return checkins_for_patient(patient=request_patient(self.request))

    @extend_schema(operation_id="me_check_ins_list", summary="My check-ins", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="me_check_ins_submit",
        summary="Submit a check-in (idempotent on its id)",
        description=(
            "Validates every answer, scores and stores the check-in once. A retry with the "
            "same `id` and content returns the stored check-in with 200; the same `id` with "
            "other content is a 409. Bad answers: 400 naming each item, nothing stored."
        ),
        request=CheckInSubmitSerializer,
        responses=SUBMIT_RESPONSES,
        tags=["me"],
    )
    def post(self, request):
        # IsPatient has just read the patient: not read again.
        return check_in_submitted(request, patient=request_patient(request))


class MyCheckInDetailView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = CheckInSerializer

    @extend_schema(operation_id="me_check_ins_retrieve", summary="One of my check-ins", tags=["me"])
    def get(self, request, check_in_id):
        patient = request_patient(request)
        return Response(
            CheckInSerializer(access_checkin(patient=patient, check_in_id=check_in_id)).data
        )
