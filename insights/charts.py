"""The dashboard's charts: SVG drawn on the server by pygal, put inline in the page.

Nothing loads from elsewhere (pygal's tooltip script would come from a CDN, so it is
switched off: `js=[]`); the labels are in the staff member's language, and the fonts
listed cover Chinese and Korean where the machine has them."""

import re
from datetime import date

import pygal
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from pygal.style import Style

from .dashboard import hours

FONTS = "system-ui, 'Noto Sans', 'Noto Sans CJK SC', 'Noto Sans CJK KR', 'DejaVu Sans', sans-serif"
STYLE = Style(
    font_family=FONTS,
    label_font_family=FONTS,
    major_label_font_family=FONTS,
    legend_font_family=FONTS,
    value_font_family=FONTS,
    title_font_family=FONTS,
    background="transparent",
    plot_background="transparent",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#888",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    # Colour-blind safe (Okabe–Ito): promoters green, passives yellow, detractors vermilion.
    colors=("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442"),
)


def _config(chart_class, **options):
    settings = {
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": False,
        "width": 720,
        "height": 300,
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "truncate_label": -1,
        "no_data_text": _("No data yet"),
        "print_values": False,
        "x_label_rotation": 30,
    }
    return chart_class(**{**settings, **options})


def month_labels(months: list[date]) -> list[str]:
    return [date_format(month, "YEAR_MONTH_FORMAT") for month in months]


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _values(values: list) -> list:
    """The series as pygal wants it: no values at all when every one is missing (pygal
    then says "No data yet" instead of failing to find a range)."""
    return values if any(value is not None for value in values) else []


def _render(chart, label: str) -> SafeString:
    # pygal puts its configuration in an inline <script> for its tooltips, which are
    # off: the page carries no script from a chart.
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    # A name for screen readers; the figures are also in the tables beside each chart.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)
    return mark_safe(svg)  # pygal escapes the texts it draws; the label is escaped above


def retention_trend_chart(months: list[date], rates: list) -> SafeString:
    chart = _config(pygal.Line, range=(0, 100), show_legend=False, dots_size=3)
    chart.x_labels = month_labels(months)
    chart.add(_("Retention rate (%)"), _values([None if rate is None else float(rate) for rate in rates]))
    return _render(chart, _("Monthly retention trend"))


def nps_trend_chart(trend: list[dict]) -> SafeString:
    colours = Style(**{**STYLE.__dict__, "colors": ("#009E73", "#E69F00", "#D55E00")})
    chart = _config(pygal.StackedBar, range=(0, 100), style=colours)
    chart.x_labels = month_labels([row["month"] for row in trend])
    chart.add(_("Promoters (%)"), _values([row["promoters"] for row in trend]))
    chart.add(_("Passives (%)"), _values([row["passives"] for row in trend]))
    chart.add(_("Detractors (%)"), _values([row["detractors"] for row in trend]))
    return _render(chart, _("NPS trend: promoters, passives and detractors"))


def tickets_chart(months: list[dict]) -> SafeString:
    chart = _config(pygal.Bar)
    chart.x_labels = month_labels([row["month"] for row in months])
    chart.add(_("Tickets opened"), [row["created"] for row in months])
    resolution = [hours(row["resolution_mean_seconds"]) for row in months]
    if any(value is not None for value in resolution):  # pygal cannot scale an empty second axis
        chart.add(_("Mean resolution time (hours)"), resolution, secondary=True)
    return _render(chart, _("Ticket volume and resolution time"))


def tiers_chart(tiers: list[tuple[str, int]]) -> SafeString:
    chart = _config(pygal.HorizontalBar, show_legend=False, height=120 + 40 * max(len(tiers), 1))
    chart.x_labels = [name for name, _members in tiers]
    chart.add(_("Members"), [members for _name, members in tiers])
    return _render(chart, _("Customers per tier"))
