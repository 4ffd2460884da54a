"""Graded safety rules (issue 13): every rule's level, the new screeners (ASQ, SI-NOW), the
"any of" skip logic, the canonical form that keeps loaded versions' digests, and the
low-risk review deadline. No database: definitions are plain data, the deadline a plain
calculation."""

import copy
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from outcomes.instruments.schema import (
    DefinitionError,
    SafetyRule,
    content_digest,
    licensed_template_files,
    parse_definition,
    shipped_definition_files,
)
from outcomes.models import AlertLevel
from outcomes.scoring import score, validate_answers
from outcomes.services.safety import review_due

FILES = {p.name: p for p in [*shipped_definition_files(), *licensed_template_files()]}


def _raw(name: str) -> dict:
    return json.loads(FILES[name].read_text(encoding="utf-8"))


def _defn(name: str):
    return parse_definition(_raw(name))


def _levels(name: str) -> dict[str, str]:
    return {r.code: r.graded_level for r in _defn(name).safety}


def _fired(name: str, answers: dict) -> dict[str, str]:
    defn = _defn(name)
    assert validate_answers(defn, answers) == []
    levels = {r.code: r.graded_level for r in defn.safety}
    return {hit.code: levels[hit.code] for hit in score(defn, answers).safety}


# --- every rule's level ------------------------------------------------------------------


def test_every_safety_rule_has_a_level_and_a_severity_that_agrees():
    for name in FILES:
        for rule in _defn(name).safety:
            assert rule.graded_level in {"low", "moderate", "high"}
            assert (rule.severity == "urgent") == (rule.graded_level == "high"), (name, rule)


def test_phq9_item9_and_epds_item10_are_moderate_and_say_why():
    # Published before levels existed (their files cannot change: answers are pinned to
    # them), so they are graded from their severity "high": moderate, UNVERIFIED.
    assert _levels("phq-9.v1.json") == {"phq9_item9_self_harm": "moderate"}
    assert _levels("epds.v1.json") == {"epds_item10_self_harm": "moderate"}
    doc = SafetyRule.__doc__ or ""
    assert "UNVERIFIED" in doc and "PHQ-9 v1 item 9" in doc


def test_cssrs_v2_grades_by_the_screener_triage():
    assert _levels("cssrs-screener.v2.json") == {
        "cssrs_q1_yes": "low",
        "cssrs_q2_yes": "low",
        "cssrs_q3_yes": "moderate",
        "cssrs_q4_yes": "high",
        "cssrs_q5_yes": "high",
        "cssrs_q6_yes": "moderate",
        "cssrs_triage_moderate": "moderate",
        "cssrs_triage_high": "high",
    }


def test_cssrs_v1_stays_as_loaded_and_grades_from_severity():
    levels = _levels("cssrs-screener.v1.json")
    assert levels["cssrs_q1_yes"] == "moderate"
    assert levels["cssrs_triage_high"] == "high"


def test_wish_to_be_dead_alone_is_low_and_intent_with_a_plan_is_high():
    wish = _fired("cssrs-screener.v2.json", {"q1": 1, "q2": 0, "q6": 0})
    assert AlertLevel.worst(wish.values()) == AlertLevel.LOW
    plan = _fired("cssrs-screener.v2.json", {"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 1, "q6": 0})
    assert AlertLevel.worst(plan.values()) == AlertLevel.HIGH
    assert plan["cssrs_q5_yes"] == "high"


# --- ASQ and SI-NOW ------------------------------------------------------------------------

ASQ_NO = {"q1": 0, "q2": 0, "q3": 0, "q4": 0}


def test_asq_is_shipped_with_its_public_domain_evidence():
    asq = _defn("asq.v1.json")
    assert asq.code == "ASQ"
    assert asq.licence.ship_text and asq.text_included
    assert "public domain" in asq.licence.terms
    assert "https://www.nimh.nih.gov/" in asq.licence.terms
    assert "Horowitz" in asq.source and "PMC9773543" in asq.source
    assert asq.item("q5").text == "Are you having thoughts of killing yourself right now?"
    assert any("UNVERIFIED" in n and "1 alone = low" in n for n in asq.notes)


@pytest.mark.parametrize(
    ("yes", "band", "level"),
    [
        ({}, "negative", None),
        ({"q1": 1, "q5": 0}, "non-acute positive", "low"),
        ({"q2": 1, "q5": 0}, "non-acute positive", "moderate"),
        ({"q3": 1, "q5": 0}, "non-acute positive", "moderate"),
        ({"q4": 1, "q5": 0}, "non-acute positive", "moderate"),
        ({"q1": 1, "q5": 1}, "acute positive", "high"),
    ],
)
def test_asq_triage_and_levels(yes, band, level):
    answers = {**ASQ_NO, **yes}
    defn = _defn("asq.v1.json")
    assert validate_answers(defn, answers) == []
    result = score(defn, answers)
    assert result.total is None
    assert result.band == band
    fired = _fired("asq.v1.json", answers)
    assert (AlertLevel.worst(fired.values()) if fired else None) == level


def test_asq_asks_question_5_only_after_a_yes_to_any_of_1_to_4():
    defn = _defn("asq.v1.json")
    errors = validate_answers(defn, {**ASQ_NO, "q5": 0})
    assert [(e.link_id, e.code) for e in errors] == [("q5", "not_applicable")]
    assert "q1 is 1 or q2 is 1 or q3 is 1 or q4 is 1" in errors[0].detail
    for q in ("q1", "q2", "q3", "q4"):
        missing = validate_answers(defn, {**ASQ_NO, q: 1})
        assert [(e.link_id, e.code) for e in missing] == [("q5", "required")]


def test_asq_question_5_hangs_on_an_answer_in_error_only_when_nothing_else_enables_it():
    defn = _defn("asq.v1.json")
    errors = validate_answers(defn, {**ASQ_NO, "q1": "yes"})
    assert [(e.link_id, e.code) for e in errors] == [("q1", "invalid_type")]
    errors = validate_answers(defn, {**ASQ_NO, "q1": "yes", "q2": 1, "q5": 1})
    assert [(e.link_id, e.code) for e in errors] == [("q1", "invalid_type")]


def test_si_now_is_a_momentary_item_whose_yes_is_high_and_never_a_label():
    defn = _defn("si-now.v1.json")
    assert defn.recall.hours == 0
    assert [i.text for i in defn.items] == [
        "Are you having thoughts of killing yourself right now?"
    ]
    assert defn.scoring.method == "triage"  # no total: not charted, not an outcome
    assert _fired("si-now.v1.json", {"q1": 1}) == {"si_now_yes": "high"}
    assert _fired("si-now.v1.json", {"q1": 0}) == {}
    assert any("NOT validated" in n and "never a clinical label" in n for n in defn.notes)


# --- the format: levels, "any of", digests ------------------------------------------------


def _rule(**changes) -> dict:
    raw = _raw("asq.v1.json")
    raw["safety"][0].update(changes)
    return raw


@pytest.mark.parametrize(
    ("severity", "level"), [("urgent", "low"), ("urgent", "moderate"), ("high", "high")]
)
def test_a_level_and_a_severity_that_disagree_are_refused(severity, level):
    with pytest.raises(DefinitionError, match="severity is urgent for a high level"):
        parse_definition(_rule(severity=severity, level=level))


def test_an_unknown_level_is_refused():
    with pytest.raises(DefinitionError):
        parse_definition(_rule(level="severe"))


def test_enable_when_any_must_name_earlier_items_and_not_mix_with_enable_when():
    raw = _raw("asq.v1.json")
    bad = copy.deepcopy(raw)
    bad["items"][4]["enable_when"] = {"link_id": "q1", "equals": 1}
    with pytest.raises(DefinitionError, match="not both"):
        parse_definition(bad)
    bad = copy.deepcopy(raw)
    bad["items"][0]["enable_when_any"] = [
        {"link_id": "q4", "equals": 1},
        {"link_id": "q5", "equals": 1},
    ]
    with pytest.raises(DefinitionError, match="not an earlier item"):
        parse_definition(bad)
    bad = copy.deepcopy(raw)
    bad["items"][4]["enable_when_any"] = [
        {"link_id": "q1", "equals": 7},
        *raw["items"][4]["enable_when_any"][1:],
    ]
    with pytest.raises(DefinitionError, match="can never hold"):
        parse_definition(bad)


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n in FILES
        if n not in {"asq.v1.json", "si-now.v1.json", "cssrs-screener.v2.json", "qids-sr16.v1.json"}
    ),
)
def test_a_definition_published_before_levels_keeps_its_canonical_form(name):
    # Loaded versions are compared by digest (services/instruments.py): a key the format
    # gained later must not appear in their canonical form, or every deployment's
    # instruments_sync would refuse them.
    raw = _raw(name)
    dumped = parse_definition(raw).model_dump(mode="json")
    assert content_digest(dumped) == content_digest(raw)
    assert all("level" not in r for r in dumped["safety"])
    assert all("enable_when_any" not in i for i in dumped["items"])


# --- the low-risk review deadline ---------------------------------------------------------

NY = "America/New_York"


def _at(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize(
    ("raised", "due"),
    [
        ((2026, 11, 30, 9, 0), (2026, 12, 1, 17, 0)),  # Monday -> Tuesday
        ((2026, 11, 30, 23, 59), (2026, 12, 1, 17, 0)),  # late Monday -> Tuesday
        ((2026, 12, 4, 10, 0), (2026, 12, 7, 17, 0)),  # Friday -> Monday
        ((2026, 12, 5, 10, 0), (2026, 12, 7, 17, 0)),  # Saturday -> Monday
        ((2026, 12, 6, 10, 0), (2026, 12, 7, 17, 0)),  # Sunday -> Monday
    ],
)
def test_a_low_alert_is_due_by_the_end_of_the_next_working_day(raised, due):
    assert review_due(now=_at(NY, *raised), zone=NY, hour=17) == _at(NY, *due)


def test_the_review_hour_is_wall_clock_across_a_daylight_saving_change():
    # US clocks go forward on Sunday 8 March 2026: Friday's alert is due Monday 17:00 EDT.
    due = review_due(now=_at(NY, 2026, 3, 6, 12, 0), zone=NY, hour=17)
    assert due == datetime(2026, 3, 9, 21, 0, tzinfo=UTC)


def test_the_review_day_is_the_clinics_not_utcs():
    # 20:00 on Monday in Los Angeles is already Tuesday in UTC; the review is Tuesday's.
    la = "America/Los_Angeles"
    due = review_due(now=_at(la, 2026, 11, 30, 20, 0), zone=la, hour=9)
    assert due == _at(la, 2026, 12, 1, 9, 0)
