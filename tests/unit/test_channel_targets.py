"""What each shipped channel serves, and the addresses it takes: declared on the channel
class, read by the dispatcher and the contact-point service. No database, no settings."""

import re

import pytest

from notifications.channels import Channel, Target
from notifications.channels.console import ConsoleChannel
from notifications.channels.email import EmailChannel
from notifications.channels.push import FcmChannel
from notifications.channels.sms import TwilioSmsChannel


@pytest.mark.parametrize(
    ("channel", "targets"),
    [
        (FcmChannel, {Target.DEVICE}),
        (TwilioSmsChannel, {Target.CONTACT_POINT, Target.STAFF_USER}),  # staff: pager number
        (EmailChannel, {Target.CONTACT_POINT, Target.STAFF_USER}),
        (ConsoleChannel, {Target.PATIENT, Target.STAFF_USER}),
    ],
)
def test_each_shipped_channel_serves_what_it_always_sent_to(channel, targets):
    assert channel.targets == targets


@pytest.mark.parametrize(
    ("channel", "address", "error"),
    [
        (TwilioSmsChannel, "+15551234567", None),
        (TwilioSmsChannel, "+4915112345678", None),
        (TwilioSmsChannel, "5551234567", "A phone number in E.164 form, e.g. +15551234567."),
        (TwilioSmsChannel, "+05551234567", "A phone number in E.164 form, e.g. +15551234567."),
        (TwilioSmsChannel, "+1555", "A phone number in E.164 form, e.g. +15551234567."),
        (EmailChannel, "synthetic@example.org", None),
        (EmailChannel, "synthetic@example", "An e-mail address."),
        (EmailChannel, "two words@example.org", "An e-mail address."),
        (EmailChannel, "", "An e-mail address."),
    ],
)
def test_a_contact_point_channel_checks_its_own_addresses(channel, address, error):
    assert channel.address_error(address) == error


class Bare(Channel):
    def send(self, delivery, message) -> str:
        return "bare"


class Pager(Channel):
    name = "pager"
    targets = frozenset({Target.CONTACT_POINT})

    @classmethod
    def address_error(cls, address: str) -> str | None:
        return None if re.fullmatch(r"\d{4,12}", address) else "Digits only."

    def send(self, delivery, message) -> str:
        return "paged"


def test_a_channel_that_says_nothing_needs_no_address():
    # The console and test doubles: one delivery per patient, and care-team notices.
    assert Bare.targets == {Target.PATIENT, Target.STAFF_USER}
    assert Bare.address_error("anything") is None


def test_a_channel_may_check_addresses_beyond_a_pattern():
    assert Pager.address_error("5551234") is None
    assert Pager.address_error("555-1234") == "Digits only."
