from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ApiConfig(AppConfig):
    default = True
    name = "api"
    verbose_name = "Afterglow API and accounts"


class OtpAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with django-otp's OTPAdminSite as `admin.site`: signing in to the
    admin takes a password and a code from one of the operator's OTP devices."""

    default = False  # named in INSTALLED_APPS; not the `api` app's own config
    default_site = "api.admin_site.OtpAdminSite"
