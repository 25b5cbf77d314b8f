"""Survey scores of a period: NPS, CSAT and CLI, the monthly trend, response and
recovery rates (--json for scripts: the same object as /api/metrics/surveys/)."""

import json

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from feedback.surveys.selectors import survey_scores

from ._period import PeriodReportCommand


def _value(value, suffix: str = "") -> str:
    return "—" if value is None else f"{value}{suffix}"


class Command(PeriodReportCommand):
    help = gettext_lazy("Print the survey scores of a period (--json for scripts).")

    def handle(self, *args, start, end, **options):
        period = self.period(start, end)
        scores = survey_scores(period)
        if options["json"]:
            self.stdout.write(json.dumps(scores))
            return
        nps, csat, cli = scores["nps"], scores["csat"], scores["cli"]
        self.stdout.write(_("Survey scores %(start)s … %(end)s") % {"start": period.start, "end": period.end})
        nps_answers = _(
            "answers: %(responses)d; promoters: %(promoters)d, passives: %(passives)d, detractors: %(detractors)d"
        ) % {key: nps[key] for key in ("responses", "promoters", "passives", "detractors")}
        self.stdout.write(f"  NPS   {_value(nps['nps']):>7}  ({nps_answers})")
        for name, figure, answers in (("CSAT", _value(csat["csat"], " %"), csat), ("CLI", _value(cli["cli"]), cli)):
            count = _("answers: %(responses)d") % {"responses": answers["responses"]}
            self.stdout.write(f"  {name:<5} {figure:>7}  ({count})")
        recovery = scores["recovery"]
        self.stdout.write(
            "  "
            + _("Recovery: %(rate)s (unhappy answers: %(unhappy)d)")
            % {"rate": _value(recovery["recovery_rate"], " %"), "unhappy": recovery["unhappy"]}
        )
        if scores["trend"]:
            self.stdout.write(f"  {_('Month'):<9}  {'NPS':>6}  {'CSAT':>6}  {'CLI':>5}")
            for month in scores["trend"]:
                self.stdout.write(
                    f"  {month['month']:<9}  {_value(month.get('nps', {}).get('nps')):>6}  "
                    f"{_value(month.get('csat', {}).get('csat')):>6}  {_value(month.get('cli', {}).get('cli')):>5}"
                )
        for rate in scores["response_rates"]:
            self.stdout.write(
                "  "
                + _("%(survey)s: %(answered)d of %(sent)d answered (%(rate)s)")
                % {
                    "survey": rate["survey"],
                    "answered": rate["answered"],
                    "sent": rate["sent"],
                    "rate": _value(rate["response_rate"], " %"),
                }
            )
