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
5. appends the summed difference to the *pending* twin of each table.

Everything happens in the caller's transaction: the aggregates commit or roll back with
the orders, and a report never sees one without the other. Readers sum base and
pending rows; `fold_pending` (beat, every minute) moves pending rows into the base
tables, which changes no sum.
"""

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..models import AggregateState
from .contributions import DAILY_COUNTERS, contributions
from .figures import Cohort, RetentionFigures, cohort_from_counts
from .period import Period, month_start, months_between

logger = logging.getLogger(__name__)

# Held shared by every writer of orders, exclusively by a rebuild.
ADVISORY_LOCK_KEY = 0x43524D41  # "CRMA"

TEMP_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS _m_customers (customer_id bigint PRIMARY KEY, since timestamptz)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_prefix (
    customer_id bigint PRIMARY KEY, since_at timestamptz, earlier integer, last_day date, first_day date)
    ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_daily (
    day date, orders bigint, revenue numeric, first_orders bigint, second_orders bigint,
    activations bigint, deactivations bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_gap (day date, gap integer, customers bigint) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _m_cohort (cohort date, month date, customers bigint) ON COMMIT DELETE ROWS;
"""

# What both contribution queries below share, given the CTEs s (window and zone), o (the
# counted orders read), ranked (their first and second orders: rank n <= 2) and days
# (distinct order days with the gaps around them; `context` marks a day that is read
# only for the gap after it): the daily counters and the return gaps.
DAILY_AND_GAPS = """
daily AS (
    SELECT day, count(*) AS orders, sum(total) AS revenue, 0 AS first_orders, 0 AS second_orders,
           0 AS activations, 0 AS deactivations
    FROM o GROUP BY day
    UNION ALL
    SELECT day, 0, 0, count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n = 2), 0, 0
    FROM ranked GROUP BY day
    UNION ALL
    -- a spell of activity starts the midnight after an order that follows a lapse
    SELECT day + 1, 0, 0, 0, 0, count(*), 0
    FROM days CROSS JOIN s WHERE NOT context AND (back_gap IS NULL OR back_gap > s.w) GROUP BY day
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
    FROM days CROSS JOIN s WHERE NOT context AND back_gap < 2 * s.w GROUP BY day, back_gap
)
"""

# The contributions of the customers selected by {customers} (a WHERE condition on o),
# multiplied by %(sign)s, appended to the temporary tables. W and the time zone come
# from the state row: with no state row nothing is written (aggregates not built).
CONTRIBUTE = (
    """
WITH s AS (
    SELECT window_days AS w, time_zone AS tz FROM customers_aggregatestate WHERE id = 1
),
o AS (
    SELECT o.id, o.customer_id, o.placed_at, o.total, (o.placed_at AT TIME ZONE s.tz)::date AS day
    FROM customers_order o CROSS JOIN s
    WHERE o.status NOT IN ('cancelled', 'refunded') AND {customers}
),
ranked AS (
    SELECT day, n FROM (
        SELECT day, row_number() OVER (PARTITION BY customer_id ORDER BY placed_at, id) AS n FROM o
    ) AS r WHERE n <= 2
),
days AS (
    SELECT customer_id, day, false AS context,
           day - lag(day) OVER by_day AS back_gap,
           lead(day) OVER by_day - day AS forward_gap,
           min(day) OVER (PARTITION BY customer_id) AS first_day
    FROM (SELECT DISTINCT customer_id, day FROM o) AS d
    WINDOW by_day AS (PARTITION BY customer_id ORDER BY day)
),"""
    + DAILY_AND_GAPS
    + """INSERT INTO _m_cohort
SELECT date_trunc('month', first_day)::date, date_trunc('month', day)::date, %(sign)s * count(DISTINCT customer_id)
FROM days GROUP BY 1, 2
"""
)

# The same contributions for the customers in _m_customers, counting only from the local
# month of each one's `since` on (NULL: their whole history). `since` is the earliest
# moment of any order the change touches, before or after it, so everything earlier is
# the same before and after the change and cancels out of the difference: an import of
# last week's orders reads last month's orders of the customers, not three years of
# them. What the earlier orders decide is found once, before the change, by two index
# probes per customer (PREFIX, into _m_prefix): how many counted orders came before
# (0, 1 or 2 and more: it ranks the first and second orders), the last day before (the
# gap to the first day counted, and whether the spell that day started ends), and the
# first day ever (the cohort). Cutting at a month start keeps the months before and
# after apart, so cohort months never straddle the cut. Assumes local days never go
# backwards as time goes on, which holds unless a zone turns its clocks back across
# midnight at the start of a month.
PREFIX = """
WITH s AS (
    SELECT window_days AS w, time_zone AS tz FROM customers_aggregatestate WHERE id = 1
),
c AS (
    SELECT m.customer_id, date_trunc('month', m.since AT TIME ZONE s.tz) AT TIME ZONE s.tz AS since_at
    FROM _m_customers m CROSS JOIN s
)
INSERT INTO _m_prefix (customer_id, since_at, earlier, last_day, first_day)
SELECT c.customer_id, c.since_at, last_two.n, last_two.last_day,
    CASE WHEN last_two.n < 2 THEN last_two.last_day ELSE (
        SELECT (o.placed_at AT TIME ZONE s.tz)::date FROM customers_order o
        WHERE o.customer_id = c.customer_id AND o.placed_at < c.since_at
          AND o.status NOT IN ('cancelled', 'refunded')
        ORDER BY o.placed_at LIMIT 1
    ) END
FROM c CROSS JOIN s
CROSS JOIN LATERAL (
    -- the last two counted orders before the cut: how many (up to 2), and the last day
    SELECT count(*) AS n, max(day) AS last_day FROM (
        SELECT (o.placed_at AT TIME ZONE s.tz)::date AS day FROM customers_order o
        WHERE o.customer_id = c.customer_id AND o.placed_at < c.since_at
          AND o.status NOT IN ('cancelled', 'refunded')
        ORDER BY o.placed_at DESC LIMIT 2
    ) AS two
) AS last_two
"""

CONTRIBUTE_SINCE = (
    """
WITH s AS (
    SELECT window_days AS w, time_zone AS tz FROM customers_aggregatestate WHERE id = 1
),
o AS (
    SELECT o.id, o.customer_id, o.placed_at, o.total, (o.placed_at AT TIME ZONE s.tz)::date AS day, p.earlier
    FROM _m_prefix p JOIN customers_order o
        ON o.customer_id = p.customer_id AND o.placed_at >= coalesce(p.since_at, '-infinity')
    CROSS JOIN s
    WHERE o.status NOT IN ('cancelled', 'refunded')
),
ranked AS (
    SELECT day, n FROM (
        SELECT day, earlier + row_number() OVER (PARTITION BY customer_id ORDER BY placed_at, id) AS n FROM o
    ) AS r WHERE n <= 2
),
days AS (
    -- The days counted, and the last day before them as context: only its spell's end
    -- can change (the gap after it may); what else it contributes cancels out.
    SELECT customer_id, day, context,
           day - lag(day) OVER by_day AS back_gap,
           lead(day) OVER by_day - day AS forward_gap,
           min(day) OVER (PARTITION BY customer_id) AS first_day
    FROM (
        SELECT DISTINCT customer_id, day, false AS context FROM o
        UNION ALL
        SELECT customer_id, last_day, true FROM _m_prefix WHERE last_day IS NOT NULL
    ) AS d
    WINDOW by_day AS (PARTITION BY customer_id ORDER BY day)
),"""
    + DAILY_AND_GAPS
    + """INSERT INTO _m_cohort
SELECT date_trunc('month', coalesce(p.first_day, d.first_day))::date, date_trunc('month', d.day)::date,
       %(sign)s * count(DISTINCT d.customer_id)
FROM days d JOIN _m_prefix p USING (customer_id)
WHERE NOT d.context
GROUP BY 1, 2
"""
)

# The three aggregates: (table, key columns, counter columns).
TABLES = (
    (
        "customers_dailyactivity",
        ("day",),
        ("orders", "revenue", "first_orders", "second_orders", "activations", "deactivations"),
    ),
    ("customers_returngap", ("day", "gap"), ("customers",)),
    ("customers_cohortactivity", ("cohort", "month"), ("customers",)),
)
TEMP_OF = {
    "customers_dailyactivity": "_m_daily",
    "customers_returngap": "_m_gap",
    "customers_cohortactivity": "_m_cohort",
}


def _summed(source: str, keys: tuple, counters: tuple) -> str:
    """SELECT keys, sum(counters) FROM source, leaving out keys whose sums are all zero."""
    key_list = ", ".join(keys)
    sums = ", ".join(f"sum({c})" for c in counters)
    nonzero = " OR ".join(f"sum({c}) <> 0" for c in counters)
    return f"SELECT {key_list}, {sums} FROM {source} GROUP BY {key_list} HAVING {nonzero}"


def _upsert(table: str, keys: tuple, counters: tuple, select: str) -> str:
    """Add the rows of `select` to `table`, in key order (writers that lock the same
    counter rows lock them in the same order, so they cannot deadlock)."""
    columns = ", ".join(keys + counters)
    additions = ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in counters)
    return (
        f"INSERT INTO {table} AS t ({columns}) {select} ORDER BY {', '.join(keys)} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {additions}"
    )


# A writer appends its summed deltas to the *pending* tables: inserts never wait for one
# another, whereas adding to today's counters directly would queue every order of the
# day behind the row lock of the one before it until it commits.
APPLY = (
    ";".join(
        f"INSERT INTO {table}pending ({', '.join(keys + counters)}) {_summed(TEMP_OF[table], keys, counters)}"
        for table, keys, counters in TABLES
    )
    + "; DELETE FROM _m_daily; DELETE FROM _m_gap; DELETE FROM _m_cohort; DELETE FROM _m_customers;"
    + " DELETE FROM _m_prefix"
)

# A rebuild writes the contributions straight into the (empty) base tables.
APPLY_TO_BASE = (
    ";".join(
        _upsert(table, keys, counters, _summed(TEMP_OF[table], keys, counters)) for table, keys, counters in TABLES
    )
    + "; DELETE FROM _m_daily; DELETE FROM _m_gap; DELETE FROM _m_cohort"
)

# The fold moves the pending rows into the base tables in one statement per table, so a
# reader sees them on one side or the other, never both or neither; sums never change.
FOLD = ";".join(
    f"WITH moved AS (DELETE FROM {table}pending RETURNING {', '.join(keys + counters)}) "
    + _upsert(table, keys, counters, _summed("moved", keys, counters))
    for table, keys, counters in TABLES
)


def _both(table: str, columns: str, where: str) -> str:
    """The rows of a base table and of its pending twin, as one relation."""
    return (
        f"(SELECT {columns} FROM {table} WHERE {where} "
        f"UNION ALL SELECT {columns} FROM {table}pending WHERE {where}) AS {table.split('_')[1]}"
    )


def is_supported() -> bool:
    return connection.vendor == "postgresql"


# Up to this many customers, contributions are computed in Python from their orders
# (contributions.py); beyond, by set-based SQL through temporary tables.
FEW_CUSTOMERS = 50

COUNTED_ORDERS_OF = """
SELECT o.customer_id, (o.placed_at AT TIME ZONE s.time_zone)::date, o.total
FROM customers_order o CROSS JOIN customers_aggregatestate s
WHERE s.id = 1 AND o.customer_id = ANY(%(ids)s::bigint[]) AND o.status NOT IN ('cancelled', 'refunded')
ORDER BY o.customer_id, o.placed_at, o.id
"""

APPEND_DELTAS = """
INSERT INTO customers_dailyactivitypending
    (day, orders, revenue, first_orders, second_orders, activations, deactivations)
SELECT * FROM unnest(%(day)s::date[], %(orders)s::int[], %(revenue)s::numeric[], %(first_orders)s::int[],
    %(second_orders)s::int[], %(activations)s::int[], %(deactivations)s::int[]);
INSERT INTO customers_returngappending (day, gap, customers)
SELECT * FROM unnest(%(gap_day)s::date[], %(gap)s::int[], %(gap_customers)s::int[]);
INSERT INTO customers_cohortactivitypending (cohort, month, customers)
SELECT * FROM unnest(%(cohort)s::date[], %(month)s::date[], %(cohort_customers)s::int[])
"""


def _lock(cursor, lock_condition: str, params: dict, then: str = "") -> int | None:
    """Take the shared advisory lock, then the customers' rows in id order (two writers
    locking overlapping sets cannot deadlock), then run `then` if given, in one round
    trip. Returns the window W of the aggregates, None when they are not built (nothing
    to maintain then)."""
    cursor.execute(
        f"SELECT window_days, pg_advisory_xact_lock_shared({ADVISORY_LOCK_KEY})"
        " FROM customers_aggregatestate WHERE id = 1;"
        f"SELECT id FROM customers_customer WHERE {lock_condition} ORDER BY id FOR UPDATE"
        + (f";{then}" if then else ""),
        params,
    )
    row = cursor.fetchone()
    return row[0] if row else None


class _FewCustomers:
    """One customer or a few: read their counted orders before and after the change,
    compute both contributions in Python, append the difference. Three round trips."""

    def __init__(self, cursor, ids: list[int]):
        self.cursor, self.params = cursor, {"ids": ids}

    def _contributions(self):
        return contributions(self.cursor.fetchall(), self.window)

    def before(self) -> None:
        # The locks and the first read in one round trip; the read is a statement of its
        # own, so it sees whatever a writer we waited for has committed.
        self.window = _lock(self.cursor, "id = ANY(%(ids)s::bigint[])", self.params, then=COUNTED_ORDERS_OF)
        if self.window is not None:
            self.cursor.nextset()
            self.cursor.nextset()
            self.start = self._contributions()

    def after(self) -> None:
        if self.window is None:
            return
        self.cursor.execute(COUNTED_ORDERS_OF, self.params)
        delta = self._contributions().minus(self.start)
        if delta.is_empty():
            return
        daily = sorted(delta.daily.items())
        columns = list(zip(*(values for _day, values in daily), strict=True)) if daily else [()] * 6
        gaps, cohorts = sorted(delta.gaps.items()), sorted(delta.cohorts.items())
        self.cursor.execute(
            APPEND_DELTAS,
            {
                "day": [day for day, _values in daily],
                **{name: list(column) for name, column in zip(DAILY_COUNTERS, columns, strict=True)},
                "gap_day": [day for (day, _gap), _n in gaps],
                "gap": [gap for (_day, gap), _n in gaps],
                "gap_customers": [n for _key, n in gaps],
                "cohort": [cohort for (cohort, _month), _n in cohorts],
                "month": [month for (_cohort, month), _n in cohorts],
                "cohort_customers": [n for _key, n in cohorts],
            },
        )


class _ManyCustomers:
    """Hundreds of thousands of customers (imports): the same, set-based, in SQL through
    temporary tables, each customer from the month of the earliest order touched on."""

    def __init__(self, cursor, ids: list[int] | None, ids_sql: str | None, params: dict):
        self.cursor = cursor
        self.window = None
        # The temporary tables outlive the transaction (with persistent connections, one
        # set per connection), but their creation rolls back with it, hence IF NOT EXISTS.
        cursor.execute(TEMP_TABLES)
        if ids_sql is not None:
            # One row per customer; a NULL since anywhere means the whole history.
            cursor.execute(
                "INSERT INTO _m_customers (customer_id, since)"
                " SELECT id, CASE WHEN bool_or(since IS NULL) THEN NULL ELSE min(since) END"
                f" FROM ({ids_sql}) AS c(id, since) GROUP BY id",
                params,
            )
        else:
            cursor.execute(
                "INSERT INTO _m_customers (customer_id) SELECT unnest(%(ids)s::bigint[]) ON CONFLICT DO NOTHING",
                {"ids": ids},
            )
        cursor.execute("ANALYZE _m_customers")  # so that the planner knows how many

    def before(self) -> None:
        self.window = _lock(self.cursor, "id IN (SELECT customer_id FROM _m_customers)", {})
        if self.window is not None:
            # What came before the cut is the same before and after the change: probed once.
            self.cursor.execute(PREFIX)
            self.cursor.execute("ANALYZE _m_prefix")
            self.cursor.execute(CONTRIBUTE_SINCE, {"sign": -1})

    def after(self) -> None:
        if self.window is not None:
            self.cursor.execute(CONTRIBUTE_SINCE, {"sign": 1})
            self.cursor.execute(APPLY)


@contextmanager
def orders_changing(
    customer_ids: Iterable[int] | None = None, *, customer_ids_sql: str | None = None, params: dict | None = None
) -> Iterator[None]:
    """Wrap every change to the orders of these customers (creation, update, deletion,
    a change of customer: name both). Keeps the aggregates exact, atomically with the
    change.

    `customer_ids_sql` selects the customers with SQL instead, for large imports, as
    rows (customer id, since): `since` is the earliest `placed_at` of any of that
    customer's orders the change touches, as it is before or after the change, or NULL
    when unknown. The customer's orders before the local month of `since` are then
    read only as far as two index probes need (PREFIX, CONTRIBUTE_SINCE).
    """
    if not is_supported():
        yield
        return
    ids = None if customer_ids_sql is not None else sorted({int(i) for i in customer_ids or ()})
    if ids == []:
        yield
        return
    # Part of the caller's transaction (no savepoint of its own): if anything fails, the
    # caller's changes must not commit without their deltas anyway.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if ids is not None and len(ids) <= FEW_CUSTOMERS:
            changed = _FewCustomers(cursor, ids)
        else:
            changed = _ManyCustomers(cursor, ids, customer_ids_sql, params or {})
        changed.before()
        yield
        changed.after()


def rebuild(*, window_days: int | None = None, time_zone: str | None = None) -> None:
    """Recompute every aggregate from the orders, for the window and zone of the settings.

    Order writers wait while it runs (they need the advisory lock it holds exclusively);
    reports keep working, from the old aggregates until this commits.
    """
    window_days = window_days or settings.RETENTION_WINDOW_DAYS
    time_zone = time_zone or settings.TIME_ZONE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY}); SET LOCAL work_mem = '256MB';{TEMP_TABLES}")
        cursor.execute("TRUNCATE " + ", ".join(f"{table}, {table}pending" for table, _k, _c in TABLES))
        AggregateState.objects.update_or_create(
            id=1, defaults={"window_days": window_days, "time_zone": time_zone, "rebuilt_at": timezone.now()}
        )
        cursor.execute(CONTRIBUTE.format(customers="TRUE"), {"sign": 1})
        cursor.execute(APPLY_TO_BASE)


def fold_pending() -> None:
    """Move the writers' pending deltas into the base tables (beat runs this every
    minute). Readers give the same numbers before and after; they only read fewer rows.
    """
    if not is_supported():
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock_shared({ADVISORY_LOCK_KEY}); {FOLD}")


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


DAILY_COLUMNS = "day, activations, deactivations, first_orders, second_orders, orders, revenue"
DAILY_SUMS = f"""
SELECT
    coalesce(sum(activations - deactivations) FILTER (WHERE day <= %(start)s), 0),
    coalesce(sum(activations - deactivations), 0),
    coalesce(sum(first_orders) FILTER (WHERE day >= %(start)s AND day <= %(end)s), 0),
    coalesce(sum(first_orders) FILTER (WHERE day <= %(end)s), 0),
    coalesce(sum(second_orders) FILTER (WHERE day <= %(end)s), 0),
    coalesce(sum(orders) FILTER (WHERE day >= %(start)s AND day <= %(end)s), 0),
    coalesce(sum(revenue) FILTER (WHERE day >= %(start)s AND day <= %(end)s), 0)
FROM {_both("customers_dailyactivity", DAILY_COLUMNS, "day <= %(after_end)s")}
"""

# Customers active at the start who ordered in the period: their first order day d in
# the period follows the previous one by a gap g with d - start < g <= d - start + W.
RETURNING = f"""
SELECT coalesce(sum(customers), 0)
FROM {_both("customers_returngap", "day, gap, customers", "day >= %(start)s AND day <= %(end)s")}
WHERE gap > day - %(start)s::date AND gap <= day - %(start)s::date + %(window)s
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


COHORT_WHERE = "cohort >= %(first)s AND cohort <= %(last)s AND month <= %(last)s"
COHORT_CELLS = f"""
SELECT cohort, month, sum(customers)
FROM {_both("customers_cohortactivity", "cohort, month, customers", COHORT_WHERE)}
GROUP BY cohort, month HAVING sum(customers) <> 0
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
