"""Service figures: how fast customers are answered and helped, and whether promises
are kept. Computed by the database (aggregates over indexed columns), per period and
per agent.

Definitions (docs/architecture.md, "Service figures", says the same):
- A period is two dates, both included, with day boundaries of settings.TIME_ZONE.
- tickets_created: tickets opened in the period.
- first_response (mean, median, seconds): over tickets whose first answer by a person
  (an email reply, a call or a meeting) came in the period; measured from the ticket's
  creation, in wall-clock time.
- resolution (mean, median, seconds): over tickets first resolved in the period, from
  creation to that first resolution.
- sla_compliance (%): of tickets first resolved in the period, those that never missed
  a deadline (first answer or resolution).
- promise_kept (%): of tickets first resolved in the period, those resolved by the
  first date the customer was given.
- reopen_rate (%): of tickets first resolved in the period, those reopened since.
- backlog: tickets opened before the end of the period and neither resolved nor closed
  by then.
Rates have 2 decimals and are null when nothing was resolved.
"""

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from customers.metrics.period import PeriodError, add_months, days_check, metrics_zone, midnight
from retention_crm.db import Median

from .models import Ticket


@dataclass(frozen=True)
class ServicePeriod:
    start: date
    end: date

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return midnight(self.start), midnight(self.end + timedelta(days=1))


def service_period(*, start: date, end: date) -> ServicePeriod:
    days_check(start=start, end=end)
    if end < start:
        raise PeriodError(_("end (%(end)s) is before start (%(start)s).") % {"end": end, "start": start}, "end")
    return ServicePeriod(start=start, end=end)


def _rate(part: int, whole: int) -> float | None:
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _seconds(value) -> float | None:
    return None if value is None else round(float(value), 1)


@dataclass
class Figures:
    tickets_created: int = 0
    tickets_resolved: int = 0
    first_responses: int = 0
    first_response_mean_seconds: float | None = None
    first_response_median_seconds: float | None = None
    resolution_mean_seconds: float | None = None
    resolution_median_seconds: float | None = None
    sla_compliance: float | None = None
    promise_kept: float | None = None
    reopen_rate: float | None = None
    backlog: int = 0


@dataclass
class AgentFigures(Figures):
    agent_id: int | None = None
    agent: str = ""


@dataclass
class ServiceFigures(Figures):
    start: date | None = None
    end: date | None = None
    agents: list[AgentFigures] = field(default_factory=list)

    def as_json(self) -> dict:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        return data


RESOLVED = {
    "resolved": Count("id"),
    "resolution_mean": Avg("resolution_seconds"),
    "resolution_median": Median("resolution_seconds"),
    "compliant": Count("id", filter=Q(first_response_breached=False, resolution_breached=False)),
    "kept": Count("id", filter=Q(promise_kept=True)),
    "promised": Count("id", filter=Q(promise_kept__isnull=False)),
    "reopened": Count("id", filter=Q(reopened_count__gt=0)),
}
RESPONDED = {
    "responded": Count("id"),
    "response_mean": Avg("first_response_seconds"),
    "response_median": Median("first_response_seconds"),
}


def _fill(target: Figures, *, created=None, resolved=None, responded=None, backlog=None) -> None:
    if created is not None:
        target.tickets_created = created
    if resolved:
        target.tickets_resolved = resolved["resolved"]
        target.resolution_mean_seconds = _seconds(resolved["resolution_mean"])
        target.resolution_median_seconds = _seconds(resolved["resolution_median"])
        target.sla_compliance = _rate(resolved["compliant"], resolved["resolved"])
        target.promise_kept = _rate(resolved["kept"], resolved["promised"])
        target.reopen_rate = _rate(resolved["reopened"], resolved["resolved"])
    if responded:
        target.first_responses = responded["responded"]
        target.first_response_mean_seconds = _seconds(responded["response_mean"])
        target.first_response_median_seconds = _seconds(responded["response_median"])
    if backlog is not None:
        target.backlog = backlog


def _tickets(period: ServicePeriod) -> tuple[QuerySet, QuerySet, QuerySet, QuerySet]:
    """The tickets created, first resolved and first answered in the period, and those
    still open at its end (the backlog)."""
    since, until = period.bounds
    created = Ticket.objects.filter(created_at__gte=since, created_at__lt=until)
    resolved = Ticket.objects.filter(first_resolved_at__gte=since, first_resolved_at__lt=until)
    responded = Ticket.objects.filter(first_responded_at__gte=since, first_responded_at__lt=until)
    backlog = Ticket.objects.filter(created_at__lt=until).filter(
        Q(first_resolved_at__isnull=True) | Q(first_resolved_at__gte=until),
        Q(closed_at__isnull=True) | Q(closed_at__gte=until),
    )
    return created, resolved, responded, backlog


def service_totals(period: ServicePeriod, target: Figures | None = None) -> Figures:
    """The whole team's figures, in four aggregate queries."""
    created, resolved, responded, backlog = _tickets(period)
    figures = target if target is not None else Figures()
    _fill(
        figures,
        created=created.count(),
        resolved=resolved.aggregate(**RESOLVED),
        responded=responded.aggregate(**RESPONDED),
        backlog=backlog.count(),
    )
    return figures


def service_figures(period: ServicePeriod) -> ServiceFigures:
    """The figures for the whole team and per agent (the ticket's assignee), in eight
    aggregate queries whatever the number of tickets."""
    created, resolved, responded, backlog = _tickets(period)
    figures = ServiceFigures(start=period.start, end=period.end)
    service_totals(period, figures)
    agents: dict[int | None, AgentFigures] = {}

    def agent(row) -> AgentFigures:
        key = row["assignee"]
        if key not in agents:
            agents[key] = AgentFigures(agent_id=key, agent=row["assignee__username"] or "")
        return agents[key]

    by_agent = ("assignee", "assignee__username")
    for row in created.values(*by_agent).annotate(n=Count("id")).order_by():
        _fill(agent(row), created=row["n"])
    for row in resolved.values(*by_agent).annotate(**RESOLVED).order_by():
        _fill(agent(row), resolved=row)
    for row in responded.values(*by_agent).annotate(**RESPONDED).order_by():
        _fill(agent(row), responded=row)
    for row in backlog.values(*by_agent).annotate(n=Count("id")).order_by():
        _fill(agent(row), backlog=row["n"])
    figures.agents = sorted(agents.values(), key=lambda a: (a.agent_id is None, a.agent))
    return figures


def tickets_per_month(first_month: date, last_month: date) -> list[dict]:
    """Per calendar month (TIME_ZONE) from `first_month` to `last_month`: tickets opened,
    tickets first resolved and their mean resolution time (seconds). Two queries."""
    zone = metrics_zone()
    since, until = midnight(first_month), midnight(add_months(last_month, 1))
    months = {}
    month = first_month
    while month <= last_month:
        months[month] = {"month": month, "created": 0, "resolved": 0, "resolution_mean_seconds": None}
        month = add_months(month, 1)
    created = (
        Ticket.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(month=TruncMonth("created_at", tzinfo=zone))
        .values("month")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in created:
        months[row["month"].date()]["created"] = row["n"]
    resolved = (
        Ticket.objects.filter(first_resolved_at__gte=since, first_resolved_at__lt=until)
        .annotate(month=TruncMonth("first_resolved_at", tzinfo=zone))
        .values("month")
        .annotate(n=Count("id"), mean=Avg("resolution_seconds"))
        .order_by()
    )
    for row in resolved:
        months[row["month"].date()].update(resolved=row["n"], resolution_mean_seconds=_seconds(row["mean"]))
    return list(months.values())
