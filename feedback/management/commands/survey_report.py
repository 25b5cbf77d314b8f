"""Survey scores of a period: NPS, CSAT and CLI, the monthly trend, response and
recovery rates (--json for scripts: the same object as /api/metrics/surveys/)."""

import json

from feedback.surveys.selectors import survey_scores

from ._period import PeriodReportCommand


def _value(value, suffix: str = "") -> str:
    return "—" if value is None else f"{value}{suffix}"


class Command(PeriodReportCommand):
    help = "Print the survey scores of a period (--json for scripts)."

    def handle(self, *args, start, end, **options):
        period = self.period(start, end)
        scores = survey_scores(period)
        if options["json"]:
            self.stdout.write(json.dumps(scores))
            return
        nps, csat, cli = scores["nps"], scores["csat"], scores["cli"]
        self.stdout.write(f"Survey scores {period.start} … {period.end}")
        self.stdout.write(
            f"  NPS   {_value(nps['nps']):>7}  ({nps['responses']} answers: {nps['promoters']} promoters, "
            f"{nps['passives']} passives, {nps['detractors']} detractors)"
        )
        self.stdout.write(f"  CSAT  {_value(csat['csat'], ' %'):>7}  ({csat['responses']} answers)")
        self.stdout.write(f"  CLI   {_value(cli['cli']):>7}  ({cli['responses']} answers)")
        recovery = scores["recovery"]
        self.stdout.write(
            f"  Recovery {_value(recovery['recovery_rate'], ' %')} of {recovery['unhappy']} unhappy answers"
        )
        if scores["trend"]:
            self.stdout.write("  Month      NPS     CSAT    CLI")
            for month in scores["trend"]:
                self.stdout.write(
                    f"  {month['month']}  {_value(month.get('nps', {}).get('nps')):>6}  "
                    f"{_value(month.get('csat', {}).get('csat')):>6}  {_value(month.get('cli', {}).get('cli')):>5}"
                )
        for rate in scores["response_rates"]:
            self.stdout.write(
                f"  {rate['survey']}: {rate['answered']} of {rate['sent']} answered "
                f"({_value(rate['response_rate'], ' %')})"
            )
