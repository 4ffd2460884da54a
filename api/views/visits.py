"""The infusion visit for nurses on a tablet and clinicians: the monitoring session, its
readings and adverse events (idempotent by the tablet's ids), alerts, the pre-dose hold,
discharge, the REMS form (JSON and PDF) and the clinic's visit settings."""

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from accounts.errors import NotFoundError
from accounts.models import Role
from accounts.selectors import access_clinic
from outcomes.models import MonitoringSession, VisitAlert
from outcomes.selectors import VISIT_ROLES, access_infusion
from outcomes.selectors.visits import (
    open_visit_alerts,
    rems_due_on,
    rems_sessions,
    rems_status,
    session_queryset,
)
from outcomes.services.visits import (
    adverse_event_add,
    alert_acknowledge,
    discharge,
    hold_override,
    reading_add,
    rems_file,
    rems_form,
    session_for,
    session_start,
    visit_settings_read,
    visit_settings_update,
)
from outcomes.visits.rems import form_json, form_pdf, missing_fields

from ..permissions import IsStaffWithRole
from ..serializers.visits import (
    AdverseEventSerializer,
    AdverseEventWriteSerializer,
    ClinicVisitSettingsSerializer,
    DischargeSerializer,
    HoldOverrideSerializer,
    MonitoringSessionSerializer,
    ReadingSerializer,
    ReadingWriteSerializer,
    RemsFormListItemSerializer,
    RemsFormSerializer,
    VisitAlertSerializer,
)

TAGS = ["visits"]
SETTINGS_ADMIN = frozenset({Role.CLINIC_ADMIN})


class _VisitView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = VISIT_ROLES

    def _infusion(self, infusion_id):
        return access_infusion(user=self.request.user, infusion_id=infusion_id, roles=VISIT_ROLES)

    def _session_body(self, infusion) -> dict:
        session = session_queryset().get(pk=session_for(infusion).pk)
        return MonitoringSessionSerializer(session).data


class VisitView(_VisitView):
    serializer_class = MonitoringSessionSerializer

    @extend_schema(
        operation_id="infusions_visit_retrieve",
        summary="The infusion's monitoring session: readings, events, alerts, timeline, summary",
        tags=TAGS,
    )
    def get(self, request, infusion_id):
        infusion = self._infusion(infusion_id)
        if not MonitoringSession.objects.filter(infusion=infusion).exists():
            raise NotFoundError
        return Response(self._session_body(infusion))

    @extend_schema(
        operation_id="infusions_visit_start",
        summary="Start the visit's monitoring session (a second start returns the first)",
        description=(
            "The clinic's thresholds in force are kept with the session; a patient's first "
            "infusions (`strict_infusions`, default 3) use the stricter set."
        ),
        request=None,
        responses={201: MonitoringSessionSerializer, 200: MonitoringSessionSerializer},
        tags=TAGS,
    )
    def post(self, request, infusion_id):
        infusion = self._infusion(infusion_id)
        _, created = session_start(infusion=infusion, user=request.user)
        return Response(
            self._session_body(infusion),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class VisitReadingCreateView(_VisitView):
    serializer_class = ReadingWriteSerializer

    @extend_schema(
        operation_id="infusions_visit_readings_create",
        summary="Add one timed reading (vitals, MOAA/S, dissociation); idempotent by its id",
        description=(
            "201 when stored, 200 when the same id and content were stored before (a retry), "
            "409 `idempotency_key_reused` for the same id with other content. A value past "
            "the session's thresholds raises a visit alert for the staff on the floor; a "
            "pre-dose blood pressure past the hold threshold holds the infusion's start."
        ),
        request=ReadingWriteSerializer,
        responses={201: ReadingSerializer, 200: ReadingSerializer},
        tags=TAGS,
    )
    def post(self, request, infusion_id):
        infusion = self._infusion(infusion_id)
        s = ReadingWriteSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = dict(s.validated_data)
        reading, created = reading_add(
            infusion=infusion,
            reading_id=data.pop("id"),
            taken_at=data.pop("taken_at"),
            phase=data.pop("phase", None),
            fields=data,
            user=request.user,
        )
        return Response(
            ReadingSerializer(reading).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class VisitAdverseEventCreateView(_VisitView):
    serializer_class = AdverseEventWriteSerializer

    @extend_schema(
        operation_id="infusions_visit_adverse_events_create",
        summary="Record an adverse event with its severity and the action taken; idempotent",
        request=AdverseEventWriteSerializer,
        responses={201: AdverseEventSerializer, 200: AdverseEventSerializer},
        tags=TAGS,
    )
    def post(self, request, infusion_id):
        infusion = self._infusion(infusion_id)
        s = AdverseEventWriteSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = dict(s.validated_data)
        event, created = adverse_event_add(
            infusion=infusion, event_id=data.pop("id"), user=request.user, **data
        )
        return Response(
            AdverseEventSerializer(event).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class VisitHoldOverrideView(_VisitView):
    serializer_class = HoldOverrideSerializer

    @extend_schema(
        operation_id="infusions_visit_hold_override",
        summary="Go ahead despite a pre-dose blood pressure past the hold threshold, with a reason",
        request=HoldOverrideSerializer,
        responses={200: MonitoringSessionSerializer},
        tags=TAGS,
    )
    def post(self, request, infusion_id):
        infusion = self._infusion(infusion_id)
        s = HoldOverrideSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        hold_override(infusion=infusion, reason=s.validated_data["reason"], user=request.user)
        return Response(self._session_body(infusion))


class VisitDischargeView(_VisitView):
    serializer_class = DischargeSerializer

    @extend_schema(
        operation_id="infusions_visit_discharge",
        summary="The discharge checklist, ready-to-leave time and departure",
        description=(
            "With `left_at`, every checklist item must be true and every visit alert "
            "acknowledged; the session is then complete."
        ),
        request=DischargeSerializer,
        responses={200: MonitoringSessionSerializer},
        tags=TAGS,
    )
    def post(self, request, infusion_id):
        infusion = self._infusion(infusion_id)
        s = DischargeSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        discharge(
            infusion=infusion,
            checklist=dict(data["checklist"]),
            ready_to_leave_at=data["ready_to_leave_at"],
            left_at=data.get("left_at"),
            user=request.user,
        )
        return Response(self._session_body(infusion))


class RemsFormView(_VisitView):
    serializer_class = RemsFormSerializer

    @extend_schema(
        operation_id="infusions_visit_rems_form_retrieve",
        summary="The REMS Patient Monitoring Form, pre-filled from the session (JSON)",
        tags=TAGS,
    )
    def get(self, request, infusion_id):
        session = session_queryset().get(pk=session_for(self._infusion(infusion_id)).pk)
        if not session.rems_required:
            raise NotFoundError
        if session.rems_filed_form is not None:
            return Response(session.rems_filed_form)
        return Response(form_json(rems_form(session)))


class RemsFormPdfView(_VisitView):
    serializer_class = RemsFormSerializer

    @extend_schema(
        operation_id="infusions_visit_rems_form_pdf",
        summary="The REMS Patient Monitoring Form as a PDF",
        responses={(200, "application/pdf"): OpenApiResponse(response=OpenApiTypes.BINARY)},
        tags=TAGS,
    )
    def get(self, request, infusion_id):
        session = session_queryset().get(pk=session_for(self._infusion(infusion_id)).pk)
        if not session.rems_required:
            raise NotFoundError
        body = form_pdf(rems_form(session))
        response = HttpResponse(body, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="rems-form-{session.pk}.pdf"'
        response["Cache-Control"] = "no-store"
        return response


class RemsFormFileView(_VisitView):
    serializer_class = RemsFormSerializer

    @extend_schema(
        operation_id="infusions_visit_rems_form_file",
        summary="Mark the form filed (only a complete one); the form is kept as filed",
        request=None,
        responses={200: RemsFormSerializer},
        tags=TAGS,
    )
    def post(self, request, infusion_id):
        session = rems_file(infusion=self._infusion(infusion_id), user=request.user)
        return Response(session.rems_filed_form)


class ClinicRemsFormListView(generics.GenericAPIView):
    queryset = MonitoringSession.objects.none()
    permission_classes = [IsStaffWithRole]
    staff_roles = VISIT_ROLES
    serializer_class = RemsFormListItemSerializer

    @extend_schema(
        operation_id="clinics_rems_forms_list",
        summary="The clinic's REMS forms: due, overdue (past 7 calendar days) and filed",
        parameters=[
            OpenApiParameter("status", str, enum=["due", "overdue", "filed"], required=False)
        ],
        responses={200: RemsFormListItemSerializer(many=True)},
        tags=TAGS,
    )
    def get(self, request, clinic_id):
        access_clinic(user=request.user, clinic_id=clinic_id, roles=VISIT_ROLES)
        wanted = request.query_params.get("status")
        if wanted not in (None, "due", "overdue", "filed"):
            raise serializers.ValidationError({"status": ["One of due, overdue, filed."]})
        rows = []
        for session in rems_sessions(clinic_id=clinic_id, status=wanted):
            form = rems_form(session)
            rows.append(
                {
                    "session": session.pk,
                    "infusion": session.infusion_id,
                    "patient": session.infusion.patient_id,
                    "session_date": form.session_date,
                    "due_on": rems_due_on(session),
                    "status": rems_status(session),
                    "complete": not missing_fields(form),
                    "filed_at": session.rems_filed_at,
                }
            )
        return Response(RemsFormListItemSerializer(rows, many=True).data)


class ClinicVisitAlertListView(generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = VISIT_ROLES
    serializer_class = VisitAlertSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VisitAlert.objects.none()
        clinic_id = self.kwargs["clinic_id"]
        access_clinic(user=self.request.user, clinic_id=clinic_id, roles=VISIT_ROLES)
        return open_visit_alerts(clinic_id=clinic_id)

    @extend_schema(
        operation_id="clinics_visit_alerts_list",
        summary="Open visit alerts on the clinic's floor (oldest first)",
        tags=TAGS,
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class VisitAlertAcknowledgeView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = VISIT_ROLES
    serializer_class = VisitAlertSerializer

    @extend_schema(
        operation_id="visit_alerts_acknowledge",
        summary="Acknowledge a visit alert",
        request=None,
        responses={200: VisitAlertSerializer},
        tags=TAGS,
    )
    def post(self, request, alert_id):
        alert = VisitAlert.objects.select_related("session__infusion").filter(pk=alert_id).first()
        if alert is None:
            raise NotFoundError
        access_infusion(user=request.user, infusion_id=alert.session.infusion_id, roles=VISIT_ROLES)
        alert = alert_acknowledge(alert=alert, user=request.user, now=timezone.now())
        alert = VisitAlert.objects.select_related("session__infusion").get(pk=alert.pk)
        return Response(VisitAlertSerializer(alert).data)


class ClinicVisitSettingsView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    serializer_class = ClinicVisitSettingsSerializer

    @property
    def staff_roles(self):
        return SETTINGS_ADMIN if self.request.method == "PATCH" else VISIT_ROLES | SETTINGS_ADMIN

    @extend_schema(
        operation_id="clinics_visit_settings_retrieve",
        summary="The clinic's visit thresholds and dose ranges",
        tags=TAGS,
    )
    def get(self, request, clinic_id):
        clinic = access_clinic(
            user=request.user, clinic_id=clinic_id, roles=self.staff_roles, audit=False
        )
        return Response(
            ClinicVisitSettingsSerializer(visit_settings_read(clinic_id=clinic.id)).data
        )

    @extend_schema(
        operation_id="clinics_visit_settings_update",
        summary="Change the clinic's visit thresholds and dose ranges (clinic admins)",
        description=(
            "Sessions already started keep their thresholds. 400 `laxer` when a strict value "
            "is laxer than the standard one, `above_alert` when a hold is above its alert."
        ),
        request=ClinicVisitSettingsSerializer(partial=True),
        responses={200: ClinicVisitSettingsSerializer},
        tags=TAGS,
    )
    def patch(self, request, clinic_id):
        clinic = access_clinic(
            user=request.user, clinic_id=clinic_id, roles=SETTINGS_ADMIN, audit=False
        )
        s = ClinicVisitSettingsSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        row = visit_settings_update(clinic=clinic, **s.validated_data)
        return Response(ClinicVisitSettingsSerializer(row).data)
