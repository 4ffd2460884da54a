"""Accounts: the user, staff or a patient's app account. Per-device tokens are
django-rest-knox's AuthToken."""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in: clinic staff, or a patient through the phone app.

    Staff roles live on outcomes.ClinicMembership (a role per clinic); a patient's
    account is linked from outcomes.Patient.user.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        db_table = "accounts_user"


class AuditEvent(models.Model):
    """Who read or changed which patient's health data, when and from where.

    Append-only: rows are never updated or deleted (the model refuses, and on PostgreSQL a
    trigger refuses too). Recorded for staff, not for patients reading their own data.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.UUIDField(help_text="The staff user (kept even if the user is removed).")
    actor_username = models.CharField(max_length=150)
    action = models.CharField(max_length=10)  # read, create, update, delete
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    view = models.CharField(max_length=100)
    status_code = models.PositiveSmallIntegerField()
    clinic_id = models.UUIDField(null=True, blank=True)
    patient_id = models.UUIDField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "audit_event"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["clinic_id", "-at"], name="audit_clinic_time"),
            models.Index(fields=["patient_id", "-at"], name="audit_patient_time"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_username} {self.action} {self.path}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only.")
