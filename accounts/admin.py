from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import AuditEvent, Clinic, ClinicMembership, ClinicSecuritySettings, User


class MembershipInline(admin.TabularInline):
    model = ClinicMembership
    extra = 0
    autocomplete_fields = ["clinic"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "last_login"]
    # Shown, not edited: staff set their own through the API's one service
    # (notifications/services/pager.py), which checks the number with the SMS channel's
    # rule; accounts cannot import it, so a form here would store an unchecked number.
    fieldsets = [*BaseUserAdmin.fieldsets, ("Safety paging", {"fields": ["pager_phone"]})]
    readonly_fields = ["pager_phone"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["at", "actor_username", "action", "path", "patient_id", "status_code"]
    list_filter = ["action"]
    search_fields = ["actor_username", "path"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(ClinicSecuritySettings)
class ClinicSecuritySettingsAdmin(SimpleHistoryAdmin):
    """Read-only here: the policy is changed by the clinic's admins through the API's one
    service (accounts/services/mfa.py), which also signs out staff without an authenticator; a save
    here would skip that."""

    list_display = ["clinic", "require_staff_mfa", "updated_at"]
    readonly_fields = ["require_staff_mfa"]
    list_filter = ["require_staff_mfa"]
    autocomplete_fields = ["clinic"]

    def has_delete_permission(self, request, obj=None):
        # Deleting the row would turn the clinic's MFA requirement off, unrecorded.
        return False
