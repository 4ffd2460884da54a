"""Outcomes per treatment course through the real services: the induction scenario that the
per-infusion engine called "no response" six times, inferred courses and rescues, and the
clinic's interval-censored curve that says when its signal cannot date a loss."""

from datetime import timedelta

import pytest

from outcomes.selectors.courses import (
    clinic_course_durability,
    group_courses,
    patient_course_outcomes,
)
from tests.factories import PatientFactory, TreatmentCourseFactory
from tests.helpers import T0, answer, answer_mood, give_infusion

pytestmark = pytest.mark.django_db

# 6 infusions over 12 days; PHQ-9 20 before, falling to 4; relapse 17 days after the last.
INDUCTION_DAYS = (0, 2, 4, 7, 9, 11)
PRE_SCORES = (20, 8, 7, 6, 6, 5)


def _induction(patient, *, start=T0, relapse_day=17, relapse=True):
    answer(patient, start - timedelta(days=2), 20)  # the course baseline (intake)
    for day, pre in zip(INDUCTION_DAYS, PRE_SCORES, strict=True):
        at = start + timedelta(days=day)
        if day:
            answer(patient, at - timedelta(hours=2), pre)  # the infusion's own pre-score
        give_infusion(patient, at)
    last_end = start + timedelta(days=INDUCTION_DAYS[-1], minutes=40)
    # Responding every 3 days after the last infusion, then two non-responses in a row.
    for d in range(3, relapse_day, 3):
        answer(patient, last_end + timedelta(days=d), 4)
    if relapse:
        answer(patient, last_end + timedelta(days=relapse_day + 1), 17)
        answer(patient, last_end + timedelta(days=relapse_day + 3), 18)
    return last_end


def test_an_induction_course_that_took_phq9_from_20_to_4_is_one_response_and_one_remission():
    patient = PatientFactory()
    last_end = _induction(patient)
    courses, by_code = patient_course_outcomes(patient=patient, codes=["PHQ-9"])
    (course,) = by_code["PHQ-9"].outcomes
    assert len(courses) == 1 and courses[0].event.kind == "induction"
    assert not courses[0].recorded  # inferred from the infusions' spacing
    assert course.baseline == 20
    assert course.evaluable and course.responded and course.remitted
    assert course.status == "lost"
    # Lost between the last responding check-in (day 15) and the first of the run (day 18).
    start, end = course.loss_between
    assert start == last_end + timedelta(days=15)
    assert end == last_end + timedelta(days=18)
    assert course.durability_from_days == pytest.approx(15)
    assert course.durability_to_days == pytest.approx(18)
    # Each infusion keeps its acute effect, labelled, and claims no response of its own.
    assert len(course.infusions) == 6
    assert {a.label for a in course.infusions} == {"acute"}


def test_a_never_depressed_patient_is_not_evaluable_never_remitted():
    patient = PatientFactory()
    answer(patient, T0 - timedelta(days=1), 4)
    give_infusion(patient, T0)
    answer(patient, T0 + timedelta(days=2), 4)
    _, by_code = patient_course_outcomes(patient=patient, codes=["PHQ-9"])
    (course,) = by_code["PHQ-9"].outcomes
    assert course.status == "not_evaluable"
    assert not course.evaluable and not course.remitted


def test_a_booster_given_while_benefit_faded_is_inferred_as_a_rescue_and_ends_the_course():
    patient = PatientFactory()
    last_end = _induction(patient, relapse_day=40, relapse=False)  # responding to day 39
    # Two fading check-ins (worse than the best by the PHQ-9 MID of 5, still responding).
    answer(patient, last_end + timedelta(days=41), 9)
    answer(patient, last_end + timedelta(days=43), 9)
    give_infusion(patient, last_end + timedelta(days=45))
    courses, by_code = patient_course_outcomes(patient=patient, codes=["PHQ-9"])
    assert [c.event.kind for c in courses] == ["induction", "rescue"]
    first = by_code["PHQ-9"].outcomes[0]
    assert first.status == "lost" and first.loss_reason == "rescue"


def test_a_recorded_course_is_taken_as_recorded():
    patient = PatientFactory()
    course = TreatmentCourseFactory(patient=patient, kind="maintenance")
    a = give_infusion(patient, T0)
    a.course = course
    a.save(update_fields=["course"])
    courses, _ = patient_course_outcomes(patient=patient)
    assert [(c.event.id, c.event.kind, c.recorded) for c in courses] == [
        (str(course.id), "maintenance", True)
    ]


def test_inferred_courses_split_at_gaps_longer_than_three_weeks():
    from outcomes.selectors.courses import InfusionRow

    rows = [
        InfusionRow(str(i), i + 1, None, None, T0 + timedelta(days=d), T0 + timedelta(days=d))
        for i, d in enumerate((0, 2, 4, 30, 70, 72, 74))
    ]
    kinds = [(c.event.kind, len(c.infusions)) for c in group_courses(rows, gap_days=21)]
    assert kinds == [("induction", 3), ("maintenance", 1), ("induction", 3)]


def test_the_clinic_curve_says_when_its_signal_cannot_date_a_loss(settings):
    settings.AFTERGLOW_DURABILITY_MAX_RECALL_DAYS = 14  # judge the cadence alone
    patient = PatientFactory()
    answer(patient, T0 - timedelta(days=1), 20)
    give_infusion(patient, T0)
    # PHQ-9 only at 14 and 28 days, as the old default plan asked it.
    answer(patient, T0 + timedelta(days=14), 4)
    answer(patient, T0 + timedelta(days=28), 5)
    result = clinic_course_durability(clinic=patient.clinic, code="PHQ-9", bootstrap=0)
    assert not result.signal.can_date_loss
    assert "14.0 days" in result.signal.reason
    (group,) = result.groups
    assert group.responders == 1 and group.curve is None


def test_the_clinic_curve_with_a_dense_signal_has_a_turnbull_estimate_and_intervals(settings):
    settings.AFTERGLOW_DURABILITY_MAX_RECALL_DAYS = 14  # PHQ-9 stands in for a dense signal
    for k in range(6):
        patient = PatientFactory()
        _induction(patient, start=T0 + timedelta(days=k), relapse_day=12 + 3 * k)
    clinic = patient.clinic
    for p in PatientFactory._meta.model.objects.exclude(clinic=clinic):
        p.clinic = clinic  # PatientFactory makes a clinic each: gather them in one
        p.save(update_fields=["clinic"])
    result = clinic_course_durability(clinic=clinic, code="PHQ-9", bootstrap=50)
    assert result.signal.can_date_loss
    (group,) = result.groups
    assert group.responders == 6 and group.losses == 6
    curve = group.curve
    assert curve is not None and curve.n == 6 and curve.events == 6
    assert curve.median is not None and 12 <= curve.median <= 30
    assert curve.ci_low is not None and curve.bootstrap_samples == 50


def test_an_unassigned_infusion_inside_a_recorded_course_belongs_to_it():
    patient = PatientFactory()
    recorded = TreatmentCourseFactory(patient=patient, kind="induction")
    infusions = [give_infusion(patient, T0 + timedelta(days=d)) for d in (0, 2, 4, 7)]
    for i in (infusions[0], infusions[1], infusions[3]):  # the third left unassigned
        i.course = recorded
        i.save(update_fields=["course"])
    courses, _ = patient_course_outcomes(patient=patient)
    assert [(c.event.id, len(c.infusions)) for c in courses] == [(str(recorded.id), 4)]


def test_interleaved_recorded_courses_are_judged_by_spacing_not_a_server_error():
    patient = PatientFactory()
    a = TreatmentCourseFactory(patient=patient, kind="induction")
    b = TreatmentCourseFactory(patient=patient, kind="maintenance")
    for d, c in ((0, a), (2, b), (4, a), (6, b)):
        i = give_infusion(patient, T0 + timedelta(days=d))
        i.course = c
        i.save(update_fields=["course"])
    answer(patient, T0 - timedelta(days=1), 20)
    answer(patient, T0 + timedelta(days=9), 6)
    courses, by_code = patient_course_outcomes(patient=patient, codes=["PHQ-9"])
    assert [(c.recorded, len(c.infusions)) for c in courses] == [(False, 4)]
    assert by_code["PHQ-9"].outcomes[0].responded


def test_a_rescue_a_fortnight_after_induction_does_not_hide_the_relapse_before_it():
    patient = PatientFactory()
    last_end = _induction(patient, relapse_day=7, relapse=False)  # 4 on days 3 and 6
    for day, total in ((8, 15), (10, 17), (12, 18)):
        answer(patient, last_end + timedelta(days=day), total)
    give_infusion(patient, last_end + timedelta(days=14))
    courses, by_code = patient_course_outcomes(patient=patient, codes=["PHQ-9"])
    assert [c.event.kind for c in courses] == ["induction", "rescue"]
    first = by_code["PHQ-9"].outcomes[0]
    assert first.status == "lost" and first.loss_reason == "non_response"
    assert first.durability_from_days == pytest.approx(6) and first.durability_to_days == 8


def test_one_good_reading_after_a_loss_is_not_yet_responding_again_on_a_momentary_item():
    patient = PatientFactory()
    give_infusion(patient, T0)
    answer_mood(patient, T0 - timedelta(days=1), 2)
    for day, mood in ((2, 8), (4, 8), (7, 3), (9, 3), (12, 8)):
        answer_mood(patient, T0 + timedelta(days=day), mood)
    _, by_code = patient_course_outcomes(patient=patient, codes=["MOOD"])
    (out,) = by_code["MOOD"].outcomes
    assert out.status == "lost" and not out.responding_again
    answer_mood(patient, T0 + timedelta(days=14), 8)
    _, by_code = patient_course_outcomes(patient=patient, codes=["MOOD"])
    assert by_code["MOOD"].outcomes[0].responding_again
