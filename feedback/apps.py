from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "feedback"
    verbose_name = _("Customer care")

    def ready(self) -> None:
        from anymail.signals import inbound

        # Registers the checks that delivery runs before sending a ticket's emails.
        from .services import emails  # noqa: F401
        from .services.inbound import on_anymail_inbound

        inbound.connect(on_anymail_inbound, dispatch_uid="feedback-inbound-email")
