"""Condition templates: the cadence each condition needs, shipped as data (the JSON files
beside this module; docs/clinical/INSTRUMENTS.md, "Conditions and what measures them").
Pure, no ORM: plan_store.py turns them into each clinic's editable template plans.

A template names the instruments it wants. Where the clinic cannot ask one (EPDS without
the clinic's licence, a mania screen nobody has loaded) it asks the template's substitute
(`substitutes`, e.g. PHQ-9 for EPDS) or drops it, and says so in `notes`.

Every template asks its outcome instruments at baseline, a short-recall signal (MOOD,
"right now") in the first hours and days and then weekly, and its validated measure as
often as its recall allows: PHQ-9 / GAD-7 every 15 days (a 14-day recall plus the step's
24-hour answer window), up to 12 weeks after an infusion or until the next one.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_DIR = Path(__file__).parent
# A patient with no recorded condition follows the clinic's default plan: depression and
# anxiety together (what the clinic's intake measures).
DEFAULT_CONDITIONS = ("trd", "anxiety")


@dataclass(frozen=True)
class Template:
    condition: str
    name: str
    description: str
    source: str
    substitutes: dict[str, str]
    steps: list[dict]
    # Instruments we do not ship (their licence forbids it): asked where a clinic loaded them.
    licensed: list[str]


@dataclass(frozen=True)
class Adapted:
    steps: list[dict]
    notes: tuple[str, ...]


@cache
def templates() -> dict[str, Template]:
    found = {}
    for path in sorted(_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        found[raw["condition"]] = Template(**raw)
    return found


def adapt(template: Template, available: Iterable[str]) -> Adapted:
    """The template's steps with what this clinic can ask: a missing instrument replaced by
    its substitute, or dropped (a step left empty is dropped too)."""
    can = set(available)
    notes: list[str] = []
    steps: list[dict] = []
    for raw in template.steps:
        codes: list[str] = []
        for code in raw["instruments"]:
            if code not in can:
                sub = template.substitutes.get(code)
                if sub and sub in can:
                    note = f"{code} is not available to this clinic: {sub} is asked instead."
                    code = sub
                else:
                    note = f"{code} is not available to this clinic: not asked."
                if note not in notes:
                    notes.append(note)
            if code in can and code not in codes:
                codes.append(code)
        if codes:
            steps.append({**raw, "instruments": codes})
    return Adapted(steps=steps, notes=tuple(notes))


def merged_steps(conditions: Iterable[str], available: Iterable[str] | None = None) -> list[dict]:
    """Several templates' steps as one list of step dicts (same key and timing: one step
    asking both's instruments), for a plan that is stored as one (the default plan).
    `available`: what the clinic can ask; None: what we ship (no licensed instrument)."""
    by_key: dict[str, dict] = {}
    for condition in conditions:
        template = templates()[condition]
        if available is None:
            can = {c for s in template.steps for c in s["instruments"]} - set(template.licensed)
            can |= set(template.substitutes.values())
        else:
            can = set(available)
        steps = adapt(template, can).steps
        for step in steps:
            have = by_key.get(step["key"])
            if have is None:
                by_key[step["key"]] = {**step, "instruments": list(step["instruments"])}
            else:
                have["instruments"] += [
                    c for c in step["instruments"] if c not in have["instruments"]
                ]
                skip = have.get("skip_maintenance", False) and step.get("skip_maintenance", False)
                have.pop("skip_maintenance", None)
                if skip:
                    have["skip_maintenance"] = True
    return list(by_key.values())


DEFAULT_PLAN_STEPS: list[dict] = merged_steps(DEFAULT_CONDITIONS)
