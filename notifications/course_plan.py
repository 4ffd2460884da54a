"""A patient's reminders planned as ONE schedule across their infusions: pure, no ORM.

A course is an induction of several infusions a few days apart, then boosters. Planning
each infusion on its own ran six copies of the plan side by side during an induction: 48
reminders, PHQ-9 asked 18 times between day -1 and day 39, every gap shorter than its
14-day recall (issue 13). Here every infusion's steps go through one pass, in time order:

1. Each step is timed by `cadence.plan_step` (the patient's wall clock, quiet hours).
2. A step after an infusion that falls due once the next infusion has started is
   superseded by that infusion's own steps; one whose window runs into the next infusion
   closes when it starts (an answer after it would be about the next infusion). A step
   anchored on the course's start (`course_start`: the validated measures, every 15 days)
   is asked once per course and superseded only by the next course, so an induction's
   response is measured two weeks after it began, two days after its sixth infusion.
3. No instrument is asked inside its recall window (docs/clinical/INSTRUMENTS.md, "Recall
   windows"). The gap is measured from the EDGE of the earlier ask's answer window (when
   it closes; or the answer itself once answered) to the opening of the later ask's
   window: a 14-day-recall PHQ-9 asked in a 24-hour window on day 15 cannot be asked again
   before day 30. An answer the patient gave (a phone check-in or one on the clinic's
   tablet) counts as an ask. An ask inside a recall moves later within its own window if
   it can; otherwise that instrument is dropped from the step, and the step with it when
   nothing is left.
4. A momentary instrument (recall 0, e.g. MOOD) asked by steps of two infusions, or by a
   course step and an infusion's step, whose windows overlap is asked once (within one
   infusion's own steps, the scheduler's steps stand). A baseline of an infusion after the
   course's first asks no validated measure: the course's baseline stands.
5. A step marked `skip_maintenance` (the templates' 4-hour, day-1 and day-2 asks) is not
   asked after a maintenance booster: the course engine judges a booster against the
   course's original baseline and the weekly steps follow its benefit; an induction or a
   rescue asks it. Without a recorded course, the kind is inferred as the course engine
   infers it (`course_kinds`).
Baselines are placed first, so where a baseline and a step of the previous infusion
compete (for a momentary measure in the same hours, or a recall window), the baseline
keeps the ask: every infusion's outcome is judged against its own pre-infusion score.

The result says, per ask, what moved or was dropped and why: schedulers see it in the
preview and on the reminder rows (`Reminder.reason`).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .cadence import QuietHours, Step, after_quiet_hours, plan_step

# A moved ask keeps at least this long of its window open (or half the window if shorter).
MIN_OPEN = timedelta(hours=4)


@dataclass(frozen=True)
class InfusionSlot:
    """One infusion of the schedule: its id, actual (or planned) start and end, UTC, and
    the treatment course it was recorded in, if any."""

    id: str
    start: datetime
    end: datetime
    course: str | None = None
    kind: str | None = None  # the recorded course's kind (induction, maintenance, rescue)


# Infusions further apart than this start a new course when none was recorded (the
# course engine's default, AFTERGLOW_COURSE_GAP_DAYS: outcomes/selectors/courses.py).
COURSE_GAP = timedelta(days=10)


def _recorded(ordered: Sequence[InfusionSlot]) -> list[InfusionSlot]:
    """The slots with an unassigned infusion inside a recorded course's span taken into
    that course, as the course engine does (outcomes/selectors/courses.py)."""
    spans: dict[str, tuple[datetime, datetime, str | None]] = {}
    for s in ordered:
        if s.course is not None:
            lo, hi, kind = spans.get(s.course, (s.start, s.end, s.kind))
            spans[s.course] = (min(lo, s.start), max(hi, s.end), kind)
    return [
        s
        if s.course is not None
        else next(
            (
                replace(s, course=cid, kind=kind)
                for cid, (lo, hi, kind) in spans.items()
                if lo <= s.start <= hi
            ),
            s,
        )
        for s in ordered
    ]


def course_firsts(
    ordered: Sequence[InfusionSlot], gap: timedelta = COURSE_GAP
) -> list[InfusionSlot]:
    """The first infusion of each course, in time order: a recorded course groups its
    infusions (and any unassigned one inside its span); the others are split at gaps
    longer than `gap`. A recorded and an unassigned infusion never share a course."""
    firsts: list[InfusionSlot] = []
    prev: InfusionSlot | None = None
    for original, slot in zip(ordered, _recorded(ordered), strict=True):
        same = prev is not None and (
            slot.course == prev.course
            if slot.course is not None or prev.course is not None
            else slot.start - prev.end <= gap
        )
        if not same:
            firsts.append(original)
        prev = slot
    return firsts


MAINTENANCE = "maintenance"


def course_kinds(
    ordered: Sequence[InfusionSlot], gap: timedelta = COURSE_GAP, *, treated_before: bool = False
) -> dict[str, str]:
    """Each infusion's course kind: the recorded course's; otherwise, as the course engine
    infers it (outcomes/selectors/courses.py), an induction while none has been seen or
    when the course has three or more infusions, else a maintenance booster.
    `treated_before`: the patient had infusions before these (an induction was seen)."""
    firsts = {s.id for s in course_firsts(ordered, gap)}
    groups: list[list[InfusionSlot]] = []
    for slot in _recorded(ordered):
        if slot.id in firsts or not groups:
            groups.append([])
        groups[-1].append(slot)
    kinds: dict[str, str] = {}
    seen_induction = treated_before
    for members in groups:
        inferred = "induction" if not seen_induction or len(members) >= 3 else MAINTENANCE
        kind = (members[0].kind if members[0].course is not None else None) or inferred
        seen_induction = seen_induction or kind == "induction"
        kinds.update((m.id, kind) for m in members)
    return kinds


@dataclass(frozen=True)
class SourcedStep:
    """A step and the stored plan (and its version) it comes from."""

    step: Step
    plan_id: str = ""
    plan_version: int = 0


@dataclass(frozen=True)
class Made:
    """An ask already made (sent, answered or missed): never re-planned, but it counts.
    `edge` is where its recall starts: the answer if answered, the window's close if still
    open, None if it was missed (nothing was answered, so nothing blocks)."""

    infusion_id: str | None
    step_key: str
    instruments: tuple[str, ...]
    edge: datetime | None


@dataclass(frozen=True)
class Ask:
    infusion_id: str
    step_key: str
    label: str
    instruments: tuple[str, ...]
    due_at: datetime
    closes_at: datetime
    plan_id: str
    plan_version: int
    nudge_count: int
    nudge_interval_minutes: int
    baseline: bool
    reasons: tuple[str, ...] = ()
    course_step: bool = False  # anchored on the course's start

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)[:200]


@dataclass(frozen=True)
class Skipped:
    infusion_id: str
    step_key: str
    instruments: tuple[str, ...]
    due_at: datetime
    reason: str


@dataclass
class CoursePlan:
    asks: list[Ask] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _recall_text(hours: int) -> str:
    return f"{hours // 24}-day" if hours >= 24 and hours % 24 == 0 else f"{hours}-hour"


def _candidates(
    infusions: Sequence[InfusionSlot],
    steps: Sequence[SourcedStep],
    tz: ZoneInfo,
    quiet: QuietHours | None,
    out: CoursePlan,
    course_gap: timedelta,
    recall_hours: Mapping[str, int],
    treated_before: bool,
) -> list[Ask]:
    """Every infusion's steps, timed, with supersession by the next infusion (rule 2); a
    course-anchored step once per course, superseded by the next course."""
    ordered = sorted(infusions, key=lambda s: (s.start, s.id))
    firsts = course_firsts(ordered, course_gap)
    kinds = course_kinds(ordered, course_gap, treated_before=treated_before)
    found: list[Ask] = []
    for i, slot in enumerate(ordered):
        first = slot in firsts
        later = [f.start for f in firsts if f.start > slot.start]
        for sourced in steps:
            step = sourced.step
            if step.skip_maintenance and kinds[slot.id] == MAINTENANCE:
                due = plan_step(
                    step, infusion_start=slot.start, infusion_end=slot.end, tz=tz, quiet=quiet
                ).due_at
                why = "not asked after a maintenance booster"
                out.skipped.append(Skipped(slot.id, step.key, step.instruments, due, why))
                continue
            if step.anchor == "course_start":
                if not first:
                    continue  # asked once per course, from its first infusion
                nxt = later[0] if later else None
            else:
                nxt = ordered[i + 1].start if i + 1 < len(ordered) else None
            timed = plan_step(
                step, infusion_start=slot.start, infusion_end=slot.end, tz=tz, quiet=quiet
            )
            baseline = step.anchor == "infusion_start" and step.offset_minutes < 0
            if timed.window_closes_at <= timed.due_at:
                # A baseline that quiet hours pushed past the infusion's start is no baseline.
                continue
            closes = timed.window_closes_at
            reasons: tuple[str, ...] = ()
            instruments = step.instruments
            if baseline and not first:
                # Mid-course, the course's own baseline stands: a validated measure asked
                # here would block the course's day-14 reading of the response.
                instruments = tuple(c for c in step.instruments if recall_hours.get(c, 0) <= 24)
                dropped = [c for c in step.instruments if c not in instruments]
                if dropped:
                    reasons = (
                        f"{', '.join(dropped)} not asked mid-course: the course's baseline stands",
                    )
                if not instruments:
                    out.skipped.append(
                        Skipped(slot.id, step.key, step.instruments, timed.due_at, reasons[0])
                    )
                    continue
            if nxt is not None and not baseline:
                if timed.due_at >= nxt:
                    out.skipped.append(
                        Skipped(
                            slot.id,
                            step.key,
                            step.instruments,
                            timed.due_at,
                            "superseded by the next course"
                            if step.anchor == "course_start"
                            else "superseded by the next infusion",
                        )
                    )
                    continue
                if closes > nxt:
                    closes, reasons = nxt, ("closes when the next infusion starts",)
            found.append(
                Ask(
                    infusion_id=slot.id,
                    step_key=step.key,
                    label=step.label,
                    instruments=instruments,
                    due_at=timed.due_at,
                    closes_at=closes,
                    plan_id=sourced.plan_id,
                    plan_version=sourced.plan_version,
                    nudge_count=step.nudge_count,
                    nudge_interval_minutes=step.nudge_interval_minutes,
                    baseline=baseline,
                    reasons=reasons,
                    course_step=step.anchor == "course_start",
                )
            )
    # Time order; at a tie a baseline first (it is the one the outcome needs).
    return sorted(found, key=lambda a: (a.due_at, not a.baseline, a.infusion_id, a.step_key))


class _Edges:
    """Per instrument, the instants its recall runs from: answers, asks made, asks kept."""

    def __init__(self) -> None:
        self._at: dict[str, list[tuple[datetime, datetime, str]]] = {}

    def add(self, code: str, opens: datetime, edge: datetime, what: str) -> None:
        self._at.setdefault(code, []).append((opens, edge, what))

    def blocking(self, code: str, recall: timedelta, due: datetime, closes: datetime):
        """What forbids asking `code` in the window [due, closes), if anything, as (the
        edge its recall runs from, what it is). An ask or answer before this window must
        end `recall` before it opens; one after it (a baseline placed first) must open
        `recall` after it closes, which moving later cannot mend: its edge is then None."""
        worst = None
        for opens, edge, what in self._at.get(code, ()):
            if opens >= closes:
                if opens - closes < recall:
                    return (None, what)
                continue
            if due - edge < recall and (worst is None or edge > worst[0]):
                worst = (edge, what)
        return worst


def plan_course(  # noqa: C901 - the four rules above, one branch each
    *,
    infusions: Sequence[InfusionSlot],
    steps: Sequence[SourcedStep],
    tz: ZoneInfo,
    quiet: QuietHours | None,
    recall_hours: Mapping[str, int],
    answers: Mapping[str, Iterable[datetime]] | None = None,
    made: Mapping[tuple[str | None, str], Made] | None = None,
    course_gap: timedelta = COURSE_GAP,
    treated_before: bool = False,
) -> CoursePlan:
    """The schedule of a patient's infusions as one plan (rules in the module's docstring).
    `answers` maps an instrument to when the patient answered it; `made` holds the asks
    already made by (infusion id, step key), which are kept as they are; `treated_before`:
    the patient had infusions before these (a later course is then no induction unless
    recorded as one or of three infusions or more)."""
    out = CoursePlan()
    made = made or {}
    edges = _Edges()
    for code, times in (answers or {}).items():
        for t in times:
            edges.add(code, t, t, "answered")
    for m in made.values():
        if m.edge is not None:
            for code in m.instruments:
                edges.add(code, m.edge, m.edge, f"step '{m.step_key}'")
    momentary: dict[str, list[tuple[datetime, datetime, str, str, bool]]] = {}
    candidates = _candidates(
        infusions, steps, tz, quiet, out, course_gap, recall_hours, treated_before
    )
    # Baselines first (an outcome is judged against them), then the rest, each in time order.
    for ask in [a for a in candidates if a.baseline] + [a for a in candidates if not a.baseline]:
        if (ask.infusion_id, ask.step_key) in made:
            continue
        keep, reasons = list(ask.instruments), list(ask.reasons)
        due = ask.due_at
        # Rule 3: recall windows. A blocked instrument may move the step later in its window.
        blocked: dict[str, tuple[datetime, str]] = {}
        for code in ask.instruments:
            hours = recall_hours.get(code, 0)
            if hours <= 0:
                continue
            hit = edges.blocking(code, timedelta(hours=hours), due, ask.closes_at)
            if hit is not None:
                blocked[code] = hit
        if blocked:
            movable = all(edge is not None for edge, _ in blocked.values())
            later = ask.closes_at
            if movable:
                later = after_quiet_hours(
                    max(e + timedelta(hours=recall_hours[c]) for c, (e, _) in blocked.items()),
                    tz,
                    quiet,
                )
            room = min(MIN_OPEN, (ask.closes_at - ask.due_at) / 2)
            if (
                movable
                and later + room <= ask.closes_at
                and all(
                    edges.blocking(c, timedelta(hours=recall_hours[c]), later, ask.closes_at)
                    is None
                    for c in blocked
                )
            ):
                hours_moved = (later - due).total_seconds() / 3600
                reasons.append(
                    f"moved {hours_moved:.0f} h: {', '.join(sorted(blocked))} outside "
                    "the recall of the previous ask"
                )
                due = later
            else:
                for code, (_, what) in sorted(blocked.items()):
                    keep.remove(code)
                    reasons.append(
                        f"{code} not asked: {what} is inside its "
                        f"{_recall_text(recall_hours[code])} recall"
                    )
        # Rule 4: a momentary instrument already asked in an overlapping window.
        for code in list(keep):
            if recall_hours.get(code, 0) > 0:
                continue
            for opens, closes, key, infusion, course_step in momentary.get(code, ()):
                apart = infusion != ask.infusion_id or course_step != ask.course_step
                if apart and opens < ask.closes_at and due < closes:
                    keep.remove(code)
                    reasons.append(f"{code} is asked by step '{key}' in the same hours")
                    break
        if not keep:
            out.skipped.append(
                Skipped(
                    ask.infusion_id,
                    ask.step_key,
                    ask.instruments,
                    ask.due_at,
                    "; ".join(reasons[len(ask.reasons) :]) or "nothing left to ask",
                )
            )
            continue
        kept = replace(ask, instruments=tuple(keep), due_at=due, reasons=tuple(reasons))
        out.asks.append(kept)
        for code in keep:
            if recall_hours.get(code, 0) > 0:
                edges.add(code, kept.due_at, kept.closes_at, f"step '{kept.step_key}'")
            else:
                momentary.setdefault(code, []).append(
                    (kept.due_at, kept.closes_at, kept.step_key, kept.infusion_id, kept.course_step)
                )
    out.asks.sort(key=lambda a: (a.due_at, a.infusion_id, a.step_key))
    return out


def merge_steps(plans: Sequence[tuple[str, int, Sequence[Step]]]) -> list[SourcedStep]:
    """One plan from several (a patient with several conditions follows every condition's
    template): steps with the same key and timing are one step asking every instrument of
    either; a key used with another timing is suffixed with its plan's position. The
    course pass then keeps any instrument from being asked twice inside its recall."""
    by_key: dict[str, SourcedStep] = {}
    order: list[str] = []
    for n, (plan_id, version, steps) in enumerate(plans):
        for step in steps:
            key = step.key
            if key in by_key:
                have = by_key[key].step
                same = (have.anchor, have.offset_minutes, have.align_local_time) == (
                    step.anchor,
                    step.offset_minutes,
                    step.align_local_time,
                )
                if same:
                    codes = have.instruments + tuple(
                        c for c in step.instruments if c not in have.instruments
                    )
                    merged = replace(
                        have,
                        instruments=codes,
                        # Skipped after a booster only if every plan asking it skips it.
                        skip_maintenance=have.skip_maintenance and step.skip_maintenance,
                        window_hours=max(have.window_hours, step.window_hours),
                        nudge_count=max(have.nudge_count, step.nudge_count),
                        nudge_interval_minutes=max(
                            have.nudge_interval_minutes, step.nudge_interval_minutes
                        ),
                    )
                    if (
                        merged.nudge_count * merged.nudge_interval_minutes
                        >= merged.window_hours * 60
                    ):
                        merged = replace(
                            merged,
                            nudge_count=have.nudge_count,
                            nudge_interval_minutes=have.nudge_interval_minutes,
                        )
                    by_key[key] = replace(by_key[key], step=merged)
                    continue
                key = f"{step.key}-{n}"[:40]
                step = replace(step, key=key)
            by_key[key] = SourcedStep(step=step, plan_id=plan_id, plan_version=version)
            order.append(key)
    return [by_key[k] for k in order]


def burden_per_week(due_times: Sequence[datetime], start: datetime, weeks: int) -> list[int]:
    """How many asks fall in each of `weeks` weeks from `start`."""
    counts = [0] * weeks
    for t in due_times:
        week = (t - start) // timedelta(days=7)
        if 0 <= week < weeks:
            counts[week] += 1
    return counts
