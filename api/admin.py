from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from outcomes.models import ClinicMembership

from .models import User


class MembershipInline(admin.TabularInline):
    model = ClinicMembership
    extra = 0
    autocomplete_fields = ["clinic"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "last_login"]
