"""Retention figures computed straight from the orders table with SQL aggregates.

Always correct for any window, on any database Django supports; the fast path in
aggregates.py must give exactly the same numbers (the tests compare the two). Each
figure is one aggregate query; nothing loops over orders in Python.
"""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncMonth

from ..models import Order
from .figures import Cohort, RetentionFigures, cohort_from_counts
from .period import Period, add_months, metrics_zone, midnight, month_start, months_between


def active_customers_at(day, window_days: int):
    """Counted orders that make their customer active at `day` 00:00: those placed in
    [day - W days, day)."""
    return Order.objects.counted().placed_between(midnight(day - timedelta(days=window_days)), midnight(day))


def retention_figures_plain(period: Period) -> RetentionFigures:
    window = period.window_days
    period_start, period_end = midnight(period.start), midnight(period.after_end)
    counted = Order.objects.counted()

    active_at_start = active_customers_at(period.start, window)
    at_start = active_at_start.aggregate(n=Count("customer", distinct=True))["n"]
    at_end = active_customers_at(period.after_end, window).aggregate(n=Count("customer", distinct=True))["n"]

    first_orders = counted.values("customer").annotate(first=Min("placed_at"))
    new = first_orders.filter(first__gte=period_start, first__lt=period_end).count()

    in_period = counted.placed_between(period_start, period_end)
    returning = in_period.filter(customer__in=active_at_start.values("customer")).aggregate(
        n=Count("customer", distinct=True)
    )["n"]

    per_customer = counted.filter(placed_at__lt=period_end).values("customer").annotate(n=Count("id"))
    repeat = per_customer.aggregate(ever=Count("customer"), repeaters=Count("customer", filter=Q(n__gte=2)))

    totals = in_period.aggregate(orders=Count("id"), revenue=Sum("total"))
    return RetentionFigures.from_counts(
        period,
        at_start=at_start,
        at_end=at_end,
        new=new,
        returning=returning,
        ever_ordered=repeat["ever"],
        repeaters=repeat["repeaters"],
        orders=totals["orders"],
        revenue=totals["revenue"] or Decimal(0),
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
