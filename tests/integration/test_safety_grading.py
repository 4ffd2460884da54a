"""Graded safety response (issue 13): the rule's level decides who is paged, how fast, what
the patient is told; an acknowledged alert needs a documented follow-up or escalates again;
a positive PHQ-9 item 9 asks for a short screener."""

import importlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import F

from notifications.models import Delivery, DeliveryKind
from notifications.services.delivery import message_for
from outcomes import events
from outcomes.models import AlertLevel, AlertStatus, ClinicSafetySettings, SafetyAlert
from outcomes.services.instruments import instrument_load_licensed, licensed_template
from outcomes.services.privacy import patient_erase
from outcomes.services.safety import (
    DEFAULT_CRISIS_RESOURCES,
    alert_acknowledge,
    alerts_escalate_due,
)
from tests.factories import (
    ClinicSafetySettingsFactory,
    SafetyAlertFactory,
    StaffFactory,
    checkin_payload,
    phq9,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/check-ins/"
NO_ITEM9 = (0, 0, 0, 0, 0, 0, 0, 0)


@pytest.fixture
def console(settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]


@pytest.fixture
def on_call(personas):
    """Clinic X's on-call clinician, who is not on patient A's care team."""
    person = StaffFactory(clinic=personas.clinic_x, role="clinician")
    ClinicSafetySettingsFactory(clinic=personas.clinic_x).on_call.set([person])
    return person


@pytest.fixture
def screeners_wanted():
    seen: list[events.SafetyScreenerWanted] = []
    events.subscribe(events.SafetyScreenerWanted, seen.append)
    yield seen
    events.unsubscribe(events.SafetyScreenerWanted, seen.append)


def _cssrs_licensed(clinic):
    template = licensed_template("C-SSRS-SCREENER")
    texts = {
        "items": {it["link_id"]: f"Synthetic question {it['link_id']}" for it in template["items"]},
        "options": {"yes_no": ["No (synthetic)", "Yes (synthetic)"]},
    }
    version, _ = instrument_load_licensed(clinic=clinic, code="C-SSRS-SCREENER", texts=texts)
    return version


def _submit(personas, *responses, who="patient_a"):
    resp = personas.client(who).post(URL, checkin_payload(responses=list(responses)), format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


def cssrs(version, **yes) -> dict:
    answers = {"q1": 0, "q2": 0, "q6": 0, **yes}
    if answers["q2"] == 1:
        answers = {"q3": 0, "q4": 0, "q5": 0, **answers}
    return {"instrument": "C-SSRS-SCREENER", "version": version.version, "answers": answers}


def asq(**yes) -> dict:
    answers = {"q1": 0, "q2": 0, "q3": 0, "q4": 0, **yes}
    if any(answers.values()):
        answers.setdefault("q5", 0)
    return {"instrument": "ASQ", "version": "1", "answers": answers}


def notices(**filters):
    return Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM, **filters)


# --- who is paged, and how fast -------------------------------------------------------------


def test_wish_to_be_dead_alone_is_low_and_pages_nobody(personas, console, on_call):
    version = _cssrs_licensed(personas.clinic_x)
    body = _submit(personas, cssrs(version, q1=1))
    assert body["safety"]["level"] == "low"
    (alert,) = SafetyAlert.objects.all()
    assert (alert.level, alert.severity) == (AlertLevel.LOW, "high")
    assert alert.review_due_at is not None
    assert alert.next_escalation_at == alert.review_due_at
    # Reviewed within a working day: one plain notice to the care team, no page at all.
    assert not notices(urgent=True).exists()
    (notice,) = notices()
    assert notice.staff_user == personas.clinician_x
    assert message_for(notice).body.startswith("A patient on your care team may need review")
    # Nothing escalates before the review time; on-call is paged once it has passed.
    assert alerts_escalate_due(now=alert.review_due_at - timedelta(minutes=1)) == 0
    assert alerts_escalate_due(now=alert.review_due_at + timedelta(minutes=1)) == 1
    assert notices(urgent=True, staff_user=on_call).count() == 1


def test_asq_wish_to_be_dead_alone_is_low_too(personas, console, on_call):
    _submit(personas, asq(q1=1))
    (alert,) = SafetyAlert.objects.all()
    assert (alert.rule, alert.level) == ("asq_q1_yes", AlertLevel.LOW)
    assert not notices(urgent=True).exists()


def test_intent_with_a_plan_is_high_and_pages_on_call_at_once(personas, console, on_call):
    version = _cssrs_licensed(personas.clinic_x)
    t0 = datetime.now(UTC)
    body = _submit(personas, cssrs(version, q1=1, q2=1, q4=1, q5=1))
    assert body["safety"]["level"] == "high"
    alerts = {a.rule: a for a in SafetyAlert.objects.all()}
    assert alerts["cssrs_q5_yes"].level == AlertLevel.HIGH
    assert alerts["cssrs_q5_yes"].severity == "urgent"
    assert alerts["cssrs_q1_yes"].level == AlertLevel.LOW  # graded per rule
    # One page for the check-in, at once, to on-call as well as the care team.
    pages = notices(urgent=True)
    assert {d.staff_user for d in pages} == {on_call, personas.clinician_x}
    assert pages.count() == 2
    assert all(d.alert.level == AlertLevel.HIGH for d in pages)
    first = list(pages.values_list("pk", flat=True))
    # A 10-minute acknowledgement deadline (a moderate alert has 30).
    high = alerts["cssrs_q5_yes"]
    assert t0 + timedelta(minutes=10) <= high.next_escalation_at
    assert high.next_escalation_at < t0 + timedelta(minutes=30)
    # Its high alerts (q4, q5 and the high triage) escalate together, its low ones (q1, q2)
    # wait for their review time: one page, to on-call, on the staff channel.
    assert sorted(r for r, a in alerts.items() if a.level == AlertLevel.HIGH) == [
        "cssrs_q4_yes",
        "cssrs_q5_yes",
        "cssrs_triage_high",
    ]
    assert alerts_escalate_due(now=high.next_escalation_at + timedelta(seconds=1)) == 3
    escalated = notices(urgent=True).exclude(pk__in=first)
    assert [(d.staff_user, d.channel, d.dedupe_key) for d in escalated] == [
        (on_call, "console", f"alert:{high.check_in_id}:high:1")
    ]
    assert escalated.get().alert.level == AlertLevel.HIGH


def test_moderate_pages_the_care_team_as_before(personas, console, on_call):
    t0 = datetime.now(UTC)
    body = _submit(personas, phq9(*NO_ITEM9, 1))
    assert body["safety"]["level"] == "moderate"
    (alert,) = SafetyAlert.objects.all()
    assert (alert.level, alert.severity, alert.review_due_at) == (AlertLevel.MODERATE, "high", None)
    assert alert.next_escalation_at >= t0 + timedelta(minutes=30)
    assert {d.staff_user for d in notices(urgent=True)} == {personas.clinician_x}


def test_the_clinics_own_deadlines_apply(personas, console):
    ClinicSafetySettingsFactory(
        clinic=personas.clinic_x, high_acknowledge_within_minutes=3, acknowledge_within_minutes=20
    )
    t0 = datetime.now(UTC)
    _submit(personas, asq(q1=1, q5=1))
    t1 = datetime.now(UTC)
    (alert,) = SafetyAlert.objects.filter(level=AlertLevel.HIGH)
    assert t0 + timedelta(minutes=3) <= alert.next_escalation_at <= t1 + timedelta(minutes=3)


def test_a_low_alert_raised_on_friday_is_reviewed_on_monday_in_clinic_time(personas, console):
    personas.clinic_x.timezone = "America/New_York"
    personas.clinic_x.save(update_fields=["timezone"])
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=ZoneInfo("America/New_York"))
    with time_machine.travel(friday, tick=False):
        _submit(personas, asq(q1=1))
    (alert,) = SafetyAlert.objects.all()
    monday_5pm = datetime(2026, 12, 7, 17, 0, tzinfo=ZoneInfo("America/New_York"))
    assert alert.review_due_at == monday_5pm


# --- what the patient is told ------------------------------------------------------------------


def test_a_high_alert_tells_the_patient_to_get_help_now(personas, console):
    body = _submit(personas, asq(q2=1, q5=1))
    safety = body["safety"]
    assert safety["level"] == "high"
    assert "988" in safety["message"] and "911" in safety["message"]
    assert "now" in safety["message"]
    assert "may not see this right away" in safety["message"]
    # Moderate and low keep the "not monitored in real time" message, with no directive.
    other = _submit(personas, phq9(*NO_ITEM9, 2))["safety"]
    assert other["level"] == "moderate"
    assert "911" not in other["message"]


def test_the_directive_names_the_clinics_own_crisis_line(personas, console):
    mine = [{"name": "Samaritans", "contact": "116 123", "description": "UK, 24 hours"}]
    ClinicSafetySettingsFactory(clinic=personas.clinic_x, crisis_resources=mine)
    safety = _submit(personas, {"instrument": "SI-NOW", "version": "1", "answers": {"q1": 1}})[
        "safety"
    ]
    assert safety["level"] == "high"
    assert "Samaritans (116 123)" in safety["message"]
    assert "988" not in safety["message"]


# --- acknowledged, then followed up --------------------------------------------------------------


def _acknowledged_moderate(personas):
    _submit(personas, phq9(*NO_ITEM9, 1))
    alert = SafetyAlert.objects.get()
    resp = personas.client("clinician_x").post(
        f"/api/v1/alerts/{alert.id}/acknowledge/", {"note": "Called."}, format="json"
    )
    assert resp.status_code == 200
    alert.refresh_from_db()
    return alert


def test_an_acknowledged_alert_without_follow_up_escalates_again(personas, console, on_call):
    alert = _acknowledged_moderate(personas)
    assert alert.follow_up_due_at - alert.acknowledged_at == timedelta(hours=72)
    due = alert.follow_up_due_at
    assert alerts_escalate_due(now=due - timedelta(minutes=1)) == 0
    assert alerts_escalate_due(now=due + timedelta(minutes=1)) == 1
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.escalation_level == 1
    reminded = notices(dedupe_key=f"follow-up:{alert.check_in_id}:moderate:1")
    assert {d.staff_user for d in reminded} == {personas.clinician_x, on_call}
    assert not any(d.urgent for d in reminded)  # a notice, not a page
    # Re-armed: again a day later, not before.
    assert alerts_escalate_due(now=due + timedelta(hours=2)) == 0
    assert alerts_escalate_due(now=due + timedelta(hours=25)) == 1
    alert.refresh_from_db()
    assert alert.escalation_level == 2


def test_a_documented_follow_up_stops_the_escalation(personas, console, on_call):
    alert = _acknowledged_moderate(personas)
    url = f"/api/v1/alerts/{alert.id}/follow-up/"
    resp = personas.client("clinician_x").post(url, {"note": "Safety plan agreed."}, format="json")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["followed_up_by"] == personas.clinician_x.username
    assert body["follow_up_note"] == "Safety plan agreed."
    assert body["followed_up_at"] is not None
    assert body["level"] == "moderate"
    assert alerts_escalate_due(now=alert.follow_up_due_at + timedelta(days=30)) == 0
    assert not notices(dedupe_key__startswith="follow-up:").exists()
    again = personas.client("clinician_x").post(url, {"note": "Twice."}, format="json")
    assert again.status_code == 400
    assert again.json()["errors"][0]["code"] == "already_followed_up"


def test_a_follow_up_needs_a_note_and_an_acknowledged_alert(personas, console):
    _submit(personas, phq9(*NO_ITEM9, 1))
    alert = SafetyAlert.objects.get()
    url = f"/api/v1/alerts/{alert.id}/follow-up/"
    client = personas.client("clinician_x")
    blank = client.post(url, {"note": "   "}, format="json")
    assert blank.status_code == 400
    assert blank.json()["errors"][0]["attr"] == "note"
    missing = client.post(url, {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["attr"] == "note"
    still_open = client.post(url, {"note": "Called."}, format="json")
    assert still_open.status_code == 400
    assert still_open.json()["errors"][0]["code"] == "not_acknowledged"
    assert personas.client("clinician_y").post(url, {"note": "x"}, format="json").status_code == 404
    assert SafetyAlert.objects.get().followed_up_at is None


def test_resolving_with_a_note_counts_as_the_follow_up(personas, console):
    alert = _acknowledged_moderate(personas)
    resp = personas.client("clinician_x").post(
        f"/api/v1/alerts/{alert.id}/resolve/", {"note": "Seen in clinic."}, format="json"
    )
    assert resp.json()["follow_up_note"] == "Seen in clinic."
    assert resp.json()["followed_up_by"] == personas.clinician_x.username
    assert alerts_escalate_due(now=alert.follow_up_due_at + timedelta(days=1)) == 0


def test_alerts_acknowledged_before_grading_do_not_start_escalating(personas, console):
    # Raised and escalated once as before levels existed: open, its acknowledgement
    # deadline long past...
    raised = datetime.now(UTC) - timedelta(days=30)
    old = SafetyAlertFactory(
        response__check_in__patient=personas.patient_a,
        severity="high",
        escalation_level=1,
        next_escalation_at=raised + timedelta(minutes=60),
    )
    # ...then acknowledged by the code of the time (its UPDATE, verbatim): no follow-up
    # deadline, the escalation time cleared.
    SafetyAlert.objects.filter(pk=old.pk, status=AlertStatus.OPEN).update(
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_by=personas.clinician_x,
        acknowledged_at=raised + timedelta(minutes=45),
        next_escalation_at=None,
        note="Called.",
    )
    migration = importlib.import_module("outcomes.migrations.0004_safety_grading")
    migration.backfill_levels(apps, None)
    old.refresh_from_db()
    assert (old.level, old.follow_up_due_at) == (AlertLevel.MODERATE, None)
    assert alerts_escalate_due(now=datetime.now(UTC) + timedelta(days=365)) == 0
    old.refresh_from_db()
    assert (old.status, old.escalation_level) == (AlertStatus.ACKNOWLEDGED, 1)
    assert not notices().exists()
    # Its follow-up can still be documented.
    resp = personas.client("clinician_x").post(
        f"/api/v1/alerts/{old.id}/follow-up/", {"note": "Seen at the visit."}, format="json"
    )
    assert resp.status_code == 200, resp.json()


def test_erasure_blanks_the_follow_up_note(personas, console):
    alert = _acknowledged_moderate(personas)
    personas.client("clinician_x").post(
        f"/api/v1/alerts/{alert.id}/follow-up/", {"note": "Spoke to Mrs Synthetic"}, format="json"
    )
    patient_erase(patient=personas.patient_a)
    assert SafetyAlert.objects.get().follow_up_note == ""
    assert not SafetyAlert.history.exclude(follow_up_note="").exists()


# --- the follow-up screener -------------------------------------------------------------------


def test_positive_item9_asks_for_the_asq_once(personas, console, screeners_wanted):
    payload = checkin_payload(responses=[phq9(*NO_ITEM9, 2)])
    client = personas.client("patient_a")
    assert client.post(URL, payload, format="json").status_code == 201
    (event,) = screeners_wanted
    assert event.instrument_code == "ASQ"
    assert event.patient == personas.patient_a
    assert str(event.check_in.id) == payload["id"]
    assert client.post(URL, payload, format="json").status_code == 200  # a retry: not again
    assert len(screeners_wanted) == 1


def test_a_clinic_with_a_licensed_cssrs_asks_for_it(personas, console, screeners_wanted):
    _cssrs_licensed(personas.clinic_x)
    _submit(personas, phq9(*NO_ITEM9, 1))
    assert [e.instrument_code for e in screeners_wanted] == ["C-SSRS-SCREENER"]
    # Another clinic's licence is not this clinic's.
    _submit(personas, phq9(*NO_ITEM9, 1), who="patient_y")
    assert screeners_wanted[-1].instrument_code == "ASQ"


def test_no_screener_is_asked_for_when_none_is_needed(personas, console, screeners_wanted):
    _submit(personas, phq9(*NO_ITEM9, 0))
    _submit(personas, phq9(*NO_ITEM9, 1), asq(q1=1))  # answered a screener with it
    _submit(personas, asq(q3=1))  # the screener itself
    assert screeners_wanted == []


# --- the API --------------------------------------------------------------------------------------


def test_the_alert_list_filters_by_level(personas, console):
    _submit(personas, asq(q1=1))
    _submit(personas, phq9(*NO_ITEM9, 1))
    client = personas.client("clinician_x")
    low = client.get("/api/v1/alerts/", {"level": "low"}).json()["results"]
    assert [(a["rule"], a["level"]) for a in low] == [("asq_q1_yes", "low")]
    assert low[0]["review_due_at"] is not None
    moderate = client.get("/api/v1/alerts/", {"level": "moderate"}).json()["results"]
    assert [a["rule"] for a in moderate] == ["phq9_item9_self_harm"]
    assert client.get("/api/v1/alerts/", {"level": "dire"}).status_code == 400


def test_clinic_admins_set_the_deadlines_per_level(personas, console):
    url = f"/api/v1/clinics/{personas.clinic_x.id}/safety-settings/"
    admin = personas.client("admin_x")
    assert admin.get(url).json() == {
        "high_acknowledge_within_minutes": 10,
        "acknowledge_within_minutes": 30,
        "low_review_by_hour": 17,
        "high_follow_up_within_hours": 24,
        "moderate_follow_up_within_hours": 72,
        "low_follow_up_within_hours": 168,
    }
    resp = admin.patch(url, {"moderate_follow_up_within_hours": 48}, format="json")
    assert resp.status_code == 200
    assert resp.json()["moderate_follow_up_within_hours"] == 48
    slower = admin.patch(url, {"high_acknowledge_within_minutes": 45}, format="json")
    assert slower.status_code == 400
    assert slower.json()["errors"][0]["attr"] == "high_acknowledge_within_minutes"
    out_of_range = admin.patch(url, {"low_review_by_hour": 24}, format="json")
    assert out_of_range.json()["errors"][0]["attr"] == "low_review_by_hour"
    alert = _acknowledged_moderate(personas)
    assert alert.follow_up_due_at - alert.acknowledged_at == timedelta(hours=48)


def test_existing_urgent_alerts_are_backfilled_as_high(personas):
    migration = importlib.import_module("outcomes.migrations.0004_safety_grading")
    urgent = SafetyAlertFactory(severity="urgent", level=AlertLevel.MODERATE)
    high = SafetyAlertFactory(severity="high", level=AlertLevel.MODERATE)
    migration.backfill_levels(apps, None)
    urgent.refresh_from_db()
    high.refresh_from_db()
    assert (urgent.level, high.level) == (AlertLevel.HIGH, AlertLevel.MODERATE)


def test_acknowledging_through_the_service_sets_the_level_deadline(personas, console):
    _submit(personas, asq(q4=1, q5=1))
    alert = SafetyAlert.objects.get(level=AlertLevel.HIGH)
    alert = alert_acknowledge(alert=alert, user=personas.clinician_x)
    assert alert.follow_up_due_at - alert.acknowledged_at == timedelta(hours=24)
    assert alert.next_escalation_at == alert.follow_up_due_at


# --- a check-in's alerts, handled together ---------------------------------------------------


def _mixed(personas):
    """One check-in with a low (ASQ q1), a moderate (ASQ q2) and a high (ASQ q5) alert."""
    _submit(personas, asq(q1=1, q2=1, q5=1))
    alerts = {a.level: a for a in SafetyAlert.objects.all()}
    assert sorted(alerts) == sorted(AlertLevel.values)
    return alerts[AlertLevel.LOW], alerts[AlertLevel.MODERATE], alerts[AlertLevel.HIGH]


def _act(personas, alert, action, note="", who="clinician_x"):
    return personas.client(who).post(
        f"/api/v1/alerts/{alert.id}/{action}/", {"note": note}, format="json"
    )


def test_a_mixed_level_check_in_pages_once_per_pass_and_is_handled_together(
    personas, console, on_call
):
    low, moderate, high = _mixed(personas)
    paged = notices(urgent=True, staff_user=on_call)
    assert paged.count() == 1  # the first page, for the check-in
    # The high alert's clock first: alone, one page.
    assert alerts_escalate_due(now=high.next_escalation_at + timedelta(seconds=1)) == 1
    assert paged.count() == 2
    # Half an hour in, the high and the moderate escalate in the same pass: one page, for
    # the high one.
    assert alerts_escalate_due(now=moderate.next_escalation_at + timedelta(seconds=1)) == 2
    assert paged.count() == 3
    assert paged.order_by("-created_at").first().alert == high
    # Acknowledging the moderate alert acknowledges the low one with it, not the high one.
    assert _act(personas, moderate, "acknowledge", "Called.").status_code == 200
    low.refresh_from_db()
    high.refresh_from_db()
    assert (low.status, low.acknowledged_by, low.note) == (
        AlertStatus.ACKNOWLEDGED,
        personas.clinician_x,
        "Called.",
    )
    assert low.follow_up_due_at - low.acknowledged_at == timedelta(hours=168)  # its own level
    assert high.status == AlertStatus.OPEN
    assert alerts_escalate_due(now=high.next_escalation_at + timedelta(seconds=1)) == 1
    assert paged.count() == 4
    # The high alert acknowledged, its follow-up documented: every alert of the check-in
    # has it, each with its own history row by the clinician.
    assert _act(personas, high, "acknowledge").status_code == 200
    resp = _act(personas, high, "follow-up", "Seen in clinic; safety plan.")
    assert resp.status_code == 200, resp.json()
    for alert in SafetyAlert.objects.all():
        assert (alert.followed_up_by, alert.follow_up_note, alert.next_escalation_at) == (
            personas.clinician_x,
            "Seen in clinic; safety plan.",
            None,
        )
        latest = alert.history.order_by("-history_date").first()
        assert (latest.history_user, latest.followed_up_at) == (
            personas.clinician_x,
            alert.followed_up_at,
        )
    # Nothing of it pages again: not the low alert's review time, not a follow-up.
    assert alerts_escalate_due(now=datetime.now(UTC) + timedelta(days=30)) == 0
    assert paged.count() == 4
    # Every follow-up documented: resolving needs no further note, and closes them all.
    assert _act(personas, high, "resolve").status_code == 200
    assert set(SafetyAlert.objects.values_list("status", flat=True)) == {AlertStatus.RESOLVED}


def test_acknowledging_the_high_alerts_of_a_cssrs_leaves_no_low_one_to_page(
    personas, console, on_call
):
    version = _cssrs_licensed(personas.clinic_x)
    _submit(personas, cssrs(version, q1=1, q2=1, q4=1, q5=1))
    q5 = SafetyAlert.objects.get(rule="cssrs_q5_yes")
    lows = SafetyAlert.objects.filter(level=AlertLevel.LOW)
    assert lows.count() == 2  # q1 and q2
    assert _act(personas, q5, "acknowledge", "On the phone with the patient.").status_code == 200
    assert set(SafetyAlert.objects.values_list("status", flat=True)) == {AlertStatus.ACKNOWLEDGED}
    for low in lows:
        assert (low.acknowledged_by, low.history.count()) == (personas.clinician_x, 2)
    review = lows.first().review_due_at
    paged = notices(urgent=True).count()
    alerts_escalate_due(now=review + timedelta(minutes=1))  # the highs' follow-ups may be due
    assert set(lows.values_list("escalation_level", flat=True)) == {0}
    assert notices(urgent=True).count() == paged  # no page


def test_a_lower_alert_escalating_on_its_own_clock_still_pages(personas, console, on_call):
    """The moderate alert's first escalation used to take the key of the low one's."""
    _submit(personas, phq9(*NO_ITEM9, 1), asq(q1=1))
    low = SafetyAlert.objects.get(level=AlertLevel.LOW)
    paged = notices(urgent=True, staff_user=on_call)
    # The moderate alert escalates (step 1), its next step after the low's review time...
    assert alerts_escalate_due(now=low.review_due_at - timedelta(minutes=10)) == 1
    assert paged.count() == 1
    # ...then the low one, alone, reaches its review time (its step 1): on-call is paged.
    assert alerts_escalate_due(now=low.review_due_at + timedelta(minutes=1)) == 1
    assert paged.count() == 2
    assert paged.order_by("-created_at").first().alert == low


# --- resolving needs a documented follow-up --------------------------------------------------


def test_resolving_without_a_note_or_a_documented_follow_up_is_400_and_changes_nothing(
    personas, console
):
    alert = _acknowledged_moderate(personas)
    history = alert.history.count()
    for body in ({}, {"note": ""}, {"note": "   "}):
        resp = personas.client("clinician_x").post(
            f"/api/v1/alerts/{alert.id}/resolve/", body, format="json"
        )
        assert resp.status_code == 400
        assert [(e["attr"], e["code"]) for e in resp.json()["errors"]] == [
            ("note", "follow_up_required")
        ]
    unchanged = SafetyAlert.objects.get()
    assert (unchanged.status, unchanged.resolved_at, unchanged.followed_up_at) == (
        AlertStatus.ACKNOWLEDGED,
        None,
        None,
    )
    assert unchanged.history.count() == history
    # Once the follow-up is documented, no further note is needed.
    assert _act(personas, alert, "follow-up", "Called back.").status_code == 200
    resp = _act(personas, alert, "resolve")
    assert resp.status_code == 200, resp.json()
    assert (resp.json()["status"], resp.json()["follow_up_note"]) == ("resolved", "Called back.")


def test_resolving_a_lower_alert_leaves_the_higher_one_open(personas, console):
    low, moderate, _ = _mixed(personas)
    assert _act(personas, moderate, "resolve", "Reviewed with the patient.").status_code == 200
    statuses = dict(SafetyAlert.objects.values_list("level", "status"))
    assert statuses == {
        AlertLevel.LOW: AlertStatus.RESOLVED,
        AlertLevel.MODERATE: AlertStatus.RESOLVED,
        AlertLevel.HIGH: AlertStatus.OPEN,
    }
    low.refresh_from_db()
    assert (low.resolved_by, low.acknowledged_by, low.follow_up_note) == (
        personas.clinician_x,
        personas.clinician_x,
        "Reviewed with the patient.",
    )


# --- the clinic's crisis resources ----------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [["Call 988"], [{"contact": ""}], [{"name": "No contact"}], "988", [None, 7]],
)
def test_malformed_crisis_resources_still_give_the_patient_the_directive(personas, console, stored):
    ClinicSafetySettings.objects.create(clinic=personas.clinic_x, crisis_resources=stored)
    resp = personas.client("patient_a").post(
        URL, checkin_payload(responses=[asq(q2=1, q5=1)]), format="json"
    )
    assert resp.status_code == 201, resp.content
    safety = resp.json()["safety"]
    assert safety["level"] == "high"
    assert "988 Suicide & Crisis Lifeline (Call or text 988)" in safety["message"]
    assert safety["crisis_resources"] == DEFAULT_CRISIS_RESOURCES


def test_only_the_usable_crisis_resources_are_shown(personas, console):
    mine = {"name": "Samaritans", "contact": "116 123"}
    ClinicSafetySettings.objects.create(
        clinic=personas.clinic_x, crisis_resources=["Call 988", mine, {"contact": "x"}]
    )
    safety = _submit(personas, asq(q2=1, q5=1))["safety"]
    assert safety["crisis_resources"] == [mine]
    assert "Samaritans (116 123)" in safety["message"]


def test_crisis_resources_that_are_not_objects_are_refused_on_save(personas):
    row = ClinicSafetySettings(clinic=personas.clinic_x, crisis_resources=["Call 988"])
    with pytest.raises(ValidationError) as refused:
        row.full_clean()
    assert list(refused.value.message_dict) == ["crisis_resources"]
    row.crisis_resources = [{"name": "Samaritans", "contact": "116 123", "description": "UK"}]
    row.full_clean()


# --- the migration to levels ----------------------------------------------------------------


def test_the_migration_never_makes_high_wait_longer_than_moderate(personas, console):
    migration = importlib.import_module("outcomes.migrations.0004_safety_grading")
    # As the new column's default left them: 10 minutes for high, whatever moderate had.
    fast = ClinicSafetySettingsFactory(
        clinic=personas.clinic_x, acknowledge_within_minutes=5, high_acknowledge_within_minutes=10
    )
    usual = ClinicSafetySettingsFactory(
        clinic=personas.clinic_y, acknowledge_within_minutes=30, high_acknowledge_within_minutes=10
    )
    migration.cap_high_acknowledgement(apps, None)
    fast.refresh_from_db()
    usual.refresh_from_db()
    assert (fast.high_acknowledge_within_minutes, usual.high_acknowledge_within_minutes) == (5, 10)
    assert not ClinicSafetySettings.history.filter(
        acknowledge_within_minutes__lt=F("high_acknowledge_within_minutes")
    ).exists()
    # The clinic can change another setting afterwards.
    resp = personas.client("admin_x").patch(
        f"/api/v1/clinics/{personas.clinic_x.id}/safety-settings/",
        {"low_review_by_hour": 16},
        format="json",
    )
    assert resp.status_code == 200, resp.json()
