from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from outcomes.models import ClinicMembership

from .models import AuditEvent, User


class MembershipInline(admin.TabularInline):
    model = ClinicMembership
    extra = 0
    autocomplete_fields = ["clinic"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "last_login"]


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
