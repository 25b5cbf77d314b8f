from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "insights"
    verbose_name = _("Retention insights")

    def ready(self) -> None:
        # Registers the win-back email and the weekly report with the outbox.
        from . import campaigns, report  # noqa: F401
