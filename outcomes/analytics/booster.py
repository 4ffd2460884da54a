"""When to offer a booster infusion: a proposed booking window, before the benefit of the
current infusion is expected to fade.

The expectation comes from this patient's own history when there is enough of it (the
median of at least two past losses of response), otherwise from the clinic's cohort
median, otherwise from the published median: 18 days from the last infusion to relapse
among responders (Murrough 2013, Biol Psychiatry 74:250). A proposal is advice for a
clinician, never an automatic booking.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from outcomes.analytics.durability import InfusionOutcome

# Murrough 2013: median time to relapse among responders, 18 days after the last infusion
# (n=24). Used only when the clinic has no cohort median of its own.
PUBLISHED_MEDIAN_DURABILITY_DAYS = 18.0
# A patient's own median needs at least this many past losses of response to be trusted.
MIN_PATIENT_EVENTS = 2


@dataclass(frozen=True)
class BoosterProposal:
    expected_fade_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    # "patient_history", "cohort", "fading_now", "not_responding", "insufficient_data"
    basis: str
    benefit_fading: bool
    detail: str  # one sentence a clinician can read, no jargon


def _date(dt: datetime) -> str:
    return f"{dt.day} {dt:%b %Y}"


def _no_window(basis: str, detail: str, *, fading: bool = False) -> BoosterProposal:
    return BoosterProposal(
        expected_fade_at=None,
        window_start=None,
        window_end=None,
        basis=basis,
        benefit_fading=fading,
        detail=detail,
    )


def propose_booster(
    *,
    current: InfusionOutcome | None,
    current_ended_at: datetime | None,
    past_durability_days: Sequence[float],
    cohort_median_days: float | None,
    now: datetime,
    lead_days: float = 3.0,
    window_days: float = 5.0,
) -> BoosterProposal:
    """Propose a booster window for the patient's most recent infusion.

    `past_durability_days` must hold EVENTS only (durabilities of earlier infusions whose
    response was lost, `censored` False); censored values would bias the median low.
    The window is [fade - lead_days, fade - lead_days + window_days], moved to start at
    `now` (keeping its length) when that start is already past.
    """
    if lead_days < 0 or window_days <= 0:
        raise ValueError("lead_days must be >= 0 and window_days > 0")
    window = timedelta(days=window_days)

    if current is None or current_ended_at is None:
        return _no_window(
            "insufficient_data", "There is no recent infusion to plan a booster from."
        )

    lost = current.status == "lost"
    if lost or current.benefit_fading:
        # Fading or already lost: offer a booster from now rather than waiting.
        fade_at = current.lost_response_at if lost and current.lost_response_at else now
        if lost:
            detail = (
                f"The benefit of the last infusion wore off around {_date(fade_at)}; "
                f"consider offering a booster between {_date(now)} and {_date(now + window)}."
            )
        else:
            detail = (
                "The patient is still better than before the infusion but recent scores "
                f"are slipping; consider offering a booster between {_date(now)} and "
                f"{_date(now + window)}."
            )
        return BoosterProposal(
            expected_fade_at=fade_at,
            window_start=now,
            window_end=now + window,
            basis="fading_now",
            benefit_fading=True,
            detail=detail,
        )

    if current.status == "no_response":
        return _no_window(
            "not_responding",
            "The last infusion has not brought the hoped-for improvement yet, so a booster "
            "date cannot be planned; review the treatment plan instead.",
        )
    if current.status != "responding":
        # "no_baseline" or "awaiting_data": we cannot tell yet whether it worked.
        return _no_window(
            "insufficient_data",
            "There are not enough scores around the last infusion yet to tell how well "
            "it worked, so no booster date is suggested.",
        )

    events = [float(x) for x in past_durability_days if math.isfinite(x) and x >= 0]
    if len(events) >= MIN_PATIENT_EVENTS:
        basis = "patient_history"
        days = statistics.median(events)
        source = f"how long earlier infusions helped this patient (about {days:.0f} days)"
    elif cohort_median_days is not None:
        basis = "cohort"
        days = float(cohort_median_days)
        source = f"how long infusions usually help at this clinic (about {days:.0f} days)"
    else:
        basis = "cohort"
        days = PUBLISHED_MEDIAN_DURABILITY_DAYS
        source = f"published results (benefit usually lasts about {days:.0f} days)"

    fade_at = current_ended_at + timedelta(days=days)
    start = fade_at - timedelta(days=lead_days)
    if start < now:
        # Never propose a window in the past: it slides to start now, same length.
        start = now
    end = start + window
    detail = (
        f"Based on {source}, the benefit may start to fade around {_date(fade_at)}; "
        f"consider booking a booster between {_date(start)} and {_date(end)}."
    )
    return BoosterProposal(
        expected_fade_at=fade_at,
        window_start=start,
        window_end=end,
        basis=basis,
        benefit_fading=False,
        detail=detail,
    )
