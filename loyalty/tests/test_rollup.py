"""The ledger's days: figures read from them plus the entries written since equal the
figures summed from every entry, whatever was written after the rebuild (entries dated
in the past included) and whatever the periods."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Q, Sum
from django.test import override_settings

from customers.metrics.period import midnight
from customers.models import Customer
from loyalty.models import Account, Entry, EntryKind, LedgerDay
from loyalty.rollup import ledger_days_rebuild, rolled_up_through
from loyalty.selectors import PointsFlows, points_in_periods

pytestmark = pytest.mark.django_db

KINDS = [("earn", 1), ("redeem", -1), ("expire", -1), ("adjust", 1), ("adjust", -1), ("birthday", 1)]


def write_entries(account, rng: random.Random, count: int, prefix: str) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    Entry.objects.bulk_create(
        Entry(
            account=account,
            kind=kind,
            points=sign * rng.randint(1, 300),
            key=f"{prefix}:{n}",
            # Some on the very midnight of a day: the day boundaries are tested too.
            created_at=start + timedelta(days=rng.randint(0, 500), hours=rng.choice([0, 5, 23]) * rng.randint(0, 1)),
        )
        for n, (kind, sign) in ((n, rng.choice(KINDS)) for n in range(count))
    )


def expected(since, until) -> tuple:
    """The same figures summed from every entry (the reference)."""
    sums = Entry.objects.filter(created_at__gte=since, created_at__lt=until).aggregate(
        earned=Sum("points", filter=Q(points__gt=0), default=0),
        redeemed=Sum("points", filter=Q(kind=EntryKind.REDEEM), default=0),
        expired=Sum("points", filter=Q(kind=EntryKind.EXPIRE), default=0),
        net=Sum("points", default=0),
    )
    flows = PointsFlows(earned=sums["earned"], redeemed=-sums["redeemed"], expired=-sums["expired"], net=sums["net"])
    after = Entry.objects.filter(created_at__gte=until).aggregate(s=Sum("points", default=0))["s"]
    return flows, after


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Seoul", "America/New_York"])
def test_days_plus_what_came_since_equal_the_whole_ledger(time_zone):
    with override_settings(TIME_ZONE=time_zone):
        rng = random.Random(7)
        account = Account.objects.create(
            customer=Customer.objects.create(email="l@example.com"), referral_code="ROLL0001"
        )
        write_entries(account, rng, 400, "before")
        assert ledger_days_rebuild() > 100
        assert rolled_up_through() == Entry.objects.order_by("-id").values_list("id", flat=True).first()
        write_entries(account, rng, 60, "after")  # written since, dated anywhere
        periods = []
        for _ in range(6):
            start = date(2025, 1, 1) + timedelta(days=rng.randint(0, 450))
            length = rng.randint(1, 120)
            periods.append((midnight(start), midnight(start + timedelta(days=length))))
        assert points_in_periods(periods) == [expected(since, until) for since, until in periods]


def test_days_of_another_time_zone_are_not_used():
    account = Account.objects.create(customer=Customer.objects.create(email="z@example.com"), referral_code="ROLL0002")
    write_entries(account, random.Random(3), 50, "x")
    ledger_days_rebuild()
    LedgerDay.objects.update(net=999_999)  # were they read, the figures would show it
    with override_settings(TIME_ZONE="Asia/Seoul"):
        assert rolled_up_through() == 0
        period = (midnight(date(2025, 3, 1)), midnight(date(2025, 6, 1)))
        assert points_in_periods([period]) == [expected(*period)]
    assert LedgerDay.objects.filter(~Q(net=999_999)).count() == 0
