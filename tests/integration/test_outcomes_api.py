"""Outcomes over HTTP: trajectory, outcomes per treatment course, clinic durability, charts,
booster window and exports, on real check-ins and infusions."""

import csv
import io
import json
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B.bundle import Bundle

from tests.factories import ClinicOutcomeSettingsFactory, PatientFactory
from tests.helpers import T0, answer, give_infusion

pytestmark = pytest.mark.django_db
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def course(personas):
    """Patient A: baseline PHQ-9 20, an infusion, response from day 2, lost at day 21."""
    p = personas.patient_a
    with time_machine.travel(T0 + timedelta(days=60), tick=False):
        answer(p, T0 - timedelta(days=1), 20)
        infusion = give_infusion(p, T0)
        for day, total in [(1, 12), (2, 8), (7, 6), (14, 9), (21, 14), (28, 16)]:
            answer(p, T0 + timedelta(days=day, hours=2), total)
    personas.infusion = infusion
    return personas


def test_trajectory_gives_series_bands_thresholds_and_outcomes(course):
    resp = course.client("clinician_x").get(f"/api/v1/patients/{course.patient_a.id}/trajectory/")
    assert resp.status_code == 200
    body = resp.json()
    (phq9,) = [i for i in body["instruments"] if i["code"] == "PHQ-9"]
    assert [p["score"] for p in phq9["points"]] == [20, 12, 8, 6, 9, 14, 16]
    assert phq9["bands"][0] == {"min": 0.0, "max": 4.0, "label": "minimal"}
    assert phq9["thresholds"]["response_pct"] == 50
    assert phq9["thresholds"]["remission_below"] == 5
    (o,) = phq9["outcomes"]
    assert o["baseline"] == 20
    assert o["responded"] is True
    assert o["onset_hours"] == pytest.approx((24 + 2) - 40 / 60)  # the first >= MID drop
    assert o["lost_response_at"].startswith((T0 + timedelta(days=21)).date().isoformat())
    assert o["durability_days"] == pytest.approx(21 + 2 / 24 - 40 / 60 / 24)
    assert o["censored"] is False
    assert body["infusions"][0]["id"] == str(course.infusion.id)
    # The same data per treatment course: lost between day 14 (55%) and day 21 (30%).
    (c,) = phq9["courses"]
    assert (c["kind"], c["baseline"], c["status"]) == ("induction", 20, "lost")
    assert c["loss_between"][0].startswith((T0 + timedelta(days=14)).date().isoformat())
    assert c["loss_between"][1].startswith((T0 + timedelta(days=21)).date().isoformat())


def test_clinic_thresholds_override_the_defaults(course):
    ClinicOutcomeSettingsFactory(
        clinic=course.clinic_x, instrument_code="PHQ-9", loss_consecutive=3
    )
    body = (
        course.client("clinician_x")
        .get(f"/api/v1/patients/{course.patient_a.id}/outcomes/", {"instrument": "PHQ-9"})
        .json()
    )
    # Only two non-responding assessments follow: with 3 required, the response is not lost,
    # and it is censored at the last assessment that still met response (day 14), not at
    # the later non-responding ones.
    (c,) = body["courses"]
    assert (c["status"], c["loss_between"], c["censored"]) == ("responding", None, True)
    assert c["censor_reason"] == "data_end"
    assert c["censored_at"].startswith((T0 + timedelta(days=14)).date().isoformat())
    assert c["durability_days"] == pytest.approx(14 + 2 / 24 - 40 / 60 / 24)


def test_patient_reads_own_trajectory(course):
    body = course.client("patient_a").get("/api/v1/me/trajectory/", {"instrument": "PHQ-9"}).json()
    assert body["patient"] == str(course.patient_a.id)
    assert len(body["instruments"][0]["points"]) == 7
    assert course.client("patient_b").get("/api/v1/me/trajectory/").json()["instruments"] == []


def test_trajectory_query_count_is_constant_in_history_length(personas):
    p = personas.patient_a
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        give_infusion(p, T0)
        answer(p, T0 - timedelta(days=1), 18)
        client = personas.client("clinician_x")
        url = f"/api/v1/patients/{p.id}/trajectory/"
        with CaptureQueriesContext(connection) as few:
            client.get(url)
        for day in range(1, 120):
            answer(p, T0 + timedelta(days=day, hours=3), 10 + day % 7)
        for n in range(1, 4):
            give_infusion(p, T0 + timedelta(days=30 * n))
        with CaptureQueriesContext(connection) as many:
            resp = client.get(url)
    assert len(resp.json()["instruments"][0]["points"]) == 120
    assert len(many.captured_queries) == len(few.captured_queries)


def test_clinic_durability_curve(course, settings):
    # Assessed about weekly on a 2-week-recall score: a curve is drawn once the clinic
    # accepts that resolution and that lag.
    settings.AFTERGLOW_DURABILITY_MAX_GAP_DAYS = 8
    settings.AFTERGLOW_DURABILITY_MAX_RECALL_DAYS = 14
    with time_machine.travel(T0 + timedelta(days=60), tick=False):
        for n in range(6):
            p = PatientFactory(clinic=course.clinic_x, conditions=["ptsd"])
            answer(p, T0 - timedelta(days=1), 18)
            give_infusion(p, T0)
            for day, total in [(2, 6), (7, 7), (10 + 3 * n, 15), (11 + 3 * n, 16)]:
                answer(p, T0 + timedelta(days=day, hours=1), total)
    url = f"/api/v1/clinics/{course.clinic_x.id}/durability/"
    body = course.client("clinician_x").get(url, {"instrument": "PHQ-9"}).json()
    assert (body["unit"], body["estimator"]) == ("course", "turnbull_npmle")
    assert body["signal"]["instrument"] == "PHQ-9"
    assert body["signal"]["recall_days"] == 14
    assert body["signal"]["can_date_loss"] is True
    (group,) = body["groups"]
    assert group["responders"] == 7
    assert group["events"] == 7
    assert group["curve"][0]["day"] == 0.0 and group["curve"][0]["survival"] == 1.0
    assert group["curve"][0]["at_risk"] == 7
    assert group["curve"][-1]["survival"] == pytest.approx(0.0)
    # Losses lie between day 7 and days 10-25: the interval estimate sits inside them
    # (dating each at the later check-in, as the old Kaplan-Meier did, would be later).
    assert 7 <= group["median_days"] <= 21
    assert group["median_ci_low_days"] <= group["median_days"] <= group["median_ci_high_days"]
    assert group["bootstrap_samples"] == 200
    assert group["rates"]["response_rate"] == 1.0
    assert group["rates"]["courses"] == 7
    by_condition = (
        course.client("clinician_x")
        .get(url, {"instrument": "PHQ-9", "group_by": "condition"})
        .json()
    )
    assert {g["name"] for g in by_condition["groups"]} == {"ptsd", "trd"}
    by_kind = course.client("clinician_x").get(url, {"group_by": "course_kind"}).json()
    assert [g["name"] for g in by_kind["groups"]] == ["induction"]
    bad = course.client("clinician_x").get(url, {"instrument": "NOPE"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["attr"] == "instrument"
    assert course.client("clinician_y").get(url).status_code == 404


def test_a_two_week_recall_score_gets_rates_but_no_curve_by_default(course):
    url = f"/api/v1/clinics/{course.clinic_x.id}/durability/"
    body = course.client("clinician_x").get(url, {"instrument": "PHQ-9"}).json()
    assert body["signal"]["can_date_loss"] is False
    assert "past 14 days" in body["signal"]["reason"]
    # Its rates are shown, with what they may miss beside them.
    assert "under-count responders" in body["signal"]["rates_caveat"]
    (group,) = body["groups"]
    assert group["curve"] == [] and group["rates"]["responders"] == 1
    mood = course.client("clinician_x").get(url, {"instrument": "MOOD"}).json()
    assert mood["signal"]["rates_caveat"] == ""


def test_clinic_durability_says_so_when_the_signal_cannot_date_a_loss(course, settings):
    settings.AFTERGLOW_DURABILITY_MAX_RECALL_DAYS = 14  # the cadence, not the recall, here
    # Patient A was assessed weekly after responding; this one as the old default plan
    # asked PHQ-9: every 14 days. The median gap is over the 7-day default.
    with time_machine.travel(T0 + timedelta(days=60), tick=False):
        for _ in range(3):
            p = PatientFactory(clinic=course.clinic_x)
            answer(p, T0 - timedelta(days=1), 20)
            give_infusion(p, T0)
            answer(p, T0 + timedelta(days=14), 5)
            answer(p, T0 + timedelta(days=28), 6)
            answer(p, T0 + timedelta(days=42), 7)
    url = f"/api/v1/clinics/{course.clinic_x.id}/durability/"
    body = course.client("clinician_x").get(url, {"instrument": "PHQ-9"}).json()
    signal = body["signal"]
    assert signal["median_days_between_assessments"] > 7
    assert signal["can_date_loss"] is False
    assert "cannot be dated" in signal["reason"]
    (group,) = body["groups"]
    assert group["curve"] == [] and group["median_days"] is None
    assert group["rates"]["responders"] == 4  # the rates stand; only the curve is withheld


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_charts_render_as_images(course, fmt):
    client = course.client("clinician_x")
    traj = client.get(
        f"/api/v1/patients/{course.patient_a.id}/charts/trajectory/",
        {"instrument": "PHQ-9", "format": fmt},
    )
    km = client.get(
        f"/api/v1/clinics/{course.clinic_x.id}/charts/durability/",
        {"instrument": "PHQ-9", "format": fmt},
    )
    for resp in (traj, km):
        assert resp.status_code == 200
        assert resp["Content-Type"] == ("image/png" if fmt == "png" else "image/svg+xml")
        body = resp.content
        assert len(body) > 10_000
        if fmt == "png":
            assert body.startswith(PNG_MAGIC)
        else:
            text = body.decode()
            assert "<svg" in text
            assert "Days since" in text


def test_booster_after_the_benefit_is_lost_is_a_rescue_now(course):
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        body = (
            course.client("clinician_x")
            .get(f"/api/v1/patients/{course.patient_a.id}/booster/")
            .json()
        )
    assert body["advice"] == "rescue_now"
    assert body["basis"] is None
    assert body["benefit_fading"] is True
    assert body["window_start"].startswith((T0 + timedelta(days=30)).date().isoformat())


def test_booster_for_a_responder_uses_published_figures_without_clinic_data(personas):
    p = personas.patient_a
    with time_machine.travel(T0 + timedelta(days=5), tick=False):
        answer(p, T0 - timedelta(days=1), 20)
        give_infusion(p, T0)
        answer(p, T0 + timedelta(days=2), 6)
        body = personas.client("clinician_x").get(f"/api/v1/patients/{p.id}/booster/").json()
    assert body["advice"] == "book_window"
    # One infusion: a single infusion's benefit fades within about a week (Phillips 2019).
    assert (body["basis"], body["reference_context"]) == ("published", "single_infusion")
    assert body["median_days"] == pytest.approx(7.0)
    assert body["window_percentile"] == 25


def test_booster_uses_the_clinics_own_courses_when_it_has_enough(personas, settings):
    settings.AFTERGLOW_DURABILITY_MAX_GAP_DAYS = 8
    settings.AFTERGLOW_DURABILITY_MAX_RECALL_DAYS = 14
    with time_machine.travel(T0 + timedelta(days=90), tick=False):
        for n in range(12):  # 12 single-infusion courses lost around day 30
            p = PatientFactory(clinic=personas.clinic_x)
            answer(p, T0 - timedelta(days=1), 20)
            give_infusion(p, T0)
            for day in (2, 8, 14, 20, 26):
                answer(p, T0 + timedelta(days=day), 6)
            answer(p, T0 + timedelta(days=28 + n % 3), 17)
            answer(p, T0 + timedelta(days=30 + n % 3), 18)
        p = personas.patient_a
        answer(p, T0 + timedelta(days=59), 20)
        give_infusion(p, T0 + timedelta(days=60))
        answer(p, T0 + timedelta(days=62), 6)
        body = personas.client("clinician_x").get(f"/api/v1/patients/{p.id}/booster/").json()
    assert body["basis"] == "clinic"
    assert 25 <= body["reference_median_days"] <= 33


def test_a_patient_responding_again_after_a_loss_is_not_told_to_book_a_rescue(course):
    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        answer(course.patient_a, T0 + timedelta(days=35), 6)  # 70% better than baseline
        body = (
            course.client("clinician_x")
            .get(f"/api/v1/patients/{course.patient_a.id}/booster/")
            .json()
        )
    assert body["advice"] == "responding_again"
    assert body["window_start"] is None


def test_csv_and_fhir_exports(course):
    client = course.client("clinician_x")
    resp = client.get(f"/api/v1/patients/{course.patient_a.id}/exports/csv/")
    assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(resp.streaming_content).decode())))
    assert rows[0][:3] == ["patient_id", "clinic_reference", "check_in_id"]
    assert len(rows) == 1 + 7
    assert json.loads(rows[1][-1])["item1"] == 3
    fhir = client.get(f"/api/v1/patients/{course.patient_a.id}/exports/fhir/")
    assert fhir["Content-Type"] == "application/fhir+json"
    bundle = Bundle.model_validate_json(fhir.content)
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds.count("Observation") == 7
    assert kinds.count("QuestionnaireResponse") == 7
    cohort = client.get(f"/api/v1/clinics/{course.clinic_x.id}/exports/csv/")
    assert len(b"".join(cohort.streaming_content).decode().strip().splitlines()) == 1 + 7
