"""The dashboard: the figures of a period against the period just before it, and the
monthly charts. Everything comes from the apps' own selectors, which read aggregates or
indexed columns: the number of queries is fixed, whatever the number of customers.

Definitions beyond METRICS.md (docs/architecture.md, "The dashboard", says the same):
- CLV of a period: revenue per active customer in the period (revenue / E) × the
  expected lifespan in periods (100 / churn rate): the articles' average order value ×
  purchase frequency × lifespan, with frequency = orders / E. Null when churn is 0 or
  unknown.
- Points outstanding: what members hold at the end of the period (spendable and
  pending), by the ledger's entry dates.
- Redemption rate: points redeemed per 100 earned in the period.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.metrics import cohorts, period_validate, retention_figures
from customers.metrics.figures import Cohort, RetentionFigures
from customers.metrics.period import add_months, metrics_zone, midnight, month_start
from feedback.models import ACTIVE_STATUSES, Ticket
from feedback.selectors import service_period, service_totals, tickets_per_month
from feedback.surveys.selectors import monthly_trend, survey_totals
from loyalty.selectors import members_per_tier, points_in_periods, points_outstanding

from .selectors import tier_names

DEFAULT_DAYS = 30
TREND_MONTHS = 12


@dataclass(frozen=True)
class DashboardPeriod:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> "DashboardPeriod":
        """The period of the same length just before this one."""
        return DashboardPeriod(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def default_period(today: date | None = None) -> DashboardPeriod:
    """The last DEFAULT_DAYS whole days (today is not over yet)."""
    today = today or timezone.now().astimezone(metrics_zone()).date()
    end = today - timedelta(days=1)
    return DashboardPeriod(end - timedelta(days=DEFAULT_DAYS - 1), end)


CARD_LABELS = {
    "retention_rate": _("Retention rate"),
    "churn_rate": _("Churn"),
    "returning_customer_rate": _("Returning customers"),
    "repeat_purchase_rate": _("Repeat purchase rate"),
    "average_order_value": _("Average order value"),
    "revenue": _("Revenue"),
    "clv": _("Customer lifetime value"),
    "nps": _("NPS"),
    "csat": _("CSAT"),
    "cli": _("CLI"),
    "open_tickets": _("Open tickets"),
    "sla_compliance": _("SLA compliance"),
    "promise_kept": _("Promise kept"),
    "resolution_time": _("Mean resolution time"),
    "points_outstanding": _("Points outstanding"),
    "redemption_rate": _("Redemption rate"),
}


@dataclass(frozen=True)
class Card:
    key: str
    value: Decimal | float | int | None
    previous: Decimal | float | int | None
    unit: str  # percent, money, count, score, hours, points
    higher_is_better: bool = True

    @property
    def label(self) -> str:
        return CARD_LABELS[self.key]

    @property
    def change(self) -> Decimal | float | int | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def direction(self) -> str:
        """up, down or flat: where the figure went."""
        change = self.change
        if not change:
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def verdict(self) -> str:
        """good, bad or neutral: whether the change is welcome."""
        if self.direction == "flat":
            return "neutral"
        return "good" if (self.direction == "up") == self.higher_is_better else "bad"


def _clv(figures: RetentionFigures) -> Decimal | None:
    churn = figures.churn_rate
    if churn is None or churn <= 0 or not figures.customers_at_end:
        return None
    per_customer = figures.revenue / figures.customers_at_end
    return (per_customer * 100 / churn).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def hours(seconds: float | None) -> float | None:
    """Seconds as hours with one decimal (the dashboard's unit for durations)."""
    return None if seconds is None else round(seconds / 3600, 1)


def retention_cards(period: DashboardPeriod, before: DashboardPeriod) -> list[Card]:
    now, then = (retention_figures(period_validate(start=p.start, end=p.end)) for p in (period, before))
    return [
        Card("retention_rate", now.retention_rate, then.retention_rate, "percent"),
        Card("churn_rate", now.churn_rate, then.churn_rate, "percent", higher_is_better=False),
        Card(
            "returning_customer_rate",
            now.returning_customer_rate,
            then.returning_customer_rate,
            "percent",
        ),
        Card(
            "repeat_purchase_rate",
            now.repeat_purchase_rate,
            then.repeat_purchase_rate,
            "percent",
        ),
        Card(
            "average_order_value",
            now.average_order_value,
            then.average_order_value,
            "money",
        ),
        Card("revenue", now.revenue, then.revenue, "money"),
        Card("clv", _clv(now), _clv(then), "money"),
    ]


def service_cards(period: DashboardPeriod, before: DashboardPeriod) -> list[Card]:
    now, then = (service_totals(service_period(start=p.start, end=p.end)) for p in (period, before))
    scores_now, scores_then = (survey_totals(service_period(start=p.start, end=p.end)) for p in (period, before))
    return [
        Card("nps", scores_now["nps"]["nps"], scores_then["nps"]["nps"], "score"),
        Card("csat", scores_now["csat"]["csat"], scores_then["csat"]["csat"], "percent"),
        Card("cli", scores_now["cli"]["cli"], scores_then["cli"]["cli"], "score"),
        # Open at the end of each period; the number open right now is shown beside it.
        Card("open_tickets", now.backlog, then.backlog, "count", higher_is_better=False),
        Card("sla_compliance", now.sla_compliance, then.sla_compliance, "percent"),
        Card("promise_kept", now.promise_kept, then.promise_kept, "percent"),
        Card(
            "resolution_time",
            hours(now.resolution_mean_seconds),
            hours(then.resolution_mean_seconds),
            "hours",
            higher_is_better=False,
        ),
    ]


def loyalty_cards(period: DashboardPeriod, before: DashboardPeriod) -> list[Card]:
    outstanding_now = points_outstanding()
    # Flows of each period, and what members held at its end: today's total less what
    # the ledger gained since (one scan of the entries for both periods).
    (flows_now, gained_since_now), (flows_then, gained_since_then) = points_in_periods(
        [(midnight(p.start), midnight(p.end + timedelta(days=1))) for p in (period, before)]
    )
    held = [outstanding_now - gained_since_now, outstanding_now - gained_since_then]
    flows = [flows_now, flows_then]
    return [
        Card("points_outstanding", held[0], held[1], "points", higher_is_better=False),
        Card(
            "redemption_rate",
            flows[0].redemption_rate,
            flows[1].redemption_rate,
            "percent",
        ),
    ]


@dataclass
class Dashboard:
    period: DashboardPeriod
    before: DashboardPeriod
    service: list[Card]
    open_now: int
    retention: list[Card] = field(default_factory=list)
    loyalty: list[Card] = field(default_factory=list)
    trend_months: list[date] = field(default_factory=list)
    retention_trend: list[Decimal | None] = field(default_factory=list)
    cohorts: list[Cohort] = field(default_factory=list)
    nps_trend: list[dict] = field(default_factory=list)
    tickets: list[dict] = field(default_factory=list)
    tiers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def retention_by_month(self) -> list[tuple[date, Decimal | None]]:
        return list(zip(self.trend_months, self.retention_trend, strict=True))


def trend_months(period: DashboardPeriod) -> list[date]:
    """The TREND_MONTHS calendar months up to the one the period ends in."""
    last = month_start(period.end)
    return [add_months(last, offset) for offset in range(-TREND_MONTHS + 1, 1)]


def _month_retention(month: date, until: date) -> Decimal | None:
    end = min(add_months(month, 1) - timedelta(days=1), until)
    return retention_figures(period_validate(start=month, end=end)).retention_rate


def dashboard(period: DashboardPeriod, *, managers_part: bool, language: str = "en") -> Dashboard:
    """Everything the dashboard shows; `managers_part` adds the retention, revenue and
    points figures (the insights.view_dashboard permission)."""
    before = period.before()
    months = trend_months(period)
    board = Dashboard(
        period=period,
        before=before,
        service=service_cards(period, before),
        open_now=Ticket.objects.filter(status__in=ACTIVE_STATUSES).count(),
        trend_months=months,
    )
    board.nps_trend = _nps_trend(months)
    board.tickets = tickets_per_month(months[0], months[-1])
    if managers_part:
        board.retention = retention_cards(period, before)
        board.loyalty = loyalty_cards(period, before)
        board.retention_trend = [_month_retention(month, period.end) for month in months]
        board.cohorts = cohorts(period_validate(start=months[0], end=period.end, for_cohorts=True))
        names = tier_names(language)
        board.tiers = [(names.get(tier_id, "?"), members) for tier_id, members in members_per_tier()]
    return board


def _nps_trend(months: list[date]) -> list[dict]:
    """Per month: the shares (%) of promoters, passives and detractors among NPS answers."""
    by_month = {row["month"]: row for row in monthly_trend(months[0], add_months(months[-1], 1) - timedelta(days=1))}
    trend = []
    for month in months:
        nps = by_month.get(f"{month:%Y-%m}", {}).get("nps")
        answers = nps["responses"] if nps else 0

        def share(count: int, answers: int = answers) -> float | None:
            return round(count * 100 / answers, 1) if answers else None

        trend.append(
            {
                "month": month,
                "answers": answers,
                "nps": nps["nps"] if nps else None,
                "promoters": share(nps["promoters"]) if nps else None,
                "passives": share(nps["passives"]) if nps else None,
                "detractors": share(nps["detractors"]) if nps else None,
            }
        )
    return trend
