"""Domain events: what happened in the clinical domain, for the apps built on top of it.

`outcomes` never calls upward (docs/architecture.md): when a check-in is stored, an
infusion recorded, moved or cancelled, a patient changed or erased, a safety alert raised,
escalated, acknowledged or resolved, a visit alert raised, a follow-up screener wanted, or
a patient's benefit is fading, it `announce`s an event, and whoever cares (`notifications`, from its
`AppConfig.ready()`) has subscribed a handler for that event's type.

Handlers run at once, in the order they subscribed, inside the announcer's transaction: a
reminder planned or a notice queued commits or rolls back with the change that caused it,
so none is lost and none is sent for a change that did not happen. A handler that raises
fails the change. Events carry model instances, never serialised health data, and never
leave the process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from outcomes.models import (
        CheckIn,
        Infusion,
        InstrumentResponse,
        Patient,
        SafetyAlert,
        VisitAlert,
    )


@dataclass(frozen=True)
class CheckInStored:
    """A new check-in (not a replayed retry) answered these instruments."""

    check_in: CheckIn
    instrument_codes: tuple[str, ...]


@dataclass(frozen=True)
class InfusionRecorded:
    infusion: Infusion


@dataclass(frozen=True)
class InfusionMoved:
    """Its scheduled, start or end time changed."""

    infusion: Infusion


@dataclass(frozen=True)
class InfusionCancelled:
    infusion: Infusion


@dataclass(frozen=True)
class PatientChanged:
    """Something that decides when the patient is asked changed (time zone, status)."""

    patient: Patient


@dataclass(frozen=True)
class PatientErased:
    """The patient's identity is gone: every contact detail must go too."""

    patient: Patient


@dataclass(frozen=True)
class SafetyAlertsRaised:
    """One check-in raised these alerts (one or more rules fired)."""

    patient: Patient
    alerts: tuple[SafetyAlert, ...]


@dataclass(frozen=True)
class VisitAlertRaised:
    """A reading at the infusion visit opened an alert, for the staff on the floor."""

    patient: Patient
    alert: VisitAlert


@dataclass(frozen=True)
class SafetyAlertEscalated:
    """Nobody acknowledged the alert in time (it is open), or, acknowledged, nobody
    documented its follow-up in time (it is acknowledged); `alert.escalation_level` is the
    new level. Announced once per check-in and pass: for the highest-level alert of those
    of its check-in that escalated together (in the same status)."""

    alert: SafetyAlert


@dataclass(frozen=True)
class SafetyScreenerWanted:
    """A positive PHQ-9 item 9 or EPDS item 10: the item alone is not a triage tool, so the
    patient is asked a short suicide-risk screener (docs/clinical/INSTRUMENTS.md, "Safety").
    `instrument_code` names it: "C-SSRS-SCREENER" where the clinic has loaded its licensed
    C-SSRS, else "ASQ". Announced at most once per check-in, never for a check-in that
    answered one of the screeners itself."""

    patient: Patient
    check_in: CheckIn
    instrument_code: str


@dataclass(frozen=True)
class SafetyAlertAcknowledged:
    """The alert was acknowledged, and with it its check-in's open alerts at the same or
    a lower level (announced once, for the alert acted on)."""

    alert: SafetyAlert


@dataclass(frozen=True)
class SafetyAlertResolved:
    """The alert was resolved, with its check-in's unresolved alerts at the same or a lower
    level (announced once, for the alert acted on)."""

    alert: SafetyAlert


@dataclass(frozen=True)
class ScoreWorsened:
    """A score worsened by several minimal important differences since the previous one:
    worth a clinician's look, not a crisis."""

    patient: Patient
    response: InstrumentResponse


@dataclass(frozen=True)
class BenefitFading:
    """The current infusion's benefit on one instrument is fading or lost."""

    patient: Patient
    infusion_id: str
    instrument_code: str


Event = (
    CheckInStored
    | InfusionRecorded
    | InfusionMoved
    | InfusionCancelled
    | PatientChanged
    | PatientErased
    | SafetyAlertsRaised
    | VisitAlertRaised
    | SafetyAlertEscalated
    | SafetyAlertAcknowledged
    | SafetyAlertResolved
    | SafetyScreenerWanted
    | ScoreWorsened
    | BenefitFading
)

E = TypeVar("E")
Handler = Callable[[Any], Any]

_handlers: defaultdict[type, list[Handler]] = defaultdict(list)


def subscribe(event_type: type[E], handler: Callable[[E], Any]) -> None:
    """Run `handler(event)` whenever an event of `event_type` is announced. Subscribing the
    same handler twice has no effect (app configs can be readied more than once in tests)."""
    if handler not in _handlers[event_type]:
        _handlers[event_type].append(handler)


def unsubscribe(event_type: type[E], handler: Callable[[E], Any]) -> None:
    if handler in _handlers[event_type]:
        _handlers[event_type].remove(handler)


def announce(event: Event) -> list[Any]:
    """Run every handler of the event's type now; returns their results in order."""
    return [handler(event) for handler in list(_handlers[type(event)])]


def subscribers(event_type: type) -> Iterable[Handler]:
    return tuple(_handlers[event_type])
