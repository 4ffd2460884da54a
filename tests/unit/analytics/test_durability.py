"""Per-infusion durability, checked by hand-computed examples and by hypothesis properties
against independent, deliberately simple re-statements of the rules in
docs/clinical/INSTRUMENTS.md ("Outcome definitions"). No database and no Django.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.analytics.durability import (
    InfusionEvent,
    InfusionOutcome,
    Point,
    Thresholds,
    find_baseline,
    improvement_pct,
    infusion_outcomes,
)

EPOCH = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

# PHQ-9 defaults as its definition file states them: response 50% (Mathew 2010; NQF
# 1884), partial 30%, remission < 5 (CMS159 / NQF 0710), MID 5 (Loewe 2004).
PHQ9_THRESHOLDS = {
    "response_pct": 50,
    "partial_response_pct": 30,
    "improvement_pct": 20,
    "remission_below": 5,
    "mid": 5,
    "sources": {"mid": "Loewe 2004"},
}
PHQ9 = Thresholds.from_definition(PHQ9_THRESHOLDS, direction="lower_is_better", scale_max=27)


def infusion(start: datetime, hours: float = 1.0, id: str = "inf") -> InfusionEvent:
    return InfusionEvent(id=id, started_at=start, ended_at=start + timedelta(hours=hours))


def pts(*pairs: tuple[datetime, float]) -> list[Point]:
    return [Point(at=at, score=s) for at, s in pairs]


def only(outcomes: list[InfusionOutcome]) -> InfusionOutcome:
    assert len(outcomes) == 1
    return outcomes[0]


# ---------------------------------------------------------------- worked examples


def test_worked_example_phq9_response_then_loss():
    # Infusion 3 Mar 09:00-10:00 UTC; baseline PHQ-9 20 the day before.
    # Check-ins after the end (10:00), with % reduction from 20:
    #   4 Mar 10:00 (+1 d)  12 -> 40%  partial; 20-12 = 8 >= MID 5 -> onset 24 h
    #   6 Mar 10:00 (+3 d)   9 -> 55%  first response
    #  10 Mar 10:00 (+7 d)   8 -> 60%  best
    #  13 Mar 08:00 (+9 d 22 h) 11 -> 45%  not a response (1st in a row)
    #  17 Mar 10:00 (+14 d) 14 -> 30%  not a response (2nd in a row): loss confirmed
    #  24 Mar 10:00 (+21 d) 15 -> 25%
    # With loss_consecutive 2 the loss is dated at the FIRST of the two, the 11 (the 14
    # confirms it): durability = 9 d 22 h = 9 + 22/24 = 9.91667 days, an event.
    inf = infusion(EPOCH)
    end = inf.ended_at
    series = pts(
        (EPOCH - DAY, 20),
        (end + 1 * DAY, 12),
        (end + 3 * DAY, 9),
        (end + 7 * DAY, 8),
        (end + 9 * DAY + 22 * HOUR, 11),
        (end + 14 * DAY, 14),
        (end + 21 * DAY, 15),
    )
    o = only(infusion_outcomes(list(reversed(series)), [inf], PHQ9))
    assert o.baseline == 20 and o.baseline_at == EPOCH - DAY
    assert o.onset_hours == pytest.approx(24.0)
    assert o.responded and o.response_at == end + 3 * DAY
    assert o.partial_response
    assert o.best_score == 8 and o.best_at == end + 7 * DAY
    assert not o.remitted and o.remission_at is None
    assert o.lost_response_at == end + 9 * DAY + 22 * HOUR
    assert o.durability_days == pytest.approx(9 + 22 / 24)
    assert not o.censored and o.censor_reason == ""
    assert o.status == "lost" and not o.benefit_fading
    assert o.assessments == 6


def test_worked_example_needing_four_in_a_row_is_censored_and_fading():
    # Same data with loss_consecutive 4: only 3 non-responses follow (11, 14, 15), so the
    # response is not lost. Censored at the last check-in, +21 d (no later infusion, no
    # withdrawal): durability 21.0, reason "last_check_in". Latest 15 vs best 8: 7 >= MID
    # 5, so the benefit is fading.
    inf = infusion(EPOCH)
    end = inf.ended_at
    series = pts(
        (EPOCH - DAY, 20),
        (end + 1 * DAY, 12),
        (end + 3 * DAY, 9),
        (end + 7 * DAY, 8),
        (end + 10 * DAY, 11),
        (end + 14 * DAY, 14),
        (end + 21 * DAY, 15),
    )
    o = only(infusion_outcomes(series, [inf], dataclasses.replace(PHQ9, loss_consecutive=4)))
    assert o.status == "responding" and o.lost_response_at is None
    assert o.durability_days == pytest.approx(21.0)
    assert o.censored and o.censor_reason == "last_check_in"
    assert o.benefit_fading


def test_worked_example_single_bad_value_resets_the_count():
    # Baseline 20; 9 (+2 d, response), 11 (+4 d, 45%: 1st bad), 8 (+6 d, response: reset),
    # 12 (+8 d, 40%: 1st bad), 13 (+10 d, 35%: 2nd bad) -> lost at the 12: durability 8.0.
    inf = infusion(EPOCH)
    end = inf.ended_at
    series = pts(
        (EPOCH - 2 * DAY, 20),
        (end + 2 * DAY, 9),
        (end + 4 * DAY, 11),
        (end + 6 * DAY, 8),
        (end + 8 * DAY, 12),
        (end + 10 * DAY, 13),
    )
    o = only(infusion_outcomes(series, [inf], PHQ9))
    assert o.lost_response_at == end + 8 * DAY
    assert o.durability_days == pytest.approx(8.0)


def test_worked_example_remission_and_course_baseline():
    # Two infusions of a course, 2 days apart. Infusion 1: baseline 18, 4 at +1 d is a
    # remission (< 5) and a 78% response; its window closes at infusion 2, so a
    # responder never lost is censored at its last check-in (+1 d) with reason
    # "next_infusion". Infusion 2 takes its baseline (the 4) from inside window 1.
    inf1 = infusion(EPOCH, id="a")
    inf2 = infusion(EPOCH + 2 * DAY, id="b")
    series = pts(
        (EPOCH - 3 * DAY, 18),
        (inf1.ended_at + DAY, 4),
        (inf2.ended_at + 5 * DAY, 6),
    )
    o1, o2 = infusion_outcomes(series, [inf2, inf1], PHQ9)
    assert o1.infusion_id == "a" and o2.infusion_id == "b"
    assert o1.remitted and o1.remission_at == inf1.ended_at + DAY
    assert o1.responded and o1.censored and o1.censor_reason == "next_infusion"
    assert o1.durability_days == pytest.approx(1.0)
    assert o2.baseline == 4 and o2.baseline_at == inf1.ended_at + DAY
    # 4 -> 6 is worse: no response for infusion 2.
    assert o2.status == "no_response" and o2.durability_days is None


def test_withdrawal_censors_and_drops_later_points():
    inf = infusion(EPOCH)
    end = inf.ended_at
    series = pts((EPOCH - DAY, 20), (end + DAY, 8), (end + 3 * DAY, 9), (end + 9 * DAY, 19))
    o = only(infusion_outcomes(series, [inf], PHQ9, withdrawn_at=end + 5 * DAY))
    assert o.assessments == 2 and o.status == "responding"
    assert o.censor_reason == "withdrawal" and o.durability_days == pytest.approx(3.0)


def test_status_without_data():
    inf = infusion(EPOCH)
    assert only(infusion_outcomes([], [inf], PHQ9)).status == "no_baseline"
    o = only(infusion_outcomes(pts((EPOCH - DAY, 20)), [inf], PHQ9))
    assert o.status == "awaiting_data" and o.assessments == 0 and not o.responded
    # A baseline older than the 14-day look-back does not count.
    old = pts((EPOCH - 15 * DAY, 20), (inf.ended_at + DAY, 5))
    o = only(infusion_outcomes(old, [inf], PHQ9))
    assert o.status == "no_baseline" and not o.responded and o.durability_days is None


def test_find_baseline_rules():
    series = pts((EPOCH - 14 * DAY, 10), (EPOCH - DAY, 12), (EPOCH, 30), (EPOCH + DAY, 1))
    assert find_baseline(series, before=EPOCH, lookback_days=14).score == 12
    # strictly before, and the look-back edge is inclusive
    assert find_baseline(series[:1], before=EPOCH, lookback_days=14).score == 10
    assert find_baseline(series[:1], before=EPOCH, lookback_days=13.9) is None
    assert find_baseline(series[2:], before=EPOCH, lookback_days=14) is None


def test_improvement_pct():
    assert improvement_pct(20, 10, PHQ9) == pytest.approx(50.0)
    assert improvement_pct(20, 25, PHQ9) == pytest.approx(-25.0)
    assert improvement_pct(0, 0, PHQ9) is None
    mood = Thresholds(direction="higher_is_better", scale_max=10)
    # mood 2 -> 6: symptoms 8 -> 4, a 50% reduction
    assert improvement_pct(2, 6, mood) == pytest.approx(50.0)
    assert improvement_pct(10, 10, mood) is None


def test_thresholds_from_definition_and_validation():
    th = Thresholds.from_definition(
        {"response_pct": 50, "partial_response_pct": None, "remission_below": None, "mid": 2},
        direction="higher_is_better",
        scale_max=10,
        loss_consecutive=3,
        mid=3,
    )
    assert th.partial_response_pct == 30.0  # null keeps the default
    assert th.remission_below is None and th.mid == 3 and th.loss_consecutive == 3
    assert PHQ9.remission_below == 5 and PHQ9.mid == 5 and PHQ9.response_pct == 50
    with pytest.raises(TypeError):
        Thresholds.from_definition({}, direction="lower_is_better", scale_max=None, bogus=1)
    with pytest.raises(ValueError):
        Thresholds(direction="higher_is_better")
    with pytest.raises(ValueError):
        Thresholds(direction="sideways")
    with pytest.raises(ValueError):
        Thresholds(loss_consecutive=0)


# ---------------------------------------------------------------- hypothesis properties


@st.composite
def scenarios(draw, max_score: int = 27):
    """Up to 3 non-overlapping infusions; per infusion maybe a baseline-like point before
    it and a few follow-up points after it; stray points anywhere; all in any order;
    optional withdrawal; random clinic thresholds."""
    n_inf = draw(st.integers(1, 3))
    t = EPOCH + timedelta(minutes=draw(st.integers(0, 72 * 60)))
    scores = st.integers(0, max_score).map(float)
    high_scores = st.integers(max_score // 2, max_score).map(float)
    infusions: list[InfusionEvent] = []
    series: list[Point] = []
    for k in range(n_inf):
        length = timedelta(minutes=draw(st.integers(0, 180)))
        gap = timedelta(minutes=draw(st.integers(0, 30 * 24 * 60)))
        inf = InfusionEvent(id=f"i{k}", started_at=t, ended_at=t + length)
        infusions.append(inf)
        if draw(st.booleans()):
            before = timedelta(minutes=draw(st.integers(1, 16 * 24 * 60)))
            series.append(Point(inf.started_at - before, draw(high_scores)))
        for m in draw(st.lists(st.integers(0, 2 * int(gap.total_seconds() // 60)), max_size=8)):
            series.append(Point(inf.ended_at + timedelta(minutes=m), draw(scores)))
        t = inf.ended_at + gap
    span = (t - EPOCH) + 20 * DAY
    minutes = st.integers(-20 * 24 * 60, int(span.total_seconds() // 60))
    series += [
        Point(at=EPOCH + timedelta(minutes=m), score=s)
        for m, s in draw(st.lists(st.tuples(minutes, scores), max_size=5))
    ]
    withdrawn = None
    if draw(st.integers(0, 3)) == 0:
        withdrawn = EPOCH + timedelta(minutes=draw(minutes))
    th = Thresholds(
        loss_consecutive=draw(st.integers(1, 3)),
        mid=draw(st.none() | st.sampled_from([2.0, 5.0])),
        remission_below=draw(st.none() | st.just(5.0)),
        baseline_lookback_days=draw(st.sampled_from([7.0, 14.0])),
    )
    return (
        draw(st.permutations(series)),
        draw(st.permutations(infusions)),
        th,
        withdrawn,
    )


def windows(series, infusions, withdrawn):
    """Independent restatement: per infusion in start order, its sorted follow-up points
    and the censor bound min(next start, withdrawal)."""
    ordered = sorted(infusions, key=lambda i: (i.started_at, i.ended_at, i.id))
    out = []
    for k, inf in enumerate(ordered):
        nxt = ordered[k + 1].started_at if k + 1 < len(ordered) else None
        win = sorted(
            (
                p
                for p in series
                if p.at > inf.ended_at
                and (nxt is None or p.at < nxt)
                and (withdrawn is None or p.at <= withdrawn)
            ),
            key=lambda p: p.at,
        )
        bounds = [b for b in (nxt, withdrawn) if b is not None]
        out.append((inf, win, nxt, bounds))
    return out


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_durability_never_negative_nor_past_censor_time(scenario):
    series, infusions, th, withdrawn = scenario
    outcomes = infusion_outcomes(series, infusions, th, withdrawn_at=withdrawn)
    for o, (inf, win, _nxt, bounds) in zip(
        outcomes, windows(series, infusions, withdrawn), strict=True
    ):
        assert o.infusion_id == inf.id and o.assessments == len(win)
        if o.durability_days is None:
            assert not o.responded or o.baseline is None
            continue
        assert o.responded and o.durability_days >= 0
        censor_at = min([*bounds, win[-1].at])  # earliest of next start / withdrawal / last
        assert inf.ended_at + timedelta(days=o.durability_days) <= censor_at + timedelta(
            microseconds=1
        )
        if o.censored:
            assert o.censor_reason in {"next_infusion", "withdrawal", "last_check_in"}
            assert o.durability_days == pytest.approx((win[-1].at - inf.ended_at) / DAY)
        else:
            assert o.durability_days == pytest.approx((o.lost_response_at - inf.ended_at) / DAY)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_no_response_without_a_baseline(scenario):
    series, infusions, th, withdrawn = scenario
    outcomes = infusion_outcomes(series, infusions, th, withdrawn_at=withdrawn)
    for o, (inf, *_rest) in zip(outcomes, windows(series, infusions, withdrawn), strict=True):
        b = find_baseline(series, before=inf.started_at, lookback_days=th.baseline_lookback_days)
        assert (o.baseline is None) == (b is None)
        if b is None:
            assert o.status == "no_baseline"
            assert not o.responded and not o.partial_response and not o.remitted
            assert o.durability_days is None and o.onset_hours is None
        else:
            assert o.baseline == b.score and o.baseline_at == b.at


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_onset_is_the_first_response_or_mid_point(scenario):
    series, infusions, th, withdrawn = scenario
    outcomes = infusion_outcomes(series, infusions, th, withdrawn_at=withdrawn)
    for o, (inf, win, *_rest) in zip(outcomes, windows(series, infusions, withdrawn), strict=True):
        if o.baseline is None:
            continue
        b = o.baseline
        first = next(
            (
                p
                for p in win
                if (b > 0 and (b - p.score) / b >= th.response_pct / 100)
                or (th.mid is not None and b - p.score >= th.mid)
            ),
            None,
        )
        if first is None:
            assert o.onset_hours is None
        else:
            assert o.onset_hours == pytest.approx((first.at - inf.ended_at) / HOUR)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_benefit_fading_exactly_when_responding_and_latest_worse_than_best_by_mid(scenario):
    series, infusions, th, withdrawn = scenario
    outcomes = infusion_outcomes(series, infusions, th, withdrawn_at=withdrawn)
    for o, (_inf, win, *_rest) in zip(outcomes, windows(series, infusions, withdrawn), strict=True):
        if o.baseline is None or not win:
            assert not o.benefit_fading
            continue
        best = min(p.score for p in win)
        assert o.best_score == best
        expected = (
            o.status == "responding" and th.mid is not None and win[-1].score >= best + th.mid
        )
        assert o.benefit_fading == expected


@settings(max_examples=300, deadline=None)
@given(
    flags=st.lists(st.booleans(), min_size=0, max_size=12),
    k=st.integers(1, 4),
    gap_hours=st.integers(1, 96),
)
def test_loss_needs_k_consecutive_non_responses_dated_at_the_first(flags, k, gap_hours):
    # Baseline 20; responding points score 8 (60%), non-responding 15 (25%). The first
    # point is always a response.
    flags = [True, *flags]
    inf = infusion(EPOCH)
    at = [inf.ended_at + (i + 1) * timedelta(hours=gap_hours) for i in range(len(flags))]
    series = [Point(EPOCH - DAY, 20)] + [
        Point(t, 8 if f else 15) for t, f in zip(at, flags, strict=True)
    ]
    o = only(infusion_outcomes(series, [inf], dataclasses.replace(PHQ9, loss_consecutive=k)))
    # Independent restatement: the first i whose next k flags are all non-responses.
    lost_i = next((i for i in range(1, len(flags) - k + 1) if not any(flags[i : i + k])), None)
    assert o.responded and o.response_at == at[0]
    if lost_i is None:
        assert o.status == "responding" and o.lost_response_at is None and o.censored
        assert o.durability_days == pytest.approx((at[-1] - inf.ended_at) / DAY)
    else:
        assert o.status == "lost" and o.lost_response_at == at[lost_i] and not o.censored
        assert o.durability_days == pytest.approx((at[lost_i] - inf.ended_at) / DAY)


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.integers(1, 20 * 24), min_size=1, max_size=6, unique=True),
    next_after=st.none() | st.integers(1, 24 * 24),
    withdraw_after=st.none() | st.integers(1, 24 * 24),
)
def test_censor_reason_names_what_ended_follow_up(offsets, next_after, withdraw_after):
    # A responder who never loses the response (every point scores 8 from baseline 20).
    inf = infusion(EPOCH)
    end = inf.ended_at
    nxt = None if next_after is None else end + next_after * HOUR
    withdrawn = None if withdraw_after is None else end + withdraw_after * HOUR
    infusions = [inf] if nxt is None else [inf, infusion(nxt, id="next")]
    series = [Point(EPOCH - DAY, 20)] + [Point(end + h * HOUR, 8) for h in offsets]
    o = infusion_outcomes(series, infusions, PHQ9, withdrawn_at=withdrawn)[0]
    win = [
        p.at
        for p in series[1:]
        if (nxt is None or p.at < nxt) and (withdrawn is None or p.at <= withdrawn)
    ]
    if not win:
        assert o.status == "awaiting_data"
        return
    if withdrawn is not None and (nxt is None or withdrawn < nxt):
        expected = "withdrawal"
    elif nxt is not None:
        expected = "next_infusion"
    else:
        expected = "last_check_in"
    assert o.status == "responding" and o.censored and o.censor_reason == expected
    assert o.durability_days == pytest.approx((max(win) - end) / DAY)


@settings(max_examples=300, deadline=None)
@given(scenarios(max_score=10))
def test_higher_is_better_mirrors_lower_is_better(scenario):
    # MOOD (0-10, higher is better) scored x is the same patient as a 0-10 symptom scale
    # scored 10 - x: every outcome must match, with scores mirrored.
    series, infusions, th, withdrawn = scenario
    mood_th = dataclasses.replace(th, direction="higher_is_better", scale_max=10.0)
    mirrored = [Point(p.at, 10.0 - p.score) for p in series]
    low = infusion_outcomes(series, infusions, th, withdrawn_at=withdrawn)
    high = infusion_outcomes(mirrored, infusions, mood_th, withdrawn_at=withdrawn)

    def flip(x):
        return None if x is None else 10.0 - x

    for a, b in zip(low, high, strict=True):
        assert b == dataclasses.replace(a, baseline=flip(a.baseline), best_score=flip(a.best_score))


def test_points_during_an_infusion_belong_to_no_window():
    inf = infusion(EPOCH, hours=2)
    series = pts((EPOCH - DAY, 20), (EPOCH + HOUR, 2), (inf.ended_at, 3))
    o = only(infusion_outcomes(series, [inf], PHQ9))
    assert o.status == "awaiting_data" and o.assessments == 0
