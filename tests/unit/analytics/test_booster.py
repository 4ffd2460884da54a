"""Booster planning from censored follow-up, shrunk toward a reference: the basis it names,
the window's percentile, never a window in the past, no rescue for a patient responding
again. No database and no Django."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.analytics.booster import (
    PRIOR_EVENTS,
    WINDOW_PERCENTILE,
    Reference,
    days_until_survival,
    plan_booster,
    posterior_rate,
    published_reference,
)
from outcomes.analytics.courses import CourseOutcome

END = datetime(2025, 5, 1, 11, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PUBLISHED = Reference(18.0, "published", "induction")


def course(status: str = "responding", **kw) -> CourseOutcome:
    responded = status in {"responding", "lost"}
    base = dict(
        course_id="c",
        kind="induction",
        baseline_course_id="c",
        baseline=20.0,
        baseline_at=END - 14 * DAY,
        evaluable=True,
        assessments=3,
        best_score=4.0,
        best_at=END + DAY,
        best_pct=80.0,
        latest_score=6.0,
        latest_at=END + 2 * DAY,
        latest_pct=70.0,
        responded=responded,
        response_at=END + DAY if responded else None,
        partial_response=False,
        remitted=responded,
        remission_at=END + DAY if responded else None,
        futility_signal=False,
        status=status,
        loss_between=None,
        loss_reason=None,
        durability_from_days=2.0 if responded else None,
        durability_to_days=None,
        durability_days=2.0 if responded else None,
        censored=status == "responding",
        censor_reason="data_end" if status == "responding" else None,
        censored_at=END + 2 * DAY if status == "responding" else None,
        pending_non_responses=0,
        benefit_fading=False,
        responding_again=False,
        reliable_change=None,
        infusions=(),
    )
    return CourseOutcome(**{**base, **kw})


def lost(days: float) -> CourseOutcome:
    return course(
        "lost",
        censored=False,
        censor_reason=None,
        censored_at=None,
        durability_days=days,
        loss_between=(END + (days - 1) * DAY, END + (days + 1) * DAY),
        latest_pct=10.0,
    )


def plan(**kw):
    args = dict(
        current=course(), last_infusion_end=END, past=[], reference=PUBLISHED, now=END + 2 * DAY
    )
    return plan_booster(**{**args, **kw})


def test_without_losses_of_its_own_the_basis_is_the_reference_and_its_median_stands():
    p = plan()
    assert (p.advice, p.basis) == ("book_window", "published")
    assert p.median_days == pytest.approx(18.0)
    # Known to have held 2 days (its last responding assessment): the fade is expected a
    # median 18 days after that (the model is memoryless).
    assert p.expected_fade_at == END + timedelta(days=2 + 18)
    # The window closes when 25% would have lost response: exp(-ln2/18 t) = 0.75.
    close = 18 * math.log(1 / 0.75) / math.log(2)
    assert p.window_end == END + timedelta(days=2 + close)
    assert p.window_start == p.window_end - 5 * DAY
    assert p.window_percentile == WINDOW_PERCENTILE == 25


def test_a_clinic_reference_is_named_as_such():
    p = plan(reference=Reference(25.0, "clinic", "induction"))
    assert p.basis == "clinic" and p.median_days == pytest.approx(25.0)


def test_the_patients_own_losses_pull_the_estimate_toward_them():
    p = plan(past=[lost(8.0), lost(10.0)])
    assert p.basis == "patient" and p.patient_losses == 2
    # Gamma prior (2 events at median 18) + 2 losses of 8 and 10 days.
    b = PRIOR_EVENTS * 18 / math.log(2) + 18
    assert p.median_days == pytest.approx(math.log(2) * b / 4)
    assert 9 < p.median_days < 18


def test_censored_follow_up_lengthens_the_estimate_and_is_not_ignored():
    plain = plan()
    with_censored = plan(past=[course(durability_days=40.0)])
    assert with_censored.patient_censored == 1
    assert with_censored.basis == "published"  # no loss of its own yet
    assert with_censored.median_days > plain.median_days


def test_fading_or_lost_is_a_rescue_from_now():
    now = END + 20 * DAY
    for current in (course(benefit_fading=True), lost(15.0)):
        p = plan(current=current, now=now)
        assert p.advice == "rescue_now" and p.benefit_fading
        assert (p.window_start, p.window_end) == (now, now + 5 * DAY)


def test_a_patient_responding_again_after_a_loss_is_not_told_to_book_a_rescue():
    p = plan(current=dataclasses.replace(lost(15.0), latest_pct=60.0, responding_again=True))
    assert p.advice == "responding_again" and p.window_start is None
    # One better reading without the engine's confirmation is still a rescue.
    assert plan(current=dataclasses.replace(lost(15.0), latest_pct=60.0)).advice == "rescue_now"


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("no_response", "not_responding"),
        ("partial_response", "not_responding"),
        ("awaiting_data", "insufficient_data"),
        ("not_evaluable", "insufficient_data"),
    ],
)
def test_no_window_without_a_response(status, advice):
    p = plan(current=course(status))
    assert p.advice == advice and p.window_start is None and p.basis is None


def test_published_reference_by_context():
    assert published_reference(infusions=1, condition_ptsd=False).median_days == 7.0
    assert published_reference(infusions=6, condition_ptsd=False).median_days == 18.0
    assert published_reference(infusions=6, condition_ptsd=True).median_days == 27.5


@settings(max_examples=200, deadline=None)
@given(
    median=st.floats(min_value=1, max_value=120),
    losses=st.lists(st.floats(min_value=0, max_value=200), max_size=5),
    censored=st.lists(st.floats(min_value=0, max_value=200), max_size=5),
    elapsed=st.floats(min_value=0, max_value=400),
)
def test_never_a_window_in_the_past_and_the_rate_is_positive(median, losses, censored, elapsed):
    rate = posterior_rate(reference_median_days=median, losses=losses, censored=censored)
    assert rate > 0
    assert days_until_survival(rate, 0.75) < days_until_survival(rate, 0.5)
    now = END + timedelta(days=elapsed)
    p = plan(reference=Reference(median, "published", "x"), now=now)
    assert p.window_start >= now - timedelta(microseconds=1)
    assert p.window_end - p.window_start == 5 * DAY


def test_a_course_that_has_held_past_the_median_is_not_told_it_faded_in_the_past():
    now = END + 30 * DAY
    p = plan(current=course(durability_days=28.0), now=now)
    assert p.expected_fade_at > now - 2 * DAY
    assert p.expected_fade_at == END + timedelta(days=28 + 18)
