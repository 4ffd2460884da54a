"""The course cadence on the real database (issue 13): one schedule across a course's
infusions, condition templates, answers that start a recall window, adaptive probes within
the burden budget, the scheduler's settings and preview."""

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import time_machine

from notifications.models import (
    CadencePlan,
    ClinicNotificationSettings,
    PatientPreference,
    Reminder,
    ReminderKind,
    ReminderStatus,
)
from notifications.services.plan_store import instrument_recall_hours
from outcomes.models import InfusionStatus
from outcomes.services.checkins import ResponseInput, checkin_submit
from outcomes.services.infusions import infusion_schedule, treatment_course_create
from outcomes.services.patients import patient_update
from tests.factories import PatientFactory
from tests.helpers import answer_mood, give_infusion, phq9_total

pytestmark = pytest.mark.django_db
# A Monday, 15:00 UTC = 10:00 in New York (the factories' zone); no DST change for weeks.
NOW = datetime(2026, 9, 7, 14, 0, tzinfo=UTC)
INDUCTION_DAYS = (1, 3, 5, 8, 10, 12)  # Mon/Wed/Fri, two weeks (Murrough 2013)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def induction(patient, first=NOW):
    return [
        infusion_schedule(patient=patient, scheduled_at=first + timedelta(days=d))
        for d in INDUCTION_DAYS
    ]


def planned(patient):
    return list(
        Reminder.objects.filter(patient=patient)
        .exclude(status=ReminderStatus.CANCELLED)
        .order_by("due_at")
    )


def asks_of(rows, code):
    return [r for r in rows if code in r.instruments]


def test_a_six_infusion_induction_asks_no_instrument_inside_its_recall_window(patient):
    induction(patient)
    rows = planned(patient)
    recall = instrument_recall_hours(clinic=patient.clinic)
    for code in {c for r in rows for c in r.instruments}:
        for prev, cur in pairwise(asks_of(rows, code)):
            gap = cur.due_at - prev.window_closes_at
            assert gap >= timedelta(hours=recall[code]), (code, prev.step_key, cur.step_key)
    # Before: 48 reminders; PHQ-9 asked 18 times between day -1 and day 39.
    assert len(rows) < 48
    first = NOW + timedelta(days=INDUCTION_DAYS[0])
    phq9 = [r for r in asks_of(rows, "PHQ-9") if r.due_at < first + timedelta(days=39)]
    # Day -1, and two days after the sixth infusion (the course's day 14): its response.
    assert [r.step_key for r in phq9] == ["baseline", "course-14", "course-30"]
    assert {r.infusion_id for r in phq9} == {rows[0].infusion_id}
    # Every infusion keeps a baseline of the momentary measure.
    assert len([r for r in rows if r.step_key == "baseline"]) == 6


def test_the_course_is_replanned_when_the_next_infusion_is_recorded(patient):
    first = infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=1))
    assert Reminder.objects.filter(infusion=first, step_key="day-7").exists()
    infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=3))
    day7 = Reminder.objects.get(infusion=first, step_key="day-7")
    assert day7.status == ReminderStatus.CANCELLED  # superseded by the second infusion


def test_ptsd_is_asked_pcl5_at_baseline_and_monthly():
    patient = PatientFactory(conditions=["ptsd"])
    infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=2))
    assert [r.step_key for r in asks_of(planned(patient), "PCL-5")] == [
        "baseline",
        "course-30",
        "course-61",
    ]


def test_chronic_pain_is_asked_pain_before_the_infusion_and_in_the_first_days():
    patient = PatientFactory(conditions=["chronic_pain"])
    infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=2))
    rows = planned(patient)
    assert [r.step_key for r in asks_of(rows, "PAIN-NRS")][:4] == [
        "baseline",
        "hour-4",
        "day-1",
        "day-2",
    ]
    assert asks_of(rows, "PEG")[0].step_key == "baseline"


def test_a_booster_has_its_own_pain_baseline_not_the_previous_infusions_day_2():
    patient = PatientFactory(conditions=["chronic_pain"])
    infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=2))
    booster = infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=40))
    baseline = Reminder.objects.get(infusion=booster, step_key="baseline")
    assert {"PAIN-NRS", "PEG"} <= set(baseline.instruments)
    assert baseline.window_closes_at == booster.scheduled_at


def test_several_conditions_get_one_merged_plan():
    patient = PatientFactory(conditions=["trd", "anxiety", "chronic_pain"])
    infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=2))
    rows = planned(patient)
    baseline = next(r for r in rows if r.step_key == "baseline")
    assert set(baseline.instruments) >= {"PHQ-9", "GAD-7", "PAIN-NRS", "PEG", "MOOD"}
    assert len({r.step_key for r in rows}) == len(rows)  # one row per step


def test_an_answer_inside_the_recall_drops_the_planned_ask(patient):
    infusion = give_infusion(patient, NOW - timedelta(days=5))
    day14 = Reminder.objects.get(infusion=infusion, step_key="course-14")
    assert "PHQ-9" in day14.instruments
    # An extra PHQ-9 answered today (on the clinic's tablet, say): 9 days before day 14.
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=NOW,
        responses=[ResponseInput("PHQ-9", "1", phq9_total(8))],
        now=NOW,
    )
    day14.refresh_from_db()
    assert day14.instruments == ["MOOD"]
    assert "PHQ-9 not asked: answered is inside its 14-day recall" in day14.reason
    # The next PHQ-9 is at least 14 days after the answer.
    later = [r for r in asks_of(planned(patient), "PHQ-9") if r.due_at > NOW]
    assert later and later[0].due_at - NOW >= timedelta(days=14)


# --- adaptive probes ------------------------------------------------------------------------
def moods_after(patient, infusion_at, points, clock):
    """MOOD answered at (day after the infusion, score), the clock moving with them."""
    for day, score in points:
        at = infusion_at + timedelta(days=day)
        clock.move_to(at)
        answer_mood(patient, at, score)


def probes(patient, **filters):
    return list(
        Reminder.objects.filter(patient=patient, kind=ReminderKind.PROBE, **filters).order_by(
            "due_at"
        )
    )


def test_a_fading_score_adds_a_probe_in_two_days_with_its_reason(patient, clock):
    given = NOW - timedelta(days=30)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(patient, given)
    moods_after(patient, given, [(2, 8), (7, 8)], clock)
    assert probes(patient) == []  # stable: the sparse cadence is enough
    moods_after(patient, given, [(15, 5)], clock)
    (probe,) = probes(patient)
    assert probe.status == ReminderStatus.PENDING
    assert probe.instruments == ["MOOD"]
    assert probe.due_at == datetime(2026, 8, 25, 14, 0, tzinfo=UTC)  # day 17, 10:00 local
    assert probe.window_closes_at - probe.due_at == timedelta(hours=24)
    assert "worse than its best" in probe.reason
    # Answered and still fading: the loss is confirmed, no more probes.
    moods_after(patient, given, [(17, 5)], clock)
    assert [p.step_key for p in probes(patient)] == [probe.step_key]


def test_a_recovery_cancels_the_pending_probe(patient, clock):
    given = NOW - timedelta(days=30)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(patient, given)
    moods_after(patient, given, [(2, 8), (7, 8), (15, 5), (16, 8)], clock)
    (probe,) = probes(patient)
    assert probe.status == ReminderStatus.CANCELLED
    assert probe.reason == "not needed: recovered"


def test_a_probe_over_the_weekly_budget_is_kept_cancelled_with_its_reason(patient, clock):
    PatientPreference.objects.create(patient=patient, weekly_budget=1)
    given = NOW - timedelta(days=30)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(patient, given)
    moods_after(patient, given, [(2, 8), (7, 8), (15, 5)], clock)
    (probe,) = probes(patient)
    assert probe.status == ReminderStatus.CANCELLED
    assert probe.reason == "not asked: over the weekly burden budget (1)"


def test_the_same_days_probe_is_planned_once(patient, clock):
    given = NOW - timedelta(days=30)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(patient, given)
    moods_after(patient, given, [(2, 8), (7, 8), (15, 5)], clock)
    clock.move_to(given + timedelta(days=15, hours=1))
    answer_mood(patient, given + timedelta(days=15, hours=1), 5)
    assert len(probes(patient)) == 1


# --- the scheduler's settings, templates and preview --------------------------------------
def test_schedulers_set_the_burden_budget_per_patient_and_per_clinic(personas):
    client = personas.client("scheduler_x")
    url = f"/api/v1/patients/{personas.patient_a.id}/reminder-settings/"
    resp = client.patch(url, {"weekly_budget": 0}, format="json")
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["attr"] == "weekly_budget"
    assert not PatientPreference.objects.filter(patient=personas.patient_a).exists()
    resp = client.patch(url, {"weekly_budget": 3}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["weekly_budget"] == 3
    clinic_url = f"/api/v1/clinics/{personas.clinic_x.id}/notification-settings/"
    resp = client.patch(clinic_url, {"weekly_budget": 6}, format="json")
    assert resp.status_code == 200, resp.content
    assert ClinicNotificationSettings.objects.get(clinic=personas.clinic_x).weekly_budget == 6


def test_the_plans_list_holds_every_condition_template_and_edits_replan(personas):
    client = personas.client("scheduler_x")
    infusion = infusion_schedule(patient=personas.patient_a, scheduled_at=NOW + timedelta(days=2))
    plans = {p["condition"]: p for p in client.get("/api/v1/cadence-plans/").json()}
    assert set(plans) >= {"trd", "anxiety", "ptsd", "chronic_pain", "acute_suicidality"}
    depression = plans["trd"]
    steps = [*depression["steps"], {
        "key": "day-4", "offset_minutes": 4 * 1440, "align_local_time": "10:00",
        "instruments": ["MOOD"], "window_hours": 12,
    }]  # fmt: skip
    resp = client.patch(f"/api/v1/cadence-plans/{depression['id']}/", {"steps": steps}, "json")
    assert resp.status_code == 200, resp.content
    row = Reminder.objects.get(infusion=infusion, step_key="day-4")
    assert row.plan_id == uuid.UUID(depression["id"]) and row.plan_version == 2


def preview_body(personas, **extra):
    first = NOW + timedelta(days=1)
    return {
        "clinic": str(personas.clinic_x.id),
        "course": {
            "infusions": [(first + timedelta(days=d)).isoformat() for d in (0, 2, 4, 7, 9, 11)],
            "timezone": "America/New_York",
            "conditions": ["trd"],
            "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00",
        },
        **extra,
    }


def test_the_preview_lists_every_reminder_with_its_recall_check_and_the_burden(personas):
    client = personas.client("scheduler_x")
    before = Reminder.objects.count(), CadencePlan.objects.filter(condition="").count()
    resp = client.post("/api/v1/cadence-plans/preview/", preview_body(personas), format="json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert all(c["ok"] for r in body["reminders"] for c in r["recall"])
    phq9 = [r for r in body["reminders"] if "PHQ-9" in r["instruments"]]
    assert [(r["infusion"], r["step_key"]) for r in phq9[:2]] == [(0, "baseline"), (0, "course-14")]
    second = next(c for c in phq9[1]["recall"] if c["instrument"] == "PHQ-9")
    assert second["recall_hours"] == 336 and second["gap_hours"] >= 336
    assert any("superseded" in s["reason"] for s in body["skipped"])
    burden = body["burden"]
    assert burden["total"] == len(body["reminders"])
    assert sum(w["reminders"] for w in burden["per_week"]) == burden["total"]
    # 14 asks after the induction: about 11 answered at 80% (docs/BENCHMARKS.md).
    assert burden["in_8_weeks_after_last_infusion"] <= 14
    assert body["reminders"][0]["local_due"].endswith("-04:00")
    assert (Reminder.objects.count(), CadencePlan.objects.filter(condition="").count()) == before


def test_the_preview_of_unsaved_steps_refuses_a_recall_overlap_with_field_detail(personas):
    steps = [
        {"key": "a", "offset_minutes": 1440, "instruments": ["PHQ-9"], "window_hours": 24},
        {"key": "b", "offset_minutes": 7 * 1440, "instruments": ["PHQ-9"], "window_hours": 24},
    ]
    resp = personas.client("scheduler_x").post(
        "/api/v1/cadence-plans/preview/", preview_body(personas, steps=steps), format="json"
    )
    assert resp.status_code == 400
    (error,) = resp.json()["errors"]
    assert error["attr"] == "steps.1.instruments"
    assert error["code"] == "recall_window_overlap"


@pytest.mark.parametrize(
    ("extra", "attr"),
    [
        ({"template": "ptsd", "plan": str(uuid.uuid4())}, "template"),
        ({"plan": str(uuid.uuid4())}, "plan"),
        ({"course": {"infusions": [], "timezone": "America/New_York"}}, "course.infusions"),
        ({"course": {"infusions": ["2026-09-08T14:00:00Z"], "timezone": "Mars/Base"}},
         "course.timezone"),
        ({"template": "nope"}, "template"),
        ({"course": {"infusions": ["9999-12-30T00:00:00Z"], "timezone": "UTC"}},
         "course.infusions"),
        ({"course": {"infusions": ["2026-09-08T14:00:00Z", "2028-01-08T14:00:00Z"],
                     "timezone": "UTC"}}, "course.infusions"),
        ({"steps": [{"key": f"s{i}", "offset_minutes": i, "instruments": ["MOOD"],
                     "window_hours": 1} for i in range(101)]}, "steps"),
    ],
)  # fmt: skip
def test_the_preview_refuses_bad_input_with_field_detail(personas, extra, attr):
    resp = personas.client("scheduler_x").post(
        "/api/v1/cadence-plans/preview/", preview_body(personas, **extra), format="json"
    )
    assert resp.status_code == 400, resp.content
    assert attr in [e["attr"] for e in resp.json()["errors"]]


def test_the_preview_of_a_template_says_what_the_clinic_cannot_ask(personas):
    resp = personas.client("clinician_x").post(
        "/api/v1/cadence-plans/preview/",
        preview_body(personas, template="postpartum"),
        format="json",
    )
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["notes"] == ["EPDS is not available to this clinic: PHQ-9 is asked instead."]
    assert "PHQ-9" in body["reminders"][0]["instruments"]


# --- safety in the cadence ----------------------------------------------------------------
def test_acute_suicidality_is_asked_a_short_recall_ideation_item_in_the_first_days():
    patient = PatientFactory(conditions=["acute_suicidality"])
    infusion = infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=2))
    asked = [
        r.step_key
        for r in Reminder.objects.filter(infusion=infusion).order_by("due_at")
        if "SI-NOW" in r.instruments
    ]
    # Before: nothing about suicidal thoughts for 14 days after an infusion.
    assert asked == ["baseline", "hour-4", "day-1", "day-2", "day-7"]


def test_a_positive_item_9_schedules_a_short_screener_at_once(patient):
    answers = {**phq9_total(6), "item9": 1}
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=NOW,
        responses=[ResponseInput("PHQ-9", "1", answers)],
        now=NOW,
    )
    (screener,) = Reminder.objects.filter(patient=patient, kind=ReminderKind.SCREENER)
    assert screener.instruments == ["ASQ"]
    assert screener.due_at == NOW
    assert screener.status == ReminderStatus.PENDING
    assert "screener" in screener.reason and "9" not in screener.reason
    # Answering it closes it, as any reminder.
    asq = {"q1": 0, "q2": 0, "q3": 0, "q4": 0}
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=NOW + timedelta(minutes=5),
        responses=[ResponseInput("ASQ", "1", asq)],
        now=NOW + timedelta(minutes=5),
    )
    screener.refresh_from_db()
    assert screener.status == ReminderStatus.COMPLETED


def test_schedulers_list_the_probes_with_their_reasons(personas, clock):
    given = NOW - timedelta(days=30)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(personas.patient_a, given)
    moods_after(personas.patient_a, given, [(2, 8), (7, 8), (15, 5)], clock)
    resp = personas.client("scheduler_x").get("/api/v1/reminders/", {"kind": "probe"})
    assert resp.status_code == 200, resp.content
    (row,) = resp.json()["results"]
    assert row["kind"] == "probe" and row["plan"] is None
    assert row["reason"].startswith("MOOD worse than its best")


# --- what a re-plan and a probe must never do ------------------------------------------
def test_a_reminder_sent_then_cancelled_by_a_pause_is_never_pending_again(patient):
    first = infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=1))
    hour4 = Reminder.objects.get(infusion=first, step_key="hour-4")
    Reminder.objects.filter(pk=hour4.pk).update(status=ReminderStatus.CANCELLED, sent_at=NOW)
    infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=3))  # a re-plan
    hour4.refresh_from_db()
    assert hour4.status == ReminderStatus.CANCELLED


def test_two_instruments_fading_at_once_share_one_probe():
    patient = PatientFactory(conditions=["chronic_pain"])
    given = NOW - timedelta(days=30)
    with time_machine.travel(given + timedelta(hours=1), tick=False) as clock:
        give_infusion(patient, given)
        for day, mood, pain in ((2, 8, 2), (7, 8, 2), (15, 5, 6)):
            at = given + timedelta(days=day)
            clock.move_to(at)
            checkin_submit(
                patient=patient,
                check_in_id=uuid.uuid4(),
                answered_at=at,
                responses=[
                    ResponseInput("MOOD", "1", {"item1": mood}),
                    ResponseInput("PAIN-NRS", "2", {"item1": pain}),
                ],
                now=at,
            )
    # One reminder asks both: one check-in, not two (the burden target).
    (probe,) = probes(patient)
    assert probe.instruments == ["MOOD", "PAIN-NRS"]
    assert probe.reason.startswith("PAIN-NRS fading too; MOOD worse than its best")
    # Pain recovers, mood does not: the probe keeps asking mood alone.
    at = given + timedelta(days=16)
    with time_machine.travel(at, tick=False):
        checkin_submit(
            patient=patient,
            check_in_id=uuid.uuid4(),
            answered_at=at,
            responses=[ResponseInput("PAIN-NRS", "2", {"item1": 2})],
            now=at,
        )
    probe.refresh_from_db()
    assert probe.status == ReminderStatus.PENDING and probe.instruments == ["MOOD"]
    assert probe.reason.startswith("PAIN-NRS not needed (recovered); PAIN-NRS fading too")


def test_a_missed_probe_is_asked_again_then_the_sparse_plan_carries_on(patient, clock):
    from notifications.services.dispatch import reminders_expire

    given = NOW - timedelta(days=30)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(patient, given)
    moods_after(patient, given, [(2, 8), (7, 8), (15, 5)], clock)
    (first,) = probes(patient)
    clock.move_to(first.window_closes_at + timedelta(minutes=1))
    reminders_expire(now=first.window_closes_at + timedelta(minutes=1))
    first.refresh_from_db()
    assert first.status == ReminderStatus.MISSED
    second = probes(patient, status=ReminderStatus.PENDING)
    assert len(second) == 1 and "previous probe was not answered" in second[0].reason
    # Two days after the missed one closed: every 2-3 days.
    assert second[0].due_at - first.due_at == timedelta(days=3)
    clock.move_to(second[0].window_closes_at + timedelta(minutes=1))
    reminders_expire(now=second[0].window_closes_at + timedelta(minutes=1))
    assert probes(patient, status=ReminderStatus.PENDING) == []  # two missed: no third


def test_a_withdrawn_patient_gets_no_screener_or_probe(patient):
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=NOW,
        responses=[ResponseInput("PHQ-9", "1", {**phq9_total(6), "item9": 1})],
        now=NOW,
    )
    (screener,) = Reminder.objects.filter(patient=patient, kind=ReminderKind.SCREENER)
    patient_update(patient=patient, status="withdrawn")
    screener.refresh_from_db()
    assert screener.status == ReminderStatus.CANCELLED


def test_a_mood_check_in_costs_a_fixed_number_of_statements(patient_client, patient, clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    given = NOW - timedelta(days=3)
    clock.move_to(given + timedelta(hours=1))
    give_infusion(patient, given)
    clock.move_to(NOW)

    def submit() -> list[str]:
        body = {
            "id": str(uuid.uuid4()),
            "answered_at": NOW.isoformat(),
            "responses": [{"instrument": "MOOD", "version": "1", "answers": {"item1": 7}}],
        }
        with CaptureQueriesContext(connection) as seen:
            assert patient_client.post("/api/v1/me/check-ins/", body, "json").status_code == 201
        return [q["sql"] for q in seen.captured_queries]

    submit()  # the process's first use of the version reads it
    first = submit()
    assert not any('FROM "outcomes_instrumentversion"' in q for q in first)
    assert len(submit()) == len(first)
    # The phone's PHQ-9/GAD-7 path is 8 (test_checkins_api.py); a momentary measure adds
    # the latest infusion and the readings since it, and the clinic's MID override.
    assert len(first) <= 12, first


def test_an_archived_template_stays_archived_and_costs_one_query(patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from notifications.services.plan_store import template_plans_ensure

    plans = template_plans_ensure(clinic=patient.clinic)
    CadencePlan.objects.filter(pk=plans["trd"].pk).update(archived_at=timezone.now())
    with CaptureQueriesContext(connection) as seen:
        again = template_plans_ensure(clinic=patient.clinic)
    assert "trd" not in again and set(again) == set(plans) - {"trd"}
    assert CadencePlan.objects.filter(clinic=patient.clinic, condition="trd").count() == 1
    assert len(seen.captured_queries) == 1  # no clinic lock: nothing is missing


ACUTE = {"hour-4", "day-1", "day-2"}


def test_a_maintenance_booster_skips_the_first_days_asks_a_rescue_keeps_them(patient):
    """The burden target: a scheduled booster inside the 8 weeks after an induction used to
    add its own 4-hour, day-1 and day-2 asks (docs/BENCHMARKS.md)."""
    induction(patient)
    booster = infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=45))
    keys = {r.step_key for r in planned(patient) if r.infusion_id == booster.pk}
    assert "baseline" in keys and "day-7" in keys and not ACUTE & keys
    later = NOW + timedelta(days=80)
    rescue = treatment_course_create(patient=patient, kind="rescue", started_on=later.date())
    again = infusion_schedule(patient=patient, scheduled_at=later, course=rescue)
    assert {r.step_key for r in planned(patient) if r.infusion_id == again.pk} >= ACUTE


def test_a_booster_long_after_the_induction_is_still_a_booster(patient, clock):
    """The induction lies before the planner's horizon: the patient was treated before, so
    the lone booster is maintenance (as the course engine infers it), not an induction."""
    for infusion in induction(patient):
        infusion.status = InfusionStatus.COMPLETED
        infusion.save(update_fields=["status"])
    clock.move_to(NOW + timedelta(days=200))
    booster = infusion_schedule(patient=patient, scheduled_at=NOW + timedelta(days=201))
    keys = {r.step_key for r in planned(patient) if r.infusion_id == booster.pk}
    assert "baseline" in keys and not ACUTE & keys
