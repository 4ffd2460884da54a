"""Cadence plans: create, edit (a new version each time), and which plan a patient follows."""

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


def _validated(steps: object, clinic: Clinic) -> list[Step]:
    try:
        return parse_steps(steps, recall_hours=instrument_recall_hours(clinic=clinic))
    except StepsInvalid as exc:
        raise DomainValidationError(exc.errors) from exc


def plan_steps(plan: CadencePlan) -> list[Step]:
    """The parsed steps of a stored plan. They were checked against the instruments'
    recall windows when saved; re-reading them must not fail if an instrument changed."""
    return parse_steps(plan.steps, recall_hours=None)


@transaction.atomic
def cadence_plan_create(
    *,
    clinic: Clinic,
    name: str,
    steps: list[dict],
    is_default: bool = False,
    user=None,
    replan: bool = True,
) -> CadencePlan:
    parsed = _validated(steps, clinic)
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
    if is_default and replan:
        # Patients following the clinic's default now follow this plan.
        from .reminders import reminders_replan_for_plan

        reminders_replan_for_plan(plan=plan)
    return plan


@transaction.atomic
def cadence_plan_update(
    *,
    plan: CadencePlan,
    steps: list[dict] | None = None,
    name: str | None = None,
    is_default: bool | None = None,
    user=None,
) -> CadencePlan:
    """Edit a plan: a new version, and every patient following it is re-planned by diff
    (nothing already sent is sent again)."""
    from .reminders import reminders_replan_for_plan

    plan = CadencePlan.objects.select_for_update().get(pk=plan.pk)
    fields = []
    if name is not None and name != plan.name:
        if CadencePlan.objects.filter(clinic=plan.clinic, name=name).exclude(pk=plan.pk).exists():
            raise DomainValidationError.single("name", "unique", "A plan with this name exists.")
        plan.name = name
        fields.append("name")
    if is_default is not None and is_default != plan.is_default:
        if is_default:
            CadencePlan.objects.filter(clinic=plan.clinic, is_default=True).update(is_default=False)
        plan.is_default = is_default
        fields.append("is_default")
    steps_changed = False
    if steps is not None:
        new_steps = [s.as_dict() for s in _validated(steps, plan.clinic)]
        if new_steps != plan.steps:
            plan.steps = new_steps
            plan.version += 1
            fields += ["steps", "version"]
            steps_changed = True
    if fields:
        plan.save(update_fields=[*fields, "updated_at"])
    if steps_changed:
        CadencePlanRevision.objects.create(
            plan=plan, version=plan.version, steps=plan.steps, edited_by=user
        )
    if steps_changed or "is_default" in fields:
        reminders_replan_for_plan(plan=plan)
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
        return cadence_plan_create(
            clinic=clinic, name=name, steps=DEFAULT_PLAN_STEPS, is_default=True, replan=False
        )


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
