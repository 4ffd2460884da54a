"""Outcomes per treatment course, checked by worked clinical examples and by hypothesis
properties against simple restatements of the rules in docs/clinical/INSTRUMENTS.md
("Outcome definitions"). No database and no Django.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.analytics.courses import (
    AcuteEffect,
    CourseEvent,
    CourseKind,
    CourseOutcome,
    CourseThresholds,
    benefit_fading,
    course_outcomes,
)
from outcomes.analytics.durability import InfusionEvent, Point, Thresholds

EPOCH = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
INFUSION = timedelta(minutes=40)

# The definition files' thresholds (outcomes/instruments/definitions/*.json).
PHQ9 = CourseThresholds.from_definition(
    {"response_pct": 50, "partial_response_pct": 30, "improvement_pct": 20,
     "remission_below": 5, "mid": 5},
    direction="lower_is_better",
    scale_max=27,
    code="PHQ-9",
)  # fmt: skip
PEG = CourseThresholds.from_definition(
    {"response_pct": 50, "partial_response_pct": 30, "improvement_pct": None,
     "remission_below": None, "mid": 2},
    direction="lower_is_better",
    scale_max=10,
    code="PEG",
)  # fmt: skip
MOOD = CourseThresholds.from_definition(
    {"response_pct": 50, "partial_response_pct": 30, "improvement_pct": None,
     "remission_below": None, "mid": 2},
    direction="higher_is_better",
    scale_max=10,
    code="MOOD",
)  # fmt: skip


def at(day: float, hour: float = 0.0) -> datetime:
    return EPOCH + day * DAY + hour * HOUR


def infusion(day: float, id: str) -> InfusionEvent:
    start = at(day)
    return InfusionEvent(id=id, started_at=start, ended_at=start + INFUSION)


def course(
    id: str, kind: CourseKind, days: Sequence[float], original: str | None = None
) -> CourseEvent:
    infusions = tuple(infusion(d, f"{id}-{k + 1}") for k, d in enumerate(days))
    return CourseEvent(id=id, kind=kind, infusions=infusions, original_course_id=original)


def pts(*pairs: tuple[datetime, float]) -> list[Point]:
    return [Point(at=t, score=s) for t, s in pairs]


def only(outcomes: list[CourseOutcome]) -> CourseOutcome:
    assert len(outcomes) == 1
    return outcomes[0]


# ------------------------------------------------------- the induction course

INDUCTION_DAYS = [0, 2, 5, 7, 9, 12]  # 6 infusions over 12 days (Murrough 2013)


def induction_series() -> list[Point]:
    """PHQ-9 20 falling to 4 over the course, relapse 17 days after the last infusion.
    A check-in at 08:00 before each infusion (09:00) and at 10:00 the next day."""
    series = [(at(-1), 20)]  # intake
    pre = [20, 18, 15, 12, 9, 6]  # 08:00 on each infusion day
    post = [18, 15, 13, 11, 8, 4]  # 10:00 the next day
    for d, p, q in zip(INDUCTION_DAYS, pre, post, strict=True):
        series += [(at(d, -1), p), (at(d + 1, 1), q)]
    # After the course: still responding on days 16, 20, 25; no longer on 29 and 33.
    series += [(at(16, 1), 5), (at(20, 1), 6), (at(25, 1), 8), (at(29, 1), 12), (at(33, 1), 14)]
    return pts(*series)


def test_induction_course_responds_remits_and_relapses_from_the_course_baseline():
    out = only(
        course_outcomes(induction_series(), [course("c1", "induction", INDUCTION_DAYS)], PHQ9)
    )

    # Judged against the course baseline (20, the pre-infusion score of infusion 1).
    assert out.baseline == 20 and out.baseline_at == at(0, -1)
    assert out.evaluable
    assert out.responded
    assert out.response_at == at(9, -1)  # 9 is the first score <= 10 (55% reduction)
    assert out.remitted and out.remission_at == at(13, 1)  # 4 < 5
    assert out.best_score == 4 and out.best_pct == pytest.approx(80.0)
    # Relapse: 12 on day 29 (40%, not a response) confirmed by 14 on day 33; the loss lies
    # between the day-25 check-in (8, still 60%) and day 29.
    assert out.status == "lost" and out.loss_reason == "non_response"
    assert out.loss_between == (at(25, 1), at(29, 1))
    end = at(12) + INFUSION  # the LAST infusion's end
    assert out.durability_from_days == pytest.approx((at(25, 1) - end) / DAY)
    assert out.durability_to_days == pytest.approx((at(29, 1) - end) / DAY)
    assert out.durability_days == pytest.approx((at(27, 1) - end) / DAY)  # the midpoint
    assert out.durability_interval == (out.durability_from_days, out.durability_to_days)
    assert not out.censored and out.censor_reason is None
    assert out.futility_signal is False  # day 8: 11 is 45% better than 20


def test_induction_infusions_carry_labelled_acute_effects_and_never_a_remission():
    out = only(
        course_outcomes(induction_series(), [course("c1", "induction", INDUCTION_DAYS)], PHQ9)
    )

    acute = out.infusions
    assert [a.infusion_id for a in acute] == [f"c1-{k}" for k in range(1, 7)]
    assert all(a.label == "acute" for a in acute)
    # Each against its own pre-score, best within 48 h (which may be the next infusion's
    # pre-score): 10%, 17%, 20%, 25%, 11%, 33%: none reaches 50%...
    assert [a.pre_score for a in acute] == [20, 18, 15, 12, 9, 6]
    assert [a.post_score for a in acute] == [18, 15, 12, 9, 8, 4]
    assert acute[0].pct == pytest.approx(10.0)
    assert acute[5].pct == pytest.approx(100 * 2 / 6)
    assert acute[5].change == 2
    # ...and the sixth (6 -> 4, below 5) claims no remission: an acute effect has no
    # response or remission field at all. The course does.
    names = {f.name for f in dataclasses.fields(AcuteEffect)}
    assert not names & {"responded", "remitted", "remission_at", "status"}
    assert out.responded and out.remitted


def test_acute_post_window_is_48_hours_and_stops_at_the_next_infusion():
    series = pts((at(-1), 20), (at(1, 10), 12), (at(3, 10), 5), (at(4, 2), 4))
    out = only(course_outcomes(series, [course("c", "induction", [0, 4])], PHQ9))
    first, second = out.infusions
    # 49 h after infusion 1 (day 3 10:00) is outside its 48-h window.
    assert first.post_score == 12 and first.pre_score == 20
    # Infusion 2's pre-score is the day-3 check-in; its window is after it ends (day 4
    # 00:40): 4 at 02:00.
    assert second.pre_score == 5 and second.post_score == 4


# ------------------------------------------------------------------- evaluability


@pytest.mark.parametrize(
    ("baseline", "later", "evaluable"),
    [(4, 4, False), (9, 2, False), (10, 4, True)],
)
def test_only_a_baseline_in_the_clinical_range_can_respond_or_remit(baseline, later, evaluable):
    series = pts((at(-1), baseline), (at(1), later), (at(3), later))
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    assert out.evaluable is evaluable
    assert out.remitted is evaluable  # never "remitted" from a baseline below PHQ-9 10
    assert out.responded is evaluable
    if not evaluable:
        assert out.status == "not_evaluable"
        assert out.futility_signal is None and out.durability_days is None


def test_no_baseline_within_30_days_is_not_evaluable():
    series = pts((at(-31), 20), (at(1), 4))
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    assert out.baseline is None and not out.evaluable and out.status == "not_evaluable"
    assert out.reliable_change is None


def test_instrument_without_a_floor_is_evaluable_with_any_baseline_above_zero():
    assert PEG.evaluable_min is None
    zero = only(course_outcomes(pts((at(-1), 0), (at(1), 0)), [course("c", "induction", [0])], PEG))
    low = only(
        course_outcomes(pts((at(-1), 1), (at(1), 0.5)), [course("c", "induction", [0])], PEG)
    )
    assert not zero.evaluable and low.evaluable and low.responded


# ---------------------------------------------------------------- unrounded percentages


def test_peg_mean_exactly_halved_is_a_response_from_unrounded_means():
    # PEG items (6, 5, 5) -> mean 16/3, later (3, 3, 2) -> 8/3: exactly 50% on paper.
    base, later = 16 / 3, 8 / 3
    assert (base - later) * 100.0 / base < 50  # the floating-point trap: 49.99999999999999
    out = only(
        course_outcomes(pts((at(-1), base), (at(1), later)), [course("c", "induction", [0])], PEG)
    )
    assert out.responded and out.best_pct == pytest.approx(50.0)
    # Rounded means (5.33 -> 2.67) would have missed it: 49.9%, only a partial response.
    rounded = only(
        course_outcomes(pts((at(-1), 5.33), (at(1), 2.67)), [course("c", "induction", [0])], PEG)
    )
    assert not rounded.responded and rounded.status == "partial_response"


def test_higher_is_better_instrument_works_in_symptom_space():
    # Mood 0-10, higher is better: 2 -> 7 is symptoms 8 -> 3, a 62.5% reduction.
    out = only(course_outcomes(pts((at(-1), 2), (at(1), 7)), [course("c", "induction", [0])], MOOD))
    assert out.responded and out.best_pct == pytest.approx(62.5) and out.best_score == 7


# ------------------------------------------------------------------- loss and censoring


def single_infusion_responder(*later: tuple[float, float]) -> list[Point]:
    return pts((at(-1), 20), (at(1), 8), (at(4), 9), *[(at(d), s) for d, s in later])


def test_responder_whose_last_check_in_no_longer_responds_is_censored_at_the_last_response():
    series = single_infusion_responder((8, 14))  # 14 is 30%: no longer a response
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    assert out.status == "responding" and out.censored
    assert out.censored_at == at(4)  # NOT day 8: that day the response was gone
    assert out.durability_days == pytest.approx((at(4) - at(0) - INFUSION) / DAY)
    assert out.durability_interval == (out.durability_days, float("inf"))
    assert out.censor_reason == "data_end"
    assert out.pending_non_responses == 1


def test_two_consecutive_non_responses_are_a_loss_dated_between_the_check_ins():
    series = single_infusion_responder((8, 14), (11, 15))
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    assert out.status == "lost" and not out.censored
    # Not "lost on day 8" (the check-in that first showed it): somewhere in (day 4, day 8].
    assert out.loss_between == (at(4), at(8))
    end = at(0) + INFUSION
    assert out.durability_days == pytest.approx(((at(4) - end) + (at(8) - end)) / 2 / DAY)


def test_a_responding_value_resets_the_run_of_non_responses():
    series = single_infusion_responder((8, 14), (11, 9), (15, 15))
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    assert out.status == "responding" and out.censored_at == at(11)


def test_loss_consecutive_is_configurable():
    one = dataclasses.replace(PHQ9, loss_consecutive=1)
    out = only(
        course_outcomes(single_infusion_responder((8, 14)), [course("c", "induction", [0])], one)
    )
    assert out.status == "lost" and out.loss_between == (at(4), at(8))


def test_a_dip_between_induction_infusions_is_not_a_relapse():
    # Response after infusion 1, two non-responding pre-infusion scores, then response
    # again after the last infusion: the course never lost its response.
    series = pts((at(-1), 20), (at(1), 9), (at(2, -1), 12), (at(5, -1), 13), (at(6), 6))
    out = only(course_outcomes(series, [course("c", "induction", [0, 2, 5])], PHQ9))
    assert out.status == "responding" and out.censored_at == at(6)


def test_withdrawal_censors_and_later_scores_are_ignored():
    series = single_infusion_responder((8, 14), (11, 15))
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9, withdrawn_at=at(5)))
    assert out.status == "responding" and out.censor_reason == "withdrawal"
    assert out.censored_at == at(4) and out.assessments == 2


def test_rescue_booster_is_a_loss_of_the_course_before_it():
    series = pts((at(-1), 20), (at(1), 8), (at(10), 9), (at(21), 5))
    courses = [course("ind", "induction", [0]), course("res", "rescue", [20])]
    ind, res = course_outcomes(series, courses, PHQ9)
    assert ind.status == "lost" and ind.loss_reason == "rescue" and not ind.censored
    # Between the last responding check-in (day 10) and the rescue's start (day 20).
    assert ind.loss_between == (at(10), at(20))
    assert ind.durability_to_days == pytest.approx((at(20) - at(0) - INFUSION) / DAY)
    # The rescue course is judged against the induction's baseline (20), not its own.
    assert res.baseline_course_id == "ind" and res.baseline == 20 and res.responded


def test_rescue_after_one_non_response_dates_the_loss_at_that_check_in():
    series = pts((at(-1), 20), (at(1), 8), (at(10), 9), (at(15), 14), (at(21), 5))
    courses = [course("ind", "induction", [0]), course("res", "rescue", [20])]
    ind, _ = course_outcomes(series, courses, PHQ9)
    assert ind.loss_between == (at(10), at(15))


def test_scheduled_booster_while_responding_censors():
    series = pts((at(-1), 20), (at(1), 8), (at(10), 9), (at(21), 5))
    courses = [course("ind", "induction", [0]), course("m1", "maintenance", [20])]
    ind, m1 = course_outcomes(series, courses, PHQ9)
    assert ind.status == "responding" and ind.censored
    assert ind.censor_reason == "scheduled_booster" and ind.censored_at == at(10)
    assert m1.responded


def test_a_new_induction_censors_with_reason_next_course():
    series = pts((at(-1), 20), (at(1), 8), (at(59), 22), (at(61), 6))
    courses = [course("a", "induction", [0]), course("b", "induction", [60])]
    a, b = course_outcomes(series, courses, PHQ9)
    assert a.censor_reason == "next_course"
    assert b.baseline_course_id == "b" and b.baseline == 22  # its own pre-course score


def test_maintenance_is_judged_against_the_original_course_baseline():
    # Induction from 20; the maintenance booster on day 30 finds the patient at 6, still
    # responding. Judged against its own pre-score (6) it would be "not evaluable"; against
    # 20, the 11s after it are 45%: a loss of the sustained response.
    series = pts(
        (at(-1), 20), (at(1), 6), (at(29), 6),
        (at(31), 5), (at(38), 11), (at(45), 11),
    )  # fmt: skip
    courses = [course("ind", "induction", [0]), course("m1", "maintenance", [30])]
    ind, m1 = course_outcomes(series, courses, PHQ9)
    assert ind.censor_reason == "scheduled_booster" and ind.censored_at == at(29)
    assert m1.baseline_course_id == "ind" and m1.baseline == 20 and m1.evaluable
    assert m1.responded and m1.response_at == at(31)
    assert m1.status == "lost" and m1.loss_between == (at(31), at(38))
    assert m1.futility_signal is None  # only an induction has the futility rule


def test_explicit_original_course_chain_is_followed_to_its_root():
    series = pts((at(-1), 20), (at(1), 6), (at(29), 6), (at(31), 5), (at(59), 7), (at(61), 4))
    courses = [
        course("ind", "induction", [0]),
        course("m1", "maintenance", [30], original="ind"),
        course("m2", "maintenance", [60], original="m1"),
    ]
    assert [o.baseline for o in course_outcomes(series, courses, PHQ9)] == [20, 20, 20]


def test_bad_course_links_and_overlaps_raise():
    series = pts((at(-1), 20))
    with pytest.raises(ValueError, match="unknown original"):
        course_outcomes(series, [course("m", "maintenance", [0], original="nope")], PHQ9)
    with pytest.raises(ValueError, match="later course"):
        course_outcomes(
            series,
            [course("a", "induction", [0], original="b"), course("b", "induction", [5])],
            PHQ9,
        )
    with pytest.raises(ValueError, match="starts before"):
        course_outcomes(
            series, [course("a", "induction", [0, 4]), course("b", "rescue", [2])], PHQ9
        )
    with pytest.raises(ValueError, match="kind"):
        CourseEvent(id="x", kind="booster", infusions=(infusion(0, "i"),))  # type: ignore[arg-type]


# ------------------------------------------------------------------------ futility


def test_futility_signal_when_no_20_percent_improvement_24h_after_the_fourth_infusion():
    days = [0, 2, 4, 6, 8, 10]
    # Day 7 (24 h after infusion 4): 17 from 20 is 15%, under 20%.
    flat = pts((at(-1), 20), (at(7, 1), 17), (at(12), 16))
    assert only(course_outcomes(flat, [course("c", "induction", days)], PHQ9)).futility_signal
    better = pts((at(-1), 20), (at(7, 1), 16), (at(12), 16))  # exactly 20%
    out = only(course_outcomes(better, [course("c", "induction", days)], PHQ9))
    assert out.futility_signal is False


def test_futility_unknown_without_a_check_in_between_24h_after_infusion_4_and_infusion_5():
    days = [0, 2, 4, 6, 8, 10]
    too_early = pts((at(-1), 20), (at(6, 12), 19), (at(9), 19))  # 11 h after; then after #5
    assert (
        only(course_outcomes(too_early, [course("c", "induction", days)], PHQ9)).futility_signal
        is None
    )
    three = course("c", "induction", [0, 2, 4])
    assert only(course_outcomes(too_early, [three], PHQ9)).futility_signal is None


# --------------------------------------------------------------- fading and reliable change


def test_fading_needs_two_consecutive_slips_by_the_mid_from_a_best_after_the_first_24h():
    end = at(0) + INFUSION
    # 2 at 6 h is the acute peak and does not count as the best; the best is 4 (day 2).
    slipping = pts((at(-1), 20), (at(0, 6), 2), (at(2), 4), (at(5), 9), (at(8), 9))
    assert benefit_fading(slipping, last_infusion_end=end, th=PHQ9)
    out = only(course_outcomes(slipping, [course("c", "induction", [0])], PHQ9))
    assert out.status == "responding" and out.benefit_fading
    # One slip is not a trend.
    assert not benefit_fading(slipping[:-1], last_infusion_end=end, th=PHQ9)
    # 7s are 5 worse than the acute peak but only 3 worse than the day-2 best.
    steady = pts((at(-1), 20), (at(0, 6), 2), (at(2), 4), (at(5), 7), (at(8), 7))
    assert not benefit_fading(steady, last_infusion_end=end, th=PHQ9)


def test_reliable_change_is_reported_beside_the_change():
    series = pts((at(-1), 20), (at(1), 13), (at(4), 15))
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    rc = out.reliable_change
    assert rc is not None and rc.threshold == 6  # PHQ-9 (UK IAPT; Gyani 2013)
    assert rc.change_best == 7 and rc.improved_best is True
    assert rc.change_latest == 5 and rc.improved_latest is False
    assert rc.deteriorated_latest is False


def test_status_distinguishes_awaiting_data_from_no_follow_up():
    series = pts((at(-1), 20))
    alone = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    assert alone.status == "awaiting_data"
    first, _ = course_outcomes(
        series, [course("a", "induction", [0]), course("b", "maintenance", [9])], PHQ9
    )
    assert first.status == "no_follow_up"


def test_thresholds_carry_over_from_durability_thresholds_with_a_30_day_lookback():
    th = Thresholds(remission_below=5, mid=5, scale_max=27, baseline_lookback_days=14)
    course_th = CourseThresholds.from_thresholds(th, evaluable_min=10)
    assert course_th.baseline_lookback_days == 30  # INSTRUMENTS.md "Course baseline"
    assert course_th.remission_below == 5 and course_th.evaluable_min == 10
    with pytest.raises(TypeError):
        CourseThresholds.from_definition({}, direction="lower_is_better", scale_max=27, bogus=1)


# ------------------------------------------------------------------------- properties

SCORES = st.integers(min_value=0, max_value=27)
# Few distinct instants so that ties in time are common.
TIMES = st.sampled_from([at(d, h) for d in (-2, -1, 1, 3, 6, 9, 12, 15, 20) for h in (0, 5)])
SERIES = st.lists(st.builds(Point, at=TIMES, score=SCORES), max_size=14)


def courses_for(second: CourseKind) -> list[CourseEvent]:
    return [course("a", "induction", [0, 2]), course("b", second, [10])]


@settings(max_examples=100, deadline=None)
@given(
    series=SERIES, kind=st.sampled_from(["maintenance", "rescue", "induction"]), seed=st.integers()
)
def test_row_order_never_changes_any_outcome(series, kind, seed):
    courses = courses_for(kind)
    expected = course_outcomes(series, courses, PHQ9)
    rng = random.Random(seed)
    shuffled = series[:]
    rng.shuffle(shuffled)
    shuffled_courses = [
        dataclasses.replace(c, infusions=tuple(rng.sample(c.infusions, len(c.infusions))))
        for c in reversed(courses)
    ]
    assert course_outcomes(shuffled, shuffled_courses, PHQ9) == expected


@settings(max_examples=120, deadline=None)
@given(series=SERIES, kind=st.sampled_from(["maintenance", "rescue", "induction"]))
def test_invariants_of_every_outcome(series, kind):
    for out in course_outcomes(series, courses_for(kind), PHQ9):
        if out.remitted:
            assert out.responded and out.evaluable
        if out.responded:
            assert out.evaluable and out.baseline is not None and out.baseline >= 10
            assert out.durability_from_days is not None and out.durability_from_days >= 0
        else:
            assert out.durability_days is None and not out.censored
        if out.status == "lost":
            assert out.loss_between is not None and out.loss_between[0] < out.loss_between[1]
            lo, mid, hi = out.durability_from_days, out.durability_days, out.durability_to_days
            assert lo is not None and mid is not None and hi is not None
            assert lo <= mid <= hi
        if out.censored:
            assert out.status == "responding" and out.durability_to_days is None
        assert out.partial_response is (out.status == "partial_response")
        assert all(a.label == "acute" for a in out.infusions)


@settings(max_examples=120, deadline=None)
@given(series=SERIES)
def test_response_agrees_with_an_integer_restatement_of_the_rule(series):
    # One induction (infusion at day 0), nothing after: responded iff the baseline (the
    # milder of the latest pre-course instant within 30 days) is >= 10 and some later
    # instant's worse score S has (B - S) * 100 >= 50 * B, in exact integer arithmetic.
    out = only(course_outcomes(series, [course("c", "induction", [0])], PHQ9))
    before = [p for p in series if at(-30) <= p.at < at(0)]
    latest = max((p.at for p in before), default=None)
    base = min((p.score for p in before if p.at == latest), default=None)
    after_times = {p.at for p in series if p.at > at(0) + INFUSION}
    worse = [max(p.score for p in series if p.at == t) for t in after_times]
    expected = base is not None and base >= 10 and any((base - s) * 100 >= 50 * base for s in worse)
    assert out.responded is expected
    assert out.baseline == base


# ------------------------------------- a momentary item needs two responses in a row

MOOD_NOW = CourseThresholds.from_definition(
    {"response_pct": 50, "partial_response_pct": 30, "improvement_pct": None,
     "remission_below": None, "mid": 2},
    direction="higher_is_better",
    scale_max=10,
    code="MOOD",
    recall_hours=0,
)  # fmt: skip


def test_a_momentary_item_needs_two_responding_readings_in_a_row():
    assert MOOD_NOW.response_consecutive == 2
    assert PHQ9.response_consecutive == 1  # a 2-week recall already averages
    # Baseline mood 2 (symptom 8); one reading of 7 (symptom 3: 62% better) between
    # readings of 4 (symptom 6: 25%) is a chance crossing, not a response.
    one = pts((at(-1), 2), (at(2), 4), (at(5), 7), (at(8), 4), (at(11), 4))
    assert not only(course_outcomes(one, [course("c", "induction", [0])], MOOD_NOW)).responded
    assert only(course_outcomes(one, [course("c", "induction", [0])], MOOD)).responded
    # Two in a row: a response, dated at the first of them.
    two = pts((at(-1), 2), (at(2), 4), (at(5), 7), (at(8), 8), (at(11), 4), (at(14), 4))
    out = only(course_outcomes(two, [course("c", "induction", [0])], MOOD_NOW))
    assert out.responded and out.response_at == at(5)
    assert out.status == "lost" and out.loss_between == (at(8), at(11))
