"""The benchmark data set: a million customers and about ten million orders over three
years (2023-2025), made in SQL with a fixed seed, then the aggregates rebuilt.

40% of customers buy once; the others buy every 5-65 days on average for an
exponentially distributed number of orders; 3% of orders are cancelled and 2% refunded.
Kept between runs (the `bench_meta` table says what was made).
"""

import time

from django.core.management import call_command
from django.db import connection

CUSTOMERS = 1_000_000
SPREAD = 42  # mean extra orders of a repeat buyer; tuned for about ten million orders
SEED = 0.42
FIRST_DAY = "2023-01-01"
DAYS = 1095
VERSION = f"v1:{CUSTOMERS}:{SPREAD}:{SEED}:{FIRST_DAY}:{DAYS}"

CUSTOMERS_SQL = f"""
INSERT INTO customers_customer (external_id, email, name, phone, locale, time_zone, acquisition_channel,
    marketing_consent, survey_consent, first_seen, created_at, updated_at)
SELECT 'B' || lpad(g::text, 7, '0'), 'customer' || g || '@bench.example', 'Customer ' || g, '',
    (ARRAY['en', 'da', 'ru', 'ko', 'zh-hans'])[1 + g % 5], 'UTC',
    (ARRAY['organic', 'paid_search', 'social', 'email', 'referral', 'marketplace', 'retail'])[1 + g % 7],
    g % 2 = 0, g % 3 <> 0, '{FIRST_DAY}'::timestamptz, now(), now()
FROM generate_series(1, {CUSTOMERS}) AS g
"""

ORDERS_SQL = f"""
INSERT INTO customers_order (external_id, customer_id, placed_at, total, currency, status, discount_code,
    created_at, updated_at)
SELECT 'BO' || lpad((row_number() OVER ())::text, 8, '0'), c.id,
    '{FIRST_DAY} 00:00+00'::timestamptz + (c.start_day + k * c.gap) * interval '1 day'
        + random() * interval '86399 seconds',
    round((10 + random() * 190)::numeric, 2), 'EUR',
    CASE WHEN random() < 0.03 THEN 'cancelled' WHEN random() < 0.0206 THEN 'refunded' ELSE 'fulfilled' END,
    '', now(), now()
FROM (
    SELECT id, floor(random() * {DAYS})::int AS start_day,
        CASE WHEN random() < 0.4 THEN 1 ELSE 2 + floor(-ln(1 - random()) * {SPREAD})::int END AS orders,
        5 + floor(random() * 60)::int AS gap
    FROM customers_customer WHERE external_id LIKE 'B%'
) AS c
CROSS JOIN LATERAL generate_series(0, c.orders - 1) AS k
WHERE c.start_day + k * c.gap < {DAYS}
"""


def _made() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
        cursor.execute("SELECT value FROM bench_meta WHERE key = 'dataset'")
        row = cursor.fetchone()
    return row[0] if row else None


def _indexes_off(cursor) -> list[str]:
    """Drop the orders' secondary indexes (loading is several times faster without them);
    return the statements that make them again."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'customers_order'::regclass AND contype = 'u'"
    )
    statements = [f"ALTER TABLE customers_order ADD CONSTRAINT {name} {definition}" for name, definition in cursor]
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_order'"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'customers_order'::regclass)"
    )
    indexes = list(cursor)
    statements += [definition for _name, definition in indexes]
    for statement in statements:
        if statement.startswith("ALTER TABLE"):
            cursor.execute(f"ALTER TABLE customers_order DROP CONSTRAINT {statement.split()[5]}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return statements


def ensure(report) -> None:
    """Make the data set unless this database holds it already."""
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_ping (id bigserial PRIMARY KEY, order_id text, body text)")
    if _made() == VERSION:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM customers_order")
            (orders,) = cursor.fetchone()
        report.say(f"Data set {VERSION} present: {CUSTOMERS:,} customers, {orders:,} orders.")
        return
    report.say(f"Making the data set ({CUSTOMERS:,} customers, about 10,000,000 orders); this takes minutes.")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE customers_orderline, customers_order, customers_customer, customers_dailyactivity,"
            " customers_returngap, customers_cohortactivity, bench_ping CASCADE"
        )
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(f"SELECT setseed({SEED})")
        cursor.execute(CUSTOMERS_SQL)
        restore = _indexes_off(cursor)
        cursor.execute(ORDERS_SQL)
        for statement in restore:
            cursor.execute(statement)
        cursor.execute(
            "UPDATE customers_customer c SET first_seen = f.first FROM"
            " (SELECT customer_id, min(placed_at) AS first FROM customers_order GROUP BY customer_id) f"
            " WHERE c.id = f.customer_id"
        )
        cursor.execute("VACUUM ANALYZE customers_customer")
        cursor.execute("VACUUM ANALYZE customers_order")
        cursor.execute("SELECT count(*) FROM customers_order")
        (orders,) = cursor.fetchone()
    report.say(f"  made in {time.perf_counter() - started:.0f} s: {orders:,} orders")

    from customers.metrics import rebuild

    started = time.perf_counter()
    rebuild()
    seconds = time.perf_counter() - started
    report.figure("rebuild_seconds", seconds, f"  rebuild_metrics over {orders:,} orders: {seconds:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE customers_dailyactivity, customers_returngap, customers_cohortactivity")
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('dataset', %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [VERSION],
        )
