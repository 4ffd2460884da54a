"""factory-boy factories: the one place test data is made. Synthetic data only.

Every model a test builds by hand has a factory here; rows a service makes (a check-in and
its scores, a reminder planned for an infusion, an alert raised by a rule) are made by
calling that service, which is what the test is about.
"""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Clinic, ClinicMembership, ClinicSecuritySettings
from notifications.models import CadencePlan, ContactPoint, Delivery, Device, Reminder
from outcomes.instruments.schema import content_digest
from outcomes.models import (
    CheckIn,
    ClinicOutcomeSettings,
    ClinicSafetySettings,
    Infusion,
    InstrumentResponse,
    InstrumentVersion,
    Patient,
    PatientCondition,
    SafetyAlert,
    TreatmentCourse,
)

User = get_user_model()
PASSWORD = "synthetic-pass-42"


# --- accounts ---------------------------------------------------------------------------------


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


class ClinicSecuritySettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicSecuritySettings

    clinic = factory.SubFactory(ClinicFactory)
    require_staff_mfa = False


class TOTPDeviceFactory(factory.django.DjangoModelFactory):
    """A staff member's authenticator (django-otp generates its secret)."""

    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(UserFactory)
    name = "Authenticator"
    confirmed = True


# --- outcomes ---------------------------------------------------------------------------------


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
            for c in ["trd"] if extracted is None else extracted:
                PatientCondition.objects.create(patient=obj, condition=c)

    @factory.post_generation
    def care_team(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.care_team.set(extracted)

    @factory.post_generation
    def enrolled_days_ago(obj, create, extracted, **kwargs):
        """Enrolled before any answer a test dates (the API refuses an answered_at before
        the patient's enrolment, less a day): three years ago unless told."""
        if create:
            obj.created_at -= timedelta(days=3 * 365 if extracted is None else extracted)
            Patient.objects.filter(pk=obj.pk).update(created_at=obj.created_at)


class TreatmentCourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TreatmentCourse

    patient = factory.SubFactory(PatientFactory)
    kind = "induction"
    started_on = factory.LazyFunction(timezone.localdate)


class InfusionFactory(factory.django.DjangoModelFactory):
    """An infusion row as it stands, with no reminders planned: to plan them, record the
    infusion through outcomes.services.infusions.infusion_schedule instead."""

    class Meta:
        model = Infusion

    patient = factory.SubFactory(PatientFactory)
    scheduled_at = factory.LazyFunction(timezone.now)


class InstrumentVersionFactory(factory.django.DjangoModelFactory):
    """A clinic's own version of an instrument; by default the licensed template of EPDS,
    without its text."""

    class Meta:
        model = InstrumentVersion

    code = "EPDS"
    version = "1"
    title = factory.SelfAttribute("code")
    clinic = factory.SubFactory(ClinicFactory)
    definition = factory.LazyAttribute(lambda o: _licensed_template(o.code))
    content_digest = factory.LazyAttribute(lambda o: content_digest(o.definition))


def _licensed_template(code: str) -> dict:
    from outcomes.services.instruments import licensed_template

    return licensed_template(code)


def _shipped_version(code: str) -> InstrumentVersion:
    """The shipped definition loaded into the test database (tests/integration/conftest.py)."""
    return InstrumentVersion.objects.get(code=code, version="1", clinic__isnull=True)


class CheckInFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckIn

    id = factory.LazyFunction(uuid.uuid4)
    patient = factory.SubFactory(PatientFactory)
    answered_at = factory.LazyFunction(timezone.now)
    received_at = factory.SelfAttribute("answered_at")
    content_digest = "synthetic"


class InstrumentResponseFactory(factory.django.DjangoModelFactory):
    """One stored PHQ-9 response with item 9 answered 1 (the row a self-harm alert points
    at); its scores are given, not computed."""

    class Meta:
        model = InstrumentResponse

    check_in = factory.SubFactory(CheckInFactory)
    patient = factory.SelfAttribute("check_in.patient")
    instrument_version = factory.LazyFunction(lambda: _shipped_version("PHQ-9"))
    instrument_code = factory.SelfAttribute("instrument_version.code")
    answered_at = factory.SelfAttribute("check_in.answered_at")
    answers = factory.LazyFunction(lambda: {f"item{i}": 0 if i < 9 else 1 for i in range(1, 10)})
    total = 1
    band = "minimal"


class SafetyAlertFactory(factory.django.DjangoModelFactory):
    """An alert row as a rule would leave it, open; to raise one the way the app does,
    submit a check-in that trips a rule."""

    class Meta:
        model = SafetyAlert

    response = factory.SubFactory(InstrumentResponseFactory)
    check_in = factory.SelfAttribute("response.check_in")
    patient = factory.SelfAttribute("response.patient")
    rule = "phq9_item9_self_harm"
    severity = "urgent"


class ClinicOutcomeSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicOutcomeSettings

    clinic = factory.SubFactory(ClinicFactory)
    instrument_code = "PHQ-9"


class ClinicSafetySettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicSafetySettings

    clinic = factory.SubFactory(ClinicFactory)


# --- notifications ----------------------------------------------------------------------------


class CadencePlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CadencePlan

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Plan {n}")
    steps = factory.LazyFunction(list)


class ReminderFactory(factory.django.DjangoModelFactory):
    """A reminder due five minutes ago for an infusion five hours ago, its window open for
    two more hours."""

    class Meta:
        model = Reminder

    patient = factory.SubFactory(PatientFactory)
    infusion = factory.SubFactory(
        InfusionFactory,
        patient=factory.SelfAttribute("..patient"),
        scheduled_at=factory.LazyFunction(lambda: timezone.now() - timedelta(hours=5)),
    )
    plan = factory.SubFactory(CadencePlanFactory, clinic=factory.SelfAttribute("..patient.clinic"))
    plan_version = 1
    step_key = factory.Sequence(lambda n: f"step-{n}")
    instruments = factory.LazyFunction(lambda: ["MOOD"])
    due_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    window_closes_at = factory.LazyAttribute(lambda o: o.due_at + timedelta(hours=2, minutes=5))


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    patient = factory.SubFactory(PatientFactory)
    push_token = factory.Sequence(lambda n: f"fcm-registration-token-{n}")
    push_token_digest = factory.LazyAttribute(
        lambda o: hashlib.sha256(o.push_token.encode()).hexdigest()
    )
    platform = "android"


class ContactPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPoint

    patient = factory.SubFactory(PatientFactory)
    channel = "sms"
    address = factory.Sequence(lambda n: f"+1555{n:07d}")


def _target_key(delivery) -> str:
    if delivery.device is not None:
        return f"device:{delivery.device.id}"
    if delivery.contact_point is not None:
        return f"contact:{delivery.contact_point.id}"
    return delivery.channel


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A queued reminder delivery; its target key follows its device or contact point."""

    class Meta:
        model = Delivery

    reminder = factory.SubFactory(ReminderFactory)
    channel = "console"
    device = None
    contact_point = None
    target_key = factory.LazyAttribute(_target_key)


# --- request bodies ---------------------------------------------------------------------------


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


def asq(**yes: int) -> dict:
    """An ASQ response: items not named are "no"; q5 (acute risk) is answered whenever any
    of q1-q4 is "yes", as the screener asks it only then."""
    answers = {"q1": 0, "q2": 0, "q3": 0, "q4": 0, **yes}
    if any(answers.values()):
        answers.setdefault("q5", 0)
    return {"instrument": "ASQ", "version": "1", "answers": answers}
