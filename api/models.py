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
