"""Cadence plans: create and edit (a new version each time); every patient who follows an
edited plan is re-planned by diff. Which plan a patient follows: services/plan_store.py."""

from django.db import transaction

from accounts.errors import DomainValidationError
from accounts.models import Clinic

from ..models import CadencePlan, CadencePlanRevision
from .plan_store import checked_steps, plan_insert, plan_steps
from .reminders import reminders_replan_for_plan


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
    plan = plan_insert(clinic=clinic, name=name, steps=steps, is_default=is_default, user=user)
    if is_default and replan:
        # Patients following the clinic's default now follow this plan.
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
        new_steps = [s.as_dict() for s in checked_steps(steps, plan.clinic)]
        # Compared as parsed: a plan stored before a field existed reads with its default.
        if new_steps != [step.as_dict() for step in plan_steps(plan)]:
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
