"""Phones registered for push, and the patient's contact points: addresses on the channels
that send to them (e-mail, SMS; notifications.channels.Target.CONTACT_POINT)."""

import hashlib

from django.db import transaction

from accounts.errors import DomainValidationError
from outcomes.models import Patient

from ..channels import Target, channel_class, channels_serving
from ..models import ContactPoint, Device, Platform


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def device_register(
    *, patient: Patient, push_token: str, platform: str, app_version: str = "", auth_token=None
) -> tuple[Device, bool]:
    """Register a push token, or update it if known. A token moves to whoever registers it
    last (a phone handed to another patient), and re-registering re-enables it."""
    if platform not in Platform.values:
        raise DomainValidationError.single(
            "platform", "invalid_choice", f"Unknown platform '{platform}'."
        )
    if not push_token or len(push_token) > 4096:
        raise DomainValidationError.single("push_token", "invalid", "A push token is required.")
    digest = _digest(push_token)
    fields = {
        "patient": patient,
        "push_token": push_token,
        "platform": platform,
        "app_version": app_version[:40],
        "auth_token": auth_token,
        "disabled_at": None,
        "disabled_reason": "",
    }
    # update_or_create locks the row, and retries the read if a racing insert wins.
    return Device.objects.update_or_create(push_token_digest=digest, defaults=fields)


def device_unregister(*, device: Device) -> None:
    Device.objects.filter(pk=device.pk).delete()


def devices_unregister_for_user(*, user) -> int:
    """Signing out everywhere stops every push."""
    deleted, _ = Device.objects.filter(patient__user=user).delete()
    return deleted


def devices_unregister_for_token(*, auth_token) -> int:
    """Signing out a phone stops its pushes."""
    deleted, _ = Device.objects.filter(auth_token=auth_token).delete()
    return deleted


@transaction.atomic
def contact_point_add(*, patient: Patient, channel: str, address: str) -> ContactPoint:
    """Keep an address for a channel that sends to contact points; the channel says what
    its addresses look like."""
    address = address.strip()
    kind = channel_class(channel)
    if kind is None or Target.CONTACT_POINT not in kind.targets:
        choices = " or ".join(channels_serving(Target.CONTACT_POINT))
        raise DomainValidationError.single("channel", "invalid_choice", f"{choices}.")
    problem = kind.address_error(address)
    if problem is not None:
        raise DomainValidationError.single("address", "invalid", problem)
    contact, _ = ContactPoint.objects.update_or_create(
        patient=patient,
        channel=channel,
        address=address,
        defaults={"disabled_at": None, "disabled_reason": ""},
    )
    return contact
