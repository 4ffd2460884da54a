"""Phones registered for push, and the patient's contact points: addresses on the channels
that send to them (e-mail, SMS; notifications.channels.Target.CONTACT_POINT)."""

import hashlib

from django.db import transaction

from accounts.audit import audit_action, audit_refused
from accounts.errors import ConflictError, DomainValidationError
from outcomes.models import Patient

from ..channels import Target, channel_class, channels_serving
from ..models import ContactPoint, Device, Platform

# The audit log's name for a push token moving from one patient to another.
DEVICE_MOVED = "dev_move"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def device_register(
    *, patient: Patient, push_token: str, platform: str, app_version: str = "", auth_token=None
) -> tuple[Device, bool]:
    """Register a push token, or update it if known; re-registering re-enables it.

    A token moves to whoever registers it last only within one clinic (a phone handed to
    another patient of the same clinic); each move is audited (`dev_move`, one row for the
    patient who had it and one for the one who has it now). A token registered to a patient
    of another clinic is not taken: ConflictError `push_token_registered_elsewhere` (409, as
    docs/house/API.md prescribes for a clash with stored state), audited as refused. Not a
    second row: one token is one phone, which must not receive another clinic's patient's
    reminders, and the digest is unique. The phone's earlier owner signing out (or the
    provider calling the token dead and an operator removing it) frees it."""
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
    device = None
    # The token's row, locked, so the owner it is checked against is the one it is taken
    # from. A first registration inserts it; of two racing, the unique digest lets one
    # insert and the other find (and lock) that row on its next turn.
    for _ in range(3):
        device = Device.objects.select_for_update().filter(push_token_digest=digest).first()
        if device is not None:
            break
        device, created = Device.objects.get_or_create(push_token_digest=digest, defaults=fields)
        if created:
            return device, True
    if device is None:  # inserted and removed again, three times over: a client's retry
        raise ConflictError("This push token is being registered meanwhile; try again.")
    if device.patient_id != patient.pk:
        _move_checked(device=device, patient=patient)
    for name, value in fields.items():
        setattr(device, name, value)
    device.save(update_fields=[*fields, "updated_at"])
    return device, False


def _move_checked(*, device: Device, patient: Patient) -> None:
    """A token moves between patients of one clinic only (audited both ways); another
    clinic's registration is refused (audited, naming the owner only in the log)."""
    owner_clinic_id = Patient.objects.values_list("clinic_id", flat=True).get(pk=device.patient_id)
    if owner_clinic_id != patient.clinic_id:
        audit_refused(patient_id=device.patient_id, clinic_id=owner_clinic_id)
        raise ConflictError(
            "This push token is registered to another account.",
            code="push_token_registered_elsewhere",
        )
    audit_action(action=DEVICE_MOVED, patient_id=device.patient_id, clinic_id=owner_clinic_id)
    audit_action(action=DEVICE_MOVED, patient_id=patient.pk, clinic_id=patient.clinic_id)


def device_unregister(*, device: Device) -> None:
    Device.objects.filter(pk=device.pk).delete()


def devices_unregister_for_user(*, user) -> int:
    """Signing out everywhere stops every push."""
    deleted, _ = Device.objects.filter(patient__user=user).delete()
    return deleted


def devices_unregister_other_tokens(*, user, keep) -> int:
    """Signing out the other phones stops their pushes; this phone's (`keep`) stay, and so
    does a registration whose token already expired (it may be this phone's, signed in
    again since)."""
    rows = Device.objects.filter(patient__user=user, auth_token__isnull=False)
    if keep is not None:
        rows = rows.exclude(auth_token=keep)
    deleted, _ = rows.delete()
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
