"""Booster planning: every basis, the lead / window arithmetic, and never a window in the
past. No database and no Django."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.analytics.booster import PUBLISHED_MEDIAN_DURABILITY_DAYS, propose_booster
from outcomes.analytics.durability import InfusionOutcome

ENDED = datetime(2025, 5, 1, 11, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def outcome(status: str = "responding", **kw) -> InfusionOutcome:
    responded = status in {"responding", "lost"}
    base = {
        "infusion_id": "i",
        "baseline": 20.0,
        "baseline_at": ENDED - 2 * DAY,
        "onset_hours": 4.0 if responded else None,
        "best_score": 6.0,
        "best_at": ENDED + DAY,
        "responded": responded,
        "response_at": ENDED + DAY if responded else None,
        "partial_response": responded,
        "remitted": False,
        "remission_at": None,
        "lost_response_at": None,
        "durability_days": 2.0 if responded else None,
        "censored": status == "responding",
        "censor_reason": "last_check_in" if status == "responding" else "",
        "benefit_fading": False,
        "status": status,
        "assessments": 2,
    }
    return InfusionOutcome(**{**base, **kw})


def propose(**kw):
    args = {
        "current": outcome(),
        "current_ended_at": ENDED,
        "past_durability_days": [],
        "cohort_median_days": None,
        "now": ENDED + 2 * DAY,
    }
    return propose_booster(**{**args, **kw})


def test_patient_history_uses_the_median_of_past_losses():
    # Median of 20, 24, 30 is 24 days: fade 25 May 11:00; lead 3 -> window opens 22 May,
    # closes 22 + 5 = 27 May.
    p = propose(past_durability_days=[30, 20, 24], cohort_median_days=10)
    assert p.basis == "patient_history" and not p.benefit_fading
    assert p.expected_fade_at == ENDED + 24 * DAY
    assert p.window_start == ENDED + 21 * DAY
    assert p.window_end == ENDED + 26 * DAY
    assert "25 May 2025" in p.detail


def test_one_past_loss_is_not_enough_history():
    p = propose(past_durability_days=[40], cohort_median_days=12)
    assert p.basis == "cohort" and p.expected_fade_at == ENDED + 12 * DAY


def test_published_median_when_the_clinic_has_none():
    # Murrough 2013: 18 days to relapse.
    p = propose()
    assert PUBLISHED_MEDIAN_DURABILITY_DAYS == 18.0
    assert p.basis == "cohort" and p.expected_fade_at == ENDED + 18 * DAY
    assert p.window_start == ENDED + 15 * DAY and p.window_end == ENDED + 20 * DAY


def test_lead_and_window_are_configurable():
    p = propose(cohort_median_days=14, lead_days=2, window_days=7)
    assert p.window_start == ENDED + 12 * DAY and p.window_end == ENDED + 19 * DAY


def test_a_past_window_slides_to_now_keeping_its_length():
    now = ENDED + 16 * DAY  # fade at 18 d, window would open at 15 d
    p = propose(now=now)
    assert p.window_start == now and p.window_end == now + 5 * DAY
    assert p.expected_fade_at == ENDED + 18 * DAY


def test_fading_now_starts_the_window_now():
    now = ENDED + 9 * DAY
    p = propose(current=outcome(benefit_fading=True), now=now, past_durability_days=[30, 30])
    assert p.basis == "fading_now" and p.benefit_fading
    assert p.window_start == now and p.window_end == now + 5 * DAY
    assert p.expected_fade_at == now


def test_lost_response_is_fading_now():
    now = ENDED + 12 * DAY
    lost_at = ENDED + 10 * DAY
    p = propose(current=outcome("lost", lost_response_at=lost_at, censored=False), now=now)
    assert p.basis == "fading_now" and p.benefit_fading
    assert p.expected_fade_at == lost_at and p.window_start == now


def test_not_responding_has_no_window():
    p = propose(current=outcome("no_response"))
    assert p.basis == "not_responding"
    assert p.window_start is None and p.window_end is None and p.expected_fade_at is None


@pytest.mark.parametrize(
    "kw",
    [
        {"current": None},
        {"current_ended_at": None},
        {"current": outcome("no_baseline", baseline=None)},
        {"current": outcome("awaiting_data", assessments=0)},
    ],
)
def test_insufficient_data_has_no_window(kw):
    p = propose(**kw)
    assert p.basis == "insufficient_data"
    assert p.window_start is None and p.window_end is None and p.detail


def test_details_are_one_plain_sentence():
    for p in [
        propose(),
        propose(past_durability_days=[10, 12]),
        propose(current=outcome(benefit_fading=True)),
        propose(current=outcome("no_response")),
        propose(current=None),
    ]:
        assert p.detail.endswith(".") and p.detail.count(". ") == 0
        for jargon in ("median", "censor", "Kaplan", "durability", "MID"):
            assert jargon not in p.detail


@settings(max_examples=300, deadline=None)
@given(
    now_days=st.floats(-5, 80),
    past=st.lists(st.floats(0, 90), max_size=5),
    cohort=st.none() | st.floats(1, 60),
    lead=st.floats(0, 10),
    window=st.floats(0.5, 14),
    status=st.sampled_from(["responding", "lost", "no_response", "awaiting_data"]),
    fading=st.booleans(),
)
def test_never_in_the_past_and_window_length_kept(
    now_days, past, cohort, lead, window, status, fading
):
    now = ENDED + timedelta(days=now_days)
    current = outcome(
        status,
        benefit_fading=fading and status == "responding",
        lost_response_at=ENDED + DAY if status == "lost" else None,
    )
    p = propose(
        current=current,
        now=now,
        past_durability_days=past,
        cohort_median_days=cohort,
        lead_days=lead,
        window_days=window,
    )
    if p.window_start is None:
        assert p.basis in {"not_responding", "insufficient_data"}
        return
    assert p.window_start >= now
    assert (p.window_end - p.window_start).total_seconds() == pytest.approx(window * 86_400)
    if p.basis in {"patient_history", "cohort"}:
        planned = p.expected_fade_at - timedelta(days=lead)
        assert p.window_start == max(planned, now)
