import argparse
import json
from datetime import date, timedelta

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from customers.metrics import PeriodError, cohorts, period_validate, retention_figures
from retention_crm.commands import TranslatedCommand


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(_("%(value)r is not a date (use YYYY-MM-DD).") % {"value": value}) from None


class Command(TranslatedCommand):
    help = gettext_lazy(
        "Retention figures for a period as METRICS.md defines them (--cohorts: the cohort matrix). "
        "Without dates: the 90 days up to yesterday."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", type=iso_date, help=gettext_lazy("first day of the period, YYYY-MM-DD"))
        parser.add_argument("--end", type=iso_date, help=gettext_lazy("last day of the period (inclusive)"))
        parser.add_argument(
            "--window-days", type=int, help=gettext_lazy("activity window W in days (default: the setting)")
        )
        parser.add_argument("--cohorts", action="store_true", help=gettext_lazy("the cohort matrix instead"))
        parser.add_argument("--json", action="store_true", help=gettext_lazy("one JSON object, for scripts"))

    def handle(self, *args, **options):
        end = options["end"] or timezone.localdate() - timedelta(days=1)
        start = options["start"] or end - timedelta(days=89)
        try:
            period = period_validate(
                start=start, end=end, window_days=options["window_days"], for_cohorts=options["cohorts"]
            )
        except PeriodError as exc:
            raise CommandError(str(exc)) from exc

        if options["cohorts"]:
            rows = cohorts(period)
            if options["json"]:
                self.stdout.write(json.dumps({"cohorts": [row.as_json() for row in rows]}))
            else:
                self.print_cohorts(period, rows)
            return
        figures = retention_figures(period)
        if options["json"]:
            self.stdout.write(json.dumps(figures.as_json()))
        else:
            self.print_figures(figures)

    def print_figures(self, figures) -> None:
        def rate(value) -> str:
            return "—" if value is None else f"{value:.2f} %"

        rows = [
            (_("Period"), f"{figures.start} … {figures.end}"),
            (
                _("Activity window"),
                ngettext("%(days)d day", "%(days)d days", figures.window_days) % {"days": figures.window_days},
            ),
            (_("Customers at start (S)"), f"{figures.customers_at_start:,}"),
            (_("Customers at end (E)"), f"{figures.customers_at_end:,}"),
            (_("New customers (N)"), f"{figures.new_customers:,}"),
            (_("Retention rate"), rate(figures.retention_rate)),
            (_("Churn rate"), rate(figures.churn_rate)),
            (_("Returning customer rate"), rate(figures.returning_customer_rate)),
            (_("Repeat purchase rate"), rate(figures.repeat_purchase_rate)),
            (_("Orders"), f"{figures.orders:,}"),
            (_("Revenue"), f"{figures.revenue:,.2f}"),
            (
                _("Average order value"),
                "—" if figures.average_order_value is None else f"{figures.average_order_value:,.2f}",
            ),
        ]
        width = max(len(str(label)) for label, _value in rows)
        for label, value in rows:
            self.stdout.write(f"{label!s:<{width}}  {value}")

    def print_cohorts(self, period, rows) -> None:
        if not rows:
            self.stdout.write(_("No customers had their first order in this period."))
            return
        offsets = max(len(row.retention) for row in rows)
        header = [_("Cohort"), _("Customers")] + [f"+{k}" for k in range(offsets)]
        self.stdout.write("  ".join(f"{cell!s:>9}" for cell in header))
        for row in rows:
            cells = [row.month.strftime("%Y-%m"), f"{row.customers:,}"]
            cells += [f"{value:.1f}%" for value in row.retention]
            self.stdout.write("  ".join(f"{cell:>9}" for cell in cells))
