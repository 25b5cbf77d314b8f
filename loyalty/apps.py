from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "loyalty"
    verbose_name = _("Loyalty")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # Registers the checks and renderers of the loyalty emails with the outbox.
        from . import emails  # noqa: F401
        from .models import Program, Reward, Tier
        from .services import forget_rules

        # The rules changed in this process: the next order reads them anew.
        for model in (Program, Tier, Reward):
            for signal in (post_save, post_delete):
                signal.connect(forget_rules, sender=model, dispatch_uid=f"forget-loyalty-{model.__name__}-{signal}")
