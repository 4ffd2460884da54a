"""Loading instrument definitions from the repo's files into versioned rows.

A version is immutable once loaded: answers are pinned to it (docs/house/STYLE.md, habit 11), so
a file
whose content changed under the same version is refused; give it a new version instead.
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.errors import ConflictError, DomainValidationError
from accounts.models import Clinic
from outcomes.models import InstrumentVersion

from ..instruments.schema import (
    DefinitionError,
    content_digest,
    licensed_template_files,
    load_definition_file,
    merge_licensed_text,
    parse_definition,
    shipped_definition_files,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport:
    created: list[str]
    unchanged: list[str]


# The active versions a clinic's patients may answer, per clinic, kept by each process for
# AFTERGLOW_INSTRUMENT_CACHE_SECONDS: every submission needs them, and they almost never
# change (a version's content never does; a clinic loading a licensed instrument or an
# admin retiring a version, rarely). Reading them was 8% of a submission's CPU at network
# scale (docs/BENCHMARKS.md, "Clinic-network scale"). A change saved in this process clears the
# cache at
# once (receiver below); other processes see it within the interval, except that a
# submission naming a version the cache lacks (or holds without its licensed text) reads
# the database before it is refused (checkins._validate): a new version is never refused.
_ACTIVE: dict[object, tuple[float, dict[tuple[str, str], InstrumentVersion]]] = {}
_clock = time.monotonic


def active_versions(*, clinic_id, fresh: bool = False) -> dict[tuple[str, str], InstrumentVersion]:
    """(code, version) -> the version a patient of this clinic answers: the clinic's own
    licensed version wins over a shipped one of the same code and version. The rows come
    without their definition JSON (kilobytes each): `definition_for` reads and parses it
    once per row and process. `fresh` reads the database whatever the cache holds."""
    now = _clock()
    hit = _ACTIVE.get(clinic_id)
    if hit is not None and hit[0] > now and not fresh:
        return hit[1]
    rows = (
        InstrumentVersion.objects.filter(is_active=True)
        .filter(Q(clinic__isnull=True) | Q(clinic_id=clinic_id))
        .defer("definition")
    )
    found: dict[tuple[str, str], InstrumentVersion] = {}
    for row in sorted(rows, key=lambda v: v.clinic_id is not None):
        found[(row.code, row.version)] = row
    _ACTIVE[clinic_id] = (now + settings.AFTERGLOW_INSTRUMENT_CACHE_SECONDS, found)
    return found


def active_versions_forget() -> None:
    """Forget every clinic's cached versions, in this process."""
    _ACTIVE.clear()


@receiver(post_save, sender=InstrumentVersion)
@receiver(post_delete, sender=InstrumentVersion)
def _version_changed(**kwargs) -> None:
    """A version was loaded, retired or removed: forget the cache now, and again when the
    change commits, in case a request cached the old state meanwhile."""
    active_versions_forget()
    transaction.on_commit(active_versions_forget)


def _store(*, data: dict, clinic: Clinic | None) -> tuple[InstrumentVersion, bool]:
    defn = parse_definition(data)
    canonical = defn.model_dump(mode="json")
    digest = content_digest(canonical)
    existing = InstrumentVersion.objects.filter(
        code=defn.code, version=defn.version, clinic=clinic
    ).first()
    if existing is not None:
        if existing.content_digest != digest:
            raise ConflictError(
                f"{defn.code} v{defn.version} is already loaded with other content; "
                "answers are pinned to it, so publish the change as a new version.",
                code="instrument_version_changed",
            )
        return existing, False
    row = InstrumentVersion.objects.create(
        code=defn.code,
        version=defn.version,
        title=defn.title,
        clinic=clinic,
        definition=canonical,
        content_digest=digest,
    )
    return row, True


@transaction.atomic
def instruments_sync(*, directory: Path | None = None) -> SyncReport:
    """Load every shipped definition file that is not loaded yet (idempotent)."""
    files = sorted(directory.glob("*.json")) if directory else shipped_definition_files()
    created: list[str] = []
    unchanged: list[str] = []
    for path in files:
        try:
            data = json.loads(path.read_text())
            row, was_created = _store(data=data, clinic=None)
        except (DefinitionError, json.JSONDecodeError) as exc:
            raise DefinitionError(f"{path.name}: {exc}") from exc
        (created if was_created else unchanged).append(str(row))
    if created:
        logger.info("Loaded instrument versions: %s", ", ".join(created))
    return SyncReport(created=created, unchanged=unchanged)


def licensed_template(code: str) -> dict:
    """The newest template of `code` (cssrs-screener.v2 grades its safety rules; v1 stays
    for the clinics that loaded it, whose answers are pinned to it)."""
    found = [d for d in map(load_definition_file, licensed_template_files()) if d.code == code]
    if not found:
        raise DomainValidationError.single(
            "code", "unknown_instrument", f"No licensed template for '{code}'."
        )
    newest = max(found, key=lambda d: (len(d.version), d.version))
    return newest.model_dump(mode="json")


@transaction.atomic
def instrument_load_licensed(
    *, clinic: Clinic, code: str, texts: dict
) -> tuple[InstrumentVersion, bool]:
    """Load a licensed instrument (EPDS, C-SSRS) for one clinic that holds the licence:
    our scoring template plus the clinic's own copy of the item text."""
    template = licensed_template(code)
    try:
        data = merge_licensed_text(template, texts)
    except DefinitionError as exc:
        raise DomainValidationError.single("texts", "invalid", str(exc)) from exc
    return _store(data=data, clinic=clinic)
