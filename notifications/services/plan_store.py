"""Which cadence plan a patient follows, and storing a checked plan: the lookups the
reminder planner needs (services/reminders.py), apart from the edits that re-plan
(services/plans.py), so that neither imports the other inside a function."""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes.instruments import definition_for
from outcomes.models import InstrumentVersion, Patient, PatientCondition

from ..cadence import QuietHours, Step, StepsInvalid, parse_steps
from ..cadence_templates import DEFAULT_CONDITIONS, adapt, merged_steps, templates
from ..course_plan import SourcedStep, merge_steps
from ..models import CadencePlan, CadencePlanRevision, ClinicNotificationSettings, PatientPreference

DEFAULT_PLAN_NAME = "Standard"
logger = logging.getLogger(__name__)


# Recall windows per clinic, kept by each process for AFTERGLOW_INSTRUMENT_CACHE_SECONDS as
# outcomes keeps the active versions (outcomes/services/instruments.py): every check-in asks
# whether it started a recall window, and a version's content never changes. A version
# saved or deleted in this process clears it at once (receiver below).
_RECALL: dict[object, tuple[float, dict[str, int]]] = {}


def instrument_recall_hours(*, clinic: Clinic) -> dict[str, int]:
    """Recall window (hours) of every instrument this clinic may ask, from the newest
    loaded version of each."""
    now = time.monotonic()
    hit = _RECALL.get(clinic.pk)
    if hit is not None and hit[0] > now:
        return hit[1]
    recall: dict[str, int] = {}
    rows = InstrumentVersion.objects.filter(is_active=True).filter(
        Q(clinic__isnull=True) | Q(clinic=clinic)
    )
    for row in rows.order_by("loaded_at", "version"):
        defn = definition_for(row)
        if defn.text_included:
            recall[row.code] = int(defn.recall.hours)
    _RECALL[clinic.pk] = (now + settings.AFTERGLOW_INSTRUMENT_CACHE_SECONDS, recall)
    return recall


@receiver(post_save, sender=InstrumentVersion)
@receiver(post_delete, sender=InstrumentVersion)
def _versions_changed(**kwargs) -> None:
    _RECALL.clear()
    transaction.on_commit(_RECALL.clear)


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
        # The standard cadence, with the licensed instruments this clinic has loaded.
        steps = merged_steps(DEFAULT_CONDITIONS, instrument_recall_hours(clinic=clinic))
        return plan_insert(clinic=clinic, name=name, steps=steps, is_default=True)


def _template_plans(clinic: Clinic) -> dict[str, CadencePlan]:
    """Every template plan of the clinic, archived ones included, by condition."""
    return {p.condition: p for p in CadencePlan.objects.filter(clinic=clinic).exclude(condition="")}


def template_plans_ensure(*, clinic: Clinic) -> dict[str, CadencePlan]:
    """The clinic's template plan of every shipped condition template, created from the
    template (adapted to the instruments this clinic can ask) where it has none. Schedulers
    edit them as any plan; an edit is the clinic's, and is never overwritten; an archived
    template stays archived (the clinic chose that) and is not returned. A template this
    clinic's instruments cannot satisfy is skipped and logged (its patients follow their
    other templates, or the default), never an error for whoever triggered it."""
    existing = _template_plans(clinic)
    if any(c not in existing for c in templates()):
        existing = _templates_create(clinic)
    return {c: p for c, p in existing.items() if p.archived_at is None}


@transaction.atomic
def _templates_create(clinic: Clinic) -> dict[str, CadencePlan]:
    # One creator per clinic: a second request waits here, then finds the plans.
    Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
    existing = _template_plans(clinic)
    taken = set(CadencePlan.objects.filter(clinic=clinic).values_list("name", flat=True))
    available = instrument_recall_hours(clinic=clinic)
    for condition, template in templates().items():
        if condition in existing:
            continue
        name = next(
            n
            for n in (template.name, *(f"{template.name} ({k})" for k in range(2, 99)))
            if n not in taken
        )
        try:
            with transaction.atomic():
                plan = plan_insert(clinic=clinic, name=name, steps=adapt(template, available).steps)
                plan.condition = condition
                plan.save(update_fields=["condition"])
        except DomainValidationError as exc:
            logger.error(
                "condition template %s cannot be a plan of clinic %s: %s",
                condition,
                clinic.pk,
                exc.errors,
            )
            continue
        taken.add(name)
        existing[condition] = plan
    return existing


def template_plans_for(*, clinic: Clinic, conditions) -> list[CadencePlan]:
    """The clinic's template plans of these conditions, in the templates' order."""
    by_condition = template_plans_ensure(clinic=clinic)
    return [by_condition[c] for c in templates() if c in set(conditions) and c in by_condition]


def plans_for_patient(*, patient: Patient) -> list[CadencePlan]:
    """The plans a patient follows: their own override; else their conditions' template
    plans (merged into one schedule by `steps_of`); else the clinic's default."""
    pref = PatientPreference.objects.filter(patient=patient).select_related("cadence_plan").first()
    if pref is not None and pref.cadence_plan is not None and pref.cadence_plan.archived_at is None:
        return [pref.cadence_plan]
    conditions = PatientCondition.objects.filter(patient=patient).values_list(
        "condition", flat=True
    )
    chosen = template_plans_for(clinic=patient.clinic, conditions=list(conditions))
    return chosen or [default_plan_ensure(clinic=patient.clinic)]


def plan_for_patient(*, patient: Patient) -> CadencePlan:
    """The first of the patient's plans (the one a single-plan view shows)."""
    return plans_for_patient(patient=patient)[0]


def steps_of(plans: list[CadencePlan]) -> list[SourcedStep]:
    """The plans' steps as one list: several conditions' templates merged."""
    return merge_steps([(str(p.pk), p.version, plan_steps(p)) for p in plans])


def quiet_hours_for(*, patient: Patient) -> QuietHours | None:
    pref = PatientPreference.objects.filter(patient=patient).first()
    if pref and pref.quiet_hours_start is not None and pref.quiet_hours_end is not None:
        return QuietHours(pref.quiet_hours_start, pref.quiet_hours_end)
    clinic = ClinicNotificationSettings.objects.filter(clinic_id=patient.clinic_id).first()
    if clinic and clinic.quiet_hours_start is not None and clinic.quiet_hours_end is not None:
        return QuietHours(clinic.quiet_hours_start, clinic.quiet_hours_end)
    return None
