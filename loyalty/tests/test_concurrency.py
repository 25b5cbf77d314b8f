"""Redemptions racing for one balance on PostgreSQL: each thread (or gunicorn worker) on
its own connection, released at the same moment."""

import pytest
from django.contrib.auth.models import User

from customers.tests.test_concurrency import race
from loyalty.models import Account, Entry, EntryKind, Redemption, Reward, RewardKind
from loyalty.services import points_adjust, points_redeem
from retention_crm.errors import Conflict

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def whole_balance(customer, program):
    manager = User.objects.create_user("boss", is_staff=True)
    points_adjust(customer=customer, points=1000, reason="Start", author=manager)
    return Reward.objects.create(kind=RewardKind.GIFT, names={"en": "Everything"}, cost=1000)


def expired_credit(account: Account, *, now) -> Entry:
    """Ten points of `account` earned 400 days ago that expired yesterday, unspent."""
    from datetime import timedelta

    return Entry.objects.create(
        account=account,
        kind="adjust",
        points=10,
        key=f"old:{account.pk}",
        remaining=10,
        expires_at=now - timedelta(days=1),
        created_at=now - timedelta(days=400),
    )


def test_twenty_threads_redeem_the_whole_balance_and_exactly_one_succeeds(customer, whole_balance):
    def redeem(_i):
        try:
            return points_redeem(customer=customer, reward=whole_balance).redemption.code
        except Conflict as exc:
            return exc

    results = race(20, redeem)
    codes = [result for result in results if isinstance(result, str)]
    refused = [result for result in results if isinstance(result, Conflict)]
    assert len(codes) == 1 and len(refused) == 19
    assert all("Not enough points" in str(exc.messages[0]) for exc in refused)
    account = Account.objects.get(customer=customer)
    assert account.balance == 0
    assert Redemption.objects.count() == 1
    assert Entry.objects.filter(kind=EntryKind.REDEEM).count() == 1


def test_one_page_form_sent_ten_times_at_once_redeems_once(customer, program):
    """The submission's key is looked up under the account's lock: the others wait for
    the first redemption's commit and answer with it."""
    manager = User.objects.create_user("boss", is_staff=True)
    points_adjust(customer=customer, points=1000, reason="Start", author=manager)
    mug = Reward.objects.create(kind=RewardKind.GIFT, names={"en": "Mug"}, cost=100)

    def redeem(_i):
        return points_redeem(customer=customer, reward=mug, key="form:same-page").redemption.code

    assert len(set(race(10, redeem))) == 1
    assert Redemption.objects.count() == 1 and Account.objects.get(customer=customer).balance == 900


def test_twenty_threads_with_the_last_of_the_stock_and_enough_points(customer, program):
    manager = User.objects.create_user("boss", is_staff=True)
    points_adjust(customer=customer, points=10_000, reason="Start", author=manager)
    reward = Reward.objects.create(kind=RewardKind.GIFT, names={"en": "Mug"}, cost=10, stock=3)

    def redeem(_i):
        try:
            return points_redeem(customer=customer, reward=reward).redemption.code
        except Conflict as exc:
            return exc

    results = race(20, redeem)
    assert sum(isinstance(result, str) for result in results) == 3
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Account.objects.get(customer=customer).balance == 10_000 - 30


def test_sweeps_racing_each_other_expire_release_and_reward_once(program):
    """Four sweeps at once over the same due rows: each credit expires once, each
    pending credit is released once, each referrer is rewarded once."""
    from datetime import UTC, datetime, timedelta

    from customers.models import Customer
    from loyalty.models import Referral
    from loyalty.services import (
        pending_release_sweep,
        points_expiry_sweep,
        referral_reward_sweep,
    )

    now = datetime.now(UTC)
    accounts = []
    for n in range(40):
        customer = Customer.objects.create(external_id=f"SW-{n}", email=f"sw{n}@example.com")
        accounts.append(Account.objects.create(customer=customer, referral_code=f"SWEEP{n:03d}"))
    for account in accounts:
        expired_credit(account, now=now)
        Entry.objects.create(
            account=account,
            kind="earn",
            points=7,
            key=f"new:{account.pk}",
            remaining=7,
            pending=True,
            available_at=now - timedelta(minutes=1),
            created_at=now - timedelta(days=31),
        )
    Account.objects.update(balance=10, pending=7)
    for n in range(1, 40):
        Referral.objects.create(referrer=accounts[0], referee=accounts[n], created_at=now, reward_due_at=now)

    def sweep(i):
        return (pending_release_sweep(batch=7), points_expiry_sweep(batch=7), referral_reward_sweep(batch=50))

    results = race(4, sweep)
    assert sum(result[0] for result in results) == 40
    assert sum(result[1] for result in results) == 40
    assert sum(result[2] for result in results) == 39
    assert Entry.objects.filter(kind=EntryKind.EXPIRE).count() == 40
    assert Entry.objects.filter(kind="referral").count() == 39
    for account in Account.objects.all():
        entries = Entry.objects.filter(account=account)
        assert account.pending == 0
        assert account.balance == sum(entries.values_list("points", flat=True))


def test_what_is_read_with_the_lock_sees_what_the_lock_holder_committed(customer, tiers):
    """`_locked_and_read` sends the lock and the tier's figures in one round trip: the
    figures are a second statement, with a snapshot taken after the lock is granted. A
    transaction holding the account's lock writes a paid order and commits while
    another waits: the waiter's figures include that order."""
    import threading
    import time
    from datetime import UTC, datetime
    from decimal import Decimal

    from django.db import connection, transaction

    from customers.models import Order
    from loyalty.services import _locked, _locked_and_read, _qualifying_query, _qualifying_result

    Account.objects.create(customer=customer, referral_code="HOLDER01")
    now = datetime.now(UTC)
    holding, release = threading.Event(), threading.Event()
    errors: list = []
    figures: list = []

    def holder():
        try:
            with transaction.atomic():
                _locked(customer.pk)
                Order.objects.create(
                    external_id="HELD", customer=customer, placed_at=now, total=Decimal("300"), status="paid"
                )
                holding.set()
                release.wait(timeout=30)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def waiter():
        try:
            with transaction.atomic():
                _account, row = _locked_and_read(customer.pk, _qualifying_query(customer.pk, now=now))
                figures.append(_qualifying_result(row, None))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    assert holding.wait(timeout=30)
    threads[1].start()
    waiting = ""
    deadline = time.monotonic() + 20
    while not waiting and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            row = cursor.fetchone()
        waiting = row[0] if row else ""
        time.sleep(0.05)
    release.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert "loyalty_account" in waiting and "FOR UPDATE" in waiting, waiting  # it did wait for the lock
    assert figures == [Decimal("300.00")]


def test_first_points_at_once_open_one_account_and_lose_none(customer, program):
    """The account is opened by whoever books the customer's first points: ten
    adjustments at once (an INSERT … ON CONFLICT DO NOTHING each, then the lock) open it
    once, and every one of them is booked."""
    manager = User.objects.create_user("opener", is_staff=True)
    assert not Account.objects.filter(customer=customer).exists()

    def adjust(i):
        return points_adjust(customer=customer, points=10 + i, reason=f"Start {i}", author=manager).points

    booked = race(10, adjust)
    assert sorted(booked) == list(range(10, 20))
    account = Account.objects.get(customer=customer)
    assert account.balance == sum(range(10, 20))
    assert Entry.objects.filter(account=account).count() == 10


def test_a_first_earning_order_opens_the_account_and_reads_the_tier_in_the_locks_round_trip(customer, tiers):
    """Opening the account costs one INSERT and the lock again, with the tier's figures
    in the lock's round trip (it cost two reads more, and the figures a query of their
    own)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from loyalty.services import _locked_and_read, _qualifying_query, _qualifying_result, program_rules, tiers_by_rank

    program_rules(), tiers_by_rank()  # the rules, cached by every process
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        account, row = _locked_and_read(customer.pk, _qualifying_query(customer.pk, now=timezone.now()))
    statements = [query["sql"] for query in queries.captured_queries if query["sql"] not in ("BEGIN", "COMMIT")]
    assert len(statements) == 3, statements
    assert "FOR UPDATE" in statements[0]  # finds no account
    assert statements[1].startswith('INSERT INTO "loyalty_account"')
    lock, tier_figures = statements[2].split("; ", 1)  # one round trip: the lock, then the figures
    assert "FOR UPDATE" in lock
    assert tier_figures.startswith("SELECT 0, sum(total)")
    assert account.customer_id == customer.pk and account.referral_code
    assert _qualifying_result(row, None) == 0  # no orders yet, read with the lock


def test_an_expiry_sweep_passes_over_an_account_another_transaction_holds_and_the_next_takes_it(program):
    """The sweep locks a batch's accounts with SKIP LOCKED: one held by a redemption is
    left alone, without waiting for it, and expires at the next sweep."""
    import threading
    from datetime import UTC, datetime

    from django.db import connection, transaction

    from customers.models import Customer
    from loyalty.services import points_expiry_sweep

    now = datetime.now(UTC)
    accounts = []
    for n in range(3):
        customer = Customer.objects.create(external_id=f"EX-{n}", email=f"ex{n}@example.com")
        account = Account.objects.create(customer=customer, referral_code=f"EXPIRY{n:03d}", balance=10)
        expired_credit(account, now=now)
        accounts.append(account)
    held, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Account.objects.select_for_update().get(pk=accounts[1].pk)
            held.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        assert points_expiry_sweep(now=now) == 2
    finally:
        release.set()
        holder.join()
    assert [Account.objects.get(pk=account.pk).balance for account in accounts] == [0, 10, 0]
    assert points_expiry_sweep(now=now) == 1
    assert Account.objects.get(pk=accounts[1].pk).balance == 0
    assert Entry.objects.filter(kind=EntryKind.EXPIRE).count() == 3
