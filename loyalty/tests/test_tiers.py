"""Tiers: upgrades at once, downgrades at the nightly evaluation after the grace period,
multipliers, paid memberships."""

from datetime import timedelta
from decimal import Decimal

import pytest

from customers.models import Customer, OrderLine, Product
from loyalty.models import Account, Entry, EntryKind
from loyalty.services import orders_points_update, tiers_evaluate

pytestmark = pytest.mark.django_db


def tier_name(customer) -> str | None:
    account = Account.objects.select_related("tier").get(customer=customer)
    return str(account.tier) if account.tier else None


def test_an_order_that_qualifies_upgrades_at_once_and_earns_at_the_new_rate(clock, customer, buy, tiers):
    buy(customer, "400")
    assert tier_name(customer) == "Bronze"
    buy(customer, "200")  # 600 in the window: Silver, this order at 1.5×
    assert tier_name(customer) == "Silver"
    assert list(Entry.objects.filter(kind=EntryKind.EARN).order_by("id").values_list("points", flat=True)) == [
        400,
        300,
    ]


def test_downgrades_wait_for_the_grace_period_at_the_nightly_evaluation(clock, customer, buy, tiers, program):
    buy(customer, "600")
    assert tier_name(customer) == "Silver"
    clock.shift(timedelta(days=366))  # the order left the 12-month window
    assert tiers_evaluate() == {"upgraded": 0, "downgraded": 0, "grace_started": 1}
    assert tier_name(customer) == "Silver"
    clock.shift(timedelta(days=program.downgrade_grace_days - 1))
    assert tiers_evaluate()["downgraded"] == 0
    clock.shift(timedelta(days=1))
    assert tiers_evaluate() == {"upgraded": 0, "downgraded": 1, "grace_started": 0}
    assert tier_name(customer) == "Bronze"
    assert tiers_evaluate() == {"upgraded": 0, "downgraded": 0, "grace_started": 0}


def test_qualifying_again_ends_the_grace_period(clock, customer, buy, tiers, program):
    buy(customer, "600")
    clock.shift(timedelta(days=366))
    tiers_evaluate()
    assert Account.objects.get(customer=customer).below_tier_since is not None
    buy(customer, "600")
    assert Account.objects.get(customer=customer).below_tier_since is None
    clock.shift(timedelta(days=program.downgrade_grace_days + 1))
    tiers_evaluate()
    assert tier_name(customer) == "Silver"


def test_the_nightly_evaluation_upgrades_in_bulk(clock, buy, tiers):
    customers = [Customer.objects.create(external_id=f"C-{n}", email=f"c{n}@example.com") for n in range(3)]
    for customer in customers:
        buy(customer, "2500")
    Account.objects.update(tier=None)  # as if the tiers were created after the orders
    assert tiers_evaluate()["upgraded"] == 3
    assert {tier_name(customer) for customer in customers} == {"Gold"}


def test_tiers_by_number_of_orders(clock, customer, buy, tiers, program):
    program.tier_basis = "orders"
    program.save()
    tiers["silver"].threshold = Decimal("3")
    tiers["silver"].save()
    tiers["gold"].threshold = Decimal("10")
    tiers["gold"].save()
    from loyalty.services import forget_rules

    forget_rules()
    for _n in range(3):
        buy(customer, "5")
    assert tier_name(customer) == "Silver"


def test_a_paid_membership_holds_the_tier_for_its_period(clock, customer, buy, tiers, program):
    product = Product.objects.create(sku="GOLD-YEAR", name="Gold membership")
    tiers["gold"].membership_product = product
    tiers["gold"].save()
    from loyalty.services import forget_rules

    forget_rules()
    order = buy(customer, "99", status="placed")
    OrderLine.objects.create(order=order, product=product, quantity=1, unit_price=Decimal("99"))
    order.status = "paid"
    order.save()
    orders_points_update(order_ids=[order.pk])
    assert tier_name(customer) == "Gold"
    clock.shift(timedelta(days=200))
    tiers_evaluate()
    clock.shift(timedelta(days=60))
    tiers_evaluate()
    assert tier_name(customer) == "Gold"  # held: the membership runs 12 months
    clock.shift(timedelta(days=110))  # past the paid year
    tiers_evaluate()
    clock.shift(timedelta(days=program.downgrade_grace_days + 1))
    tiers_evaluate()
    assert tier_name(customer) == "Bronze"
