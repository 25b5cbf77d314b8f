"""Service figures for a period: first response and resolution times, SLA compliance,
promises kept, backlog and reopen rate, for the team and per agent."""

import json

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from feedback.selectors import service_figures

from ._period import PeriodReportCommand


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    hours = seconds / 3600
    if hours >= 1:
        return _("%(hours)s h") % {"hours": f"{hours:.1f}"}
    return _("%(minutes)s min") % {"minutes": f"{seconds / 60:.0f}"}


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} %"


class Command(PeriodReportCommand):
    help = gettext_lazy("Print the service figures of a period (--json for scripts).")

    def handle(self, *args, start, end, **options):
        period = self.period(start, end)
        figures = service_figures(period)
        if options["json"]:
            self.stdout.write(json.dumps(figures.as_json()))
            return
        agents = [(str(agent.agent or _("(unassigned)")), agent) for agent in figures.agents]
        header = (
            "",
            _("created"),
            _("resolved"),
            _("1st answer"),
            _("median"),
            _("resolution"),
            _("median"),
            _("SLA met"),
            _("promise kept"),
            _("reopened"),
            _("backlog"),
        )
        table = [header]
        for label, item in [(_("team"), figures), *agents]:
            table.append(
                (
                    label,
                    str(item.tickets_created),
                    str(item.tickets_resolved),
                    _duration(item.first_response_mean_seconds),
                    _duration(item.first_response_median_seconds),
                    _duration(item.resolution_mean_seconds),
                    _duration(item.resolution_median_seconds),
                    _rate(item.sla_compliance),
                    _rate(item.promise_kept),
                    _rate(item.reopen_rate),
                    str(item.backlog),
                )
            )
        widths = [max(len(row[column]) for row in table) for column in range(len(header))]
        self.stdout.write(_("Service figures %(start)s … %(end)s") % {"start": period.start, "end": period.end})
        for row in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
