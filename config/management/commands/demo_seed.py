from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = "Create the demo clinic, staff and patients with a few weeks of check-ins (once)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even when DEBUG is off (never on a real clinic's data).",
        )

    def handle(self, *args, allow_production=False, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError("Demo data is for local runs; DEBUG is off.")
        report = demo_seed()
        if not report.created:
            self.stdout.write("demo data already present")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"demo clinic created: {len(report.staff)} staff, {len(report.patients)} patients, "
                f"{report.check_ins} check-ins"
            )
        )
        self.stdout.write(f"staff sign-ins:   {', '.join(report.staff)} / {DEMO_PASSWORD}")
        self.stdout.write(f"patient sign-ins: {', '.join(report.patients)} / {DEMO_PASSWORD}")
        self.stdout.write(
            f"a fresh enrolment code for demo-patient-3: {report.fresh_enrolment_code}"
        )
        self.stdout.write(
            "demo-patient-1 had an infusion ~4 h ago: its +4 h reminder fires within ~3 minutes "
            "(watch .run/celery.log)"
        )
