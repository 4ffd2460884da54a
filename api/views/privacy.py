"""Privacy: the patient's consents and own data; erasure for clinic admins."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from accounts.errors import DomainValidationError
from accounts.models import Role
from outcomes.exports.fhir import patient_bundle
from outcomes.models import Consent, Patient
from outcomes.selectors import access_patient
from outcomes.services.privacy import consent_record, patient_data_export, patient_erase

from ..permissions import IsPatient, IsStaffWithRole, request_patient
from ..serializers import PatientRecordSerializer


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "document", "version", "accepted_at", "withdrawn_at"]
        read_only_fields = ["id", "accepted_at", "withdrawn_at"]


class MyConsentListCreateView(generics.ListAPIView):
    permission_classes = [IsPatient]
    serializer_class = ConsentSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Consent.objects.none()
        return Consent.objects.filter(patient=request_patient(self.request))

    @extend_schema(operation_id="me_consents_list", summary="My consents", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="me_consents_create",
        summary="Record my acceptance of a document version",
        request=ConsentSerializer,
        responses={201: ConsentSerializer, 200: ConsentSerializer},
        tags=["me"],
    )
    def post(self, request):
        s = ConsentSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        consent, created = consent_record(patient=request_patient(request), **s.validated_data)
        return Response(
            ConsentSerializer(consent).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MyDataExportView(generics.GenericAPIView):
    queryset = Patient.objects.none()
    permission_classes = [IsPatient]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "export"

    @extend_schema(
        operation_id="me_export_json",
        summary="Download everything held about me (JSON)",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT)},
        tags=["me"],
    )
    def get(self, request):
        return Response(patient_data_export(patient=request_patient(request)))


class MyFhirExportView(generics.GenericAPIView):
    queryset = Patient.objects.none()
    permission_classes = [IsPatient]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "export"

    @extend_schema(
        operation_id="me_export_fhir",
        summary="Download my data as a FHIR R4 Bundle",
        responses={(200, "application/fhir+json"): OpenApiResponse(OpenApiTypes.OBJECT)},
        tags=["me"],
    )
    def get(self, request):
        bundle = patient_bundle(request_patient(request))
        return HttpResponse(
            bundle.model_dump_json(exclude_none=True), content_type="application/fhir+json"
        )


class EraseSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(help_text="Must be true: erasure cannot be undone.")


class PatientEraseView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = frozenset({Role.CLINIC_ADMIN})
    serializer_class = EraseSerializer

    @extend_schema(
        operation_id="patients_erase",
        summary="Erase a patient on request: identity and raw answers removed, scores kept",
        description=(
            "Removes the identity, contact points, devices, tokens, raw answers and every "
            "check-in's content digest (from which the answers could be rebuilt); scores, "
            "bands and infusion dates stay. Final: the patient is never changed, re-activated "
            "or given an enrolment code again (400 `erased`). Erasing twice is 400 "
            "`already_erased`, audited like every refused attempt."
        ),
        request=EraseSerializer,
        responses={200: PatientRecordSerializer},
        tags=["patients"],
    )
    def post(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id, roles=self.staff_roles)
        s = EraseSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        if not s.validated_data["confirm"]:
            raise DomainValidationError.single("confirm", "required", "Confirm the erasure.")
        patient_erase(patient=patient)
        patient = access_patient(user=request.user, patient_id=patient_id, roles=self.staff_roles)
        return Response(PatientRecordSerializer(patient).data)
