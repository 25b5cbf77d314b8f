"""The points ledger: earning, pending periods, expiry, refunds, redemption, adjustments."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from customers.services import order_update
from loyalty.models import Account, Entry, EntryKind, Redemption, RedemptionStatus
from loyalty.services import (
    pending_release_sweep,
    points_adjust,
    points_expiry_sweep,
    points_redeem,
)
from retention_crm.errors import Conflict

pytestmark = pytest.mark.django_db


def account_of(customer) -> Account:
    return Account.objects.get(customer=customer)


def assert_in_step(account: Account) -> None:
    """balance + pending = the sum of the entries; pending = what pending credits hold."""
    account.refresh_from_db()
    entries = Entry.objects.filter(account=account)
    assert account.balance + account.pending == (entries.aggregate(total=Sum("points"))["total"] or 0)
    assert account.pending == (entries.filter(pending=True).aggregate(total=Sum("remaining"))["total"] or 0)
    assert account.balance == (entries.filter(pending=False).aggregate(total=Sum("remaining"))["total"] or 0)


def test_a_paid_order_earns_points_that_wait_for_the_returns_window(clock, customer, buy):
    buy(customer, "123.45")
    account = account_of(customer)
    assert (account.balance, account.pending) == (0, 123)
    entry = Entry.objects.get(account=account)
    assert entry.kind == EntryKind.EARN and entry.pending and entry.key.startswith("earn:order:")

    clock.shift(timedelta(days=29))
    assert pending_release_sweep() == 0
    clock.shift(timedelta(days=1, seconds=1))
    assert pending_release_sweep() == 1
    account.refresh_from_db()
    assert (account.balance, account.pending) == (123, 0)
    assert_in_step(account)


def test_an_order_earns_once_however_often_it_is_sent(clock, customer, buy):
    order = buy(customer, "50", order_id="O-ONCE")
    buy(customer, "50", order_id="O-ONCE")
    order_update(order=order, status="fulfilled")
    assert Entry.objects.filter(kind=EntryKind.EARN).count() == 1
    assert account_of(customer).pending == 50


def test_placed_orders_earn_when_paid_and_other_currencies_never(clock, customer, buy):
    order = buy(customer, "80", status="placed")
    assert not Entry.objects.exists()
    order_update(order=order, status="paid")
    assert account_of(customer).pending == 80
    buy(customer, "70", currency="USD")
    assert account_of(customer).pending == 80


def test_rounding_follows_the_program(clock, customer, buy, program):
    program.rounding = "up"
    program.save()
    from loyalty.services import forget_rules

    forget_rules()
    buy(customer, "10.01")
    assert account_of(customer).pending == 11


def test_a_refund_takes_back_what_the_order_earned_then_not_what_todays_rules_give(clock, customer, buy, program):
    order = buy(customer, "100")
    program.points_per_unit = Decimal("5")
    program.save()
    from loyalty.services import forget_rules

    forget_rules()
    order_update(order=order, refunded_total=Decimal("25"))
    account = account_of(customer)
    assert account.pending == 75  # a quarter of the 100 earned then
    order_update(order=order, refunded_total=Decimal("50"))
    account.refresh_from_db()
    assert account.pending == 50
    order_update(order=order, status="refunded")
    account.refresh_from_db()
    assert account.pending == 0
    clawbacks = Entry.objects.filter(kind=EntryKind.CLAWBACK).order_by("id")
    assert [entry.points for entry in clawbacks] == [-25, -25, -50]
    assert_in_step(account)


def test_a_refund_after_the_points_were_spent_never_goes_below_zero(clock, customer, buy, reward):
    order = buy(customer, "150")
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    points_redeem(customer=customer, reward=reward)  # 100 of the 150 spent
    order_update(order=order, status="refunded")
    account = account_of(customer)
    assert account.balance == 0
    clawback = Entry.objects.get(kind=EntryKind.CLAWBACK)
    assert clawback.points == -50
    assert "100 points had been spent already" in clawback.reason
    assert_in_step(account)


def test_redeeming_spends_the_points_that_expire_first(clock, customer, buy, reward):
    buy(customer, "60")
    clock.shift(timedelta(days=10))
    buy(customer, "60")
    clock.shift(timedelta(days=40))
    pending_release_sweep()
    redeemed = points_redeem(customer=customer, reward=reward)
    assert redeemed.balance == 20
    first, second = Entry.objects.filter(kind=EntryKind.EARN).order_by("id")
    assert (first.remaining, second.remaining) == (0, 20)
    assert redeemed.redemption.code and redeemed.redemption.status == RedemptionStatus.ISSUED
    assert_in_step(account_of(customer))


def test_too_few_points_is_a_conflict_and_changes_nothing(clock, customer, buy, reward):
    buy(customer, "99")
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    with pytest.raises(Conflict, match="Not enough points: 99 available, 100 needed"):
        points_redeem(customer=customer, reward=reward)
    assert not Redemption.objects.exists()
    assert account_of(customer).balance == 99


def test_pending_points_cannot_be_spent(clock, customer, buy, reward):
    buy(customer, "500")
    with pytest.raises(Conflict):
        points_redeem(customer=customer, reward=reward)


def test_stock_runs_out(clock, customer, buy, reward):
    reward.stock = 1
    reward.save()
    buy(customer, "300")
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    points_redeem(customer=customer, reward=reward)
    with pytest.raises(Conflict, match="out of stock"):
        points_redeem(customer=customer, reward=reward)
    assert account_of(customer).balance == 200


def test_points_expire_a_year_after_earning_with_what_is_left_of_them(clock, customer, buy, reward):
    buy(customer, "150")
    clock.shift(timedelta(days=31))
    pending_release_sweep()
    points_redeem(customer=customer, reward=reward)
    clock.shift(timedelta(days=300))
    buy(customer, "40")
    clock.shift(timedelta(days=40))  # the first order is now more than 12 months old
    pending_release_sweep()
    assert points_expiry_sweep() == 1
    expire = Entry.objects.get(kind=EntryKind.EXPIRE)
    assert expire.points == -50
    account = account_of(customer)
    assert account.balance == 40
    assert points_expiry_sweep() == 0  # nothing twice
    assert_in_step(account)


def test_an_old_imported_order_earns_points_that_have_expired_already(clock, customer, buy):
    buy(customer, "80")  # today: pending
    buy(customer, "70", placed_at=datetime(2024, 1, 10, tzinfo=UTC))  # long expired
    account = account_of(customer)
    assert (account.balance, account.pending) == (70, 80)
    assert points_expiry_sweep() == 1
    account.refresh_from_db()
    assert (account.balance, account.pending) == (0, 80)


def test_adjustments_need_a_reason_and_a_whole_number(clock, customer, manager):
    with pytest.raises(ValidationError, match="Say why"):
        points_adjust(customer=customer, points=10, reason=" ", author=manager)
    with pytest.raises(ValidationError, match="whole number"):
        points_adjust(customer=customer, points=0, reason="x", author=manager)
    points_adjust(customer=customer, points=30, reason="Lost parcel", author=manager)
    with pytest.raises(Conflict):
        points_adjust(customer=customer, points=-31, reason="Correction", author=manager)
    points_adjust(customer=customer, points=-30, reason="Correction", author=manager)
    account = account_of(customer)
    assert account.balance == 0
    assert_in_step(account)


def test_the_database_refuses_a_negative_balance(customer):
    Account.objects.create(customer=customer, referral_code="ABCDEFGH")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(customer=customer).update(balance=-1)


def test_an_order_carrying_a_reward_code_uses_it_once_and_only_above_the_minimum(clock, customer, buy, reward, manager):
    from loyalty.models import Program
    from loyalty.services import forget_rules

    Program.objects.filter(id=1).update(min_order_to_use_points=Decimal("25"))
    forget_rules()
    points_adjust(customer=customer, points=300, reason="x", author=manager)
    code = points_redeem(customer=customer, reward=reward).redemption.code
    buy(customer, "20", discount_code=code.lower())  # below the minimum: the code stays issued
    assert Redemption.objects.get(code=code).status == RedemptionStatus.ISSUED
    order = buy(customer, "30", discount_code=code)
    redemption = Redemption.objects.get(code=code)
    assert (redemption.status, redemption.used_on) == (RedemptionStatus.USED, order)
