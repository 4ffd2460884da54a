"""Safety alerts for clinicians: list, read, acknowledge (stops the acknowledgement
escalation), document the follow-up (stops the follow-up escalation), resolve; and the
clinic's per-level deadlines, for its admins."""

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response

from accounts.models import Clinic
from accounts.selectors import access_clinic
from outcomes.models import AlertLevel, AlertStatus, ClinicSafetySettings, SafetyAlert
from outcomes.selectors import HEALTH_DATA_ROLES, access_alert, alerts_for_staff
from outcomes.services.safety import (
    alert_acknowledge,
    alert_follow_up,
    alert_resolve,
    clinic_safety_settings_for,
    clinic_safety_settings_update,
)

from ..auditing import AuditPageMixin
from ..pagination import ListPagination
from ..permissions import IsStaffWithRole
from .auth import ADMIN_ROLES


class SafetyAlertSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="patient_id")
    check_in = serializers.UUIDField(source="check_in_id")
    instrument = serializers.CharField(source="response.instrument_code")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
    )
    followed_up_by = serializers.CharField(
        source="followed_up_by.username", allow_null=True, default=None
    )
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None
    )

    class Meta:
        model = SafetyAlert
        fields = [
            "id",
            "patient",
            "check_in",
            "instrument",
            "rule",
            "level",
            "severity",
            "status",
            "created_at",
            "escalation_level",
            "next_escalation_at",
            "review_due_at",
            "acknowledged_by",
            "acknowledged_at",
            "follow_up_due_at",
            "followed_up_by",
            "followed_up_at",
            "follow_up_note",
            "resolved_by",
            "resolved_at",
            "note",
        ]


READ_ONLY_NOTE = (
    "400 `read_only` on each field of the alert the body names that the server sets "
    "(`status`, `acknowledged_by`, ...)."
)


class _RefusesAlertFields(serializers.Serializer):
    """An action's body names only its own fields: one naming a field of the alert that the
    server sets (`status`, `acknowledged_by`, ...) is refused, 400 `read_only` on each such
    field, rather than silently ignored (a client that believes it set the status would be
    wrong without knowing). Other unknown keys are ignored, as everywhere in the API."""

    def to_internal_value(self, data):
        sent = data if isinstance(data, dict) else {}
        refused = {
            name: [ErrorDetail(f"{name} is set by the server; leave it out.", code="read_only")]
            for name in sorted(sent)
            if name in SafetyAlertSerializer.Meta.fields and name not in self.fields
        }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if refused and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**refused, **exc.detail}) from exc
            raise
        if refused:
            raise serializers.ValidationError(refused)
        return value


class AlertActionSerializer(_RefusesAlertFields):
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class AlertFollowUpSerializer(_RefusesAlertFields):
    note = serializers.CharField(
        max_length=2000, help_text="What was done: a call, a safety plan, a referral."
    )


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    level = django_filters.ChoiceFilter(choices=AlertLevel.choices)
    patient = django_filters.UUIDFilter(field_name="patient_id")

    class Meta:
        model = SafetyAlert
        fields = ["status", "level", "patient"]


class AlertListView(AuditPageMixin, generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = SafetyAlertSerializer
    pagination_class = ListPagination
    filterset_class = AlertFilter

    def get_queryset(self):
        return alerts_for_staff(user=self.request.user).select_related("response", "followed_up_by")

    @extend_schema(
        operation_id="alerts_list", summary="Safety alerts of my clinics", tags=["alerts"]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AlertDetailView(generics.GenericAPIView):
    queryset = SafetyAlert.objects.none()  # for the schema's path parameter types only
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = SafetyAlertSerializer

    @extend_schema(operation_id="alerts_retrieve", summary="One safety alert", tags=["alerts"])
    def get(self, request, alert_id):
        return Response(
            SafetyAlertSerializer(access_alert(user=request.user, alert_id=alert_id)).data
        )


class _AlertActionView(generics.GenericAPIView):
    """Acknowledge or resolve: the same shape, a different service."""

    queryset = SafetyAlert.objects.none()
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = AlertActionSerializer
    service = None  # alert_acknowledge or alert_resolve

    def post(self, request, alert_id):
        alert = access_alert(user=request.user, alert_id=alert_id)
        s = AlertActionSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        alert = self.service(alert=alert, user=request.user, note=s.validated_data["note"])
        return Response(
            SafetyAlertSerializer(access_alert(user=request.user, alert_id=alert.id)).data
        )


@extend_schema_view(
    post=extend_schema(
        operation_id="alerts_acknowledge",
        summary="Acknowledge an alert: escalation stops",
        description=(
            "Also acknowledges the open alerts of the same check-in at the same or a lower "
            "level (each with its own history row); a higher one stays open. 400 `not_open` "
            "for an alert that is not open. " + READ_ONLY_NOTE
        ),
        request=AlertActionSerializer,
        responses={200: SafetyAlertSerializer},
        tags=["alerts"],
    )
)
class AlertAcknowledgeView(_AlertActionView):
    service = staticmethod(alert_acknowledge)


@extend_schema_view(
    post=extend_schema(
        operation_id="alerts_resolve",
        summary="Resolve an alert, with a note",
        description=(
            "Also resolves the unresolved alerts of the same check-in at the same or a lower "
            "level. The note is the follow-up of those that have none documented: without "
            "one, 400 `follow_up_required` on `note` (nothing changes) unless every one "
            "has. 400 `already_resolved` for a resolved alert. " + READ_ONLY_NOTE
        ),
        request=AlertActionSerializer,
        responses={200: SafetyAlertSerializer},
        tags=["alerts"],
    )
)
class AlertResolveView(_AlertActionView):
    service = staticmethod(alert_resolve)


@extend_schema_view(
    post=extend_schema(
        operation_id="alerts_follow_up",
        summary="Document an acknowledged alert's follow-up: its escalation stops",
        description=(
            "Once per alert; also documents it for the acknowledged alerts of the same "
            "check-in at the same or a lower level still without one. 400 `blank` on `note` "
            "without text; 400 `not_acknowledged` for an alert that is open or resolved; 400 "
            "`already_followed_up` when it is documented already. Resolving an alert with a "
            "note also counts as its follow-up. " + READ_ONLY_NOTE
        ),
        request=AlertFollowUpSerializer,
        responses={200: SafetyAlertSerializer},
        examples=[
            OpenApiExample(
                "Follow-up",
                value={"note": "Called back; safety plan reviewed."},
                request_only=True,
            )
        ],
        tags=["alerts"],
    )
)
class AlertFollowUpView(generics.GenericAPIView):
    queryset = SafetyAlert.objects.none()
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = AlertFollowUpSerializer

    def post(self, request, alert_id):
        alert = access_alert(user=request.user, alert_id=alert_id)
        s = AlertFollowUpSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        alert = alert_follow_up(alert=alert, user=request.user, note=s.validated_data["note"])
        return Response(
            SafetyAlertSerializer(access_alert(user=request.user, alert_id=alert.id)).data
        )


# --- the clinic's per-level deadlines --------------------------------------------------------


class ClinicSafetySettingsSerializer(serializers.ModelSerializer):
    """Per-level deadlines; the defaults are UNVERIFIED clinical choices for each clinic
    to review. A higher level never waits longer than a lower one (400 otherwise)."""

    high_acknowledge_within_minutes = serializers.IntegerField(min_value=1, max_value=1440)
    acknowledge_within_minutes = serializers.IntegerField(
        min_value=1, max_value=1440, help_text="Moderate alerts (and overdue low ones)."
    )
    low_review_by_hour = serializers.IntegerField(
        min_value=0,
        max_value=23,
        help_text="Clinic time, on the next working day (Monday to Friday).",
    )
    high_follow_up_within_hours = serializers.IntegerField(min_value=1, max_value=720)
    moderate_follow_up_within_hours = serializers.IntegerField(min_value=1, max_value=720)
    low_follow_up_within_hours = serializers.IntegerField(min_value=1, max_value=720)

    class Meta:
        model = ClinicSafetySettings
        fields = [
            "high_acknowledge_within_minutes",
            "acknowledge_within_minutes",
            "low_review_by_hour",
            "high_follow_up_within_hours",
            "moderate_follow_up_within_hours",
            "low_follow_up_within_hours",
        ]


class ClinicSafetySettingsView(generics.GenericAPIView):
    queryset = ClinicSafetySettings.objects.none()
    permission_classes = [IsStaffWithRole]
    staff_roles = ADMIN_ROLES
    serializer_class = ClinicSafetySettingsSerializer

    def _clinic(self, clinic_id) -> Clinic:
        return access_clinic(
            user=self.request.user, clinic_id=clinic_id, roles=ADMIN_ROLES, audit=False
        )

    @extend_schema(
        operation_id="clinics_safety_settings_retrieve",
        summary="The clinic's safety-alert deadlines per level (clinic admins)",
        responses={200: ClinicSafetySettingsSerializer},
        tags=["alerts"],
    )
    def get(self, request, clinic_id):
        row = clinic_safety_settings_for(clinic=self._clinic(clinic_id))
        return Response(ClinicSafetySettingsSerializer(row).data)

    @extend_schema(
        operation_id="clinics_safety_settings_update",
        summary="Change the clinic's safety-alert deadlines per level (clinic admins)",
        description=(
            "Alerts already raised keep their deadlines. 400 `longer_than_moderate` or "
            "`longer_than_low` when a higher level would wait longer than a lower one."
        ),
        request=ClinicSafetySettingsSerializer,
        responses={200: ClinicSafetySettingsSerializer},
        examples=[
            OpenApiExample(
                "Shorter high-risk deadline",
                value={"high_acknowledge_within_minutes": 5},
                request_only=True,
            )
        ],
        tags=["alerts"],
    )
    def patch(self, request, clinic_id):
        clinic = self._clinic(clinic_id)
        s = ClinicSafetySettingsSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        row = clinic_safety_settings_update(clinic=clinic, **s.validated_data)
        return Response(ClinicSafetySettingsSerializer(row).data)
