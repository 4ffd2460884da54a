"""SMS through Twilio's Messages API."""

import re

from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from . import Channel, Message, Target, TransportError

# Twilio error codes that mean this number will never take our messages.
# https://www.twilio.com/docs/api/errors: 21211 invalid To, 21214 not reachable,
# 21408 region not enabled, 21610 recipient replied STOP, 21614 not a mobile number.
PERMANENT_CODES = {21211, 21214, 21408, 21610, 21614}


class TwilioSmsChannel(Channel):
    """To a patient's SMS contact point, or to a staff member's pager number (a high-risk
    safety alert's page: notifications/services/care_team.py)."""

    name = "sms"
    targets = frozenset({Target.CONTACT_POINT, Target.STAFF_USER})
    address_pattern = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
    address_hint = "A phone number in E.164 form, e.g. +15551234567."

    def __init__(self):
        self._client = None

    def _twilio(self) -> Client:
        if self._client is None:
            sid, token = settings.AFTERGLOW_TWILIO_ACCOUNT_SID, settings.AFTERGLOW_TWILIO_AUTH_TOKEN
            if not (sid and token and settings.AFTERGLOW_TWILIO_FROM):
                raise TransportError(
                    "Twilio is not configured.", permanent=False, code="twilio_not_configured"
                )
            # A hung provider must not hold a worker past its claim (STALE_CLAIM_SECONDS).
            self._client = Client(sid, token, http_client=TwilioHttpClient(timeout=15))
        return self._client

    def send(self, delivery, message: Message) -> str:
        contact = delivery.contact_point
        if contact is None and delivery.staff_user is not None:
            return self._send(delivery.staff_user.pager_phone, message)
        if contact is None:
            raise TransportError("No number for this delivery.", permanent=True, code="no_number")
        if contact.disabled_at is not None:
            # Disabled after this delivery was queued (e.g. the patient replied STOP).
            raise TransportError(
                "The number is disabled.", permanent=True, bad_target=False, code="contact_disabled"
            )
        return self._send(contact.address, message)

    def _send(self, address: str, message: Message) -> str:
        if not address:
            # A staff member who cleared their pager number after the page was queued.
            raise TransportError(
                "No number for this delivery.", permanent=True, bad_target=False, code="no_number"
            )
        try:
            sent = self._twilio().messages.create(
                to=address,
                from_=settings.AFTERGLOW_TWILIO_FROM,
                body=f"{message.title}: {message.body}",
            )
        except TwilioRestException as exc:
            # Other errors (429, 5xx, our own configuration) are retried, then given up on;
            # they say nothing against the patient's number.
            raise TransportError(
                f"Twilio {exc.status}: {exc.code}",
                permanent=exc.code in PERMANENT_CODES,
                code=str(exc.code or exc.status),
            ) from exc
        except TwilioException as exc:
            raise TransportError(
                f"Twilio: {type(exc).__name__}", permanent=False, code="twilio_error"
            ) from exc
        return sent.sid
