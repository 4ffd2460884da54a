"""A new channel is one module and one settings line (docs/architecture.md): test-only
channels registered through settings.AFTERGLOW_CHANNELS are addressed, dispatched and
sent through with no change to the dispatcher or the contact-point service."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.errors import DomainValidationError
from notifications.channels import REMINDER_BODY, Channel, Message, Target, reset_channels
from notifications.models import (
    CadencePlan,
    ContactPoint,
    Delivery,
    DeliveryStatus,
    Device,
    Reminder,
    ReminderStatus,
)
from notifications.services.delivery import delivery_send
from notifications.services.devices import contact_point_add
from notifications.services.dispatch import reminders_dispatch_due
from outcomes.models import Infusion

pytestmark = pytest.mark.django_db

sent: list[tuple[str, str, str]] = []  # channel, where, text


class PagerChannel(Channel):
    """Pages a number the patient gave: a contact point it checks itself."""

    name = "pager"
    targets = frozenset({Target.CONTACT_POINT})
    address_pattern = re.compile(r"^\d{4,12}$")
    address_hint = "A pager number, digits only."

    def send(self, delivery, message: Message) -> str:
        sent.append((self.name, delivery.contact_point.address, message.body))
        return f"page-{delivery.id}"


class BeeperChannel(Channel):
    """Beeps every phone the patient registered: their devices."""

    name = "beeper"
    targets = frozenset({Target.DEVICE})

    def send(self, delivery, message: Message) -> str:
        sent.append((self.name, delivery.device.push_token, message.body))
        return f"beep-{delivery.id}"


@pytest.fixture
def registered(settings):
    """Two channels no code knows of, each one settings line."""
    settings.AFTERGLOW_CHANNELS = {
        **settings.AFTERGLOW_CHANNELS,
        "pager": f"{__name__}.PagerChannel",
        "beeper": f"{__name__}.BeeperChannel",
    }
    reset_channels()
    sent.clear()
    yield settings
    reset_channels()


def due_reminder(patient) -> Reminder:
    now = timezone.now()
    infusion = Infusion.objects.create(patient=patient, scheduled_at=now - timedelta(hours=5))
    plan = CadencePlan.objects.create(clinic=patient.clinic, name="Standard", steps=[])
    return Reminder.objects.create(
        patient=patient,
        infusion=infusion,
        plan=plan,
        plan_version=1,
        step_key="hour-4",
        instruments=["MOOD"],
        due_at=now - timedelta(minutes=5),
        window_closes_at=now + timedelta(hours=2),
        status=ReminderStatus.PENDING,
    )


def dispatch() -> None:
    reminders_dispatch_due(now=timezone.now(), enqueue=lambda ids: None)


def test_a_new_contact_point_channel_is_addressed_dispatched_and_sent(patient, registered):
    registered.AFTERGLOW_DEFAULT_CHANNELS = ["pager"]
    contact = contact_point_add(patient=patient, channel="pager", address=" 5551234 ")
    reminder = due_reminder(patient)

    dispatch()

    (delivery,) = Delivery.objects.filter(reminder=reminder)
    assert (delivery.channel, delivery.target_key) == ("pager", f"contact:{contact.id}")
    assert (delivery.contact_point_id, delivery.device_id) == (contact.id, None)
    assert delivery_send(delivery_id=delivery.id) == "delivered"
    assert sent == [("pager", "5551234", REMINDER_BODY)]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_message_id == f"page-{delivery.id}"


def test_a_new_channel_checks_its_own_addresses(patient, registered):
    with pytest.raises(DomainValidationError) as exc:
        contact_point_add(patient=patient, channel="pager", address="555-PAGE")
    assert exc.value.errors == {"address": [("invalid", "A pager number, digits only.")]}
    assert not ContactPoint.objects.exists()


def test_only_a_channel_serving_contact_points_keeps_addresses(patient, registered):
    with pytest.raises(DomainValidationError) as exc:
        contact_point_add(patient=patient, channel="beeper", address="5551234")
    # The channels that do, in settings order.
    assert exc.value.errors == {"channel": [("invalid_choice", "sms or email or pager.")]}


def test_a_new_device_channel_reaches_every_enabled_device(patient, registered):
    registered.AFTERGLOW_DEFAULT_CHANNELS = ["beeper"]
    for n, disabled_at in ((1, None), (2, None), (3, timezone.now())):
        Device.objects.create(
            patient=patient,
            push_token=f"token-{n}",
            push_token_digest=f"digest-{n}",
            platform="android",
            disabled_at=disabled_at,
        )
    reminder = due_reminder(patient)

    dispatch()

    deliveries = Delivery.objects.filter(reminder=reminder).select_related("device")
    assert sorted((d.channel, d.device.push_token) for d in deliveries) == [
        ("beeper", "token-1"),
        ("beeper", "token-2"),
    ]
    assert all(d.target_key == f"device:{d.device_id}" for d in deliveries)
    for d in deliveries:
        assert delivery_send(delivery_id=d.id) == "delivered"
    assert sorted(where for _, where, _ in sent) == ["token-1", "token-2"]


def test_a_patient_gets_one_delivery_per_target_across_new_and_shipped_channels(
    patient, registered
):
    registered.AFTERGLOW_DEFAULT_CHANNELS = ["pager", "console", "beeper"]
    contact_point_add(patient=patient, channel="pager", address="5551234")
    reminder = due_reminder(patient)

    dispatch()

    # No device: the beeper has nothing to beep; the console needs no address.
    keys = sorted(Delivery.objects.filter(reminder=reminder).values_list("channel", "target_key"))
    assert [channel for channel, _ in keys] == ["console", "pager"]
    assert ("console", "console") in keys


def test_the_shipped_contact_point_channels_keep_their_messages(patient):
    for channel, address, detail in (
        ("sms", "5551234567", "A phone number in E.164 form, e.g. +15551234567."),
        ("email", "not-an-address", "An e-mail address."),
    ):
        with pytest.raises(DomainValidationError) as exc:
            contact_point_add(patient=patient, channel=channel, address=address)
        assert exc.value.errors == {"address": [("invalid", detail)]}
    with pytest.raises(DomainValidationError) as exc:
        contact_point_add(patient=patient, channel="push", address="+15551234567")
    assert exc.value.errors == {"channel": [("invalid_choice", "sms or email.")]}
    sms = contact_point_add(patient=patient, channel="sms", address="+15551234567")
    assert (sms.channel, sms.address) == ("sms", "+15551234567")
