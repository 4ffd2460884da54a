"""Demo data for the embedded default: one clinic, its staff, and patients with a few weeks
of check-ins. Synthetic only. Check-ins go through checkin_submit, so they are scored as
real ones are."""

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Clinic, Role
from accounts.services.memberships import membership_grant
from outcomes.instruments import definition_for
from outcomes.models import InstrumentVersion, Patient
from outcomes.services import (
    checkin_submit,
    enrolment_code_issue,
    instruments_sync,
    patient_enrol,
)
from outcomes.services.checkins import ResponseInput
from outcomes.services.infusions import infusion_schedule
from outcomes.services.visits import (
    DISCHARGE_ITEMS,
    adverse_event_add,
    discharge,
    reading_add,
    session_start,
)

User = get_user_model()

DEMO_CLINIC_SLUG = "afterglow-demo"
DEMO_PASSWORD = "afterglow-demo-2026"  # noqa: S105 - printed for the local demo only
STAFF = [
    ("demo-clinician", Role.CLINICIAN),
    ("demo-scheduler", Role.SCHEDULER),
    ("demo-admin", Role.CLINIC_ADMIN),
    ("demo-nurse", Role.NURSE),
]


@dataclass
class DemoReport:
    created: bool
    staff: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    fresh_enrolment_code: str = ""
    demo_infusion: str = ""
    check_ins: int = 0


def answers_for_total(defn, total: int, rng: random.Random) -> dict[str, int]:
    """Answers to a choice instrument whose scored items add up to about `total`."""
    # Synthetic answers never touch a safety item (PHQ-9 item 9): no alert by accident.
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


def _trajectory(day: float, baseline: float, floor: float, fade_day: float) -> float:
    """A synthetic post-infusion course: fast improvement, a plateau, a slow fade."""
    if day < 0:
        return baseline
    if day < 2:
        return baseline - (baseline - floor) * (day / 2)
    if day < fade_day:
        return floor
    return min(baseline, floor + (baseline - floor) * (day - fade_day) / 14)


def _latest(code: str) -> InstrumentVersion:
    return (
        InstrumentVersion.objects.filter(code=code, clinic__isnull=True)
        .order_by("-loaded_at")
        .first()
    )


@transaction.atomic
def demo_seed(*, now: datetime | None = None, seed: int = 7) -> DemoReport:
    now = now or timezone.now()
    instruments_sync()
    if Clinic.objects.filter(slug=DEMO_CLINIC_SLUG).exists():
        return DemoReport(created=False)
    rng = random.Random(seed)  # noqa: S311 - synthetic demo data, not security
    report = DemoReport(created=True)
    clinic = Clinic.objects.create(
        name="Afterglow Demo Clinic", slug=DEMO_CLINIC_SLUG, timezone="America/New_York"
    )
    User.objects.create_superuser(username="demo-operator", password=DEMO_PASSWORD)
    report.staff.append("demo-operator (Django admin)")
    staff = {}
    for username, role in STAFF:
        user = User.objects.create_user(username=username, password=DEMO_PASSWORD)
        membership_grant(user=user, clinic=clinic, role=role)
        staff[role] = user
        report.staff.append(username)

    phq9, gad7, mood, pain = (_latest(c) for c in ("PHQ-9", "GAD-7", "MOOD", "PAIN-NRS"))
    people = [
        ("Demo Patient Avery", "America/New_York", ["trd"], 19, 6, 18),
        ("Demo Patient Blake", "Europe/Berlin", ["trd", "anxiety"], 16, 9, 10),
        ("Demo Patient Casey", "America/Los_Angeles", ["chronic_pain", "trd"], 14, 5, 24),
    ]
    for n, (name, tz, conditions, baseline, floor, fade_day) in enumerate(people, start=1):
        patient, _ = patient_enrol(
            clinic=clinic,
            display_name=name,
            timezone_name=tz,
            conditions=conditions,
            care_team_ids=[staff[Role.CLINICIAN].id],
            clinic_reference=f"DEMO-{n:03d}",
            date_of_birth=date(1970 + 9 * n, n, 10 + n),
            issued_by=staff[Role.CLINIC_ADMIN],
        )
        username = f"demo-patient-{n}"
        patient.user.username = username
        patient.user.set_password(DEMO_PASSWORD)
        patient.user.save(update_fields=["username", "password"])
        report.patients.append(username)
        infusion_at = now - timedelta(days=24)
        infusion_schedule(
            patient=patient,
            scheduled_at=infusion_at - timedelta(minutes=40),
            started_at=infusion_at - timedelta(minutes=40),
            ended_at=infusion_at,
            weight_kg=Decimal("70.0"),
            dose_mg_per_kg=Decimal("0.5"),
        )
        report.check_ins += _seed_history(
            patient=patient,
            infusion_at=infusion_at,
            now=now,
            rng=rng,
            baseline=baseline,
            floor=floor,
            fade_day=fade_day,
            instruments={"PHQ-9": phq9, "GAD-7": gad7, "MOOD": mood, "PAIN-NRS": pain},
        )
    # A fresh infusion that ended almost 4 hours ago: its +4 h reminder falls due a few
    # minutes after the demo starts, and the worker prints it (console channel).
    avery = Patient.objects.get(clinic=clinic, clinic_reference="DEMO-001")
    infusion = infusion_schedule(
        patient=avery,
        scheduled_at=now - timedelta(hours=4, minutes=40),
        started_at=now - timedelta(hours=4, minutes=40),
        ended_at=now - timedelta(hours=4) + timedelta(minutes=2),
        weight_kg=Decimal("72.0"),
        dose_mg_per_kg=Decimal("0.5"),
        observation_minutes=60,
        vitals_before={
            "systolic_mmhg": 122,
            "diastolic_mmhg": 78,
            "heart_rate_bpm": 72,
            "spo2_pct": 98,
        },
        vitals_after={
            "systolic_mmhg": 131,
            "diastolic_mmhg": 82,
            "heart_rate_bpm": 76,
            "spo2_pct": 97,
        },
        side_effects=["dissociation"],
    )
    report.demo_infusion = str(infusion.id)
    _seed_visit(infusion, staff[Role.NURSE], spike=False)
    # Esketamine sessions of Blake: one filed-ready 2 days ago (its REMS form is due), one
    # 9 days ago never filed (overdue), with a blood-pressure spike at 40 minutes.
    blake = Patient.objects.get(clinic=clinic, clinic_reference="DEMO-002")
    for days, spike in ((9, True), (2, False)):
        start = now - timedelta(days=days)
        nasal = infusion_schedule(
            patient=blake,
            scheduled_at=start,
            started_at=start,
            ended_at=start + timedelta(minutes=10),
            product="esketamine",
            route="intranasal",
            total_dose_mg=Decimal("56"),
            concomitant_medications=[{"name": "Xanax XR 0.5 mg"}, {"name": "Sertraline 100 mg"}],
        )
        _seed_visit(nasal, staff[Role.NURSE], spike=spike)
    _, report.fresh_enrolment_code = enrolment_code_issue(
        patient=Patient.objects.get(clinic=clinic, clinic_reference="DEMO-003"),
        issued_by=staff[Role.CLINIC_ADMIN],
    )
    return report


def _seed_visit(infusion, nurse, *, spike: bool) -> None:
    """A monitored visit: readings at 0, 15, 40, 60 and 90 minutes, sedation and
    dissociation, discharge two hours after the dose; a spike at 40 minutes if asked."""
    start = infusion.started_at
    session_start(infusion=infusion, user=nurse, now=start - timedelta(minutes=10))
    readings = [
        (-5, {"systolic": 124, "diastolic": 80, "heart_rate": 74, "spo2": 98, "resp_rate": 14}),
        (15, {"systolic": 136, "diastolic": 86, "heart_rate": 82, "spo2": 97, "moaas": 4}),
        (
            40,
            {
                "systolic": 186 if spike else 148,
                "diastolic": 112 if spike else 92,
                "heart_rate": 90,
                "spo2": 96,
                "moaas": 4,
                "dissociation_scale": "CADSS-6",
                "dissociation_score": 7,
            },
        ),
        (60, {"systolic": 140, "diastolic": 88, "heart_rate": 84, "spo2": 97, "moaas": 5}),
        (
            90,
            {
                "systolic": 128,
                "diastolic": 82,
                "heart_rate": 76,
                "spo2": 98,
                "resp_rate": 14,
                "dissociation_scale": "CADSS-6",
                "dissociation_score": 0,
            },
        ),
    ]
    for minutes, values in readings:
        at = start + timedelta(minutes=minutes)
        phase = "pre_dose" if minutes < 0 else ("pre_discharge" if minutes == 90 else None)
        reading_add(
            infusion=infusion,
            reading_id=uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{infusion.pk}:{minutes}"),
            taken_at=at,
            phase=phase,
            fields=values,
            user=nurse,
            now=at,
        )
    adverse_event_add(
        infusion=infusion,
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{infusion.pk}:nausea"),
        occurred_at=start + timedelta(minutes=30),
        term="nausea",
        severity="mild",
        serious=False,
        action_taken="observed",
        user=nurse,
        now=start + timedelta(minutes=30),
    )
    if not spike:
        end = start + timedelta(minutes=125)
        discharge(
            infusion=infusion,
            checklist=dict.fromkeys(DISCHARGE_ITEMS, True),
            ready_to_leave_at=start + timedelta(minutes=95),
            left_at=end,
            user=nurse,
            now=end,
        )


def _seed_history(*, patient, infusion_at, now, rng, baseline, floor, fade_day, instruments) -> int:
    # Offsets in hours: a baseline before the infusion, then hours, days and weeks after.
    offsets = [-24, 4, 24, 48, 7 * 24, 14 * 24, 21 * 24]
    count = 0
    for hours in offsets:
        at = infusion_at + timedelta(hours=hours, minutes=rng.randint(0, 50))
        if at >= now:
            continue
        day = hours / 24
        phq = round(_trajectory(day, baseline, floor, fade_day) + rng.uniform(-1.5, 1.5))
        responses = [
            ResponseInput(
                "MOOD",
                instruments["MOOD"].version,
                {"item1": max(0, min(10, round(10 - phq / 2.7)))},
            ),
            ResponseInput(
                "PAIN-NRS",
                instruments["PAIN-NRS"].version,
                {"item1": max(0, min(10, round(phq / 3)))},
            ),
        ]
        # PHQ-9 and GAD-7 ask about two weeks: only at the baseline and from week 1 on.
        if hours < 0 or hours >= 7 * 24:
            for code, target in (("PHQ-9", phq), ("GAD-7", round(phq * 0.7))):
                version = instruments[code]
                responses.append(
                    ResponseInput(
                        code,
                        version.version,
                        answers_for_total(definition_for(version), target, rng),
                    )
                )
        checkin_submit(
            patient=patient, check_in_id=uuid.uuid4(), answered_at=at, responses=responses, now=now
        )
        count += 1
    return count
