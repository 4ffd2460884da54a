"""The domain-event API: subscribers run in order, once each, and their results return."""

from dataclasses import dataclass
from typing import get_args

from outcomes import events


@dataclass(frozen=True)
class _Ping:
    n: int


def test_announce_runs_each_subscriber_once_in_order_and_returns_their_results():
    seen = []

    def first(e):
        seen.append(("first", e.n))
        return 1

    def second(e):
        seen.append(("second", e.n))
        return 2

    events.subscribe(_Ping, first)
    events.subscribe(_Ping, second)
    events.subscribe(_Ping, first)  # twice: still once
    try:
        assert events.announce(_Ping(7)) == [1, 2]
        assert seen == [("first", 7), ("second", 7)]
    finally:
        events.unsubscribe(_Ping, first)
        events.unsubscribe(_Ping, second)
    assert events.announce(_Ping(8)) == []


def test_a_failing_subscriber_fails_the_announcement():
    def boom(e):
        raise RuntimeError("subscriber failed")

    events.subscribe(_Ping, boom)
    try:
        try:
            events.announce(_Ping(1))
        except RuntimeError as exc:
            assert str(exc) == "subscriber failed"
        else:
            raise AssertionError("the failure must reach the announcer")
    finally:
        events.unsubscribe(_Ping, boom)


def test_notifications_subscribes_to_every_event_outcomes_announces():
    # Connected by NotificationsConfig.ready() (pytest-django sets Django up). Every member
    # of the Event union, so a new event without a subscriber fails here.
    kinds = get_args(events.Event)
    assert events.SafetyScreenerWanted in kinds
    for kind in kinds:
        assert [h.__module__ for h in events.subscribers(kind)] == ["notifications.subscribers"]
