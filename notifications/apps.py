from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Reminders and delivery"

    def ready(self) -> None:
        # The one edge between the domain apps: outcomes announces, notifications listens.
        # Imported here because models may be imported only once the registry is ready.
        from . import checks, subscribers  # noqa: F401 - checks register on import

        subscribers.connect()
