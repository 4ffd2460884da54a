"""A plan's steps as the API refuses them: the step schema (pydantic) and the plan rules
give exactly the codes, attrs, messages and order the API has always answered with. No
database and no Django."""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.cadence import StepsInvalid, parse_steps
from notifications.cadence_templates import DEFAULT_PLAN_STEPS

RECALL = {"PHQ-9": 336, "GAD-7": 336, "PCL-5": 720, "MOOD": 0, "PAIN-NRS": 24, "PEG": 168}
ROOT = Path(__file__).resolve().parents[2]
KEY = ("invalid", "A short lower-case key, e.g. 'day-7'.")
OFFSET = ("invalid", "Whole minutes, at most a year either way.")
WINDOW = ("invalid", "Whole hours from 1 to 720.")
INSTRUMENTS = ("invalid", "A non-empty list of instrument codes.")
LOCAL_TIME = ("invalid", "A local time of day, 'HH:MM'.")
INTERVAL = ("invalid", "At least 15 minutes between nudges.")
OUTSIDE_WINDOW = ("invalid", "Every nudge must fall inside the window.")


def step(**kw):
    return {"key": "s", "offset_minutes": 60, "instruments": ["MOOD"], "window_hours": 4, **kw}


# Each answer as the hand-written parser gave it before the schema moved to pydantic, in
# order: the API lists its errors in this order.
REFUSED = {
    "not a list": (
        {"key": "s"},
        {"steps": [("invalid", "A plan has a list of 1 to 40 steps.")]},
    ),
    "too many steps": (
        [step(key=f"s{i}") for i in range(101)],
        {"steps": [("invalid", "A plan has a list of 1 to 40 steps.")]},
    ),
    "an empty list": ([], {"steps": [("invalid", "A plan has a list of 1 to 40 steps.")]}),
    "a step that is not an object": (
        [step(), "day-7"],
        {"steps.1": [("invalid", "A step is an object.")]},
    ),
    "every field wrong at once": (
        [
            {
                "zeta": 1,
                "colour": "red",
                "key": "Has Spaces",
                "anchor": "lunch",
                "offset_minutes": "60",
                "window_hours": 0,
                "instruments": ["MOOD", 3],
                "align_local_time": "25:00",
                "nudge_count": 9,
                "label": "x" * 81,
            }
        ],
        {
            "steps.0.colour": [("unknown_field", "Unknown field 'colour'.")],
            "steps.0.zeta": [("unknown_field", "Unknown field 'zeta'.")],
            "steps.0.key": [KEY],
            "steps.0.anchor": [
                ("invalid_choice", "One of infusion_start, infusion_end, course_start.")
            ],
            "steps.0.offset_minutes": [OFFSET],
            "steps.0.window_hours": [WINDOW],
            "steps.0.instruments": [INSTRUMENTS],
            "steps.0.align_local_time": [LOCAL_TIME],
            "steps.0.nudge_count": [("invalid", "From 0 to 5 nudges.")],
            "steps.0.label": [("invalid", "At most 80 characters.")],
        },
    ),
    "required fields missing": (
        [{}],
        {
            "steps.0.key": [KEY],
            "steps.0.offset_minutes": [OFFSET],
            "steps.0.window_hours": [WINDOW],
            "steps.0.instruments": [INSTRUMENTS],
        },
    ),
    "true and 4.0 are not whole numbers": (
        [step(offset_minutes=True, window_hours=4.0)],
        {"steps.0.offset_minutes": [OFFSET], "steps.0.window_hours": [WINDOW]},
    ),
    "just past the bounds": (
        [
            step(key="a", offset_minutes=366 * 1440 + 1),
            step(key="b", offset_minutes=-366 * 1440, window_hours=721),
        ],
        {"steps.0.offset_minutes": [OFFSET], "steps.1.window_hours": [WINDOW]},
    ),
    "a repeated and an unknown instrument": (
        [step(instruments=["NOPE", "MOOD", "NOPE", "PHQ-9"])],
        {
            "steps.0.instruments": [("duplicate", "An instrument is listed twice.")],
            "steps.0.instruments.0": [("unknown_instrument", "Unknown instrument 'NOPE'.")],
            "steps.0.instruments.2": [("unknown_instrument", "Unknown instrument 'NOPE'.")],
        },
    ),
    "repeated keys beside other errors": (
        [step(key="a"), step(key="a", window_hours=721), step(key="a", instruments=[])],
        {
            "steps.1.key": [("duplicate", "Key 'a' is used twice.")],
            "steps.1.window_hours": [WINDOW],
            "steps.2.key": [("duplicate", "Key 'a' is used twice.")],
            "steps.2.instruments": [INSTRUMENTS],
        },
    ),
    "a time of day with seconds": (
        [step(offset_minutes=1440, align_local_time="10:00:30")],
        {"steps.0.align_local_time": [LOCAL_TIME]},
    ),
    "a time of day on a part-day offset": (
        [step(offset_minutes=90, align_local_time="10:00")],
        {
            "steps.0.align_local_time": [
                ("invalid", "Only a whole-day offset can align to a time of day.")
            ]
        },
    ),
    "nudges 5 minutes apart": (
        [step(nudge_count=2, nudge_interval_minutes=5)],
        {"steps.0.nudge_interval_minutes": [INTERVAL]},
    ),
    "nudges without an interval": (
        [step(nudge_count=1)],
        {"steps.0.nudge_interval_minutes": [INTERVAL]},
    ),
    "nudges past the window": (
        [step(nudge_count=3, nudge_interval_minutes=120)],
        {"steps.0.nudge_count": [OUTSIDE_WINDOW]},
    ),
    "instruments asked again within their recall windows": (
        [
            step(key="day-7", offset_minutes=7 * 1440, instruments=["PHQ-9"], window_hours=24),
            step(
                key="day-14",
                offset_minutes=13 * 1440,
                instruments=["PHQ-9", "GAD-7"],
                window_hours=24,
            ),
            step(key="day-15", offset_minutes=14 * 1440, instruments=["GAD-7"], window_hours=24),
        ],
        {
            "steps.2.instruments": [
                (
                    "recall_window_overlap",
                    "GAD-7 asks about the past 14 days; step 'day-15' opens 0 h after step "
                    "'day-14' closes.",
                )
            ],
            "steps.1.instruments": [
                (
                    "recall_window_overlap",
                    "PHQ-9 asks about the past 14 days; step 'day-14' opens 120 h after "
                    "step 'day-7' closes.",
                )
            ],
        },
    ),
}


@pytest.mark.parametrize(("raw", "errors"), REFUSED.values(), ids=REFUSED.keys())
def test_refused_steps_get_the_apis_codes_attrs_messages_and_order(raw, errors):
    with pytest.raises(StepsInvalid) as exc:
        parse_steps(raw, recall_hours=RECALL)
    assert list(exc.value.errors.items()) == list(errors.items())
    assert str(exc.value) == "; ".join(f"{k}: {d}" for k, v in errors.items() for _, d in v)


def test_an_invalid_window_is_reported_alone_without_a_nudge_error():
    # The nudge rule reads a valid window only (the hand-written parser also reported
    # "Every nudge must fall inside the window." for a window of 0).
    with pytest.raises(StepsInvalid) as exc:
        parse_steps([step(window_hours=0)], recall_hours=RECALL)
    assert exc.value.errors == {"steps.0.window_hours": [WINDOW]}


def test_stored_steps_read_back_without_instrument_checks():
    steps = [step(instruments=["RETIRED"], nudge_count=0, nudge_interval_minutes="ignored")]
    (parsed,) = parse_steps(steps, recall_hours=None)
    assert parsed.instruments == ("RETIRED",)
    assert parsed.nudge_interval_minutes == 0  # no nudges: the interval is not kept
    with pytest.raises(StepsInvalid):
        parse_steps(steps, recall_hours=RECALL)


def test_a_key_ending_in_a_newline_is_still_read():
    # Python's re `$` matches before a final newline; keys stored under that rule must
    # still parse when a plan is read back.
    (parsed,) = parse_steps([step(key="day-7\n")], recall_hours=None)
    assert parsed.key == "day-7\n"


def test_the_default_plan_round_trips_through_as_dict():
    steps = parse_steps(DEFAULT_PLAN_STEPS, recall_hours=RECALL)
    assert parse_steps([s.as_dict() for s in steps], recall_hours=RECALL) == steps


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELD_VALUES = {
    "key": st.sampled_from(["a", "day-7", "Day 7", "", "x" * 41]) | JSON,
    "label": st.text(max_size=90) | JSON,
    "anchor": st.sampled_from(["infusion_start", "infusion_end", "lunch"]) | JSON,
    "offset_minutes": st.integers(-600_000, 600_000) | JSON,
    "window_hours": st.integers(-2, 800) | JSON,
    "instruments": st.lists(st.sampled_from([*RECALL, "NOPE"]), max_size=3) | JSON,
    "align_local_time": st.sampled_from(["10:00", "24:00", "10:00:30", "10", None]) | JSON,
    "nudge_count": st.integers(-1, 6) | JSON,
    "nudge_interval_minutes": st.integers(-1, 2000) | JSON,
    "colour": JSON,
}
STEPS = st.lists(st.fixed_dictionaries({}, optional=FIELD_VALUES) | JSON, max_size=4)
CODES = {
    "invalid",
    "invalid_choice",
    "unknown_field",
    "duplicate",
    "unknown_instrument",
    "recall_window_overlap",
}


@given(raw=STEPS | JSON)
def test_any_json_is_parsed_or_refused_field_by_field(raw):
    try:
        steps = parse_steps(raw, recall_hours=RECALL)
    except StepsInvalid as exc:
        assert exc.errors
        for attr, items in exc.errors.items():
            assert attr == "steps" or attr.startswith("steps.")
            assert items
            assert all(code in CODES and detail for code, detail in items)
    else:
        assert parse_steps([s.as_dict() for s in steps], recall_hours=RECALL) == steps


def test_cadence_imports_no_django():
    # A pure module: runnable, and testable, with no settings and no database.
    code = (
        "import sys, notifications.cadence;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
