"""Scoring and answer validation, checked by example at every clinical boundary and by
hypothesis over every valid answer set. No database and no Django.

Expected bands and rules are written out here independently of the definition files, from
docs/clinical/INSTRUMENTS.md, so the files and the engine are checked against the source.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outcomes.instruments.schema import (
    Definition,
    licensed_template_files,
    merge_licensed_text,
    parse_definition,
    shipped_definition_files,
)
from outcomes.scoring import (
    AnswerError,
    SafetyHit,
    Score,
    band_for,
    item_score,
    score,
    validate_answers,
)

_FILES = [
    json.loads(p.read_text(encoding="utf-8"))
    for p in [*shipped_definition_files(), *licensed_template_files()]
]
RAW = {raw["code"]: raw for raw in _FILES}
DEFS: dict[str, Definition] = {code: parse_definition(raw) for code, raw in RAW.items()}
ALL_CODES = sorted(DEFS)
SUM_CODES = sorted(c for c, d in DEFS.items() if d.scoring.method == "sum")


@st.composite
def valid_answers(draw, defn: Definition) -> dict[str, int]:
    """Any answer set `validate_answers` must accept: follows skip logic, may leave out
    optional items."""
    answers: dict[str, int] = {}
    for item in defn.items:
        conditions = item.conditions  # enable_when, or any one of enable_when_any
        if conditions and not any(answers.get(ew.link_id) == ew.equals for ew in conditions):
            continue
        if not item.required and not draw(st.booleans()):
            continue
        lo, hi = defn.answer_bounds(item)
        if item.kind == "choice":
            answers[item.link_id] = draw(st.sampled_from([o.value for o in defn.option_set(item)]))
        else:
            answers[item.link_id] = draw(st.integers(lo, hi))
    return answers


@st.composite
def instrument_and_answers(draw, codes=tuple(ALL_CODES)):
    defn = DEFS[draw(st.sampled_from(codes))]
    return defn, draw(valid_answers(defn))


def answers_with_total(defn: Definition, total: int, order: list[str] | None = None):
    """Answers whose scored items add up to exactly `total`, filling items in `order`."""
    answers = {i.link_id: None for i in defn.items if i.required and not i.conditions}
    remaining = total
    for link_id in order or [i.link_id for i in defn.scored_items]:
        item = defn.item(link_id)
        lo, hi = defn.answer_bounds(item)
        wanted = min(hi, remaining + lo)
        remaining -= wanted - lo
        answers[link_id] = lo + hi - wanted if item.reverse else wanted
    assert remaining == 0, f"{defn.code} cannot reach {total}"
    assert sum(item_score(defn, defn.item(k), v) for k, v in answers.items()) == total
    return answers


# --- properties over every instrument ---------------------------------------------------


@given(instrument_and_answers())
def test_valid_answers_validate_and_score_within_range(case):
    defn, answers = case
    assert validate_answers(defn, answers) == []
    result = score(defn, answers)
    assert isinstance(result, Score)
    if defn.scoring.method == "triage":
        assert result.total is None
        assert result.band in {b.label for b in defn.bands}
    else:
        lo, hi = defn.scoring.range
        assert lo <= result.total <= hi
        assert result.band == band_for(defn, result.total)
    assert all(f"safety:{hit.code}" in result.flags for hit in result.safety)


@given(instrument_and_answers(codes=tuple(SUM_CODES)))
def test_sum_is_the_sum_of_item_scores(case):
    defn, answers = case
    expected = sum(item_score(defn, i, answers[i.link_id]) for i in defn.scored_items)
    assert score(defn, answers).total == expected


@given(valid_answers(DEFS["PEG"]))
def test_peg_is_the_mean_of_its_three_items(answers):
    total = score(DEFS["PEG"], answers).total
    assert 0 <= total <= 10
    assert total == round(sum(answers.values()) / 3, 2)


def test_peg_mean_is_rounded_to_two_decimals():
    assert score(DEFS["PEG"], {"item1": 1, "item2": 0, "item3": 0}).total == 0.33
    assert score(DEFS["PEG"], {"item1": 10, "item2": 10, "item3": 9}).total == 9.67
    assert score(DEFS["PEG"], {"item1": 4, "item2": 5, "item3": 6}).band == ""


@given(valid_answers(DEFS["PHQ-9"]))
def test_phq9_band_matches_kroenke_2001(answers):
    total = sum(answers[f"item{i}"] for i in range(1, 10))
    # Kroenke 2001, written out independently of the definition file.
    if total <= 4:
        expected = "minimal"
    elif total <= 9:
        expected = "mild"
    elif total <= 14:
        expected = "moderate"
    elif total <= 19:
        expected = "moderately severe"
    else:
        expected = "severe"
    result = score(DEFS["PHQ-9"], answers)
    assert (result.total, result.band) == (total, expected)


@given(valid_answers(DEFS["PHQ-9"]))
def test_phq9_difficulty_item_never_changes_the_score(answers):
    without = {k: v for k, v in answers.items() if k != "item10"}
    assert score(DEFS["PHQ-9"], answers) == score(DEFS["PHQ-9"], without)


# --- band boundaries, reached through real answers ---------------------------------------

BOUNDARIES = {
    # Kroenke 2001
    "PHQ-9": {
        0: "minimal",
        4: "minimal",
        5: "mild",
        9: "mild",
        10: "moderate",
        14: "moderate",
        15: "moderately severe",
        19: "moderately severe",
        20: "severe",
        27: "severe",
    },
    # Spitzer 2006
    "GAD-7": {
        0: "minimal",
        4: "minimal",
        5: "mild",
        9: "mild",
        10: "moderate",
        14: "moderate",
        15: "severe",
        21: "severe",
    },
    # Kroenke 2003 / 2007: >= 3 positive
    "PHQ-2": {
        0: "negative screen",
        2: "negative screen",
        3: "positive screen",
        6: "positive screen",
    },
    "GAD-2": {
        0: "negative screen",
        2: "negative screen",
        3: "positive screen",
        6: "positive screen",
    },
    # Cut-off 33 of the published 31-33 (Bovin 2016)
    "PCL-5": {
        0: "below threshold",
        32: "below threshold",
        33: "probable PTSD",
        80: "probable PTSD",
    },
    # Cox 1987: >= 13 assess, >= 10 higher sensitivity
    "EPDS": {
        0: "below threshold",
        9: "below threshold",
        10: "possible depression",
        12: "possible depression",
        13: "probable depression",
        30: "probable depression",
    },
}
BOUNDARY_CASES = [
    (code, t, label) for code, cases in BOUNDARIES.items() for t, label in cases.items()
]


@pytest.mark.parametrize(("code", "total", "label"), BOUNDARY_CASES)
def test_band_at_each_boundary(code, total, label):
    defn = DEFS[code]
    answers = answers_with_total(defn, total)
    assert validate_answers(defn, answers) == []
    result = score(defn, answers)
    assert (result.total, result.band) == (total, label)


@pytest.mark.parametrize(("code", "total", "label"), BOUNDARY_CASES)
@settings(max_examples=20)
@given(data=st.data())
def test_band_at_each_boundary_whichever_items_carry_it(code, total, label, data):
    defn = DEFS[code]
    order = data.draw(st.permutations([i.link_id for i in defn.scored_items]))
    result = score(defn, answers_with_total(defn, total, order))
    assert (result.total, result.band) == (total, label)


@pytest.mark.parametrize(("code", "at"), [("PHQ-2", 3), ("GAD-2", 3), ("EPDS", 13)])
def test_positive_screen_flag_from_the_cut_off(code, at):
    defn = DEFS[code]
    assert "positive_screen" not in score(defn, answers_with_total(defn, at - 1)).flags
    assert "positive_screen" in score(defn, answers_with_total(defn, at)).flags


def test_instruments_without_bands_band_as_empty():
    for code in ("PAIN-NRS", "MOOD"):
        assert score(DEFS[code], {"item1": 7}) == Score(7, "", {}, (), ())
    assert band_for(DEFS["PEG"], 4.33) == ""


def test_band_for_outside_the_range_is_an_error():
    with pytest.raises(ValueError, match="outside every band"):
        band_for(DEFS["PHQ-9"], 28)


# --- reverse scoring (EPDS) --------------------------------------------------------------


def test_epds_item_scores_follow_cox_1987():
    defn = DEFS["EPDS"]
    for item in defn.items:
        for value in range(4):
            expected = 3 - value if item.reverse else value
            assert item_score(defn, item, value) == expected
    # Items 1, 2 and 4 score 0..3 down the page; 3 and 5-10 score 3..0.
    top = {f"item{i}": 0 for i in range(1, 11)}
    assert score(defn, top).total == 3 * 7


@given(valid_answers(DEFS["EPDS"]), st.sampled_from([f"item{i}" for i in range(1, 11)]))
def test_epds_reversing_an_answer_mirrors_its_score(answers, link_id):
    defn = DEFS["EPDS"]
    item = defn.item(link_id)
    flipped = {**answers, link_id: 3 - answers[link_id]}
    before, after = score(defn, answers).total, score(defn, flipped).total
    old, new = item_score(defn, item, answers[link_id]), item_score(defn, item, flipped[link_id])
    assert new == 3 - old  # max + min - score
    assert after - before == new - old


def _texts(raw: dict) -> dict:
    return {
        "items": {it["link_id"]: f"text {it['link_id']}" for it in raw["items"]},
        "options": {
            n: [f"label {o['value']}" for o in opts] for n, opts in raw["option_sets"].items()
        },
    }


MERGED = {
    code: parse_definition(merge_licensed_text(RAW[code], _texts(RAW[code])))
    for code in ("EPDS", "C-SSRS-SCREENER")
}


@given(
    st.sampled_from(sorted(MERGED)).flatmap(
        lambda code: st.tuples(st.just(code), valid_answers(DEFS[code]))
    )
)
def test_a_template_with_merged_text_scores_identically(case):
    code, answers = case
    assert validate_answers(MERGED[code], answers) == []
    assert score(MERGED[code], answers) == score(DEFS[code], answers)


# --- PCL-5 DSM-5 provisional diagnosis ---------------------------------------------------

PCL5 = DEFS["PCL-5"]
CLUSTERS = {"B": range(1, 6), "C": range(6, 8), "D": range(8, 15), "E": range(15, 21)}
NEED = {"B": 1, "C": 1, "D": 2, "E": 2}


def _pcl5(**values: int) -> dict[str, int]:
    answers = {f"item{i}": 0 for i in range(1, 21)}
    answers.update(values)
    return answers


def test_pcl5_dsm_rule_met_at_the_minimum():
    # Exactly 1 B, 1 C, 2 D, 2 E at "Moderately" (2): provisional PTSD, even though the
    # total (12) is far below the 33 cut-off.
    result = score(PCL5, _pcl5(item1=2, item6=2, item8=2, item9=2, item15=2, item16=2))
    assert "dsm5_provisional_ptsd" in result.flags
    assert result.total == 12
    assert result.band == "below threshold"
    assert result.subscales == {"B": 2, "C": 2, "D": 4, "E": 4}


@pytest.mark.parametrize(
    "answers",
    [
        _pcl5(item1=2, item6=2, item8=2, item9=1, item15=2, item16=2),  # D item at 1
        _pcl5(item6=2, item8=2, item9=2, item15=2, item16=2),  # no B
        _pcl5(item1=4, item6=0, item8=4, item9=4, item15=4, item16=4),  # no C
        _pcl5(item1=2, item6=2, item8=2, item15=2, item16=2),  # one D
        _pcl5(item1=2, item6=2, item8=2, item9=2, item15=2),  # one E
        {f"item{i}": 1 for i in range(1, 21)},  # everything "a little bit": none endorsed
    ],
    ids=["D item at 1", "no B", "no C", "one D", "one E", "all at 1"],
)
def test_pcl5_dsm_rule_not_met(answers):
    assert "dsm5_provisional_ptsd" not in score(PCL5, answers).flags


@given(valid_answers(PCL5))
def test_pcl5_dsm_rule_matches_its_definition(answers):
    endorsed = {c: sum(answers[f"item{i}"] >= 2 for i in items) for c, items in CLUSTERS.items()}
    expected = all(endorsed[c] >= NEED[c] for c in NEED)
    result = score(PCL5, answers)
    assert ("dsm5_provisional_ptsd" in result.flags) == expected
    assert result.subscales == {
        c: sum(answers[f"item{i}"] for i in items) for c, items in CLUSTERS.items()
    }
    assert sum(result.subscales.values()) == result.total


# --- C-SSRS screener triage --------------------------------------------------------------

CSSRS = DEFS["C-SSRS-SCREENER"]


def _cssrs(q1=0, q2=0, q3=None, q4=None, q5=None, q6=0, q6_recent=None) -> dict[str, int]:
    given_ = {"q1": q1, "q2": q2, "q3": q3, "q4": q4, "q5": q5, "q6": q6, "q6_recent": q6_recent}
    if q2 == 1:
        given_ = {"q3": 0, "q4": 0, "q5": 0, **{k: v for k, v in given_.items() if v is not None}}
    if q6 == 1 and q6_recent is None:
        given_["q6_recent"] = 0
    answers = {k: v for k, v in given_.items() if v is not None}
    assert validate_answers(CSSRS, answers) == [], answers
    return answers


@pytest.mark.parametrize(
    ("answers", "band"),
    [
        (_cssrs(), "none"),
        (_cssrs(q1=1), "low"),
        (_cssrs(q2=1), "low"),
        (_cssrs(q1=1, q2=1), "low"),
        (_cssrs(q2=1, q3=1), "moderate"),
        (_cssrs(q6=1, q6_recent=0), "moderate"),
        (_cssrs(q1=1, q6=1, q6_recent=0), "moderate"),
        (_cssrs(q2=1, q4=1), "high"),
        (_cssrs(q2=1, q5=1), "high"),
        (_cssrs(q6=1, q6_recent=1), "high"),
        (_cssrs(q2=1, q3=1, q6=1, q6_recent=1), "high"),
        (_cssrs(q1=1, q2=1, q3=1, q4=1, q5=1, q6=1, q6_recent=1), "high"),
    ],
)
def test_cssrs_triage_paths(answers, band):
    result = score(CSSRS, answers)
    assert result.total is None
    assert result.band == band


def test_cssrs_all_no_raises_no_safety_hit():
    result = score(CSSRS, _cssrs())
    assert result.safety == ()
    assert result.flags == ()


def test_cssrs_high_is_urgent_and_names_each_yes():
    result = score(CSSRS, _cssrs(q2=1, q4=1))
    # Version 2 grades each rule: q4 (intent) is high, so urgent; q2 alone would be low.
    assert result.safety == (
        SafetyHit("cssrs_q2_yes", "high", "q2"),
        SafetyHit("cssrs_q4_yes", "urgent", "q4"),
        SafetyHit("cssrs_triage_high", "urgent", None),
    )
    assert result.flags == (
        "safety:cssrs_q2_yes",
        "safety:cssrs_q4_yes",
        "safety:cssrs_triage_high",
    )


def test_cssrs_moderate_is_a_high_severity_hit():
    result = score(CSSRS, _cssrs(q6=1, q6_recent=0))
    assert SafetyHit("cssrs_triage_moderate", "high", None) in result.safety
    assert all(hit.severity == "high" for hit in result.safety)


@given(valid_answers(CSSRS))
def test_cssrs_triage_matches_the_screener_rules(answers):
    a = answers.get
    # Posner 2011 / C-SSRS Screen Version, written out independently of the file.
    if a("q4") == 1 or a("q5") == 1 or (a("q6") == 1 and a("q6_recent") == 1):
        expected = "high"
    elif a("q3") == 1 or (a("q6") == 1 and a("q6_recent") == 0):
        expected = "moderate"
    elif a("q1") == 1 or a("q2") == 1:
        expected = "low"
    else:
        expected = "none"
    result = score(CSSRS, answers)
    assert result.band == expected
    any_yes = any(a(q) == 1 for q in ("q1", "q2", "q3", "q4", "q5", "q6"))
    assert bool(result.safety) == any_yes
    assert any(h.severity == "urgent" for h in result.safety) == (expected == "high")


# --- safety items ------------------------------------------------------------------------


def test_phq9_item9_zero_raises_no_alert():
    result = score(DEFS["PHQ-9"], answers_with_total(DEFS["PHQ-9"], 24))
    assert result.total == 24  # severe, but item 9 is 0 (filled last), so no safety hit
    assert result.safety == ()


@pytest.mark.parametrize("value", [1, 2, 3])
def test_phq9_item9_any_value_above_zero_raises_an_alert_whatever_the_total(value):
    answers = {f"item{i}": 0 for i in range(1, 10)} | {"item9": value}
    result = score(DEFS["PHQ-9"], answers)
    assert result.band == "minimal"
    assert result.safety == (SafetyHit("phq9_item9_self_harm", "high", "item9"),)
    assert "safety:phq9_item9_self_harm" in result.flags


@given(valid_answers(DEFS["PHQ-9"]))
def test_phq9_safety_tracks_item9_only(answers):
    hit = bool(score(DEFS["PHQ-9"], answers).safety)
    assert hit == (answers["item9"] > 0)


@pytest.mark.parametrize(("value", "hit"), [(0, True), (1, True), (2, True), (3, False)])
def test_epds_item10_alerts_on_any_answer_but_never(value, hit):
    # Item 10 is reverse-scored: the top answer (value 0, "quite often") scores 3 and the
    # bottom one (value 3, "never") scores 0. Any score > 0 needs follow-up (Cox 1987).
    answers = {
        f"item{i}": 3 if DEFS["EPDS"].item(f"item{i}").reverse else 0 for i in range(1, 11)
    } | {"item10": value}
    result = score(DEFS["EPDS"], answers)
    assert bool(result.safety) == hit
    if hit:
        assert result.safety == (SafetyHit("epds_item10_self_harm", "high", "item10"),)
        assert "safety:epds_item10_self_harm" in result.flags


# --- validate_answers --------------------------------------------------------------------

PHQ9 = DEFS["PHQ-9"]


def _phq9_zeros() -> dict:
    return {f"item{i}": 0 for i in range(1, 10)}


def _codes(errors: list[AnswerError]) -> list[tuple[str | None, str]]:
    return [(e.link_id, e.code) for e in errors]


def test_a_complete_phq9_without_the_optional_item_is_valid():
    assert validate_answers(PHQ9, _phq9_zeros()) == []
    assert validate_answers(PHQ9, _phq9_zeros() | {"item10": 3}) == []


def test_missing_items_are_required_and_named():
    answers = _phq9_zeros()
    del answers["item3"], answers["item9"]
    assert _codes(validate_answers(PHQ9, answers)) == [("item3", "required"), ("item9", "required")]


def test_extra_items_are_reported_after_the_rest():
    answers = _phq9_zeros() | {"item11": 1, "mood": 2}
    del answers["item1"]
    assert _codes(validate_answers(PHQ9, answers)) == [
        ("item1", "required"),
        ("item11", "unknown_item"),
        ("mood", "unknown_item"),
    ]


@pytest.mark.parametrize("value", [-1, 4, 100])
def test_a_choice_outside_the_options_is_invalid(value):
    errors = validate_answers(PHQ9, _phq9_zeros() | {"item2": value})
    assert _codes(errors) == [("item2", "invalid_choice")]
    assert "item2" in errors[0].detail


@pytest.mark.parametrize("value", [-1, 11])
def test_an_integer_outside_min_max_is_out_of_range(value):
    assert _codes(validate_answers(DEFS["PAIN-NRS"], {"item1": value})) == [
        ("item1", "out_of_range")
    ]


@pytest.mark.parametrize("value", ["1", True, False, 1.5, 1.0, None, [1], {"value": 1}])
def test_a_non_integer_is_the_wrong_type(value):
    errors = validate_answers(PHQ9, _phq9_zeros() | {"item4": value})
    assert _codes(errors) == [("item4", "invalid_type")]
    assert _codes(validate_answers(DEFS["MOOD"], {"item1": value})) == [("item1", "invalid_type")]


@pytest.mark.parametrize("answers", [None, [], [0, 1], "item1=1", 3])
def test_answers_that_are_not_an_object(answers):
    assert validate_answers(PHQ9, answers) == [
        AnswerError(None, "not_an_object", "Answers must be an object of linkId: value.")
    ]


def test_answering_a_skipped_cssrs_question_is_not_applicable():
    errors = validate_answers(CSSRS, {"q1": 1, "q2": 0, "q3": 1, "q6": 0, "q6_recent": 1})
    assert _codes(errors) == [("q3", "not_applicable"), ("q6_recent", "not_applicable")]
    assert "q2" in errors[0].detail


def test_cssrs_follow_ups_are_required_once_enabled():
    errors = validate_answers(CSSRS, {"q1": 1, "q2": 1, "q6": 1})
    assert _codes(errors) == [
        ("q3", "required"),
        ("q4", "required"),
        ("q5", "required"),
        ("q6_recent", "required"),
    ]


def test_a_follow_up_to_an_invalid_answer_is_not_reported_twice():
    errors = validate_answers(CSSRS, {"q1": 0, "q2": "1", "q3": 1, "q4": 0, "q5": 0, "q6": 0})
    assert _codes(errors) == [("q2", "invalid_type")]
    errors = validate_answers(CSSRS, {"q1": 0, "q3": 1, "q4": 0, "q5": 0, "q6": 0})
    assert _codes(errors) == [("q2", "required")]


def test_every_error_is_reported_in_item_order():
    answers = {
        "item1": "0",
        "item2": 9,
        "item4": True,
        "item5": 0,
        "item6": 0,
        "item7": 0,
        "item8": 0,
        "item9": 0,
        "item10": 4,
        "x": 1,
    }
    assert _codes(validate_answers(PHQ9, answers)) == [
        ("item1", "invalid_type"),
        ("item2", "invalid_choice"),
        ("item3", "required"),
        ("item4", "invalid_type"),
        ("item10", "invalid_choice"),
        ("x", "unknown_item"),
    ]


@given(
    instrument_and_answers(),
    st.one_of(
        st.text(max_size=3),
        st.booleans(),
        st.floats(),
        st.none(),
        st.integers(min_value=1000),
        st.integers(max_value=-1000),
    ),
    st.data(),
)
def test_any_spoilt_answer_is_caught_and_named(case, bad, data):
    defn, answers = case
    link_id = data.draw(st.sampled_from(sorted(answers)))
    spoilt = {**answers, link_id: bad}
    errors = validate_answers(defn, spoilt)
    assert errors
    assert errors[0].link_id == link_id
    assert errors[0].code in {"invalid_type", "invalid_choice", "out_of_range"}


@given(instrument_and_answers(), st.text(min_size=1, max_size=8))
def test_any_unknown_key_is_caught(case, key):
    defn, answers = case
    if defn.has_item(key):
        return
    errors = validate_answers(defn, {**answers, key: 1})
    assert _codes(errors) == [(key, "unknown_item")]


@given(instrument_and_answers())
def test_any_missing_required_answer_is_caught(case):
    defn, answers = case
    for link_id in list(answers):
        if not defn.item(link_id).required:
            continue
        errors = validate_answers(defn, {k: v for k, v in answers.items() if k != link_id})
        assert (link_id, "required") in _codes(errors)


@given(valid_answers(CSSRS))
def test_cssrs_highest_level_wins_whatever_the_rule_order(answers):
    raw = json.loads(json.dumps(RAW["C-SSRS-SCREENER"]))
    raw["scoring"]["rules"].reverse()
    assert score(parse_definition(raw), answers) == score(CSSRS, answers)
