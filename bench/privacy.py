"""The nightly erasure of inactive customers (CUSTOMER_ERASE_INACTIVE_DAYS) on 1M
customers and 9.9M orders: the pass that finds the candidates, and what erasing one
costs, all in a transaction rolled back at the end.

The data set's customers were all made today; the suite dates them back (created and
first seen in 2022) inside the same transaction, so that the orders alone decide."""

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from customers import services

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
        sample = candidates[:ERASED_SAMPLE]
        found = services.inactive_customers
        # The job's own loop over a sample of the candidates: lock, check again, erase.
        services.inactive_customers = lambda *, since, among=None: (
            sample if among is None else found(since=since, among=among)
        )
        try:
            settings.CUSTOMER_ERASE_INACTIVE_DAYS = 365
            started = time.perf_counter()
            erased = services.inactive_customers_erase(now=NOW)
            seconds = time.perf_counter() - started
        finally:
            services.inactive_customers = found
            settings.CUSTOMER_ERASE_INACTIVE_DAYS = 0
        report.figure(
            "inactive_erase_ms_each",
            round(seconds / max(erased, 1) * 1000, 1),
            f"erasing {erased} of them: {seconds:.2f} s, {seconds / max(erased, 1) * 1000:.1f} ms each",
        )
        transaction.set_rollback(True)
