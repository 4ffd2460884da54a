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

from ..selectors.analytics import patient_courses

logger = logging.getLogger(__name__)


def benefit_review(*, patient: Patient) -> int:
    """Announce fading or lost benefit of the patient's current infusion; returns how many
    notices the subscribers queued."""
    infusions, courses = patient_courses(patient=patient)
    if not infusions:
        return 0
    queued = 0
    for code, course in courses.items():
        if not course.outcomes:
            continue
        latest = course.outcomes[-1]
        if latest.infusion_id != infusions[-1].id:
            continue  # only the current infusion's benefit is news
        # Fading (still responding, but worse than the best by at least the MID) or
        # already lost: either way a booster may be due now.
        if latest.benefit_fading or latest.status == "lost":
            queued += sum(
                events.announce(
                    events.BenefitFading(
                        patient=patient, infusion_id=latest.infusion_id, instrument_code=code
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
