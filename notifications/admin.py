from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .cadence import StepsInvalid, parse_steps
from .models import (
    CadencePlan,
    CadencePlanRevision,
    ClinicNotificationSettings,
    ContactPoint,
    Delivery,
    Device,
    PatientPreference,
    Reminder,
)
from .services.plan_store import instrument_recall_hours
from .services.plans import cadence_plan_create, cadence_plan_update


class CadencePlanForm(forms.ModelForm):
    class Meta:
        model = CadencePlan
        fields = ["clinic", "name", "is_default", "steps"]

    def clean(self):
        data = super().clean()
        clinic = data.get("clinic")
        if clinic is not None and "steps" in data:
            try:
                parse_steps(data["steps"], recall_hours=instrument_recall_hours(clinic=clinic))
            except StepsInvalid as exc:
                raise ValidationError(str(exc)) from exc
        return data


@admin.register(CadencePlan)
class CadencePlanAdmin(admin.ModelAdmin):
    """Edits go through the same service as the API: steps are validated (recall windows),
    the version is bumped, and pending reminders are re-planned by diff."""

    form = CadencePlanForm
    list_display = ["name", "clinic", "is_default", "version", "updated_at"]
    list_filter = ["clinic", "is_default"]
    readonly_fields = ["version", "created_at", "updated_at"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = cadence_plan_update(
                plan=CadencePlan.objects.get(pk=obj.pk),
                steps=data["steps"],
                name=data["name"],
                is_default=data["is_default"],
                user=request.user,
            )
        else:
            saved = cadence_plan_create(
                clinic=data["clinic"],
                name=data["name"],
                steps=data["steps"],
                is_default=data["is_default"],
                user=request.user,
            )
        obj.pk, obj.version = saved.pk, saved.version


@admin.register(CadencePlanRevision)
class CadencePlanRevisionAdmin(admin.ModelAdmin):
    list_display = ["plan", "version", "edited_by", "created_at"]
    readonly_fields = ["plan", "version", "steps", "edited_by", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["step_key", "patient", "due_at", "window_closes_at", "status", "sent_at"]
    list_filter = ["status", "step_key"]
    readonly_fields = [f.name for f in Reminder._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["channel", "status", "attempts", "created_at", "delivered_at", "error_code"]
    list_filter = ["channel", "status"]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(ClinicNotificationSettings)
admin.site.register(PatientPreference)


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["patient", "platform", "app_version", "disabled_at", "updated_at"]
    exclude = ["push_token"]
    readonly_fields = ["push_token_digest", "auth_token"]


@admin.register(ContactPoint)
class ContactPointAdmin(admin.ModelAdmin):
    list_display = ["patient", "channel", "disabled_at"]
