"""The nightly erasure of inactive customers (CUSTOMER_ERASE_INACTIVE_DAYS) on 1M
customers and 9.9M orders: the pass that finds the candidates, and what erasing one
costs (any customer's erasure, the job's or a manager's), all in a transaction rolled
back at the end. How many are candidates depends on the other suites' data: the
tickets suite's million open tickets keep their customers out.

The data set's customers were all made today; the suite dates them back (created and
first seen in 2022) inside the same transaction, so that the orders alone decide."""

import time
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

from customers import services
from customers.models import Customer

NOW = datetime(2026, 12, 1, 4, tzinfo=UTC)  # the data set's orders end with 2025
ERASED_SAMPLE = 300


def run(report) -> None:
    report.say("\n== privacy: the nightly erasure of inactive customers (rolled back) ==")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE customers_customer SET created_at = '2022-06-01', first_seen = LEAST(first_seen, '2022-06-01')"
            )
        for days in (730, 365):
            since = NOW - timedelta(days=days)
            started = time.perf_counter()
            candidates = services.inactive_customers(since=since)
            seconds = time.perf_counter() - started
            report.figure(
                f"inactive_pass_{days}_s",
                round(seconds, 2),
                f"finding the customers inactive for {days} days: {seconds:.2f} s, {len(candidates):,} of them",
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM feedback_ticket WHERE status IN ('new', 'open', 'waiting')")
            (open_tickets,) = cursor.fetchone()
        report.say(f"  (a customer with a ticket still open is never a candidate: {open_tickets:,} are open)")
        # What erasing one costs, whoever they are: the first customers, each with orders.
        sample = list(Customer.objects.order_by("pk").values_list("pk", flat=True)[:ERASED_SAMPLE])
        started = time.perf_counter()
        for customer_id in sample:
            services.customer_erase(customer_id=customer_id, now=NOW, why="bench")
        seconds = time.perf_counter() - started
        report.figure(
            "erase_ms_each",
            round(seconds / len(sample) * 1000, 1),
            f"erasing {len(sample)} customers: {seconds:.2f} s, {seconds / len(sample) * 1000:.1f} ms each",
        )
        transaction.set_rollback(True)
