"""The dashboard on the admin's first page."""

from datetime import date

from django import forms
from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from . import charts
from .dashboard import DashboardPeriod, dashboard, default_period

DASHBOARD_PERMISSION = "insights.view_dashboard"


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To (included)"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The period ends before it starts."))
            longest = settings.RETENTION_WINDOW_DAYS
            if (end - start).days + 1 > longest:
                raise forms.ValidationError(
                    _("Choose a period of at most %(days)d days (the activity window).") % {"days": longest}
                )
            if start < date(1900, 1, 1):
                raise forms.ValidationError(_("Choose a period after 1900."))
        return cleaned


def dashboard_context(request) -> dict:
    """The dashboard's part of the admin index context."""
    period = default_period()
    form = PeriodForm(request.GET or None, initial={"start": period.start, "end": period.end})
    if form.is_bound and form.is_valid():
        period = DashboardPeriod(form.cleaned_data["start"], form.cleaned_data["end"])
    managers_part = request.user.has_perm(DASHBOARD_PERMISSION)
    board = dashboard(period, managers_part=managers_part, language=get_language() or "en")
    context = {
        "period_form": form,
        "board": board,
        "managers_part": managers_part,
        "nps_chart": charts.nps_trend_chart(board.nps_trend),
        "tickets_chart": charts.tickets_chart(board.tickets),
    }
    if managers_part:
        context["retention_chart"] = charts.retention_trend_chart(board.trend_months, board.retention_trend)
        context["tiers_chart"] = charts.tiers_chart(board.tiers)
    return context
