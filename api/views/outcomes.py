"""Outcomes: a patient's trajectory and per-infusion outcomes, the clinic's durability
curve, charts, booster windows and exports. Views parse, call selectors, render."""

import csv

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import Clinic
from accounts.selectors import access_clinic
from outcomes import charts
from outcomes.exports.csv import checkins_csv_rows, neutralise_cell
from outcomes.exports.fhir import patient_bundle
from outcomes.models import Patient
from outcomes.selectors import HEALTH_DATA_ROLES, access_patient, responses_for_export
from outcomes.selectors.outcomes import (
    clinic_durability,
    clinic_durability_chart,
    patient_booster,
    patient_course_view,
    patient_trajectory,
    patient_trajectory_chart,
)

from ..permissions import IsPatient, IsStaffWithRole, request_patient
from ..serializers.outcomes import (
    BoosterSerializer,
    ChartQuerySerializer,
    ClinicDurabilityChartQuerySerializer,
    ClinicDurabilityQuerySerializer,
    ClinicDurabilitySerializer,
    PatientCoursesSerializer,
    TrajectoryQuerySerializer,
    TrajectorySerializer,
)

IMAGE_RESPONSES = {
    (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="PNG chart"),
    (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="SVG chart"),
}


def _query(serializer_class, request) -> dict:
    s = serializer_class(data=request.query_params)
    s.is_valid(raise_exception=True)
    return s.validated_data


class PatientTrajectoryView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = TrajectorySerializer

    @extend_schema(
        operation_id="patients_trajectory_retrieve",
        summary="A patient's scores per instrument, with bands, thresholds and outcomes",
        parameters=[TrajectoryQuerySerializer],
        tags=["outcomes"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        code = _query(TrajectoryQuerySerializer, request).get("instrument")
        return Response(TrajectorySerializer(patient_trajectory(patient=patient, code=code)).data)


class MyTrajectoryView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = TrajectorySerializer

    @extend_schema(
        operation_id="me_trajectory_retrieve",
        summary="My progress",
        parameters=[TrajectoryQuerySerializer],
        tags=["me"],
    )
    def get(self, request):
        patient = request_patient(request)
        code = _query(TrajectoryQuerySerializer, request).get("instrument")
        return Response(TrajectorySerializer(patient_trajectory(patient=patient, code=code)).data)


class PatientOutcomesView(generics.GenericAPIView):
    queryset = Patient.objects.none()  # for the schema's path parameter types only
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = PatientCoursesSerializer

    @extend_schema(
        operation_id="patients_outcomes_retrieve",
        summary="Outcomes per treatment course: baseline, response, remission, loss interval, "
        "durability, and each infusion's acute effect",
        parameters=[OpenApiParameter("instrument", str, default="PHQ-9")],
        responses={200: PatientCoursesSerializer},
        tags=["outcomes"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        code = request.query_params.get("instrument", "PHQ-9")[:32]
        return Response(
            PatientCoursesSerializer(patient_course_view(patient=patient, code=code)).data
        )


class PatientTrajectoryChartView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = ChartQuerySerializer

    @extend_schema(
        operation_id="patients_trajectory_chart",
        summary="A patient's trajectory as PNG or SVG",
        parameters=[ChartQuerySerializer],
        responses=IMAGE_RESPONSES,
        tags=["outcomes"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        q = _query(ChartQuerySerializer, request)
        body = patient_trajectory_chart(patient=patient, code=q["instrument"], fmt=q["format"])
        return HttpResponse(body, content_type=charts.FORMATS[q["format"]])


def _staff_clinic(request, clinic_id) -> Clinic:
    # A cohort read or export covers the whole clinic's patients: audited.
    return access_clinic(user=request.user, clinic_id=clinic_id, roles=HEALTH_DATA_ROLES)


class ClinicDurabilityView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = ClinicDurabilitySerializer

    @extend_schema(
        operation_id="clinics_durability_retrieve",
        summary="Per-course response and remission rates and durability of response "
        "(interval-censored Turnbull estimate, bootstrap intervals), with the signal used",
        parameters=[ClinicDurabilityQuerySerializer],
        tags=["outcomes"],
    )
    def get(self, request, clinic_id):
        clinic = _staff_clinic(request, clinic_id)
        q = _query(ClinicDurabilityQuerySerializer, request)
        body = clinic_durability(clinic=clinic, code=q["instrument"], group_by=q["group_by"])
        return Response(ClinicDurabilitySerializer(body).data)


class ClinicDurabilityChartView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = ClinicDurabilityChartQuerySerializer

    @extend_schema(
        operation_id="clinics_durability_chart",
        summary="The clinic's durability curves per course as PNG or SVG",
        parameters=[ClinicDurabilityChartQuerySerializer],
        responses=IMAGE_RESPONSES,
        tags=["outcomes"],
    )
    def get(self, request, clinic_id):
        clinic = _staff_clinic(request, clinic_id)
        q = _query(ClinicDurabilityChartQuerySerializer, request)
        body = clinic_durability_chart(
            clinic=clinic, code=q["instrument"], group_by=q["group_by"], fmt=q["format"]
        )
        return HttpResponse(body, content_type=charts.FORMATS[q["format"]])


class PatientBoosterView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = BoosterSerializer

    @extend_schema(
        operation_id="patients_booster_retrieve",
        summary="When benefit is expected to fade, and a proposed booster window",
        parameters=[OpenApiParameter("instrument", str, default="PHQ-9")],
        tags=["outcomes"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        code = request.query_params.get("instrument", "PHQ-9")
        return Response(BoosterSerializer(patient_booster(patient=patient, code=code)).data)


class ClinicianExportView(generics.GenericAPIView):
    """Exports: clinicians only, and throttled (THROTTLE_EXPORT)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "export"
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES


class PatientCsvExportView(ClinicianExportView):
    queryset = Patient.objects.none()

    @extend_schema(
        operation_id="patients_export_csv",
        summary="A patient's check-ins as CSV",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY)},
        tags=["exports"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        return _csv_response(
            responses_for_export(patient=patient),
            f"afterglow-patient-{patient.id}.csv",
        )


class ClinicCsvExportView(ClinicianExportView):
    queryset = Clinic.objects.none()

    @extend_schema(
        operation_id="clinics_export_csv",
        summary="The clinic's cohort of check-ins as CSV",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY)},
        tags=["exports"],
    )
    def get(self, request, clinic_id):
        clinic = _staff_clinic(request, clinic_id)
        return _csv_response(
            responses_for_export(clinic_id=clinic.id),
            f"afterglow-clinic-{clinic.slug}.csv",
        )


class _Echo:
    def write(self, value):
        return value


def _csv_response(qs, filename: str) -> StreamingHttpResponse:
    """Streamed: a clinic's cohort never sits in memory whole."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([neutralise_cell(c) for c in row]) for row in checkins_csv_rows(qs)),
        content_type="text/csv",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class PatientFhirExportView(ClinicianExportView):
    queryset = Patient.objects.none()

    @extend_schema(
        operation_id="patients_export_fhir",
        summary="A patient's questionnaires, responses and scores as a FHIR R4 Bundle",
        responses={(200, "application/fhir+json"): OpenApiResponse(OpenApiTypes.OBJECT)},
        tags=["exports"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        bundle = patient_bundle(patient)
        return HttpResponse(
            bundle.model_dump_json(exclude_none=True), content_type="application/fhir+json"
        )
