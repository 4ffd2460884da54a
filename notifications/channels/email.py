"""E-mail through Django's configured mail backend."""

import re
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid

from . import Channel, Message, Target, TransportError


class EmailChannel(Channel):
    """To a patient's e-mail contact point, or to a staff member's account address."""

    name = "email"
    targets = frozenset({Target.CONTACT_POINT, Target.STAFF_USER})
    address_pattern = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    address_hint = "An e-mail address."

    def send(self, delivery, message: Message) -> str:
        contact = delivery.contact_point
        if contact is None and delivery.staff_user is not None:
            return self._send(delivery.staff_user.email, message)
        if contact is None:
            raise TransportError("No address for this delivery.", permanent=True, code="no_address")
        if contact.disabled_at is not None:
            # Disabled after this delivery was queued (e.g. the patient replied STOP).
            raise TransportError(
                "The address is disabled.",
                permanent=True,
                bad_target=False,
                code="contact_disabled",
            )
        return self._send(contact.address, message)

    def _send(self, address: str, message: Message) -> str:
        if not address:
            raise TransportError(
                "No address for this delivery.", permanent=True, bad_target=False, code="no_address"
            )
        msgid = make_msgid(domain=settings.AFTERGLOW_EMAIL_DOMAIN)
        email = EmailMessage(
            subject=message.title,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={"Message-ID": msgid},
        )
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise TransportError(
                "Recipient refused.", permanent=True, code="recipient_refused"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransportError(
                f"Mail server: {type(exc).__name__}", permanent=False, code="smtp_error"
            ) from exc
        return msgid
