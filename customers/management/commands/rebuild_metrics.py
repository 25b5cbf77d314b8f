from django.conf import settings
from django.core.management.base import CommandError
from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.metrics import rebuild
from retention_crm.commands import TranslatedCommand


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Recompute the retention aggregates from the orders, for the window and time zone of the "
        "settings. Needed after changing RETENTION_WINDOW_DAYS or TIME_ZONE; order writes wait meanwhile."
    )

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                _("The aggregates exist on PostgreSQL only; on this database reports read the orders directly.")
            )
        rebuild()
        self.stdout.write(
            _("Aggregates rebuilt for a %(days)d-day window in %(zone)s.")
            % {"days": settings.RETENTION_WINDOW_DAYS, "zone": settings.TIME_ZONE}
        )
