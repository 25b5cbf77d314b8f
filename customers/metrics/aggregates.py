"""Activity aggregates: kept in step with the orders as they change, read by the fast
path of the retention report, rebuildable from scratch.

PostgreSQL only. On another database nothing is maintained and the reports compute from
the orders table (plain.py), which is right there and fast enough for a demo.

How it works (docs/architecture.md has the why of each figure):
every customer *contributes* rows to three tables (customers_dailyactivity,
customers_returngap, customers_cohortactivity), computed from their counted orders
alone. Any change to a customer's orders goes through `orders_changing(...)`, which

1. takes a shared advisory lock (a rebuild takes it exclusively) and locks the customers
   (so two transactions never compute deltas from the same starting point),
2. writes the customers' current contributions into temporary tables with sign -1,
3. lets the caller change the orders,
4. writes the new contributions with sign +1,
5. adds the summed difference to the aggregate tables, in key order (so concurrent
   writers cannot deadlock on the counters).

Everything happens in the caller's transaction: the aggregates commit or roll back with
the orders, and a report never sees one without the other.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..models import AggregateState
from .figures import Cohort, RetentionFigures, cohort_from_counts
from .period import Period, month_start, months_between

logger = logging.getLogger(__name__)

# Held shared by every writer of orders, exclusively by a rebuild.
ADVISORY_LOCK_KEY = 0x43524D41  # "CRMA"

# Above this many customers the changed set goes into a temporary table (analyzed, so
# the planner knows its size); below it, an array parameter is cheaper.
ARRAY_LIMIT = 1000

TEMP_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS _m_customers (customer_id bigint PRIMARY KEY) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_daily (
    day date, orders bigint, revenue numeric, first_orders bigint, second_orders bigint,
    activations bigint, deactivations bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_gap (day date, gap integer, customers bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_cohort (cohort date, month date, customers bigint) ON COMMIT DELETE ROWS;
"""

# The contributions of the customers selected by {customers} (a WHERE condition on o),
# multiplied by %(sign)s, appended to the temporary tables. W and the time zone come
# from the state row: with no state row nothing is written (aggregates not built).
CONTRIBUTE = """
WITH s AS (
    SELECT window_days AS w, time_zone AS tz FROM customers_aggregatestate WHERE id = 1
),
o AS (
    SELECT o.id, o.customer_id, o.placed_at, o.total, (o.placed_at AT TIME ZONE s.tz)::date AS day
    FROM customers_order o CROSS JOIN s
    WHERE o.status NOT IN ('cancelled', 'refunded') AND {customers}
),
ranked AS (
    SELECT day, row_number() OVER (PARTITION BY customer_id ORDER BY placed_at, id) AS n FROM o
),
days AS (
    SELECT customer_id, day,
           day - lag(day) OVER by_day AS back_gap,
           lead(day) OVER by_day - day AS forward_gap,
           min(day) OVER (PARTITION BY customer_id) AS first_day
    FROM (SELECT DISTINCT customer_id, day FROM o) AS d
    WINDOW by_day AS (PARTITION BY customer_id ORDER BY day)
),
daily AS (
    SELECT day, count(*) AS orders, sum(total) AS revenue, 0 AS first_orders, 0 AS second_orders,
           0 AS activations, 0 AS deactivations
    FROM o GROUP BY day
    UNION ALL
    SELECT day, 0, 0, count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n = 2), 0, 0
    FROM ranked WHERE n <= 2 GROUP BY day
    UNION ALL
    -- a spell of activity starts the midnight after an order that follows a lapse
    SELECT day + 1, 0, 0, 0, 0, count(*), 0
    FROM days CROSS JOIN s WHERE back_gap IS NULL OR back_gap > s.w GROUP BY day
    UNION ALL
    -- and ends W days after its last order: inactive from the midnight after that
    SELECT day + s.w + 1, 0, 0, 0, 0, 0, count(*)
    FROM days CROSS JOIN s WHERE forward_gap IS NULL OR forward_gap > s.w GROUP BY day, s.w
),
to_daily AS (
    INSERT INTO _m_daily
    SELECT day, %(sign)s * orders, %(sign)s * revenue, %(sign)s * first_orders, %(sign)s * second_orders,
           %(sign)s * activations, %(sign)s * deactivations
    FROM daily
),
to_gap AS (
    INSERT INTO _m_gap
    SELECT day, back_gap, %(sign)s * count(*)
    FROM days CROSS JOIN s WHERE back_gap < 2 * s.w GROUP BY day, back_gap
)
INSERT INTO _m_cohort
SELECT date_trunc('month', first_day)::date, date_trunc('month', day)::date, %(sign)s * count(DISTINCT customer_id)
FROM days GROUP BY 1, 2
"""

# Add the summed deltas to the aggregates in key order; skip keys whose delta is zero.
APPLY = """
INSERT INTO customers_dailyactivity AS t
    (day, orders, revenue, first_orders, second_orders, activations, deactivations)
SELECT day, sum(orders), sum(revenue), sum(first_orders), sum(second_orders), sum(activations), sum(deactivations)
FROM _m_daily GROUP BY day
HAVING sum(orders) <> 0 OR sum(revenue) <> 0 OR sum(first_orders) <> 0 OR sum(second_orders) <> 0
    OR sum(activations) <> 0 OR sum(deactivations) <> 0
ORDER BY day
ON CONFLICT (day) DO UPDATE SET
    orders = t.orders + EXCLUDED.orders, revenue = t.revenue + EXCLUDED.revenue,
    first_orders = t.first_orders + EXCLUDED.first_orders, second_orders = t.second_orders + EXCLUDED.second_orders,
    activations = t.activations + EXCLUDED.activations, deactivations = t.deactivations + EXCLUDED.deactivations;

INSERT INTO customers_returngap AS t (day, gap, customers)
SELECT day, gap, sum(customers) FROM _m_gap GROUP BY day, gap HAVING sum(customers) <> 0 ORDER BY day, gap
ON CONFLICT (day, gap) DO UPDATE SET customers = t.customers + EXCLUDED.customers;

INSERT INTO customers_cohortactivity AS t (cohort, month, customers)
SELECT cohort, month, sum(customers) FROM _m_cohort GROUP BY cohort, month HAVING sum(customers) <> 0
ORDER BY cohort, month
ON CONFLICT (cohort, month) DO UPDATE SET customers = t.customers + EXCLUDED.customers;

DELETE FROM _m_daily; DELETE FROM _m_gap; DELETE FROM _m_cohort; DELETE FROM _m_customers;
"""


def is_supported() -> bool:
    return connection.vendor == "postgresql"


class _ChangedCustomers:
    """The customers whose orders are changing, as the SQL condition that selects them."""

    def __init__(self, cursor, customer_ids: list[int] | None, customer_ids_sql: str | None, params: dict):
        self.cursor = cursor
        if customer_ids_sql is not None:
            cursor.execute(
                f"INSERT INTO _m_customers (customer_id) SELECT DISTINCT id FROM ({customer_ids_sql}) AS c(id) "
                "ON CONFLICT DO NOTHING",
                params,
            )
            cursor.execute("ANALYZE _m_customers")
            self.condition, self.params = "o.customer_id IN (SELECT customer_id FROM _m_customers)", {}
            self.lock_condition = "id IN (SELECT customer_id FROM _m_customers)"
        elif len(customer_ids) > ARRAY_LIMIT:
            cursor.execute(
                "INSERT INTO _m_customers (customer_id) SELECT unnest(%(ids)s::bigint[]) ON CONFLICT DO NOTHING",
                {"ids": customer_ids},
            )
            cursor.execute("ANALYZE _m_customers")
            self.condition, self.params = "o.customer_id IN (SELECT customer_id FROM _m_customers)", {}
            self.lock_condition = "id IN (SELECT customer_id FROM _m_customers)"
        else:
            self.condition, self.params = "o.customer_id = ANY(%(ids)s::bigint[])", {"ids": customer_ids}
            self.lock_condition = "id = ANY(%(ids)s::bigint[])"

    def lock(self) -> None:
        # In id order, so that two writers locking overlapping sets cannot deadlock.
        self.cursor.execute(
            f"SELECT id FROM customers_customer WHERE {self.lock_condition} ORDER BY id FOR UPDATE", self.params
        )

    def contribute(self, sign: int) -> None:
        self.cursor.execute(CONTRIBUTE.format(customers=self.condition), {**self.params, "sign": sign})


@contextmanager
def orders_changing(
    customer_ids: Iterable[int] | None = None, *, customer_ids_sql: str | None = None, params: dict | None = None
) -> Iterator[None]:
    """Wrap every change to the orders of these customers (creation, update, deletion,
    a change of customer: name both). Keeps the aggregates exact, atomically with the
    change. `customer_ids_sql` selects the ids with SQL instead, for large imports.
    """
    if not is_supported():
        yield
        return
    ids = None if customer_ids_sql is not None else sorted({int(i) for i in customer_ids or ()})
    if ids == []:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        # One round trip. The temporary tables outlive the transaction (with persistent
        # connections, one set per connection), but their creation rolls back with it,
        # hence IF NOT EXISTS every time rather than a flag.
        cursor.execute(f"SELECT pg_advisory_xact_lock_shared({ADVISORY_LOCK_KEY});{TEMP_TABLES}")
        changed = _ChangedCustomers(cursor, ids, customer_ids_sql, params or {})
        changed.lock()
        changed.contribute(-1)
        yield
        changed.contribute(+1)
        cursor.execute(APPLY)


def rebuild(*, window_days: int | None = None, time_zone: str | None = None) -> None:
    """Recompute every aggregate from the orders, for the window and zone of the settings.

    Order writers wait while it runs (they need the advisory lock it holds exclusively);
    reports keep working, from the old aggregates until this commits.
    """
    window_days = window_days or settings.RETENTION_WINDOW_DAYS
    time_zone = time_zone or settings.TIME_ZONE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY}); SET LOCAL work_mem = '256MB';{TEMP_TABLES}")
        cursor.execute("TRUNCATE customers_dailyactivity, customers_returngap, customers_cohortactivity")
        AggregateState.objects.update_or_create(
            id=1, defaults={"window_days": window_days, "time_zone": time_zone, "rebuilt_at": timezone.now()}
        )
        cursor.execute(CONTRIBUTE.format(customers="TRUE"), {"sign": 1})
        cursor.execute(APPLY)


def _state() -> dict | None:
    if not is_supported():
        return None
    return AggregateState.objects.filter(id=1).values("window_days", "time_zone").first()


def fast_path_available(window_days: int) -> bool:
    """True when the aggregates were built for this window and today's time zone."""
    return _state() == {"window_days": window_days, "time_zone": settings.TIME_ZONE}


def aggregates_time_zone_current() -> bool:
    """True when the aggregates exist for today's time zone (whatever their window)."""
    state = _state()
    return state is not None and state["time_zone"] == settings.TIME_ZONE


DAILY_SUMS = """
SELECT
    coalesce(sum(activations - deactivations) FILTER (WHERE day <= %(start)s), 0),
    coalesce(sum(activations - deactivations), 0),
    coalesce(sum(first_orders) FILTER (WHERE day >= %(start)s AND day <= %(end)s), 0),
    coalesce(sum(first_orders) FILTER (WHERE day <= %(end)s), 0),
    coalesce(sum(second_orders) FILTER (WHERE day <= %(end)s), 0),
    coalesce(sum(orders) FILTER (WHERE day >= %(start)s AND day <= %(end)s), 0),
    coalesce(sum(revenue) FILTER (WHERE day >= %(start)s AND day <= %(end)s), 0)
FROM customers_dailyactivity
WHERE day <= %(after_end)s
"""

# Customers active at the start who ordered in the period: their first order day d in
# the period follows the previous one by a gap g with d - start < g <= d - start + W.
RETURNING = """
SELECT coalesce(sum(customers), 0) FROM customers_returngap
WHERE day >= %(start)s AND day <= %(end)s
  AND gap > day - %(start)s::date AND gap <= day - %(start)s::date + %(window)s
"""


def retention_figures_fast(period: Period) -> RetentionFigures:
    params = {
        "start": period.start,
        "end": period.end,
        "after_end": period.after_end,
        "window": period.window_days,
    }
    with connection.cursor() as cursor:
        cursor.execute(DAILY_SUMS, params)
        at_start, at_end, new, ever_ordered, repeaters, orders, revenue = cursor.fetchone()
        cursor.execute(RETURNING, params)
        (returning,) = cursor.fetchone()
    return RetentionFigures.from_counts(
        period,
        at_start=int(at_start),
        at_end=int(at_end),
        new=int(new),
        returning=int(returning),
        ever_ordered=int(ever_ordered),
        repeaters=int(repeaters),
        orders=int(orders),
        revenue=Decimal(revenue),
    )


COHORT_CELLS = """
SELECT cohort, month, customers FROM customers_cohortactivity
WHERE cohort >= %(first)s AND cohort <= %(last)s AND month <= %(last)s AND customers <> 0
ORDER BY cohort, month
"""


def cohorts_fast(period: Period) -> list[Cohort]:
    first, last = month_start(period.start), month_start(period.end)
    with connection.cursor() as cursor:
        cursor.execute(COHORT_CELLS, {"first": first, "last": last})
        rows = cursor.fetchall()
    matrix: dict = {}
    for cohort, month, customers in rows:
        matrix.setdefault(cohort, {})[months_between(cohort, month)] = customers
    return [
        cohort_from_counts(cohort, [offsets.get(k, 0) for k in range(months_between(cohort, last) + 1)])
        for cohort, offsets in sorted(matrix.items())
        if offsets.get(0)
    ]
