"""The staff pager (issue 13, graded safety response): a high-risk alert pages on-call at
once by SMS to each recipient's pager number, beside the staff channels, with the fixed,
health-free text; staff set their own number at `PATCH /api/v1/account/`. Twilio is faked
at requests' HTTPAdapter (`responses`), never called."""

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import responses
from django.contrib.auth import get_user_model

from notifications.channels import REMINDER_TITLE, SAFETY_ALERT_BODY, reset_channels
from notifications.models import Delivery, DeliveryKind, DeliveryStatus
from notifications.services.delivery import delivery_send
from outcomes.models import AlertLevel, SafetyAlert
from outcomes.services.safety import alerts_escalate_due
from tests.factories import ClinicSafetySettingsFactory, StaffFactory, asq, checkin_payload, phq9

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("real_channels")]
User = get_user_model()

URL = "/api/v1/me/check-ins/"
ACCOUNT = "/api/v1/account/"
NO_ITEM9 = (0, 0, 0, 0, 0, 0, 0, 0)
PAGER = "+15551230099"
CARE_TEAM_PAGER = "+15551230077"

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_FROM = "+15005550006"
TWILIO_URL = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
TWILIO_MESSAGE_SID = "SM" + "fedcba9876543210" * 2


@pytest.fixture
def staff_channels(settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]
    settings.AFTERGLOW_STAFF_PAGE_CHANNELS = ["sms"]


@pytest.fixture
def on_call(personas):
    """Clinic X's on-call clinician, with a pager number, not on patient A's care team."""
    person = StaffFactory(clinic=personas.clinic_x, role="clinician", pager_phone=PAGER)
    ClinicSafetySettingsFactory(clinic=personas.clinic_x).on_call.set([person])
    return person


@pytest.fixture
def twilio(settings):
    settings.AFTERGLOW_TWILIO_ACCOUNT_SID = TWILIO_SID
    settings.AFTERGLOW_TWILIO_AUTH_TOKEN = "synthetic-twilio-auth-token"
    settings.AFTERGLOW_TWILIO_FROM = TWILIO_FROM
    reset_channels()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def _submit(personas, *answers):
    resp = personas.client("patient_a").post(
        URL, checkin_payload(responses=list(answers)), format="json"
    )
    assert resp.status_code == 201, resp.json()
    return resp.json()


def notices(**filters):
    return Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM, **filters)


# --- who is paged by SMS ---------------------------------------------------------------------


def test_a_high_alert_pages_on_call_by_sms_beside_the_staff_channels(
    personas, staff_channels, on_call
):
    body = _submit(personas, asq(q2=1, q5=1))
    assert body["safety"]["level"] == "high"

    (page,) = notices(channel="sms")
    assert (page.staff_user, page.urgent) == (on_call, True)
    assert page.target_key == f"staff:{on_call.id}:sms"
    assert page.alert.level == AlertLevel.HIGH
    assert page.status == DeliveryStatus.QUEUED
    # The staff channels as before, to on-call and to the care team (who has no pager).
    console = notices(channel="console", urgent=True)
    assert {d.staff_user for d in console} == {on_call, personas.clinician_x}


def test_every_recipient_with_a_pager_is_paged_once(personas, staff_channels, on_call):
    personas.clinician_x.pager_phone = CARE_TEAM_PAGER
    personas.clinician_x.save(update_fields=["pager_phone"])
    _submit(personas, asq(q2=1, q5=1))
    pages = notices(channel="sms")
    assert {d.staff_user for d in pages} == {on_call, personas.clinician_x}
    assert pages.count() == 2


@pytest.mark.parametrize(
    ("level", "answers"),
    [("moderate", phq9(*NO_ITEM9, 1)), ("low", asq(q1=1))],
)
def test_moderate_and_low_alerts_send_no_sms(personas, staff_channels, on_call, level, answers):
    personas.clinician_x.pager_phone = CARE_TEAM_PAGER
    personas.clinician_x.save(update_fields=["pager_phone"])
    body = _submit(personas, answers)
    assert body["safety"]["level"] == level
    assert not notices(channel="sms").exists()
    assert notices(channel="console").exists()


def test_an_unacknowledged_high_alert_pages_again_by_sms_when_it_escalates(
    personas, staff_channels, on_call
):
    _submit(personas, asq(q2=1, q5=1))
    high = SafetyAlert.objects.get(level=AlertLevel.HIGH)
    assert alerts_escalate_due(now=high.next_escalation_at + timedelta(seconds=1)) >= 1
    assert notices(channel="sms", staff_user=on_call).count() == 2


def test_without_sms_configured_the_page_goes_by_the_staff_channels_only(
    settings, personas, staff_channels, on_call
):
    # The demo: no Twilio channel at all.
    settings.AFTERGLOW_CHANNELS = {
        "console": "notifications.channels.console.ConsoleChannel",
        "email": "notifications.channels.email.EmailChannel",
    }
    _submit(personas, asq(q2=1, q5=1))
    assert not notices(channel="sms").exists()
    assert {d.staff_user for d in notices(urgent=True)} == {on_call, personas.clinician_x}


# --- what the page says ----------------------------------------------------------------------


def test_the_page_sends_the_fixed_text_to_the_pager_number(
    twilio, personas, staff_channels, on_call
):
    _submit(personas, asq(q2=1, q5=1))
    (page,) = notices(channel="sms")
    twilio.post(TWILIO_URL, status=201, json={"sid": TWILIO_MESSAGE_SID, "status": "queued"})

    assert delivery_send(delivery_id=page.id) == "delivered"

    (call,) = twilio.calls
    raw = call.request.body.decode() if isinstance(call.request.body, bytes) else call.request.body
    form = parse_qs(raw, strict_parsing=True)
    assert form == {
        "To": [PAGER],
        "From": [TWILIO_FROM],
        "Body": [f"{REMINDER_TITLE}: {SAFETY_ALERT_BODY}"],
    }
    for secret in (personas.patient_a.display_name, "ASQ", "suicid"):
        assert secret.lower() not in form["Body"][0].lower()
    page.refresh_from_db()
    assert (page.status, page.provider_message_id) == (DeliveryStatus.DELIVERED, TWILIO_MESSAGE_SID)


def test_a_pager_removed_after_the_page_was_queued_gets_nothing(
    twilio, personas, staff_channels, on_call
):
    _submit(personas, asq(q2=1, q5=1))
    (page,) = notices(channel="sms")
    User.objects.filter(pk=on_call.pk).update(pager_phone="")

    assert delivery_send(delivery_id=page.id) == "failed"

    page.refresh_from_db()
    assert page.error_code == "no_number"
    assert len(twilio.calls) == 0


# --- staff set their own number --------------------------------------------------------------


def test_staff_set_and_clear_their_pager_number(personas):
    client = personas.client("clinician_x")
    resp = client.patch(ACCOUNT, {"pager_phone": " +15551234567 "}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["pager_phone"] == "+15551234567"
    personas.clinician_x.refresh_from_db()
    assert personas.clinician_x.pager_phone == "+15551234567"
    assert client.get(ACCOUNT).json()["pager_phone"] == "+15551234567"

    assert client.patch(ACCOUNT, {"pager_phone": ""}, format="json").status_code == 200
    personas.clinician_x.refresh_from_db()
    assert personas.clinician_x.pager_phone == ""


@pytest.mark.parametrize("number", ["12345", "+05551234567", "+1 555 123 4567", "+1555"])
def test_a_number_not_in_e164_form_is_refused_and_nothing_is_stored(personas, number):
    personas.clinician_x.pager_phone = PAGER
    personas.clinician_x.save(update_fields=["pager_phone"])
    resp = personas.client("clinician_x").patch(ACCOUNT, {"pager_phone": number}, format="json")
    assert resp.status_code == 400
    (error,) = resp.json()["errors"]
    assert (error["attr"], error["code"]) == ("pager_phone", "invalid")
    assert "E.164" in error["detail"]
    personas.clinician_x.refresh_from_db()
    assert personas.clinician_x.pager_phone == PAGER


def test_a_patient_cannot_set_a_pager_number(personas):
    client = personas.client("patient_a")
    assert client.get(ACCOUNT).json()["pager_phone"] is None
    resp = client.patch(ACCOUNT, {"pager_phone": "+15551234567"}, format="json")
    assert resp.status_code == 400
    (error,) = resp.json()["errors"]
    assert (error["attr"], error["code"]) == ("pager_phone", "staff_only")
    assert User.objects.get(pk=personas.patient_a.user_id).pager_phone == ""
