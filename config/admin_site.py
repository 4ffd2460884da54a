"""The Django admin's site: django-otp's OTPAdminSite (a password and an OTP code)."""

from django_otp.admin import OTPAdminSite


class OtpAdminSite(OTPAdminSite):
    """Only sessions verified by one of the operator's OTP devices (TOTP, or a single-use
    code from `manage.py addstatictoken`) see the admin; README, "Accounts and security"."""

    # OTPAdminSite names itself "otpadmin"; keep the usual "admin" URL namespace.
    def __init__(self, name="admin"):
        super().__init__(name)
