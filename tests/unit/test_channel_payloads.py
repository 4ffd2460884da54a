"""A channel's own call to its provider, on rows built in memory: no database and no
network. `responses` patches requests' HTTPAdapter, the one chokepoint firebase-admin goes
through; an unregistered URL raises ConnectionError, so a call nobody expected fails the
test. What each channel sends, and what a delivery records of it, is checked end to end in
tests/integration/test_channels.py."""

import pytest

from notifications.channels import get_channel
from notifications.services.delivery import message_for
from tests.factories import DeliveryFactory, DeviceFactory, ReminderFactory
from tests.helpers import FCM_NAME, FCM_URL, PUSH_TOKEN

# The shipped channel classes (tests/conftest.py, as are `fcm` and its fakes).
pytestmark = pytest.mark.usefixtures("real_channels")


def push_delivery():
    """A push delivery of a reminder to the patient's phone, never saved."""
    reminder = ReminderFactory.build()
    device = DeviceFactory.build(patient=reminder.patient, push_token=PUSH_TOKEN)
    return DeliveryFactory.build(reminder=reminder, channel="push", device=device)


def test_fcm_channel_returns_the_message_name(fcm):
    fcm.post(FCM_URL, json={"name": FCM_NAME})
    delivery = push_delivery()

    assert get_channel("push").send(delivery, message_for(delivery)) == FCM_NAME
