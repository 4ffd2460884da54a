"""`config` is the Django project (settings, URLs, the Celery app, wsgi). It is installed
as an app only so that its project-wide commands (`demo_seed`, `setup_periodic_tasks`)
are found; it has no models."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConfigConfig(AppConfig):
    default = True
    name = "config"
    verbose_name = "Afterglow project"


class OtpAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with django-otp's OTPAdminSite as `admin.site`: signing in to the
    admin takes a password and a code from one of the operator's OTP devices."""

    default = False  # named in INSTALLED_APPS; not the `config` app's own config
    default_site = "config.admin_site.OtpAdminSite"
