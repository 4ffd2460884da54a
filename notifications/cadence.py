"""Cadence plans as plain data: step validation and due-time arithmetic. No ORM import.

Times: every instant is UTC; a step aligned to a local time of day is computed on the
patient's wall clock in their IANA zone and converted back, so a daylight-saving change
between the infusion and the reminder moves nothing (STYLE habit 9; mindLAMP shifted
every reminder by an hour at DST because it scheduled in UTC).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
ANCHORS = ("infusion_start", "infusion_end")


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


def _nominal_offset(step: Step) -> int:
    # For the recall rule, a step anchored on the infusion's start is treated as if the
    # infusion took no time: the conservative reading (it can only be further apart).
    return step.offset_minutes


def parse_steps(raw: object, *, recall_hours: Mapping[str, int] | None) -> list[Step]:
    """Validate a plan's steps. `recall_hours` maps each instrument code the clinic may ask
    to its recall window in hours (from its definition); None skips the instrument checks
    (re-reading steps that were checked when saved)."""
    errors: dict[str, list[tuple[str, str]]] = {}

    def err(attr: str, code: str, detail: str) -> None:
        errors.setdefault(attr, []).append((code, detail))

    if not isinstance(raw, list) or not raw:
        raise StepsInvalid({"steps": [("invalid", "A plan has a non-empty list of steps.")]})
    steps: list[Step] = []
    keys: set[str] = set()
    for i, item in enumerate(raw):
        at = f"steps.{i}"
        if not isinstance(item, dict):
            err(at, "invalid", "A step is an object.")
            continue
        unknown = set(item) - {
            "key",
            "label",
            "anchor",
            "offset_minutes",
            "instruments",
            "window_hours",
            "align_local_time",
            "nudge_count",
            "nudge_interval_minutes",
        }
        for name in sorted(unknown):
            err(f"{at}.{name}", "unknown_field", f"Unknown field '{name}'.")
        key = item.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            err(f"{at}.key", "invalid", "A short lower-case key, e.g. 'day-7'.")
        elif key in keys:
            err(f"{at}.key", "duplicate", f"Key '{key}' is used twice.")
        else:
            keys.add(key)
        anchor = item.get("anchor", "infusion_end")
        if anchor not in ANCHORS:
            err(f"{at}.anchor", "invalid_choice", f"One of {', '.join(ANCHORS)}.")
        offset = item.get("offset_minutes")
        if not _is_int(offset) or abs(offset) > 366 * MINUTES_PER_DAY:
            err(f"{at}.offset_minutes", "invalid", "Whole minutes, at most a year either way.")
            offset = None
        window = item.get("window_hours")
        if not _is_int(window) or not 1 <= window <= 30 * 24:
            err(f"{at}.window_hours", "invalid", "Whole hours from 1 to 720.")
        instruments = item.get("instruments")
        if (
            not isinstance(instruments, list)
            or not instruments
            or not all(isinstance(c, str) for c in instruments)
        ):
            err(f"{at}.instruments", "invalid", "A non-empty list of instrument codes.")
            instruments = []
        elif len(set(instruments)) != len(instruments):
            err(f"{at}.instruments", "duplicate", "An instrument is listed twice.")
        for j, code in enumerate(instruments):
            if recall_hours is not None and code not in recall_hours:
                err(f"{at}.instruments.{j}", "unknown_instrument", f"Unknown instrument '{code}'.")
        align = item.get("align_local_time")
        align_t = None
        if align is not None:
            try:
                align_t = time.fromisoformat(align) if isinstance(align, str) else None
            except ValueError:
                align_t = None
            if align_t is None or align_t.second or align_t.tzinfo:
                err(f"{at}.align_local_time", "invalid", "A local time of day, 'HH:MM'.")
                align_t = None
            elif offset is not None and offset % MINUTES_PER_DAY:
                err(
                    f"{at}.align_local_time",
                    "invalid",
                    "Only a whole-day offset can align to a time of day.",
                )
        count = item.get("nudge_count", 0)
        interval = item.get("nudge_interval_minutes", 0)
        if not _is_int(count) or not 0 <= count <= 5:
            err(f"{at}.nudge_count", "invalid", "From 0 to 5 nudges.")
        elif count and (not _is_int(interval) or interval < 15):
            err(f"{at}.nudge_interval_minutes", "invalid", "At least 15 minutes between nudges.")
        elif _is_int(window) and _is_int(interval) and count * interval >= window * 60:
            err(f"{at}.nudge_count", "invalid", "Every nudge must fall inside the window.")
        label = item.get("label", "")
        if not isinstance(label, str) or len(label) > 80:
            err(f"{at}.label", "invalid", "At most 80 characters.")
        if not errors.get(at) and not any(k.startswith(f"{at}.") for k in errors):
            steps.append(
                Step(
                    key=key,
                    label=label,
                    anchor=anchor,
                    offset_minutes=offset,
                    instruments=tuple(instruments),
                    window_hours=window,
                    align_local_time=align_t,
                    nudge_count=count,
                    nudge_interval_minutes=interval if count else 0,
                )
            )
    if not errors and recall_hours is not None:
        _check_recall(steps, recall_hours, errors)
    if errors:
        raise StepsInvalid(errors)
    return sorted(steps, key=lambda s: (_nominal_offset(s), s.key))


def _check_recall(steps: list[Step], recall_hours: Mapping[str, int], errors: dict) -> None:
    """A step may only ask an instrument whose recall window has passed since the previous
    ask (INSTRUMENTS.md: PHQ-9/GAD-7 ask about 2 weeks, PCL-5 a month; hours and 1-2 days
    use "now / past 24 h" measures)."""
    index = {id(s): i for i, s in enumerate(steps)}
    for code in sorted({c for s in steps for c in s.instruments}):
        asking = sorted((s for s in steps if code in s.instruments), key=_nominal_offset)
        hours = recall_hours[code]
        window = f"{hours // 24} days" if hours >= 24 else f"{hours} hours"
        for prev, cur in pairwise(asking):
            gap = _nominal_offset(cur) - _nominal_offset(prev)
            if gap < hours * 60:
                errors.setdefault(f"steps.{index[id(cur)]}.instruments", []).append(
                    (
                        "recall_window_overlap",
                        f"{code} asks about the past {window}; step '{cur.key}' asks it "
                        f"{gap / 60:g} h after step '{prev.key}'.",
                    )
                )


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def plan_step(
    step: Step,
    *,
    infusion_start: datetime,
    infusion_end: datetime,
    tz: ZoneInfo,
    quiet: QuietHours | None = None,
) -> Planned:
    """When one step falls due and when its window closes, in UTC."""
    anchor = infusion_end if step.anchor == "infusion_end" else infusion_start
    if step.align_local_time is None:
        due = anchor + timedelta(minutes=step.offset_minutes)
    else:
        # Calendar days on the patient's wall clock, then the aligned time of day there.
        local_day = anchor.astimezone(tz).date() + timedelta(
            days=step.offset_minutes // MINUTES_PER_DAY
        )
        due = datetime.combine(local_day, step.align_local_time, tzinfo=tz)
    due = due.astimezone(UTC)
    moved = False
    if quiet is not None:
        local = due.astimezone(tz)
        if quiet.contains(local.time().replace(tzinfo=None)):
            day = local.date()
            if quiet.start > quiet.end and local.time() >= quiet.start:
                day += timedelta(days=1)
            due = datetime.combine(day, quiet.end, tzinfo=tz).astimezone(UTC)
            moved = True
    closes = due + timedelta(hours=step.window_hours)
    if step.anchor == "infusion_start" and step.offset_minutes < 0:
        # A baseline closes when the infusion starts: after that it is no baseline.
        closes = min(closes, infusion_start)
    return Planned(due_at=due, window_closes_at=closes, moved_by_quiet_hours=moved)


DEFAULT_PLAN_STEPS: list[dict] = [
    {
        "key": "baseline",
        "label": "Before the infusion",
        "anchor": "infusion_start",
        "offset_minutes": -24 * 60,
        "instruments": ["PHQ-9", "GAD-7", "MOOD"],
        "window_hours": 24,
        "nudge_count": 1,
        "nudge_interval_minutes": 240,
    },
    {
        "key": "hour-4",
        "label": "4 hours after",
        "offset_minutes": 4 * 60,
        "instruments": ["MOOD"],
        "window_hours": 8,
    },
    {
        "key": "day-1",
        "label": "1 day after",
        "offset_minutes": MINUTES_PER_DAY,
        "align_local_time": "10:00",
        "instruments": ["MOOD", "PAIN-NRS"],
        "window_hours": 12,
        "nudge_count": 1,
        "nudge_interval_minutes": 240,
    },
    {
        "key": "day-2",
        "label": "2 days after",
        "offset_minutes": 2 * MINUTES_PER_DAY,
        "align_local_time": "10:00",
        "instruments": ["MOOD", "PAIN-NRS"],
        "window_hours": 12,
        "nudge_count": 1,
        "nudge_interval_minutes": 240,
    },
    {
        "key": "day-7",
        "label": "1 week after",
        "offset_minutes": 7 * MINUTES_PER_DAY,
        "align_local_time": "10:00",
        "instruments": ["MOOD", "PEG"],
        "window_hours": 36,
        "nudge_count": 2,
        "nudge_interval_minutes": 480,
    },
    {
        "key": "day-14",
        "label": "2 weeks after",
        "offset_minutes": 14 * MINUTES_PER_DAY,
        "align_local_time": "10:00",
        "instruments": ["PHQ-9", "GAD-7", "MOOD"],
        "window_hours": 48,
        "nudge_count": 2,
        "nudge_interval_minutes": 720,
    },
    {
        "key": "day-21",
        "label": "3 weeks after",
        "offset_minutes": 21 * MINUTES_PER_DAY,
        "align_local_time": "10:00",
        "instruments": ["MOOD", "PEG"],
        "window_hours": 48,
        "nudge_count": 2,
        "nudge_interval_minutes": 720,
    },
    {
        "key": "day-28",
        "label": "4 weeks after",
        "offset_minutes": 28 * MINUTES_PER_DAY,
        "align_local_time": "10:00",
        "instruments": ["PHQ-9", "GAD-7", "MOOD"],
        "window_hours": 48,
        "nudge_count": 2,
        "nudge_interval_minutes": 720,
    },
]
