"""The concomitant-medication table and matcher (outcomes/visits/medications.py): brands and
generics as clinics type them, the table's integrity, and a hypothesis property over every
listed name. No database and no Django."""

import dataclasses
import json
import re
from itertools import cycle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import outcomes.visits.medications as medications_module
from outcomes.visits.medications import (
    DRUG_CLASSES,
    TABLE_VERSION,
    MedicationMatch,
    match_medication,
    match_medications,
)

TABLE = json.loads((Path(medications_module.__file__).parent / "medication_table.json").read_text())
CLASSES = {"benzodiazepine", "z_drug", "stimulant", "maoi"}


def _key(name: str) -> tuple[str, ...]:
    # The same reading of a name as the matcher's, written out again so the integrity tests
    # do not lean on the code they check.
    return tuple(re.findall(r"[a-z]+|[0-9]+", name.casefold()))


def _names_to_ingredients() -> dict[str, set[str]]:
    """Every brand and synonym in the table, with the ingredients it is listed under."""
    found: dict[str, set[str]] = {}
    for ingredient, entry in TABLE["ingredients"].items():
        for name in (*entry["brands"], *entry["synonyms"]):
            found.setdefault(name, set()).add(ingredient)
    return found


def _ingredients(name: str) -> set[str]:
    return {m.ingredient for m in match_medication(name)}


# --- brands as the clinic writes them ---------------------------------------------------------


# Written out independently of the table: each brand named in the issue and the brief, and
# what it really contains.
BRANDS = {
    # benzodiazepines
    "Ativan": ({"lorazepam"}, "benzodiazepine"),
    "Xanax": ({"alprazolam"}, "benzodiazepine"),
    "Xanax XR": ({"alprazolam"}, "benzodiazepine"),
    "Niravam": ({"alprazolam"}, "benzodiazepine"),
    "Klonopin": ({"clonazepam"}, "benzodiazepine"),
    "Rivotril": ({"clonazepam"}, "benzodiazepine"),
    "Valium": ({"diazepam"}, "benzodiazepine"),
    "Diastat": ({"diazepam"}, "benzodiazepine"),
    "Valtoco": ({"diazepam"}, "benzodiazepine"),
    "Restoril": ({"temazepam"}, "benzodiazepine"),
    "Halcion": ({"triazolam"}, "benzodiazepine"),
    "Librium": ({"chlordiazepoxide"}, "benzodiazepine"),
    "Librax": ({"chlordiazepoxide"}, "benzodiazepine"),
    "Tranxene": ({"clorazepate"}, "benzodiazepine"),
    "Serax": ({"oxazepam"}, "benzodiazepine"),
    "Doral": ({"quazepam"}, "benzodiazepine"),
    "ProSom": ({"estazolam"}, "benzodiazepine"),
    "Onfi": ({"clobazam"}, "benzodiazepine"),
    "Sympazan": ({"clobazam"}, "benzodiazepine"),
    "Seizalam": ({"midazolam"}, "benzodiazepine"),
    "Byfavo": ({"remimazolam"}, "benzodiazepine"),
    # Z-drugs
    "Ambien": ({"zolpidem"}, "z_drug"),
    "Ambien CR": ({"zolpidem"}, "z_drug"),
    "Intermezzo": ({"zolpidem"}, "z_drug"),
    "Edluar": ({"zolpidem"}, "z_drug"),
    "Zolpimist": ({"zolpidem"}, "z_drug"),
    "Stilnox": ({"zolpidem"}, "z_drug"),
    "Sonata": ({"zaleplon"}, "z_drug"),
    "Lunesta": ({"eszopiclone"}, "z_drug"),
    "Imovane": ({"zopiclone"}, "z_drug"),
    # psychostimulants
    "Adderall": ({"amphetamine", "dextroamphetamine"}, "stimulant"),
    "Mydayis": ({"amphetamine", "dextroamphetamine"}, "stimulant"),
    "Dexedrine": ({"dextroamphetamine"}, "stimulant"),
    "Zenzedi": ({"dextroamphetamine"}, "stimulant"),
    "ProCentra": ({"dextroamphetamine"}, "stimulant"),
    "Evekeo": ({"amphetamine"}, "stimulant"),
    "Adzenys": ({"amphetamine"}, "stimulant"),
    "Vyvanse": ({"lisdexamfetamine"}, "stimulant"),
    "Elvanse": ({"lisdexamfetamine"}, "stimulant"),
    "Ritalin": ({"methylphenidate"}, "stimulant"),
    "Concerta": ({"methylphenidate"}, "stimulant"),
    "Metadate": ({"methylphenidate"}, "stimulant"),
    "Quillichew": ({"methylphenidate"}, "stimulant"),
    "Daytrana": ({"methylphenidate"}, "stimulant"),
    "Aptensio": ({"methylphenidate"}, "stimulant"),
    "Jornay": ({"methylphenidate"}, "stimulant"),
    "Focalin": ({"dexmethylphenidate"}, "stimulant"),
    "Azstarys": ({"dexmethylphenidate", "serdexmethylphenidate"}, "stimulant"),
    "Desoxyn": ({"methamphetamine"}, "stimulant"),
    "Provigil": ({"modafinil"}, "stimulant"),
    "Nuvigil": ({"armodafinil"}, "stimulant"),
    # MAOIs
    "Nardil": ({"phenelzine"}, "maoi"),
    "Parnate": ({"tranylcypromine"}, "maoi"),
    "Marplan": ({"isocarboxazid"}, "maoi"),
    "Emsam": ({"selegiline"}, "maoi"),
    "Eldepryl": ({"selegiline"}, "maoi"),
    "Zelapar": ({"selegiline"}, "maoi"),
    "Azilect": ({"rasagiline"}, "maoi"),
    "Xadago": ({"safinamide"}, "maoi"),
    "Manerix": ({"moclobemide"}, "maoi"),
}


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_named_brand_maps_to_its_ingredient_and_class(brand):
    ingredients, drug_class = BRANDS[brand]
    matches = match_medication(brand)
    assert {m.ingredient for m in matches} == ingredients
    assert {m.drug_class for m in matches} == {drug_class}
    assert all(m.matched.casefold() == brand.casefold() for m in matches)


@pytest.mark.parametrize(
    ("written", "ingredient"),
    [
        ("Ativan", "lorazepam"),
        ("Xanax XR", "alprazolam"),
        ("Klonopin", "clonazepam"),
        ("Valium", "diazepam"),
        ("Restoril", "temazepam"),
    ],
)
def test_the_issues_brands_raise_a_benzodiazepine(written, ingredient):
    assert match_medication(written) == [
        MedicationMatch(ingredient=ingredient, drug_class="benzodiazepine", matched=written)
    ]


@pytest.mark.parametrize(("name", "ingredients"), sorted(_names_to_ingredients().items()))
def test_every_listed_name_is_reachable_on_its_own(name, ingredients):
    """No phrase shadows another: each brand or synonym alone gives exactly the ingredients
    it is listed under, spelled as the table spells it."""
    matches = match_medication(name)
    assert {m.ingredient for m in matches} == ingredients
    assert {m.matched for m in matches} == {name}


# --- dose strings, tall-man lettering, salts ---------------------------------------------------


@pytest.mark.parametrize(
    ("written", "ingredient", "matched"),
    [
        ("Ativan 1 mg", "lorazepam", "Ativan"),
        ("Ativan1mg", "lorazepam", "Ativan"),
        ("XANAX-XR 0.5mg tab", "alprazolam", "Xanax XR"),
        ("xanax xr 1 mg ER tablet qhs", "alprazolam", "Xanax XR"),
        ("Xanax 0.25 mg PRN", "alprazolam", "Xanax"),
        ("Klonopin wafer", "clonazepam", "Klonopin"),
        ("Ambien CR 12.5 mg at bedtime", "zolpidem", "Ambien CR"),
        ("Ambien 5mg", "zolpidem", "Ambien"),
        ("Valtoco 10 mg nasal spray", "diazepam", "Valtoco"),
        ("Emsam 6 mg/24 hr patch", "selegiline", "Emsam"),
        ("Adzenys XR-ODT 12.5 mg", "amphetamine", "Adzenys"),
        ("Elvanse Adult 30mg capsule", "lisdexamfetamine", "Elvanse Adult"),
        ("Rivotril® 0,5 mg", "clonazepam", "Rivotril"),
        ("  restoril\t15mg  ", "temazepam", "Restoril"),
    ],
)
def test_strength_form_and_punctuation_around_a_name_are_ignored(written, ingredient, matched):
    [match] = match_medication(written)
    assert (match.ingredient, match.matched) == (ingredient, matched)


def test_a_generic_with_its_brand_in_brackets_is_one_ingredient():
    assert match_medication("lorazepam (Ativan) PRN") == [
        MedicationMatch(ingredient="lorazepam", drug_class="benzodiazepine", matched="lorazepam")
    ]


@pytest.mark.parametrize(
    ("written", "ingredient"),
    [
        ("clonazePAM", "clonazepam"),
        ("LORazepam", "lorazepam"),
        ("ALPRAZolam", "alprazolam"),
        ("diazePAM", "diazepam"),
        ("temazePAM", "temazepam"),
        ("chlordiazePOXIDE", "chlordiazepoxide"),
        ("zolpidem", "zolpidem"),
        ("methylPHENIDATE", "methylphenidate"),
        ("dexmethylPHENIDATE", "dexmethylphenidate"),
    ],
)
def test_tall_man_lettering(written, ingredient):
    assert _ingredients(written) == {ingredient}


@pytest.mark.parametrize(
    ("written", "ingredient"),
    [
        ("methylphenidate hydrochloride 10 mg", "methylphenidate"),
        ("dextroamphetamine sulfate 5 mg", "dextroamphetamine"),
        ("lisdexamfetamine dimesylate 30 mg", "lisdexamfetamine"),
        ("amphetamine sulfate", "amphetamine"),
        ("clorazepate dipotassium 7.5 mg", "clorazepate"),
        ("zolpidem tartrate 10 mg", "zolpidem"),
        ("midazolam hydrochloride", "midazolam"),
        ("selegiline hydrochloride", "selegiline"),
        ("tranylcypromine sulfate", "tranylcypromine"),
        ("phenelzine sulfate", "phenelzine"),
        ("chlordiazepoxide HCl", "chlordiazepoxide"),
        ("methamphetamine HCl", "methamphetamine"),
        ("dexamfetamine sulfate", "dextroamphetamine"),
        ("d-amphetamine", "dextroamphetamine"),
    ],
)
def test_a_salt_or_spelling_variant_matches_the_ingredient(written, ingredient):
    assert _ingredients(written) == {ingredient}


def test_a_combination_gives_each_tracked_ingredient():
    assert _ingredients("Adderall XR 20 mg") == {"amphetamine", "dextroamphetamine"}
    assert _ingredients("mixed amphetamine salts 10 mg") == {"amphetamine", "dextroamphetamine"}
    assert _ingredients("amphetamine/dextroamphetamine") == {"amphetamine", "dextroamphetamine"}
    # clidinium and amitriptyline are not tracked: only the benzodiazepine is reported
    assert _ingredients("Librax 1 cap tid") == {"chlordiazepoxide"}
    assert _ingredients("Limbitrol DS") == {"chlordiazepoxide"}


# --- what must not match -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "sertraline 100 mg",
        "bupropion XL 300mg",
        "lamotrigine",
        "ketamine 0.5 mg/kg IV",
        "esketamine",
        "Spravato 84 mg",
        "ondansetron 4mg ODT",
        "melatonin 3 mg",
        "trazodone 50 mg qhs",
        "traZODone",
        "gabapentin 300 mg",
        "XR",
        "mg",
        "",
        "   ",
        # never inside another word
        "valiumx",
        "loraz",
        "emsamble",
        "xanaxx",
        "klonopins",
        "nonlorazepam",
        "lorazepamine",
    ],
)
def test_other_drugs_and_fragments_match_nothing(written):
    assert match_medication(written) == []


def _excluded_names() -> list[tuple[str, str]]:
    return [
        (drug_class, name)
        for drug_class, spec in TABLE["classes"].items()
        for group in spec["excluded"]
        for name in group["names"]
    ]


@pytest.mark.parametrize(("drug_class", "name"), _excluded_names())
def test_what_the_table_says_it_excludes_matches_nothing(drug_class, name):
    assert match_medication(f"{name} 10 mg") == []


# --- a list of medications ---------------------------------------------------------------------


def test_a_list_keeps_the_first_match_of_each_ingredient_in_order():
    found = match_medications(
        ["sertraline 100 mg", "Ativan 1 mg", "lorazepam 0.5 mg", "Xanax", "ATIVAN", "Emsam"]
    )
    assert [(m.ingredient, m.matched) for m in found] == [
        ("lorazepam", "Ativan"),
        ("alprazolam", "Xanax"),
        ("selegiline", "Emsam"),
    ]


def test_a_combination_and_a_single_ingredient_in_one_list_are_not_doubled():
    found = match_medications(["Dexedrine 5 mg", "Adderall 10 mg"])
    assert [(m.ingredient, m.matched) for m in found] == [
        ("dextroamphetamine", "Dexedrine"),
        ("amphetamine", "Adderall"),
    ]


def test_a_list_takes_any_iterable_and_an_empty_one_gives_nothing():
    assert match_medications(iter(["Klonopin", "Restoril"])) == [
        MedicationMatch("clonazepam", "benzodiazepine", "Klonopin"),
        MedicationMatch("temazepam", "benzodiazepine", "Restoril"),
    ]
    assert match_medications([]) == []
    assert match_medications(["gabapentin", ""]) == []


# --- describe() and the match itself -----------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "described"),
    [
        ("Ativan 1 mg", "Ativan: lorazepam (benzodiazepine)"),
        ("lorazepam 1 mg", "lorazepam (benzodiazepine)"),
        ("LORazepam", "lorazepam (benzodiazepine)"),
        ("Ambien CR", "Ambien CR: zolpidem (Z-drug sedative-hypnotic)"),
        ("Vyvanse 30 mg", "Vyvanse: lisdexamfetamine (psychostimulant)"),
        ("Emsam patch", "Emsam: selegiline (MAOI)"),
        ("dexamfetamine", "dexamfetamine: dextroamphetamine (psychostimulant)"),
    ],
)
def test_describe(written, described):
    [match] = match_medication(written)
    assert match.describe() == described


def test_a_match_cannot_be_changed():
    [match] = match_medication("Ativan")
    with pytest.raises(dataclasses.FrozenInstanceError):
        match.ingredient = "diazepam"  # type: ignore[misc]


# --- the table ---------------------------------------------------------------------------------


def test_the_table_is_versioned():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", TABLE["version"])
    assert TABLE["version"] == TABLE_VERSION
    assert TABLE["source"].strip()


def test_the_table_has_exactly_the_four_classes():
    assert set(TABLE["classes"]) == CLASSES
    assert set(DRUG_CLASSES) == CLASSES
    for spec in TABLE["classes"].values():
        assert spec["label"].strip()
        assert spec["scope"].strip()
        assert all(group["names"] and group["why"].strip() for group in spec["excluded"])


def test_every_ingredient_has_a_known_class_and_lists_of_names():
    for ingredient, entry in TABLE["ingredients"].items():
        assert ingredient == ingredient.lower() and _key(ingredient) == (ingredient,)
        assert entry["class"] in CLASSES, ingredient
        assert isinstance(entry["brands"], list) and isinstance(entry["synonyms"], list)
        assert all(_key(name) for name in (*entry["brands"], *entry["synonyms"])), ingredient


def test_no_name_is_listed_twice_under_one_ingredient():
    for ingredient, entry in TABLE["ingredients"].items():
        keys = [_key(name) for name in (ingredient, *entry["brands"], *entry["synonyms"])]
        assert len(keys) == len(set(keys)), ingredient


def test_a_name_names_one_ingredient_unless_it_is_a_declared_combination():
    tracked = set(TABLE["ingredients"])
    by_key: dict[tuple[str, ...], set[str]] = {}
    spellings: dict[tuple[str, ...], set[str]] = {}
    for name, ingredients in _names_to_ingredients().items():
        by_key.setdefault(_key(name), set()).update(ingredients)
        spellings.setdefault(_key(name), set()).add(name)
    combinations = {_key(name): set(actives) for name, actives in TABLE["combinations"].items()}
    for key, ingredients in by_key.items():
        # one spelling per name, whichever ingredient lists it
        assert len(spellings[key]) == 1, spellings[key]
        if len(ingredients) > 1:
            assert key in combinations, (key, ingredients)
    for key, actives in combinations.items():
        assert len(actives) >= 2, key
        # listed under exactly the tracked ingredients it contains
        assert by_key[key] == actives & tracked, key
    # a brand or synonym never spells another ingredient's generic name
    for key, ingredients in by_key.items():
        if len(key) == 1 and key[0] in tracked:
            assert ingredients == {key[0]}, key


def test_the_classes_hold_the_ingredients_the_rems_form_asks_about():
    by_class: dict[str, set[str]] = {}
    for ingredient, entry in TABLE["ingredients"].items():
        by_class.setdefault(entry["class"], set()).add(ingredient)
    assert by_class["benzodiazepine"] >= {
        # what outcomes/services/infusions.py matched by generic name before this table
        "alprazolam",
        "bromazepam",
        "chlordiazepoxide",
        "clobazam",
        "clonazepam",
        "clorazepate",
        "diazepam",
        "estazolam",
        "flurazepam",
        "lorazepam",
        "midazolam",
        "oxazepam",
        "quazepam",
        "temazepam",
        "triazolam",
        "nitrazepam",
        "lormetazepam",
        "remimazolam",
    }
    assert by_class["z_drug"] == {"zolpidem", "zaleplon", "eszopiclone", "zopiclone"}
    assert by_class["stimulant"] >= {
        "amphetamine",
        "dextroamphetamine",
        "lisdexamfetamine",
        "methylphenidate",
        "dexmethylphenidate",
        "methamphetamine",
        "modafinil",
        "armodafinil",
    }
    assert by_class["maoi"] >= {"phenelzine", "tranylcypromine", "isocarboxazid", "selegiline"}


# --- property: any dose text around any listed name -------------------------------------------

NAMES = sorted(_names_to_ingredients().items())
UNITS = ["mg", "MG", "mcg", "mg/ml", "mg/kg", "ml", "mg/24hr", "%", ""]
FORMS = ["", "tab", "tablet", "cap", "ER", "XL", "PRN", "qhs", "bid", "po", "patch", "(brand)"]


def _recase(text: str, upper: list[bool]) -> str:
    return "".join(c.upper() if up else c.lower() for c, up in zip(text, cycle(upper)))


@settings(max_examples=400)
@given(
    named=st.sampled_from(NAMES),
    upper=st.lists(st.booleans(), min_size=1, max_size=30),
    amount=st.decimals(min_value="0.01", max_value="1000", places=2),
    separator=st.sampled_from([" ", "", "-", ", ", " / ", "\t"]),
    unit=st.sampled_from(UNITS),
    form=st.sampled_from(FORMS),
)
def test_any_case_and_dose_text_around_a_name_still_match(
    named, upper, amount, separator, unit, form
):
    name, ingredients = named
    written = f"{_recase(name, upper)}{separator}{amount} {unit} {form}"
    assert {m.ingredient for m in match_medication(written)} == ingredients
