"""The delivery channels at the HTTP boundary: FCM HTTP v1, Twilio's Messages API, Django
mail and the console, with no network. `responses` patches requests' HTTPAdapter, the one
chokepoint both firebase-admin and twilio go through; an unregistered URL raises
ConnectionError, so a call nobody expected fails the test.
"""

import base64
import json
import logging
import smtplib
import uuid
from urllib.parse import parse_qs

import pytest
import responses
from django.core import mail
from django.core.mail.backends import locmem
from django.utils import timezone

from notifications.channels import REMINDER_BODY, REMINDER_TITLE, reset_channels
from notifications.models import (
    ContactPoint,
    Delivery,
    DeliveryStatus,
    Device,
    Reminder,
    ReminderStatus,
)
from notifications.services.delivery import delivery_send
from tests.factories import (
    ContactPointFactory,
    DeliveryFactory,
    DeviceFactory,
    PatientFactory,
    ReminderFactory,
)
from tests.helpers import FCM_NAME, FCM_URL, PUSH_TOKEN, TOKEN_URL, fcm_calls

# The shipped channel classes in every test (tests/conftest.py, as are `fcm` and its fakes).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("real_channels")]

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_AUTH = "synthetic-twilio-auth-token"
TWILIO_FROM = "+15005550006"
TWILIO_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
TWILIO_MESSAGE_SID = "SM" + "fedcba9876543210" * 2
PATIENT_NUMBER = "+15551230001"

# Words that would betray health data if they reached a provider.
INSTRUMENT = "PHQ-9"
CONDITION = "trd"


def fcm_error(code: int, status: str, error_code: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": "Requested entity was not found." if code == 404 else "Unavailable.",
            "status": status,
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": error_code,
                }
            ],
        }
    }


FCM_UNREGISTERED = fcm_error(404, "NOT_FOUND", "UNREGISTERED")
FCM_UNAVAILABLE = fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")

# firebase-admin mounts an adapter on fcm.googleapis.com with urllib3's
# Retry(status=4, status_forcelist=[500, 503]); `responses` emulates that Retry (without its
# backoff sleeps), so one 503 from FCM is seen as the first try plus four retries.
FCM_CALLS_PER_503 = 5


# --- Rows -----------------------------------------------------------------------------------


def make_reminder(*, status: str = ReminderStatus.SENT) -> Reminder:
    patient = PatientFactory(conditions=[CONDITION])
    return ReminderFactory(
        patient=patient, step_key="hour-4", instruments=[INSTRUMENT], status=status
    )


def make_push_delivery(*, reminder: Reminder | None = None, **fields) -> Delivery:
    reminder = reminder or make_reminder()
    device = DeviceFactory(patient=reminder.patient, push_token=PUSH_TOKEN)
    return DeliveryFactory(reminder=reminder, channel="push", device=device, **fields)


def make_contact_delivery(*, channel: str, address: str) -> Delivery:
    reminder = make_reminder()
    contact = ContactPointFactory(patient=reminder.patient, channel=channel, address=address)
    return DeliveryFactory(reminder=reminder, channel=channel, contact_point=contact)


# --- Fixtures -------------------------------------------------------------------------------


@pytest.fixture
def twilio(settings):
    settings.AFTERGLOW_TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.AFTERGLOW_TWILIO_AUTH_TOKEN = TWILIO_AUTH
    settings.AFTERGLOW_TWILIO_FROM = TWILIO_FROM
    reset_channels()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def no_http():
    """Any HTTP call at all fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


# --- FCM HTTP v1 ----------------------------------------------------------------------------


def test_push_posts_an_fcm_v1_message_with_ids_only(fcm):
    fcm.post(FCM_URL, json={"name": FCM_NAME})
    delivery = make_push_delivery()

    assert delivery_send(delivery_id=delivery.id) == "delivered"

    (call,) = fcm_calls(fcm)
    assert call.request.headers["Authorization"] == "Bearer ya29.test"
    raw = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
    body = json.loads(raw)
    assert list(body) == ["message"]
    message = body["message"]
    assert message["token"] == PUSH_TOKEN
    assert message["notification"] == {"title": REMINDER_TITLE, "body": REMINDER_BODY}
    assert message["data"] == {
        "type": "check_in_reminder",
        "reminder_id": str(delivery.reminder_id),
    }
    assert all(isinstance(v, str) for v in message["data"].values())
    assert message["android"]["priority"] == "high"
    assert message["android"]["collapse_key"]
    assert message["apns"]["headers"]["apns-priority"] == "10"
    patient = delivery.reminder.patient
    for secret in (INSTRUMENT, "PHQ", CONDITION, patient.display_name, "score", "answer"):
        assert secret not in raw

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_message_id == FCM_NAME
    assert delivery.attempts == 1
    assert delivery.delivered_at is not None


def test_unregistered_fcm_token_disables_the_device(fcm):
    fcm.post(FCM_URL, status=404, json=FCM_UNREGISTERED)
    delivery = make_push_delivery()

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert len(fcm_calls(fcm)) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "NOT_FOUND:UnregisteredError"
    assert delivery.next_attempt_at is None
    device = Device.objects.get(pk=delivery.device_id)
    assert device.disabled_at is not None
    assert device.disabled_reason == "NOT_FOUND:UnregisteredError"


def test_unavailable_fcm_is_retried_later_and_keeps_the_device(fcm):
    fcm.post(FCM_URL, status=503, json=FCM_UNAVAILABLE)
    delivery = make_push_delivery()
    before = timezone.now()

    assert delivery_send(delivery_id=delivery.id) == "retrying"

    assert len(fcm_calls(fcm)) == FCM_CALLS_PER_503
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.error_code == "UNAVAILABLE:UnavailableError"
    assert delivery.next_attempt_at > before
    assert Device.objects.get(pk=delivery.device_id).disabled_at is None


def test_retried_push_that_then_succeeds_is_delivered(fcm):
    fcm.post(FCM_URL, status=503, json=FCM_UNAVAILABLE)
    delivery = make_push_delivery()
    assert delivery_send(delivery_id=delivery.id) == "retrying"

    fcm.replace(responses.POST, FCM_URL, json={"name": FCM_NAME})
    assert delivery_send(delivery_id=delivery.id) == "delivered"

    assert len(fcm_calls(fcm)) == FCM_CALLS_PER_503 + 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_message_id == FCM_NAME
    assert delivery.attempts == 2
    assert delivery.error_code == ""
    assert delivery.error_detail == ""
    assert Device.objects.get(pk=delivery.device_id).disabled_at is None


# --- Twilio ---------------------------------------------------------------------------------


def twilio_message(**fields) -> dict:
    return {
        "sid": TWILIO_MESSAGE_SID,
        "account_sid": TWILIO_SID,
        "status": "queued",
        "to": PATIENT_NUMBER,
        "from": TWILIO_FROM,
        "body": f"{REMINDER_TITLE}: {REMINDER_BODY}",
        "direction": "outbound-api",
        "num_segments": "1",
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{TWILIO_MESSAGE_SID}.json",
        **fields,
    }


def twilio_error(code: int, message: str, status: int) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def test_sms_posts_the_fixed_text_to_twilio_messages(twilio):
    twilio.post(TWILIO_URL, status=201, json=twilio_message())
    delivery = make_contact_delivery(channel="sms", address=PATIENT_NUMBER)

    assert delivery_send(delivery_id=delivery.id) == "delivered"

    (call,) = twilio.calls
    basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_AUTH}".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {basic}"
    assert call.request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    raw = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
    form = parse_qs(raw, strict_parsing=True)
    assert form == {
        "To": [PATIENT_NUMBER],
        "From": [TWILIO_FROM],
        "Body": [f"{REMINDER_TITLE}: {REMINDER_BODY}"],
    }
    for secret in (INSTRUMENT, CONDITION, delivery.reminder.patient.display_name):
        assert secret not in form["Body"][0]

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_message_id == TWILIO_MESSAGE_SID


def test_invalid_number_fails_and_disables_the_contact_point(twilio):
    twilio.post(
        TWILIO_URL,
        status=400,
        json=twilio_error(21211, "The 'To' number is not a valid phone number.", 400),
    )
    delivery = make_contact_delivery(channel="sms", address=PATIENT_NUMBER)

    assert delivery_send(delivery_id=delivery.id) == "failed"

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "21211"
    contact = ContactPoint.objects.get(pk=delivery.contact_point_id)
    assert contact.disabled_at is not None
    assert contact.disabled_reason == "21211"


def test_twilio_rate_limit_is_retried_and_keeps_the_contact_point(twilio):
    twilio.post(TWILIO_URL, status=429, json=twilio_error(20429, "Too Many Requests", 429))
    delivery = make_contact_delivery(channel="sms", address=PATIENT_NUMBER)
    before = timezone.now()

    assert delivery_send(delivery_id=delivery.id) == "retrying"

    assert len(twilio.calls) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.error_code == "20429"
    assert delivery.next_attempt_at > before
    assert ContactPoint.objects.get(pk=delivery.contact_point_id).disabled_at is None


# --- E-mail ---------------------------------------------------------------------------------


def test_email_sends_the_fixed_text_and_records_the_message_id(no_http):
    delivery = make_contact_delivery(channel="email", address="synthetic@example.org")

    assert delivery_send(delivery_id=delivery.id) == "delivered"

    (sent,) = mail.outbox
    assert sent.to == ["synthetic@example.org"]
    assert sent.subject == REMINDER_TITLE
    assert sent.body == REMINDER_BODY
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_message_id
    assert sent.message()["Message-ID"] == delivery.provider_message_id


def test_refused_email_recipient_fails_and_disables_the_contact_point(monkeypatch, no_http):
    def refuse(self, messages):
        raise smtplib.SMTPRecipientsRefused({"synthetic@example.org": (550, b"5.1.1 No such user")})

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", refuse)
    delivery = make_contact_delivery(channel="email", address="synthetic@example.org")

    assert delivery_send(delivery_id=delivery.id) == "failed"

    assert mail.outbox == []
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "recipient_refused"
    assert ContactPoint.objects.get(pk=delivery.contact_point_id).disabled_at is not None


# --- Console --------------------------------------------------------------------------------


def test_console_logs_ids_and_the_fixed_text_only(caplog, no_http):
    reminder = make_reminder()
    delivery = DeliveryFactory(reminder=reminder, channel="console", target_key="console")

    with caplog.at_level(logging.INFO, logger="afterglow.reminders"):
        assert delivery_send(delivery_id=delivery.id) == "delivered"

    (record,) = [r for r in caplog.records if r.name == "afterglow.reminders"]
    assert record.getMessage() == (
        f"REMINDER delivery={delivery.id} reminder={reminder.id}: {REMINDER_TITLE} {REMINDER_BODY}"
    )
    delivery.refresh_from_db()
    assert delivery.provider_message_id == f"console-{delivery.id}"


# --- What delivery_send refuses to send ------------------------------------------------------


def test_delivery_for_a_completed_reminder_is_skipped_without_a_call(fcm):
    fcm.remove(responses.POST, TOKEN_URL)  # not even an access token is fetched
    delivery = make_push_delivery(reminder=make_reminder(status=ReminderStatus.COMPLETED))

    assert delivery_send(delivery_id=delivery.id) == "skipped"

    assert len(fcm.calls) == 0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.error_code == "reminder_completed"


@pytest.mark.parametrize("status", [DeliveryStatus.DELIVERED, DeliveryStatus.SENDING])
def test_delivered_or_claimed_delivery_is_not_sent_again(fcm, status):
    fcm.remove(responses.POST, TOKEN_URL)
    delivery = make_push_delivery(status=status, attempts=1, provider_message_id="earlier")

    assert delivery_send(delivery_id=delivery.id) == "not_claimed"

    assert len(fcm.calls) == 0
    delivery.refresh_from_db()
    assert delivery.status == status
    assert delivery.attempts == 1
    assert delivery.provider_message_id == "earlier"


def test_unknown_channel_fails_permanently(no_http):
    delivery = DeliveryFactory(
        reminder=make_reminder(), channel="pager", target_key=f"pager:{uuid.uuid4()}"
    )

    assert delivery_send(delivery_id=delivery.id) == "failed"

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error_code == "channel_not_configured"
    assert delivery.next_attempt_at is None


def test_a_misconfigured_channel_does_not_disable_the_patients_device(no_http):
    delivery = make_push_delivery()
    Delivery.objects.filter(pk=delivery.pk).update(channel="pager")

    assert delivery_send(delivery_id=delivery.id) == "failed"

    device = Device.objects.get(pk=delivery.device_id)
    assert device.disabled_at is None


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_a_contact_disabled_after_queueing_gets_nothing(twilio, channel):
    address = PATIENT_NUMBER if channel == "sms" else "synthetic@example.org"
    delivery = make_contact_delivery(channel=channel, address=address)
    ContactPoint.objects.filter(pk=delivery.contact_point_id).update(
        disabled_at=timezone.now(), disabled_reason="21610"
    )

    assert delivery_send(delivery_id=delivery.id) == "failed"

    delivery.refresh_from_db()
    assert delivery.error_code == "contact_disabled"
    assert len(twilio.calls) == 0
    assert ContactPoint.objects.get(pk=delivery.contact_point_id).disabled_reason == "21610"
