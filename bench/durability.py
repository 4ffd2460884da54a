"""Durability accuracy: a simulation benchmark of the course engine and the interval
estimator (docs/BENCHMARKS.md, "Durability accuracy (bench/durability.py)").

    .venv/bin/python -m bench.durability [--cohorts 20] [--patients 400] [--plan default]
        [--plan dense] [--plan FILE.json] [--engine pure|services] [--seed 1]
        [--bootstrap 200] [--induction-patients 2000] [--workers 2]
        [--instruments PHQ-9,MOOD] [--truth exponential] [--truth weibull]
        [--responder-share 1] [--noise-scale 1] [--no-intake] [--out FILE]
    .venv/bin/python -m bench.durability --print-plan dense > my-plan.json  # edit, then
    .venv/bin/python -m bench.durability --plan default --plan my-plan.json

The question: does "how long does the benefit last" come out right, given what the
clinic's cadence plan actually asks, and at what burden? Synthetic cohorts with a KNOWN
loss-time distribution are observed only where the plan asks, answered 80% of the time,
0-6 h after the reminder, and run through the real course engine
(outcomes/analytics/courses.py) and the real Turnbull estimator with its bootstrap
(outcomes/analytics/interval.py); the estimate is compared with the truth.

The synthetic patient (seeded numpy Generator, `make_patient`):

- An intake score in clinic 3-14 days before the course (PHQ-9, GAD-7, MOOD; always
  recorded: INSTRUMENTS.md, "an in-clinic intake score counts"; `--no-intake` drops it).
- An induction course of 6 infusions of 40 min over 12 days (Mon/Wed/Fri, two weeks:
  Murrough 2013), started between 09:00 and 15:00 clinic time (America/New_York), courses
  starting on Mondays through the first half of 2025 (across a DST change); the patient
  lives in New York, Chicago or Los Angeles (reminders are timed on their wall clock).
- A latent symptom level r(t), a fraction of the patient's own baseline, piecewise
  constant. True responders (50% in the induction cohort; in the durability cohorts all
  patients, or --responder-share of them) fall to r_resp in [0.10, 0.40] after 1-4
  infusions and stay there until the true loss time T after the LAST infusion ends, then
  return to r_lost in [0.70, 1.00].
  T is exponential or Weibull (shape 1.5), both with median 18 days (Murrough 2013's
  figure); the two truths share their uniform draws (common random numbers), so they
  differ only in shape. Non-responders settle at [0.60, 0.95] (at most 40% better).
- A booster infusion (a maintenance course, "scheduled_booster") 35-70 days after the last
  infusion: it censors. After it the latent level returns to r_resp.
- Instruments read the latent state through their own recall window, taken from the
  definition files: PHQ-9 and GAD-7 (2 weeks) average r over the past 14 days, which is
  why they lag a loss; MOOD ("right now") reads it instantaneously. Baselines: PHQ-9
  16-24, GAD-7 11-19, MOOD 1-5 (symptom 5-9 on the 0-10 scale, higher is better); noise
  N(0, 1) point (PHQ-9, GAD-7) and N(0, 0.6) (MOOD), rounded and clipped to the scale.
  PHQ-9 is clipped at 24, what `config.demo.answers_for_total` can build without ever
  touching item 9 (the services path then stores exactly these totals).

Observation: for every infusion (induction and booster) every step of the plan is timed by
the real `notifications.cadence.plan_step` (patient's zone, quiet hours 21:00-08:00), with
steps from `parse_steps` (validated against the shipped instruments' recall windows), as
`reminders_plan_for_infusion` does for each recorded infusion; a step whose window closes
before it opens is skipped, as there. Each reminder is answered with probability 0.8, 0-6 h
after it falls due (before its window closes); an answer also completes every other open
reminder whose instruments it answered (`reminders_complete_for_checkin`'s rule), which is
then not asked again. NOTE: plans are PER INFUSION, so during a 6-infusion induction six
copies of the plan run side by side; that is what the product does today, and it is what
makes the PHQ-9 series after an induction much denser than one plan's day-14/day-28 steps.

Analysis (`--engine pure`, the default): per patient and instrument, Points and two
CourseEvents (induction, then the booster as maintenance) go through `course_outcomes`,
with thresholds built as the selectors build them (`CourseThresholds.from_definition` with
the recall window; `--threshold CODE:NAME=VALUE` tries another rule);
each induction course that responded gives its `durability_interval`; the cohort's
intervals go through `interval_survival` (--bootstrap replicates, seeded). Per plan,
instrument and truth, over --cohorts cohorts of --patients responders: the mean estimated
median against the true 18 days, bias, RMSE, the 95% interval's coverage of 18, the share
of cohorts whose median was not reached, the share of true responders recognised, and
the burden: answered check-ins per patient in the 8 weeks after the last infusion (and
answers of that instrument). Plus, on one induction cohort (--induction-patients, 50% true
responders): the course-level response rate against the truth, beside the per-infusion
engine's rate (`durability.infusion_outcomes` + `survival.response_rates`, what the
clinic's cohort reported before the course engine) for contrast.

`--engine services` runs the same cohorts through the database: its own PostgreSQL
database afterglow_bench_durability (created if missing, migrated, its tables emptied; never
the development or a test database), one clinic per cohort, plan and truth with the plan
stored by the real plan service, patients by `patient_enrol`, courses and infusions by
outcomes/services/infusions.py, every answered check-in by `checkin_submit` at its
answered_at (PHQ-9 and GAD-7 answers built by `answers_for_total`, one transaction per
patient); outcomes read back with `outcomes.selectors.outcomes.patient_course_outcomes`
and the induction courses' curve with `clinic_course_durability(group_by="course_kind")`,
and compared with the pure path on the same data and bootstrap seed (the per-patient
course outcomes and the curves must be equal). Defaults there: --patients 100, --cohorts 3,
--plan default, --truth exponential (about 12,400 check-ins through `checkin_submit`).
If they cannot be imported it stops with a message saying so; it exits 1 when the paths
disagree.

Targets (the issue): median bias within 1.5 days and 95% interval coverage >= 0.85 over 20+
cohorts, for both truths, on the durability signal; course response rate within 3 points
of the truth. Output: a table on stdout and bench/out/durability.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from multiprocessing import get_context
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from notifications.cadence import (
    DEFAULT_PLAN_STEPS,
    MINUTES_PER_DAY,
    QuietHours,
    Step,
    StepsInvalid,
    parse_steps,
    plan_step,
)
from outcomes.analytics.courses import CourseEvent, CourseThresholds, course_outcomes
from outcomes.analytics.durability import (
    LOWER_IS_BETTER,
    InfusionEvent,
    Point,
    Thresholds,
    infusion_outcomes,
)
from outcomes.analytics.interval import interval_survival
from outcomes.analytics.survival import response_rates
from outcomes.instruments.schema import load_definition_file, shipped_definition_files

OUT_DIR = Path(__file__).resolve().parent / "out"
BENCH_DB = "afterglow_bench_durability"

# --- the truth and the clinic ------------------------------------------------------------
TRUE_MEDIAN_DAYS = 18.0  # Murrough 2013: median time to relapse after 6 infusions
WEIBULL_SHAPE = 1.5
TRUTHS = ("exponential", "weibull")
ANSWER_RATE = 0.8
ANSWER_DELAY_HOURS = 6.0
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)  # Mon/Wed/Fri for two weeks: 6 infusions in 12 days
INFUSION_MINUTES = 40
BOOSTER_DAYS = (35.0, 70.0)  # after the last infusion ends: the next infusion censors
BURDEN_DAYS = 56  # burden counted over the 8 weeks after the last infusion
CLINIC_TZ = ZoneInfo("America/New_York")
PATIENT_TZS = ("America/New_York", "America/Chicago", "America/Los_Angeles")
PATIENT_TZ_WEIGHTS = (0.6, 0.2, 0.2)
QUIET = QuietHours(dtime(21, 0), dtime(8, 0))
FIRST_MONDAY = date(2025, 1, 6)
COURSE_START_WEEKS = 26  # courses start on Mondays over the first half of 2025
INSTRUMENTS = ("PHQ-9", "GAD-7", "MOOD")
# Latent model: baseline symptom ranges (in each instrument's symptom points), noise SDs,
# and the largest total the synthetic answers may have.
BASELINE_RANGE = {"PHQ-9": (16.0, 24.0), "GAD-7": (11.0, 19.0), "MOOD": (5.0, 9.0)}
NOISE_SD = {"PHQ-9": 1.0, "GAD-7": 1.0, "MOOD": 0.6}
MAX_TOTAL = {"PHQ-9": 24.0}  # answers_for_total never touches item 9 (no alert by accident)
RESPONDER_LEVEL = (0.10, 0.40)
LOST_LEVEL = (0.70, 1.00)
NON_RESPONDER_LEVEL = (0.60, 0.95)
ONSET_INFUSIONS = ((1, 0.2), (2, 0.3), (3, 0.3), (4, 0.2))  # Phillips 2019: median 3
LATENT_START_DAYS = -60.0  # r(t) = 1 before the first infusion, from here on

# Targets (the issue).
BIAS_TARGET_DAYS = 1.5
COVERAGE_TARGET = 0.85
RATE_TARGET_POINTS = 3.0

# The built-in alternative: a short-recall signal every 3 days after the first week, PHQ-9
# and GAD-7 every 14 days up to 12 weeks (INSTRUMENTS.md: "Durability needs a short-recall
# signal asked every few days ... with PHQ-9 / GAD-7 every 14 days as validated
# confirmation").
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
    phq_days = set(range(14, 85, 14))
    for day in sorted(mood_days | phq_days):
        confirm = day in phq_days
        steps.append(
            {
                "key": f"day-{day}",
                "offset_minutes": day * _DAY,
                "align_local_time": "10:00",
                "instruments": ["PHQ-9", "GAD-7", "MOOD"] if confirm else ["MOOD"],
                "window_hours": 48 if confirm else 24,
                "nudge_count": 1,
                "nudge_interval_minutes": 240,
            }
        )
    return steps


BUILTIN_PLANS = {"default": DEFAULT_PLAN_STEPS, "dense": dense_plan_steps()}


# --- instruments and plans ---------------------------------------------------------------
@dataclass(frozen=True)
class Instrument:
    code: str
    recall_days: float
    direction: str
    scale_max: float
    course_th: CourseThresholds
    infusion_th: Thresholds


def _override(instruments: dict[str, Instrument], spec: str) -> dict[str, Instrument]:
    """--threshold CODE:NAME=VALUE."""
    try:
        code, rest = spec.split(":", 1)
        name, raw = rest.split("=", 1)
        value = float(raw)
        inst = instruments[code]
        current = getattr(inst.course_th, name)
        if isinstance(current, int) and not isinstance(current, bool):
            value = int(raw)
        th = dataclasses.replace(inst.course_th, **{name: value})
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise SystemExit(f"--threshold {spec}: {exc!r}") from exc
    return {**instruments, code: dataclasses.replace(inst, course_th=th)}


def load_instruments() -> tuple[dict[str, Instrument], dict[str, int]]:
    """The shipped definitions: thresholds as the selectors build them, and every
    instrument's recall window in hours (what the plan service validates plans against)."""
    out: dict[str, Instrument] = {}
    recall_hours: dict[str, int] = {}
    for path in shipped_definition_files():
        defn = load_definition_file(path)
        if defn.text_included:
            recall_hours[defn.code] = int(defn.recall.hours)
        if defn.code not in INSTRUMENTS:
            continue
        _, hi = defn.scoring.range
        raw = defn.thresholds.model_dump()
        out[defn.code] = Instrument(
            code=defn.code,
            recall_days=defn.recall.hours / 24.0,
            direction=defn.direction,
            scale_max=float(hi),
            # As the selectors build them (outcomes/selectors/courses.course_thresholds):
            # the recall window decides how many responding readings a response needs.
            course_th=CourseThresholds.from_definition(
                raw,
                direction=defn.direction,
                scale_max=float(hi),
                code=defn.code,
                recall_hours=defn.recall.hours,
            ),
            infusion_th=Thresholds.from_definition(
                {k: v for k, v in raw.items() if k != "sources" and v is not None},
                direction=defn.direction,
                scale_max=float(hi),
            ),
        )
    missing = set(INSTRUMENTS) - set(out)
    if missing:
        raise SystemExit(f"no shipped definition for {sorted(missing)}")
    return out, recall_hours


@dataclass(frozen=True)
class Plan:
    name: str
    raw: list  # the steps as a clinic writes them (what the plan service is given)
    steps: tuple[Step, ...]


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
    try:
        steps = parse_steps(raw, recall_hours=recall_hours)
    except StepsInvalid as exc:
        raise SystemExit(f"--plan {spec}: the plan service would refuse it: {exc}") from exc
    return Plan(name=name, raw=raw, steps=tuple(steps))


# --- synthetic patients ------------------------------------------------------------------
@dataclass
class SimPatient:
    index: int
    tz: ZoneInfo
    t0: datetime  # first infusion's start: day 0 of the latent clock
    intake_at: datetime | None
    induction: tuple[InfusionEvent, ...]
    booster: InfusionEvent
    courses: tuple[CourseEvent, CourseEvent]
    responder: bool
    loss_u: float  # uniform(0, 1): T by inverse CDF, shared by both truths
    levels: tuple[float, ...]  # latent level after each induction infusion
    r_lost: float
    r_after_booster: float
    baseline: dict[str, float]  # symptom points at r = 1

    @property
    def last_end(self) -> datetime:
        return self.induction[-1].ended_at

    def day(self, at: datetime) -> float:
        return (at - self.t0).total_seconds() / 86_400.0


def loss_days(truth: str, u: float) -> float:
    """Inverse CDF; both truths have median TRUE_MEDIAN_DAYS."""
    h = -math.log1p(-u)  # cumulative hazard at T
    if truth == "exponential":
        return TRUE_MEDIAN_DAYS * h / math.log(2.0)
    if truth == "weibull":
        return TRUE_MEDIAN_DAYS * (h / math.log(2.0)) ** (1.0 / WEIBULL_SHAPE)
    raise ValueError(truth)


def _clinic_time(day: date, rng: np.random.Generator) -> datetime:
    """A start between 09:00 and 15:00 clinic time, on the quarter hour, in UTC."""
    minutes = 9 * 60 + 15 * int(rng.integers(0, 25))
    local = datetime.combine(day, dtime(minutes // 60, minutes % 60), tzinfo=CLINIC_TZ)
    return local.astimezone(UTC)


def make_patient(
    index: int, rng: np.random.Generator, *, responder: bool, intake: bool
) -> SimPatient:
    monday = FIRST_MONDAY + timedelta(weeks=int(rng.integers(0, COURSE_START_WEEKS)))
    induction = []
    for k, d in enumerate(INDUCTION_DAYS):
        start = _clinic_time(monday + timedelta(days=d), rng)
        induction.append(
            InfusionEvent(
                id=f"p{index}-i{k + 1}",
                started_at=start,
                ended_at=start + timedelta(minutes=INFUSION_MINUTES),
            )
        )
    last_end = induction[-1].ended_at
    gap = rng.uniform(*BOOSTER_DAYS)
    booster_day = (last_end + timedelta(days=gap)).astimezone(CLINIC_TZ).date()
    b_start = _clinic_time(booster_day, rng)
    booster = InfusionEvent(
        id=f"p{index}-b1",
        started_at=b_start,
        ended_at=b_start + timedelta(minutes=INFUSION_MINUTES),
    )
    tz = ZoneInfo(str(rng.choice(PATIENT_TZS, p=PATIENT_TZ_WEIGHTS)))
    intake_at = None
    if intake:
        intake_day = monday - timedelta(days=int(rng.integers(3, 15)))
        intake_at = _clinic_time(intake_day, rng)
    if responder:
        names, weights = zip(*ONSET_INFUSIONS, strict=True)
        onset = int(rng.choice(names, p=weights))
        target = rng.uniform(*RESPONDER_LEVEL)
    else:
        onset = 3
        target = rng.uniform(*NON_RESPONDER_LEVEL)
    levels = tuple(1.0 - (1.0 - target) * min(1.0, (k + 1) / onset) for k in range(6))
    baseline = {code: rng.uniform(*BASELINE_RANGE[code]) for code in INSTRUMENTS}
    t0 = induction[0].started_at
    return SimPatient(
        index=index,
        tz=tz,
        t0=t0,
        intake_at=intake_at,
        induction=tuple(induction),
        booster=booster,
        courses=(
            CourseEvent(id=f"p{index}-induction", kind="induction", infusions=tuple(induction)),
            CourseEvent(id=f"p{index}-booster", kind="maintenance", infusions=(booster,)),
        ),
        responder=responder,
        loss_u=float(rng.uniform()),
        levels=levels,
        r_lost=rng.uniform(*LOST_LEVEL),
        r_after_booster=target,  # the booster restores the course's level
        baseline=baseline,
    )


def make_cohort(
    seed_seq: np.random.SeedSequence, n: int, *, responder_share: float, intake: bool
) -> list[SimPatient]:
    rng = np.random.default_rng(seed_seq)
    return [
        make_patient(i, rng, responder=bool(rng.uniform() < responder_share), intake=intake)
        for i in range(n)
    ]


class Latent:
    """r(t), piecewise constant in days since t0, and its running integral."""

    def __init__(self, p: SimPatient, truth: str | None) -> None:
        bt = [LATENT_START_DAYS] + [p.day(i.ended_at) for i in p.induction]
        bv = [1.0, *p.levels]
        booster_day = p.day(p.booster.ended_at)
        self.loss_days: float | None = None
        if p.responder and truth is not None:
            self.loss_days = loss_days(truth, p.loss_u)
            loss_at = p.day(p.last_end) + self.loss_days
            if loss_at < booster_day:
                bt.append(loss_at)
                bv.append(p.r_lost)
        bt.append(booster_day)
        bv.append(p.r_after_booster)
        self.bt = np.asarray(bt)
        self.bv = np.asarray(bv)
        self.cum = np.concatenate(([0.0], np.cumsum(np.diff(self.bt) * self.bv[:-1])))

    def _integral(self, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.bt, t, side="right") - 1
        return self.cum[k] + self.bv[k] * (t - self.bt[k])

    def level(self, t: np.ndarray, recall_days: float) -> np.ndarray:
        """What an instrument with this recall window reads: the mean of r over the past
        `recall_days`, or r itself for "right now"."""
        if recall_days <= 0:
            return self.bv[np.searchsorted(self.bt, t, side="right") - 1]
        return (self._integral(t) - self._integral(t - recall_days)) / recall_days


def instrument_scores(
    inst: Instrument, base: float, level: np.ndarray, noise: np.ndarray, noise_scale: float
) -> np.ndarray:
    symptom = base * level + NOISE_SD[inst.code] * noise_scale * noise
    score = symptom if inst.direction == LOWER_IS_BETTER else inst.scale_max - symptom
    top = MAX_TOTAL.get(inst.code, inst.scale_max)
    return np.clip(np.rint(score), 0.0, top)


# --- what the plan asks, and what is answered ---------------------------------------------
@dataclass
class Schedule:
    """One patient's answered check-ins under one plan, oldest first."""

    at: list[datetime]
    codes: list[frozenset[str]]
    days: np.ndarray  # since t0
    noise: np.ndarray  # (check-ins, len(INSTRUMENTS)): shared by both truths
    asked_8w: int
    checkins_8w: int
    answers_8w: dict[str, int] = field(default_factory=dict)


def schedule_for(p: SimPatient, plan: Plan, rng: np.random.Generator, intake: bool) -> Schedule:
    horizon = max(p.booster.started_at, p.last_end + timedelta(days=BURDEN_DAYS))
    reminders: list[tuple[datetime, datetime, frozenset[str]]] = []
    for inf in (*p.induction, p.booster):
        for step in plan.steps:
            planned = plan_step(
                step, infusion_start=inf.started_at, infusion_end=inf.ended_at, tz=p.tz, quiet=QUIET
            )
            # As reminders_plan_for_infusion: a baseline pushed past the start is not asked.
            if planned.window_closes_at <= planned.due_at or planned.due_at > horizon:
                continue
            reminders.append(
                (planned.due_at, planned.window_closes_at, frozenset(step.instruments))
            )
    reminders.sort(key=lambda r: (r[0], r[1], sorted(r[2])))
    n = len(reminders)
    answered = rng.uniform(size=n) < ANSWER_RATE
    delay = rng.uniform(0.0, ANSWER_DELAY_HOURS * 3600.0, size=n)
    dues = [r[0] for r in reminders]
    longest = max((c - d for d, c, _ in reminders), default=timedelta(0))
    done = [False] * n
    checkins: list[tuple[datetime, frozenset[str]]] = []
    for i, (due, closes, codes) in enumerate(reminders):
        if done[i] or not answered[i]:
            continue
        at = min(due + timedelta(seconds=float(delay[i])), closes - timedelta(minutes=1))
        # reminders_complete_for_checkin: every open reminder due by then whose
        # instruments this check-in answered is completed by it.
        for j in range(bisect_left(dues, at - longest), bisect_right(dues, at)):
            if not done[j] and reminders[j][1] > at and reminders[j][2] <= codes:
                done[j] = True
        checkins.append((at, codes))
    if intake and p.intake_at is not None:
        checkins.append((p.intake_at, frozenset(INSTRUMENTS)))
    checkins.sort(key=lambda c: c[0])
    lo, hi = p.last_end, p.last_end + timedelta(days=BURDEN_DAYS)
    in_8w = [codes for at, codes in checkins if lo < at <= hi]
    return Schedule(
        at=[at for at, _ in checkins],
        codes=[codes for _, codes in checkins],
        days=np.asarray([p.day(at) for at, _ in checkins]),
        noise=rng.standard_normal((len(checkins), len(INSTRUMENTS))),
        asked_8w=sum(1 for d, _, _ in reminders if lo < d <= hi),
        checkins_8w=len(in_8w),
        answers_8w={c: sum(1 for codes in in_8w if c in codes) for c in INSTRUMENTS},
    )


def patient_series(
    p: SimPatient,
    sched: Schedule,
    latent: Latent,
    instruments: Mapping[str, Instrument],
    *,
    until: datetime | None,
    noise_scale: float,
) -> dict[str, list[tuple[datetime, float]]]:
    """(answered_at, score) per instrument; `until` keeps only what came before it."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for col, code in enumerate(INSTRUMENTS):
        inst = instruments[code]
        keep = [
            k
            for k, (at, codes) in enumerate(zip(sched.at, sched.codes, strict=True))
            if code in codes and (until is None or at < until)
        ]
        if not keep:
            out[code] = []
            continue
        idx = np.asarray(keep)
        level = latent.level(sched.days[idx], inst.recall_days)
        scores = instrument_scores(
            inst, p.baseline[code], level, sched.noise[idx, col], noise_scale
        )
        out[code] = [(sched.at[k], s) for k, s in zip(keep, scores.tolist(), strict=True)]
    return out


def _points(series: Sequence[tuple[datetime, float]]) -> list[Point]:
    return [Point(at=at, score=score) for at, score in series]


# --- the pure path -----------------------------------------------------------------------
@dataclass(frozen=True)
class FitSummary:
    median: float | None
    ci_low: float | None
    ci_high: float | None
    responders: int  # recognised: the induction course responded
    false_responders: int  # recognised, but not a true responder
    events: int
    true_responders: int
    bootstrap_unreached: int
    sample_true_median: float

    def covers(self, truth: float) -> bool:
        if self.ci_low is None:
            return False  # no finite lower limit: the interval is (inf, inf)
        high = math.inf if self.ci_high is None else self.ci_high
        return self.ci_low <= truth <= high


def fit_intervals(
    intervals: list[tuple[float, float]], *, bootstrap: int, seed: int
) -> tuple[float | None, float | None, float | None, int, int]:
    if not intervals:
        return None, None, None, 0, 0
    est = interval_survival(intervals, bootstrap=bootstrap, seed=seed)
    lo, hi = est.median_ci
    return est.median, lo, hi, est.events, est.bootstrap_median_unreached


@dataclass(frozen=True)
class Config:
    """What a worker needs of the command line."""

    seed: int
    patients: int
    bootstrap: int
    intake: bool
    induction_patients: int
    responder_share: float  # of the durability cohorts (the issue: 1, responders only)
    noise_scale: float
    codes: tuple[str, ...]  # the instruments analysed
    truths: tuple[str, ...]


def analyse_pure(
    patients: Sequence[SimPatient],
    schedules: Sequence[Schedule],
    truth: str,
    instruments: Mapping[str, Instrument],
    cfg: Config,
    *,
    seed: int,
) -> tuple[dict[str, FitSummary], dict[str, list]]:
    """Course outcomes per patient and instrument, then the cohort's interval estimate.
    Also returns, per instrument, each patient's (responded, interval) for cross-checks."""
    per_code: dict[str, list] = {c: [] for c in cfg.codes}
    true_t: list[float] = []
    for p, sched in zip(patients, schedules, strict=True):
        latent = Latent(p, truth)
        if latent.loss_days is not None:
            true_t.append(latent.loss_days)
        series = patient_series(
            p, sched, latent, instruments, until=p.booster.started_at, noise_scale=cfg.noise_scale
        )
        for code in cfg.codes:
            outs = course_outcomes(_points(series[code]), p.courses, instruments[code].course_th)
            first = outs[0]
            per_code[code].append((first.responded, first.durability_interval, p.responder))
    fits: dict[str, FitSummary] = {}
    for code in cfg.codes:
        intervals = [iv for responded, iv, _ in per_code[code] if responded and iv is not None]
        false = sum(1 for responded, _, real in per_code[code] if responded and not real)
        median, lo, hi, events, unreached = fit_intervals(
            intervals, bootstrap=cfg.bootstrap, seed=_code_seed(seed, code)
        )
        fits[code] = FitSummary(
            median=median,
            ci_low=lo,
            ci_high=hi,
            responders=len(intervals),
            false_responders=false,
            events=events,
            true_responders=len(true_t),
            bootstrap_unreached=unreached,
            sample_true_median=float(np.median(true_t)) if true_t else math.nan,
        )
    return fits, per_code


def _code_seed(seed: int, code: str) -> int:
    return seed * 10 + INSTRUMENTS.index(code)


def _seed_for(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([*parts])


def _fit_seed(cfg: Config, cohort: int, plan_index: int, truth_index: int) -> int:
    return (cfg.seed * 1000 + cohort) * 100 + plan_index * 10 + truth_index


def cohort_patients(cfg: Config, cohort: int, n: int) -> list[SimPatient]:
    """Durability cohort `cohort`: n true responders. The same patients (and loss-time
    draws) under every plan and truth: the comparisons are paired."""
    return make_cohort(
        _seed_for(cfg.seed, 1, cohort), n, responder_share=cfg.responder_share, intake=cfg.intake
    )


def cohort_schedules(
    cfg: Config, cohort: int, plan_index: int, plan: Plan, patients: Sequence[SimPatient]
) -> list[Schedule]:
    rng = np.random.default_rng(_seed_for(cfg.seed, 2, cohort, plan_index))
    return [schedule_for(p, plan, rng, cfg.intake) for p in patients]


def run_cohort(task: tuple) -> dict:
    """One durability cohort: every plan, truth and instrument (a worker's unit)."""
    cohort, cfg, plans, instruments = task
    start = time.process_time()
    patients = cohort_patients(cfg, cohort, cfg.patients)
    out: dict = {"cohort": cohort, "plans": {}}
    for pi, plan in enumerate(plans):
        schedules = cohort_schedules(cfg, cohort, pi, plan, patients)
        per_truth = {}
        for truth in cfg.truths:
            seed = _fit_seed(cfg, cohort, pi, TRUTHS.index(truth))
            fits, _ = analyse_pure(patients, schedules, truth, instruments, cfg, seed=seed)
            per_truth[truth] = {c: f.__dict__ for c, f in fits.items()}
        out["plans"][plan.name] = {"burden": _burden(schedules), "fits": per_truth}
    out["cpu_s"] = time.process_time() - start
    return out


def _burden(schedules: Sequence[Schedule]) -> dict:
    n = len(schedules)
    return {
        "asked_8w": sum(s.asked_8w for s in schedules) / n,
        "checkins_8w": sum(s.checkins_8w for s in schedules) / n,
        "answers_8w": {c: sum(s.answers_8w[c] for s in schedules) / n for c in INSTRUMENTS},
    }


def run_induction(task: tuple) -> dict:
    """Course-level response rate on a mixed induction cohort (50% true responders),
    against the truth, and the per-infusion engine's rate for contrast."""
    cfg, plan, pi, instruments = task
    start = time.process_time()
    patients = make_cohort(
        _seed_for(cfg.seed, 3), cfg.induction_patients, responder_share=0.5, intake=cfg.intake
    )
    rng = np.random.default_rng(_seed_for(cfg.seed, 4, pi))
    tallies: dict[str, dict] = {
        c: {"evaluable": 0, "true": 0, "hits": 0, "false": 0, "naive": []} for c in INSTRUMENTS
    }  # every instrument: it is cheap
    for p in patients:
        sched = schedule_for(p, plan, rng, cfg.intake)
        latent = Latent(p, "exponential")
        series = patient_series(
            p, sched, latent, instruments, until=p.booster.started_at, noise_scale=cfg.noise_scale
        )
        for code in INSTRUMENTS:
            inst, t = instruments[code], tallies[code]
            points = _points(series[code])
            first = course_outcomes(points, p.courses, inst.course_th)[0]
            if first.evaluable and first.assessments:
                t["evaluable"] += 1
                t["true"] += p.responder
                t["hits"] += first.responded and p.responder
                t["false"] += first.responded and not p.responder
            # What the clinic's cohort reported before courses: every infusion judged
            # against its own pre-score (survival.response_rates over infusion outcomes).
            t["naive"] += infusion_outcomes(points, [*p.induction, p.booster], inst.infusion_th)
    rows = {}
    for code, t in tallies.items():
        n, naive = t["evaluable"], response_rates(t["naive"])
        rate = (t["hits"] + t["false"]) / n if n else None
        truth = t["true"] / n if n else None
        rows[code] = {
            "patients": len(patients),
            "evaluable": n,
            "course_response_rate": rate,
            "true_rate_evaluable": truth,
            "true_rate_all": sum(p.responder for p in patients) / len(patients),
            "error_points": None if rate is None else 100.0 * (rate - truth),
            "true_responders_recognised": t["hits"] / t["true"] if t["true"] else None,
            "non_responders_called_responders": t["false"] / (n - t["true"])
            if n > t["true"]
            else None,
            "per_infusion_rate": naive["response_rate"],
            "per_infusion_evaluable": naive["evaluable"],
        }
    return {"plan": plan.name, "rows": rows, "cpu_s": time.process_time() - start}


# --- aggregation and report ----------------------------------------------------------------
def summarise(cohorts: list[dict], plans: Sequence[Plan], cfg: Config) -> list[dict]:
    rows = []
    for plan in plans:
        burdens = [c["plans"][plan.name]["burden"] for c in cohorts]
        for code in cfg.codes:
            for truth in cfg.truths:
                fits = [FitSummary(**c["plans"][plan.name]["fits"][truth][code]) for c in cohorts]
                rows.append(_row(plan.name, code, truth, fits, burdens))
    return rows


def _row(plan: str, code: str, truth: str, fits: list[FitSummary], burdens: list[dict]) -> dict:
    reached = [f.median for f in fits if f.median is not None]
    n = len(fits)
    widths = [f.ci_high - f.ci_low for f in fits if f.ci_low is not None and f.ci_high is not None]
    mean = sum(reached) / len(reached) if reached else None
    bias = None if mean is None else mean - TRUE_MEDIAN_DAYS
    # Against each cohort's own sample median of T: what is left once the sampling luck
    # of the cohorts (shared by every plan and instrument: paired draws) is taken out.
    vs_sample = [f.median - f.sample_true_median for f in fits if f.median is not None]
    rmse = (
        math.sqrt(sum((m - TRUE_MEDIAN_DAYS) ** 2 for m in reached) / len(reached))
        if reached
        else None
    )
    coverage = sum(f.covers(TRUE_MEDIAN_DAYS) for f in fits) / n
    not_reached = (n - len(reached)) / n
    recognised = sum((f.responders - f.false_responders) / f.true_responders for f in fits) / n
    ok = bias is not None and abs(bias) <= BIAS_TARGET_DAYS and coverage >= COVERAGE_TARGET
    return {
        "plan": plan,
        "instrument": code,
        "truth": truth,
        "true_median_days": TRUE_MEDIAN_DAYS,
        "cohorts": n,
        "mean_median_days": mean,
        "bias_days": bias,
        "bias_vs_sample_median_days": sum(vs_sample) / len(vs_sample) if vs_sample else None,
        "rmse_days": rmse,
        "coverage_95": coverage,
        "median_ci_width_days": float(np.median(widths)) if widths else None,
        "median_not_reached_share": not_reached,
        "recognised_responder_share": recognised,
        "false_responders_per_cohort": sum(f.false_responders for f in fits) / n,
        "responders_per_cohort": sum(f.responders for f in fits) / n,
        "losses_seen_per_cohort": sum(f.events for f in fits) / n,
        "answers_per_patient_8w": sum(b["answers_8w"][code] for b in burdens) / len(burdens),
        "checkins_per_patient_8w": sum(b["checkins_8w"] for b in burdens) / len(burdens),
        "reminders_per_patient_8w": sum(b["asked_8w"] for b in burdens) / len(burdens),
        "meets_targets": ok,
    }


def _fmt(x, spec: str = ".1f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_report(results: dict) -> None:
    head = (
        "plan", "instrument", "truth", "true", "est.median", "bias", "bias/sample", "RMSE",
        "cover95", "CI width", "not reached", "recognised", "answers/8w", "check-ins/8w",
        "targets",
    )  # fmt: skip
    table = [head]
    for r in results["durability"]:
        table.append(
            (
                r["plan"], r["instrument"], r["truth"], _fmt(r["true_median_days"]),
                _fmt(r["mean_median_days"]), _fmt(r["bias_days"], "+.1f"),
                _fmt(r["bias_vs_sample_median_days"], "+.1f"), _fmt(r["rmse_days"]),
                _fmt(r["coverage_95"], ".2f"), _fmt(r["median_ci_width_days"]),
                _fmt(r["median_not_reached_share"], ".2f"),
                _fmt(r["recognised_responder_share"], ".3f"),
                _fmt(r["answers_per_patient_8w"]), _fmt(r["checkins_per_patient_8w"]),
                "met" if r["meets_targets"] else "MISSED",
            )
        )  # fmt: skip
    _print_table(table)
    s = results["settings"]
    print(
        f"\n{s['cohorts']} cohorts of {s['patients']} patients "
        f"({s['responder_share']:.0%} true responders) per plan and truth "
        f"(true median {TRUE_MEDIAN_DAYS:g} d); bootstrap {s['bootstrap']}; targets: "
        f"|bias| <= {BIAS_TARGET_DAYS} d and coverage >= {COVERAGE_TARGET}. bias/sample: "
        "against each cohort's own sample median of T. answers/8w: that instrument's answers "
        f"per patient, check-ins/8w: all answered check-ins, in the {BURDEN_DAYS} days after "
        "the last infusion."
    )
    table = [
        (
            "plan", "instrument", "evaluable", "course rate", "truth", "error (pts)",
            "sensitivity", "false resp.", "per-infusion rate", "target",
        )
    ]  # fmt: skip
    for plan, rows in results["induction"].items():
        for code, r in rows["rows"].items():
            err = r["error_points"]
            table.append(
                (
                    plan, code, str(r["evaluable"]), _pct(r["course_response_rate"]),
                    _pct(r["true_rate_evaluable"]), _fmt(err, "+.1f"),
                    _pct(r["true_responders_recognised"]),
                    _pct(r["non_responders_called_responders"]), _pct(r["per_infusion_rate"]),
                    "met" if err is not None and abs(err) <= RATE_TARGET_POINTS else "MISSED",
                )
            )  # fmt: skip
    print(
        f"\ninduction cohort: {s['induction_patients']} patients, ~50% true responders; "
        f"target |error| <= {RATE_TARGET_POINTS:g} points; per-infusion rate: every infusion "
        "against its own pre-score (the old engine), for contrast"
    )
    _print_table(table)


def _print_table(rows: list[tuple]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                str(v).ljust(w) if i < 3 else str(v).rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def run_pure(args, cfg: Config, plans: list[Plan], instruments: dict[str, Instrument]) -> dict:
    cohort_tasks = [(c, cfg, plans, instruments) for c in range(args.cohorts)]
    induction_tasks = [(cfg, plan, pi, instruments) for pi, plan in enumerate(plans)]
    start = time.perf_counter()
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("fork")) as pool:
            induction_futures = [pool.submit(run_induction, t) for t in induction_tasks]
            cohorts = list(pool.map(run_cohort, cohort_tasks))
            induction = [f.result() for f in induction_futures]
    else:
        induction = [run_induction(t) for t in induction_tasks]
        cohorts = [run_cohort(t) for t in cohort_tasks]
    wall = time.perf_counter() - start
    return {
        "durability": summarise(cohorts, plans, cfg),
        "induction": {r["plan"]: r for r in induction},
        "cohorts_raw": cohorts,
        "timing": {
            "wall_s": round(wall, 1),
            "cpu_s_cohorts": round(sum(c["cpu_s"] for c in cohorts), 1),
            "cpu_s_induction": round(sum(r["cpu_s"] for r in induction), 1),
            "workers": args.workers,
        },
    }


# --- the services path ---------------------------------------------------------------------
def _import_selectors():
    try:
        from outcomes.selectors.outcomes import (
            clinic_course_durability,
            patient_course_outcomes,
        )
    except ImportError as exc:
        raise SystemExit(
            "--engine services reads course outcomes through "
            "outcomes.selectors.outcomes.patient_course_outcomes(patient=..., codes=[...]) and "
            "clinic_course_durability(clinic=..., code=..., bootstrap=...), which are not "
            f"importable yet ({exc}). Run --engine pure (the default) until they land."
        ) from exc
    return patient_course_outcomes, clinic_course_durability


def _setup_services_db() -> None:
    """Our own database (as bench/_db.setup_django, whose list of bench databases does not
    name this one): never the development or a test database."""
    from bench._db import _ensure_database

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
    _ensure_database(BENCH_DB)
    import django

    django.setup()
    from django.db import connection

    if connection.settings_dict["NAME"] != BENCH_DB:
        raise SystemExit(f"refusing to run against database {connection.settings_dict['NAME']!r}")


def _reset_services_db() -> None:
    """Migrate, empty every table of our apps, load the shipped instruments."""
    import io

    from django.apps import apps
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    labels = [a.label for a in apps.get_app_configs() if a.label in ("accounts", "outcomes",
                                                                      "notifications")]  # fmt: skip
    tables = sorted(
        {
            m._meta.db_table
            for label in labels
            for m in apps.get_app_config(label).get_models(include_auto_created=True)
        }
    )
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE {} RESTART IDENTITY CASCADE".format(
                ", ".join(connection.ops.quote_name(t) for t in tables)
            )
        )
    call_command("instruments_sync", verbosity=0, stdout=io.StringIO())


def _local_answers_for_total(defn, total: int, rng) -> dict[str, int]:
    """config.demo.answers_for_total, line for line, for when config.demo cannot be
    imported (it imports the whole demo seed)."""
    safety_items = {r.when.link_id for r in defn.safety if r.when is not None}
    scored = [i for i in defn.items if i.scored and i.link_id not in safety_items]
    values = {i.link_id: 0 for i in defn.items if i.required}
    top = {i.link_id: max(o.value for o in defn.option_set(i)) for i in scored}
    remaining = max(0, int(total))
    order = [i.link_id for i in scored]
    while remaining > 0 and any(values[k] < top[k] for k in order):
        k = rng.choice([k for k in order if values[k] < top[k]])
        values[k] += 1
        remaining -= 1
    return values


_ANSWERS_FOR_TOTAL = None


def _answers_for_total():
    global _ANSWERS_FOR_TOTAL
    if _ANSWERS_FOR_TOTAL is None:
        try:
            from config.demo import answers_for_total
        except ImportError as exc:
            print(f"config.demo does not import ({exc}); using its answers_for_total's copy")
            answers_for_total = _local_answers_for_total
        _ANSWERS_FOR_TOTAL = answers_for_total
    return _ANSWERS_FOR_TOTAL


def _answers(code: str, score: float, defn, rnd) -> dict:
    if code in ("PHQ-9", "GAD-7"):
        answers = _answers_for_total()(defn, int(score), rnd)
        built = sum(answers.values())
        if built != int(score):
            raise SystemExit(f"{code}: answers add up to {built}, not {int(score)}")
        return answers
    if code == "PEG":
        return {"item1": int(score), "item2": int(score), "item3": int(score)}
    return {"item1": int(score)}


def _seed_patient(p: SimPatient, sched: Schedule, *, clinic, cohort: int, truth: str, ctx):
    """One patient through the services: enrolment, the two courses and their infusions,
    every answered check-in at its answered_at. One transaction (the services' own are
    savepoints in it): a commit per patient, not per check-in."""
    import uuid
    from decimal import Decimal

    from django.db import transaction

    from outcomes.services import checkin_submit, patient_enrol
    from outcomes.services.checkins import ResponseInput
    from outcomes.services.infusions import infusion_schedule, treatment_course_create

    with transaction.atomic():
        patient, _ = patient_enrol(
            clinic=clinic, display_name=f"Synthetic {p.index}", timezone_name=p.tz.key,
            conditions=["trd"], clinic_reference=f"SIM-{cohort}-{p.index}",
        )  # fmt: skip
        for kind, infusions in (("induction", p.induction), ("maintenance", (p.booster,))):
            course = treatment_course_create(
                patient=patient,
                kind=kind,
                started_on=infusions[0].started_at.astimezone(CLINIC_TZ).date(),
            )
            for inf in infusions:
                infusion_schedule(
                    patient=patient, scheduled_at=inf.started_at, started_at=inf.started_at,
                    ended_at=inf.ended_at, course=course, weight_kg=Decimal("70.0"),
                    dose_mg_per_kg=Decimal("0.5"),
                )  # fmt: skip
        series = patient_series(
            p, sched, Latent(p, truth), ctx.instruments, until=None, noise_scale=ctx.noise_scale
        )
        by_time: dict[datetime, dict[str, float]] = {}
        for code, pts in series.items():
            for at, score in pts:
                by_time.setdefault(at, {})[code] = score
        for at, codes in zip(sched.at, sched.codes, strict=True):
            scores = dict(by_time.get(at, {}))
            for extra in sorted(codes - set(INSTRUMENTS)):  # pain items the plan asks too
                scores[extra] = float(ctx.rnd.randint(1, 3))
            responses = [
                ResponseInput(
                    code, ctx.versions[code].version,
                    _answers(code, score, ctx.definitions[code], ctx.rnd),
                )
                for code, score in sorted(scores.items())
            ]  # fmt: skip
            checkin_submit(
                patient=patient,
                check_in_id=uuid.UUID(int=ctx.rnd.getrandbits(128), version=4),
                answered_at=at,
                responses=responses,
            )
    return patient


@dataclass
class _SeedContext:
    instruments: Mapping[str, Instrument]
    noise_scale: float
    rnd: object  # random.Random: check-in ids and answer spreading
    versions: dict = field(default_factory=dict)
    definitions: dict = field(default_factory=dict)


def _seed_clinic(*, cohort: int, plan: Plan, truth: str, patients, schedules, ctx: _SeedContext):
    """One clinic of this cohort under this plan and truth, written through the services,
    its plan stored (and validated) by the plan service. Returns the clinic and the stored
    patients, in the cohort's order."""
    from accounts.models import Clinic
    from notifications.models import ClinicNotificationSettings
    from notifications.services.plan_store import default_plan_ensure, plan_steps
    from notifications.services.plans import cadence_plan_create
    from outcomes.instruments import definition_for
    from outcomes.models import InstrumentVersion

    clinic = Clinic.objects.create(
        name=f"Bench durability {cohort} {plan.name} {truth}",
        slug=f"bench-durability-{cohort}-{plan.name}-{truth}"[:60],
        timezone=CLINIC_TZ.key,
    )
    ClinicNotificationSettings.objects.create(
        clinic=clinic, quiet_hours_start=QUIET.start, quiet_hours_end=QUIET.end
    )
    if plan.name == "default":
        stored = default_plan_ensure(clinic=clinic)
    else:
        stored = cadence_plan_create(
            clinic=clinic, name=plan.name, steps=plan.raw, is_default=True, replan=False
        )
    if [s.as_dict() for s in plan_steps(stored)] != [s.as_dict() for s in plan.steps]:
        raise SystemExit(f"the stored plan {plan.name!r} differs from the one simulated")
    if not ctx.versions:
        rows = InstrumentVersion.objects.filter(clinic__isnull=True, is_active=True)
        ctx.versions = {row.code: row for row in rows.order_by("loaded_at")}
        ctx.definitions = {code: definition_for(row) for code, row in ctx.versions.items()}
    stored_patients = [
        _seed_patient(p, sched, clinic=clinic, cohort=cohort, truth=truth, ctx=ctx)
        for p, sched in zip(patients, schedules, strict=True)
    ]
    return clinic, stored_patients


def _course_view(raw, code: str) -> tuple[bool, tuple[float, float] | None]:
    """The induction course's (responded, durability_interval) from
    patient_course_outcomes: (courses, {code: InstrumentCourses(outcomes=[...])}), the
    courses in order, so the induction first."""
    _, by_code = raw
    first = by_code[code].outcomes[0]
    return bool(first.responded), first.durability_interval


def _curve_view(raw) -> dict:
    """The induction courses' curve from clinic_course_durability(group_by="course_kind"):
    its median and interval, and whether the selector judged the signal able to date a
    loss (no curve when not)."""
    group = next((g for g in raw.groups if g.name == "induction"), None)
    curve = None if group is None else group.curve
    return {
        "median": None if curve is None else curve.median,
        "ci": (None, None) if curve is None else tuple(curve.median_ci),
        "responders": None if group is None else group.responders,
        "can_date_loss": raw.signal.can_date_loss,
        "median_days_between_assessments": raw.signal.median_days_between_assessments,
        "reason": raw.signal.reason,
    }


def _same_course(got: tuple, want: tuple) -> bool:
    if got[0] != want[0]:
        return False
    if got[1] is None or want[1] is None:
        return got[1] is None and want[1] is None
    return bool(np.allclose(got[1], want[1], rtol=0.0, atol=1e-6))


def _read_clinic(
    *, clinic, stored, per_patient: dict, fits: dict, cfg: Config, selectors, where: dict,
    seed: int,
) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """Read the clinic back through the selectors; compare with the pure path (same
    bootstrap seed, so equal inputs give an equal curve)."""
    patient_course_outcomes, clinic_course_durability = selectors
    rows, mismatches = [], []
    for code in cfg.codes:
        for k, (patient, want) in enumerate(zip(stored, per_patient[code], strict=True)):
            got = _course_view(patient_course_outcomes(patient=patient, codes=[code]), code)
            if not _same_course(got, want):
                mismatches.append({**where, "code": code, "patient": k, "services": got,
                                   "pure": want[:2]})  # fmt: skip
        curve = _curve_view(
            clinic_course_durability(
                clinic=clinic, code=code, group_by="course_kind", bootstrap=cfg.bootstrap,
                seed=_code_seed(seed, code),
            )
        )  # fmt: skip
        f = fits[code]
        rows.append(
            {
                **where, "instrument": code, "services_median": curve.pop("median"),
                "services_ci": curve.pop("ci"), "services_signal": curve,
                "pure_median": f.median, "pure_ci": (f.ci_low, f.ci_high),
                "pure_responders": f.responders, "true_responders": f.true_responders,
            }
        )  # fmt: skip
    return rows, mismatches


def run_services(args, cfg: Config, plans: list[Plan], instruments: dict[str, Instrument]) -> dict:
    import random

    _setup_services_db()
    selectors = _import_selectors()
    start = time.perf_counter()
    _reset_services_db()
    timing = {"reset_s": time.perf_counter() - start, "seed_s": 0.0, "read_s": 0.0}
    # Synthetic patients with no staff to reach: the "reached no one" errors are expected.
    logging.getLogger("notifications.services.care_team").setLevel(logging.CRITICAL)
    ctx = _SeedContext(
        instruments=instruments, noise_scale=cfg.noise_scale, rnd=random.Random(cfg.seed)
    )
    rows, mismatches, submitted = [], [], 0
    for cohort in range(args.cohorts):
        patients = cohort_patients(cfg, cohort, cfg.patients)
        for pi, plan in enumerate(plans):
            schedules = cohort_schedules(cfg, cohort, pi, plan, patients)
            for truth in cfg.truths:
                t = time.perf_counter()
                clinic, stored = _seed_clinic(
                    cohort=cohort, plan=plan, truth=truth, patients=patients,
                    schedules=schedules, ctx=ctx,
                )  # fmt: skip
                timing["seed_s"] += time.perf_counter() - t
                submitted += sum(len(s.at) for s in schedules)
                fits, per_patient = analyse_pure(
                    patients, schedules, truth, instruments, cfg,
                    seed=_fit_seed(cfg, cohort, pi, TRUTHS.index(truth)),
                )  # fmt: skip
                t = time.perf_counter()
                got_rows, got_mismatches = _read_clinic(
                    clinic=clinic, stored=stored, per_patient=per_patient, fits=fits, cfg=cfg,
                    selectors=selectors, seed=_fit_seed(cfg, cohort, pi, TRUTHS.index(truth)),
                    where={"cohort": cohort, "plan": plan.name, "truth": truth},
                )  # fmt: skip
                timing["read_s"] += time.perf_counter() - t
                rows += got_rows
                mismatches += got_mismatches
    timing = {k: round(v, 1) for k, v in timing.items()}
    timing["checkins_submitted"] = submitted
    timing["checkins_per_s"] = round(submitted / timing["seed_s"], 1) if timing["seed_s"] else None
    curve_mismatches = sum(
        1
        for r in rows
        if r["services_signal"]["can_date_loss"]
        and (r["services_median"], tuple(r["services_ci"])) != (r["pure_median"], r["pure_ci"])
    )
    return {"services": rows, "mismatches": mismatches[:50], "mismatch_count": len(mismatches),
            "curve_mismatch_count": curve_mismatches, "timing": timing}  # fmt: skip


def print_services(results: dict) -> None:
    table = [
        (
            "cohort", "plan", "truth", "instrument", "services median (95% CI)",
            "pure median (95% CI)", "signal can date a loss",
        )
    ]  # fmt: skip
    for r in results["services"]:
        sig = r["services_signal"]
        gap = sig["median_days_between_assessments"]
        table.append(
            (
                str(r["cohort"]), r["plan"], r["truth"], r["instrument"],
                f"{_fmt(r['services_median'])} ({_fmt(r['services_ci'][0])}-"
                f"{_fmt(r['services_ci'][1])})",
                f"{_fmt(r['pure_median'])} ({_fmt(r['pure_ci'][0])}-{_fmt(r['pure_ci'][1])})",
                f"{'yes' if sig['can_date_loss'] else 'no'} (median gap {_fmt(gap)} d)",
            )
        )  # fmt: skip
    _print_table(table)
    print(
        f"per-patient course outcomes differing from the pure path: {results['mismatch_count']}"
        f"; curves differing: {results['curve_mismatch_count']}"
    )


# --- main --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m bench.durability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--engine", choices=("pure", "services"), default="pure")
    parser.add_argument("--cohorts", type=int, help="per plan and truth (pure 20, services 3)")
    parser.add_argument("--patients", type=int, help="true responders a cohort (400; 100)")
    parser.add_argument(
        "--plan",
        action="append",
        help="'default', 'dense' or a JSON file of steps; repeat to compare "
        "(pure: default and dense; services: default)",
    )
    parser.add_argument(
        "--truth",
        action="append",
        choices=TRUTHS,
        help="loss-time distribution(s); repeat for both (pure: both; services: exponential)",
    )
    parser.add_argument(
        "--print-plan",
        metavar="NAME",
        choices=sorted(BUILTIN_PLANS),
        help="print a built-in plan's steps as JSON (a start for a --plan file) and exit",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--induction-patients", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-intake", action="store_true", help="no in-clinic intake score")
    parser.add_argument(
        "--instruments",
        default="PHQ-9,MOOD",
        help=f"instruments analysed in the durability cohorts, of {', '.join(INSTRUMENTS)} "
        "(default PHQ-9,MOOD: GAD-7 is asked with PHQ-9 and has its recall, and its figures "
        "follow PHQ-9's at half again the run time; the induction cohort always has all three)",
    )
    parser.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        help="multiplies the measurement noise (0: the engines alone, a diagnostic)",
    )
    parser.add_argument(
        "--responder-share",
        type=float,
        default=1.0,
        help="true responders in a durability cohort (1: responders only, as the issue asks; "
        "below 1 lets false responders in, as a clinic's cohort would)",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="CODE:NAME=VALUE",
        help="override one CourseThresholds field of one instrument (pure path), e.g. "
        "MOOD:loss_consecutive=3 or MOOD:response_consecutive=1; repeatable",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.print_plan:
        print(json.dumps({"name": args.print_plan, "steps": BUILTIN_PLANS[args.print_plan]},
                         indent=2))  # fmt: skip
        return {}
    codes = tuple(c.strip() for c in args.instruments.split(",") if c.strip())
    if not codes or set(codes) - set(INSTRUMENTS):
        raise SystemExit(f"--instruments: a list of {', '.join(INSTRUMENTS)}")
    services = args.engine == "services"
    args.cohorts = args.cohorts or (3 if services else 20)
    args.patients = args.patients or (100 if services else 400)
    specs = args.plan or (["default"] if services else ["default", "dense"])
    out_path = args.out or OUT_DIR / ("durability-services.json" if services else "durability.json")

    instruments, recall_hours = load_instruments()
    for spec in args.threshold:
        instruments = _override(instruments, spec)
    plans = [load_plan(spec, recall_hours) for spec in specs]
    if len({p.name for p in plans}) != len(plans):
        raise SystemExit("two plans with one name")
    machine_at_start = machine()
    cfg = Config(
        seed=args.seed,
        patients=args.patients,
        bootstrap=args.bootstrap,
        intake=not args.no_intake,
        induction_patients=args.induction_patients,
        responder_share=args.responder_share,
        noise_scale=args.noise_scale,
        codes=codes,
        truths=tuple(dict.fromkeys(args.truth or (["exponential"] if services else TRUTHS))),
    )
    start = time.perf_counter()
    settings = {
        "engine": args.engine,
        "cohorts": args.cohorts,
        "patients": args.patients,
        "plans": {p.name: [s.as_dict() for s in p.steps] for p in plans},
        "seed": args.seed,
        "bootstrap": args.bootstrap,
        "induction_patients": args.induction_patients,
        "intake": not args.no_intake,
        "instruments": list(codes),
        "truths": list(cfg.truths),
        "responder_share": args.responder_share,
        "thresholds": {c: dataclasses.asdict(instruments[c].course_th) for c in INSTRUMENTS},
        "noise_scale": args.noise_scale,
        "workers": args.workers,
        "answer_rate": ANSWER_RATE,
        "answer_delay_hours": [0.0, ANSWER_DELAY_HOURS],
        "true_median_days": TRUE_MEDIAN_DAYS,
        "weibull_shape": WEIBULL_SHAPE,
        "booster_days": BOOSTER_DAYS,
        "quiet_hours": [QUIET.start.isoformat(), QUIET.end.isoformat()],
    }
    if services:
        results = {"settings": settings, **run_services(args, cfg, plans, instruments)}
        print_services(results)
    else:
        results = {"settings": settings, **run_pure(args, cfg, plans, instruments)}
        print_report(results)
    results["command"] = " ".join([".venv/bin/python -m bench.durability", *sys.argv[1:]])
    results["machine"] = {**machine_at_start, "loadavg_at_end": os.getloadavg()}
    results["total_s"] = round(time.perf_counter() - start, 1)
    print(f"\ntotal {results['total_s']} s; timing {results['timing']}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"written to {out_path}")
    if services and (results["mismatch_count"] or results["curve_mismatch_count"]):
        raise SystemExit(1)  # the database path disagrees with the pure one
    return results


if __name__ == "__main__":
    main()
