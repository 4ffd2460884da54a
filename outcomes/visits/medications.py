"""Concomitant medications: which ingredient, and which class, a free-text entry names.

Medication names arrive as typed, mostly as brands ("Ativan 1 mg", "XANAX-XR 0.5mg tab",
"clonazePAM"), so we match ingredients, not strings (docs/clinical/INSTRUMENTS.md). The
table beside this module (medication_table.json, versioned) lists each ingredient's class
and the brands and synonyms it is written as. The four classes are the SPRAVATO REMS
Patient Monitoring Form's concomitant-medication items; benzodiazepines also blunt
ketamine's effect.

A name matches as whole words: case, strength, form, release words and punctuation around
it are ignored, but a name is never found inside another word ("valiumx", "loraz"), so a
misspelling matches nothing rather than the wrong drug. Pure, no Django.
"""

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_TABLE = json.loads(Path(__file__).with_name("medication_table.json").read_text())

TABLE_VERSION: str = _TABLE["version"]
DRUG_CLASSES: tuple[str, ...] = tuple(_TABLE["classes"])
_CLASS_LABELS: dict[str, str] = {key: c["label"] for key, c in _TABLE["classes"].items()}

# Letters and digits are separate words, so "Ativan1mg" still reads as "ativan 1 mg".
_WORD = re.compile(r"[a-z]+|[0-9]+")


def _words(text: str) -> tuple[str, ...]:
    """Lower-case words with accents dropped ("Rivotril®" -> ("rivotril",))."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return tuple(_WORD.findall(plain.casefold()))


@dataclass(frozen=True)
class MedicationMatch:
    ingredient: str  # "lorazepam"
    drug_class: str  # one of DRUG_CLASSES
    matched: str  # the name that matched, as the table spells it ("Ativan")

    def describe(self) -> str:
        """E.g. "Ativan: lorazepam (benzodiazepine)"; a generic name is not repeated."""
        label = _CLASS_LABELS[self.drug_class]
        if self.matched.casefold() == self.ingredient:
            return f"{self.ingredient} ({label})"
        return f"{self.matched}: {self.ingredient} ({label})"


_Phrase = tuple[tuple[str, ...], tuple[MedicationMatch, ...]]


def _index(table: dict) -> dict[str, tuple[_Phrase, ...]]:
    """Every listed name as words, keyed by its first word, longest phrase first (so "Xanax
    XR" wins over "Xanax"). A combination's name carries one match per ingredient."""
    found: dict[tuple[str, ...], list[MedicationMatch]] = {}
    for ingredient, entry in table["ingredients"].items():
        for spelled in (ingredient, *entry["brands"], *entry["synonyms"]):
            matches = found.setdefault(_words(spelled), [])
            if all(m.ingredient != ingredient for m in matches):
                matches.append(MedicationMatch(ingredient, entry["class"], spelled))
    by_first: dict[str, list[_Phrase]] = {}
    for words, matches in found.items():
        by_first.setdefault(words[0], []).append((words, tuple(matches)))
    return {
        first: tuple(sorted(phrases, key=lambda phrase: -len(phrase[0])))
        for first, phrases in by_first.items()
    }


_PHRASES = _index(_TABLE)


def _scan(name: str) -> Iterable[MedicationMatch]:
    # One pass over the words; at each, only the few phrases that start with that word.
    words = _words(name)
    i = 0
    while i < len(words):
        for phrase, matches in _PHRASES.get(words[i], ()):
            if words[i : i + len(phrase)] == phrase:
                yield from matches
                i += len(phrase)
                break
        else:
            i += 1


def _first_per_ingredient(matches: Iterable[MedicationMatch]) -> list[MedicationMatch]:
    kept: dict[str, MedicationMatch] = {}
    for match in matches:
        kept.setdefault(match.ingredient, match)
    return list(kept.values())


def match_medication(name: str) -> list[MedicationMatch]:
    """The tracked ingredients one free-text entry names, in the order written, each once
    ("lorazepam (Ativan) PRN" is one lorazepam); a combination brand gives each of its
    tracked ingredients."""
    return _first_per_ingredient(_scan(name))


def match_medications(names: Iterable[str]) -> list[MedicationMatch]:
    """match_medication over a list, each ingredient once: its first match is kept."""
    return _first_per_ingredient(match for name in names for match in _scan(name))
