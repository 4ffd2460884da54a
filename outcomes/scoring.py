"""Validate and score questionnaire answers against an instrument definition.

Plain functions over a parsed `Definition` and a dict of answers ({link_id: int}), with no
Django import, so they can be tested by the thousand with hypothesis. The clinical rules
(cut-offs, reverse items, DSM-5 clusters, C-SSRS triage, safety items) live in the
definition files, each with its source; this module only applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .instruments.schema import (
    Condition,
    Definition,
    Dsm5ClustersRule,
    Item,
    PositiveScreenRule,
    TriageLevelRule,
)


@dataclass(frozen=True)
class AnswerError:
    """One problem with submitted answers. `link_id` is None when the answers as a whole
    are wrong (not an object)."""

    link_id: str | None
    code: str
    detail: str


@dataclass(frozen=True)
class SafetyHit:
    code: str
    severity: str
    link_id: str | None


@dataclass(frozen=True)
class Score:
    total: float | None  # None for a triage instrument (C-SSRS): its result is the band
    band: str  # "" when the instrument has no bands
    subscales: dict[str, float]
    flags: tuple[str, ...]
    safety: tuple[SafetyHit, ...]


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `true` is not an answer to "how often"; and floats
    # are refused outright, 1.0 included, so a client bug cannot pass as an answer.
    return type(value) is int


def _enabled(item: Item, answers: dict, state: dict[str, bool | None]) -> bool | None:
    """Whether `item` is asked: True, False, or None when that hangs on an answer that is
    itself in error (reported there; one error per mistake is enough). With several
    conditions (`enable_when_any`) one that holds is enough."""
    conditions = item.conditions
    if not conditions:
        return True
    unknown = False
    for ew in conditions:
        controller = state[ew.link_id]  # the schema guarantees an earlier item
        if controller is None:
            unknown = True
        elif controller and answers[ew.link_id] == ew.equals:
            return True
    return None if unknown else False


def _asked_when(item: Item) -> str:
    return " or ".join(f"{ew.link_id} is {ew.equals}" for ew in item.conditions)


def validate_answers(defn: Definition, answers: object) -> list[AnswerError]:
    """Every problem with `answers`, in item order, then unknown keys. [] means valid."""
    if not isinstance(answers, dict):
        return [AnswerError(None, "not_an_object", "Answers must be an object of linkId: value.")]
    errors: list[AnswerError] = []
    # link_id -> True: answered validly; False: not asked, or optional and left out;
    # None: in error, or hanging on an error.
    state: dict[str, bool | None] = {}
    for item in defn.items:
        lid = item.link_id
        enabled = _enabled(item, answers, state)
        present = lid in answers
        state[lid] = None
        if enabled is None:
            continue
        if not enabled:
            state[lid] = False
            if present:
                errors.append(
                    AnswerError(
                        lid,
                        "not_applicable",
                        f"{lid} is asked only when {_asked_when(item)}; leave it out.",
                    )
                )
            continue
        if not present:
            if item.required:
                errors.append(AnswerError(lid, "required", f"{lid} is required."))
            else:
                state[lid] = False
            continue
        value = answers[lid]
        if not _is_int(value):
            errors.append(
                AnswerError(
                    lid,
                    "invalid_type",
                    f"{lid} must be a whole number, not {type(value).__name__}.",
                )
            )
            continue
        if item.kind == "choice":
            allowed = [o.value for o in defn.option_set(item)]
            if value not in allowed:
                errors.append(
                    AnswerError(
                        lid,
                        "invalid_choice",
                        f"{lid}: {value} is not one of {', '.join(map(str, allowed))}.",
                    )
                )
                continue
        else:
            lo, hi = defn.answer_bounds(item)
            if not lo <= value <= hi:
                errors.append(
                    AnswerError(lid, "out_of_range", f"{lid}: {value} is outside {lo}..{hi}.")
                )
                continue
        state[lid] = True
    for key in answers:
        if not (isinstance(key, str) and defn.has_item(key)):
            errors.append(
                AnswerError(
                    str(key), "unknown_item", f"{defn.code} v{defn.version} has no item {key!r}."
                )
            )
    return errors


def item_score(defn: Definition, item: Item, value: int) -> int:
    """The score of one answer. A reverse-scored item (EPDS 3, 5-10) submits the option's
    position value, top of the page = lowest, and scores (lo + hi) - value."""
    if not item.reverse:
        return value
    lo, hi = defn.answer_bounds(item)
    return lo + hi - value


def band_for(defn: Definition, total: float) -> str:
    """The band label for a total; "" when the instrument has no bands."""
    if not defn.bands:
        return ""
    for band in defn.bands:
        if band.min <= total <= band.max:
            return band.label
    raise ValueError(f"{defn.code}: total {total} is outside every band")


def _holds(defn: Definition, cond: Condition, answers: dict[str, int]) -> bool:
    # Conditions compare the item's score, not the submitted position: EPDS item 10 is
    # reverse-scored, and its safety rule "any value > 0" (Cox 1987) means any answer but
    # "Never" (the bottom option, submitted as 3, scored 0).
    value = answers.get(cond.link_id)
    if value is None:
        return False
    return cond.holds(item_score(defn, defn.item(cond.link_id), value))


def _triage_band(defn: Definition, answers: dict[str, int]) -> str:
    level_of = {b.label: b.min for b in defn.bands}
    reached = defn.bands[0]
    for rule in defn.scoring.rules:
        if not isinstance(rule, TriageLevelRule):
            continue
        if level_of[rule.band] > reached.min and any(
            all(_holds(defn, c, answers) for c in group) for group in rule.any_of
        ):
            reached = next(b for b in defn.bands if b.label == rule.band)
    return reached.label


def _aggregate(values: list[int], method: str) -> float:
    if method == "max":
        return max(values)
    if method == "mean":
        # PEG is reported to 2 decimals (Krebs 2009 reports the mean of the 3 items).
        return round(sum(values) / len(values), 2)
    return sum(values)


def score(defn: Definition, answers: dict[str, int]) -> Score:
    """Score valid answers (precondition: `validate_answers(defn, answers) == []`)."""
    item_scores = {
        item.link_id: item_score(defn, item, answers[item.link_id]) for item in defn.scored_items
    }
    flags: list[str] = []
    subscales: dict[str, float] = {}
    total: float | None
    if defn.scoring.method == "triage":
        total = None
        band = _triage_band(defn, answers)
    else:
        for sub in defn.scoring.subscales:
            subscales[sub.code] = _aggregate([item_scores[i] for i in sub.items], sub.method)
        if defn.scoring.method == "domains":
            total = sum(subscales.values())
        else:
            total = _aggregate(list(item_scores.values()), defn.scoring.method)
        band = band_for(defn, total)
        for rule in defn.scoring.rules:
            if isinstance(rule, PositiveScreenRule):
                met = total >= rule.at_least
            elif isinstance(rule, Dsm5ClustersRule):
                met = _dsm5_met(defn, rule, item_scores)
            else:
                continue
            if met:
                flags.append(rule.flag)

    hits: list[SafetyHit] = []
    for rule in defn.safety:
        if rule.when is not None:
            hit, link_id = _holds(defn, rule.when, answers), rule.when.link_id
        else:
            hit, link_id = band == rule.when_band, None
        if hit:
            hits.append(SafetyHit(rule.code, rule.severity, link_id))
            flags.append(f"safety:{rule.code}")
    return Score(
        total=total, band=band, subscales=subscales, flags=tuple(flags), safety=tuple(hits)
    )


def _dsm5_met(defn: Definition, rule: Dsm5ClustersRule, item_scores: dict[str, int]) -> bool:
    clusters = {s.code: s.items for s in defn.scoring.subscales}
    return all(
        sum(1 for i in clusters[code] if item_scores[i] >= rule.endorsed_at) >= need
        for code, need in rule.require.items()
    )
