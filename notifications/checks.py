"""System checks of the delivery settings (`manage.py check`, and at the start of every
management command and of the server)."""

from django.conf import settings
from django.core import checks

from .channels import Target, channel_targets


@checks.register()
def staff_page_channels_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A page channel that is not configured, or cannot reach staff, is skipped when a
    high-risk alert pages (services/care_team.py): say so at start, not at the first
    page."""
    problems: list[checks.CheckMessage] = []
    for name in settings.AFTERGLOW_STAFF_PAGE_CHANNELS:
        if name not in settings.AFTERGLOW_CHANNELS:
            problems.append(
                checks.Warning(
                    f"AFTERGLOW_STAFF_PAGE_CHANNELS names '{name}', which AFTERGLOW_CHANNELS "
                    "does not configure: high-risk alerts will not page by it.",
                    hint="Configure the channel in AFTERGLOW_CHANNELS (or "
                    "AFTERGLOW_CHANNEL_OVERRIDES), or remove it from "
                    "AFTERGLOW_STAFF_PAGE_CHANNELS.",
                    id="notifications.W001",
                )
            )
        elif Target.STAFF_USER not in channel_targets(name):
            problems.append(
                checks.Warning(
                    f"AFTERGLOW_STAFF_PAGE_CHANNELS names '{name}', which cannot reach staff: "
                    "high-risk alerts will not page by it.",
                    hint="Name a channel that serves staff (e.g. sms).",
                    id="notifications.W002",
                )
            )
    return problems
