"""The one edge between the domain apps: what outcomes announces, notifications does, in
the same transaction; an urgent page points at its alert by a foreign key."""

import pytest

from notifications.models import ContactPoint, Delivery, DeliveryKind, DeliveryStatus, Device
from outcomes.models import SafetyAlert
from outcomes.services.privacy import patient_erase
from outcomes.services.safety import alert_acknowledge, alert_resolve
from tests.factories import ContactPointFactory, DeviceFactory, checkin_payload, phq9

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/check-ins/"


@pytest.fixture
def console(settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]


def _raise_alert(personas):
    resp = personas.client("patient_a").post(
        URL, checkin_payload(responses=[phq9(0, 0, 0, 0, 0, 0, 0, 0, 3)]), format="json"
    )
    assert resp.status_code == 201
    return SafetyAlert.objects.get()


def test_an_urgent_page_names_its_alert(personas, console):
    alert = _raise_alert(personas)
    (page,) = Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM, urgent=True)
    assert page.alert_id == alert.id


@pytest.mark.parametrize("close", [alert_acknowledge, alert_resolve])
def test_closing_the_alert_skips_its_pages_still_waiting(personas, console, close):
    alert = _raise_alert(personas)
    page = Delivery.objects.get(urgent=True)
    assert page.status == DeliveryStatus.QUEUED
    # Resolving needs a note (the alert's documented follow-up).
    close(alert=alert, user=personas.clinician_x, note="Called the patient.")
    page.refresh_from_db()
    assert page.status == DeliveryStatus.SKIPPED
    assert page.error_code == "alert_closed"


def test_a_page_already_handed_over_is_left_alone(personas, console):
    alert = _raise_alert(personas)
    Delivery.objects.filter(urgent=True).update(status=DeliveryStatus.DELIVERED)
    alert_acknowledge(alert=alert, user=personas.clinician_x)
    assert Delivery.objects.get(urgent=True).status == DeliveryStatus.DELIVERED


def test_erasing_a_patient_removes_devices_and_contact_points_in_notifications(personas):
    DeviceFactory(patient=personas.patient_a)
    ContactPointFactory(patient=personas.patient_a)
    patient_erase(patient=personas.patient_a)
    assert not Device.objects.filter(patient=personas.patient_a).exists()
    assert not ContactPoint.objects.filter(patient=personas.patient_a).exists()
