"""The instrument definition format: parse and validate a questionnaire definition file.

A definition is data, versioned one file per (code, version), so that every stored answer
can be pinned to the exact wording and scoring that produced its score (docs/house/STYLE.md,
habit 11;
mindLAMP broke by scoring on question text). This module is plain Python and pydantic with
no Django import, so definitions can be checked in tests, in CI and by the loader alike.

Rules that the parser enforces, beyond field types (a file that breaks one is refused):

- link_ids are unique; a choice item names a known option set; an integer item has min < max.
- option values are integers listed in strictly ascending order (top to bottom on the
  form). A reverse-scored item keeps that submitted value; its score is (lo + hi) - value.
- a scored item is required and unconditional (a total over skipped items means nothing),
  and only scored items may be reversed.
- `scoring.range` equals what the scored items can actually produce.
- bands tile `scoring.range` exactly: no gaps, no overlaps, nothing outside it.
- every rule and safety rule names items, subscales and bands that exist; a safety rule's
  level and severity agree (urgent exactly for a high level).
- an item is conditional on one answer (`enable_when`) or on any of several
  (`enable_when_any`), naming earlier items and values they can take.
- texts are all present (`text_included: true`) or all null (`text_included: false`, for
  a licensed instrument whose text we may not ship; see `merge_licensed_text`).
- every non-null threshold cites its source.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
LICENSED_DIR = Path(__file__).resolve().parent / "licensed"

_LOINC_PART = re.compile(r"^(\d{1,7})-(\d)$")
_LOINC_ANSWER = re.compile(r"^LA\d{1,6}-\d$")
_LINK_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class DefinitionError(ValueError):
    """A definition file that cannot be used; the message says what and where."""


def _loinc_check_digit(digits: str) -> int:
    # LOINC codes carry a Mod 10 (Luhn) check digit (LOINC Users' Guide, appendix);
    # checking it catches a mistyped code before it reaches an FHIR Observation.
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def _check_loinc(code: str) -> str:
    m = _LOINC_PART.match(code)
    if m is None:
        raise ValueError(f"'{code}' is not a LOINC code (digits-checkdigit)")
    if _loinc_check_digit(m.group(1)) != int(m.group(2)):
        raise ValueError(f"LOINC code '{code}' has a wrong check digit")
    return code


def _check_loinc_answer(code: str) -> str:
    if _LOINC_ANSWER.match(code) is None:
        raise ValueError(f"'{code}' is not a LOINC answer code (LA...-n)")
    return code


class _Model(BaseModel):
    # strict: a definition says 3, never "3" or 3.0 or true; extra="forbid": a misspelt
    # key is an error rather than a silently ignored setting.
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    # Keys the format gained after definitions were loaded. While unset (None) they are left
    # out of the canonical form, so the digest of a loaded version, to which answers are
    # pinned, stays what it was: the loader refuses a version whose digest changed
    # (services/instruments.py), which would stop every deployment's instruments_sync.
    _added_later: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_unset_later_keys(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for key in self._added_later:
                if key in data and data[key] is None:
                    del data[key]
        return data


NonEmptyStr = Annotated[str, Field(min_length=1)]
LoincCode = Annotated[str, AfterValidator(_check_loinc)]
LoincAnswer = Annotated[str, AfterValidator(_check_loinc_answer)]
Number = int | float


class Recall(_Model):
    label: NonEmptyStr
    # The window the questions ask about; a cadence may not ask again within it.
    # 0 is a momentary measure ("right now"): it covers no past period, so it may be
    # asked at any interval (hours after an infusion, docs/clinical/INSTRUMENTS.md on recall
    # windows).
    hours: int = Field(ge=0)


class Licence(_Model):
    holder: NonEmptyStr
    terms: NonEmptyStr
    ship_text: bool


class Loinc(_Model):
    panel: LoincCode | None
    total: LoincCode | None


class Option(_Model):
    value: int
    text: str | None
    loinc: LoincAnswer | None = None


class EnableWhen(_Model):
    link_id: NonEmptyStr
    equals: int


class Item(_Model):
    link_id: NonEmptyStr
    text: str | None
    loinc: LoincCode | None = None
    kind: Literal["choice", "integer"]
    option_set: str | None = None
    min: int | None = None
    max: int | None = None
    # Anchors shown at the ends of a 0-10 scale ("no pain" / "worst pain imaginable").
    min_label: str | None = None
    max_label: str | None = None
    required: bool = True
    scored: bool = True
    reverse: bool = False
    enable_when: EnableWhen | None = None
    # Asked when ANY of these holds (FHIR enableWhen with enableBehavior "any"): ASQ
    # question 5 follows a yes to any of questions 1-4. At most one of the two.
    enable_when_any: list[EnableWhen] | None = Field(default=None, min_length=2)

    _added_later: ClassVar[frozenset[str]] = frozenset({"enable_when_any"})

    @property
    def conditions(self) -> list[EnableWhen]:
        """What the item's asking hangs on ([] for an unconditional item); with
        `enable_when_any` any one of them suffices, else the single one must hold."""
        if self.enable_when_any is not None:
            return list(self.enable_when_any)
        return [self.enable_when] if self.enable_when is not None else []

    @field_validator("link_id")
    @classmethod
    def _link_id_shape(cls, v: str) -> str:
        if _LINK_ID.match(v) is None:
            raise ValueError(f"link_id '{v}' must be a letter then letters, digits or _")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> Item:
        if self.kind == "choice":
            if self.option_set is None:
                raise ValueError(f"choice item {self.link_id} needs an option_set")
            if self.min is not None or self.max is not None:
                raise ValueError(f"choice item {self.link_id}: min/max come from its options")
        else:
            if self.option_set is not None:
                raise ValueError(f"integer item {self.link_id} cannot have an option_set")
            if self.min is None or self.max is None or self.min >= self.max:
                raise ValueError(f"integer item {self.link_id} needs min < max")
        if self.reverse and not self.scored:
            raise ValueError(f"item {self.link_id} is reversed but not scored")
        if self.enable_when is not None and self.enable_when_any is not None:
            raise ValueError(f"item {self.link_id}: enable_when or enable_when_any, not both")
        if self.scored and (not self.required or self.conditions):
            raise ValueError(
                f"scored item {self.link_id} must be required and unconditional: "
                "a total over skipped items is not comparable"
            )
        return self


class Subscale(_Model):
    code: NonEmptyStr
    title: NonEmptyStr
    items: list[NonEmptyStr] = Field(min_length=1)
    # "max": the highest of its items (a QIDS-SR16 domain: the worst of four sleep items).
    method: Literal["sum", "mean", "max"]


class Condition(_Model):
    """A test of one item's score: the answer value, or (lo + hi) - value for a
    reverse-scored item, so that "item10 > 0" means the same on every EPDS form."""

    link_id: NonEmptyStr
    op: Literal["eq", "gt", "gte"]
    value: int

    def holds(self, item_score: int) -> bool:
        if self.op == "eq":
            return item_score == self.value
        if self.op == "gt":
            return item_score > self.value
        return item_score >= self.value


class PositiveScreenRule(_Model):
    """Flag `flag` when the total is at least `at_least` (a screening cut-off)."""

    type: Literal["positive_screen"]
    at_least: Number
    flag: NonEmptyStr = "positive_screen"


class Dsm5ClustersRule(_Model):
    """PCL-5 provisional diagnosis: an item scored >= `endorsed_at` is endorsed, and each
    cluster (a subscale code) needs at least `require[cluster]` endorsed items."""

    type: Literal["dsm5_clusters"]
    endorsed_at: int
    require: dict[str, int]
    flag: NonEmptyStr = "dsm5_provisional_ptsd"


class TriageLevelRule(_Model):
    """Triage: the answers reach band `band` when any of the `any_of` groups holds, a
    group holding when all of its conditions do. The highest band reached wins."""

    type: Literal["triage_level"]
    band: NonEmptyStr
    any_of: list[Annotated[list[Condition], Field(min_length=1)]] = Field(min_length=1)


Rule = Annotated[
    PositiveScreenRule | Dsm5ClustersRule | TriageLevelRule, Field(discriminator="type")
]


class Scoring(_Model):
    # "domains": the total is the sum of the subscales, each scored item in exactly one
    # (QIDS-SR16: nine symptom domains, Rush 2003).
    method: Literal["sum", "mean", "triage", "domains"]
    range: list[Number] = Field(min_length=2, max_length=2)
    subscales: list[Subscale] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


class Band(_Model):
    min: Number
    max: Number
    label: NonEmptyStr


class Thresholds(_Model):
    """Outcome thresholds on the total; see `sources` for where each comes from."""

    response_pct: Number | None
    partial_response_pct: Number | None
    improvement_pct: Number | None = None
    remission_below: Number | None
    mid: Number | None
    sources: dict[str, NonEmptyStr]

    @model_validator(mode="after")
    def _cited(self) -> Thresholds:
        names = (
            "response_pct",
            "partial_response_pct",
            "improvement_pct",
            "remission_below",
            "mid",
        )
        for name in names:
            if getattr(self, name) is not None and name not in self.sources:
                raise ValueError(f"threshold {name} has no entry in sources")
        unknown = set(self.sources) - set(names)
        if unknown:
            raise ValueError(f"sources names unknown thresholds: {sorted(unknown)}")
        return self


SafetyLevel = Literal["low", "moderate", "high"]


class SafetyRule(_Model):
    """An answer that raises a safety alert. `level` grades the response to it
    (docs/clinical/INSTRUMENTS.md, "Safety"): high pages on-call at once with a short
    acknowledgement deadline and tells the patient to call for help now; moderate notifies
    the care team and escalates if unacknowledged; low is queued for review within a
    working day. `severity` is the older two-step grade, kept for the API: "urgent" for a
    high level, else "high".

    A rule without `level` (every definition published before levels existed, among them
    PHQ-9 v1 item 9 > 0 and EPDS v1 item 10 > 0) is graded from its severity: urgent ->
    high, high -> moderate. Moderate for a positive PHQ-9 item 9 or EPDS item 10 is an
    UNVERIFIED clinical choice: the item alone is not a triage tool (item 9 missed 63% of
    at-risk inpatients, PMC8258235), so a positive one is followed by a short screener
    (ASQ, or the clinic's licensed C-SSRS) whose answers grade the risk. A clinic that
    wants another grading loads its own version of the definition.
    """

    code: NonEmptyStr
    severity: Literal["high", "urgent"]
    when: Condition | None = None
    when_band: str | None = None
    level: SafetyLevel | None = None

    _added_later: ClassVar[frozenset[str]] = frozenset({"level"})

    @property
    def graded_level(self) -> SafetyLevel:
        if self.level is not None:
            return self.level
        return "high" if self.severity == "urgent" else "moderate"

    @model_validator(mode="after")
    def _one_trigger(self) -> SafetyRule:
        if (self.when is None) == (self.when_band is None):
            raise ValueError(f"safety rule {self.code} needs exactly one of when, when_band")
        if self.level is not None and (self.level == "high") != (self.severity == "urgent"):
            raise ValueError(
                f"safety rule {self.code}: severity is urgent for a high level and only then"
            )
        return self


class Definition(_Model):
    code: NonEmptyStr
    version: NonEmptyStr
    title: NonEmptyStr
    description: str
    # Instructions shown above the items ("Over the last 2 weeks, how often...").
    preamble: str | None = None
    recall: Recall
    direction: Literal["lower_is_better", "higher_is_better"]
    licence: Licence
    text_included: bool
    loinc: Loinc
    source: NonEmptyStr
    notes: list[str] = Field(default_factory=list)
    option_sets: dict[str, list[Option]] = Field(default_factory=dict)
    items: list[Item] = Field(min_length=1)
    scoring: Scoring
    bands: list[Band]
    thresholds: Thresholds
    safety: list[SafetyRule] = Field(default_factory=list)

    _by_link_id: dict[str, Item] = PrivateAttr(default_factory=dict)

    # --- lookups used by scoring, the API and the app ---------------------------------

    def item(self, link_id: str) -> Item:
        """The item with this link_id; KeyError if there is none."""
        return self._by_link_id[link_id]

    def has_item(self, link_id: str) -> bool:
        return link_id in self._by_link_id

    def option_set(self, item: Item | str) -> list[Option]:
        """The options of a choice item ([] for an integer item)."""
        it = self.item(item) if isinstance(item, str) else item
        return self.option_sets[it.option_set] if it.option_set is not None else []

    def answer_bounds(self, item: Item | str) -> tuple[int, int]:
        """Lowest and highest value an answer to this item can take."""
        it = self.item(item) if isinstance(item, str) else item
        if it.kind == "choice":
            values = [o.value for o in self.option_set(it)]
            return values[0], values[-1]
        assert it.min is not None and it.max is not None
        return it.min, it.max

    @property
    def scored_items(self) -> list[Item]:
        return [i for i in self.items if i.scored]

    # --- cross-field validation ------------------------------------------------------

    @model_validator(mode="after")
    def _consistent(self) -> Definition:
        by_id: dict[str, Item] = {}
        for it in self.items:
            if it.link_id in by_id:
                raise ValueError(f"duplicate link_id {it.link_id}")
            for ew in it.conditions:
                if ew.link_id not in by_id:
                    raise ValueError(
                        f"item {it.link_id}: enable_when names {ew.link_id}, "
                        "which is not an earlier item"
                    )
            by_id[it.link_id] = it
        self._by_link_id = by_id

        self._check_option_sets()
        self._check_texts()
        self._check_scoring()
        self._check_bands()
        self._check_rules()
        self._check_safety()
        return self

    def _check_option_sets(self) -> None:
        for name, options in self.option_sets.items():
            if not options:
                raise ValueError(f"option set {name} is empty")
            values = [o.value for o in options]
            if any(b <= a for a, b in itertools.pairwise(values)):
                raise ValueError(f"option set {name}: values must be strictly ascending")
        used = set()
        for it in self.items:
            if it.option_set is not None:
                if it.option_set not in self.option_sets:
                    raise ValueError(f"item {it.link_id}: unknown option_set {it.option_set}")
                used.add(it.option_set)
        unused = set(self.option_sets) - used
        if unused:
            raise ValueError(f"option sets not used by any item: {sorted(unused)}")
        for it in self.items:
            for ew in it.conditions:
                ref = self.item(ew.link_id)
                lo, hi = self.answer_bounds(ref)
                if ref.kind == "choice":
                    valid: set[int] | range = {o.value for o in self.option_set(ref)}
                else:
                    valid = range(lo, hi + 1)
                if ew.equals not in valid:
                    raise ValueError(
                        f"item {it.link_id}: enable_when {ew.link_id} = {ew.equals} can never hold"
                    )

    def _check_texts(self) -> None:
        texts: list[tuple[str, str | None]] = [("preamble", self.preamble)]
        for it in self.items:
            texts += [
                (f"item {it.link_id}", it.text),
                (f"item {it.link_id} min_label", it.min_label),
                (f"item {it.link_id} max_label", it.max_label),
            ]
        for name, options in self.option_sets.items():
            texts += [(f"option set {name} value {o.value}", o.text) for o in options]
        if self.text_included:
            must = [f"item {it.link_id}" for it in self.items if not it.text]
            must += [
                f"option set {n} value {o.value}"
                for n, opts in self.option_sets.items()
                for o in opts
                if not o.text
            ]
            if must:
                raise ValueError(f"text_included is true but text is missing for: {must}")
        else:
            present = [where for where, text in texts if text is not None]
            if present:
                raise ValueError(
                    f"text_included is false, so no text may be present; found: {present}"
                )

    def _check_scoring(self) -> None:
        sc = self.scoring
        lo, hi = sc.range
        if lo >= hi:
            raise ValueError(f"scoring.range {sc.range} must have min < max")
        scored = self.scored_items
        if sc.method == "triage":
            if scored:
                raise ValueError(
                    "a triage instrument has no total, so no item may be scored "
                    f"(scored: {[i.link_id for i in scored]})"
                )
            if not any(isinstance(r, TriageLevelRule) for r in sc.rules):
                raise ValueError("a triage instrument needs triage_level rules")
            if sc.subscales:
                raise ValueError("a triage instrument has no subscales")
            return
        if not scored:
            raise ValueError(f"scoring.method {sc.method} needs at least one scored item")
        bounds = [self.answer_bounds(i) for i in scored]
        if sc.method == "domains":
            expected = self._domain_range()
        elif sc.method == "sum":
            expected = [sum(b[0] for b in bounds), sum(b[1] for b in bounds)]
        else:
            expected = [
                sum(b[0] for b in bounds) / len(bounds),
                sum(b[1] for b in bounds) / len(bounds),
            ]
        if list(sc.range) != expected:
            raise ValueError(
                f"scoring.range {sc.range} differs from what the scored items give: {expected}"
            )
        codes = set()
        for sub in sc.subscales:
            if sub.code in codes:
                raise ValueError(f"duplicate subscale code {sub.code}")
            codes.add(sub.code)
            for link_id in sub.items:
                if not self.has_item(link_id) or not self.item(link_id).scored:
                    raise ValueError(f"subscale {sub.code}: {link_id} is not a scored item")

    def _domain_range(self) -> list:
        """A "domains" total's range: the sum of its subscales' ranges; every scored item
        sits in exactly one subscale."""
        placed = [i for sub in self.scoring.subscales for i in sub.items]
        scored = sorted(i.link_id for i in self.scored_items)
        if sorted(placed) != scored:
            raise ValueError("a domains total needs every scored item in exactly one subscale")
        lo = hi = 0
        for sub in self.scoring.subscales:
            if sub.method == "mean":
                raise ValueError("a domains total sums whole-number subscales: sum or max")
            bounds = [self.answer_bounds(self.item(i)) for i in sub.items if self.has_item(i)]
            if sub.method == "max":
                lo, hi = lo + max(b[0] for b in bounds), hi + max(b[1] for b in bounds)
            else:
                lo, hi = lo + sum(b[0] for b in bounds), hi + sum(b[1] for b in bounds)
        return [lo, hi]

    def _check_bands(self) -> None:
        if not self.bands:
            if self.scoring.method == "triage":
                raise ValueError("a triage instrument needs bands (its triage levels)")
            return
        if self.scoring.method == "mean":
            # Band edges are whole numbers that tile integer totals; a mean can fall
            # between them, so banding a mean would need another rule. None needs one yet.
            raise ValueError("bands on a mean score are not supported")
        lo, hi = self.scoring.range
        labels = [b.label for b in self.bands]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate band labels in {labels}")
        for b in self.bands:
            if not (isinstance(b.min, int) and isinstance(b.max, int)):
                raise ValueError(f"band {b.label}: bounds must be whole numbers")
            if b.min > b.max:
                raise ValueError(f"band {b.label}: min {b.min} > max {b.max}")
            if b.min < lo or b.max > hi:
                raise ValueError(f"band {b.label} [{b.min}, {b.max}] is outside range {lo}-{hi}")
        ordered = sorted(self.bands, key=lambda b: b.min)
        if ordered != list(self.bands):
            raise ValueError("bands must be listed from lowest to highest")
        if ordered[0].min != lo:
            raise ValueError(f"bands leave a gap: nothing covers {lo}..{ordered[0].min - 1}")
        if ordered[-1].max != hi:
            raise ValueError(f"bands leave a gap: nothing covers {ordered[-1].max + 1}..{hi}")
        for a, b in itertools.pairwise(ordered):
            if b.min <= a.max:
                raise ValueError(f"bands {a.label} and {b.label} overlap")
            if b.min != a.max + 1:
                raise ValueError(
                    f"bands leave a gap between {a.label} and {b.label}: {a.max + 1}..{b.min - 1}"
                )

    def _check_condition(self, where: str, cond: Condition) -> None:
        if not self.has_item(cond.link_id):
            raise ValueError(f"{where} names unknown item {cond.link_id}")

    def _check_rules(self) -> None:
        labels = {b.label for b in self.bands}
        subscales = {s.code: s for s in self.scoring.subscales}
        for rule in self.scoring.rules:
            if isinstance(rule, TriageLevelRule):
                if self.scoring.method != "triage":
                    raise ValueError("triage_level rules need scoring.method triage")
                if rule.band not in labels:
                    raise ValueError(f"triage_level rule names unknown band {rule.band}")
                for group in rule.any_of:
                    for cond in group:
                        self._check_condition(f"triage_level rule {rule.band}", cond)
            elif isinstance(rule, Dsm5ClustersRule):
                for cluster, need in rule.require.items():
                    sub = subscales.get(cluster)
                    if sub is None:
                        raise ValueError(f"dsm5_clusters rule names unknown subscale {cluster}")
                    if not 0 < need <= len(sub.items):
                        raise ValueError(f"dsm5_clusters rule: {cluster} needs 1..{len(sub.items)}")
            elif self.scoring.method == "triage":
                raise ValueError(f"rule {rule.type} needs a total, which triage has not")

    def _check_safety(self) -> None:
        labels = {b.label for b in self.bands}
        codes = set()
        for rule in self.safety:
            if rule.code in codes:
                raise ValueError(f"duplicate safety rule code {rule.code}")
            codes.add(rule.code)
            if rule.when is not None:
                self._check_condition(f"safety rule {rule.code}", rule.when)
            if rule.when_band is not None and rule.when_band not in labels:
                raise ValueError(f"safety rule {rule.code} names unknown band {rule.when_band}")


def _readable(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def parse_definition(data: dict) -> Definition:
    """Parse and validate one definition (a dict as loaded from JSON)."""
    if not isinstance(data, dict):
        raise DefinitionError("a definition must be a JSON object")
    try:
        return Definition.model_validate(data)
    except ValidationError as exc:
        code = data.get("code", "?")
        version = data.get("version", "?")
        raise DefinitionError(f"{code} v{version}: {_readable(exc)}") from None


def load_definition_file(path: Path) -> Definition:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"{Path(path).name}: not valid JSON: {exc}") from None
    try:
        return parse_definition(data)
    except DefinitionError as exc:
        raise DefinitionError(f"{Path(path).name}: {exc}") from None


def shipped_definition_files() -> list[Path]:
    """Definitions whose text we may ship, one file per instrument version."""
    return sorted(DEFINITIONS_DIR.glob("*.json"))


def licensed_template_files() -> list[Path]:
    """Scoring-only templates (no text) for instruments whose licence forbids shipping it."""
    return sorted(LICENSED_DIR.glob("*.json"))


def merge_licensed_text(template: dict, texts: dict) -> dict:  # noqa: C901 - a check per field
    """A full definition: `template` (no text) plus a clinic's licensed `texts`.

    `texts` is {"items": {link_id: text}, "options": {option_set: [label per value, top to
    bottom]}, "preamble": optional text}. Every item and option set must be given, and
    nothing else: a half-filled form is worse than none.
    """
    parse_definition(template)  # a broken template is our bug, reported as such
    if template.get("text_included") is not False:
        raise DefinitionError("the template already includes text")
    if not isinstance(texts, dict):
        raise DefinitionError("texts must be a JSON object")
    extra_keys = set(texts) - {"items", "options", "preamble"}
    if extra_keys:
        raise DefinitionError(f"texts has unknown keys: {sorted(extra_keys)}")
    item_texts = texts.get("items")
    option_texts = texts.get("options", {})
    preamble = texts.get("preamble")
    if not isinstance(item_texts, dict) or not isinstance(option_texts, dict):
        raise DefinitionError("texts.items and texts.options must be objects")
    if preamble is not None and (not isinstance(preamble, str) or not preamble.strip()):
        raise DefinitionError("texts.preamble must be non-empty text")

    merged: dict[str, Any] = copy.deepcopy(template)
    link_ids = [it["link_id"] for it in merged["items"]]
    missing = [lid for lid in link_ids if lid not in item_texts]
    unknown = [lid for lid in item_texts if lid not in link_ids]
    if missing:
        raise DefinitionError(f"texts.items is missing link_ids: {missing}")
    if unknown:
        raise DefinitionError(f"texts.items has unknown link_ids: {unknown}")
    for it in merged["items"]:
        text = item_texts[it["link_id"]]
        if not isinstance(text, str) or not text.strip():
            raise DefinitionError(f"texts.items.{it['link_id']} must be non-empty text")
        it["text"] = text

    sets = merged.get("option_sets", {})
    missing = [name for name in sets if name not in option_texts]
    unknown = [name for name in option_texts if name not in sets]
    if missing:
        raise DefinitionError(f"texts.options is missing option sets: {missing}")
    if unknown:
        raise DefinitionError(f"texts.options has unknown option sets: {unknown}")
    for name, options in sets.items():
        labels = option_texts[name]
        if not isinstance(labels, list) or len(labels) != len(options):
            raise DefinitionError(f"texts.options.{name} needs {len(options)} labels")
        for option, label in zip(options, labels, strict=True):
            if not isinstance(label, str) or not label.strip():
                raise DefinitionError(f"texts.options.{name}: every label must be non-empty text")
            option["text"] = label

    if preamble is not None:
        merged["preamble"] = preamble
    merged["text_included"] = True
    parse_definition(merged)
    return merged


def content_digest(data: dict) -> str:
    """sha256 hex of the canonical JSON form (sorted keys, no whitespace, UTF-8)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
