"""Stored infusion outcomes and course outcomes on SQLite: their readers take the scores'
and infusions' datetimes as they are (outcomes/dbtime.py), where PostgreSQL reads epoch
seconds. The expected values are those the PostgreSQL tests assert
(tests/integration/test_portable_paths.py, test_outcome_records.py, test_course_outcomes.py).
"""

from datetime import timedelta

import pytest
import time_machine

from outcomes.analytics.durability import InfusionEvent, Point, infusion_outcomes
from outcomes.models import InfusionOutcomeRecord, InstrumentResponse, OutcomeState
from outcomes.selectors.courses import patient_course_outcomes
from outcomes.selectors.instruments import instrument_infos
from outcomes.services.outcome_records import outcome_records_refresh, stale_patient_ids
from tests.helpers import T0, answer, give_infusion

pytestmark = pytest.mark.django_db


def test_stored_outcomes_have_the_expected_statuses(patient_a, patient_b):
    """Baseline 20, an infusion, 12 on day 1 (arriving late) and 9 on day 3: responding
    (half the baseline by day 3), not remitted, censored at the last check-in."""
    with time_machine.travel(T0 + timedelta(days=30), tick=False):
        answer(patient_a, T0 - timedelta(days=2), 20)
        infusion = give_infusion(patient_a, T0)
        answer(patient_a, T0 + timedelta(days=3), 9)
        answer(patient_a, T0 + timedelta(days=1), 12)
        answer(patient_b, T0, 15)  # no infusion: no outcome
        written = outcome_records_refresh(patient_ids=[patient_a.id, patient_b.id])

    assert written == 1
    rows = list(
        InfusionOutcomeRecord.objects.values_list(
            "patient_id", "infusion_id", "instrument_code", "number", "status", "has_baseline",
            "assessments", "responded", "partial_response", "remitted", "durability_days",
            "censored",
        )
    )  # fmt: skip
    days_to_last_check_in = 3 - 40 / (24 * 60)  # from the infusion's end (40 minutes)
    assert rows == [
        (
            patient_a.id, infusion.id, "PHQ-9", 1, "responding", True,
            2, True, True, False, pytest.approx(days_to_last_check_in),
            True,
        )
    ]  # fmt: skip

    # The same as the durability engine's answer over the raw scores.
    info = instrument_infos(clinic_id=patient_a.clinic_id, codes=["PHQ-9"])["PHQ-9"]
    points = [
        Point(at=r.answered_at, score=r.total)
        for r in InstrumentResponse.objects.filter(patient=patient_a).order_by("answered_at")
    ]
    event = InfusionEvent(id=str(infusion.id), started_at=T0, ended_at=infusion.ended_at)
    (o,) = infusion_outcomes(points, [event], info.thresholds)
    assert rows == [
        (
            patient_a.id, infusion.id, "PHQ-9", 1, o.status, o.baseline is not None,
            o.assessments, o.responded, o.partial_response, o.remitted, o.durability_days,
            o.censored,
        )
    ]  # fmt: skip

    state = OutcomeState.objects.get(patient=patient_a)
    assert state.computed_version == state.version == 4
    assert stale_patient_ids(clinic_ids=[patient_a.clinic_id]) == []


# tests/integration/test_course_outcomes.py's induction: 6 infusions over 12 days, PHQ-9 20
# before, falling to 4; relapse 17 days after the last.
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)
PRE_SCORES = (20, 8, 7, 6, 6, 5)


def test_an_induction_course_that_took_phq9_from_20_to_4_is_one_response_and_one_remission(
    patient_a,
):
    answer(patient_a, T0 - timedelta(days=2), 20)
    for day, pre in zip(INDUCTION_DAYS, PRE_SCORES, strict=True):
        at = T0 + timedelta(days=day)
        if day:
            answer(patient_a, at - timedelta(hours=2), pre)
        give_infusion(patient_a, at)
    last_end = T0 + timedelta(days=INDUCTION_DAYS[-1], minutes=40)
    for d in range(3, 17, 3):
        answer(patient_a, last_end + timedelta(days=d), 4)
    answer(patient_a, last_end + timedelta(days=18), 17)
    answer(patient_a, last_end + timedelta(days=20), 18)

    courses, by_code = patient_course_outcomes(patient=patient_a, codes=["PHQ-9"])
    (course,) = by_code["PHQ-9"].outcomes
    assert len(courses) == 1 and courses[0].event.kind == "induction"
    assert not courses[0].recorded
    assert course.baseline == 20
    assert course.evaluable and course.responded and course.remitted
    assert course.status == "lost"
    assert course.loss_between == (last_end + timedelta(days=15), last_end + timedelta(days=18))
    assert course.durability_from_days == pytest.approx(15)
    assert course.durability_to_days == pytest.approx(18)
    assert len(course.infusions) == 6
    assert {a.label for a in course.infusions} == {"acute"}
