"""Booster planning's alert: when a patient's benefit is fading, the care team hears of it
through the notifications outbox, once per infusion and instrument."""

from ..models import Patient
from ..selectors.analytics import patient_courses

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
