"""Treatment records: clinicians record and change infusions; the patient sees their own."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from accounts.errors import DomainValidationError
from outcomes.models import Infusion, TreatmentCourse
from outcomes.selectors import HEALTH_DATA_ROLES, VISIT_ROLES, access_infusion, access_patient
from outcomes.selectors.visits import with_given_before
from outcomes.services.infusions import (
    infusion_cancel,
    infusion_schedule,
    infusion_update,
    treatment_course_create,
)
from outcomes.services.visits import visit_settings_read

from ..pagination import ListPagination
from ..permissions import IsPatient, IsStaffWithRole, request_patient
from ..serializers.treatment import (
    InfusionCancelSerializer,
    InfusionSerializer,
    InfusionWriteSerializer,
    MyInfusionSerializer,
    TreatmentCourseCreateSerializer,
    TreatmentCourseSerializer,
)


def _write_fields(data: dict) -> dict:
    fields = dict(data)
    for key in ("vitals_before", "vitals_after"):
        if key in fields:
            fields[key] = dict(fields[key])
    if "concomitant_medications" in fields:
        fields["concomitant_medications"] = [dict(m) for m in fields["concomitant_medications"]]
    return fields


class PatientInfusionListCreateView(generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = InfusionSerializer
    pagination_class = ListPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Infusion.objects.none()
        patient = access_patient(user=self.request.user, patient_id=self.kwargs["patient_id"])
        self.visit_settings = visit_settings_read(clinic_id=patient.clinic_id)
        return with_given_before(
            Infusion.objects.filter(patient=patient)
            .select_related("patient", "visit__infusion__patient")
            .prefetch_related("visit__readings", "visit__alerts", "visit__adverse_events")
            .order_by("-scheduled_at")
        )

    def get_serializer_context(self):
        # The clinic's visit thresholds once per page, not once per infusion.
        return super().get_serializer_context() | {
            "visit_settings": getattr(self, "visit_settings", None)
        }

    @extend_schema(
        operation_id="patients_infusions_list", summary="A patient's infusions", tags=["infusions"]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="patients_infusions_create",
        summary="Record an infusion (planned or given); its reminders are planned",
        request=InfusionWriteSerializer,
        responses={201: InfusionSerializer},
        tags=["infusions"],
    )
    def post(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        s = InfusionWriteSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        fields = _write_fields(s.validated_data)
        course_id = fields.pop("course", None)
        if course_id is not None:
            course = TreatmentCourse.objects.filter(id=course_id, patient=patient).first()
            if course is None:
                raise DomainValidationError.single("course", "does_not_exist", "Unknown course.")
            fields["course"] = course
        infusion = infusion_schedule(patient=patient, created_by=request.user, **fields)
        return Response(InfusionSerializer(infusion).data, status=status.HTTP_201_CREATED)


class InfusionDetailView(generics.GenericAPIView):
    # Nurses read and record the visit's infusion (its start and end, dose, medications).
    permission_classes = [IsStaffWithRole]
    staff_roles = VISIT_ROLES
    serializer_class = InfusionSerializer

    @extend_schema(operation_id="infusions_retrieve", summary="One infusion", tags=["infusions"])
    def get(self, request, infusion_id):
        return Response(
            InfusionSerializer(
                access_infusion(user=request.user, infusion_id=infusion_id, roles=VISIT_ROLES)
            ).data
        )

    @extend_schema(
        operation_id="infusions_update",
        summary="Change an infusion; a change of time re-plans its reminders",
        request=InfusionWriteSerializer(partial=True),
        responses={200: InfusionSerializer},
        tags=["infusions"],
    )
    def patch(self, request, infusion_id):
        infusion = access_infusion(user=request.user, infusion_id=infusion_id, roles=VISIT_ROLES)
        s = InfusionWriteSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        fields = _write_fields(s.validated_data)
        if "course" in fields:
            raise DomainValidationError.single(
                "course", "not_editable", "This field cannot be changed."
            )
        infusion = infusion_update(infusion=infusion, user=request.user, **fields)
        return Response(InfusionSerializer(infusion).data)


class InfusionCancelView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = InfusionCancelSerializer

    @extend_schema(
        operation_id="infusions_cancel",
        summary="Cancel a scheduled infusion and its reminders",
        request=InfusionCancelSerializer,
        responses={200: InfusionSerializer},
        tags=["infusions"],
    )
    def post(self, request, infusion_id):
        infusion = access_infusion(user=request.user, infusion_id=infusion_id)
        s = InfusionCancelSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        infusion = infusion_cancel(infusion=infusion, reason=s.validated_data["reason"])
        return Response(InfusionSerializer(infusion).data)


class PatientCourseListCreateView(generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = TreatmentCourseSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TreatmentCourse.objects.none()
        patient = access_patient(user=self.request.user, patient_id=self.kwargs["patient_id"])
        return TreatmentCourse.objects.filter(patient=patient)

    @extend_schema(
        operation_id="patients_treatment_courses_list",
        summary="A patient's courses",
        tags=["infusions"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="patients_treatment_courses_create",
        summary="Start a treatment course",
        request=TreatmentCourseCreateSerializer,
        responses={201: TreatmentCourseSerializer},
        tags=["infusions"],
    )
    def post(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        s = TreatmentCourseCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        course = treatment_course_create(patient=patient, **s.validated_data)
        return Response(TreatmentCourseSerializer(course).data, status=status.HTTP_201_CREATED)


class MyInfusionListView(generics.ListAPIView):
    """The patient's upcoming and recent infusions."""

    permission_classes = [IsPatient]
    serializer_class = MyInfusionSerializer
    pagination_class = ListPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Infusion.objects.none()
        patient = request_patient(self.request)
        return Infusion.objects.filter(patient=patient).order_by("-scheduled_at")

    @extend_schema(operation_id="me_infusions_list", summary="My infusions", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
