"""The adaptive probe rule (notifications/probes.py): fading past the first 24 hours'
peak, confirmation, the rolling weekly burden budget, and the probe's time."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.cadence import QuietHours
from notifications.probes import Reading, Trend, fits_budget, probe_key, probe_window, trend

END = datetime(2026, 4, 6, 15, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


def moods(*points):
    """(hours after the infusion, MOOD 0-10)."""
    return [Reading(END + timedelta(hours=h), v) for h, v in points]


def mood_trend(*points):
    return trend(moods(*points), since=END, mid=2, higher_is_better=True)


def test_the_first_24_hours_peak_is_not_the_best_to_fade_from():
    # 9 at 4 h (acute), then a steady 6: stable, not fading from 9.
    assert mood_trend((4, 9), (30, 6), (7 * 24, 6)) == Trend.STABLE


def test_a_drop_by_the_mid_from_the_best_is_fading_then_confirmed():
    assert mood_trend((30, 8), (7 * 24, 6)) == Trend.FADING
    assert mood_trend((30, 8), (7 * 24, 6), (9 * 24, 5)) == Trend.CONFIRMED


def test_a_recovery_resets_the_run():
    assert mood_trend((30, 8), (7 * 24, 6), (9 * 24, 8)) == Trend.STABLE
    assert mood_trend((30, 8), (7 * 24, 6), (9 * 24, 8), (11 * 24, 6)) == Trend.FADING


def test_lower_is_better_instruments_fade_upwards():
    pain = [Reading(END + timedelta(days=d), v) for d, v in ((2, 2), (7, 5))]
    assert trend(pain, since=END, mid=2, higher_is_better=False) == Trend.FADING


def test_one_reading_past_the_first_day_says_nothing():
    assert mood_trend((4, 9), (30, 3)) == Trend.UNKNOWN


def test_the_probe_falls_two_days_later_at_ten_local_out_of_quiet_hours():
    answered = datetime(2026, 4, 13, 23, 30, tzinfo=UTC)  # 19:30 in New York
    due, closes = probe_window(answered, NY, QuietHours(time(21), time(8)))
    assert due == datetime(2026, 4, 15, 14, 0, tzinfo=UTC)  # 10:00 EDT
    assert closes - due == timedelta(hours=24)
    assert probe_key(due, NY, "PAIN-NRS") == "probe-pain-nrs-2026-04-15"


@pytest.mark.parametrize(
    ("asked_days", "candidate_day", "budget", "fits"),
    [
        ([], 3, 1, True),
        ([0, 1, 2], 3, 4, True),
        ([0, 1, 2, 2.5], 3, 4, False),  # five in the week that ends with it
        ([3.5, 4, 5, 6], 3, 4, False),  # five in the week that starts with it
        ([-5, 0, 1, 9], 3, 3, True),  # at most three in any week with it
        ([-7, 10.1], 3, 1, True),
    ],
)
def test_the_budget_counts_any_rolling_week_that_holds_the_probe(
    asked_days, candidate_day, budget, fits
):
    at = [END + timedelta(days=d) for d in asked_days]
    assert fits_budget(at, END + timedelta(days=candidate_day), budget) is fits
