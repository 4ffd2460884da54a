import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ConflictError, DomainValidationError
from accounts.models import Clinic
from outcomes.services import instrument_load_licensed


class Command(BaseCommand):
    help = (
        "Load a licensed instrument (EPDS, C-SSRS screener) for one clinic: Afterglow's "
        "scoring template plus the clinic's licensed item text, from a JSON file "
        '{"items": {"<linkId>": "text"}, "options": {"<optionSet>": ["label", ...]}}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="The clinic's slug.")
        parser.add_argument("--code", required=True, help="EPDS or C-SSRS-SCREENER.")
        parser.add_argument("texts", type=Path, help="The clinic's licensed text file.")

    def handle(self, *args, clinic, code, texts, **options):
        try:
            clinic_row = Clinic.objects.get(slug=clinic)
        except Clinic.DoesNotExist as exc:
            raise CommandError(f"No clinic with slug '{clinic}'.") from exc
        try:
            row, created = instrument_load_licensed(
                clinic=clinic_row, code=code, texts=json.loads(texts.read_text())
            )
        except (DomainValidationError, ConflictError, json.JSONDecodeError, OSError) as exc:
            detail = getattr(exc, "errors", None) or str(exc)
            raise CommandError(f"Not loaded: {detail}") from exc
        verb = "loaded" if created else "already loaded"
        self.stdout.write(self.style.SUCCESS(f"{row} {verb} for {clinic_row.name}"))
