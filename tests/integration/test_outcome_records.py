"""Stored infusion outcomes: the cohort read from them equals the durability engine's
answer over the raw scores, and every change to the inputs makes them stale."""

import random
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from outcomes.analytics.durability import InfusionEvent, Point, infusion_outcomes
from outcomes.analytics.survival import kaplan_meier, response_rates
from outcomes.models import (
    InfusionOutcomeRecord,
    InfusionStatus,
    InstrumentResponse,
    OutcomeState,
)
from outcomes.selectors.analytics import clinic_cohort, instrument_infos
from outcomes.services import outcome_records
from outcomes.services.infusions import infusion_cancel
from outcomes.services.outcome_records import (
    outcome_records_refresh,
    outcome_records_refresh_stale,
    stale_patient_ids,
)
from outcomes.services.patients import patient_update
from outcomes.tasks import outcomes_refresh
from tests.factories import ClinicOutcomeSettingsFactory, PatientFactory
from tests.helpers import T0, answer, give_infusion

pytestmark = pytest.mark.django_db


def live_cohort(clinic, code="PHQ-9"):
    """What the cohort must say, derived from the raw scores by the engine alone."""
    info = instrument_infos(clinic_id=clinic.id, codes=[code])[code]
    outs = []
    for patient in clinic.patients.all():
        points = [
            Point(at=r.answered_at, score=r.total)
            for r in InstrumentResponse.objects.filter(
                patient=patient, instrument_code=code, total__isnull=False
            ).order_by("answered_at")
        ]
        events = [
            InfusionEvent(id=str(i.id), started_at=i.started_at, ended_at=i.ended_at)
            for i in patient.infusions.filter(status=InfusionStatus.COMPLETED).order_by(
                "started_at"
            )
        ]
        outs += infusion_outcomes(
            points, events, info.thresholds, withdrawn_at=patient.withdrawn_at
        )
    durable = [o for o in outs if o.responded and o.durability_days is not None]
    km = kaplan_meier([o.durability_days for o in durable], [not o.censored for o in durable])
    return km, response_rates(outs), len(outs)


def assert_matches_live(clinic):
    cohort = clinic_cohort(clinic_ids=[clinic.id], instrument_code="PHQ-9")
    km, rates, n = live_cohort(clinic)
    (group,) = cohort.groups
    assert group.km == km
    assert group.rates == rates
    assert cohort.infusions == n
    return cohort


@pytest.fixture
def network(personas):
    """Twelve patients of clinic X with random courses: 1-3 infusions, scores that respond,
    fade and come back, answered at random times."""
    rng = random.Random(7)
    patients = []
    with time_machine.travel(T0 + timedelta(days=200), tick=False):
        for _ in range(12):
            p = PatientFactory(clinic=personas.clinic_x)
            answer(p, T0 - timedelta(days=rng.randint(1, 10)), rng.randint(12, 24))
            for k in range(rng.randint(1, 3)):
                give_infusion(p, T0 + timedelta(days=30 * k))
            for _ in range(rng.randint(2, 14)):
                at = T0 + timedelta(hours=rng.randint(2, 24 * 85))
                answer(p, at, rng.randint(0, 24))
            patients.append(p)
    personas.network = patients
    return personas


def test_the_stored_cohort_equals_the_engine_over_raw_scores(network):
    cohort = assert_matches_live(network.clinic_x)
    assert cohort.patients == 12
    assert not stale_patient_ids(clinic_ids=[network.clinic_x.id])
    assert InfusionOutcomeRecord.objects.filter(instrument_code="PHQ-9").count() == cohort.infusions


def test_every_change_to_the_inputs_reaches_the_cohort(network):
    clinic = network.clinic_x
    assert_matches_live(clinic)  # computed and stored
    first, second, third = network.network[:3]
    with time_machine.travel(T0 + timedelta(days=201), tick=False):
        answer(first, T0 + timedelta(days=3), 0)  # a late check-in
        give_infusion(second, T0 + timedelta(days=100))  # a new infusion
        patient_update(patient=third, status="withdrawn")  # outcomes stop at withdrawal
    assert set(stale_patient_ids(clinic_ids=[clinic.id])) == {first.id, second.id, third.id}
    assert_matches_live(clinic)
    assert not stale_patient_ids(clinic_ids=[clinic.id])

    infusion = second.infusions.order_by("-started_at").first()
    infusion.status = InfusionStatus.SCHEDULED  # cancel only applies before it happens
    infusion.save(update_fields=["status"])
    infusion_cancel(infusion=infusion)
    assert stale_patient_ids(clinic_ids=[clinic.id]) == [second.id]
    assert_matches_live(clinic)


def test_changed_clinic_thresholds_recompute_the_stored_rows(network):
    clinic = network.clinic_x
    before = assert_matches_live(clinic)
    ClinicOutcomeSettingsFactory(
        clinic=clinic, instrument_code="PHQ-9", response_pct=30, loss_consecutive=1
    )
    after = assert_matches_live(clinic)  # nothing was marked stale: the digest tells
    assert after.groups[0].rates != before.groups[0].rates


def test_a_change_during_a_refresh_leaves_the_patient_stale(network):
    patient = network.network[0]
    real = outcome_records.infusion_outcomes

    def change_meanwhile(*args, **kwargs):
        outcome_records.outcomes_mark_changed(patient_ids=[patient.id])
        return real(*args, **kwargs)

    with mock.patch.object(outcome_records, "infusion_outcomes", side_effect=change_meanwhile):
        outcome_records_refresh(patient_ids=[patient.id])
    state = OutcomeState.objects.get(patient=patient)
    assert state.computed_version < state.version
    assert patient.id in stale_patient_ids(clinic_ids=[network.clinic_x.id])


def test_the_beat_refreshes_stale_patients(network):
    assert len(stale_patient_ids()) >= 12
    assert outcomes_refresh.apply().get() > 0
    assert stale_patient_ids() == []
    assert outcome_records_refresh_stale() == 0


def test_a_fresh_cohort_read_takes_a_constant_number_of_queries(network):
    clinic = network.clinic_x
    clinic_cohort(clinic_ids=[clinic.id], instrument_code="PHQ-9")  # refresh everything
    with CaptureQueriesContext(connection) as small:
        clinic_cohort(clinic_ids=[clinic.id], instrument_code="PHQ-9")
    with time_machine.travel(T0 + timedelta(days=201), tick=False):
        for _ in range(5):
            p = PatientFactory(clinic=clinic)
            answer(p, T0 - timedelta(days=1), 20)
            give_infusion(p, T0)
            answer(p, T0 + timedelta(days=2), 5)
    outcome_records_refresh_stale()
    with CaptureQueriesContext(connection) as large:
        cohort = clinic_cohort(clinic_ids=[clinic.id], instrument_code="PHQ-9")
    assert cohort.patients == 17
    assert len(large.captured_queries) == len(small.captured_queries)


def test_erasure_keeps_the_stored_aggregates(network):
    from outcomes.services.privacy import patient_erase

    clinic = network.clinic_x
    before = assert_matches_live(clinic)
    patient_erase(patient=network.network[0])
    after = assert_matches_live(clinic)
    assert after.infusions == before.infusions
    assert after.groups[0].rates["evaluable"] == before.groups[0].rates["evaluable"]


def test_a_patient_without_infusions_stores_nothing_and_is_not_stale_again(personas):
    p = PatientFactory(clinic=personas.clinic_x)
    answer(p, datetime.now(UTC) - timedelta(days=1), 10)
    assert outcome_records_refresh(patient_ids=[p.id]) == 0
    assert p.id not in stale_patient_ids()


def test_the_refresh_command_leaves_nothing_stale(network):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("outcomes_refresh", stdout=out)
    assert stale_patient_ids() == []
    stored = InfusionOutcomeRecord.objects.count()
    assert stored > 0
    assert f"outcomes current: {stored} rows stored" in out.getvalue()
