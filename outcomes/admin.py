from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from outcomes.models import InstrumentVersion, Patient, PatientCondition


class PatientConditionInline(admin.TabularInline):
    model = PatientCondition
    extra = 0


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
