"""The retention figures against METRICS.md: worked examples and every edge it names.

Each test runs on both ways of computing (the aggregates and the plain SQL) through the
`compute` fixture.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings

from customers.metrics import PeriodError, cohorts, period_validate, rebuild
from customers.metrics.aggregates import cohorts_fast, fast_path_available, retention_figures_fast
from customers.metrics.plain import cohorts_plain, retention_figures_plain

from .helpers import load_orders

pytestmark = pytest.mark.django_db

Q2 = {"start": date(2024, 4, 1), "end": date(2024, 6, 30)}


@pytest.fixture(params=["fast", "plain"])
def compute(request):
    def figures(**period):
        period = period_validate(**period)
        if request.param == "fast":
            assert fast_path_available(period.window_days)
            return retention_figures_fast(period)
        return retention_figures_plain(period)

    figures.cohorts = lambda **period: (cohorts_fast if request.param == "fast" else cohorts_plain)(
        period_validate(**period)
    )
    return figures


def customers(prefix, count, *days, status="paid", total="10.00"):
    """Rows for `count` customers, each with one order on each of `days`."""
    return [
        (f"{prefix}-{i}-{n}", f"{prefix}-{i}", day.isoformat(), total, status)
        for i in range(count)
        for n, day in enumerate(days)
    ]


def test_the_first_worked_example_gives_80_percent(compute):
    # S = 150 active on 1 April; 30 of them lapse during Q2, 120 stay; 80 are new.
    load_orders(
        customers("stay", 120, date(2023, 10, 1), date(2024, 5, 1))
        + customers("lapse", 30, date(2023, 5, 1))
        + customers("new", 80, date(2024, 5, 10))
    )
    figures = compute(**Q2)
    assert (figures.customers_at_start, figures.customers_at_end, figures.new_customers) == (150, 200, 80)
    assert figures.retention_rate == Decimal("80.00")
    assert figures.churn_rate == Decimal("20.00")


def test_the_second_worked_example_gives_75_percent(compute):
    load_orders(
        customers("stay", 7500, date(2024, 1, 5))
        + customers("lapse", 2500, date(2023, 4, 20))
        + customers("new", 5500, date(2024, 6, 1))
    )
    figures = compute(**Q2)
    assert (figures.customers_at_start, figures.new_customers, figures.customers_at_end) == (10_000, 5_500, 13_000)
    assert figures.retention_rate == Decimal("75.00")


def test_every_period_figure_on_a_small_hand_computed_case(compute):
    load_orders(
        [
            # a: active at start (Feb), orders twice in Q2 -> returning, repeat
            ("a1", "a", "2024-02-10", "100.00", "paid"),
            ("a2", "a", "2024-04-05", "50.00", "paid"),
            ("a3", "a", "2024-06-30T23:59:59", "30.00", "fulfilled"),
            # b: active at start, nothing in Q2 -> not returning, still active at end
            ("b1", "b", "2023-12-01", "20.00", "paid"),
            # c: new in Q2, one order
            ("c1", "c", "2024-05-01", "40.00", "placed"),
            # d: only a cancelled order in Q2 and a refunded one before: counts nowhere
            ("d1", "d", "2024-03-01", "70.00", "refunded"),
            ("d2", "d", "2024-05-01", "80.00", "cancelled"),
            # e: lapsed long before (more than 365 days before 1 April)
            ("e1", "e", "2023-01-01", "10.00", "paid"),
            # f: an order after the period does not count in it
            ("f1", "f", "2024-07-01", "10.00", "paid"),
        ]
    )
    figures = compute(**Q2)
    assert figures.customers_at_start == 2  # a, b
    assert figures.customers_at_end == 3  # a, b, c
    assert figures.new_customers == 1  # c
    assert figures.retention_rate == Decimal("100.00")  # (3 - 1) / 2
    assert figures.returning_customer_rate == Decimal("50.00")  # a of a, b
    # ordered before 1 July: a, b, c, e -> a has 2+
    assert figures.repeat_purchase_rate == Decimal("25.00")
    assert figures.orders == 3
    assert figures.revenue == Decimal("120.00")
    assert figures.average_order_value == Decimal("40.00")


def test_with_no_customer_active_at_the_start_the_rates_are_null(compute):
    load_orders([("n1", "n", "2024-05-01", "10.00", "paid")])
    figures = compute(**Q2)
    assert figures.customers_at_start == 0
    assert figures.retention_rate is None
    assert figures.churn_rate is None
    assert figures.returning_customer_rate is None
    assert figures.repeat_purchase_rate == Decimal("0.00")


def test_an_empty_database_gives_zeros_and_nulls(compute):
    figures = compute(**Q2)
    assert figures.as_json() == {
        "start": "2024-04-01",
        "end": "2024-06-30",
        "window_days": 365,
        "customers_at_start": 0,
        "customers_at_end": 0,
        "new_customers": 0,
        "retention_rate": None,
        "churn_rate": None,
        "returning_customer_rate": None,
        "repeat_purchase_rate": None,
        "orders": 0,
        "revenue": 0.0,
        "average_order_value": None,
    }
    assert compute.cohorts(**Q2) == []


def test_a_window_shorter_than_the_period_is_refused():
    with pytest.raises(PeriodError, match="shorter than the period"):
        period_validate(start=date(2024, 1, 1), end=date(2024, 3, 31), window_days=90)
    assert period_validate(start=date(2024, 1, 1), end=date(2024, 3, 31), window_days=91).days == 91


def test_an_end_before_the_start_is_refused():
    with pytest.raises(PeriodError, match="before start"):
        period_validate(start=date(2024, 2, 1), end=date(2024, 1, 31))


def test_a_window_that_matches_the_period_length_edges(compute):
    # W = 30 and a 30-day period: the customer who ordered exactly 30 days before the
    # start is active at it; one day earlier is not.
    start = date(2024, 4, 1)
    load_orders(
        [
            ("edge-in", "in", (start - timedelta(days=30)).isoformat(), "10.00", "paid"),
            ("edge-out", "out", (start - timedelta(days=31)).isoformat(), "10.00", "paid"),
        ]
    )
    rebuild(window_days=30)
    figures = compute(start=start, end=start + timedelta(days=29), window_days=30)
    assert figures.customers_at_start == 1
    assert figures.customers_at_end == 0


def test_a_customer_who_lapses_inside_the_period_and_returns_is_returning(compute):
    # W = 30, a 30-day period from 1 April. The customer ordered 20 days before the start
    # (active at it), lapsed on 11 April and ordered again on 25 April: 35 days after the
    # previous order, more than W, yet active at the start and ordering in the period.
    start = date(2024, 4, 1)
    load_orders(
        [
            ("r1", "r", "2024-03-12", "10.00", "paid"),
            ("r2", "r", "2024-04-25", "10.00", "paid"),
            ("o1", "other", "2024-03-20", "10.00", "paid"),
        ]
    )
    rebuild(window_days=30)
    figures = compute(start=start, end=date(2024, 4, 30), window_days=30)
    assert figures.customers_at_start == 2
    assert figures.returning_customer_rate == Decimal("50.00")


def test_cancelling_and_refunding_later_takes_the_order_out(compute):
    from customers.models import Order
    from customers.services import order_update

    load_orders([("x1", "x", "2024-02-01", "10.00", "paid"), ("x2", "x", "2024-05-01", "25.00", "paid")])
    assert compute(**Q2).orders == 1
    order_update(order=Order.objects.get(external_id="x2"), status="refunded")
    figures = compute(**Q2)
    assert (figures.orders, figures.revenue, figures.returning_customer_rate) == (0, Decimal("0.00"), Decimal("0.00"))
    order_update(order=Order.objects.get(external_id="x1"), status="cancelled")
    assert compute(**Q2).customers_at_start == 0


@override_settings(TIME_ZONE="America/New_York")
def test_days_end_at_midnight_in_the_configured_time_zone(compute):
    rebuild()  # the aggregates follow the zone
    load_orders(
        [
            # 03:30 UTC on 1 April is 23:30 on 31 March in New York: before the period
            ("ny1", "ny-a", "2024-04-01T03:30:00+00:00", "10.00", "paid"),
            # 04:30 UTC on 1 April is 00:30 in New York: inside
            ("ny2", "ny-b", "2024-04-01T04:30:00Z", "20.00", "paid"),
            # a date alone is midnight in New York
            ("ny3", "ny-c", "2024-07-01", "40.00", "paid"),
        ]
    )
    figures = compute(**Q2)
    assert figures.customers_at_start == 1
    assert (figures.orders, figures.new_customers) == (1, 1)
    assert compute(start=date(2024, 7, 1), end=date(2024, 7, 1)).orders == 1


@override_settings(TIME_ZONE="Europe/Copenhagen")
def test_the_dst_change_does_not_move_day_boundaries(compute):
    rebuild()
    # Clocks go forward at 02:00 on 31 March 2024 in Copenhagen; 1 April starts at
    # 22:00 UTC on 31 March (summer time, UTC+2).
    load_orders(
        [
            ("dk1", "dk-a", "2024-03-31T21:59:59Z", "10.00", "paid"),
            ("dk2", "dk-b", "2024-03-31T22:00:00Z", "10.00", "paid"),
        ]
    )
    figures = compute(**Q2)
    assert (figures.customers_at_start, figures.new_customers) == (1, 1)


def test_the_plain_path_is_used_for_another_window_and_agrees():
    load_orders(customers("a", 3, date(2024, 1, 10), date(2024, 5, 3)) + customers("b", 2, date(2023, 9, 1)))
    assert fast_path_available(365)
    assert not fast_path_available(100)
    for window in (100, 200, 365, 400):
        period = period_validate(**Q2, window_days=window)
        rebuild(window_days=window)
        assert fast_path_available(window)
        assert retention_figures_fast(period) == retention_figures_plain(period)
    rebuild()


def test_cohorts_follow_the_first_order_month(compute):
    load_orders(
        [
            ("j1", "jan-a", "2024-01-03", "10.00", "paid"),
            ("j2", "jan-a", "2024-02-03", "10.00", "paid"),
            ("j3", "jan-a", "2024-02-20", "10.00", "paid"),
            ("j4", "jan-b", "2024-01-31T23:00:00Z", "10.00", "paid"),
            ("j5", "jan-b", "2024-03-01", "10.00", "paid"),
            ("f1", "feb-a", "2024-02-10", "10.00", "paid"),
            ("f2", "feb-a", "2024-04-01", "10.00", "cancelled"),
            ("x1", "dec", "2023-12-01", "10.00", "paid"),  # a cohort before the period
            ("x2", "dec", "2024-01-05", "10.00", "paid"),
        ]
    )
    rows = compute.cohorts(start=date(2024, 1, 15), end=date(2024, 3, 31))
    assert [row.as_json() for row in rows] == [
        {"cohort": "2024-01", "customers": 2, "retention": [100.0, 50.0, 50.0]},
        {"cohort": "2024-02", "customers": 1, "retention": [100.0, 0.0]},
    ]


def test_the_selector_reads_the_aggregates_when_they_fit():
    load_orders([("s1", "s", "2024-05-01", "10.00", "paid")])
    period = period_validate(**Q2)
    assert fast_path_available(365)
    assert cohorts(period) == cohorts_plain(period)


def test_writers_append_pending_deltas_and_the_fold_changes_no_figure():
    from customers.metrics import fold_pending
    from customers.models import CohortActivityPending, DailyActivity, DailyActivityPending, ReturnGapPending

    load_orders([("p1", "p", "2024-02-01", "10.00", "paid"), ("p2", "p", "2024-05-01", "30.00", "paid")])
    assert DailyActivityPending.objects.exists() and ReturnGapPending.objects.exists()
    period = period_validate(**Q2)
    before = retention_figures_fast(period), cohorts_fast(period)
    fold_pending()
    assert not DailyActivityPending.objects.exists()
    assert not ReturnGapPending.objects.exists() and not CohortActivityPending.objects.exists()
    assert DailyActivity.objects.filter(day=date(2024, 5, 1), orders=1).exists()
    assert (
        (retention_figures_fast(period), cohorts_fast(period))
        == before
        == (
            retention_figures_plain(period),
            cohorts_plain(period),
        )
    )
