"""The system's periodic jobs, kept in django-celery-beat's database scheduler.

`manage.py setup_periodic_tasks` writes them (idempotent); the beat process reads them.
"""

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

# name -> (task, schedule): ("interval", seconds) or ("crontab", "m h")
PERIODIC_TASKS: dict[str, tuple[str, tuple[str, object]]] = {
    "purge expired tokens": ("accounts.tokens_purge_expired", ("crontab", "17 3")),
    "purge expired enrolment codes": (
        "outcomes.enrolment_codes_purge_expired",
        ("crontab", "19 3"),
    ),
    "dispatch due reminders": ("notifications.dispatch_due", ("interval", 60)),
    "escalate unacknowledged safety alerts": ("outcomes.alerts_escalate", ("interval", 60)),
    "refresh stale infusion outcomes": ("outcomes.outcomes_refresh", ("interval", 60)),
    "review fading benefit": ("outcomes.benefit_reviews", ("interval", 60)),
}


@transaction.atomic
def periodic_tasks_setup() -> list[str]:
    written = []
    for name, (task, (kind, spec)) in PERIODIC_TASKS.items():
        defaults = {"task": task, "enabled": True, "interval": None, "crontab": None}
        if kind == "interval":
            defaults["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=spec, period=IntervalSchedule.SECONDS
            )
        else:
            minute, hour = str(spec).split()
            defaults["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="UTC",
            )
        PeriodicTask.objects.update_or_create(name=name, defaults=defaults)
        written.append(name)
    return written
