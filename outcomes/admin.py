from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import (
    Clinic,
    ClinicMembership,
    ClinicSecuritySettings,
    InstrumentVersion,
    Patient,
    PatientCondition,
)


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(ClinicMembership)
class ClinicMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "role", "created_at"]
    list_filter = ["role", "clinic"]
    search_fields = ["user__username", "clinic__name"]
    autocomplete_fields = ["user", "clinic"]


class PatientConditionInline(admin.TabularInline):
    model = PatientCondition
    extra = 0


@admin.register(ClinicSecuritySettings)
class ClinicSecuritySettingsAdmin(SimpleHistoryAdmin):
    """Read-only here: the policy is changed by the clinic's admins through the API's one
    service (api/mfa.py), which also signs out staff without an authenticator; a save
    here would skip that."""

    list_display = ["clinic", "require_staff_mfa", "updated_at"]
    readonly_fields = ["require_staff_mfa"]
    list_filter = ["require_staff_mfa"]
    autocomplete_fields = ["clinic"]

    def has_delete_permission(self, request, obj=None):
        # Deleting the row would turn the clinic's MFA requirement off, unrecorded.
        return False


@admin.register(Patient)
class PatientAdmin(SimpleHistoryAdmin):
    list_display = ["display_name", "clinic", "clinic_reference", "timezone", "status"]
    list_filter = ["clinic", "status"]
    search_fields = ["display_name", "clinic_reference"]
    readonly_fields = ["user", "created_at", "withdrawn_at"]
    filter_horizontal = ["care_team"]
    inlines = [PatientConditionInline]


@admin.register(InstrumentVersion)
class InstrumentVersionAdmin(admin.ModelAdmin):
    """Versions are immutable: answers are pinned to them. Load new ones from files."""

    list_display = ["code", "version", "title", "clinic", "is_active", "loaded_at"]
    list_filter = ["code", "clinic"]
    readonly_fields = [f.name for f in InstrumentVersion._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
