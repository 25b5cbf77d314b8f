"""An import earns in bulk with the same result as orders arriving one by one (the one
stated difference: the batch earns at the tier reached after the whole batch)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from customers.imports.orders import orders_import
from customers.models import Customer
from customers.tests.helpers import csv_bytes
from loyalty.models import Account, Entry, EntryKind, Redemption, RedemptionStatus
from loyalty.services import BULK_AFTER_ORDERS, points_redeem

pytestmark = pytest.mark.django_db

HEADER = ["order_id", "customer_id", "placed_at", "total", "status"]


def import_rows(rows):
    report = orders_import(csv_bytes(HEADER, rows))
    assert not report.problems, report.problems
    return report


def test_an_import_earns_once_per_order_as_the_one_by_one_path_would(clock, program):
    today = datetime.now(UTC)
    rows = [
        (f"B-{n}", f"BC-{n % 20}", (today - timedelta(days=n % 90)).isoformat(), f"{10 + n}.50", "paid")
        for n in range(BULK_AFTER_ORDERS * 3)
    ] + [("B-placed", "BC-1", today.isoformat(), "99", "placed")]
    import_rows(rows)
    assert Entry.objects.filter(kind=EntryKind.EARN).count() == BULK_AFTER_ORDERS * 3  # not the placed one
    for account in Account.objects.all():
        entries = Entry.objects.filter(account=account)
        assert account.balance + account.pending == sum(entries.values_list("points", flat=True))
    entry = Entry.objects.get(order__external_id="B-0")
    assert (entry.points, entry.pending, entry.basis) == (10, True, Decimal("10.50"))
    old = Entry.objects.get(order__external_id="B-89")  # 89 days old: past its 30 pending days
    assert not old.pending and old.available_at < datetime.now(UTC)
    assert old.expires_at == old.created_at.replace(year=old.created_at.year + 1)
    again = import_rows(rows)  # the same file again: nothing new
    assert again.created == 0
    assert Entry.objects.filter(kind=EntryKind.EARN).count() == BULK_AFTER_ORDERS * 3


def test_an_import_raises_tiers_first_and_earns_at_the_reached_tier(clock, program, tiers):
    today = datetime.now(UTC).isoformat()
    rows = [(f"T-{n}", "TC-1", today, "100", "paid") for n in range(BULK_AFTER_ORDERS + 1)]  # 5,100 spent
    import_rows(rows)
    account = Account.objects.select_related("tier").get(customer__external_id="TC-1")
    assert str(account.tier) == "Gold"
    assert account.pending == (BULK_AFTER_ORDERS + 1) * 200


def test_an_import_earns_more_points_than_a_postgresql_integer_holds(clock, program):
    """The bulk earning cast its points to a PostgreSQL integer: an order of
    9,999,999,999.99 at one point per euro failed the whole import."""
    today = datetime.now(UTC).isoformat()
    rows = [(f"H-{n}", "HC-1", today, "9999999999.99", "paid") for n in range(BULK_AFTER_ORDERS + 1)]
    import_rows(rows)
    account = Account.objects.get(customer__external_id="HC-1")
    assert account.pending == (BULK_AFTER_ORDERS + 1) * 9_999_999_999


def test_an_import_earns_the_same_a_chunk_at_a_time(clock, program, tiers, monkeypatch):
    """The import hands its orders to the points a chunk at a time (flat memory); a
    customer whose orders fall in two chunks earns all at the tier of the whole file."""
    import customers.imports.orders

    monkeypatch.setattr(customers.imports.orders, "POINTS_CHUNK", BULK_AFTER_ORDERS + 7)
    today = datetime.now(UTC).isoformat()
    rows = [(f"C-{n}", f"CC-{n % 2}", today, "100", "paid") for n in range(2 * BULK_AFTER_ORDERS + 2)]
    import_rows(rows)
    assert Entry.objects.filter(kind=EntryKind.EARN).count() == len(rows)
    for account in Account.objects.select_related("tier"):
        assert str(account.tier) == "Gold"  # 5,100 spent each
        assert account.pending == (BULK_AFTER_ORDERS + 1) * 200  # every order at Gold's rate


def test_an_import_that_refunds_earned_orders_takes_the_points_back(clock, program):
    today = datetime.now(UTC).isoformat()
    rows = [(f"R-{n}", "RC-1", today, "10", "paid") for n in range(BULK_AFTER_ORDERS + 1)]
    import_rows(rows)
    refunded = [(order_id, customer, placed, total, "refunded") for order_id, customer, placed, total, _s in rows]
    import_rows(refunded)
    account = Account.objects.get(customer__external_id="RC-1")
    assert (account.balance, account.pending) == (0, 0)
    assert Entry.objects.filter(kind=EntryKind.CLAWBACK).count() == BULK_AFTER_ORDERS + 1


def test_an_import_marks_reward_codes_used(clock, program, reward, manager):
    from loyalty.services import points_adjust

    customer = Customer.objects.create(external_id="RW-1", email="rw@example.com")
    points_adjust(customer=customer, points=500, reason="x", author=manager)
    code = points_redeem(customer=customer, reward=reward).redemption.code
    rows = [(f"U-{n}", "RW-1", datetime.now(UTC).isoformat(), "10", "paid") for n in range(BULK_AFTER_ORDERS + 1)]
    header = [*HEADER, "discount_code"]
    rows = [(*row, code if n == 0 else "") for n, row in enumerate(rows)]
    report = orders_import(csv_bytes(header, rows))
    assert not report.problems
    assert Redemption.objects.get(code=code).status == RedemptionStatus.USED
