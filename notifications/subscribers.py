"""What notifications does when the clinical domain announces something (outcomes.events).

`NotificationsConfig.ready()` subscribes these handlers; each runs inside the announcing
service's transaction, so a reminder planned or a notice queued commits with its cause.
"""

from outcomes import events
from outcomes.models import AlertLevel, AlertStatus

from .models import ContactPoint, Delivery, DeliveryStatus, Device
from .services.care_team import (
    alert_notice_key,
    care_team_and_on_call,
    care_team_notify,
    care_team_of,
    follow_up_notice_key,
    follow_up_recipients,
    on_call_for,
    visit_staff,
    with_capturer,
)
from .services.plan_store import instrument_recall_hours
from .services.probes import probes_consider, screener_add
from .services.reminders import (
    reminders_complete_for_checkin,
    reminders_inside_recall,
    reminders_plan_for_infusion,
    reminders_replan_for_patient,
)


def on_check_in_stored(event: events.CheckInStored) -> None:
    # Answering closes the open reminder.
    check_in = event.check_in
    reminders_complete_for_checkin(check_in=check_in, instrument_codes=list(event.instrument_codes))
    recall = instrument_recall_hours(clinic=check_in.patient.clinic)
    # An answer off the schedule (an in-clinic PHQ-9, say) starts a recall window: the
    # schedule drops or moves the asks now inside it.
    if reminders_inside_recall(
        check_in=check_in, instrument_codes=event.instrument_codes, recall_hours=recall
    ):
        reminders_replan_for_patient(patient=check_in.patient)
    # A momentary score that suggests fading adds a probe; one that recovers stops them.
    probes_consider(check_in=check_in, instrument_codes=event.instrument_codes, recall_hours=recall)


def on_infusion_changed(
    event: events.InfusionRecorded | events.InfusionMoved | events.InfusionCancelled,
) -> None:
    # Planned by diff: new reminders created, obsolete pending ones cancelled.
    reminders_plan_for_infusion(infusion=event.infusion)


def on_patient_changed(event: events.PatientChanged) -> None:
    # 10:00 local is another instant in another zone; a withdrawn patient gets no more.
    reminders_replan_for_patient(patient=event.patient)


def on_patient_erased(event: events.PatientErased) -> None:
    Device.objects.filter(patient=event.patient).delete()
    ContactPoint.objects.filter(patient=event.patient).delete()
    reminders_replan_for_patient(patient=event.patient)  # withdrawn: pending cancelled


def on_alerts_raised(event: events.SafetyAlertsRaised) -> int:
    # One notice per check-in, however many rules fired (a positive C-SSRS can fire
    # several): one page to answer, not seven, graded by the highest level among them.
    level = AlertLevel.worst(a.level for a in event.alerts)
    top = next(a for a in event.alerts if a.level == level)
    key = alert_notice_key(top)
    # High: the on-call list is paged at once, with the care team; else the care team. On
    # the clinic's tablet, the staff member who handed it over too: the patient, told to
    # tell them, is with them now.
    team = (
        care_team_and_on_call(event.patient)
        if level == AlertLevel.HIGH
        else care_team_of(event.patient)
    )
    return care_team_notify(
        patient=event.patient,
        dedupe_key=key,
        # Low is reviewed within a working day: a plain notice, no page (it escalates,
        # paging on-call, only if nobody has acknowledged it by its review time).
        urgent=level != AlertLevel.LOW,
        recipients=with_capturer(team, top.check_in),
        alert=top,
    )


def on_visit_alert(event: events.VisitAlertRaised) -> int:
    """A reading past a threshold at the visit: the staff who recorded the session (the
    nurses on the floor) and the patient's care team, with the care-team notice's fixed
    text (nothing about the patient or the reading leaves the database)."""
    floor = visit_staff(event.alert.session)
    return care_team_notify(
        patient=event.patient,
        dedupe_key=f"visit-alert:{event.alert.id}",
        recipients=floor + [u for u in care_team_of(event.patient) if u not in floor],
    )


def on_alert_escalated(event: events.SafetyAlertEscalated) -> int:
    alert = event.alert
    if alert.status == AlertStatus.ACKNOWLEDGED:
        # Acknowledged, but its follow-up is overdue: whoever acknowledged it and on-call
        # are told. A notice, not a page: the patient has been reached, and the sender
        # drops urgent notices of alerts no longer open.
        return care_team_notify(
            patient=alert.patient,
            recipients=follow_up_recipients(alert),
            dedupe_key=follow_up_notice_key(alert),
            alert=alert,
        )
    return care_team_notify(
        patient=alert.patient,
        urgent=True,
        recipients=on_call_for(alert.patient),
        # Alerts of one check-in and level share a key: one notice per step, not per rule.
        dedupe_key=alert_notice_key(alert),
        alert=alert,
    )


def on_alert_closed(event: events.SafetyAlertAcknowledged | events.SafetyAlertResolved) -> int:
    """Someone has it: urgent notices of its check-in still waiting to be sent are not
    needed once none of that check-in's alerts is open (the sender checks again before
    each send, for the notice already claimed)."""
    alert = event.alert
    if alert.check_in.safety_alerts.filter(status=AlertStatus.OPEN).exists():
        return 0
    return Delivery.objects.filter(
        urgent=True,
        alert__check_in_id=alert.check_in_id,
        status__in=(DeliveryStatus.QUEUED, DeliveryStatus.RETRYING),
    ).update(status=DeliveryStatus.SKIPPED, error_code="alert_closed", next_attempt_at=None)


def on_screener_wanted(event: events.SafetyScreenerWanted) -> None:
    # A positive self-harm item: a short screener, due at once (a reminder like any other).
    screener_add(
        patient=event.patient, check_in=event.check_in, instrument_code=event.instrument_code
    )


def on_score_worsened(event: events.ScoreWorsened) -> int:
    # Worth a clinician's look, not a crisis: a plain notice, no escalation.
    return care_team_notify(patient=event.patient, dedupe_key=f"worsening:{event.response.id}")


def on_benefit_fading(event: events.BenefitFading) -> int:
    return care_team_notify(
        patient=event.patient,
        dedupe_key=f"benefit_fading:{event.infusion_id}:{event.instrument_code}",
    )


def connect() -> None:
    events.subscribe(events.CheckInStored, on_check_in_stored)
    events.subscribe(events.InfusionRecorded, on_infusion_changed)
    events.subscribe(events.InfusionMoved, on_infusion_changed)
    events.subscribe(events.InfusionCancelled, on_infusion_changed)
    events.subscribe(events.PatientChanged, on_patient_changed)
    events.subscribe(events.PatientErased, on_patient_erased)
    events.subscribe(events.SafetyAlertsRaised, on_alerts_raised)
    events.subscribe(events.VisitAlertRaised, on_visit_alert)
    events.subscribe(events.SafetyAlertEscalated, on_alert_escalated)
    events.subscribe(events.SafetyAlertAcknowledged, on_alert_closed)
    events.subscribe(events.SafetyAlertResolved, on_alert_closed)
    events.subscribe(events.SafetyScreenerWanted, on_screener_wanted)
    events.subscribe(events.ScoreWorsened, on_score_worsened)
    events.subscribe(events.BenefitFading, on_benefit_fading)
