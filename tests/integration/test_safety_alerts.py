"""A suicidal-ideation answer reaches a clinician: one alert, the care team notified in the
check-in's transaction, escalation until acknowledged, crisis resources to the patient."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest

from notifications.models import Delivery, DeliveryKind
from notifications.services.delivery import message_for
from outcomes.models import AlertStatus, SafetyAlert
from outcomes.services.safety import DEFAULT_CRISIS_RESOURCES, alerts_escalate_due
from tests.factories import (
    ClinicSafetySettingsFactory,
    SafetyAlertFactory,
    StaffFactory,
    checkin_payload,
    phq9,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/check-ins/"
PHQ9_ITEM9_RULE = "phq9_item9_self_harm"


@pytest.fixture
def console(settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]


def notices(**filters):
    return Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM, urgent=True, **filters)


def test_phq9_item9_creates_one_alert_notifies_care_team_and_shows_crisis_resources(
    personas, console
):
    payload = checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)])
    resp = personas.client("patient_a").post(URL, payload, format="json")
    assert resp.status_code == 201
    safety = resp.json()["safety"]
    assert safety["alerts"] == 1
    assert safety["crisis_resources"] == DEFAULT_CRISIS_RESOURCES
    assert "988" in safety["crisis_resources"][0]["contact"]
    assert "may not see this right away" in safety["message"]
    (alert,) = SafetyAlert.objects.all()
    assert alert.status == AlertStatus.OPEN
    assert alert.patient == personas.patient_a
    assert alert.rule == PHQ9_ITEM9_RULE
    (notice,) = notices()
    assert notice.staff_user == personas.clinician_x  # the care team
    assert "item" not in message_for(notice).body.lower()
    # A retry of the same submission raises nothing new and still shows the resources.
    again = personas.client("patient_a").post(URL, payload, format="json")
    assert again.status_code == 200
    assert again.json()["safety"]["alerts"] == 1
    assert SafetyAlert.objects.count() == 1
    assert notices().count() == 1


def test_no_alert_when_item9_is_zero(personas, console):
    resp = personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(3, 3, 3, 3, 3, 3, 3, 3, 0)]), format="json"
    )
    assert resp.json()["safety"] is None
    assert not SafetyAlert.objects.exists()


def test_unacknowledged_alert_escalates_until_acknowledged(personas, console):
    on_call = StaffFactory(clinic=personas.clinic_x, role="clinician")
    settings_row = ClinicSafetySettingsFactory(
        clinic=personas.clinic_x, acknowledge_within_minutes=15
    )
    settings_row.on_call.set([on_call])
    t0 = datetime.now(UTC)
    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 2)]), format="json"
    )
    (alert,) = SafetyAlert.objects.all()
    assert alerts_escalate_due(now=t0 + timedelta(minutes=10)) == 0  # not yet due
    assert alerts_escalate_due(now=t0 + timedelta(minutes=16)) == 1
    assert notices(staff_user=on_call).count() == 1
    assert alerts_escalate_due(now=t0 + timedelta(minutes=17)) == 0  # one notice per level
    assert alerts_escalate_due(now=t0 + timedelta(minutes=32)) == 1  # and again
    assert notices(staff_user=on_call).count() == 2
    alert.refresh_from_db()
    assert alert.escalation_level == 2

    resp = personas.client("clinician_x").post(
        f"/api/v1/alerts/{alert.id}/acknowledge/", {"note": "Called the patient."}, format="json"
    )
    assert resp.status_code == 200
    assert resp.json()["status"] == "acknowledged"
    assert resp.json()["acknowledged_by"] == personas.clinician_x.username
    assert alerts_escalate_due(now=t0 + timedelta(hours=5)) == 0  # acknowledged: it stops
    assert notices(staff_user=on_call).count() == 2
    again = personas.client("clinician_x").post(f"/api/v1/alerts/{alert.id}/acknowledge/")
    assert again.status_code == 400
    done = personas.client("clinician_x").post(
        f"/api/v1/alerts/{alert.id}/resolve/", {"note": "Safety plan agreed."}, format="json"
    )
    assert done.json()["status"] == "resolved"


def test_clinic_crisis_resources_replace_the_default(personas, console):
    mine = [{"name": "Samaritans", "contact": "116 123", "description": "UK, 24 hours"}]
    ClinicSafetySettingsFactory(clinic=personas.clinic_x, crisis_resources=mine)
    resp = personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 3)]), format="json"
    )
    assert resp.json()["safety"]["crisis_resources"] == mine


def test_a_large_worsening_tells_the_care_team_without_a_crisis_alert(personas, console):
    client = personas.client("patient_a")
    t0 = datetime.now(UTC) - timedelta(days=15)
    client.post(
        URL,
        checkin_payload(responses=[phq9(0, 1, 0, 1, 0, 1, 0, 1, 0)], answered_at=t0),
        format="json",
    )
    resp = client.post(
        URL, checkin_payload(responses=[phq9(2, 2, 2, 2, 2, 2, 2, 2, 0)]), format="json"
    )
    # 4 -> 16: twelve points worse, over twice PHQ-9's MID of 5 (Loewe 2004): worth a
    # clinician's look, but neither a crisis message nor an escalating alert.
    assert resp.json()["safety"] is None
    assert not SafetyAlert.objects.exists()
    (notice,) = Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM)
    assert notice.urgent is False
    assert notice.staff_user == personas.clinician_x


def test_an_urgent_notice_reaches_a_clinician_who_can_be_contacted(personas, settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["email"]
    reachable = StaffFactory(
        clinic=personas.clinic_x, role="clinician", email="synthetic-oncall@example.org"
    )
    assert not personas.clinician_x.email  # the care team has no e-mail address
    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 3)]), format="json"
    )
    assert {d.staff_user for d in notices()} == {reachable}


def test_escalation_goes_to_clinicians_who_can_acknowledge(personas, console):
    former = StaffFactory(clinic=personas.clinic_y, role="clinician")
    personas.patient_a.care_team.add(former)  # no longer a clinician of clinic X
    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
    )
    assert {d.staff_user for d in notices()} == {personas.clinician_x}
    alerts_escalate_due(now=datetime.now(UTC) + timedelta(hours=1))
    recipients = {d.staff_user for d in notices()}
    assert personas.admin_x not in recipients  # an admin cannot open the alert
    assert former not in recipients
    assert personas.clinician_x in recipients


def test_several_alerts_of_one_check_in_page_once_per_level(personas, console):
    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
    )
    first = SafetyAlert.objects.get()
    SafetyAlertFactory(
        patient=first.patient,
        check_in=first.check_in,
        response=first.response,
        rule="another_rule",
        severity="urgent",
        next_escalation_at=first.next_escalation_at,
    )
    assert notices().count() == 1
    alerts_escalate_due(now=datetime.now(UTC) + timedelta(hours=1))
    per_person = notices().filter(staff_user=personas.clinician_x).count()
    assert per_person == 2  # the first notice and one escalation, not one per alert


def test_alerts_are_visible_only_to_the_patients_clinic(personas, console):
    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
    )
    alert = SafetyAlert.objects.get()
    listing = personas.client("clinician_x").get("/api/v1/alerts/", {"status": "open"}).json()
    assert [a["id"] for a in listing["results"]] == [str(alert.id)]
    assert personas.client("clinician_y").get("/api/v1/alerts/").json()["results"] == []
    assert personas.client("clinician_y").get(f"/api/v1/alerts/{alert.id}/").status_code == 404
    assert (
        personas.client("clinician_y").post(f"/api/v1/alerts/{alert.id}/acknowledge/").status_code
        == 404
    )
    assert SafetyAlert.objects.get().status == AlertStatus.OPEN


def test_the_alert_and_its_notices_commit_with_the_check_in(personas, console):
    """If anything in the submission fails, neither the answer nor its alert is stored."""

    with (
        # Called by notifications' subscriber to the check-in's event (outcomes.events).
        mock.patch(
            "notifications.subscribers.reminders_complete_for_checkin",
            side_effect=RuntimeError("boom"),
        ),
        mock.patch(
            "notifications.services.reminders.reminders_complete_for_checkin",
            side_effect=RuntimeError("boom"),
        ),
        pytest.raises(RuntimeError),
    ):
        personas.client("patient_a").post(
            URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
        )
    assert not SafetyAlert.objects.exists()
    assert not notices().exists()


def test_a_page_waiting_for_a_retry_is_dropped_once_the_alert_is_acknowledged(personas, console):
    from notifications.channels import TransportError
    from notifications.models import DeliveryStatus
    from notifications.services.delivery import delivery_send

    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
    )
    (page,) = notices()
    flaky = TransportError("provider down", permanent=False, code="unavailable")
    with mock.patch("notifications.channels.console.ConsoleChannel.send", side_effect=flaky):
        assert delivery_send(delivery_id=page.id) == "retrying"
    (alert,) = SafetyAlert.objects.all()
    resp = personas.client("clinician_x").post(f"/api/v1/alerts/{alert.id}/acknowledge/")
    assert resp.status_code == 200
    # The acknowledgement itself takes the waiting page out of the outbox...
    page.refresh_from_db()
    assert (page.status, page.error_code) == (DeliveryStatus.SKIPPED, "alert_closed")
    # ...so the retry finds nothing to send.
    with mock.patch("notifications.channels.console.ConsoleChannel.send") as send:
        assert delivery_send(delivery_id=page.id) == "not_claimed"
    send.assert_not_called()


def test_a_page_is_not_sent_if_its_alert_closed_after_it_was_queued(personas, console):
    """The sender checks again before each send: an alert closed by any path (here a
    direct update, as a race with the acknowledgement would leave it) stops the page."""
    from notifications.models import DeliveryStatus
    from notifications.services.delivery import delivery_send

    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
    )
    (page,) = notices()
    SafetyAlert.objects.update(status=AlertStatus.ACKNOWLEDGED)
    with mock.patch("notifications.channels.console.ConsoleChannel.send") as send:
        assert delivery_send(delivery_id=page.id) == "skipped"
    send.assert_not_called()
    page.refresh_from_db()
    assert (page.status, page.error_code) == (DeliveryStatus.SKIPPED, "alert_acknowledged")


def test_a_page_is_sent_while_the_alert_is_open(personas, console):
    from notifications.services.delivery import delivery_send

    personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 1)]), format="json"
    )
    (page,) = notices()
    with mock.patch(
        "notifications.channels.console.ConsoleChannel.send", return_value="m1"
    ) as send:
        assert delivery_send(delivery_id=page.id) == "delivered"
    send.assert_called_once()
