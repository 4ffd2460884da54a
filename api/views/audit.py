"""The audit log, for clinic admins: who read or changed which patient's data."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from accounts.models import AuditEvent, Role
from accounts.selectors import clinic_ids_for

from ..filters import UtcDateTimeFilter
from ..pagination import ListPagination
from ..permissions import IsStaffWithRole


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "actor_id",
            "actor_username",
            "action",
            "method",
            "path",
            "view",
            "status_code",
            "clinic_id",
            "patient_id",
            "ip",
            "user_agent",
        ]


class AuditEventFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    actor = django_filters.UUIDFilter(field_name="actor_id")
    since = UtcDateTimeFilter(field_name="at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["patient", "actor", "since", "until"]


class AuditEventListView(generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = frozenset({Role.CLINIC_ADMIN})
    serializer_class = AuditEventSerializer
    pagination_class = ListPagination
    filterset_class = AuditEventFilter

    def get_queryset(self):
        return AuditEvent.objects.filter(
            clinic_id__in=clinic_ids_for(user=self.request.user, roles=[Role.CLINIC_ADMIN])
        ).order_by("-at", "-id")

    @extend_schema(
        operation_id="audit_events_list",
        summary="Who read or changed patient data at my clinics",
        tags=["audit"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
