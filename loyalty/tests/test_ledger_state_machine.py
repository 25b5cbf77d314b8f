"""A hypothesis state machine drives earn, redeem, time passing (release and expiry),
refunds and adjustments through the services, against a plain reference model of the
rules; after every step the account equals the model and the ledger's own invariants
hold (balance + pending = sum of entries, never negative)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import count

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from customers.models import Customer
from customers.services import order_create, order_update
from feedback.models import SlaPolicy
from loyalty.models import Account, Entry, Program, Reward, RewardKind, Tier
from loyalty.services import (
    forget_rules,
    pending_release_sweep,
    points_adjust,
    points_expiry_sweep,
    points_redeem,
)
from retention_crm.errors import Conflict

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PENDING_DAYS = 30
EXPIRY_MONTHS = 6


@dataclass
class Credit:
    number: int  # booking order: ties of expiry are spent oldest first
    points: int
    remaining: int
    available_at: datetime
    expires_at: datetime
    order: object = None

    def pending(self, now: datetime) -> bool:
        return self.available_at > now


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.travel = time_machine.travel(START, tick=False)
        self.traveller = self.travel.start()
        self.numbers = count()
        self.credits: list[Credit] = []
        self.clawed: dict[int, int] = {}  # order pk -> points taken back so far
        self.clawback_keys: set[tuple[int, int]] = set()  # (order pk, owed) booked
        self.orders: list = []

    def teardown(self):
        self.travel.stop()
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    @initialize()
    def setup(self):
        Program.objects.filter(id=1).update(
            points_per_unit=Decimal(1), rounding="down", pending_days=PENDING_DAYS, expiry_months=EXPIRY_MONTHS
        )
        Account.objects.update(tier=None)
        SlaPolicy.objects.filter(tier__isnull=False).delete()
        Tier.objects.all().delete()
        forget_rules()
        self.customer = Customer.objects.create(external_id="SM-1", email="sm@example.com")
        self.manager = User.objects.create_user("sm-manager", is_staff=True)
        self.rewards = {cost: Reward.objects.create(kind=RewardKind.GIFT, cost=cost) for cost in (1, 7, 40, 150)}

    # --- the model -------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.now(UTC)

    def available(self) -> list[Credit]:
        now = self.now()
        return sorted(
            (credit for credit in self.credits if credit.remaining > 0 and not credit.pending(now)),
            key=lambda credit: (credit.expires_at, credit.number),
        )

    def balance(self) -> int:
        return sum(credit.remaining for credit in self.available())

    def pending_points(self) -> int:
        now = self.now()
        return sum(credit.remaining for credit in self.credits if credit.pending(now))

    def take(self, points: int) -> int:
        taken = 0
        for credit in self.available():
            part = min(credit.remaining, points - taken)
            credit.remaining -= part
            taken += part
            if taken == points:
                break
        return taken

    def credit(self, points: int, *, available_at: datetime, order=None) -> None:
        now = self.now()
        self.credits.append(
            Credit(
                number=next(self.numbers),
                points=points,
                remaining=points,
                available_at=available_at,
                expires_at=now + relativedelta(months=EXPIRY_MONTHS),
                order=order,
            )
        )

    # --- the rules -------------------------------------------------------------------

    @rule(total=st.decimals(min_value=0, max_value=500, places=2))
    def earn(self, total):
        order, _created = order_create(
            order_id=f"SM-O-{next(self.numbers)}",
            customer_id="SM-1",
            placed_at=self.now(),
            total=total,
            currency="EUR",
            status="paid",
        )
        points = int(total)  # one point per euro, rounded down
        if points:
            self.credit(points, available_at=self.now() + timedelta(days=PENDING_DAYS), order=order)
        self.orders.append(order)

    @rule(cost=st.sampled_from([1, 7, 40, 150]))
    def redeem(self, cost):
        balance = self.balance()
        if cost > balance:
            with pytest.raises(Conflict):
                points_redeem(customer=self.customer, reward=self.rewards[cost])
        else:
            points_redeem(customer=self.customer, reward=self.rewards[cost])
            assert self.take(cost) == cost

    @rule(days=st.integers(min_value=1, max_value=120))
    def time_passes(self, days):
        self.traveller.shift(timedelta(days=days))
        pending_release_sweep()
        points_expiry_sweep()
        now = self.now()
        for credit in self.credits:
            if not credit.pending(now) and credit.expires_at <= now:
                credit.remaining = 0

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), percent=st.integers(min_value=1, max_value=100))
    def refund(self, data, percent):
        order = data.draw(st.sampled_from(self.orders))
        order.refresh_from_db()
        refunded = (order.total * percent / 100).quantize(Decimal("0.01"))
        if order.status == "refunded" or refunded <= order.refunded_total:
            return
        if percent == 100:
            order_update(order=order, status="refunded")
        else:
            order_update(order=order, refunded_total=refunded)
        own = next((credit for credit in self.credits if credit.order == order), None)
        if own is None:
            return
        share = Decimal(1) if percent == 100 else min(refunded / order.total, Decimal(1))
        owed = int((own.points * share).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        wanted = owed - self.clawed.get(order.pk, 0)
        if wanted <= 0 or (order.pk, owed) in self.clawback_keys:
            return
        from_own = min(own.remaining, wanted)
        own.remaining -= from_own
        taken = from_own + self.take(min(wanted - from_own, self.balance()))
        if taken:
            self.clawed[order.pk] = self.clawed.get(order.pk, 0) + taken
            self.clawback_keys.add((order.pk, owed))

    @rule(points=st.integers(min_value=-300, max_value=300).filter(bool))
    def adjust(self, points):
        if points < 0 and -points > self.balance():
            with pytest.raises(Conflict):
                points_adjust(customer=self.customer, points=points, reason="test", author=self.manager)
            return
        points_adjust(customer=self.customer, points=points, reason="test", author=self.manager)
        if points > 0:
            self.credit(points, available_at=self.now())
        else:
            assert self.take(-points) == -points

    # --- what must always hold -------------------------------------------------------

    @invariant()
    def account_equals_the_model_and_the_ledger(self):
        account = Account.objects.filter(customer__external_id="SM-1").first()
        if account is None:
            assert self.balance() == self.pending_points() == 0
            return
        entries = Entry.objects.filter(account=account)
        total = entries.aggregate(total=Sum("points"))["total"] or 0
        assert account.balance >= 0 and account.pending >= 0
        assert account.balance + account.pending == total
        assert (account.balance, account.pending) == (self.balance(), self.pending_points())


@pytest.mark.django_db
def test_the_ledger_against_a_reference_model():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
