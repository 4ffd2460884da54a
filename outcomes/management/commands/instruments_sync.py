from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ConflictError
from outcomes.instruments.schema import DefinitionError
from outcomes.services import instruments_sync


class Command(BaseCommand):
    help = "Load the shipped instrument definition files that are not loaded yet (idempotent)."

    def handle(self, *args, **options):
        try:
            report = instruments_sync()
        except (DefinitionError, ConflictError) as exc:
            raise CommandError(str(exc)) from exc
        for name in report.created:
            self.stdout.write(f"loaded {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"instruments: {len(report.created)} loaded, {len(report.unchanged)} unchanged"
            )
        )
