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
