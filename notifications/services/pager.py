"""A staff member's pager number: where an urgent notice of a high-risk safety alert pages
them by SMS (care_team.py, settings.AFTERGLOW_STAFF_PAGE_CHANNELS), beside the staff
channels. Staff set their own; patients have none (they are reached through their own
contact points)."""

from django.contrib.auth import get_user_model

from accounts.errors import DomainValidationError
from outcomes.models import Patient

from ..channels.sms import TwilioSmsChannel

User = get_user_model()


def pager_phone_set(*, user, pager_phone: str):
    """Store `user`'s pager number (E.164, as the SMS channel takes it), or clear it with
    ""; returns the user."""
    pager_phone = pager_phone.strip()
    if Patient.objects.filter(user=user).exists():
        raise DomainValidationError.single(
            "pager_phone", "staff_only", "Only clinic staff have a pager number."
        )
    # The SMS channel's own check, whether or not SMS is configured here: the number is
    # the one Twilio is given when a page goes out.
    problem = TwilioSmsChannel.address_error(pager_phone) if pager_phone else None
    if problem is not None:
        raise DomainValidationError.single("pager_phone", "invalid", problem)
    if user.pager_phone != pager_phone:
        user.pager_phone = pager_phone
        user.save(update_fields=["pager_phone"])
    return user
