"""Booster planning's alert: when a patient's benefit is fading, the care team hears of it
through the notifications outbox, once per infusion and instrument.

Who is reviewed: every patient whose data changed since their last review. A change (a
check-in, an infusion, a withdrawal) bumps `OutcomeState.version` in its own transaction;
the beat's minute tick reviews the patients whose `reviewed_version` is behind and records
the version it read. Nothing travels through the broker per check-in, so a broker outage
loses no review (it used to: a task per check-in, enqueued after commit, issue 6), and a
change that lands during a review leaves the patient due for the next tick.
"""

import logging

from django.db.models import F, Q

from ..models import OutcomeState, Patient, PatientStatus
from ..selectors.analytics import patient_courses

logger = logging.getLogger(__name__)

# Fading (still responding, but worse than the best by at least the MID) or already lost:
# either way a booster may be due now.
NOTIFY_STATUSES = ("responding", "lost")


def benefit_review(*, patient: Patient) -> int:
    from notifications.services.care_team import care_team_notify

    events, courses = patient_courses(patient=patient)
    if not events:
        return 0
    queued = 0
    for code, course in courses.items():
        if not course.outcomes:
            continue
        latest = course.outcomes[-1]
        if latest.infusion_id != events[-1].id:
            continue  # only the current infusion's benefit is news
        if latest.benefit_fading or latest.status == "lost":
            queued += care_team_notify(
                patient=patient, dedupe_key=f"benefit_fading:{latest.infusion_id}:{code}"
            )
    return queued


def benefit_reviews_due(*, limit: int = 5_000) -> dict[str, int]:
    """The beat's tick: review up to `limit` patients whose data changed since their last
    review (a minute of the network's peak is about 900). Withdrawn patients are marked
    reviewed without a notice."""
    due = list(
        OutcomeState.objects.filter(
            Q(reviewed_version__isnull=True) | Q(reviewed_version__lt=F("version"))
        )
        .order_by("patient_id")
        .values_list("patient_id", "version")[:limit]
    )
    patients = Patient.objects.select_related("clinic").in_bulk([pid for pid, _ in due])
    reviewed = queued = 0
    for patient_id, version in due:
        patient = patients.get(patient_id)
        if patient is not None and patient.status == PatientStatus.ACTIVE:
            queued += benefit_review(patient=patient)
        # Only ever forward: a slower, older review must not undo a newer one.
        OutcomeState.objects.filter(patient_id=patient_id).filter(
            Q(reviewed_version__isnull=True) | Q(reviewed_version__lt=version)
        ).update(reviewed_version=version)
        reviewed += 1
    if reviewed:
        logger.info("benefit reviews: %d patients, %d care-team notices queued", reviewed, queued)
    return {"reviewed": reviewed, "queued": queued}
