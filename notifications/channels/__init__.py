r"""Delivery channels behind one small interface (docs/house/STYLE.md, habit 8, healthchecks'
Transport).

A channel turns one Delivery row and a Message into one provider call. It returns the
provider's message id or raises TransportError; permanent=True means "this target will
never work" (an unregistered push token, an invalid number) and disables the target.
Channels are looked up by name in settings.AFTERGLOW_CHANNELS (name -> dotted path).

Each channel says which targets it serves (`targets`), and the dispatcher writes one
delivery per target: one per enabled Device (Target.DEVICE), one per enabled ContactPoint
kept for this channel (Target.CONTACT_POINT; the channel checks its addresses with
`address_pattern`, or by overriding `address_error`), one per patient for a channel that
needs no address (Target.PATIENT, keyed by the channel's name); Target.STAFF_USER marks a
channel that can carry a care-team notice to a staff member. The dispatcher and the
contact-point service ask the registry (channel_targets, channel_class); they never test
a channel's name.

Adding a channel is one module and one settings line:

    # notifications/channels/pager.py
    class PagerChannel(Channel):
        name = "pager"  # at most 10 characters: Delivery.channel and ContactPoint.channel
        targets = frozenset({Target.CONTACT_POINT})
        address_pattern = re.compile(r"^\d{4,12}$")
        address_hint = "A pager number, digits only."

        def send(self, delivery: Delivery, message: Message) -> str:
            ...  # call the provider; return its message id or raise TransportError

    # config/settings/base.py, AFTERGLOW_CHANNELS
    "pager": "notifications.channels.pager.PagerChannel",

A channel that patients and clinics may choose through the API must also be one of the
API's choices, notifications.models.Channel.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from ..models import Delivery

# The only text a reminder ever carries: no scores, answers, instruments or diagnoses.
REMINDER_TITLE = "Afterglow"
REMINDER_BODY = "You have a check-in waiting."
NUDGE_BODY = "Your check-in is still open."
CARE_TEAM_BODY = "A patient on your care team may need review. Open Afterglow to see who."
SAFETY_ALERT_BODY = "A safety alert needs your attention now. Open Afterglow to see it."


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    # Ids only, for the app to open the right screen.
    data: dict[str, str] = field(default_factory=dict)


class TransportError(Exception):
    """`permanent`: retrying will not help. `bad_target`: the device or address itself is
    unusable and is disabled (by default, a permanent error is the target's fault; a
    configuration error is permanent but says nothing against the patient's target)."""

    def __init__(
        self, detail: str, *, permanent: bool, code: str = "", bad_target: bool | None = None
    ):
        super().__init__(detail)
        self.detail = detail[:500]
        self.permanent = permanent
        self.bad_target = permanent if bad_target is None else bad_target
        self.code = code[:100]


class Target(StrEnum):
    """What a channel sends to."""

    DEVICE = "device"  # each of the patient's enabled Device rows (a push token)
    CONTACT_POINT = "contact"  # each of the patient's enabled ContactPoint rows of this channel
    PATIENT = "patient"  # the patient, with no address of their own: one delivery each
    STAFF_USER = "staff"  # a staff member (care-team notices)


class Channel(ABC):
    name: str = ""
    # A channel that needs no address (a log, a test double) need not say: it gets one
    # delivery per patient, and care-team notices.
    targets: ClassVar[frozenset[Target]] = frozenset({Target.PATIENT, Target.STAFF_USER})
    # For Target.CONTACT_POINT: what an address looks like, and what to tell whoever typed
    # another.
    address_pattern: ClassVar[re.Pattern[str] | None] = None
    address_hint: ClassVar[str] = ""

    @classmethod
    def address_error(cls, address: str) -> str | None:
        """Why `address` cannot be one of this channel's contact points, or None if it can."""
        if cls.address_pattern is None or cls.address_pattern.match(address):
            return None
        return cls.address_hint

    @abstractmethod
    def send(self, delivery: Delivery, message: Message) -> str:
        """Hand one message to the provider; return its id or raise TransportError."""


def channel_class(name: str) -> type[Channel] | None:
    """The class settings.AFTERGLOW_CHANNELS names for `name`; None if it names none."""
    path = settings.AFTERGLOW_CHANNELS.get(name)
    return None if path is None else import_string(path)


def channel_targets(name: str) -> frozenset[Target]:
    """What the channel called `name` serves; nothing if no such channel is configured."""
    cls = channel_class(name)
    return frozenset() if cls is None else cls.targets


def channels_serving(target: Target) -> list[str]:
    """The configured channels that serve `target`, in settings order."""
    return [name for name in settings.AFTERGLOW_CHANNELS if target in channel_targets(name)]


@cache
def get_channel(name: str) -> Channel:
    cls = channel_class(name)
    if cls is None:
        raise TransportError(
            f"No channel '{name}' is configured.",
            permanent=True,
            bad_target=False,
            code="channel_not_configured",
        )
    return cls()


def reset_channels() -> None:
    """Forget cached channel instances (settings changed, e.g. in tests)."""
    get_channel.cache_clear()
