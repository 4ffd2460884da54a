from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "outcomes"
    verbose_name = "Clinical outcomes"

    def ready(self) -> None:
        # Connects the receiver that forgets cached instrument versions when one changes.
        from .services import instruments  # noqa: F401
