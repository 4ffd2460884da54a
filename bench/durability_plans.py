"""What a durability cohort is asked, and what it answers: the plans and the observation of
bench/durability.py (docs/BENCHMARKS.md, "Durability accuracy (bench/durability.py)").

Plans: 'default' (the clinic's default, `cadence_templates.DEFAULT_PLAN_STEPS`), 'dense' (a
short-recall signal every 3 days), a JSON file of steps (`--plan`), or a condition template
(`--template trd`, `--template trd+ptsd` for a patient with both) adapted to the shipped
instruments as `plan_store.template_plans_ensure` adapts it. Every plan is parsed by
`parse_steps` against the instruments' recall windows, as the plan service would.

Observation, per patient: the asks come from `course_plan.plan_course` over the patient's
infusions (one schedule for the induction and the booster; `--planner per-infusion` plans
every infusion on its own, the engine before issue 13); each ask is answered with
probability 0.8, 0-6 h after it falls due and before it closes, and an answer completes
every other open ask whose instruments it answered. Adaptive probes follow
notifications/probes.py, in time order, so an answered probe can add the next one.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from notifications.cadence import (
    MINUTES_PER_DAY,
    QuietHours,
    Step,
    StepsInvalid,
    parse_steps,
    plan_step,
)
from notifications.cadence_templates import DEFAULT_PLAN_STEPS, adapt, templates
from notifications.course_plan import InfusionSlot, SourcedStep, merge_steps, plan_course
from notifications.probes import Reading, Trend, fits_budget, probe_key, probe_window, trend
from outcomes.analytics.courses import CourseEvent
from outcomes.analytics.durability import InfusionEvent

ANSWER_RATE = 0.8
ANSWER_DELAY_HOURS = 6.0
BURDEN_DAYS = 56  # burden counted over the 8 weeks after the last infusion
QUIET = QuietHours(dtime(21, 0), dtime(8, 0))
DEFAULT_BUDGET = 4  # ClinicNotificationSettings.weekly_budget's default
PLANNERS = ("course", "per-infusion")

# The built-in alternative: a short-recall signal every 3 days after the first week, PHQ-9
# and GAD-7 every 15 days up to 12 weeks (INSTRUMENTS.md: "Durability needs a short-recall
# signal asked every few days ... with PHQ-9 / GAD-7 every 14 days as validated
# confirmation"; 15, not 14: the gap runs from the close of the previous 24-hour window).
_DAY = MINUTES_PER_DAY


def dense_plan_steps() -> list[dict]:
    steps: list[dict] = [
        {
            "key": "baseline",
            "label": "Before the infusion",
            "anchor": "infusion_start",
            "offset_minutes": -_DAY,
            "instruments": ["PHQ-9", "GAD-7", "MOOD"],
            "window_hours": 24,
            "nudge_count": 1,
            "nudge_interval_minutes": 240,
        },
        {"key": "hour-4", "offset_minutes": 240, "instruments": ["MOOD"], "window_hours": 8},
    ]
    mood_days = set(range(1, 3)) | set(range(7, 85, 3))
    phq_days = set(range(15, 85, 15))
    for day in sorted(mood_days | phq_days):
        confirm = day in phq_days
        steps.append(
            {
                "key": f"day-{day}",
                "offset_minutes": day * _DAY,
                "align_local_time": "10:00",
                "instruments": ["PHQ-9", "GAD-7", "MOOD"] if confirm else ["MOOD"],
                "window_hours": 24,
                "nudge_count": 1,
                "nudge_interval_minutes": 240,
            }
        )
    return steps


BUILTIN_PLANS = {"default": DEFAULT_PLAN_STEPS, "dense": dense_plan_steps()}


@dataclass(frozen=True)
class Plan:
    name: str
    raw: list  # the steps as a clinic stores them (what the plan service is given)
    steps: tuple[SourcedStep, ...]
    asks: tuple[str, ...]  # every instrument it asks
    notes: tuple[str, ...] = ()  # what adapting a template to the shipped instruments changed

    @property
    def plain_steps(self) -> tuple[Step, ...]:
        return tuple(s.step for s in self.steps)


def _parsed(raw: list, recall_hours: Mapping[str, int], what: str) -> list[Step]:
    try:
        return parse_steps(raw, recall_hours=recall_hours)
    except StepsInvalid as exc:
        raise SystemExit(f"{what}: the plan service would refuse it: {exc}") from exc


def _plan(name: str, raw: list, steps: Sequence[SourcedStep], notes=()) -> Plan:
    asks = tuple(dict.fromkeys(c for s in steps for c in s.step.instruments))
    return Plan(name=name, raw=raw, steps=tuple(steps), asks=asks, notes=tuple(notes))


def load_plan(spec: str, recall_hours: Mapping[str, int]) -> Plan:
    """'default', 'dense', or a JSON file: a list of steps, or {"name":..., "steps":[...]}."""
    if spec in BUILTIN_PLANS:
        name, raw = spec, BUILTIN_PLANS[spec]
    else:
        path = Path(spec)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(
                f"--plan {spec}: not a built-in plan nor a readable JSON file ({exc})"
            ) from exc
        raw = data.get("steps") if isinstance(data, dict) else data
        name = str(data.get("name") or path.stem) if isinstance(data, dict) else path.stem
    steps = _parsed(raw, recall_hours, f"--plan {spec}")
    return _plan(name, raw, [SourcedStep(step=s, plan_id=name) for s in steps])


def load_template(spec: str, recall_hours: Mapping[str, int]) -> Plan:
    """'default' (the clinic's default plan: trd and anxiety, stored as one plan), one
    condition, or conditions joined by '+' (one template plan each, merged per patient by
    `merge_steps`, as plans_for_patient does for a patient with several conditions)."""
    if spec == "default":
        return load_plan("default", recall_hours)
    known = templates()
    conditions = spec.split("+")
    unknown = [c for c in conditions if c not in known]
    if unknown:
        raise SystemExit(f"--template {spec}: no template {unknown} (of {', '.join(known)})")
    parts, notes, raws = [], [], []
    for condition in conditions:
        adapted = adapt(known[condition], recall_hours)
        notes += [f"{condition}: {n}" for n in adapted.notes]
        raws.append(adapted.steps)
        parts.append((condition, 1, _parsed(adapted.steps, recall_hours, f"--template {spec}")))
    steps = merge_steps(parts)
    raw = raws[0] if len(raws) == 1 else [s.step.as_dict() for s in steps]
    return _plan(spec, raw, steps, notes)


def print_plan(spec: str, recall_hours: Mapping[str, int]) -> str:
    if spec not in BUILTIN_PLANS and not set(spec.split("+")) <= set(templates()):
        raise SystemExit(
            f"--print-plan {spec}: not a built-in plan ({', '.join(BUILTIN_PLANS)}) nor a "
            f"template ({', '.join(templates())})"
        )
    plan = load_plan(spec, recall_hours) if spec in BUILTIN_PLANS else load_template(
        spec, recall_hours
    )  # fmt: skip
    return json.dumps({"name": plan.name, "steps": plan.raw}, indent=2)


# --- what is asked -----------------------------------------------------------------------
@dataclass(eq=False)
class Ask:
    """One reminder of the simulation (a plan step or a probe)."""

    due: datetime
    closes: datetime
    codes: frozenset[str]
    probe: bool = False
    done: bool = False  # answered, or completed by another check-in


def course_asks(
    plan: Plan,
    courses: Sequence[CourseEvent],
    *,
    tz: ZoneInfo,
    recall_hours: Mapping[str, int],
    answers: Mapping[str, list[datetime]],
) -> list[Ask]:
    """One schedule over all the patient's infusions (`plan_course`), each in its recorded
    course: the next infusion supersedes the tail of the one before, a course-anchored
    step is asked once per course, and no instrument is asked inside its recall (the
    intake's answers count)."""
    planned = plan_course(
        infusions=[
            InfusionSlot(i.id, i.started_at, i.ended_at, course=c.id, kind=str(c.kind))
            for c in courses
            for i in c.infusions
        ],
        steps=plan.steps,
        tz=tz,
        quiet=QUIET,
        recall_hours=recall_hours,
        answers=answers,
    )
    return [Ask(a.due_at, a.closes_at, frozenset(a.instruments)) for a in planned.asks]


def per_infusion_asks(plan: Plan, infusions: Sequence[InfusionEvent], *, tz: ZoneInfo) -> list[Ask]:
    """The engine before issue 13: every infusion runs its own copy of the plan
    (reminders_plan_for_infusion); a baseline pushed past the start is not asked."""
    asks = []
    for inf in infusions:
        for step in plan.plain_steps:
            p = plan_step(
                step, infusion_start=inf.started_at, infusion_end=inf.ended_at, tz=tz, quiet=QUIET
            )
            if p.window_closes_at > p.due_at:
                asks.append(Ask(p.due_at, p.window_closes_at, frozenset(step.instruments)))
    return asks


# --- what is answered ----------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeRule:
    """notifications/probes.py's rule: per probe instrument (momentary, with a minimal
    important difference), its MID and direction; the weekly burden budget."""

    instruments: Mapping[str, tuple[float, bool]]  # code -> (mid, higher_is_better)
    budget: int


@dataclass
class Schedule:
    """One patient's answered check-ins under one plan and truth, oldest first, and the
    burden in the BURDEN_DAYS after the last infusion."""

    at: list[datetime]
    scores: list[dict[str, float]]
    asked_8w: int = 0
    checkins_8w: int = 0
    probes_8w: int = 0  # probes asked
    probes_answered_8w: int = 0
    probes: int = 0  # probes asked, all follow-up
    answers_8w: dict[str, int] = field(default_factory=dict)

    def series(self, code: str, until: datetime | None) -> list[tuple[datetime, float]]:
        return [
            (at, s[code])
            for at, s in zip(self.at, self.scores, strict=True)
            if code in s and (until is None or at < until)
        ]


Score = Callable[[str, datetime, float], float]  # (code, answered_at, N(0, 1) draw) -> total


@dataclass
class _Run:
    """The state of one patient's simulation: every ask (plan and probes), the readings of
    the probe instruments, the probes by their key (one per instrument and local day)."""

    asks: list[Ask]
    heap: list
    readings: dict[str, list[Reading]]
    probes: dict[str, Ask] = field(default_factory=dict)
    seq: int = 0

    def push(self, ask: Ask) -> None:
        self.asks.append(ask)
        self.seq += 1
        heapq.heappush(self.heap, (ask.due, self.seq, ask))


def _maybe_probe(
    run: _Run, code: str, at: datetime, since: datetime, rule: ProbeRule, tz: ZoneInfo
) -> None:
    """After an answer of `code` at `at`: a probe two days later when the trend is FADING,
    within the weekly budget, and when no other ask of `code` is open or due before the
    probe would close."""
    mid, higher = rule.instruments[code]
    if trend(run.readings[code], since=since, mid=mid, higher_is_better=higher) is not Trend.FADING:
        return
    due, closes = probe_window(at, tz, QUIET)
    if any(code in a.codes and not a.done and a.closes > at and a.due < closes for a in run.asks):
        return
    # One probe per patient and local day (notifications/services/probes.py `_probe_add`):
    # a probe of that day not yet asked asks this instrument too; one asked already is the
    # day's probe.
    day = due.astimezone(tz).date()
    that_day = [p for p in run.probes.values() if p.due.astimezone(tz).date() == day]
    pending = next((p for p in that_day if not p.done and p.due > at), None)
    if pending is not None:
        pending.codes = pending.codes | {code}
        return
    if that_day:
        return
    key = probe_key(due, tz, code)
    if not fits_budget([a.due for a in run.asks], due, rule.budget):
        return
    probe = Ask(due, closes, frozenset({code}), probe=True)
    run.probes[key] = probe
    run.push(probe)


def observe(
    asks: list[Ask],
    *,
    tz: ZoneInfo,
    infusion_ends: Sequence[datetime],
    intake: tuple[datetime, Sequence[str]] | None,
    horizon: datetime,
    burden_from: datetime,
    rng: np.random.Generator,
    score: Score,
    probes: ProbeRule | None,
) -> Schedule:
    """Answer the asks in time order (p = ANSWER_RATE, 0-ANSWER_DELAY_HOURS after due,
    before close); an answer completes every other open ask whose instruments it answered
    (reminders_complete_for_checkin); asks due after `horizon` are not simulated."""
    run = _Run(asks=[], heap=[], readings={c: [] for c in (probes.instruments if probes else ())})
    for ask in asks:
        run.push(ask)
    at_list: list[datetime] = []
    scores: list[dict[str, float]] = []
    if intake is not None:
        at, codes = intake
        at_list.append(at)
        scores.append({c: score(c, at, float(rng.standard_normal())) for c in sorted(codes)})
    ends = sorted(infusion_ends)
    while run.heap:
        due, _, ask = heapq.heappop(run.heap)
        if due > horizon:
            break
        if ask.done:
            continue
        answered = rng.uniform() < ANSWER_RATE
        delay = timedelta(seconds=float(rng.uniform(0.0, ANSWER_DELAY_HOURS * 3600.0)))
        if not answered:
            continue
        at = min(due + delay, ask.closes - timedelta(minutes=1))
        for other in run.asks:
            if not other.done and other.due <= at < other.closes and other.codes <= ask.codes:
                other.done = True
        ask.done = True
        got = {c: score(c, at, float(rng.standard_normal())) for c in sorted(ask.codes)}
        at_list.append(at)
        scores.append(got)
        since = [e for e in ends if e <= at]
        if probes is None or not since:
            continue
        for code in sorted(ask.codes & set(run.readings)):
            run.readings[code].append(Reading(at=at, total=got[code]))
            _maybe_probe(run, code, at, since[-1], probes, tz)
    order = sorted(range(len(at_list)), key=at_list.__getitem__)
    sched = Schedule(at=[at_list[k] for k in order], scores=[scores[k] for k in order])
    hi = burden_from + timedelta(days=BURDEN_DAYS)
    in_8w = [s for at, s in zip(sched.at, sched.scores, strict=True) if burden_from < at <= hi]
    sched.asked_8w = sum(1 for a in run.asks if burden_from < a.due <= hi)
    sched.checkins_8w = len(in_8w)
    sched.probes = sum(1 for a in run.asks if a.probe)
    sched.probes_8w = sum(1 for a in run.asks if a.probe and burden_from < a.due <= hi)
    sched.probes_answered_8w = sum(
        1 for a in run.asks if a.probe and a.done and burden_from < a.due <= hi
    )
    codes = {c for s in in_8w for c in s}
    sched.answers_8w = {c: sum(1 for s in in_8w if c in s) for c in sorted(codes)}
    return sched
