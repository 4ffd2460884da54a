"""Which cadence plan a patient follows, and storing a checked plan: the lookups the
reminder planner needs (services/reminders.py), apart from the edits that re-plan
(services/plans.py), so that neither imports the other inside a function."""

from django.db import transaction

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes.instruments import definition_for
from outcomes.models import InstrumentVersion, Patient

from ..cadence import DEFAULT_PLAN_STEPS, QuietHours, Step, StepsInvalid, parse_steps
from ..models import CadencePlan, CadencePlanRevision, ClinicNotificationSettings, PatientPreference

DEFAULT_PLAN_NAME = "Standard"


def instrument_recall_hours(*, clinic: Clinic) -> dict[str, int]:
    """Recall window (hours) of every instrument this clinic may ask, from the newest
    loaded version of each."""
    recall: dict[str, int] = {}
    rows = InstrumentVersion.objects.filter(is_active=True).filter(
        clinic__isnull=True
    ) | InstrumentVersion.objects.filter(is_active=True, clinic=clinic)
    for row in rows.order_by("loaded_at"):
        defn = definition_for(row)
        if defn.text_included:
            recall[row.code] = int(defn.recall.hours)
    return recall


def checked_steps(steps: object, clinic: Clinic) -> list[Step]:
    """Parsed steps, or a 400 with every problem (recall windows included)."""
    try:
        return parse_steps(steps, recall_hours=instrument_recall_hours(clinic=clinic))
    except StepsInvalid as exc:
        raise DomainValidationError(exc.errors) from exc


def plan_steps(plan: CadencePlan) -> list[Step]:
    """The parsed steps of a stored plan. They were checked against the instruments'
    recall windows when saved; re-reading them must not fail if an instrument changed."""
    return parse_steps(plan.steps, recall_hours=None)


@transaction.atomic
def plan_insert(
    *,
    clinic: Clinic,
    name: str,
    steps: list[dict],
    is_default: bool = False,
    user=None,
) -> CadencePlan:
    """A new plan and its first revision, checked, with no re-planning (plans.py's
    cadence_plan_create re-plans the patients who follow it)."""
    parsed = checked_steps(steps, clinic)
    if CadencePlan.objects.filter(clinic=clinic, name=name).exists():
        raise DomainValidationError.single("name", "unique", "A plan with this name exists.")
    if is_default:
        CadencePlan.objects.filter(clinic=clinic, is_default=True).update(is_default=False)
    plan = CadencePlan.objects.create(
        clinic=clinic,
        name=name,
        is_default=is_default,
        version=1,
        steps=[s.as_dict() for s in parsed],
    )
    CadencePlanRevision.objects.create(plan=plan, version=1, steps=plan.steps, edited_by=user)
    return plan


def default_plan_ensure(*, clinic: Clinic) -> CadencePlan:
    """The clinic's default plan, created from the standard cadence if it has none."""
    plan = CadencePlan.objects.filter(clinic=clinic, is_default=True).first()
    if plan is not None:
        return plan
    with transaction.atomic():
        plan = (
            CadencePlan.objects.select_for_update().filter(clinic=clinic, is_default=True).first()
        )
        if plan is not None:
            return plan
        name = DEFAULT_PLAN_NAME
        if CadencePlan.objects.filter(clinic=clinic, name=name).exists():
            name = f"{DEFAULT_PLAN_NAME} (default)"
        return plan_insert(clinic=clinic, name=name, steps=DEFAULT_PLAN_STEPS, is_default=True)


def plan_for_patient(*, patient: Patient) -> CadencePlan:
    pref = PatientPreference.objects.filter(patient=patient).select_related("cadence_plan").first()
    if pref is not None and pref.cadence_plan is not None and pref.cadence_plan.archived_at is None:
        return pref.cadence_plan
    return default_plan_ensure(clinic=patient.clinic)


def quiet_hours_for(*, patient: Patient) -> QuietHours | None:
    pref = PatientPreference.objects.filter(patient=patient).first()
    if pref and pref.quiet_hours_start is not None and pref.quiet_hours_end is not None:
        return QuietHours(pref.quiet_hours_start, pref.quiet_hours_end)
    clinic = ClinicNotificationSettings.objects.filter(clinic_id=patient.clinic_id).first()
    if clinic and clinic.quiet_hours_start is not None and clinic.quiet_hours_end is not None:
        return QuietHours(clinic.quiet_hours_start, clinic.quiet_hours_end)
    return None
