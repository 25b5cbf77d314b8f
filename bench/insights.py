"""Issue #6's speed goals on the benchmark database (1,000,000 customers, about
10,000,000 orders, with the tickets, survey answers and loyalty accounts the other
suites make):

- the dashboard (the admin's first page) for periods of 7, 30, 90 and 365 days: server
  time in-process through Django's test client, and its number of queries;
- the customer 360 page of a customer with 5,000 orders and 1,000 messages;
- the nightly churn-risk computation for every customer;
- the count of a few segments.
"""

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client

from customers.metrics import orders_changing
from customers.models import Customer, Message, Order
from customers.models import Entry as TimelineEntry
from insights.models import CustomerScore
from insights.scoring import product_pairs_compute, scores_compute
from insights.segments import segment_customers
from loyalty.models import Entry
from loyalty.rollup import ledger_days_rebuild

from . import loyalty, surveys, tickets
from .common import timings

LAST_DAY = date(2025, 12, 31)  # the data set's orders lie in 2023-2025
BIG_CUSTOMER = "BENCH-360"


def _queries_of(function) -> int:
    """How many statements `function` sends (an execute wrapper: it counts with DEBUG
    off too)."""
    count = 0

    def counting(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counting):
        function()
    return count


def _manager_client() -> Client:
    user, _ = User.objects.get_or_create(username="bench-dashboard", defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="Support manager"))
    client = Client()
    client.force_login(user)
    return client


def run_scoring(report) -> None:
    report.say("\n## Nightly churn risk and predicted CLV, every customer")
    started = time.perf_counter()
    run = scores_compute(now=datetime(2026, 1, 1, 3, tzinfo=UTC))
    seconds = time.perf_counter() - started
    report.figure(
        "insights_scoring_seconds",
        seconds,
        f"  scores_compute: {seconds:.1f} s for {run.customers:,} customers"
        f" (lifespan {run.lifespan_years:.2f} years, shop's usual gap {run.shop_gap_days:.1f} days)",
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE insights_customerscore")
    started = time.perf_counter()
    pairs = product_pairs_compute()
    report.say(f"  product_pairs_compute: {time.perf_counter() - started:.1f} s, {pairs} pairs (no order lines here)")
    started = time.perf_counter()
    days = ledger_days_rebuild()
    seconds = time.perf_counter() - started
    entries = Entry.objects.count()
    report.figure(
        "insights_ledger_days_seconds",
        seconds,
        f"  ledger_days_rebuild: {seconds:.1f} s, {entries:,} entries, {days} days",
    )
    at_risk = CustomerScore.objects.filter(churn_risk__gt=0).count()
    report.say(f"  {at_risk:,} customers with a risk above 0")


def run_dashboard(report) -> None:
    report.say("\n## The dashboard, server time (in-process), managers' view")
    client = _manager_client()
    for days in (7, 30, 90, 365):
        start = LAST_DAY - timedelta(days=days - 1)
        path = f"/admin/?start={start.isoformat()}&end={LAST_DAY.isoformat()}"
        assert client.get(path).status_code == 200
        queries = _queries_of(lambda path=path: client.get(path))
        figures = timings(lambda path=path: client.get(path), 10)
        report.figure(
            f"insights_dashboard_{days}d_ms",
            figures["median"] * 1000,
            f"  {days:>3} days: median {figures['median'] * 1000:.0f} ms, max {figures['max'] * 1000:.0f} ms,"
            f" {queries} queries",
        )


def _big_customer() -> Customer:
    customer, _ = Customer.objects.get_or_create(external_id=BIG_CUSTOMER, defaults={"email": "big@bench.example"})
    if not Order.objects.filter(customer=customer).exists():
        first = datetime(2023, 1, 1, tzinfo=UTC)
        with orders_changing([customer.pk]):
            Order.objects.bulk_create(
                Order(
                    external_id=f"{BIG_CUSTOMER}-{n}",
                    customer=customer,
                    placed_at=first + timedelta(hours=5 * n),
                    total=Decimal("25.00"),
                    status="fulfilled",
                )
                for n in range(5_000)
            )
        Message.objects.bulk_create(
            Message(
                customer=customer,
                entry=TimelineEntry.NOTE,
                body=f"Note {n}",
                occurred_at=first + timedelta(hours=26 * n),
            )
            for n in range(1_000)
        )
    return customer


def run_customer_360(report) -> None:
    report.say("\n## Customer 360 of a customer with 5,000 orders and 1,000 messages, server time")
    customer = _big_customer()
    client = _manager_client()
    path = f"/admin/customers/customer/{customer.pk}/change/"
    assert client.get(path).status_code == 200
    queries = _queries_of(lambda: client.get(path))
    figures = timings(lambda: client.get(path), 30)
    report.figure(
        "insights_customer_360_ms",
        figures["median"] * 1000,
        f"  median {figures['median'] * 1000:.0f} ms, p95 {figures['p95'] * 1000:.0f} ms, {queries} queries",
    )


SEGMENTS = [
    ("lapsed repeat buyers: no order in 120 days, 2+ orders", {"no_order_for_days": 120, "min_orders": 2}),
    ("at risk from email marketing", {"channels": ["email"], "min_churn_risk": 40}),
    ("big spenders in Danish or Korean", {"min_spend": "2000", "locales": ["da", "ko"]}),
    ("promoters with an open complaint", {"nps_groups": ["promoter"], "open_complaint": "yes"}),
]


def run_segments(report) -> None:
    report.say("\n## Segment counts")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    slowest = 0.0
    for name, rules in SEGMENTS:
        figures = timings(lambda rules=rules: segment_customers(rules, now=now).count(), 3)
        count = segment_customers(rules, now=now).count()
        slowest = max(slowest, figures["median"])
        report.say(f"  {name}: {count:,} customers, median {figures['median'] * 1000:.0f} ms")
    report.figure("insights_segment_count_slowest_ms", slowest * 1000, f"  slowest: {slowest * 1000:.0f} ms")


def run(report, *, scoring: bool = True) -> None:
    report.say("\n# Issue #6: dashboard, customer 360, churn risk, segments")
    tickets.ensure(report)
    surveys._ensure_responses(report)
    loyalty._ensure_accounts(report)
    if scoring or not CustomerScore.objects.exists():
        run_scoring(report)
    run_dashboard(report)
    run_customer_360(report)
    run_segments(report)
