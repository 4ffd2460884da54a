"""Durability accuracy: a simulation benchmark of the course engine and the interval
estimator (docs/BENCHMARKS.md, "Durability accuracy (bench/durability.py)").

    .venv/bin/python -m bench.durability [--cohorts 20] [--patients 400] [--plan default]
        [--plan dense] [--plan FILE.json] [--template CONDITION|default|A+B ...]
        [--planner course|per-infusion] [--budget 4] [--no-probes]
        [--engine pure|services] [--seed 1] [--bootstrap 200] [--induction-patients 2000]
        [--workers 2] [--instruments CODES] [--truth exponential] [--truth weibull]
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

- An intake score in clinic 3-14 days before the course, on every instrument the plan
  asks (always recorded: INSTRUMENTS.md, "an in-clinic intake score counts"; `--no-intake`
  drops it).
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
  definition files: PHQ-9 and GAD-7 (2 weeks) average r over the past 14 days, PCL-5
  over the past 30 and PEG over the past 7, which is why they lag a loss; MOOD and the
  pain NRS ("right now") read it instantaneously. The latent level drives pain the same
  way (it is synthetic). Baselines: PHQ-9 16-24, GAD-7 11-19, PCL-5 40-60, MOOD 1-5 (symptom
  5-9 on the 0-10 scale, higher is better), PAIN-NRS and PEG 5-9 (lower is better); noise
  N(0, 1) point (PHQ-9, GAD-7), N(0, 3) (PCL-5), N(0, 0.6) (MOOD, PAIN-NRS, PEG), rounded
  and clipped to the scale (PEG, a mean of three items, to thirds). PHQ-9 is clipped at
  24, what `config.demo.answers_for_total` can build without ever touching item 9 (the
  services path then stores exactly these totals). PAIN-NRS's recall is 0 h (pain-nrs.v2,
  what its item asks), whichever definition is loaded.

Observation (bench/durability_plans.py): the plan's steps, every infusion's (induction and
booster), go through the real `notifications.course_plan.plan_course` as ONE schedule in
the patient's zone (quiet hours 21:00-08:00), with the steps from `parse_steps`
(validated against the shipped instruments' recall windows) and the intake as an answer:
an induction infusion's steps that fall due once the next infusion has started are
superseded by that infusion's own (the booster supersedes the induction's tail), a step
anchored on the course's start is asked once per course (the induction and the booster
are two recorded courses), and no instrument is asked inside its recall window, measured
from the edge of the earlier ask's answer window (or the intake), so an ask moves later
in its window or drops the instrument; baselines are placed first, so where a baseline
and a step of the previous infusion compete, the baseline keeps the ask. The schedule is
planned once, when the course and its booster are booked; the service also replans after
answers, which can only relax it (an answer comes before its window closes, a missed ask
blocks nothing): not modelled. Each ask is answered with probability 0.8, 0-6 h after it
falls due (before its window closes); an answer also completes every other open ask whose
instruments it answered (`reminders_complete_for_checkin`'s rule), which is then not
asked again.
`--planner per-infusion` runs the engine before issue 13 instead: one copy of the plan
per infusion, side by side (`plan_step` per infusion and step), for contrast.

Adaptive probes (notifications/probes.py; `--no-probes` turns them off): the probe
instruments are the momentary ones with a minimal important difference that the plan
asks (MOOD; PAIN-NRS in the pain plan). After each answer of one, `trend` over its
readings since the last infusion's end (the first 24 h left out); if FADING, a probe of it
at `probe_window(answer)` (10:00 local two days later, open 24 h) if `fits_budget` (every
ask's due time, plan and probes, in any rolling 7 days: at most --budget, default 4) and
no other ask of that instrument is open or due before the probe closes; one probe per
patient and local day: one not yet asked asks it too (one reminder for pain and mood fading
at once), one asked already is that day's. Asks are simulated in time
order, so an answered probe can add the next; CONFIRMED or STABLE stops. A maintenance
booster skips the steps marked `skip_maintenance` (the templates' 4-hour, day-1 and day-2
asks), as the planner does.

Analysis (`--engine pure`, the default): per patient and instrument, Points and two
CourseEvents (induction, then the booster as maintenance) go through `course_outcomes`,
with thresholds built as the selectors build them (`CourseThresholds.from_definition` with
the recall window; `--threshold CODE:NAME=VALUE` tries another rule);
each induction course that responded gives its `durability_interval`; the cohort's
intervals go through `interval_survival` (--bootstrap replicates, seeded). Per plan,
instrument and truth (every instrument the plan asks that the bench can score, or those
of --instruments), over --cohorts cohorts of --patients responders: the mean estimated
median against the true 18 days, bias, RMSE, the 95% interval's coverage of 18, the share
of cohorts whose median was not reached, the share of true responders recognised, and
the burden in the 8 weeks after the last infusion: answered check-ins per patient (mean
and max; probes included), asks, probes asked, and answers of that instrument. Plus, on
one induction cohort per plan (--induction-patients, 50% true responders): the
course-level response rate against the truth, beside the per-infusion engine's rate
(`durability.infusion_outcomes` + `survival.response_rates`, what the clinic's cohort
reported before the course engine) for contrast.

`--engine services` runs the same cohorts through the database: its own PostgreSQL
database afterglow_bench_durability (created if missing, migrated, its tables emptied; never
the development or a test database), one clinic per cohort, plan and truth with the plan
stored by the real plan service, patients by `patient_enrol`, courses and infusions by
outcomes/services/infusions.py, every answered check-in by `checkin_submit` at its
answered_at (PHQ-9, GAD-7 and PCL-5 answers built by `answers_for_total`, one transaction
per patient); outcomes read back with `outcomes.selectors.outcomes.patient_course_outcomes`
and the induction courses' curve with `clinic_course_durability(group_by="course_kind")`,
and compared with the pure path on the same data and bootstrap seed (the per-patient
course outcomes and the curves must be equal). The check-ins are the simulated ones
(above); the services' own reminder engine is not what decides them. Defaults there:
--patients 100, --cohorts 3, --plan default, --truth exponential. If the selectors cannot
be imported it stops with a message saying so; it exits 1 when the paths disagree.

Targets (issue 13): median bias within 1.5 days and 95% interval coverage >= 0.85 over 20+
cohorts, for both truths, on the durability signal (the short-recall instruments; PHQ-9,
GAD-7, PCL-5 and PEG lag a loss by their recall and are validated confirmation), with at
most 12 answered check-ins per patient in the 8 weeks after the last infusion; course
response rate within 3 points of the truth. Output: a table on stdout and
bench/out/durability.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import sys
import time
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from multiprocessing import get_context
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from bench.durability_plans import (
    ANSWER_DELAY_HOURS,
    ANSWER_RATE,
    BURDEN_DAYS,
    DEFAULT_BUDGET,
    PLANNERS,
    QUIET,
    Plan,
    ProbeRule,
    Schedule,
    course_asks,
    load_plan,
    load_template,
    observe,
    per_infusion_asks,
    print_plan,
)
from notifications.cadence_templates import templates
from outcomes.analytics.courses import CourseEvent, CourseThresholds, course_outcomes
from outcomes.analytics.durability import (
    HIGHER_IS_BETTER,
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
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)  # Mon/Wed/Fri for two weeks: 6 infusions in 12 days
INFUSION_MINUTES = 40
BOOSTER_DAYS = (35.0, 70.0)  # after the last infusion ends: the next infusion censors
CLINIC_TZ = ZoneInfo("America/New_York")
PATIENT_TZS = ("America/New_York", "America/Chicago", "America/Los_Angeles")
PATIENT_TZ_WEIGHTS = (0.6, 0.2, 0.2)
FIRST_MONDAY = date(2025, 1, 6)
COURSE_START_WEEKS = 26  # courses start on Mondays over the first half of 2025
# The instruments the synthetic patient can answer (every template's own, as shipped).
INSTRUMENTS = ("PHQ-9", "GAD-7", "MOOD", "PCL-5", "PAIN-NRS", "PEG")
# Latent model: baseline symptom ranges (in each instrument's symptom points), noise SDs,
# and the largest total the synthetic answers may have.
BASELINE_RANGE = {
    "PHQ-9": (16.0, 24.0),
    "GAD-7": (11.0, 19.0),
    "MOOD": (5.0, 9.0),
    "PCL-5": (40.0, 60.0),
    "PAIN-NRS": (5.0, 9.0),
    "PEG": (5.0, 9.0),
}
NOISE_SD = {"PHQ-9": 1.0, "GAD-7": 1.0, "MOOD": 0.6, "PCL-5": 3.0, "PAIN-NRS": 0.6, "PEG": 0.6}
MAX_TOTAL = {"PHQ-9": 24.0}  # answers_for_total never touches item 9 (no alert by accident)
# Asked by a template but not an outcome measure: answered with this total, not analysed.
# SI-NOW "no" (a yes would page on-call through its safety rule).
ANSWERED_ONLY = {"SI-NOW": 0.0}
STEPS_PER_POINT = {"PEG": 3}  # PEG is the mean of three 0-10 items: totals in thirds
# pain-nrs.v2: the item asks about pain "right now"; v1 declared 24 h, which forbade the
# ratings at baseline, 4 h, 1 and 2 days that the chronic-pain template asks.
RECALL_OVERRIDE_HOURS = {"PAIN-NRS": 0}
RESPONDER_LEVEL = (0.10, 0.40)
LOST_LEVEL = (0.70, 1.00)
NON_RESPONDER_LEVEL = (0.60, 0.95)
ONSET_INFUSIONS = ((1, 0.2), (2, 0.3), (3, 0.3), (4, 0.2))  # Phillips 2019: median 3
LATENT_START_DAYS = -60.0  # r(t) = 1 before the first infusion, from here on

# Targets (issue 13).
BIAS_TARGET_DAYS = 1.5
COVERAGE_TARGET = 0.85
RATE_TARGET_POINTS = 3.0
BURDEN_TARGET = 12  # answered check-ins per patient in the 8 weeks after the last infusion


# --- instruments -------------------------------------------------------------------------
@dataclass(frozen=True)
class Instrument:
    code: str
    recall_days: float
    direction: str
    scale_max: float
    mid: float | None  # minimal important difference: a probe instrument needs one
    course_th: CourseThresholds
    infusion_th: Thresholds

    @property
    def momentary(self) -> bool:
        return self.recall_days < 1.0


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


def _latest_definitions() -> dict:
    """The shipped definitions, the latest version of each instrument."""
    latest: dict = {}
    for path in shipped_definition_files():
        defn = load_definition_file(path)
        have = latest.get(defn.code)
        if have is None or int(defn.version) > int(have.version):
            latest[defn.code] = defn
    return latest


def load_instruments() -> tuple[dict[str, Instrument], dict[str, int]]:
    """The shipped definitions: thresholds as the selectors build them, and every
    instrument's recall window in hours (what the plan service validates plans against)."""
    out: dict[str, Instrument] = {}
    recall_hours: dict[str, int] = {}
    for defn in _latest_definitions().values():
        hours = RECALL_OVERRIDE_HOURS.get(defn.code, int(defn.recall.hours))
        if defn.text_included:
            recall_hours[defn.code] = hours
        if defn.code not in INSTRUMENTS:
            continue
        _, hi = defn.scoring.range
        raw = defn.thresholds.model_dump()
        out[defn.code] = Instrument(
            code=defn.code,
            recall_days=hours / 24.0,
            direction=defn.direction,
            scale_max=float(hi),
            mid=raw.get("mid"),
            # As the selectors build them (outcomes/selectors/courses.course_thresholds):
            # the recall window decides how many responding readings a response needs.
            course_th=CourseThresholds.from_definition(
                raw,
                direction=defn.direction,
                scale_max=float(hi),
                code=defn.code,
                recall_hours=hours,
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


def probe_rule(plan: Plan, instruments: Mapping[str, Instrument], budget: int) -> ProbeRule:
    """The plan's probe instruments: the momentary ones with a minimal important
    difference (MOOD; the pain NRS where the plan asks it)."""
    return ProbeRule(
        instruments={
            c: (float(instruments[c].mid), instruments[c].direction == HIGHER_IS_BETTER)
            for c in plan.asks
            if c in instruments and instruments[c].momentary and instruments[c].mid is not None
        },
        budget=budget,
    )


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
    # The first three as before the other instruments came, so the draws (and T) of a
    # given seed are the ones the earlier figures had; the others after them.
    baseline = {code: rng.uniform(*BASELINE_RANGE[code]) for code in INSTRUMENTS[:3]}
    t0 = induction[0].started_at
    patient = SimPatient(
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
    baseline.update({code: rng.uniform(*BASELINE_RANGE[code]) for code in INSTRUMENTS[3:]})
    return patient


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
        self.bt = bt
        self.bv = bv
        self.cum = [0.0]
        for k in range(1, len(bt)):
            self.cum.append(self.cum[-1] + (bt[k] - bt[k - 1]) * bv[k - 1])

    def _integral(self, t: float) -> float:
        k = bisect_right(self.bt, t) - 1
        return self.cum[k] + self.bv[k] * (t - self.bt[k])

    def at(self, t: float, recall_days: float) -> float:
        """What an instrument with this recall window reads at day t: the mean of r over
        the past `recall_days`, or r itself for "right now"."""
        if recall_days <= 0:
            return self.bv[bisect_right(self.bt, t) - 1]
        return (self._integral(t) - self._integral(t - recall_days)) / recall_days


def instrument_score(inst: Instrument, base: float, level: float, z: float, noise_scale: float):
    """One total: the latent symptom on the instrument's scale, noise, rounded to the
    scale's steps and clipped."""
    symptom = base * level + NOISE_SD[inst.code] * noise_scale * z
    score = symptom if inst.direction == LOWER_IS_BETTER else inst.scale_max - symptom
    steps = STEPS_PER_POINT.get(inst.code, 1)
    top = MAX_TOTAL.get(inst.code, inst.scale_max)
    return min(max(round(score * steps) / steps, 0.0), top)


# --- what the plan asks, and what is answered ---------------------------------------------
@dataclass(frozen=True)
class Observation:
    """How a cohort is observed: the planner, the probes, the recall windows the planner
    checks, and the intake."""

    planner: str  # "course" (plan_course) or "per-infusion" (the engine before issue 13)
    probes: bool
    budget: int
    recall_hours: Mapping[str, int]
    intake: bool


def schedule_for(
    p: SimPatient,
    plan: Plan,
    latent: Latent,
    instruments: Mapping[str, Instrument],
    how: Observation,
    rng: np.random.Generator,
    noise_scale: float,
) -> Schedule:
    """What this patient answers under this plan and truth (`latent`): the asks, the
    answers, the probes they add (bench/durability_plans.py)."""
    infusions = (*p.induction, p.booster)
    intake = None
    if how.intake and p.intake_at is not None:
        intake = (p.intake_at, [c for c in plan.asks if c in instruments])
    if how.planner == "course":
        answers = {c: [p.intake_at] for c in intake[1]} if intake else {}
        asks = course_asks(plan, p.courses, tz=p.tz, recall_hours=how.recall_hours, answers=answers)
    else:
        asks = per_infusion_asks(plan, infusions, tz=p.tz)

    def score(code: str, at: datetime, z: float) -> float:
        if code in ANSWERED_ONLY:
            return ANSWERED_ONLY[code]
        inst = instruments[code]
        level = latent.at(p.day(at), inst.recall_days)
        return instrument_score(inst, p.baseline[code], level, z, noise_scale)

    return observe(
        asks,
        tz=p.tz,
        infusion_ends=[i.ended_at for i in infusions],
        intake=intake,
        horizon=max(p.booster.started_at, p.last_end + timedelta(days=BURDEN_DAYS)),
        burden_from=p.last_end,
        rng=rng,
        score=score,
        probes=probe_rule(plan, instruments, how.budget) if how.probes else None,
    )


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
    codes: tuple[str, ...] | None  # --instruments: a filter on each plan's own; None: all
    truths: tuple[str, ...]
    observation: Observation


def plan_codes(plan: Plan, cfg: Config) -> tuple[str, ...]:
    """The instruments analysed under this plan: those it asks that the bench can score."""
    wanted = INSTRUMENTS if cfg.codes is None else cfg.codes
    return tuple(c for c in INSTRUMENTS if c in plan.asks and c in wanted)


def analyse_pure(
    patients: Sequence[SimPatient],
    schedules: Sequence[Schedule],
    truth: str,
    instruments: Mapping[str, Instrument],
    cfg: Config,
    codes: Sequence[str],
    *,
    seed: int,
) -> tuple[dict[str, FitSummary], dict[str, list]]:
    """Course outcomes per patient and instrument, then the cohort's interval estimate.
    Also returns, per instrument, each patient's (responded, interval) for cross-checks."""
    per_code: dict[str, list] = {c: [] for c in codes}
    true_t: list[float] = []
    for p, sched in zip(patients, schedules, strict=True):
        latent = Latent(p, truth)
        if latent.loss_days is not None:
            true_t.append(latent.loss_days)
        for code in codes:
            points = _points(sched.series(code, until=p.booster.started_at))
            first = course_outcomes(points, p.courses, instruments[code].course_th)[0]
            per_code[code].append((first.responded, first.durability_interval, p.responder))
    fits: dict[str, FitSummary] = {}
    for code in codes:
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
    return (cfg.seed * 1000 + cohort) * 1000 + plan_index * 10 + truth_index


def cohort_patients(cfg: Config, cohort: int, n: int) -> list[SimPatient]:
    """Durability cohort `cohort`: n true responders. The same patients (and loss-time
    draws) under every plan and truth: the comparisons are paired."""
    return make_cohort(
        _seed_for(cfg.seed, 1, cohort), n, responder_share=cfg.responder_share, intake=cfg.intake
    )


def cohort_schedules(
    cfg: Config,
    cohort: int,
    plan_index: int,
    plan: Plan,
    patients: Sequence[SimPatient],
    truth: str,
    instruments: Mapping[str, Instrument],
) -> list[Schedule]:
    """Each patient's answers under this plan and truth. A patient's draws are seeded by
    cohort, plan and patient, not truth: under both truths the same asks get the same
    answers and noise until a probe makes them differ."""
    return [
        schedule_for(
            p,
            plan,
            Latent(p, truth),
            instruments,
            cfg.observation,
            np.random.default_rng(_seed_for(cfg.seed, 2, cohort, plan_index, p.index)),
            cfg.noise_scale,
        )
        for p in patients
    ]


def run_cohort(task: tuple) -> dict:
    """One durability cohort: every plan, truth and instrument (a worker's unit)."""
    cohort, cfg, plans, instruments = task
    start = time.process_time()
    patients = cohort_patients(cfg, cohort, cfg.patients)
    out: dict = {"cohort": cohort, "plans": {}}
    for pi, plan in enumerate(plans):
        fits, burden = {}, {}
        for truth in cfg.truths:
            schedules = cohort_schedules(cfg, cohort, pi, plan, patients, truth, instruments)
            seed = _fit_seed(cfg, cohort, pi, TRUTHS.index(truth))
            got, _ = analyse_pure(
                patients, schedules, truth, instruments, cfg, plan_codes(plan, cfg), seed=seed
            )
            fits[truth] = {c: f.__dict__ for c, f in got.items()}
            burden[truth] = _burden(schedules)
        out["plans"][plan.name] = {"burden": burden, "fits": fits}
    out["cpu_s"] = time.process_time() - start
    return out


def _burden(schedules: Sequence[Schedule]) -> dict:
    n = len(schedules)
    return {
        "asked_8w": sum(s.asked_8w for s in schedules) / n,
        "checkins_8w": sum(s.checkins_8w for s in schedules) / n,
        "checkins_8w_max": max(s.checkins_8w for s in schedules),
        "over_target": sum(s.checkins_8w > BURDEN_TARGET for s in schedules) / n,
        "probes_8w": sum(s.probes_8w for s in schedules) / n,
        "probes_answered_8w": sum(s.probes_answered_8w for s in schedules) / n,
        "probes": sum(s.probes for s in schedules) / n,
        "answers_8w": {c: sum(s.answers_8w.get(c, 0) for s in schedules) / n for c in INSTRUMENTS},
    }


def run_induction(task: tuple) -> dict:
    """Course-level response rate on a mixed induction cohort (50% true responders),
    against the truth, and the per-infusion engine's rate for contrast."""
    cfg, plan, pi, instruments = task
    start = time.process_time()
    patients = make_cohort(
        _seed_for(cfg.seed, 3), cfg.induction_patients, responder_share=0.5, intake=cfg.intake
    )
    codes = [c for c in INSTRUMENTS if c in plan.asks]  # every one the plan asks: it is cheap
    tallies: dict[str, dict] = {
        c: {"evaluable": 0, "true": 0, "hits": 0, "false": 0, "naive": []} for c in codes
    }
    for p in patients:
        rng = np.random.default_rng(_seed_for(cfg.seed, 4, pi, p.index))
        latent = Latent(p, "exponential")
        sched = schedule_for(p, plan, latent, instruments, cfg.observation, rng, cfg.noise_scale)
        for code in codes:
            inst, t = instruments[code], tallies[code]
            points = _points(sched.series(code, until=p.booster.started_at))
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
        for code in plan_codes(plan, cfg):
            for truth in cfg.truths:
                burdens = [c["plans"][plan.name]["burden"][truth] for c in cohorts]
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
    m = len(burdens)
    checkins = sum(b["checkins_8w"] for b in burdens) / m
    return {
        "plan": plan,
        "instrument": code,
        # The short-recall instruments date a loss; the others lag it by their recall.
        "role": "signal" if code in ("MOOD", "PAIN-NRS") else "confirmation",
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
        "answers_per_patient_8w": sum(b["answers_8w"][code] for b in burdens) / m,
        "checkins_per_patient_8w": checkins,
        "checkins_per_patient_8w_max": max(b["checkins_8w_max"] for b in burdens),
        "patients_over_burden_target": sum(b["over_target"] for b in burdens) / m,
        "reminders_per_patient_8w": sum(b["asked_8w"] for b in burdens) / m,
        "probes_per_patient_8w": sum(b["probes_8w"] for b in burdens) / m,
        "probes_answered_per_patient_8w": sum(b["probes_answered_8w"] for b in burdens) / m,
        "probes_per_patient": sum(b["probes"] for b in burdens) / m,
        "meets_targets": ok,
        "meets_burden_target": checkins <= BURDEN_TARGET,
    }


def _fmt(x, spec: str = ".1f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_report(results: dict) -> None:
    head = (
        "plan", "instrument", "truth", "est.median", "bias", "bias/sample", "RMSE",
        "cover95", "CI width", "not reached", "recognised", "answers/8w", "check-ins/8w",
        "max", ">12", "asks/8w", "probes/8w", "targets",
    )  # fmt: skip
    table = [head]
    for r in results["durability"]:
        table.append(
            (
                r["plan"], r["instrument"], r["truth"],
                _fmt(r["mean_median_days"]), _fmt(r["bias_days"], "+.1f"),
                _fmt(r["bias_vs_sample_median_days"], "+.1f"), _fmt(r["rmse_days"]),
                _fmt(r["coverage_95"], ".2f"), _fmt(r["median_ci_width_days"]),
                _fmt(r["median_not_reached_share"], ".2f"),
                _fmt(r["recognised_responder_share"], ".3f"),
                _fmt(r["answers_per_patient_8w"]), _fmt(r["checkins_per_patient_8w"]),
                str(r["checkins_per_patient_8w_max"]),
                _fmt(r["patients_over_burden_target"], ".2f"),
                _fmt(r["reminders_per_patient_8w"]), _fmt(r["probes_per_patient_8w"], ".2f"),
                ("met" if r["meets_targets"] else "MISSED")
                + ("" if r["role"] == "signal" else " (confirmation)")
                + ("" if r["meets_burden_target"] else "; burden MISSED"),
            )
        )  # fmt: skip
    _print_table(table)
    s = results["settings"]
    for name, notes in s["plan_notes"].items():
        for note in notes:
            print(f"plan {name}: {note}")
    probes = f"probes on, budget {s['budget']} a rolling week" if s["probes"] else "no probes"
    print(
        f"\n{s['cohorts']} cohorts of {s['patients']} patients "
        f"({s['responder_share']:.0%} true responders) per plan and truth "
        f"(true median {TRUE_MEDIAN_DAYS:g} d); bootstrap {s['bootstrap']}; planner "
        f"{s['planner']}; {probes}. Targets: |bias| <= {BIAS_TARGET_DAYS} d and coverage >= "
        f"{COVERAGE_TARGET} (on the short-recall signal; a confirmation instrument lags by its "
        f"recall), <= {BURDEN_TARGET} check-ins a patient in the {BURDEN_DAYS} days after the "
        "last infusion. bias/sample: against each cohort's own sample median of T. "
        "answers/8w: that instrument's answers per patient; check-ins/8w: all answered "
        "check-ins (probes included), their max over the patients and the share above "
        f"{BURDEN_TARGET}; asks/8w: reminders, probes included; probes/8w: probes asked."
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


# The code and data the figures depend on (the planner and templates were still changing
# while issue 13 was under way): their hashes go into the results, so stale figures show.
SOURCES = (
    "notifications/course_plan.py",
    "notifications/probes.py",
    "notifications/cadence.py",
    "notifications/cadence_templates",
    "outcomes/analytics/courses.py",
    "outcomes/analytics/interval.py",
    "outcomes/instruments/definitions",
    "bench/durability.py",
    "bench/durability_plans.py",
)


def sources() -> dict[str, str]:
    root = Path(__file__).resolve().parent.parent
    out = {}
    for name in SOURCES:
        path = root / name
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
        out[name] = digest.hexdigest()[:12]
    return out


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
    if code in ("PHQ-9", "GAD-7", "PCL-5"):
        answers = _answers_for_total()(defn, int(score), rnd)
        built = sum(answers.values())
        if built != int(score):
            raise SystemExit(f"{code}: answers add up to {built}, not {int(score)}")
        return answers
    if code == "PEG":  # a mean of three items: a total in thirds, spread over them
        thirds = round(score * 3)
        return {f"item{k + 1}": thirds // 3 + (k < thirds % 3) for k in range(3)}
    return {defn.items[0].link_id: int(score)}  # one item: MOOD, PAIN-NRS, SI-NOW


def _seed_patient(p: SimPatient, sched: Schedule, *, clinic, cohort: int, ctx):
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
        for at, scores in zip(sched.at, sched.scores, strict=True):
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
        slug=f"bench-durability-{cohort}-{plan.name}-{truth}".replace("+", "-")[:60],
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
    if [s.as_dict() for s in plan_steps(stored)] != [s.as_dict() for s in plan.plain_steps]:
        raise SystemExit(f"the stored plan {plan.name!r} differs from the one simulated")
    if not ctx.versions:
        rows = InstrumentVersion.objects.filter(clinic__isnull=True, is_active=True)
        ctx.versions = {row.code: row for row in rows.order_by("loaded_at", "version")}
        ctx.definitions = {code: definition_for(row) for code, row in ctx.versions.items()}
    stored_patients = [
        _seed_patient(p, sched, clinic=clinic, cohort=cohort, ctx=ctx)
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
    *, clinic, stored, per_patient: dict, fits: dict, cfg: Config, codes, selectors,
    where: dict, seed: int,
) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """Read the clinic back through the selectors; compare with the pure path (same
    bootstrap seed, so equal inputs give an equal curve)."""
    patient_course_outcomes, clinic_course_durability = selectors
    rows, mismatches = [], []
    for code in codes:
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
    ctx = _SeedContext(rnd=random.Random(cfg.seed))
    rows, mismatches, submitted = [], [], 0
    for cohort in range(args.cohorts):
        patients = cohort_patients(cfg, cohort, cfg.patients)
        for pi, plan in enumerate(plans):
            for truth in cfg.truths:
                schedules = cohort_schedules(cfg, cohort, pi, plan, patients, truth, instruments)
                t = time.perf_counter()
                clinic, stored = _seed_clinic(
                    cohort=cohort, plan=plan, truth=truth, patients=patients,
                    schedules=schedules, ctx=ctx,
                )  # fmt: skip
                timing["seed_s"] += time.perf_counter() - t
                submitted += sum(len(s.at) for s in schedules)
                fits, per_patient = analyse_pure(
                    patients, schedules, truth, instruments, cfg, plan_codes(plan, cfg),
                    seed=_fit_seed(cfg, cohort, pi, TRUTHS.index(truth)),
                )  # fmt: skip
                t = time.perf_counter()
                got_rows, got_mismatches = _read_clinic(
                    clinic=clinic, stored=stored, per_patient=per_patient, fits=fits, cfg=cfg,
                    codes=plan_codes(plan, cfg),
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
def _parser() -> argparse.ArgumentParser:
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
        default=[],
        help="'default', 'dense' or a JSON file of steps; repeat to compare (with no --plan "
        "nor --template, pure: default and dense; services: default)",
    )
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="CONDITION",
        help=f"a condition template ({', '.join(templates())}), 'default' (the clinic's "
        "default plan), or conditions joined by '+' (merged, as for a patient with several); "
        "adapted to the shipped instruments; repeatable",
    )
    parser.add_argument(
        "--planner",
        choices=PLANNERS,
        default="course",
        help="course: plan_course, one schedule over the patient's infusions (the engine of "
        "issue 13); per-infusion: one copy of the plan per infusion (the engine before)",
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=DEFAULT_BUDGET,
        help="weekly burden budget for adaptive probes: asks in any rolling 7 days",
    )
    parser.add_argument("--no-probes", action="store_true", help="no adaptive probes")
    parser.add_argument(
        "--truth",
        action="append",
        choices=TRUTHS,
        help="loss-time distribution(s); repeat for both (pure: both; services: exponential)",
    )
    parser.add_argument(
        "--print-plan",
        metavar="NAME",
        help="print a built-in plan's or a template's steps as JSON (a start for a --plan "
        "file) and exit",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--induction-patients", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-intake", action="store_true", help="no in-clinic intake score")
    parser.add_argument(
        "--instruments",
        help=f"analyse only these of each plan's instruments (of {', '.join(INSTRUMENTS)}; "
        "default: every one the plan asks; the induction cohort always has all of them)",
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
    return parser


def _plans(args, recall_hours: Mapping[str, int], services: bool) -> list[Plan]:
    specs = [("plan", s) for s in args.plan] + [("template", s) for s in args.template]
    if not specs:
        specs = [("plan", "default")] + ([] if services else [("plan", "dense")])
    plans = [
        load_plan(spec, recall_hours) if kind == "plan" else load_template(spec, recall_hours)
        for kind, spec in specs
    ]
    if len({p.name for p in plans}) != len(plans):
        raise SystemExit("two plans with one name")
    for plan in plans:
        unscored = [c for c in plan.asks if c not in INSTRUMENTS and c not in ANSWERED_ONLY]
        if unscored:
            raise SystemExit(f"plan {plan.name} asks {unscored}: the synthetic patient "
                             f"answers only {', '.join(INSTRUMENTS)}")  # fmt: skip
    return plans


def main(argv: list[str] | None = None) -> dict:
    args = _parser().parse_args(argv)
    instruments, recall_hours = load_instruments()
    if args.print_plan:
        print(print_plan(args.print_plan, recall_hours))
        return {}
    codes = None
    if args.instruments:
        codes = tuple(c.strip() for c in args.instruments.split(",") if c.strip())
        if not codes or set(codes) - set(INSTRUMENTS):
            raise SystemExit(f"--instruments: a list of {', '.join(INSTRUMENTS)}")
    services = args.engine == "services"
    args.cohorts = args.cohorts or (3 if services else 20)
    args.patients = args.patients or (100 if services else 400)
    out_path = args.out or OUT_DIR / ("durability-services.json" if services else "durability.json")
    for spec in args.threshold:
        instruments = _override(instruments, spec)
    plans = _plans(args, recall_hours, services)
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
        observation=Observation(
            planner=args.planner,
            probes=not args.no_probes,
            budget=args.budget,
            recall_hours=recall_hours,
            intake=not args.no_intake,
        ),
    )
    start = time.perf_counter()
    settings = {
        "engine": args.engine,
        "cohorts": args.cohorts,
        "patients": args.patients,
        "plans": {p.name: [s.as_dict() for s in p.plain_steps] for p in plans},
        "plan_notes": {p.name: list(p.notes) for p in plans},
        "planner": args.planner,
        "probes": not args.no_probes,
        "budget": args.budget,
        "recall_hours": recall_hours,
        "seed": args.seed,
        "bootstrap": args.bootstrap,
        "induction_patients": args.induction_patients,
        "intake": not args.no_intake,
        "instruments": None if codes is None else list(codes),
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
        "sources_sha256": sources(),
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
