"""The pure cadence arithmetic: step validation, the recall rule, due times across DST."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.cadence import (
    QuietHours,
    StepsInvalid,
    parse_steps,
    plan_step,
)
from notifications.cadence_templates import DEFAULT_PLAN_STEPS

RECALL = {"PHQ-9": 336, "GAD-7": 336, "PCL-5": 720, "MOOD": 0, "PAIN-NRS": 24, "PEG": 168}
NY, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


def step(**kw):
    return {"key": "s", "offset_minutes": 60, "instruments": ["MOOD"], "window_hours": 4, **kw}


def test_default_plan_is_valid_and_ordered():
    steps = parse_steps(DEFAULT_PLAN_STEPS, recall_hours=RECALL)
    assert [s.key for s in steps] == [
        "baseline",
        "hour-4",
        "day-1",
        "day-2",
        "day-7",
        "course-14",
        "day-14",
        "day-22",
        "course-30",
        "day-30",
        "day-38",
        "course-46",
        "day-46",
        "day-53",
        "course-61",
        "day-61",
        "day-68",
        "course-76",
        "day-76",
        "day-83",
    ]
    # PHQ-9 every 15-16 days of the course (14-day recall + the 24-hour window), to 12 weeks.
    assert [s.key for s in steps if "PHQ-9" in s.instruments] == [
        "baseline",
        *(f"course-{d}" for d in (14, 30, 46, 61, 76)),
    ]
    assert {s.anchor for s in steps if s.key.startswith("course-")} == {"course_start"}


def test_phq9_twice_within_two_weeks_is_refused():
    with pytest.raises(StepsInvalid) as exc:
        parse_steps(
            [
                step(key="day-7", offset_minutes=7 * 1440, instruments=["PHQ-9"]),
                step(key="day-14", offset_minutes=13 * 1440, instruments=["PHQ-9", "MOOD"]),
            ],
            recall_hours=RECALL,
        )
    assert list(exc.value.errors) == ["steps.1.instruments"]
    ((code, detail),) = exc.value.errors["steps.1.instruments"]
    assert code == "recall_window_overlap"
    assert "PHQ-9" in detail


def test_phq9_two_weeks_after_the_previous_window_closes_is_allowed():
    steps = parse_steps(
        [
            step(key="a", offset_minutes=0, instruments=["PHQ-9"], window_hours=24),
            step(key="b", offset_minutes=15 * 1440, instruments=["PHQ-9"]),
        ],
        recall_hours=RECALL,
    )
    assert len(steps) == 2


def test_phq9_two_weeks_after_the_previous_opened_but_inside_its_window_is_refused():
    # Day 0 answered as late as day 1 (a 24-hour window): day 14 is 13 days after that.
    with pytest.raises(StepsInvalid) as exc:
        parse_steps(
            [
                step(key="a", offset_minutes=0, instruments=["PHQ-9"], window_hours=24),
                step(key="b", offset_minutes=14 * 1440, instruments=["PHQ-9"]),
            ],
            recall_hours=RECALL,
        )
    ((code, detail),) = exc.value.errors["steps.1.instruments"]
    assert code == "recall_window_overlap"
    assert detail == (
        "PHQ-9 asks about the past 14 days; step 'b' opens 312 h after step 'a' closes."
    )


def test_a_baseline_window_counts_to_the_infusions_start():
    steps = parse_steps(
        [
            step(key="before", anchor="infusion_start", offset_minutes=-1440,
                 instruments=["PHQ-9"], window_hours=48),
            step(key="after", offset_minutes=14 * 1440, instruments=["PHQ-9"]),
        ],
        recall_hours=RECALL,
    )  # fmt: skip
    assert [s.key for s in steps] == ["before", "after"]


@pytest.mark.parametrize(
    ("bad", "attr"),
    [
        ({"key": "Has Spaces"}, "steps.0.key"),
        ({"offset_minutes": "60"}, "steps.0.offset_minutes"),
        ({"offset_minutes": True}, "steps.0.offset_minutes"),
        ({"window_hours": 0}, "steps.0.window_hours"),
        ({"instruments": []}, "steps.0.instruments"),
        ({"instruments": ["NOPE"]}, "steps.0.instruments.0"),
        ({"align_local_time": "25:00", "offset_minutes": 1440}, "steps.0.align_local_time"),
        ({"align_local_time": "10:00", "offset_minutes": 90}, "steps.0.align_local_time"),
        ({"anchor": "lunch"}, "steps.0.anchor"),
        ({"nudge_count": 2, "nudge_interval_minutes": 5}, "steps.0.nudge_interval_minutes"),
        ({"nudge_count": 3, "nudge_interval_minutes": 120}, "steps.0.nudge_count"),
        ({"colour": "red"}, "steps.0.colour"),
    ],
)
def test_bad_steps_name_the_field(bad, attr):
    with pytest.raises(StepsInvalid) as exc:
        parse_steps([step(**bad)], recall_hours=RECALL)
    assert attr in exc.value.errors


def test_duplicate_keys_and_empty_plans_are_refused():
    with pytest.raises(StepsInvalid) as exc:
        parse_steps([step(), step(offset_minutes=120)], recall_hours=RECALL)
    assert "steps.1.key" in exc.value.errors
    with pytest.raises(StepsInvalid):
        parse_steps([], recall_hours=RECALL)


@pytest.mark.parametrize(
    ("tz", "infusion_end", "dst_day"),
    [
        # US DST starts 2026-03-08; EU DST starts 2026-03-29; both end in autumn too.
        (NY, datetime(2026, 3, 3, 17, 0, tzinfo=UTC), "2026-03-08"),
        (BERLIN, datetime(2026, 3, 25, 12, 0, tzinfo=UTC), "2026-03-29"),
        (NY, datetime(2026, 10, 29, 17, 0, tzinfo=UTC), "2026-11-01"),
        (BERLIN, datetime(2026, 10, 22, 12, 0, tzinfo=UTC), "2026-10-25"),
    ],
)
def test_day_7_aligned_to_10_local_stays_at_10_across_dst(tz, infusion_end, dst_day):
    (day7,) = parse_steps(
        [step(key="day-7", offset_minutes=7 * 1440, align_local_time="10:00", window_hours=24)],
        recall_hours=RECALL,
    )
    planned = plan_step(
        day7, infusion_start=infusion_end - timedelta(hours=1), infusion_end=infusion_end, tz=tz
    )
    local = planned.due_at.astimezone(tz)
    assert (local.hour, local.minute) == (10, 0)
    assert local.date() == infusion_end.astimezone(tz).date() + timedelta(days=7)
    # The UTC offset differs from the infusion's: the clock changed in between, on dst_day.
    assert local.utcoffset() != infusion_end.astimezone(tz).utcoffset()
    assert infusion_end.astimezone(tz).date().isoformat() < dst_day <= local.date().isoformat()
    assert planned.window_closes_at - planned.due_at == timedelta(hours=24)


def test_unaligned_steps_are_exact_elapsed_time():
    (h4,) = parse_steps([step(key="hour-4", offset_minutes=240)], recall_hours=RECALL)
    end = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # the night US clocks change
    assert plan_step(h4, infusion_start=end, infusion_end=end, tz=NY).due_at == end + timedelta(
        hours=4
    )


def test_quiet_hours_move_a_reminder_to_their_end():
    (h4,) = parse_steps(
        [step(key="hour-4", offset_minutes=240, window_hours=12)], recall_hours=RECALL
    )
    end = datetime(2026, 6, 1, 19, 30, tzinfo=NY)  # +4 h is 23:30 local
    quiet = QuietHours(start=time(21, 0), end=time(8, 0))
    planned = plan_step(h4, infusion_start=end, infusion_end=end, tz=NY, quiet=quiet)
    assert planned.due_at.astimezone(NY) == datetime(2026, 6, 2, 8, 0, tzinfo=NY)
    assert planned.moved_by_quiet_hours


def test_baseline_closes_when_the_infusion_starts():
    (base,) = parse_steps(
        [step(key="baseline", anchor="infusion_start", offset_minutes=-1440, window_hours=48)],
        recall_hours=RECALL,
    )
    start = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
    planned = plan_step(base, infusion_start=start, infusion_end=start + timedelta(hours=1), tz=NY)
    assert planned.due_at == start - timedelta(days=1)
    assert planned.window_closes_at == start


@given(
    minutes=st.integers(min_value=0, max_value=366 * 24 * 60),
    days=st.integers(min_value=1, max_value=40),
    hour=st.integers(min_value=0, max_value=23),
    zone=st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]),
)
def test_aligned_steps_land_on_the_wall_clock_time_any_day_of_the_year(minutes, days, hour, zone):
    tz = ZoneInfo(zone)
    end = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    (s,) = parse_steps(
        [
            step(
                key="d",
                offset_minutes=days * 1440,
                align_local_time=f"{hour:02d}:30",
                window_hours=6,
            )
        ],
        recall_hours=RECALL,
    )
    local = plan_step(s, infusion_start=end, infusion_end=end, tz=tz).due_at.astimezone(tz)
    assert local.date() == end.astimezone(tz).date() + timedelta(days=days)
    # 02:30 may not exist on a spring-forward night; every other time is exact.
    assert (local.hour, local.minute) == (hour, 30) or hour == 2
