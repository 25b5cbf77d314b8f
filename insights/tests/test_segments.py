"""Segments: each rule picks the customers it says; a manager saves one in the admin and
sees its live count; the customer list, its export and its campaign action take it."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from customers.tests.factories import CustomerFactory, OrderFactory, OrderLineFactory, ProductFactory
from feedback.models import SlaPolicy, Ticket
from insights.models import CustomerScore, Segment
from insights.scoring import scores_compute
from insights.segments import segment_customers
from loyalty.models import Account, Tier

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def people():
    with time_machine.travel(NOW, tick=False):
        yield make_people()


def make_people():
    """Ann: big spender, bought the kettle with a code, Gold, a detractor, Danish, by
    email. Bo: one small order 200 days ago, an open complaint. Cy: never ordered."""
    kettle, mug = ProductFactory(name="Kettle"), ProductFactory(name="Mug")
    ann = CustomerFactory(name="Ann", locale="da", acquisition_channel="email")
    bo = CustomerFactory(name="Bo", locale="en", acquisition_channel="social")
    cy = CustomerFactory(name="Cy", locale="ko", acquisition_channel="email")
    for days, total in ((40, "300"), (10, "500")):
        order = OrderFactory(
            customer=ann, placed_at=NOW - timedelta(days=days), total=Decimal(total), discount_code="SPRING"
        )
        OrderLineFactory(order=order, product=kettle)
    OrderLineFactory(order=OrderFactory(customer=bo, placed_at=NOW - timedelta(days=200)), product=mug)
    Ticket.objects.create(
        customer=bo, kind="complaint", subject="Broken", description="Broken",
        policy=SlaPolicy.objects.get(is_default=True),
    )  # fmt: skip
    gold = Tier.objects.order_by("-rank").first()
    Account.objects.create(customer=ann, referral_code="ANNSEG01", tier=gold)
    scores_compute(now=NOW)
    CustomerScore.objects.filter(customer=ann).update(nps_group="detractor")
    return {"ann": ann, "bo": bo, "cy": cy, "kettle": kettle, "mug": mug, "gold": gold}


def names(rules: dict) -> list[str]:
    return sorted(segment_customers(rules, now=NOW).values_list("name", flat=True))


def test_each_rule_picks_its_customers(people):
    assert names({}) == ["Ann", "Bo", "Cy"]
    assert names({"min_spend": "500"}) == ["Ann"]
    assert names({"max_spend": "100"}) == ["Bo", "Cy"]  # Cy spent nothing
    assert names({"min_orders": 2}) == ["Ann"]
    assert names({"max_orders": 0}) == ["Cy"]
    assert names({"no_order_for_days": 120}) == ["Bo"]  # ordered before, not since
    assert names({"ordered_within_days": 30}) == ["Ann"]
    assert names({"products": [people["kettle"].pk]}) == ["Ann"]
    assert names({"products": [people["kettle"].pk, people["mug"].pk]}) == ["Ann", "Bo"]
    assert names({"used_discount_code": "yes"}) == ["Ann"]
    assert names({"used_discount_code": "no"}) == ["Bo", "Cy"]
    assert names({"tiers": [people["gold"].pk]}) == ["Ann"]
    assert names({"nps_groups": ["detractor"]}) == ["Ann"]
    assert names({"channels": ["email"]}) == ["Ann", "Cy"]
    assert names({"locales": ["ko", "en"]}) == ["Bo", "Cy"]
    assert names({"open_complaint": "yes"}) == ["Bo"]
    assert names({"open_complaint": "no"}) == ["Ann", "Cy"]
    assert names({"min_churn_risk": 15}) == ["Bo"]  # the open complaint, and far overdue
    assert names({"channels": ["email"], "min_orders": 1}) == ["Ann"]  # every rule must hold


def test_rules_that_no_longer_hold_are_refused_clearly(people):
    with pytest.raises(ValueError, match="Select a valid choice"):
        segment_customers({"products": [999999]})
    with pytest.raises(ValueError, match="upper bound"):
        segment_customers({"min_orders": 5, "max_orders": 2})


def test_a_manager_saves_a_segment_and_sees_who_is_in_it(manager_client, manager, people):
    response = manager_client.post(
        "/admin/insights/segment/add/",
        {"name": "Lapsed", "description": "", "no_order_for_days": "120", "channels": ["social", "email"]},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    segment = Segment.objects.get()
    assert segment.rules == {"no_order_for_days": 120, "channels": ["social", "email"]}
    assert segment.created_by == manager
    page = manager_client.get(f"/admin/insights/segment/{segment.pk}/change/").content.decode()
    assert "field-members_now" in page, page
    members = page[page.index("field-members_now") :][:1500]
    assert "1 · <a" in members  # the live count

    listed = manager_client.get(f"/admin/customers/customer/?segment={segment.pk}").content.decode()
    assert "Bo" in listed and "Ann" not in listed

    url = f"/admin/customers/customer/export/?segment={segment.pk}"
    form = manager_client.get(url).context["form"]
    data = {name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)}
    exported = manager_client.post(url, {**data, "format": "0", "resource": "0"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["name"] for row in rows] == ["Bo"]


def test_a_bad_segment_form_says_what_is_wrong(manager_client, people):
    response = manager_client.post(
        "/admin/insights/segment/add/", {"name": "Odd", "min_orders": "5", "max_orders": "2"}
    )
    assert response.status_code == 200
    assert "The upper bound is below the lower one." in response.content.decode()
    assert not Segment.objects.exists()


def test_an_agent_may_use_segments_but_not_change_them(agent_client, people):
    segment = Segment.objects.create(name="Everyone", rules={})
    assert agent_client.get(f"/admin/customers/customer/?segment={segment.pk}").status_code == 200
    assert agent_client.get("/admin/insights/segment/add/").status_code == 403
