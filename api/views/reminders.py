"""Reminders: the phone's open check-ins, schedule, devices and preferences; the
scheduler's plans, reminder lists, adherence and per-patient settings."""

from zoneinfo import ZoneInfo

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from accounts.errors import DomainValidationError, NotFoundError
from accounts.models import Clinic, Role
from accounts.selectors import access_clinic, clinic_ids_for
from notifications.cadence import QuietHours
from notifications.models import (
    CadencePlan,
    ClinicNotificationSettings,
    Device,
    PatientPreference,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from notifications.selectors import (
    SCHEDULING_ROLES,
    access_plan,
    adherence_by_step,
    open_reminders_for_patient,
    plans_for_staff,
    reminders_for_staff,
    upcoming_reminders_for_patient,
)
from notifications.services.devices import device_register, device_unregister
from notifications.services.plan_store import template_plans_ensure
from notifications.services.plans import cadence_plan_create, cadence_plan_update
from notifications.services.preferences import (
    clinic_notification_settings_update,
    patient_preference_update,
)
from notifications.services.preview import Preview, SampleCourse, cadence_preview
from outcomes.selectors import access_patient

from ..filters import UtcDateTimeFilter
from ..pagination import ListPagination
from ..permissions import IsPatient, IsStaffWithRole, request_patient
from ..serializers.reminders import (
    CadencePlanSerializer,
    CadencePlanUpdateSerializer,
    CadencePlanWriteSerializer,
    CadencePreviewRequestSerializer,
    CadencePreviewSerializer,
    ClinicNotificationSettingsSerializer,
    DeviceRegisterSerializer,
    DeviceSerializer,
    OpenCheckInSerializer,
    PatientReminderSettingsSerializer,
    ReminderPreferencesSerializer,
    ReminderSerializer,
    ScheduleSerializer,
    StepAdherenceSerializer,
)

PLAN_READERS = SCHEDULING_ROLES | {Role.CLINICIAN}


# --- the phone ----------------------------------------------------------------------------
class MyOpenCheckInsView(generics.GenericAPIView):
    queryset = Reminder.objects.none()  # for the schema only
    permission_classes = [IsPatient]
    serializer_class = OpenCheckInSerializer

    @extend_schema(
        operation_id="me_open_check_ins_list",
        summary="Check-ins open now (shown even if the push was lost)",
        responses={200: OpenCheckInSerializer(many=True)},
        tags=["me"],
    )
    def get(self, request):
        patient = request_patient(request)
        return Response(
            OpenCheckInSerializer(open_reminders_for_patient(patient=patient), many=True).data
        )


class MyScheduleView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = ScheduleSerializer

    @extend_schema(
        operation_id="me_schedule_retrieve",
        summary="Upcoming check-ins, for local notifications as a backup",
        tags=["me"],
    )
    def get(self, request):
        patient = request_patient(request)
        body = {
            "timezone": patient.timezone,
            "entries": list(upcoming_reminders_for_patient(patient=patient)[:100]),
        }
        return Response(ScheduleSerializer(body).data)


class MyDeviceListCreateView(generics.ListAPIView):
    permission_classes = [IsPatient]
    serializer_class = DeviceSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Device.objects.none()
        return Device.objects.filter(patient=request_patient(self.request)).order_by("created_at")

    @extend_schema(operation_id="me_devices_list", summary="My registered devices", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="me_devices_register",
        summary="Register this phone for push (re-registering updates it)",
        request=DeviceRegisterSerializer,
        responses={
            201: DeviceSerializer,
            200: OpenApiResponse(DeviceSerializer, description="Updated"),
        },
        tags=["me"],
    )
    def post(self, request):
        s = DeviceRegisterSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        device, created = device_register(
            patient=request_patient(request), auth_token=request.auth, **s.validated_data
        )
        return Response(
            DeviceSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class MyDeviceDetailView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = DeviceSerializer

    @extend_schema(
        operation_id="me_devices_delete",
        summary="Stop push to a device",
        responses={204: OpenApiResponse(description="Removed")},
        tags=["me"],
    )
    def delete(self, request, device_id):
        patient = request_patient(request)
        device = Device.objects.filter(id=device_id, patient=patient).first()
        if device is None:
            raise NotFoundError
        device_unregister(device=device)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _preferences_body(pref: PatientPreference | None, with_plan: bool) -> dict:
    body = {
        "channels": pref.channels if pref else None,
        "quiet_hours_start": pref.quiet_hours_start if pref else None,
        "quiet_hours_end": pref.quiet_hours_end if pref else None,
        "paused_until": pref.paused_until if pref else None,
    }
    if with_plan:
        body["cadence_plan"] = pref.cadence_plan_id if pref else None
        body["weekly_budget"] = pref.weekly_budget if pref else None
    return body


class MyReminderPreferencesView(generics.GenericAPIView):
    permission_classes = [IsPatient]
    serializer_class = ReminderPreferencesSerializer

    @extend_schema(
        operation_id="me_reminder_preferences_retrieve",
        summary="My reminder preferences",
        tags=["me"],
    )
    def get(self, request):
        patient = request_patient(request)
        pref = PatientPreference.objects.filter(patient=patient).first()
        return Response(ReminderPreferencesSerializer(_preferences_body(pref, False)).data)

    @extend_schema(
        operation_id="me_reminder_preferences_update",
        summary="Change my channels, quiet hours or pause",
        tags=["me"],
    )
    def patch(self, request):
        patient = request_patient(request)
        s = ReminderPreferencesSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        pref = patient_preference_update(patient=patient, **s.validated_data)
        return Response(ReminderPreferencesSerializer(_preferences_body(pref, False)).data)


# --- schedulers -----------------------------------------------------------------------------
class CadencePlanListCreateView(generics.ListAPIView):
    permission_classes = [IsStaffWithRole]
    serializer_class = CadencePlanSerializer
    pagination_class = None

    @property
    def staff_roles(self):
        return SCHEDULING_ROLES if self.request.method == "POST" else PLAN_READERS

    def get_queryset(self):
        return plans_for_staff(user=self.request.user)

    @extend_schema(
        operation_id="cadence_plans_list",
        summary="My clinics' cadence plans, their condition templates included",
        tags=["cadence"],
    )
    def get(self, request, *args, **kwargs):
        # The shipped condition templates become each clinic's editable template plans
        # the first time anyone looks (or a patient with that condition is planned).
        for clinic in Clinic.objects.filter(
            id__in=clinic_ids_for(user=request.user, roles=PLAN_READERS)
        ):
            template_plans_ensure(clinic=clinic)
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="cadence_plans_create",
        summary="Create a plan; a step may only ask an instrument whose recall window fits",
        request=CadencePlanWriteSerializer,
        responses={201: CadencePlanSerializer},
        tags=["cadence"],
    )
    def post(self, request):
        s = CadencePlanWriteSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        clinic = access_clinic(
            user=request.user,
            clinic_id=data["clinic"],
            roles=SCHEDULING_ROLES,
            audit=False,
            field="clinic",
        )
        plan = cadence_plan_create(
            clinic=clinic,
            name=data["name"],
            steps=data["steps"],
            is_default=data["is_default"],
            user=request.user,
        )
        return Response(CadencePlanSerializer(plan).data, status=status.HTTP_201_CREATED)


def _preview_body(preview: Preview, tz: ZoneInfo) -> dict:
    position = {slot.id: n for n, slot in enumerate(preview.slots)}
    reminders = [
        {
            "infusion": position[a.infusion_id],
            "step_key": a.step_key,
            "label": a.label,
            "instruments": list(a.instruments),
            "due_at": a.due_at,
            "closes_at": a.closes_at,
            "local_due": a.due_at.astimezone(tz).isoformat(timespec="minutes"),
            "reason": a.reason,
            "recall": [
                {
                    "instrument": c.instrument,
                    "recall_hours": c.recall_hours,
                    "previous_closes_at": c.previous_closes_at,
                    "gap_hours": c.gap_hours,
                    "ok": c.gap_hours is None or c.gap_hours >= c.recall_hours,
                }
                for c in preview.recall_checks[(a.infusion_id, a.step_key)]
            ],
        }
        for a in preview.schedule.asks
    ]
    skipped = [
        {
            "infusion": position[k.infusion_id],
            "step_key": k.step_key,
            "instruments": list(k.instruments),
            "due_at": k.due_at,
            "reason": k.reason,
        }
        for k in preview.schedule.skipped
    ]
    weeks = [{"week_start": start, "reminders": n} for start, n in preview.burden_weeks]
    return {
        "reminders": reminders,
        "skipped": skipped,
        "burden": {
            "per_week": weeks,
            "max_per_week": max((w["reminders"] for w in weeks), default=0),
            "total": len(reminders),
            "in_8_weeks_after_last_infusion": preview.after_last,
        },
        "notes": preview.notes,
    }


class CadencePlanPreviewView(generics.GenericAPIView):
    """Every reminder a plan would send around a sample course; nothing is stored."""

    permission_classes = [IsStaffWithRole]
    staff_roles = PLAN_READERS
    serializer_class = CadencePreviewRequestSerializer

    @extend_schema(
        operation_id="cadence_plans_preview",
        summary="Preview a plan, template or a patient's conditions on a sample course",
        request=CadencePreviewRequestSerializer,
        responses={200: CadencePreviewSerializer},
        tags=["cadence"],
    )
    def post(self, request):
        s = CadencePreviewRequestSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        clinic = access_clinic(
            user=request.user, clinic_id=data["clinic"], roles=PLAN_READERS, audit=False,
            field="clinic",
        )  # fmt: skip
        plan = None
        if "plan" in data:
            plan = CadencePlan.objects.filter(
                id=data["plan"], clinic=clinic, archived_at__isnull=True
            ).first()
            if plan is None:
                raise DomainValidationError.single("plan", "does_not_exist", "Unknown plan.")
        c = data["course"]
        quiet = None
        if c["quiet_hours_start"] is not None:
            quiet = QuietHours(c["quiet_hours_start"], c["quiet_hours_end"])
        preview = cadence_preview(
            clinic=clinic,
            course=SampleCourse(
                starts=c["infusions"],
                duration_minutes=c["duration_minutes"],
                timezone=c["timezone"],
                conditions=c["conditions"],
                quiet=quiet,
            ),
            plan=plan,
            steps=data.get("steps"),
            template=data.get("template"),
        )
        body = _preview_body(preview, ZoneInfo(c["timezone"]))
        return Response(CadencePreviewSerializer(body).data)


class CadencePlanDetailView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    serializer_class = CadencePlanSerializer

    @property
    def staff_roles(self):
        return SCHEDULING_ROLES if self.request.method == "PATCH" else PLAN_READERS

    @extend_schema(operation_id="cadence_plans_retrieve", summary="One plan", tags=["cadence"])
    def get(self, request, plan_id):
        return Response(
            CadencePlanSerializer(
                access_plan(user=request.user, plan_id=plan_id, roles=PLAN_READERS)
            ).data
        )

    @extend_schema(
        operation_id="cadence_plans_update",
        summary="Edit a plan (a new version; pending reminders re-planned, nothing re-sent)",
        request=CadencePlanUpdateSerializer,
        responses={200: CadencePlanSerializer},
        tags=["cadence"],
    )
    def patch(self, request, plan_id):
        plan = access_plan(user=request.user, plan_id=plan_id)
        s = CadencePlanUpdateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        plan = cadence_plan_update(plan=plan, user=request.user, **s.validated_data)
        return Response(CadencePlanSerializer(plan).data)


class CadencePlanAdherenceView(generics.GenericAPIView):
    queryset = CadencePlan.objects.none()  # for the schema's path parameter types only
    permission_classes = [IsStaffWithRole]
    staff_roles = PLAN_READERS
    serializer_class = StepAdherenceSerializer

    @extend_schema(
        operation_id="cadence_plans_adherence",
        summary="Adherence per step of a plan",
        responses={200: StepAdherenceSerializer(many=True)},
        tags=["cadence"],
    )
    def get(self, request, plan_id):
        plan = access_plan(user=request.user, plan_id=plan_id, roles=PLAN_READERS)
        return Response(StepAdherenceSerializer(adherence_by_step(plan=plan), many=True).data)


class ReminderFilter(django_filters.FilterSet):
    patient = django_filters.UUIDFilter(field_name="patient_id")
    clinic = django_filters.UUIDFilter(field_name="patient__clinic_id")
    plan = django_filters.UUIDFilter(field_name="plan_id")
    status = django_filters.ChoiceFilter(choices=ReminderStatus.choices)
    kind = django_filters.ChoiceFilter(choices=ReminderKind.choices)
    due_after = UtcDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")

    class Meta:
        model = Reminder
        fields = ["patient", "clinic", "plan", "status", "kind", "due_after", "due_before"]


class ReminderListView(generics.ListAPIView):
    """Upcoming, sent, completed and missed reminders, per patient or per clinic."""

    permission_classes = [IsStaffWithRole]
    staff_roles = SCHEDULING_ROLES
    serializer_class = ReminderSerializer
    pagination_class = ListPagination
    filterset_class = ReminderFilter

    def get_queryset(self):
        return reminders_for_staff(user=self.request.user)

    @extend_schema(
        operation_id="reminders_list", summary="Reminders of my clinics", tags=["cadence"]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class PatientReminderSettingsView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = SCHEDULING_ROLES
    serializer_class = PatientReminderSettingsSerializer

    @extend_schema(
        operation_id="patients_reminder_settings_retrieve",
        summary="A patient's plan override and reminder preferences",
        tags=["cadence"],
    )
    def get(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id, roles=SCHEDULING_ROLES)
        pref = PatientPreference.objects.filter(patient=patient).first()
        return Response(PatientReminderSettingsSerializer(_preferences_body(pref, True)).data)

    @extend_schema(
        operation_id="patients_reminder_settings_update",
        summary="Override a patient's plan or preferences (re-plans pending reminders)",
        tags=["cadence"],
    )
    def patch(self, request, patient_id):
        patient = access_patient(user=request.user, patient_id=patient_id, roles=SCHEDULING_ROLES)
        s = PatientReminderSettingsSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        data = dict(s.validated_data)
        if data.get("cadence_plan") is not None:
            plan = CadencePlan.objects.filter(
                id=data["cadence_plan"], clinic_id=patient.clinic_id, archived_at__isnull=True
            ).first()
            if plan is None:
                raise DomainValidationError.single(
                    "cadence_plan", "does_not_exist", "Unknown plan."
                )
            data["cadence_plan"] = plan
        pref = patient_preference_update(patient=patient, **data)
        return Response(PatientReminderSettingsSerializer(_preferences_body(pref, True)).data)


class ClinicNotificationSettingsView(generics.GenericAPIView):
    permission_classes = [IsStaffWithRole]
    staff_roles = SCHEDULING_ROLES
    serializer_class = ClinicNotificationSettingsSerializer

    def _clinic(self, clinic_id) -> Clinic:
        return access_clinic(
            user=self.request.user, clinic_id=clinic_id, roles=SCHEDULING_ROLES, audit=False
        )

    @extend_schema(
        operation_id="clinics_notification_settings_retrieve",
        summary="The clinic's reminder defaults",
        tags=["cadence"],
    )
    def get(self, request, clinic_id):
        clinic = self._clinic(clinic_id)
        row = ClinicNotificationSettings.objects.filter(
            clinic=clinic
        ).first() or ClinicNotificationSettings(clinic=clinic)
        return Response(ClinicNotificationSettingsSerializer(row).data)

    @extend_schema(
        operation_id="clinics_notification_settings_update",
        summary="Change the clinic's reminder defaults",
        tags=["cadence"],
    )
    def patch(self, request, clinic_id):
        clinic = self._clinic(clinic_id)
        s = ClinicNotificationSettingsSerializer(data=request.data, partial=True)
        s.is_valid(raise_exception=True)
        row = clinic_notification_settings_update(clinic=clinic, **s.validated_data)
        return Response(ClinicNotificationSettingsSerializer(row).data)
