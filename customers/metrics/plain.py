"""Retention figures computed straight from the orders table with SQL aggregates.

Always correct for any window, on any database Django supports; the fast path in
aggregates.py must give exactly the same numbers (the tests compare the two). The
period figures are one query; nothing loops over orders in Python.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, Count, Max, Min, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import TruncMonth

from ..models import Order
from .figures import Cohort, RetentionFigures, cohort_from_counts
from .period import Period, add_months, metrics_zone, midnight, month_start, months_between


def retention_figures_plain(period: Period) -> RetentionFigures:
    """One pass over the counted orders placed before the period's end, grouped by
    customer, then one aggregate over the customers: the single query a person would
    write by hand, through the ORM so that it runs on any database."""
    period_start, period_end = midnight(period.start), midnight(period.after_end)
    start_window = midnight(period.start - timedelta(days=period.window_days))
    end_window = midnight(period.after_end - timedelta(days=period.window_days))

    def ordered(*, since, until=None):
        """1 when the customer has a counted order in [since, until), else 0."""
        condition = Q(placed_at__gte=since) if until is None else Q(placed_at__gte=since, placed_at__lt=until)
        return Max(Case(When(condition, then=Value(1)), default=Value(0)))

    per_customer = (
        Order.objects.counted()
        .filter(placed_at__lt=period_end)
        .values("customer")
        .annotate(
            first_order_at=Min("placed_at"),
            orders_so_far=Count("id"),
            active_at_start=ordered(since=start_window, until=period_start),
            active_at_end=ordered(since=end_window),
            ordered_in_period=ordered(since=period_start),
            period_orders=Count("id", filter=Q(placed_at__gte=period_start)),
            period_revenue=Sum("total", filter=Q(placed_at__gte=period_start)),
        )
    )
    counts = per_customer.aggregate(
        at_start=Count("customer", filter=Q(active_at_start=1)),
        at_end=Count("customer", filter=Q(active_at_end=1)),
        new=Count("customer", filter=Q(first_order_at__gte=period_start)),
        returning=Count("customer", filter=Q(active_at_start=1, ordered_in_period=1)),
        ever_ordered=Count("customer"),
        repeaters=Count("customer", filter=Q(orders_so_far__gte=2)),
        orders=Sum("period_orders"),
        revenue=Sum("period_revenue"),
    )
    return RetentionFigures.from_counts(
        period,
        at_start=counts["at_start"],
        at_end=counts["at_end"],
        new=counts["new"],
        returning=counts["returning"],
        ever_ordered=counts["ever_ordered"],
        repeaters=counts["repeaters"],
        orders=counts["orders"] or 0,
        revenue=counts["revenue"] or Decimal(0),
    )


def cohorts_plain(period: Period) -> list[Cohort]:
    """Cohorts by the month of their first counted order, for the months from the one
    holding `start` to the one holding `end`, each followed up to `end`'s month."""
    zone = metrics_zone()
    first_month, last_month = month_start(period.start), month_start(period.end)
    first_order_at = (
        Order.objects.counted()
        .filter(customer=OuterRef("customer"))
        .order_by()
        .values("customer")
        .annotate(first=Min("placed_at"))
        .values("first")
    )
    cells = (
        Order.objects.counted()
        .placed_between(midnight(first_month), midnight(add_months(last_month, 1)))
        .annotate(
            cohort=TruncMonth(Subquery(first_order_at), tzinfo=zone),
            month=TruncMonth("placed_at", tzinfo=zone),
        )
        .filter(cohort__gte=midnight(first_month))
        .values("cohort", "month")
        .annotate(customers=Count("customer", distinct=True))
        .order_by("cohort", "month")
    )
    matrix: dict = {}
    for cell in cells:
        cohort, month = cell["cohort"].date(), cell["month"].date()
        matrix.setdefault(cohort, {})[months_between(cohort, month)] = cell["customers"]
    return [
        cohort_from_counts(cohort, [offsets.get(k, 0) for k in range(months_between(cohort, last_month) + 1)])
        for cohort, offsets in sorted(matrix.items())
    ]
