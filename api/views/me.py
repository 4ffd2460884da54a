"""The phone's own view of itself: /api/v1/me/..."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from outcomes.models import CheckIn
from outcomes.selectors import access_checkin, checkins_for_patient
from outcomes.services import checkin_submit
from outcomes.services.checkins import ResponseInput

from ..filters import CheckInFilter
from ..pagination import TimeSeriesCursorPagination
from ..permissions import IsPatient, request_patient
from ..serializers import (
    CheckInSerializer,
    CheckInSubmitSerializer,
    CheckInSubmittedSerializer,
    PatientSelfSerializer,
)


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
        responses={
            201: CheckInSubmittedSerializer,
            200: OpenApiResponse(
                CheckInSubmittedSerializer, description="A retry: the stored check-in."
            ),
        },
        tags=["me"],
    )
    def post(self, request):
        s = CheckInSubmitSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        # IsPatient has just read the patient: not read again.
        patient = request_patient(request)
        check_in, created = checkin_submit(
            patient=patient,
            check_in_id=data["id"],
            answered_at=data["answered_at"],
            responses=[
                ResponseInput(
                    instrument=r["instrument"], version=r["version"], answers=r["answers"]
                )
                for r in data["responses"]
            ],
        )
        if not created:
            # A retry: render the stored check-in. A new one is rendered from the rows the
            # service just wrote (its responses and alerts are already on the instance).
            check_in = access_checkin(patient=patient, check_in_id=check_in.id)
        return Response(
            CheckInSubmittedSerializer(check_in).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MyCheckInDetailView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = CheckInSerializer

    @extend_schema(operation_id="me_check_ins_retrieve", summary="One of my check-ins", tags=["me"])
    def get(self, request, check_in_id):
        patient = request_patient(request)
        return Response(
            CheckInSerializer(access_checkin(patient=patient, check_in_id=check_in_id)).data
        )
