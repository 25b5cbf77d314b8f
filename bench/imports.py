"""import_orders of a CSV of a million orders (a quarter of them from new customers) into
the 10M-order database, against two raw PostgreSQL COPYs of the same rows: into a new
table of the file's columns (no indexes, nothing else in it), and into the real
customers and orders tables as they are (9.9M orders, their indexes, foreign keys
checked), with the customer ids already resolved, rolled back. Peak memory for two file
sizes.

Afterwards the imported rows are deleted and the aggregates rebuilt, so the data set is
as it was."""

import csv
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from customers.metrics import rebuild
from loyalty.models import Account

ROOT = Path(__file__).resolve().parent.parent
HEADER = "order_id,customer_id,placed_at,total,currency,status,customer_email,customer_name\n"

RUN_IMPORT = """
import sys, time, django
django.setup()
from django.core.management import call_command
started = time.perf_counter()
call_command("import_orders", sys.argv[1], no_progress=True)
print("SECONDS", time.perf_counter() - started)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the
# benchmark process this one was started from (which holds the pandas data).
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("MAXRSS_KB", peak.split()[1])
"""


def write_file(path: Path, orders: int, run_id: str) -> None:
    rng = random.Random(11)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    new_customers = orders // 8  # a quarter of the orders, two each
    with path.open("w") as out:
        out.write(HEADER)
        for number in range(orders):
            if number % 4 == 0:
                customer = number // 4 % new_customers
                customer_id = f"IMPC-{run_id}-{customer}"
                email, name = f"imp{run_id}.{customer}@bench.example", f"New customer {customer}"
            else:
                customer_id, email, name = f"B{rng.randint(1, 1_000_000):07d}", "", ""
            moment = start + timedelta(seconds=rng.randint(0, 300 * 86400))
            status = "refunded" if rng.random() < 0.02 else "paid"
            out.write(
                f"IMP-{run_id}-{number},{customer_id},{moment.isoformat()},{rng.randint(500, 30000) / 100:.2f},"
                f"EUR,{status},{email},{name}\n"
            )


def raw_copy_seconds(path: Path) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (order_id text, customer_id text,"
            " placed_at timestamptz, total numeric(12, 2), currency text, status text, customer_email text,"
            " customer_name text)"
        )
        started = time.perf_counter()
        cursor.execute(f"COPY bench_copy FROM '{path}' (FORMAT csv, HEADER)")
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy")
    return seconds


def table_copy_seconds(path: Path) -> float:
    """COPY the file's new customers, then its orders (customer ids resolved beforehand,
    untimed), into the real tables; only the two COPYs are timed; rolled back."""
    new_customers, customer_ids = {}, set()
    with path.open(newline="") as source:
        for row in csv.DictReader(source):
            customer_ids.add(row["customer_id"])
            if row["customer_email"]:
                new_customers.setdefault(row["customer_id"], (row["customer_email"], row["customer_name"]))
    customers_file, orders_file = path.with_suffix(".customers.tsv"), path.with_suffix(".orders.tsv")
    with customers_file.open("w") as out:
        for customer_id, (email, name) in new_customers.items():
            out.write(f"{customer_id}\t{email}\t{name}\t\ten\tUTC\t\tf\tf\t2026-01-01\tnow\tnow\n")
    customers_file.chmod(0o644)
    seconds = 0.0
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the import pays the foreign-key checks too
            started = time.perf_counter()
            cursor.execute(
                f"COPY customers_customer (external_id, email, name, phone, locale, time_zone, acquisition_channel,"
                f" marketing_consent, survey_consent, first_seen, created_at, updated_at) FROM '{customers_file}'"
            )
            seconds += time.perf_counter() - started
            cursor.execute(
                "SELECT external_id, id FROM customers_customer WHERE external_id = ANY(%s)", [sorted(customer_ids)]
            )
            pk_of = dict(cursor.fetchall())
            with path.open(newline="") as source, orders_file.open("w") as out:
                for row in csv.DictReader(source):
                    out.write(
                        f"{row['order_id']}\t{pk_of[row['customer_id']]}\t{row['placed_at']}\t{row['total']}\t"
                        f"{row['currency']}\t{row['status']}\t\tnow\tnow\n"
                    )
            orders_file.chmod(0o644)
            started = time.perf_counter()
            cursor.execute(
                "COPY customers_order (external_id, customer_id, placed_at, total, currency, status, discount_code,"
                f" created_at, updated_at) FROM '{orders_file}'"
            )
            seconds += time.perf_counter() - started
            transaction.set_rollback(True)
    finally:
        customers_file.unlink(missing_ok=True)
        orders_file.unlink(missing_ok=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE customers_order")
        cursor.execute("VACUUM ANALYZE customers_customer")
    return seconds


def import_run(path: Path) -> tuple[float, int]:
    result = subprocess.run(
        [sys.executable, "-c", RUN_IMPORT, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
    )
    values = dict(line.split() for line in result.stdout.splitlines() if line.startswith(("SECONDS", "MAXRSS_KB")))
    return float(values["SECONDS"]), int(values["MAXRSS_KB"])


def remember() -> dict:
    """What an import changes besides its orders and customers, noted before it (untimed):
    the loyalty accounts (a copy), and where the ledger and the outbox end. The imported
    orders earn points, open accounts, move tiers and write emails."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_accounts_before")
        cursor.execute("CREATE UNLOGGED TABLE bench_accounts_before AS SELECT * FROM loyalty_account")
        cursor.execute("SELECT coalesce(max(id), 0) FROM loyalty_entry")
        (entry,) = cursor.fetchone()
        cursor.execute("SELECT coalesce(max(id), 0) FROM customers_message")
        (message,) = cursor.fetchone()
    return {"entry": entry, "message": message}


def undo(run_id: str, before: dict) -> None:
    """Put the data set back as it was before the import: its ledger entries, emails,
    accounts, orders and customers gone, the accounts that were there as they were, the
    aggregates rebuilt."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM loyalty_entry WHERE id > %s", [before["entry"]])
        cursor.execute("DELETE FROM customers_message WHERE id > %s", [before["message"]])
        columns = [field.column for field in Account._meta.concrete_fields if not field.primary_key]
        now, then = (", ".join(f"{table}.{column}" for column in columns) for table in ("a", "b"))
        cursor.execute(
            f"UPDATE loyalty_account a SET ({', '.join(columns)}) = ({then}) FROM bench_accounts_before b"
            f" WHERE a.customer_id = b.customer_id AND ({now}) IS DISTINCT FROM ({then})"
        )
        cursor.execute(
            "DELETE FROM loyalty_account a WHERE NOT EXISTS"
            " (SELECT 1 FROM bench_accounts_before b WHERE b.customer_id = a.customer_id)"
        )
        cursor.execute("DROP TABLE bench_accounts_before")
        cursor.execute("DELETE FROM customers_order WHERE external_id LIKE %s", [f"IMP-{run_id}-%"])
        cursor.execute("DELETE FROM customers_customer WHERE external_id LIKE %s", [f"IMPC-{run_id}-%"])
    rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE customers_order")
        cursor.execute("VACUUM ANALYZE loyalty_account")
        cursor.execute("VACUUM ANALYZE loyalty_entry")


def run(report) -> None:
    report.say("\n## import_orders into the 10M-order database")
    directory = Path(settings.VAR_DIR) / "bench"
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # the PostgreSQL server reads the file for the raw COPY
    for orders in (1_000_000, 2_000_000):
        run_id = f"{int(time.time())}"
        path = directory / f"orders-{orders}.csv"
        write_file(path, orders, run_id)
        path.chmod(0o644)
        copy_seconds = raw_copy_seconds(path)
        table_seconds = table_copy_seconds(path)
        before = remember()
        try:
            seconds, maxrss_kb = import_run(path)
        finally:
            undo(run_id, before)
            path.unlink()
        ratio, table_ratio = copy_seconds / seconds, table_seconds / seconds
        report.figure(
            f"import_{orders}",
            {
                "seconds": seconds,
                "copy_seconds": copy_seconds,
                "ratio": ratio,
                "table_copy_seconds": table_seconds,
                "table_ratio": table_ratio,
                "maxrss_mb": maxrss_kb / 1024,
            },
            f"  {orders:,} orders: import {seconds:.1f} s ({orders / seconds:,.0f} rows/s); raw COPY into a new"
            f" table {copy_seconds:.1f} s ({orders / copy_seconds:,.0f} rows/s), ratio {ratio:.2f}; raw COPY into"
            f" the customers and orders tables {table_seconds:.1f} s ({orders / table_seconds:,.0f} rows/s),"
            f" ratio {table_ratio:.2f}; peak memory {maxrss_kb / 1024:.0f} MB",
        )
