from django.core.management.base import BaseCommand

from config.periodic import periodic_tasks_setup


class Command(BaseCommand):
    help = "Write the system's periodic jobs into django-celery-beat's schedule (idempotent)."

    def handle(self, *args, **options):
        names = periodic_tasks_setup()
        self.stdout.write(self.style.SUCCESS(f"periodic tasks: {', '.join(names)}"))
