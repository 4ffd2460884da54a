"""Adaptive probing: when a check-in suggests benefit is fading, ask a short-recall measure
every 2-3 days until the loss is confirmed or the score recovers; while the patient is
stable, the plan's sparse cadence is enough. Pure, no ORM (the service that adds the
reminder rows is notifications/services/probes.py; bench/durability.py runs the same rule).

"Fading" is the course engine's reading (outcomes/analytics/courses.py): worse than the
best score since the infusion by the instrument's minimal important difference, ignoring
the first 24 hours (an acute peak in the hours after an infusion is not the benefit that
lasts). `CONFIRM_RUN` fading readings in a row confirm it (the course engine's default
`loss_consecutive`), and probing stops: the course engine dates the loss from there.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from .cadence import QuietHours, after_quiet_hours

ACUTE_HOURS = 24
CONFIRM_RUN = 2
# Every 2-3 days: the calendar day after next, at this local time, open for a day.
PROBE_GAP_DAYS = 2
PROBE_AT = time(10, 0)
PROBE_WINDOW = timedelta(hours=24)
WEEK = timedelta(days=7)


class Trend(StrEnum):
    UNKNOWN = "unknown"  # fewer than two readings past the first 24 hours
    STABLE = "stable"
    FADING = "fading"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class Reading:
    at: datetime
    total: float


def trend(
    readings: Sequence[Reading],
    *,
    since: datetime,
    mid: float,
    higher_is_better: bool,
    confirm: int = CONFIRM_RUN,
) -> Trend:
    """Where the benefit of the infusion that ended at `since` stands on one instrument."""
    after = sorted(
        (r for r in readings if r.at >= since + timedelta(hours=ACUTE_HOURS)), key=lambda r: r.at
    )
    if len(after) < 2:
        return Trend.UNKNOWN
    run = 0
    best = after[0].total
    for r in after[1:]:
        worse = (best - r.total) if higher_is_better else (r.total - best)
        if worse >= mid:
            run += 1
        else:
            run = 0
            best = max(best, r.total) if higher_is_better else min(best, r.total)
    if run == 0:
        return Trend.STABLE
    return Trend.CONFIRMED if run >= confirm else Trend.FADING


def probe_window(
    last_answer: datetime, tz: ZoneInfo, quiet: QuietHours | None
) -> tuple[datetime, datetime]:
    """When the next probe falls due and closes, in UTC: 10:00 on the patient's wall clock,
    two calendar days after the answer that suggested fading."""
    day = last_answer.astimezone(tz).date() + timedelta(days=PROBE_GAP_DAYS)
    due = datetime.combine(day, PROBE_AT, tzinfo=tz).astimezone(last_answer.tzinfo)
    due = after_quiet_hours(due, tz, quiet)
    return due, due + PROBE_WINDOW


def fits_budget(asked: Sequence[datetime], candidate: datetime, budget: int) -> bool:
    """True when no 7 days that contain `candidate` would hold more than `budget` asks
    with it added (a rolling week, not the calendar's)."""
    near = sorted([t for t in asked if abs(t - candidate) < WEEK] + [candidate])
    for i, start in enumerate(near):
        if start > candidate:
            break
        if start + WEEK <= candidate:
            continue
        if sum(1 for t in near[i:] if t < start + WEEK) > budget:
            return False
    return True


def probe_key(due: datetime, tz: ZoneInfo, code: str) -> str:
    """One probe per patient, instrument and local day: the row's unique key (at most 40
    characters, as a step key)."""
    return f"probe-{code.lower()[:17]}-{due.astimezone(tz).date().isoformat()}"
