"""Outcomes: a patient's trajectory and per-infusion outcomes, the clinic's durability
curve, charts, booster windows and exports. Views parse, call selectors, render."""

import csv
from dataclasses import asdict

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from outcomes import charts
from outcomes.analytics.booster import propose_booster
from outcomes.analytics.durability import Point
from outcomes.audit import audit_touch
from outcomes.errors import DomainValidationError, NotFoundError
from outcomes.exports.csv import checkins_csv_rows, neutralise_cell
from outcomes.exports.fhir import patient_bundle
from outcomes.models import Clinic, Infusion, InstrumentResponse, Patient
from outcomes.selectors import HEALTH_DATA_ROLES, access_patient, clinic_ids_for
from outcomes.selectors.analytics import (
    clinic_cohort,
    infusion_events,
    instrument_infos,
    patient_courses,
    patient_outcomes,
    patient_series,
)

from ..permissions import IsPatient, IsStaffWithRole, request_patient
from ..serializers.outcomes import (
    BoosterSerializer,
    ChartQuerySerializer,
    CohortChartQuerySerializer,
    CohortQuerySerializer,
    CohortSerializer,
    InfusionOutcomeSerializer,
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


def _unknown_instrument(code: str) -> DomainValidationError:
    return DomainValidationError.single(
        "instrument", "unknown_instrument", f"No scored instrument '{code}'."
    )


def build_trajectory(patient: Patient, code: str | None) -> dict:
    """Everything the app needs to chart a patient, in a constant number of queries."""
    codes = [code] if code else None
    events, courses = patient_courses(patient=patient, codes=codes)
    if (
        code
        and code not in courses
        and code not in instrument_infos(clinic_id=patient.clinic_id, codes=codes)
    ):
        raise _unknown_instrument(code)
    instruments = [
        {
            "code": c,
            "title": course.info.title,
            "scale_min": course.info.scale[0],
            "scale_max": course.info.scale[1],
            "bands": [
                {"min": lo, "max": hi, "label": label} for lo, hi, label in course.info.bands
            ],
            "thresholds": asdict(course.info.thresholds),
            "points": [
                {"answered_at": at, "score": total, "band": band}
                for at, total, band in course.series
            ],
            "outcomes": _outcome_rows(course.outcomes),
        }
        for c, course in courses.items()
    ]
    return {
        "patient": patient.id,
        "timezone": patient.timezone,
        "infusions": [
            {"id": e.id, "number": n, "started_at": e.started_at, "ended_at": e.ended_at}
            for n, e in enumerate(events, start=1)
        ],
        "instruments": instruments,
    }


def _outcome_rows(outs) -> list[dict]:
    return [{**asdict(o), "infusion_number": n} for n, o in enumerate(outs, start=1)]


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
        return Response(TrajectorySerializer(build_trajectory(patient, code)).data)


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
        return Response(TrajectorySerializer(build_trajectory(patient, code)).data)


class PatientOutcomesView(generics.GenericAPIView):
    queryset = Patient.objects.none()  # for the schema's path parameter types only
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = InfusionOutcomeSerializer

    @extend_schema(
        operation_id="patients_outcomes_list",
        summary="Per-infusion outcomes: onset, best, response, remission, durability",
        parameters=[OpenApiParameter("instrument", str, default="PHQ-9")],
        responses={200: InfusionOutcomeSerializer(many=True)},
        tags=["outcomes"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id)
        code = request.query_params.get("instrument", "PHQ-9")
        trajectory = build_trajectory(patient, code)
        rows = trajectory["instruments"][0]["outcomes"] if trajectory["instruments"] else []
        return Response(InfusionOutcomeSerializer(rows, many=True).data)


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
        return _trajectory_chart(patient, q["instrument"], q["format"])


def _trajectory_chart(patient: Patient, code: str, fmt: str) -> HttpResponse:
    infos = instrument_infos(clinic_id=patient.clinic_id, codes=[code])
    if code not in infos:
        raise _unknown_instrument(code)
    info = infos[code]
    series = patient_series(patient=patient, codes=[code]).get(code, [])
    points = [Point(at=at, score=total) for at, total, _ in series]
    events = infusion_events(Infusion.objects.filter(patient=patient))
    outs = patient_outcomes(patient=patient, info=info, points=points, events=events)
    body = charts.trajectory_chart(
        title=info.title,
        series=points,
        infusions=events,
        outcomes=outs,
        thresholds=info.thresholds,
        bands=info.bands,
        scale=info.scale,
        fmt=fmt,
    )
    return HttpResponse(body, content_type=charts.FORMATS[fmt])


def _staff_clinic(request, clinic_id) -> Clinic:
    if clinic_id not in clinic_ids_for(user=request.user, roles=HEALTH_DATA_ROLES):
        raise NotFoundError
    # A cohort read or export covers the whole clinic's patients.
    audit_touch(clinic_id=clinic_id)
    return Clinic.objects.get(id=clinic_id)


def _cohort_body(clinic: Clinic, code: str, group_by: str) -> dict:
    cohort = clinic_cohort(clinic_ids=[clinic.id], instrument_code=code, group_by=group_by)
    groups = []
    for g in cohort.groups:
        km = g.km
        groups.append(
            {
                "name": g.name,
                "responders": km.n,
                "events": km.events,
                "median_days": km.median,
                "median_ci_low_days": km.median_ci[0],
                "median_ci_high_days": km.median_ci[1],
                "confidence": km.confidence,
                "curve": [
                    {"day": t, "survival": s, "ci_low": lo, "ci_high": hi}
                    for t, s, lo, hi in zip(
                        km.times, km.survival, km.ci_low, km.ci_high, strict=True
                    )
                ],
                "numbers_at_risk": [
                    {"day": t, "at_risk": n}
                    for t, n in zip(g.at_risk_times, g.at_risk, strict=True)
                ],
                "rates": g.rates,
            }
        )
    return {
        "clinic": clinic.id,
        "instrument": code,
        "group_by": group_by,
        "patients": cohort.patients,
        "infusions": cohort.infusions,
        "groups": groups,
        "_cohort": cohort,
    }


class ClinicDurabilityView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = CohortSerializer

    @extend_schema(
        operation_id="clinics_durability_retrieve",
        summary="The clinic's durability of response (Kaplan-Meier), with rates",
        parameters=[CohortQuerySerializer],
        tags=["outcomes"],
    )
    def get(self, request, clinic_id):
        clinic = _staff_clinic(request, clinic_id)
        q = _query(CohortQuerySerializer, request)
        return Response(CohortSerializer(_cohort_body(clinic, q["instrument"], q["group_by"])).data)


class ClinicDurabilityChartView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = CohortChartQuerySerializer

    @extend_schema(
        operation_id="clinics_durability_chart",
        summary="The clinic's Kaplan-Meier curve as PNG or SVG",
        parameters=[CohortChartQuerySerializer],
        responses=IMAGE_RESPONSES,
        tags=["outcomes"],
    )
    def get(self, request, clinic_id):
        clinic = _staff_clinic(request, clinic_id)
        q = _query(CohortChartQuerySerializer, request)
        cohort = _cohort_body(clinic, q["instrument"], q["group_by"])["_cohort"]
        body = charts.km_chart(
            title=f"{clinic.name}: sustained response ({q['instrument']})",
            curves={g.name: g.km for g in cohort.groups},
            at_risk={g.name: g.at_risk for g in cohort.groups},
            risk_times=cohort.groups[0].at_risk_times if cohort.groups else (0, 7, 14, 21, 28),
            fmt=q["format"],
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
        return Response(BoosterSerializer(booster_for(patient, code)).data)


def booster_for(patient: Patient, code: str) -> dict:
    if code not in instrument_infos(clinic_id=patient.clinic_id, codes=[code]):
        raise _unknown_instrument(code)
    events, courses = patient_courses(patient=patient, codes=[code])
    outs = courses[code].outcomes if code in courses else []
    # Only losses of response are durations; a censored one says "at least", not "until".
    past = [
        o.durability_days for o in outs[:-1] if o.durability_days is not None and not o.censored
    ]
    proposal = propose_booster(
        current=outs[-1] if outs else None,
        current_ended_at=events[-1].ended_at if events else None,
        past_durability_days=past,
        cohort_median_days=None,
        now=timezone.now(),
    )
    return {"instrument": code, **asdict(proposal)}


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
            InstrumentResponse.objects.filter(patient=patient),
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
            InstrumentResponse.objects.filter(patient__clinic=clinic),
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
