"""When to offer a booster: a booking window before the current course's benefit is
expected to fade, from a survival model that uses censored follow-up.

The model. Time from a course's last infusion to loss of response is taken as
exponential with rate lambda (one parameter, so a patient's own one or two courses can
inform it). The prior is a Gamma distribution centred on a reference median with the
weight of `PRIOR_EVENTS` losses; the reference is the clinic's own cohort (same
instrument and course kind) when it has at least `MIN_CLINIC_EVENTS` losses, else the
published figure for the context (docs/clinical/INSTRUMENTS.md, "Published durability
figures"). The patient's own past courses update it: each loss adds one event and its
days (the midpoint of its interval), each censored course adds its days at risk and no
event (so a responder still doing well lengthens the estimate instead of being ignored).
The posterior mean of lambda gives the curve S(t) = exp(-lambda t).

`basis` says where the estimate mostly comes from: "patient" once the patient has at
least one loss of their own, else "clinic" or "published".

The window closes when an estimated `WINDOW_PERCENTILE`% of such patients would have
lost response (S = 0.75): early enough that most have not. It opens `WINDOW_DAYS`
before that, never in the past. A patient whose benefit is fading or lost is offered a
window from now (a rescue); one who lost response and is responding again is not.
A proposal is advice for a clinician, never a booking.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from outcomes.analytics.courses import CourseOutcome

Basis = Literal["patient", "clinic", "published"]
Advice = Literal[
    "book_window", "rescue_now", "responding_again", "not_responding", "insufficient_data"
]
BASES: tuple[str, ...] = ("patient", "clinic", "published")
ADVICE: tuple[str, ...] = (
    "book_window",
    "rescue_now",
    "responding_again",
    "not_responding",
    "insufficient_data",
)

# Published medians by context (INSTRUMENTS.md): after a 6-infusion series 18 days
# (Murrough 2013); a single infusion's benefit generally fades within about a week
# (Phillips 2019); PTSD after 6 infusions 27.5 days (Feder 2021).
PUBLISHED_MEDIAN_DAYS = {"induction": 18.0, "single_infusion": 7.0, "ptsd": 27.5}
PRIOR_EVENTS = 2.0  # the prior weighs as much as two observed losses
MIN_CLINIC_EVENTS = 10  # a clinic median from fewer losses is too noisy to lean on
WINDOW_PERCENTILE = 25  # the window closes when 25% would have lost response
WINDOW_DAYS = 5.0


@dataclass(frozen=True)
class Reference:
    median_days: float
    basis: Literal["clinic", "published"]
    context: str  # "induction", "single_infusion", "ptsd", or the clinic's group name


def published_reference(*, infusions: int, condition_ptsd: bool) -> Reference:
    if condition_ptsd:
        return Reference(PUBLISHED_MEDIAN_DAYS["ptsd"], "published", "ptsd")
    if infusions <= 1:
        return Reference(PUBLISHED_MEDIAN_DAYS["single_infusion"], "published", "single_infusion")
    return Reference(PUBLISHED_MEDIAN_DAYS["induction"], "published", "induction")


@dataclass(frozen=True)
class BoosterPlan:
    advice: Advice
    basis: Basis | None
    reference_median_days: float | None  # the prior's median (clinic or published)
    median_days: float | None  # this patient's estimated median, from the last infusion
    expected_fade_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    window_percentile: int  # % estimated to have lost response by window_end
    patient_losses: int
    patient_censored: int
    benefit_fading: bool
    detail: str


def _date(dt: datetime) -> str:
    return f"{dt.day} {dt:%b %Y}"


def posterior_rate(
    *, reference_median_days: float, losses: Sequence[float], censored: Sequence[float]
) -> float:
    """Posterior mean of the exponential rate (per day): Gamma(a, b) prior with
    a = PRIOR_EVENTS and mean ln2 / reference median; losses add 1 to a and their days
    to b, censored courses add their days to b."""
    if reference_median_days <= 0:
        raise ValueError("reference_median_days must be positive")
    a0 = PRIOR_EVENTS
    b0 = PRIOR_EVENTS * reference_median_days / math.log(2)
    a = a0 + len(losses)
    b = b0 + sum(max(0.0, d) for d in losses) + sum(max(0.0, d) for d in censored)
    return a / b


def days_until_survival(rate: float, survival: float) -> float:
    """t with exp(-rate t) = survival."""
    return -math.log(survival) / rate


def _none(advice: Advice, detail: str, *, fading: bool = False) -> BoosterPlan:
    return BoosterPlan(
        advice=advice,
        basis=None,
        reference_median_days=None,
        median_days=None,
        expected_fade_at=None,
        window_start=None,
        window_end=None,
        window_percentile=WINDOW_PERCENTILE,
        patient_losses=0,
        patient_censored=0,
        benefit_fading=fading,
        detail=detail,
    )


def plan_booster(
    *,
    current: CourseOutcome | None,
    last_infusion_end: datetime | None,
    past: Sequence[CourseOutcome],
    reference: Reference,
    now: datetime,
) -> BoosterPlan:
    """Advice for the patient's current course. `past` are earlier courses of the same
    instrument (their losses and censored follow-up inform the patient's own rate)."""
    if current is None or last_infusion_end is None:
        return _none("insufficient_data", "There is no course to plan a booster from.")
    window = timedelta(days=WINDOW_DAYS)
    if current.status == "lost" and current.responding_again:
        # Lost, then better again: no rescue now (the next fade is judged as it comes).
        return _none(
            "responding_again",
            "The benefit wore off for a while but the latest scores meet response again; "
            "no booster is needed now. Keep watching the next check-ins.",
        )
    if current.status == "lost" or current.benefit_fading:
        fade_at = current.loss_between[1] if current.loss_between else now
        return BoosterPlan(
            advice="rescue_now",
            basis=None,
            reference_median_days=None,
            median_days=None,
            expected_fade_at=fade_at,
            window_start=now,
            window_end=now + window,
            window_percentile=WINDOW_PERCENTILE,
            patient_losses=0,
            patient_censored=0,
            benefit_fading=True,
            detail=(
                "The benefit is fading or has worn off; consider offering a booster between "
                f"{_date(now)} and {_date(now + window)}."
            ),
        )
    if current.status in ("no_response", "partial_response"):
        return _none(
            "not_responding",
            "This course has not brought a response, so a booster date cannot be planned; "
            "review the treatment plan instead.",
        )
    if current.status != "responding":
        return _none(
            "insufficient_data",
            "There are not enough scores since the course to tell how well it worked yet.",
        )

    losses = [o.durability_days for o in past if o.status == "lost" and o.durability_days]
    censored = [o.durability_days for o in past if o.censored and o.durability_days is not None]
    losses_f = [float(x) for x in losses if x is not None]
    rate = posterior_rate(
        reference_median_days=reference.median_days, losses=losses_f, censored=censored
    )
    basis: Basis = "patient" if losses_f else reference.basis
    median = days_until_survival(rate, 0.5)
    close_days = days_until_survival(rate, 1 - WINDOW_PERCENTILE / 100)
    # The current course is known to have held until its last responding assessment: the
    # exponential model is memoryless, so the fade is expected `median` days after that
    # (never a date the data already passed).
    held = timedelta(days=max(0.0, current.durability_days or 0.0))
    fade_at = last_infusion_end + held + timedelta(days=median)
    end = last_infusion_end + held + timedelta(days=close_days)
    start = end - window
    if start < now:
        start, end = now, now + window  # never a window in the past
    source = {
        "patient": f"this patient's own courses (median about {median:.0f} days)",
        "clinic": f"this clinic's similar courses (median about {median:.0f} days)",
        "published": f"published results (median about {median:.0f} days)",
    }[basis]
    return BoosterPlan(
        advice="book_window",
        basis=basis,
        reference_median_days=reference.median_days,
        median_days=median,
        expected_fade_at=fade_at,
        window_start=start,
        window_end=end,
        window_percentile=WINDOW_PERCENTILE,
        patient_losses=len(losses_f),
        patient_censored=len(censored),
        benefit_fading=False,
        detail=(
            f"Based on {source}, about {WINDOW_PERCENTILE}% of patients would have lost "
            f"response by {_date(end)}; consider booking a booster between {_date(start)} "
            f"and {_date(end)}."
        ),
    )
