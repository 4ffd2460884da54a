"""factory-boy factories: the one place test data is made. Synthetic data only."""

import uuid
from datetime import UTC, datetime

import factory
from django.contrib.auth import get_user_model

from outcomes.models import Clinic, ClinicMembership, Patient, PatientCondition

User = get_user_model()
PASSWORD = "synthetic-pass-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    timezone = "America/New_York"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicMembership

    user = factory.SubFactory(UserFactory)
    clinic = factory.SubFactory(ClinicFactory)
    role = "clinician"


def StaffFactory(*, clinic=None, role: str = "clinician", **user_fields):
    """A staff user holding `role` at `clinic`."""
    return MembershipFactory(
        user=UserFactory(**user_fields), clinic=clinic or ClinicFactory(), role=role
    ).user


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    clinic = factory.SubFactory(ClinicFactory)
    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Synthetic Patient {n}")
    timezone = "America/New_York"

    @factory.post_generation
    def conditions(obj, create, extracted, **kwargs):
        if create:
            for c in extracted or ["trd"]:
                PatientCondition.objects.create(patient=obj, condition=c)

    @factory.post_generation
    def care_team(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.care_team.set(extracted)


def checkin_payload(*, responses, answered_at=None, check_in_id=None) -> dict:
    return {
        "id": str(check_in_id or uuid.uuid4()),
        "answered_at": (answered_at or datetime.now(UTC)).isoformat(),
        "responses": responses,
    }


def phq9(*values: int, version: str = "1") -> dict:
    return {
        "instrument": "PHQ-9",
        "version": version,
        "answers": {f"item{i}": v for i, v in enumerate(values, start=1)},
    }
