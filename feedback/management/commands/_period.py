"""What the period reports (service_report, survey_report) share: --start, --end, --json
and a period refused with one clear line."""

from datetime import date

from django.core.management.base import CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.metrics import PeriodError
from feedback.selectors import ServicePeriod, service_period
from retention_crm.commands import TranslatedCommand


def day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(_("%(value)r is not a date (use YYYY-MM-DD).") % {"value": value}) from exc


class PeriodReportCommand(TranslatedCommand):
    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, type=day, help=gettext_lazy("first day, YYYY-MM-DD"))
        parser.add_argument("--end", required=True, type=day, help=gettext_lazy("last day (included), YYYY-MM-DD"))
        parser.add_argument("--json", action="store_true", help=gettext_lazy("one JSON object, for scripts"))

    @staticmethod
    def period(start: date, end: date) -> ServicePeriod:
        try:
            return service_period(start=start, end=end)
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc
