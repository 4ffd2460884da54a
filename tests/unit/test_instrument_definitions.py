"""The shipped instrument definitions and the parser that guards them.

No database and no Django: the definitions are plain data, checked here against the
clinical reference (docs/clinical/INSTRUMENTS.md), whose facts are hard-coded below so a
changed file cannot silently change a cut-off or a LOINC code.
"""

import copy
import json
from pathlib import Path

import pytest

from outcomes.instruments.schema import (
    DefinitionError,
    content_digest,
    licensed_template_files,
    load_definition_file,
    merge_licensed_text,
    parse_definition,
    shipped_definition_files,
)
from outcomes.scoring import score

SHIPPED = shipped_definition_files()
TEMPLATES = licensed_template_files()


def _raw(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _by_code() -> dict[str, dict]:
    return {_raw(p)["code"]: _raw(p) for p in [*SHIPPED, *TEMPLATES]}


def _defn(code: str):
    return parse_definition(_by_code()[code])


# --- every file parses, and says what it is --------------------------------------------


def test_the_expected_instruments_are_shipped():
    assert {_raw(p)["code"] for p in SHIPPED} == {
        "PHQ-9",
        "PHQ-2",
        "GAD-7",
        "GAD-2",
        "PCL-5",
        "PAIN-NRS",
        "PEG",
        "MOOD",
        "ASQ",
        "SI-NOW",
    }
    assert {_raw(p)["code"] for p in TEMPLATES} == {"EPDS", "C-SSRS-SCREENER", "QIDS-SR16"}


@pytest.mark.parametrize("path", [*SHIPPED, *TEMPLATES], ids=lambda p: p.name)
def test_definition_file_parses_and_round_trips(path):
    defn = load_definition_file(path)
    assert defn.model_dump(mode="json") == _raw(path)
    assert path.name.endswith(f".v{defn.version}.json")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_definitions_may_ship_their_text(path):
    defn = load_definition_file(path)
    assert defn.licence.ship_text
    assert defn.text_included
    assert all(item.text for item in defn.items)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_licensed_templates_carry_no_text(path):
    raw = _raw(path)
    defn = load_definition_file(path)
    assert not defn.licence.ship_text
    assert not defn.text_included
    assert raw["preamble"] is None
    assert all(item["text"] is None for item in raw["items"])
    assert all(
        option["text"] is None for options in raw["option_sets"].values() for option in options
    )


def test_codes_and_versions_are_unique():
    pairs = [(_raw(p)["code"], _raw(p)["version"]) for p in [*SHIPPED, *TEMPLATES]]
    assert len(pairs) == len(set(pairs))
    names = [p.name for p in [*SHIPPED, *TEMPLATES]]
    assert len(names) == len(set(names))


# --- LOINC codes, exactly as docs/clinical/INSTRUMENTS.md gives them ----------------------

PHQ9_ITEM_LOINC = [
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
]
GAD7_ITEM_LOINC = ["69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"]
FREQUENCY_ANSWER_LOINC = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]

EXPECTED_PANEL_TOTAL = {
    "PHQ-9": ("44249-1", "44261-6"),
    "PHQ-2": ("55757-9", "55758-7"),
    "GAD-7": ("69737-5", "70274-6"),
    "GAD-2": (None, None),  # "(look up)" in docs/clinical/INSTRUMENTS.md: never invent a code
    "PCL-5": ("101697-1", "101698-9"),
    "PAIN-NRS": (None, "72514-3"),
    "PEG": (None, None),
    "MOOD": (None, None),
    "EPDS": ("71354-5", None),  # total 99046-5 is UNVERIFIED there, so left out
    "C-SSRS-SCREENER": (None, "93374-7"),  # the HL7 example's risk-level code
}


@pytest.mark.parametrize("code", sorted(EXPECTED_PANEL_TOTAL))
def test_panel_and_total_loinc_match_the_clinical_reference(code):
    defn = _defn(code)
    assert (defn.loinc.panel, defn.loinc.total) == EXPECTED_PANEL_TOTAL[code]


@pytest.mark.parametrize("code", ["GAD-2", "EPDS", "C-SSRS-SCREENER", "PEG"])
def test_a_missing_loinc_code_is_explained_in_notes(code):
    assert any("LOINC" in note or "null" in note for note in _defn(code).notes)


def test_phq9_item_and_answer_loinc():
    defn = _defn("PHQ-9")
    assert [defn.item(f"item{i}").loinc for i in range(1, 10)] == PHQ9_ITEM_LOINC
    assert [o.loinc for o in defn.option_set("item1")] == FREQUENCY_ANSWER_LOINC
    assert [o.value for o in defn.option_set("item1")] == [0, 1, 2, 3]
    difficulty = defn.item("item10")
    assert difficulty.loinc == "69722-7"
    assert not difficulty.scored
    assert not difficulty.required


def test_phq2_and_gad2_reuse_the_first_two_items_of_their_parents():
    assert [i.loinc for i in _defn("PHQ-2").items] == PHQ9_ITEM_LOINC[:2]
    assert [i.loinc for i in _defn("GAD-2").items] == GAD7_ITEM_LOINC[:2]
    assert [i.text for i in _defn("PHQ-2").items] == [i.text for i in _defn("PHQ-9").items[:2]]
    assert [i.text for i in _defn("GAD-2").items] == [i.text for i in _defn("GAD-7").items[:2]]


def test_gad7_item_and_answer_loinc():
    defn = _defn("GAD-7")
    assert [i.loinc for i in defn.items] == GAD7_ITEM_LOINC
    assert [o.loinc for o in defn.option_set("item1")] == FREQUENCY_ANSWER_LOINC


def test_pain_nrs_item_loinc():
    assert _defn("PAIN-NRS").item("item1").loinc == "72514-3"


# --- structure, bands, recall and thresholds per docs/clinical/INSTRUMENTS.md -------------

EXPECTED_BANDS = {
    # Kroenke 2001
    "PHQ-9": [
        (0, 4, "minimal"),
        (5, 9, "mild"),
        (10, 14, "moderate"),
        (15, 19, "moderately severe"),
        (20, 27, "severe"),
    ],
    # Spitzer 2006
    "GAD-7": [(0, 4, "minimal"), (5, 9, "mild"), (10, 14, "moderate"), (15, 21, "severe")],
    "PHQ-2": [(0, 2, "negative screen"), (3, 6, "positive screen")],
    "GAD-2": [(0, 2, "negative screen"), (3, 6, "positive screen")],
    "PCL-5": [(0, 32, "below threshold"), (33, 80, "probable PTSD")],
    "EPDS": [
        (0, 9, "below threshold"),
        (10, 12, "possible depression"),
        (13, 30, "probable depression"),
    ],
    "C-SSRS-SCREENER": [(0, 0, "none"), (1, 1, "low"), (2, 2, "moderate"), (3, 3, "high")],
    "PAIN-NRS": [],
    "PEG": [],
    "MOOD": [],
}


@pytest.mark.parametrize("code", sorted(EXPECTED_BANDS))
def test_bands_match_the_clinical_reference(code):
    assert [(b.min, b.max, b.label) for b in _defn(code).bands] == EXPECTED_BANDS[code]


EXPECTED_SHAPE = {
    # code: (number of items, scoring method, range, recall hours, direction)
    "PHQ-9": (10, "sum", [0, 27], 336, "lower_is_better"),
    "PHQ-2": (2, "sum", [0, 6], 336, "lower_is_better"),
    "GAD-7": (7, "sum", [0, 21], 336, "lower_is_better"),
    "GAD-2": (2, "sum", [0, 6], 336, "lower_is_better"),
    "PCL-5": (20, "sum", [0, 80], 720, "lower_is_better"),
    "PAIN-NRS": (1, "sum", [0, 10], 0, "lower_is_better"),  # v2: "right now", as the item asks
    "PEG": (3, "mean", [0, 10], 168, "lower_is_better"),
    "MOOD": (1, "sum", [0, 10], 0, "higher_is_better"),
    "EPDS": (10, "sum", [0, 30], 168, "lower_is_better"),
    "C-SSRS-SCREENER": (7, "triage", [0, 3], 720, "lower_is_better"),
    "QIDS-SR16": (16, "domains", [0, 27], 168, "lower_is_better"),
}


@pytest.mark.parametrize("code", sorted(EXPECTED_SHAPE))
def test_items_scoring_and_recall_window(code):
    defn = _defn(code)
    n, method, rng, hours, direction = EXPECTED_SHAPE[code]
    assert len(defn.items) == n
    assert [i.link_id for i in defn.items if not i.link_id.startswith("q")] == [
        f"item{k}" for k in range(1, len([i for i in defn.items if i.link_id[0] != "q"]) + 1)
    ]
    assert defn.scoring.method == method
    assert list(defn.scoring.range) == rng
    assert defn.recall.hours == hours
    assert defn.direction == direction


def test_epds_reverse_items_are_3_and_5_to_10():
    # Cox 1987: items 1, 2 and 4 score 0..3 down the page, the rest 3..0.
    defn = _defn("EPDS")
    assert [int(i.link_id[4:]) for i in defn.items if i.reverse] == [3, 5, 6, 7, 8, 9, 10]


def test_pcl5_clusters():
    sub = {s.code: s.items for s in _defn("PCL-5").scoring.subscales}
    assert sub == {
        "B": [f"item{i}" for i in range(1, 6)],
        "C": ["item6", "item7"],
        "D": [f"item{i}" for i in range(8, 15)],
        "E": [f"item{i}" for i in range(15, 21)],
    }
    (rule,) = _defn("PCL-5").scoring.rules
    assert rule.type == "dsm5_clusters"
    assert rule.endorsed_at == 2
    assert rule.require == {"B": 1, "C": 1, "D": 2, "E": 2}


def test_pcl5_cutoff_choice_is_noted_as_configurable():
    assert any("31-33" in n and "33" in n for n in _defn("PCL-5").notes)


def test_cssrs_skip_logic():
    defn = _defn("C-SSRS-SCREENER")
    assert [i.link_id for i in defn.items] == ["q1", "q2", "q3", "q4", "q5", "q6", "q6_recent"]
    for q in ("q3", "q4", "q5"):
        assert defn.item(q).enable_when.model_dump() == {"link_id": "q2", "equals": 1}
    assert defn.item("q6_recent").enable_when.model_dump() == {"link_id": "q6", "equals": 1}
    assert defn.item("q1").enable_when is None
    assert defn.item("q6").enable_when is None


EXPECTED_THRESHOLDS = {
    # code: (remission_below, mid)
    "PHQ-9": (5, 5),  # CMS159 / NQF 0710; Loewe 2004
    "GAD-7": (5, 4),  # Toussaint 2020
    "PAIN-NRS": (None, 2),  # Farrar 2001
    "PCL-5": (None, 10),
    "MOOD": (None, 2),
    "PEG": (None, 2),
}


@pytest.mark.parametrize("code", sorted(EXPECTED_THRESHOLDS))
def test_thresholds_match_the_clinical_reference(code):
    t = _defn(code).thresholds
    assert (t.remission_below, t.mid) == EXPECTED_THRESHOLDS[code]
    assert t.response_pct == 50
    assert t.partial_response_pct == 30
    assert "mid" in t.sources


@pytest.mark.parametrize("code", ["MOOD", "PEG"])
def test_unverified_mid_says_so(code):
    defn = _defn(code)
    assert "UNVERIFIED" in defn.thresholds.sources["mid"]
    assert any("UNVERIFIED" in n for n in defn.notes)


def test_peg_licence_is_marked_unverified():
    assert "UNVERIFIED" in _defn("PEG").licence.terms


def test_safety_rules():
    phq9 = _defn("PHQ-9").safety
    assert [(r.code, r.severity, r.when.model_dump()) for r in phq9] == [
        ("phq9_item9_self_harm", "high", {"link_id": "item9", "op": "gt", "value": 0})
    ]
    epds = _defn("EPDS").safety
    assert [(r.severity, r.when.model_dump()) for r in epds] == [
        ("high", {"link_id": "item10", "op": "gt", "value": 0})
    ]
    cssrs = {r.code: r for r in _defn("C-SSRS-SCREENER").safety}
    for q in ("q1", "q2", "q3", "q4", "q5", "q6"):
        assert cssrs[f"cssrs_{q}_yes"].when.model_dump() == {"link_id": q, "op": "eq", "value": 1}
    assert cssrs["cssrs_triage_high"].severity == "urgent"
    assert cssrs["cssrs_triage_high"].when_band == "high"
    assert cssrs["cssrs_triage_moderate"].when_band == "moderate"
    for code in ("PHQ-2", "GAD-7", "GAD-2", "PCL-5", "PAIN-NRS", "PEG", "MOOD"):
        assert _defn(code).safety == []


# --- licensed text ---------------------------------------------------------------------


def _texts_for(template: dict) -> dict:
    return {
        "items": {it["link_id"]: f"Licensed text of {it['link_id']}" for it in template["items"]},
        "options": {
            name: [f"{name} label {o['value']}" for o in options]
            for name, options in template["option_sets"].items()
        },
    }


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_merge_licensed_text_fills_every_text(path):
    template = _raw(path)
    before = copy.deepcopy(template)
    merged = merge_licensed_text(template, _texts_for(template))
    assert template == before  # the template itself is left alone
    defn = parse_definition(merged)
    assert defn.text_included
    assert all(i.text == f"Licensed text of {i.link_id}" for i in defn.items)
    assert all(o.text for opts in defn.option_sets.values() for o in opts)
    # Everything but the text is the template's.
    assert {
        k: v for k, v in merged.items() if k not in ("items", "option_sets", "text_included")
    } == {k: v for k, v in template.items() if k not in ("items", "option_sets", "text_included")}
    assert [{**i, "text": None} for i in merged["items"]] == template["items"]


def test_merge_refuses_a_missing_link_id():
    template = _raw(TEMPLATES[0])
    texts = _texts_for(template)
    first = template["items"][0]["link_id"]
    del texts["items"][first]
    with pytest.raises(DefinitionError, match=first):
        merge_licensed_text(template, texts)


def test_merge_refuses_an_unknown_link_id():
    template = _raw(TEMPLATES[0])
    texts = _texts_for(template)
    texts["items"]["item99"] = "Not an item"
    with pytest.raises(DefinitionError, match="item99"):
        merge_licensed_text(template, texts)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda t: t["options"].popitem(),
        lambda t: t["options"].__setitem__("nope", ["a"]),
        lambda t: next(iter(t["options"].values())).pop(),
        lambda t: t["items"].__setitem__(next(iter(t["items"])), ""),
        lambda t: t["items"].__setitem__(next(iter(t["items"])), 3),
        lambda t: t.__setitem__("extra", {}),
    ],
    ids=[
        "missing option set",
        "unknown option set",
        "short labels",
        "blank text",
        "non-text",
        "unknown key",
    ],
)
def test_merge_refuses_incomplete_or_wrong_texts(spoil):
    template = _raw(TEMPLATES[0])
    texts = _texts_for(template)
    spoil(texts)
    with pytest.raises(DefinitionError):
        merge_licensed_text(template, texts)


def test_merge_refuses_a_definition_that_already_has_text():
    phq9 = _by_code()["PHQ-9"]
    with pytest.raises(DefinitionError, match="already includes text"):
        merge_licensed_text(phq9, {"items": {}, "options": {}})


# --- content digest --------------------------------------------------------------------


def test_content_digest_is_canonical():
    a = {"b": 1, "a": [1, 2, {"y": "é", "x": None}]}
    b = {"a": [1, 2, {"x": None, "y": "é"}], "b": 1}
    assert content_digest(a) == content_digest(b)
    assert len(content_digest(a)) == 64
    assert content_digest(a) != content_digest({**a, "b": 2})


def test_content_digest_of_a_parsed_definition_is_that_of_its_file():
    for path in SHIPPED:
        raw = _raw(path)
        assert content_digest(parse_definition(raw).model_dump(mode="json")) == content_digest(raw)


# --- the parser refuses broken definitions ---------------------------------------------


def _phq9() -> dict:
    return copy.deepcopy(_by_code()["PHQ-9"])


def _rejects(data: dict, *fragments: str) -> None:
    with pytest.raises(DefinitionError) as exc:
        parse_definition(data)
    for fragment in fragments:
        assert fragment in str(exc.value)


def test_rejects_a_gap_between_bands():
    d = _phq9()
    d["bands"][1]["max"] = 8  # mild 5-8, moderate from 10: nothing covers 9
    _rejects(d, "gap", "9..9")


def test_rejects_overlapping_bands():
    d = _phq9()
    d["bands"][1]["max"] = 10
    _rejects(d, "overlap")


def test_rejects_bands_that_do_not_reach_the_ends_of_the_range():
    d = _phq9()
    d["bands"][-1]["max"] = 26
    _rejects(d, "gap")
    d = _phq9()
    d["bands"][0]["min"] = 1
    _rejects(d, "gap")


def test_rejects_bands_outside_the_range():
    d = _phq9()
    d["bands"][-1]["max"] = 30
    _rejects(d, "outside range")


def test_rejects_bands_out_of_order():
    d = _phq9()
    d["bands"].reverse()
    _rejects(d, "lowest to highest")


def test_rejects_duplicate_link_ids():
    d = _phq9()
    d["items"][1]["link_id"] = "item1"
    _rejects(d, "duplicate link_id item1")


def test_rejects_a_choice_item_with_an_unknown_option_set():
    d = _phq9()
    d["items"][0]["option_set"] = "agreement"
    _rejects(d, "item1", "unknown option_set agreement")


def test_rejects_reverse_on_an_unscored_item():
    d = _phq9()
    d["items"][9]["reverse"] = True
    _rejects(d, "item10 is reversed but not scored")


def test_rejects_a_safety_rule_naming_an_unknown_item():
    d = _phq9()
    d["safety"][0]["when"]["link_id"] = "item99"
    _rejects(d, "unknown item item99")


def test_rejects_a_safety_rule_naming_an_unknown_band():
    d = _phq9()
    d["safety"].append({"code": "x", "severity": "urgent", "when": None, "when_band": "dire"})
    _rejects(d, "unknown band dire")


def test_rejects_a_range_the_items_cannot_produce():
    d = _phq9()
    d["scoring"]["range"] = [0, 30]
    d["bands"][-1]["max"] = 30
    _rejects(d, "differs from what the scored items give")


def test_rejects_a_mistyped_loinc_code():
    d = _phq9()
    d["loinc"]["total"] = "44261-7"
    _rejects(d, "check digit")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("items", 0, "required"), "yes"),
        (("bands", 0, "max"), "4"),
        (("bands", 0, "max"), 4.0),
        (("recall", "hours"), -1),
        (("direction",), "up"),
    ],
)
def test_rejects_wrong_types_without_coercing(path, value):
    d = _phq9()
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _rejects(d)


def test_rejects_an_unknown_key():
    d = _phq9()
    d["items"][0]["weight"] = 2
    _rejects(d, "items.0.weight")


def test_rejects_text_in_a_definition_that_says_it_has_none():
    d = copy.deepcopy(_by_code()["EPDS"])
    d["items"][0]["text"] = "Leaked licensed text"
    _rejects(d, "text_included is false")


def test_rejects_missing_text_in_a_definition_that_says_it_has_it():
    d = _phq9()
    d["items"][0]["text"] = None
    _rejects(d, "text is missing", "item1")


def test_rejects_a_threshold_without_a_source():
    d = _phq9()
    del d["thresholds"]["sources"]["mid"]
    _rejects(d, "mid has no entry in sources")


def test_rejects_a_scored_conditional_item():
    d = _phq9()
    d["items"][1]["enable_when"] = {"link_id": "item1", "equals": 1}
    _rejects(d, "item2 must be required and unconditional")


def test_rejects_enable_when_on_a_later_item():
    d = copy.deepcopy(_by_code()["C-SSRS-SCREENER"])
    d["items"][2]["enable_when"]["link_id"] = "q6"
    _rejects(d, "not an earlier item")


def test_rejects_a_dsm5_rule_naming_an_unknown_cluster():
    d = copy.deepcopy(_by_code()["PCL-5"])
    d["scoring"]["rules"][0]["require"]["F"] = 1
    _rejects(d, "unknown subscale F")


def test_rejects_options_out_of_order():
    d = _phq9()
    d["option_sets"]["frequency"].reverse()
    _rejects(d, "strictly ascending")


def test_rejects_a_non_object():
    with pytest.raises(DefinitionError):
        parse_definition([])  # type: ignore[arg-type]


def test_load_definition_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.v1.json"
    bad.write_text("{not json")
    with pytest.raises(DefinitionError, match=r"broken\.v1\.json"):
        load_definition_file(bad)


def test_qids_totals_the_worst_item_of_each_domain():
    # Rush 2003 / ids-qids.org: the highest of items 1-4, item 5, the highest of 6-9,
    # items 10-14, the highest of 15-16; 0-27.
    defn = _defn("QIDS-SR16")
    answers = {f"item{i}": 0 for i in range(1, 17)}
    answers.update(item1=3, item2=1, item4=2, item5=2, item7=1, item9=3, item12=1, item16=2)
    scored = score(defn, answers)
    assert scored.subscales["sleep"] == 3
    assert scored.subscales["appetite_weight"] == 3
    assert scored.total == 3 + 2 + 3 + 1 + 2
    assert scored.band == "moderate"
    assert [h.code for h in scored.safety] == ["qids_item12_death_or_suicide"]
    worst = score(defn, {f"item{i}": 3 for i in range(1, 17)})
    assert (worst.total, worst.band) == (27, "very severe")
    assert {h.code for h in worst.safety} == {
        "qids_item12_death_or_suicide",
        "qids_item12_plans_or_attempt",
    }


def test_a_domains_total_needs_every_scored_item_in_one_domain():
    raw = _by_code()["QIDS-SR16"]
    bad = {**raw, "scoring": {**raw["scoring"], "subscales": raw["scoring"]["subscales"][1:]}}
    with pytest.raises(DefinitionError, match="exactly one subscale"):
        parse_definition(bad)
