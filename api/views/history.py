"""Read-only change history of clinical records, for clinicians of the patient's clinic.

Each read goes through the same permission-scoped fetch as the record itself (other
clinics' records answer 404) and is audited like any staff read of patient data.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from outcomes.selectors import HEALTH_DATA_ROLES, access_alert, access_infusion
from outcomes.selectors.history import history_entries

from ..permissions import IsStaffWithRole


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    at = serializers.DateTimeField()
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    changed_by = serializers.CharField(
        allow_null=True, help_text="Username of who changed it; null: the system (a task)."
    )
    changes = FieldChangeSerializer(many=True)


class InfusionHistoryView(APIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES

    @extend_schema(
        operation_id="infusions_history",
        summary="Who changed this infusion record, when, and what (newest first)",
        responses={200: HistoryEntrySerializer(many=True)},
        tags=["infusions"],
    )
    def get(self, request, infusion_id):
        infusion = access_infusion(user=request.user, infusion_id=infusion_id)  # audited
        entries = history_entries(record=infusion)
        return Response(HistoryEntrySerializer(entries, many=True).data)


class AlertHistoryView(APIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = HEALTH_DATA_ROLES

    @extend_schema(
        operation_id="alerts_history",
        summary="Who acknowledged, resolved or escalated this alert, and when (newest first)",
        responses={200: HistoryEntrySerializer(many=True)},
        tags=["alerts"],
    )
    def get(self, request, alert_id):
        alert = access_alert(user=request.user, alert_id=alert_id)  # audited
        return Response(HistoryEntrySerializer(history_entries(record=alert), many=True).data)
