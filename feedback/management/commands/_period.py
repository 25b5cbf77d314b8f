"""What the period reports (service_report, survey_report) share: --start, --end, --json
and a period refused with one clear line."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from customers.metrics import PeriodError
from feedback.selectors import ServicePeriod, service_period


def day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


class PeriodReportCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--start", required=True, type=day, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, type=day, help="last day (included), YYYY-MM-DD")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    @staticmethod
    def period(start: date, end: date) -> ServicePeriod:
        try:
            return service_period(start=start, end=end)
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc
