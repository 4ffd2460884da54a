"""When a patient's benefit fades, the care team is told once, through the outbox, with
no health data in the text."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications.channels import CARE_TEAM_BODY
from notifications.models import Delivery, DeliveryKind, DeliveryStatus
from notifications.services.delivery import delivery_send, message_for
from outcomes.services.benefit import benefit_review, benefit_reviews_due
from outcomes.services.checkins import ResponseInput, checkin_submit
from outcomes.services.infusions import infusion_schedule
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 9, 1, 14, 0, tzinfo=UTC)


def phq9(total: int) -> dict[str, int]:
    values = [min(3, max(0, total - 3 * i)) for i in range(8)] + [0]
    assert sum(values) == total
    return {f"item{i}": v for i, v in enumerate(values, start=1)}


def answer(patient, at, total):
    checkin_submit(
        patient=patient,
        check_in_id=uuid.uuid4(),
        answered_at=at,
        responses=[ResponseInput("PHQ-9", "1", phq9(total))],
        now=at,
    )


@pytest.fixture
def fading(personas, settings):
    """Patient A responded (20 -> 4) and has since been worse than that best by the MID on
    two assessments in a row (9, then 10), while still meeting response."""
    settings.AFTERGLOW_STAFF_CHANNELS = ["email", "console"]
    personas.clinician_x.email = "synthetic-clinician@example.org"
    personas.clinician_x.save(update_fields=["email"])
    p = personas.patient_a
    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        answer(p, T0 - timedelta(days=1), 20)
        infusion_schedule(
            patient=p, scheduled_at=T0, started_at=T0, ended_at=T0 + timedelta(minutes=40)
        )
        answer(p, T0 + timedelta(days=2), 4)
        # Both still 50% or more below baseline, both at least 5 points (the PHQ-9 MID)
        # worse than the best: fading (one such assessment would not be enough).
        answer(p, T0 + timedelta(days=12), 9)
        answer(p, T0 + timedelta(days=16), 10)
    return personas


def _treated(patient, after: list[tuple[timedelta, int]]) -> None:
    """PHQ-9 20 the day before one infusion at T0, then `after` (offset, total)."""
    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        answer(patient, T0 - timedelta(days=1), 20)
        infusion_schedule(
            patient=patient, scheduled_at=T0, started_at=T0, ended_at=T0 + timedelta(minutes=40)
        )
        for offset, total in after:
            answer(patient, T0 + offset, total)


def test_one_worse_assessment_is_not_yet_fading(personas):
    d = timedelta(days=1)
    _treated(personas.patient_a, [(2 * d, 4), (12 * d, 5), (16 * d, 10)])
    assert benefit_review(patient=personas.patient_a) == 0


def test_the_first_days_peak_is_not_the_best_fading_is_judged_against(personas):
    """A +4 h score of 0 is the acute peak: later scores of 6 are not "fading" from it."""
    d = timedelta(days=1)
    _treated(personas.patient_a, [(timedelta(hours=4), 0), (2 * d, 5), (9 * d, 6), (16 * d, 6)])
    assert benefit_review(patient=personas.patient_a) == 0


def test_fading_benefit_notifies_the_care_team_once(fading):
    assert benefit_review(patient=fading.patient_a) == 2  # e-mail and console
    assert benefit_review(patient=fading.patient_a) == 0  # once per infusion and instrument
    rows = Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM)
    assert {r.staff_user for r in rows} == {fading.clinician_x}
    assert {r.channel for r in rows} == {"email", "console"}


def test_the_notice_text_carries_no_health_data(fading, mailoutbox):
    benefit_review(patient=fading.patient_a)
    email = Delivery.objects.get(kind=DeliveryKind.CARE_TEAM, channel="email")
    assert delivery_send(delivery_id=email.id) == "delivered"
    (sent,) = mailoutbox
    assert sent.to == ["synthetic-clinician@example.org"]
    assert sent.body == CARE_TEAM_BODY
    for secret in ("PHQ", "20", "10", fading.patient_a.display_name, "depress"):
        assert secret not in sent.body and secret not in sent.subject
    assert message_for(email).data == {
        "type": "care_team_review",
        "patient_id": str(fading.patient_a.id),
    }
    email.refresh_from_db()
    assert email.status == DeliveryStatus.DELIVERED


def test_a_patient_still_doing_well_is_not_reported(personas):
    p = personas.patient_a
    with time_machine.travel(T0 + timedelta(days=20), tick=False):
        answer(p, T0 - timedelta(days=1), 20)
        infusion_schedule(
            patient=p, scheduled_at=T0, started_at=T0, ended_at=T0 + timedelta(minutes=40)
        )
        answer(p, T0 + timedelta(days=2), 6)
        answer(p, T0 + timedelta(days=9), 5)
    assert benefit_review(patient=p) == 0
    assert not Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM).exists()


def test_without_a_named_care_team_the_clinics_clinicians_hear(fading, settings):
    settings.AFTERGLOW_STAFF_CHANNELS = ["console"]
    fading.patient_a.care_team.clear()
    other = StaffFactory(clinic=fading.clinic_x, role="clinician")
    StaffFactory(clinic=fading.clinic_y, role="clinician")
    benefit_review(patient=fading.patient_a)
    assert {d.staff_user for d in Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM)} == {
        fading.clinician_x,
        other,
    }


def test_the_minute_tick_reviews_each_changed_patient_once(fading):
    """No task per check-in: the beat's tick reviews the patients whose data changed since
    their last review, and a second tick finds nothing to do."""
    from outcomes.models import OutcomeState

    assert benefit_reviews_due() == {"reviewed": 1, "queued": 2, "failed": 0}  # e-mail, console
    state = OutcomeState.objects.get(patient=fading.patient_a)
    assert state.reviewed_version == state.version
    assert benefit_reviews_due() == {"reviewed": 0, "queued": 0, "failed": 0}
    # A new check-in makes the patient due again; the notice is still sent only once.
    with time_machine.travel(T0 + timedelta(days=41), tick=False):
        answer(fading.patient_a, T0 + timedelta(days=18), 12)
    assert benefit_reviews_due() == {"reviewed": 1, "queued": 0, "failed": 0}
    assert Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM).count() == 2


def test_a_change_during_a_review_leaves_the_patient_due(fading, monkeypatch):
    from outcomes.models import OutcomeState
    from outcomes.services import benefit

    real = benefit.benefit_review

    def review_while_a_check_in_lands(*, patient):
        out = real(patient=patient)
        with time_machine.travel(T0 + timedelta(days=41), tick=False):
            answer(patient, T0 + timedelta(days=18), 12)
        return out

    monkeypatch.setattr(benefit, "benefit_review", review_while_a_check_in_lands)
    benefit_reviews_due()
    state = OutcomeState.objects.get(patient=fading.patient_a)
    assert state.reviewed_version == state.version - 1
    monkeypatch.setattr(benefit, "benefit_review", real)
    assert benefit_reviews_due()["reviewed"] == 1


def test_a_withdrawn_patient_is_marked_reviewed_without_a_notice(fading):
    from outcomes.services.patients import patient_update

    patient_update(patient=fading.patient_a, status="withdrawn")
    assert benefit_reviews_due() == {"reviewed": 1, "queued": 0, "failed": 0}
    assert not Delivery.objects.filter(kind=DeliveryKind.CARE_TEAM).exists()


def test_one_failing_review_does_not_stop_the_others(fading, monkeypatch):
    """Patients are taken in id order: a patient whose review keeps failing must not
    block everyone after it. It stays due; the others are reviewed."""
    from outcomes.models import OutcomeState
    from outcomes.services import benefit

    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        answer(fading.patient_b, T0 + timedelta(days=16), 11)
    broken = min(fading.patient_a.id, fading.patient_b.id)
    real = benefit.benefit_review

    def review(*, patient):
        if patient.id == broken:
            raise RuntimeError("synthetic failure")
        return real(patient=patient)

    monkeypatch.setattr(benefit, "benefit_review", review)
    result = benefit_reviews_due()
    assert (result["reviewed"], result["failed"]) == (1, 1)
    states = {s.patient_id: s for s in OutcomeState.objects.all()}
    assert states[broken].reviewed_version is None
    other = max(fading.patient_a.id, fading.patient_b.id)
    assert states[other].reviewed_version == states[other].version
    monkeypatch.setattr(benefit, "benefit_review", real)
    assert benefit_reviews_due()["reviewed"] == 1  # the next tick tries it again


def test_a_tick_does_not_run_beside_another(fading):
    from django.core.cache import cache

    from outcomes.services.benefit import _TICK_LOCK

    cache.add(_TICK_LOCK, "1", timeout=60)
    try:
        assert benefit_reviews_due() == {"reviewed": 0, "queued": 0, "failed": 0}
    finally:
        cache.delete(_TICK_LOCK)
    assert benefit_reviews_due()["reviewed"] == 1


def test_a_check_in_enqueues_nothing(patient_client, django_capture_on_commit_callbacks):
    """The review no longer rides the broker: a check-in publishes no task, so a broker
    outage can lose no review."""
    with django_capture_on_commit_callbacks() as callbacks:
        resp = patient_client.post(
            "/api/v1/me/check-ins/",
            {
                "id": str(uuid.uuid4()),
                "answered_at": datetime.now(UTC).isoformat(),
                "responses": [{"instrument": "MOOD", "version": "1", "answers": {"item1": 5}}],
            },
            format="json",
        )
    assert resp.status_code == 201
    assert callbacks == []


def test_the_review_tick_is_in_the_beat_schedule():
    from config.periodic import PERIODIC_TASKS
    from outcomes.tasks import benefit_reviews

    assert PERIODIC_TASKS["review fading benefit"] == (benefit_reviews.name, ("interval", 60))
