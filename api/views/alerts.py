"""Safety alerts for clinicians: list, read, acknowledge (stops escalation), resolve."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.response import Response

from outcomes.models import AlertStatus, SafetyAlert
from outcomes.selectors import HEALTH_DATA_ROLES, access_alert, alerts_for_staff
from outcomes.services.safety import alert_acknowledge, alert_resolve

from ..auditing import AuditPageMixin
from ..pagination import ListPagination
from ..permissions import IsStaffWithRole


class SafetyAlertSerializer(serializers.ModelSerializer):
    patient = serializers.UUIDField(source="patient_id")
    check_in = serializers.UUIDField(source="check_in_id")
    instrument = serializers.CharField(source="response.instrument_code")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", allow_null=True, default=None
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
            "severity",
            "status",
            "created_at",
            "escalation_level",
            "next_escalation_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "note",
        ]


class AlertActionSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AlertStatus.choices)
    patient = django_filters.UUIDFilter(field_name="patient_id")

    class Meta:
        model = SafetyAlert
        fields = ["status", "patient"]


class AlertListView(AuditPageMixin, generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES
    serializer_class = SafetyAlertSerializer
    pagination_class = ListPagination
    filterset_class = AlertFilter

    def get_queryset(self):
        return alerts_for_staff(user=self.request.user).select_related("response")

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
        request=AlertActionSerializer,
        responses={200: SafetyAlertSerializer},
        tags=["alerts"],
    )
)
class AlertResolveView(_AlertActionView):
    service = staticmethod(alert_resolve)
