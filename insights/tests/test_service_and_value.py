"""Service experience against retention, and customer value (historic and predicted
CLV, upsell rate, products bought together), against hand-computed figures."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from customers.tests.factories import CustomerFactory, OrderFactory, OrderLineFactory, ProductFactory
from feedback.models import SlaPolicy, Ticket
from insights.models import CustomerScore
from insights.scoring import product_pairs_compute, scores_compute
from insights.selectors import customer_value, service_against_retention, top_product_pairs

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def complaint(customer, kept: bool, resolved_days_ago: int):
    Ticket.objects.create(
        customer=customer, kind="complaint", status="resolved", subject="x", description="x",
        policy=SlaPolicy.objects.get(is_default=True), promise_kept=kept,
        first_resolved_at=ago(resolved_days_ago), resolved_at=ago(resolved_days_ago),
    )  # fmt: skip


@pytest.fixture
def shop():
    """Kept promise: Ann (2 orders, active), Bo (1 order 400 days ago: churned).
    Broken promise: Cy (1 order 500 days ago: churned; an older kept complaint does
    not count, the last one does). No complaint: Dee (3 orders, active), Eve (no
    orders: not counted anywhere)."""
    with time_machine.travel(NOW, tick=False):
        people = {
            name: CustomerFactory(name=name, acquisition_channel=channel)
            for name, channel in (
                ("Ann", "email"),
                ("Bo", "email"),
                ("Cy", "social"),
                ("Dee", "social"),
                ("Eve", "email"),
            )
        }
        OrderFactory(customer=people["Ann"], placed_at=ago(100))
        OrderFactory(customer=people["Ann"], placed_at=ago(10))
        OrderFactory(customer=people["Bo"], placed_at=ago(400))
        OrderFactory(customer=people["Cy"], placed_at=ago(500))
        for days in (300, 200, 20):
            OrderFactory(customer=people["Dee"], placed_at=ago(days), total=Decimal("20.00"))
        complaint(people["Ann"], True, 50)
        complaint(people["Bo"], True, 390)
        complaint(people["Cy"], True, 600)
        complaint(people["Cy"], False, 480)
        scores_compute(now=NOW)
        CustomerScore.objects.filter(customer__name__in=["Ann", "Dee"]).update(nps_group="promoter")
        CustomerScore.objects.filter(customer__name="Cy").update(nps_group="detractor")
        yield people


def figures(rows) -> dict:
    return {row.label: (row.customers, row.churn_rate, row.repeat_purchase_rate) for row in rows}


def test_churn_and_repeat_purchases_by_how_customers_were_served(shop):
    groups = service_against_retention(now=NOW)
    assert figures(groups["promise"]) == {
        "Complaint resolved within its promise": (2, Decimal("50.00"), Decimal("50.00")),
        "Promise broken": (1, Decimal("100.00"), Decimal("0.00")),
        "No complaint": (1, Decimal("0.00"), Decimal("100.00")),
    }
    assert figures(groups["nps"]) == {
        "Promoter": (2, Decimal("0.00"), Decimal("100.00")),
        "Detractor": (1, Decimal("100.00"), Decimal("0.00")),
        "No NPS answer": (1, Decimal("100.00"), Decimal("0.00")),
    }
    assert figures(groups["channel"]) == {
        "Email marketing": (2, Decimal("50.00"), Decimal("50.00")),
        "Social media": (2, Decimal("50.00"), Decimal("50.00")),
    }
    assert figures(groups["tier"]) == {"No tier": (4, Decimal("50.00"), Decimal("50.00"))}


def test_the_page_is_for_managers(shop, manager_client, agent_client):
    page = manager_client.get("/admin/insights/service-against-retention/").content.decode()
    assert "Promise broken" in page and "100.00 %" in page
    assert agent_client.get("/admin/insights/service-against-retention/").status_code == 403


def test_customer_value_upsell_and_products_bought_together(shop):
    kettle, mug, tea = ProductFactory(name="Kettle"), ProductFactory(name="Mug"), ProductFactory(name="Tea")
    ann_orders = list(shop["Ann"].orders.order_by("placed_at"))
    for order in ann_orders:  # Ann: kettle + mug twice, tea once → three products
        OrderLineFactory(order=order, product=kettle)
        OrderLineFactory(order=order, product=mug)
    OrderLineFactory(order=ann_orders[0], product=tea)
    OrderLineFactory(order=shop["Bo"].orders.get(), product=mug)  # Bo: one product
    OrderLineFactory(order=shop["Cy"].orders.get(), product=mug)  # Cy: one product
    scores_compute(now=NOW)
    assert product_pairs_compute() == 3

    value = customer_value()
    # Ann 100, Bo 50, Cy 50, Dee 60 (four customers with orders): mean 65.00.
    assert (value.customers, value.historic_value) == (4, Decimal("65.00"))
    # Several products: Ann; exactly one: Bo and Cy (Dee's orders have no lines).
    assert (value.several_products, value.one_product, value.upsell_rate) == (1, 2, Decimal("50.00"))
    mean_clv = sum(CustomerScore.objects.filter(orders__gte=1).values_list("predicted_clv", flat=True)) / 4
    assert value.predicted_clv == mean_clv.quantize(Decimal("0.01"))
    pairs = [(a.name, b.name, orders) for a, b, orders in top_product_pairs()]
    assert pairs[0] == ("Kettle", "Mug", 2)
    assert sorted(pairs[1:]) == [("Kettle", "Tea", 1), ("Mug", "Tea", 1)]
