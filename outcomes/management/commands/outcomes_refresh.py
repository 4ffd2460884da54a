from django.core.management.base import BaseCommand

from outcomes.services.outcome_records import outcome_records_refresh_stale, stale_patient_ids

BATCH = 5_000


class Command(BaseCommand):
    help = (
        "Store the infusion outcomes of every patient whose data changed or was never "
        "computed (after a deploy, say); the beat does the same a batch per minute."
    )

    def handle(self, *args, **options):
        total = 0
        # As many passes as the patients stale now need: a patient changed meanwhile is
        # left to the beat rather than chased for ever.
        passes = len(stale_patient_ids()) // BATCH + 1
        for _ in range(passes):
            total += outcome_records_refresh_stale(limit=BATCH)
            self.stdout.write(f"{total} infusion outcomes stored so far")
        self.stdout.write(self.style.SUCCESS(f"outcomes current: {total} rows stored"))
