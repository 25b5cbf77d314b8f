"""retention_report and the cohort matrix on 1M customers / 10M orders, against the
plain SQL on PostgreSQL and against pandas and DuckDB holding the same orders in memory.

Every way must give the same numbers; the benchmark checks that before it times."""

import io
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import numpy as np
import pandas as pd
from django.db import connection

from customers.metrics import RetentionFigures, cohorts, fold_pending, period_validate, retention_figures
from customers.metrics.aggregates import retention_figures_fast
from customers.metrics.plain import retention_figures_plain

from .common import best_of, timings

EPOCH = date(1970, 1, 1)
QUARTERS = [
    (date(2025, 1, 1), date(2025, 3, 31)),
    (date(2025, 4, 1), date(2025, 6, 30)),
    (date(2025, 7, 1), date(2025, 9, 30)),
    (date(2025, 10, 1), date(2025, 12, 31)),
    (date(2024, 4, 1), date(2024, 6, 30)),
    (date(2023, 10, 1), date(2023, 12, 31)),
]
COHORT_PERIOD = (date(2023, 1, 1), date(2025, 12, 31))  # 36 cohorts × up to 36 months

# The single best query a person would write on PostgreSQL: one pass grouped by customer.
PLAIN_SQL = """
SELECT count(*) FILTER (WHERE active_at_start), count(*) FILTER (WHERE active_at_end),
       count(*) FILTER (WHERE first_at >= %(start)s), count(*) FILTER (WHERE active_at_start AND in_period),
       count(*), count(*) FILTER (WHERE n >= 2), coalesce(sum(period_orders), 0), coalesce(sum(period_revenue), 0)
FROM (
    SELECT customer_id, min(placed_at) AS first_at, count(*) AS n,
           bool_or(placed_at >= %(start_window)s AND placed_at < %(start)s) AS active_at_start,
           bool_or(placed_at >= %(end_window)s) AS active_at_end,
           bool_or(placed_at >= %(start)s) AS in_period,
           count(*) FILTER (WHERE placed_at >= %(start)s) AS period_orders,
           sum(total) FILTER (WHERE placed_at >= %(start)s) AS period_revenue
    FROM customers_order
    WHERE status NOT IN ('cancelled', 'refunded') AND placed_at < %(after_end)s
    GROUP BY customer_id
) AS per_customer
"""

COHORT_SQL = """
WITH counted AS (
    SELECT customer_id, date_trunc('month', placed_at AT TIME ZONE 'UTC') AS month
    FROM customers_order WHERE status NOT IN ('cancelled', 'refunded')
), first AS (SELECT customer_id, min(month) AS cohort FROM counted GROUP BY customer_id),
months AS (SELECT DISTINCT customer_id, month FROM counted WHERE month < %(after)s)
SELECT cohort, month, count(*) FROM first JOIN months USING (customer_id)
WHERE cohort >= %(first)s GROUP BY cohort, month
"""

DUCKDB_FIGURES = """
SELECT count(*) FILTER (WHERE active_at_start), count(*) FILTER (WHERE active_at_end),
       count(*) FILTER (WHERE first_day >= $start), count(*) FILTER (WHERE active_at_start AND in_period),
       count(*), count(*) FILTER (WHERE n >= 2), coalesce(sum(period_orders), 0), coalesce(sum(period_revenue), 0)
FROM (
    SELECT customer, min(day) AS first_day, count(*) AS n,
           bool_or(day >= $start - $window AND day < $start) AS active_at_start,
           bool_or(day >= $after_end - $window) AS active_at_end,
           bool_or(day >= $start) AS in_period,
           count(*) FILTER (WHERE day >= $start) AS period_orders,
           sum(total) FILTER (WHERE day >= $start) AS period_revenue
    FROM orders WHERE day < $after_end GROUP BY customer
)
"""

DUCKDB_COHORTS = """
WITH first AS (SELECT customer, min(month) AS cohort FROM orders GROUP BY customer),
months AS (SELECT DISTINCT customer, month FROM orders)
SELECT cohort, month, count(*) FROM first JOIN months USING (customer) GROUP BY cohort, month
"""


def day_number(day: date) -> int:
    return (day - EPOCH).days


def load_counted_orders() -> pd.DataFrame:
    """The counted orders as pandas holds them: customer, day (days since 1970), month
    (months since 1970), total."""
    buffer = io.BytesIO()
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT customer_id, (placed_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01', total"
            " FROM customers_order WHERE status NOT IN ('cancelled', 'refunded')) TO STDOUT"
        ) as copy,
    ):
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    frame = pd.read_csv(
        buffer, sep="\t", header=None, names=["customer", "day", "total"], dtype={"customer": "int64", "day": "int32"}
    )
    days = frame["day"].to_numpy().astype("datetime64[D]")
    frame["month"] = days.astype("datetime64[M]").astype("int32")
    return frame


def pandas_figures(frame: pd.DataFrame, start: int, after_end: int, window: int) -> tuple:
    """The same figures with pandas (a person's straightforward vectorised version)."""
    before_end = frame[frame["day"].to_numpy() < after_end]
    day = before_end["day"].to_numpy()
    customer = before_end["customer"].to_numpy()
    per_customer = before_end.groupby("customer", sort=False)["day"].agg(["min", "size"])
    active_start = np.unique(customer[(day >= start - window) & (day < start)])
    active_end = np.unique(customer[day >= after_end - window])
    in_period = day >= start
    buyers = np.unique(customer[in_period])
    return (
        len(active_start),
        len(active_end),
        int((per_customer["min"].to_numpy() >= start).sum()),
        int(np.isin(buyers, active_start, assume_unique=True).sum()),
        len(per_customer),
        int((per_customer["size"].to_numpy() >= 2).sum()),
        int(in_period.sum()),
        round(float(before_end["total"].to_numpy()[in_period].sum()), 2),
    )


def pandas_cohorts(frame: pd.DataFrame) -> dict:
    pairs = frame[["customer", "month"]].drop_duplicates()
    first = pairs.groupby("customer", sort=False)["month"].min().rename("cohort")
    cells = pairs.join(first, on="customer").groupby(["cohort", "month"], sort=False).size()
    return {(int(c), int(m)): int(n) for (c, m), n in cells.items()}


def figures_from(period, row) -> RetentionFigures:
    """The published figures from a row of counts, in the order the queries return them."""
    at_start, at_end, new, returning, ever_ordered, repeaters, orders, revenue = row
    return RetentionFigures.from_counts(
        period,
        at_start=int(at_start),
        at_end=int(at_end),
        new=int(new),
        returning=int(returning),
        ever_ordered=int(ever_ordered),
        repeaters=int(repeaters),
        orders=int(orders),
        revenue=Decimal(str(round(float(revenue), 2))),
    )


def run(report) -> None:
    window = 365
    report.say("\n## retention_report, any quarter, default window (365 days)")
    first, last = QUARTERS[1]
    period = period_validate(start=first, end=last, window_days=window)
    fast, plain = retention_figures_fast(period), retention_figures_plain(period)
    assert fast == plain, (fast, plain)

    def worst_quarter() -> float:
        worst = 0.0
        for first, last in QUARTERS:
            period = period_validate(start=first, end=last, window_days=window)
            measured = timings(lambda period=period: retention_figures(period), repeat=30)
            worst = max(worst, measured["median"])
            report.say(
                f"  {first}…{last}: median {measured['median'] * 1000:.1f} ms, p95 {measured['p95'] * 1000:.1f} ms"
            )
        return worst

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM customers_dailyactivitypending)"
            " + (SELECT count(*) FROM customers_returngappending)"
            " + (SELECT count(*) FROM customers_cohortactivitypending)"
        )
        (pending,) = cursor.fetchone()
    report.say(f"  with the {pending:,} pending delta rows earlier writes left (not yet folded):")
    unfolded = worst_quarter()
    report.figure(
        "retention_fast_unfolded_worst_median_s", unfolded, f"  worst quarter median: {unfolded * 1000:.1f} ms"
    )
    fold_pending()
    report.say("  after the fold that beat runs every minute:")
    worst = worst_quarter()
    report.figure("retention_fast_worst_median_s", worst, f"  fast path, worst quarter median: {worst * 1000:.1f} ms")

    first, last = QUARTERS[1]
    params = {
        "start": first,
        "after_end": last + timedelta(days=1),
        "start_window": first - timedelta(days=window),
        "end_window": last + timedelta(days=1 - window),
    }

    def plain_sql():
        with connection.cursor() as cursor:
            cursor.execute(PLAIN_SQL, params)
            return cursor.fetchone()

    sql_seconds, sql_row = best_of(plain_sql, repeat=2)
    assert figures_from(period_validate(start=first, end=last), sql_row) == fast
    report.figure("retention_plain_sql_s", sql_seconds, f"  hand-written plain SQL: {sql_seconds:.2f} s")

    report.say("  loading the counted orders into pandas and DuckDB (not timed as part of any figure)")
    frame = load_counted_orders()
    duck = duckdb.connect()
    duck.register("frame", frame)
    duck.execute("CREATE TABLE orders AS SELECT * FROM frame")
    duck.unregister("frame")
    start, after_end = day_number(first), day_number(last + timedelta(days=1))
    pandas_seconds, pandas_row = best_of(lambda: pandas_figures(frame, start, after_end, window), repeat=3)
    duck_seconds, duck_row = best_of(
        lambda: duck.execute(DUCKDB_FIGURES, {"start": start, "after_end": after_end, "window": window}).fetchone(),
        repeat=3,
    )
    quarter = period_validate(start=first, end=last)
    # Revenue in pandas and DuckDB is a float sum here: compared to the cent, apart.
    for name, row in (("pandas", pandas_row), ("DuckDB", duck_row)):
        theirs = figures_from(quarter, row)
        assert abs(theirs.revenue - fast.revenue) <= Decimal("0.05"), (name, theirs.revenue, fast.revenue)
        assert replace(theirs, revenue=fast.revenue, average_order_value=fast.average_order_value) == fast, name
    report.figure("retention_pandas_s", pandas_seconds, f"  pandas, data in memory: {pandas_seconds:.3f} s")
    report.figure("retention_duckdb_s", duck_seconds, f"  DuckDB, data in memory: {duck_seconds:.3f} s")
    report.say(
        f"  ratios: fast/DuckDB {worst / duck_seconds:.3f}, fast/pandas {worst / pandas_seconds:.3f},"
        f" fast/plain SQL {worst / sql_seconds:.4f}"
    )

    other = 180
    period = period_validate(start=first, end=last, window_days=other)
    ours_seconds, _ = best_of(lambda: retention_figures(period), repeat=2)
    params_other = {
        **params,
        "start_window": first - timedelta(days=other),
        "end_window": last + timedelta(days=1 - other),
    }

    def plain_sql_other():
        with connection.cursor() as cursor:
            cursor.execute(PLAIN_SQL, params_other)
            return cursor.fetchone()

    sql_other_seconds, _ = best_of(plain_sql_other, repeat=2)
    report.figure(
        "retention_other_window_ratio",
        ours_seconds / sql_other_seconds,
        f"  window {other} days (no aggregates): ours {ours_seconds:.2f} s, plain SQL {sql_other_seconds:.2f} s,"
        f" ratio {ours_seconds / sql_other_seconds:.2f}",
    )

    report.say("\n## The cohort matrix, 36 cohorts × up to 36 months")
    period = period_validate(start=COHORT_PERIOD[0], end=COHORT_PERIOD[1], for_cohorts=True)
    rows = cohorts(period)
    assert len(rows) == 36 and len(rows[0].retention) == 36
    measured = timings(lambda: cohorts(period), repeat=20)
    report.figure(
        "cohorts_fast_median_s", measured["median"], f"  fast path: median {measured['median'] * 1000:.1f} ms"
    )

    def cohort_sql():
        with connection.cursor() as cursor:
            cursor.execute(COHORT_SQL, {"first": COHORT_PERIOD[0], "after": date(2026, 1, 1)})
            return cursor.fetchall()

    cohort_sql_seconds, cells = best_of(cohort_sql, repeat=1)
    by_sql = {(c.date().replace(day=1), m.date().replace(day=1)): n for c, m, n in cells}
    assert all(by_sql[(row.month, row.month)] == row.customers for row in rows)
    report.figure("cohorts_plain_sql_s", cohort_sql_seconds, f"  hand-written plain SQL: {cohort_sql_seconds:.2f} s")
    pandas_cohort_seconds, pandas_cells = best_of(lambda: pandas_cohorts(frame), repeat=2)
    duck_cohort_seconds, _ = best_of(lambda: duck.execute(DUCKDB_COHORTS).fetchall(), repeat=3)
    first_month = (COHORT_PERIOD[0].year - 1970) * 12 + COHORT_PERIOD[0].month - 1  # months since 1970
    assert pandas_cells[(first_month, first_month)] == rows[0].customers
    report.figure("cohorts_pandas_s", pandas_cohort_seconds, f"  pandas, data in memory: {pandas_cohort_seconds:.2f} s")
    report.figure("cohorts_duckdb_s", duck_cohort_seconds, f"  DuckDB, data in memory: {duck_cohort_seconds:.2f} s")
    report.say(
        f"  ratios: fast/DuckDB {measured['median'] / duck_cohort_seconds:.4f},"
        f" fast/pandas {measured['median'] / pandas_cohort_seconds:.4f}"
    )
