"""Churn risk and predicted CLV: every part of the formula against values worked out by
hand on a small data set (docs/architecture.md, "Churn risk and CLV")."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from customers.models import OrderStatus
from customers.tests.factories import CustomerFactory, OrderFactory, OrderLineFactory, ProductFactory
from feedback.models import SlaPolicy, Survey, SurveyInvitation, SurveyResponse, Ticket
from insights.models import CustomerScore
from insights.scoring import clv_of, lifespan_years, scores_compute
from loyalty.models import Account, Entry

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def orders(customer, *ages: float, total: str = "50.00", status: str = OrderStatus.PAID):
    return [
        OrderFactory(customer=customer, placed_at=days_ago(age), total=Decimal(total), status=status) for age in ages
    ]


def answer(customer, kind: str, score: str, age: float = 10):
    survey = Survey.objects.get(kind=kind)
    invitation = SurveyInvitation.objects.create(
        survey=survey, customer=customer, source="api", key=f"{kind}:{customer.pk}:{age}"
    )
    SurveyResponse.objects.create(
        invitation=invitation, survey=survey, customer=customer, score=Decimal(score), submitted_at=days_ago(age)
    )


def complaint(customer, *, status: str = "open", breached: bool = False, resolve_age: float = 5):
    return Ticket.objects.create(
        customer=customer,
        kind="complaint",
        status=status,
        subject="Late",
        description="Late parcel",
        resolve_by=days_ago(resolve_age),
        resolution_breached=breached,
        policy=SlaPolicy.objects.get(is_default=True),
    )


def score_of(customer) -> CustomerScore:
    return CustomerScore.objects.get(customer=customer)


def test_the_buying_rhythm_part_grows_from_one_to_three_times_the_usual_gap():
    on_time = CustomerFactory()
    orders(on_time, 80, 50, 20)  # usual gap 30 days, last order 20 days ago: not overdue
    late = CustomerFactory()
    orders(late, 100, 70, 40)  # gap 30, 40 days since: overdue 4/3 → 50 × (1/3)/2 = 8.33 → 8
    lapsed = CustomerFactory()
    orders(lapsed, 200, 170, 140)  # 140 / 30 > 3: the whole 50
    never = CustomerFactory()
    cancelled_only = CustomerFactory()
    orders(cancelled_only, 300, status=OrderStatus.CANCELLED)

    run = scores_compute(now=NOW)

    assert run.customers == 5
    assert score_of(on_time).risk_rhythm == 0
    assert score_of(late).risk_rhythm == 8
    assert score_of(late).usual_gap_days == pytest.approx(30)
    assert score_of(lapsed).risk_rhythm == 50
    assert score_of(never).risk_rhythm == 0 and score_of(never).orders == 0
    assert score_of(cancelled_only).orders == 0  # cancelled orders are not counted
    assert score_of(cancelled_only).churn_risk == 0


def test_a_one_order_customer_is_held_to_the_shops_median_gap():
    for gap in (10, 20, 60):  # repeat customers with usual gaps of 10, 20 and 60 days: median 20
        orders(CustomerFactory(), 5 + gap, 5)
    once = CustomerFactory()
    orders(once, 33)  # 33 days against 20: overdue 1.65 → 50 × 0.325 = 16.25 → 16

    run = scores_compute(now=NOW)

    assert run.shop_gap_days == pytest.approx(20)
    assert score_of(once).risk_rhythm == 16
    assert score_of(once).usual_gap_days is None


def test_a_gap_shorter_than_a_week_counts_as_a_week():
    quick = CustomerFactory()
    orders(quick, 15, 14, 13)  # gap 1 day, 13 days since: against 7 days, overdue 13/7 → 50 × 0.4286 = 21
    scores_compute(now=NOW)
    assert score_of(quick).risk_rhythm == 21


def test_complaints_surveys_and_expiring_points_add_their_parts():
    unhappy = CustomerFactory()
    orders(unhappy, 20, 10)  # on rhythm
    complaint(unhappy)  # unresolved: 15
    complaint(unhappy, status="resolved", breached=True, resolve_age=30)  # missed in the last 90 days: 15
    answer(unhappy, "nps", "5")  # a detractor: 15
    account = Account.objects.create(customer=unhappy, referral_code="UNHAPPY1", balance=40)
    Entry.objects.create(
        account=account, kind="earn", points=40, remaining=40, key="e1", created_at=days_ago(340),
        expires_at=NOW + timedelta(days=25),
    )  # fmt: skip

    old_breach = CustomerFactory()
    complaint(old_breach, status="closed", breached=True, resolve_age=120)  # too long ago: 0
    answer(old_breach, "nps", "3", age=100)
    answer(old_breach, "nps", "10", age=5)  # the last NPS answer counts: a promoter, 0
    answer(old_breach, "csat", "3")  # CSAT 3: 5

    middling = CustomerFactory()
    answer(middling, "cli", "3.67")  # CLI under 4: 5
    answer(middling, "nps", "8")  # passive: 5 (the worst answer counts, not the sum)

    scores_compute(now=NOW)

    first = score_of(unhappy)
    assert (first.risk_complaints, first.risk_surveys, first.risk_points) == (30, 15, 5)
    assert first.churn_risk == 50 and first.nps_group == "detractor"
    second = score_of(old_breach)
    assert (second.risk_complaints, second.risk_surveys, second.churn_risk) == (0, 5, 5)
    assert second.nps_group == "promoter"
    third = score_of(middling)
    assert (third.risk_surveys, third.nps_group) == (5, "passive")


def test_predicted_clv_and_value_at_risk():
    loyal = CustomerFactory()
    # Three orders over 500 days: AOV 60, 3 × 365 / 500 orders a year.
    orders(loyal, 500, total="40.00")
    orders(loyal, 300, total="60.00")
    orders(loyal, 100, total="80.00")
    newcomer = CustomerFactory()
    orders(newcomer, 30, total="100.00")  # tenure counts as a year: one order a year
    product_a, product_b = ProductFactory(), ProductFactory()
    for order in loyal.orders.all():
        OrderLineFactory(order=order, product=product_a)
    OrderLineFactory(order=loyal.orders.first(), product=product_b)
    complaint(loyal)  # 15; on rhythm (100 days since, against a 200-day gap)

    run = scores_compute(now=NOW)

    # The year before NOW: S = 1 (loyal), E = 2, N = 1 (newcomer): retention 100 %, churn
    # 0, so the lifespan is the 10-year ceiling.
    assert lifespan_years(NOW.date()) == run.lifespan_years == 10.0
    assert score_of(loyal).predicted_clv == Decimal("1314.00")  # 60 × (3 × 365 / 500) × 10
    assert clv_of(Decimal("180.00"), 3, 500, 10.0) == Decimal("1314.00")
    assert score_of(newcomer).predicted_clv == Decimal("1000.00")  # 100 × 1 a year × 10
    assert score_of(loyal).products == 2 and score_of(newcomer).products == 0
    assert score_of(loyal).churn_risk == 15
    assert score_of(loyal).value_at_risk == Decimal("197.10")  # 15 % of 1314
    assert score_of(newcomer).value_at_risk == 0


def test_a_second_run_updates_the_rows_in_place():
    customer = CustomerFactory()
    orders(customer, 100, 70, 40)
    scores_compute(now=NOW)
    assert score_of(customer).risk_rhythm == 8
    scores_compute(now=NOW + timedelta(days=60))  # 100 days since against 30: the whole 50
    assert CustomerScore.objects.count() == 1
    assert score_of(customer).risk_rhythm == 50
