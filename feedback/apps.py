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
        from .surveys import emails as survey_emails  # noqa: F401

        inbound.connect(on_anymail_inbound, dispatch_uid="feedback-inbound-email")

        from django.db.models.signals import post_delete, post_save

        from .models import BusinessCalendar, BusinessHours, Holiday, SlaPolicy
        from .services.sla import forget_policies

        # A policy or calendar changed in this process: the next ticket reads them anew.
        for model in (SlaPolicy, BusinessCalendar, BusinessHours, Holiday):
            for signal in (post_save, post_delete):
                signal.connect(forget_policies, sender=model, dispatch_uid=f"forget-policies-{model.__name__}-{signal}")
