"""Delivery channels behind one small interface (STYLE habit 8, healthchecks' Transport).

A channel turns one Delivery row and a Message into one provider call. It returns the
provider's message id or raises TransportError; permanent=True means "this target will
never work" (an unregistered push token, an invalid number) and disables the target.
Channels are looked up by name in settings.AFTERGLOW_CHANNELS (name -> dotted path).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

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


class Channel(ABC):
    name: str = ""

    @abstractmethod
    def send(self, delivery: Delivery, message: Message) -> str:
        """Hand one message to the provider; return its id or raise TransportError."""


@cache
def get_channel(name: str) -> Channel:
    try:
        path = settings.AFTERGLOW_CHANNELS[name]
    except KeyError as exc:
        raise TransportError(
            f"No channel '{name}' is configured.",
            permanent=True,
            bad_target=False,
            code="channel_not_configured",
        ) from exc
    return import_string(path)()


def reset_channels() -> None:
    """Forget cached channel instances (settings changed, e.g. in tests)."""
    get_channel.cache_clear()
