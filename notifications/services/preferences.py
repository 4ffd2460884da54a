"""Reminder preferences: the patient's own (channels, quiet hours, pause), the scheduler's
per-patient plan override, and the clinic's defaults. Changes re-plan pending reminders."""

from datetime import time
from enum import Enum
from typing import Final

from django.db import transaction

from accounts.errors import DomainValidationError
from accounts.models import Clinic
from outcomes.models import Patient

from ..models import CadencePlan, Channel, ClinicNotificationSettings, PatientPreference
from .reminders import reminders_replan_for_patient


class _Unset(Enum):
    """'Argument not given' (None is a value: it clears the field)."""

    UNSET = "UNSET"


UNSET: Final = _Unset.UNSET


def _check_channels(channels, attr="channels") -> None:
    if channels is None:
        return
    bad = {i: c for i, c in enumerate(channels) if c not in Channel.values}
    if bad:
        raise DomainValidationError(
            {f"{attr}.{i}": [("invalid_choice", f"Unknown channel '{c}'.")] for i, c in bad.items()}
        )


def _check_quiet(start, end) -> None:
    if (start is None) != (end is None):
        raise DomainValidationError.single(
            "quiet_hours_end", "invalid", "Give both ends of the quiet hours, or neither."
        )


@transaction.atomic
def patient_preference_update(
    *,
    patient: Patient,
    channels=UNSET,
    quiet_hours_start=UNSET,
    quiet_hours_end=UNSET,
    paused_until=UNSET,
    cadence_plan=UNSET,
    weekly_budget=UNSET,
) -> PatientPreference:
    pref, _ = PatientPreference.objects.select_for_update().get_or_create(patient=patient)
    changes = {
        k: v
        for k, v in {
            "channels": channels,
            "quiet_hours_start": quiet_hours_start,
            "quiet_hours_end": quiet_hours_end,
            "paused_until": paused_until,
            "cadence_plan": cadence_plan,
            "weekly_budget": weekly_budget,
        }.items()
        if v is not UNSET
    }
    _check_channels(changes.get("channels"))
    start = changes.get("quiet_hours_start", pref.quiet_hours_start)
    end = changes.get("quiet_hours_end", pref.quiet_hours_end)
    _check_quiet(start, end)
    plan = changes.get("cadence_plan")
    if isinstance(plan, CadencePlan) and (plan.clinic_id != patient.clinic_id or plan.archived_at):
        raise DomainValidationError.single("cadence_plan", "does_not_exist", "Unknown plan.")
    for k, v in changes.items():
        setattr(pref, k, v)
    pref.save()
    if {"quiet_hours_start", "quiet_hours_end", "cadence_plan"} & set(changes):
        reminders_replan_for_patient(patient=patient)
    return pref


@transaction.atomic
def clinic_notification_settings_update(
    *,
    clinic: Clinic,
    default_channels: list[str] | None = None,
    quiet_hours_start: time | _Unset | None = UNSET,
    quiet_hours_end: time | _Unset | None = UNSET,
    weekly_budget: int | None = None,
) -> ClinicNotificationSettings:
    row, _ = ClinicNotificationSettings.objects.select_for_update().get_or_create(clinic=clinic)
    if default_channels is not None:
        _check_channels(default_channels, "default_channels")
        row.default_channels = default_channels
    if quiet_hours_start is not UNSET:
        row.quiet_hours_start = quiet_hours_start
    if quiet_hours_end is not UNSET:
        row.quiet_hours_end = quiet_hours_end
    if weekly_budget is not None:
        row.weekly_budget = weekly_budget
    _check_quiet(row.quiet_hours_start, row.quiet_hours_end)
    row.save()
    if quiet_hours_start is not UNSET or quiet_hours_end is not UNSET:
        for patient in Patient.objects.filter(clinic=clinic, status="active"):
            reminders_replan_for_patient(patient=patient)
    return row
