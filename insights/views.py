"""The dashboard on the admin's first page."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _

from customers.metrics.period import PeriodError, days_check

from . import charts
from .dashboard import DashboardPeriod, dashboard, default_period
from .selectors import customer_value, service_against_retention, top_product_pairs

DASHBOARD_PERMISSION = "insights.view_dashboard"


def date_picker() -> forms.DateInput:
    """A browser's date picker. It takes its value as YYYY-MM-DD only: in the locale's
    format (01.11.2026 in Russian and Danish, 2026/11/01 in Chinese) the fields showed
    empty, and the form could not be sent without picking both dates again."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=date_picker())
    end = forms.DateField(label=_("To (included)"), widget=date_picker())

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            try:
                days_check(start=start, end=end)
            except PeriodError as exc:
                raise forms.ValidationError(str(exc)) from exc
            if end < start:
                raise forms.ValidationError(_("The period ends before it starts."))
            longest = settings.RETENTION_WINDOW_DAYS
            if (end - start).days + 1 > longest:
                raise forms.ValidationError(
                    ngettext(
                        "Choose a period of at most %(days)d day (the activity window).",
                        "Choose a period of at most %(days)d days (the activity window).",
                        longest,
                    )
                    % {"days": longest}
                )
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
        context["value"] = customer_value()
        context["pairs"] = top_product_pairs()
    return context


def service_retention_view(request):
    """Churn and repeat purchases of customers grouped by how we served them."""
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    groups = service_against_retention(language=get_language() or "en")
    sections = [
        (_("By the promise of their last resolved complaint"), groups["promise"]),
        (_("By their last NPS answer"), groups["nps"]),
        (_("By loyalty tier"), groups["tier"]),
        (_("By acquisition channel"), groups["channel"]),
    ]
    context = {
        **admin.site.each_context(request),
        "title": _("Service experience against retention"),
        "sections": sections,
        "window_days": settings.RETENTION_WINDOW_DAYS,
    }
    return TemplateResponse(request, "admin/insights/service_retention.html", context)
