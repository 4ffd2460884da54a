"""Cadence plans as plain data: step validation and due-time arithmetic. No ORM import.

A step's shape is the pydantic model `StepSchema` (as instrument definitions are
outcomes.instruments.schema); the rules that span steps or need the clinic's instruments
(keys unique in a plan, instruments each asked once and known, recall windows) are plain
functions. Either way an error reaches the API as (attr, code, detail), e.g.
("steps.2.offset_minutes", "invalid", "Whole minutes, at most a year either way.").

Times: every instant is UTC; a step aligned to a local time of day is computed on the
patient's wall clock in their IANA zone and converted back, so a daylight-saving change
between the infusion and the reminder moves nothing (docs/house/STYLE.md, habit 9;
mindLAMP shifted every reminder by an hour at DST because it scheduled in UTC).
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

MINUTES_PER_DAY = 24 * 60
MAX_OFFSET_MINUTES = 366 * MINUTES_PER_DAY
MAX_WINDOW_HOURS = 30 * 24
# "course_start": the first infusion of a course (an induction, or a booster on its own):
# a validated measure asked every 15 days from there is not superseded by the course's
# next infusions (notifications/course_plan.py).
ANCHORS = ("infusion_start", "infusion_end", "course_start")
_KEY = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class StepsInvalid(ValueError):
    def __init__(self, errors: dict[str, list[tuple[str, str]]]):
        super().__init__("; ".join(f"{k}: {d}" for k, v in errors.items() for _, d in v))
        self.errors = errors


@dataclass(frozen=True)
class Step:
    key: str
    offset_minutes: int
    instruments: tuple[str, ...]
    window_hours: int
    anchor: str = "infusion_end"
    align_local_time: time | None = None
    nudge_count: int = 0
    nudge_interval_minutes: int = 0
    label: str = ""
    # Not asked after a maintenance booster (course_plan.py): the acute first hours and
    # days matter for an induction or a rescue; a scheduled booster is judged against the
    # course's original baseline and its benefit is followed by the weekly steps.
    skip_maintenance: bool = False

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "anchor": self.anchor,
            "offset_minutes": self.offset_minutes,
            "instruments": list(self.instruments),
            "window_hours": self.window_hours,
            "align_local_time": self.align_local_time.strftime("%H:%M")
            if self.align_local_time
            else None,
            "nudge_count": self.nudge_count,
            "nudge_interval_minutes": self.nudge_interval_minutes,
            "skip_maintenance": self.skip_maintenance,
        }


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def contains(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # spans midnight, e.g. 21:00-08:00


@dataclass(frozen=True)
class Planned:
    due_at: datetime
    window_closes_at: datetime
    moved_by_quiet_hours: bool = False
    notes: tuple[str, ...] = field(default=())


# --- The step schema -----------------------------------------------------------------------


def _rule(detail: str, *, on: str | None = None) -> PydanticCustomError:
    """A rule of ours, reported with the code "invalid" and exactly `detail`; on another
    field than the one that checks it when `on` says so."""
    return PydanticCustomError("invalid", detail, {"on": on} if on else None)


def _local_time(value: object) -> object:
    """'HH:MM' (anything time.fromisoformat reads, without seconds or a zone) -> time."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = time.fromisoformat(value)
        except ValueError:
            pass
        else:
            if not parsed.second and not parsed.tzinfo:
                return parsed
    raise ValueError("not a local time of day")


class StepSchema(BaseModel):
    """One step of a plan as a clinic writes it. Strict: 60, never "60", 60.0 or true;
    extra="forbid": a misspelt field is an error, not a silently ignored setting.

    Fields are declared in the order the API has always listed their errors, and a rule
    reads only fields declared above it (ValidationInfo.data holds those that were valid).
    Python's re checks the key, as it did for every key already stored (its `$` also
    matches before a final newline)."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", regex_engine="python-re")

    key: Annotated[str, Field(pattern=_KEY)]
    anchor: Literal["infusion_start", "infusion_end", "course_start"] = "infusion_end"
    offset_minutes: Annotated[int, Field(ge=-MAX_OFFSET_MINUTES, le=MAX_OFFSET_MINUTES)]
    window_hours: Annotated[int, Field(ge=1, le=MAX_WINDOW_HOURS)]
    instruments: Annotated[list[str], Field(min_length=1)]
    align_local_time: Annotated[time | None, BeforeValidator(_local_time)] = None
    nudge_count: Annotated[int, Field(ge=0, le=5)] = 0
    # 0 when the step has no nudges, whatever was sent (it is not read then).
    nudge_interval_minutes: Annotated[int, Field(ge=15)] = Field(default=0, validate_default=True)
    label: Annotated[str, Field(max_length=80)] = ""
    skip_maintenance: bool = False

    @field_validator("align_local_time")
    @classmethod
    def _whole_days_only(cls, value: time | None, info: ValidationInfo) -> time | None:
        offset = info.data.get("offset_minutes")
        if value is not None and offset is not None and offset % MINUTES_PER_DAY:
            raise _rule("Only a whole-day offset can align to a time of day.")
        return value

    @field_validator("nudge_interval_minutes", mode="wrap")
    @classmethod
    def _nudges_in_window(
        cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> int:
        count = info.data.get("nudge_count")
        if not count:  # none, or a count that is itself invalid
            return 0
        interval: int = handler(value)
        window = info.data.get("window_hours")
        if window is not None and count * interval >= window * 60:
            raise _rule("Every nudge must fall inside the window.", on="nudge_count")
        return interval

    def step(self) -> Step:
        return Step(
            key=self.key,
            label=self.label,
            anchor=self.anchor,
            offset_minutes=self.offset_minutes,
            instruments=tuple(self.instruments),
            window_hours=self.window_hours,
            align_local_time=self.align_local_time,
            nudge_count=self.nudge_count,
            nudge_interval_minutes=self.nudge_interval_minutes,
            skip_maintenance=self.skip_maintenance,
        )


# A plan of more steps than this is a mistake, and planning is quadratic in the steps of a
# course: each step is a reminder per infusion, and 300 one-minute asks were accepted. The
# shipped templates have 20 steps (a baseline, the first hours and days, then weekly and
# every 15 days for 12 weeks); twice that leaves a clinic room for its own additions (a
# longer follow-up, a second short measure) without allowing a reminder stream.
MAX_STEPS = 40
# Plans stored before the cap came down to 40 had up to this many steps: they are still
# read (parse_steps with recall_hours=None), only not saved again as they are.
STORED_MAX_STEPS = 100
# Two steps of one anchor at least this far apart: each step is a notification, and one
# minute after the last asks a patient again before they could have anything new to say.
# Half an hour still allows the half-hourly momentary asks of the acute hours after an
# infusion (the shipped templates' closest steps are 20 hours apart); it is twice the
# shortest interval between a step's own nudges (15 minutes).
MIN_STEP_SPACING_MINUTES = 30
_PLAN = TypeAdapter(
    Annotated[list[StepSchema], Field(min_length=1, max_length=STORED_MAX_STEPS)],
    config=ConfigDict(strict=True),
)
_PLAN_SIZE = ("invalid", f"A plan has a list of 1 to {MAX_STEPS} steps.")
_FIELDS = tuple(StepSchema.model_fields)

# What the API says about a field pydantic refused for its own reasons (a wrong type, a
# value out of range, a missing field), whatever pydantic's wording.
_FIELD_ERRORS: dict[str, tuple[str, str]] = {
    "key": ("invalid", "A short lower-case key, e.g. 'day-7'."),
    "anchor": ("invalid_choice", f"One of {', '.join(ANCHORS)}."),
    "offset_minutes": ("invalid", "Whole minutes, at most a year either way."),
    "window_hours": ("invalid", "Whole hours from 1 to 720."),
    "instruments": ("invalid", "A non-empty list of instrument codes."),
    "align_local_time": ("invalid", "A local time of day, 'HH:MM'."),
    "nudge_count": ("invalid", "From 0 to 5 nudges."),
    "nudge_interval_minutes": ("invalid", "At least 15 minutes between nudges."),
    "label": ("invalid", "At most 80 characters."),
    "skip_maintenance": ("invalid", "true or false."),
}
assert set(_FIELD_ERRORS) == set(_FIELDS), "a field without its message"


class _Error(NamedTuple):
    step: int
    field: str | None  # None: the step itself
    item: int | None  # the position in the list, for "instruments.<item>"
    code: str
    detail: str

    @property
    def attr(self) -> str:
        attr = f"steps.{self.step}"
        if self.field is not None:
            attr += f".{self.field}"
        if self.item is not None:
            attr += f".{self.item}"
        return attr

    def order(self) -> tuple:
        # Per step: the step itself, unknown fields by name, then the fields in order.
        if self.field is None:
            return (self.step, 0)
        if self.field not in _FIELD_ERRORS:
            return (self.step, 1, self.field)
        return (self.step, 2, _FIELDS.index(self.field), -1 if self.item is None else self.item)


def _house_error(error: ErrorDetails) -> _Error:
    """Map one pydantic error of a plan's step to the API's code and message."""
    step, *rest = error["loc"]
    assert isinstance(step, int)  # the plan's own errors (loc ()) are handled before
    if not rest:
        return _Error(step, None, None, "invalid", "A step is an object.")
    name = str(rest[0])
    if name not in _FIELD_ERRORS:
        return _Error(step, name, None, "unknown_field", f"Unknown field '{name}'.")
    if error["type"] == "invalid":  # one of our rules: its own message
        on = (error.get("ctx") or {}).get("on") or name
        return _Error(step, on, None, "invalid", error["msg"])
    return _Error(step, name, None, *_FIELD_ERRORS[name])


# --- Rules across steps and against the clinic's instruments --------------------------------


def _plan_errors(
    raw: list[Any], refused: set[tuple[int, str | None]], recall_hours: Mapping[str, int] | None
) -> Iterator[_Error]:
    """Keys unique in the plan; a step's instruments each asked once, and known to the
    clinic. Checked on every key and instrument list the schema accepted, in a step with
    other errors too, so that one answer names every problem (strict: as sent). A repeated
    code and an unknown one are both reported."""
    keys: set[str] = set()
    for i, step in enumerate(raw):
        if not isinstance(step, dict):
            continue
        if (i, "key") not in refused:
            key = step["key"]
            if key in keys:
                yield _Error(i, "key", None, "duplicate", f"Key '{key}' is used twice.")
            keys.add(key)
        if (i, "instruments") in refused:
            continue
        codes: list[str] = step["instruments"]
        if len(set(codes)) != len(codes):
            yield _Error(i, "instruments", None, "duplicate", "An instrument is listed twice.")
        for j, code in enumerate(codes):
            if recall_hours is not None and code not in recall_hours:
                yield _Error(
                    i, "instruments", j, "unknown_instrument", f"Unknown instrument '{code}'."
                )


def _by_attr(errors: Iterable[_Error]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for e in sorted(errors, key=_Error.order):
        out.setdefault(e.attr, []).append((e.code, e.detail))
    return out


def _nominal_offset(step: Step) -> int:
    # For the recall rule, a step anchored on the infusion's start is treated as if the
    # infusion took no time: the conservative reading (it can only be further apart).
    return step.offset_minutes


def _nominal_close(step: Step) -> int:
    """When the step's answer window closes, in minutes from the infusion: a baseline's
    closes when the infusion starts (plan_step)."""
    closes = step.offset_minutes + step.window_hours * 60
    if step.anchor == "infusion_start" and step.offset_minutes < 0:
        closes = min(closes, 0)
    return closes


def parse_steps(raw: object, *, recall_hours: Mapping[str, int] | None) -> list[Step]:
    """Validate a plan's steps. `recall_hours` maps each instrument code the clinic may ask
    to its recall window in hours (from its definition); None skips the instrument checks,
    the cap of MAX_STEPS and the spacing (re-reading steps that were checked when saved,
    perhaps under older rules)."""
    new = recall_hours is not None
    if new and isinstance(raw, list) and len(raw) > MAX_STEPS:
        raise StepsInvalid({"steps": [_PLAN_SIZE]})
    try:
        schemas = _PLAN.validate_python(raw)
    except ValidationError as exc:
        if any(not e["loc"] for e in exc.errors()):
            raise StepsInvalid({"steps": [_PLAN_SIZE]}) from exc
        schemas = []
        found: dict[tuple[int, str | None], _Error] = {}
        for error in map(_house_error, exc.errors()):
            # One error per field: a list with several wrong items is one wrong list.
            found.setdefault((error.step, error.field), error)
    else:
        found = {}
    assert isinstance(raw, list)  # the schema said so
    errors = [*found.values(), *_plan_errors(raw, set(found), recall_hours)]
    if errors:
        raise StepsInvalid(_by_attr(errors))
    steps = [s.step() for s in schemas]
    if recall_hours is not None:
        rule_errors = {**_check_spacing(steps), **_check_recall(steps, recall_hours)}
        if rule_errors:
            raise StepsInvalid(rule_errors)
    return sorted(steps, key=lambda s: (_nominal_offset(s), s.key))


def _local_minute(step: Step) -> int:
    """Where a step falls from its anchor, in minutes: an aligned one at its time of day on
    its day (comparable with the other aligned steps of its anchor only)."""
    if step.align_local_time is None:
        return step.offset_minutes
    t = step.align_local_time
    return step.offset_minutes + t.hour * 60 + t.minute


def _check_spacing(steps: list[Step]) -> dict[str, list[tuple[str, str]]]:
    """Steps of one anchor at least MIN_STEP_SPACING_MINUTES apart. Steps of different
    anchors, or an aligned and an unaligned one, fall at times only a real course knows
    (the course planner merges what coincides): not compared here."""
    errors: dict[str, list[tuple[str, str]]] = {}
    index = {id(s): i for i, s in enumerate(steps)}
    groups: dict[tuple[str, bool], list[Step]] = {}
    for s in steps:
        groups.setdefault((s.anchor, s.align_local_time is not None), []).append(s)
    for group in groups.values():
        for prev, cur in pairwise(sorted(group, key=lambda s: (_local_minute(s), index[id(s)]))):
            gap = _local_minute(cur) - _local_minute(prev)
            if gap < MIN_STEP_SPACING_MINUTES:
                errors[f"steps.{index[id(cur)]}.offset_minutes"] = [
                    (
                        "invalid",
                        f"At least {MIN_STEP_SPACING_MINUTES} minutes after step "
                        f"'{prev.key}' ({gap} minutes).",
                    )
                ]
    return errors


def _check_recall(
    steps: list[Step], recall_hours: Mapping[str, int]
) -> dict[str, list[tuple[str, str]]]:
    """A step may only ask an instrument whose recall window has passed since the previous
    ask (docs/clinical/INSTRUMENTS.md: PHQ-9/GAD-7 ask about 2 weeks, PCL-5 a month; hours
    and 1-2 days use "now / past 24 h" measures). The gap runs from the EDGE of the earlier
    step's answer window (it may be answered as late as its close) to the opening of the
    later one: PHQ-9 on day 15 in a 24-hour window, and again on day 30 at the earliest.
    A plain function: it reads the clinic's instruments and the whole plan, and runs once
    every step is valid. Across infusions, the course planner applies the same rule to the
    actual times (notifications/course_plan.py)."""
    errors: dict[str, list[tuple[str, str]]] = {}
    index = {id(s): i for i, s in enumerate(steps)}
    for code in sorted({c for s in steps for c in s.instruments}):
        asking = sorted((s for s in steps if code in s.instruments), key=_nominal_offset)
        hours = recall_hours[code]
        if hours <= 0:
            continue  # a momentary measure ("right now") may be asked at any time
        window = f"{hours // 24} days" if hours >= 24 else f"{hours} hours"
        for prev, cur in pairwise(asking):
            gap = _nominal_offset(cur) - _nominal_close(prev)
            if gap < hours * 60:
                errors.setdefault(f"steps.{index[id(cur)]}.instruments", []).append(
                    (
                        "recall_window_overlap",
                        f"{code} asks about the past {window}; step '{cur.key}' opens "
                        f"{gap / 60:g} h after step '{prev.key}' closes.",
                    )
                )
    return errors


def after_quiet_hours(t: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """`t` (UTC), or the end of the patient's quiet hours if it falls inside them."""
    if quiet is None:
        return t
    local = t.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return t
    day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        day += timedelta(days=1)
    return datetime.combine(day, quiet.end, tzinfo=tz).astimezone(UTC)


def plan_step(
    step: Step,
    *,
    infusion_start: datetime,
    infusion_end: datetime,
    tz: ZoneInfo,
    quiet: QuietHours | None = None,
    course_start: datetime | None = None,
) -> Planned:
    """When one step falls due and when its window closes, in UTC (a course-anchored step
    counts from `course_start`, the course's first infusion; by default this one)."""
    anchor = {
        "infusion_end": infusion_end,
        "course_start": course_start or infusion_start,
    }.get(step.anchor, infusion_start)
    if step.align_local_time is None:
        due = anchor + timedelta(minutes=step.offset_minutes)
    else:
        # Calendar days on the patient's wall clock, then the aligned time of day there.
        local_day = anchor.astimezone(tz).date() + timedelta(
            days=step.offset_minutes // MINUTES_PER_DAY
        )
        due = datetime.combine(local_day, step.align_local_time, tzinfo=tz)
    nominal = due.astimezone(UTC)
    due = after_quiet_hours(nominal, tz, quiet)
    moved = due != nominal
    closes = due + timedelta(hours=step.window_hours)
    if step.anchor == "infusion_start" and step.offset_minutes < 0:
        # A baseline closes when the infusion starts: after that it is no baseline.
        closes = min(closes, infusion_start)
    return Planned(due_at=due, window_closes_at=closes, moved_by_quiet_hours=moved)
