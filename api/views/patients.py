"""The clinic's view of its patients."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts.selectors import access_clinic, clinic_ids_for
from outcomes.models import CheckIn
from outcomes.selectors import (
    ENROLMENT_ROLES,
    HEALTH_DATA_ROLES,
    access_patient,
    checkins_for_patient,
    patients_for_staff,
)
from outcomes.services import enrolment_code_issue, patient_enrol, patient_update

from ..auditing import AuditPageMixin
from ..filters import CheckInFilter, PatientFilter
from ..pagination import ListPagination, TimeSeriesCursorPagination
from ..permissions import IsStaffWithRole
from ..serializers import (
    CheckInCapturedClinicalSerializer,
    CheckInReceiptSerializer,
    CheckInSubmitSerializer,
    EnrolmentCodeSerializer,
    PatientAnySerializer,
    PatientCreateSerializer,
    PatientEnrolledSerializer,
    PatientRecordSerializer,
    PatientSerializer,
    PatientUpdateSerializer,
    StaffCheckInSerializer,
)
from .checkins import CAPTURE_RESPONSES, check_in_submitted


def _patient_body(user, patient) -> dict:
    """Scores and conditions only for a clinician of the patient's clinic."""
    if patient.clinic_id in clinic_ids_for(user=user, roles=HEALTH_DATA_ROLES):
        return PatientSerializer(patient).data
    return PatientRecordSerializer(patient).data


class PatientListCreateView(AuditPageMixin, generics.ListAPIView):
    """Clinicians list their clinics' patients with each one's latest scores; clinicians and
    clinic admins enrol new patients."""

    permission_classes = [IsStaffWithRole]
    serializer_class = PatientSerializer
    pagination_class = ListPagination
    # Listing patients with their latest scores is a read of their health data.
    audit_patient_attr = "id"
    filterset_class = PatientFilter

    @property
    def staff_roles(self):
        return ENROLMENT_ROLES if self.request.method == "POST" else HEALTH_DATA_ROLES

    def get_queryset(self):
        return patients_for_staff(user=self.request.user)

    @extend_schema(operation_id="patients_list", summary="My clinics' patients", tags=["patients"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="patients_enrol",
        summary="Enrol a patient and issue their first enrolment code",
        request=PatientCreateSerializer,
        responses={201: PatientEnrolledSerializer},
        tags=["patients"],
    )
    def post(self, request):
        s = PatientCreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        clinic = access_clinic(
            user=request.user,
            clinic_id=data["clinic"],
            roles=ENROLMENT_ROLES,
            audit=False,
            field="clinic",
        )
        patient, code = patient_enrol(
            clinic=clinic,
            display_name=data["display_name"],
            timezone_name=data["timezone"],
            conditions=data["conditions"],
            care_team_ids=data["care_team"],
            clinic_reference=data["clinic_reference"],
            date_of_birth=data["date_of_birth"],
            issued_by=request.user,
        )
        patient = access_patient(
            user=request.user, patient_id=patient.id, roles=ENROLMENT_ROLES, with_details=True
        )
        row = patient.enrolment_codes.order_by("-created_at").first()
        body = {
            "patient": _patient_body(request.user, patient),
            "enrolment": {"code": code, "expires_at": row.expires_at},
        }
        return Response(body, status=status.HTTP_201_CREATED)


class PatientDetailView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    serializer_class = PatientSerializer

    @property
    def staff_roles(self):
        # Reading: a clinician (the clinical record) or whoever may enrol (a clinic admin
        # reads back the administrative record of the patient they enrolled).
        return (
            ENROLMENT_ROLES
            if self.request.method == "PATCH"
            else ENROLMENT_ROLES | HEALTH_DATA_ROLES
        )

    @extend_schema(
        operation_id="patients_retrieve",
        summary="One patient: the clinical record for a clinician, the administrative one for "
        "a clinic admin",
        responses={200: PatientAnySerializer},
        tags=["patients"],
    )
    def get(self, request, patient_id):
        patient = access_patient(
            user=request.user,
            patient_id=patient_id,
            roles=ENROLMENT_ROLES | HEALTH_DATA_ROLES,
            with_details=True,
        )
        return Response(_patient_body(request.user, patient))

    @extend_schema(
        operation_id="patients_update",
        summary="Change a patient's details",
        description=(
            "An erased patient is never changed (any field, or none): 400 `erased`, nothing "
            "written, the attempt audited. Erasure is final; a returning person is enrolled "
            "as a new patient."
        ),
        request=PatientUpdateSerializer,
        responses={200: PatientAnySerializer},
        tags=["patients"],
    )
    def patch(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id, roles=ENROLMENT_ROLES)
        s = PatientUpdateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        patient_update(
            patient=patient,
            display_name=data.get("display_name"),
            timezone_name=data.get("timezone"),
            conditions=data.get("conditions"),
            care_team_ids=data.get("care_team"),
            status=data.get("status"),
            date_of_birth=data.get("date_of_birth"),
        )
        patient = access_patient(
            user=request.user, patient_id=patient_id, roles=ENROLMENT_ROLES, with_details=True
        )
        return Response(_patient_body(request.user, patient))


class PatientEnrolmentCodeCreateView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = ENROLMENT_ROLES
    serializer_class = EnrolmentCodeSerializer

    @extend_schema(
        operation_id="patients_enrolment_codes_create",
        summary="Issue a new enrolment code (the previous one stops working)",
        description=(
            "An erased patient gets none: 400 `erased`, the attempt audited (a code would "
            "sign a phone into the erased record)."
        ),
        request=None,
        responses={201: EnrolmentCodeSerializer},
        tags=["patients"],
    )
    def post(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id, roles=ENROLMENT_ROLES)
        row, code = enrolment_code_issue(patient=patient, issued_by=request.user)
        return Response(
            EnrolmentCodeSerializer({"code": code, "expires_at": row.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )


# Who hands the clinic's tablet to a patient at a visit: clinicians and clinic admins of
# the patient's clinic (as for enrolment). Schedulers book visits; they do not meet the
# patient with the tablet.
CAPTURE_ROLES = ENROLMENT_ROLES


class PatientCheckInListCreateView(generics.ListAPIView):
    """One patient's check-ins, newest first, filtered by instrument and time range; and a
    check-in captured on the clinic's tablet at a visit."""

    permission_classes = [IsStaffWithRole]
    serializer_class = StaffCheckInSerializer
    pagination_class = TimeSeriesCursorPagination
    filterset_class = CheckInFilter
    throttle_scope = "submission"

    @property
    def staff_roles(self):
        return CAPTURE_ROLES if self.request.method == "POST" else HEALTH_DATA_ROLES

    def get_throttles(self):
        # Only submissions are throttled, as on the phone.
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CheckIn.objects.none()
        patient = access_patient(user=self.request.user, patient_id=self.kwargs["patient_id"])
        # Who captured each one is rendered: joined, not read row by row.
        return checkins_for_patient(patient=patient).select_related("captured_by")

    @extend_schema(
        operation_id="patients_check_ins_list", summary="A patient's check-ins", tags=["patients"]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="patients_check_ins_capture",
        summary="Record a check-in on the clinic's tablet at a visit (idempotent on its id)",
        description=(
            "The patient answers on the clinic's tablet; the signed-in staff member is "
            "recorded as the one who handed it over (`source` clinic). The same validation, "
            "scoring, safety rules and idempotency as the phone's `POST /me/check-ins/`: a "
            "retry from the same staff member with the same `id` and content returns the "
            "stored check-in with 200; the same `id` with other content, or first used by the "
            "patient's phone or another staff member, is a 409. A withdrawn or erased "
            "patient, or `answered_at` in the future or more than 12 hours ago (the "
            "tablet is used at the visit): 400, nothing stored. A clinician of the "
            "patient's clinic gets the check-in back with its answers and scores "
            "(`access` clinical); a clinic admin, who cannot read them, a receipt with the "
            "safety notice (`access` administrative)."
        ),
        request=CheckInSubmitSerializer,
        responses=CAPTURE_RESPONSES,
        tags=["patients"],
    )
    def post(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id, roles=CAPTURE_ROLES)
        clinical = patient.clinic_id in clinic_ids_for(user=request.user, roles=HEALTH_DATA_ROLES)
        return check_in_submitted(
            request,
            patient=patient,
            captured_by=request.user,
            serializer_class=(
                CheckInCapturedClinicalSerializer if clinical else CheckInReceiptSerializer
            ),
        )
