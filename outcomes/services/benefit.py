"""Booster planning's alert: when a patient's benefit is fading, the care team hears of it
through the notifications outbox, once per infusion and instrument.

Who is reviewed: every patient whose data changed since their last review. A change (a
check-in, an infusion, a withdrawal) bumps `OutcomeState.version` in its own transaction;
the beat's minute tick reviews the patients whose `reviewed_version` is behind and records
the version it read. Nothing travels through the broker per check-in, so a broker outage
loses no review (it used to: a task per check-in, enqueued after commit), and a
change that lands during a review leaves the patient due for the next tick.
"""

import logging
import time

from django.core.cache import cache
from django.db.models import F, Q

from outcomes import events
from outcomes.models import OutcomeState, Patient, PatientStatus

from ..selectors.courses import patient_course_outcomes

logger = logging.getLogger(__name__)


def benefit_review(*, patient: Patient) -> int:
    """Announce fading or lost benefit of the patient's current course; returns how many
    notices the subscribers queued. Fading needs two assessments past the first 24 hours'
    peak, each worse than the best by the instrument's MID (outcomes/analytics/courses.py);
    a patient who lost response and meets it again is not announced."""
    courses, by_code = patient_course_outcomes(patient=patient)
    if not courses:
        return 0
    current = courses[-1]
    last_infusion_id = current.infusions[-1].id
    queued = 0
    for code, result in by_code.items():
        latest = next((o for o in result.outcomes if o.course_id == current.event.id), None)
        if latest is None:
            continue
        if (latest.benefit_fading or latest.status == "lost") and not latest.responding_again:
            queued += sum(
                events.announce(
                    events.BenefitFading(
                        patient=patient, infusion_id=last_infusion_id, instrument_code=code
                    )
                )
            )
    return queued


# One tick at a time: a tick that overruns the minute must not be joined by the next one
# working through the same patients.
_TICK_LOCK = "afterglow:benefit-reviews:running"


def benefit_reviews_due(*, limit: int = 5_000, budget_seconds: float = 45.0) -> dict[str, int]:
    """The beat's tick: review up to `limit` patients whose data changed since their last
    review (a minute of the network's peak is about 900), stopping after `budget_seconds`
    so that ticks do not pile up. Withdrawn patients are marked reviewed without a notice.
    A patient whose review fails is logged, stays due and is tried again next tick; the
    others go on."""
    if not cache.add(_TICK_LOCK, "1", timeout=300):
        return {"reviewed": 0, "queued": 0, "failed": 0}
    try:
        return _reviews(limit=limit, deadline=time.monotonic() + budget_seconds)
    finally:
        cache.delete(_TICK_LOCK)


def _reviews(*, limit: int, deadline: float) -> dict[str, int]:
    due = list(
        OutcomeState.objects.filter(
            Q(reviewed_version__isnull=True) | Q(reviewed_version__lt=F("version"))
        )
        .order_by("patient_id")
        .values_list("patient_id", "version")[:limit]
    )
    patients = Patient.objects.select_related("clinic").in_bulk([pid for pid, _ in due])
    reviewed = queued = failed = 0
    for patient_id, version in due:
        if time.monotonic() > deadline:
            break
        patient = patients.get(patient_id)
        if patient is not None and patient.status == PatientStatus.ACTIVE:
            try:
                queued += benefit_review(patient=patient)
            except Exception:
                logger.exception("benefit review of patient %s failed; it stays due", patient_id)
                failed += 1
                continue
        # Only ever forward: a slower, older review must not undo a newer one.
        OutcomeState.objects.filter(patient_id=patient_id).filter(
            Q(reviewed_version__isnull=True) | Q(reviewed_version__lt=version)
        ).update(reviewed_version=version)
        reviewed += 1
    if reviewed or failed:
        logger.info(
            "benefit reviews: %d patients, %d care-team notices queued, %d failed",
            reviewed,
            queued,
            failed,
        )
    return {"reviewed": reviewed, "queued": queued, "failed": failed}
