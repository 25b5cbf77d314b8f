"""Fixtures of the loyalty tests: time under control, a program with three tiers, and
orders placed the real way (through `order_create`, which books their points)."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

import pytest
import time_machine

from customers.models import Customer
from customers.services import order_create
from feedback.models import SlaPolicy
from loyalty.models import Account, Program, Reward, RewardKind, Tier
from loyalty.services import forget_rules

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_order_numbers = count(1)


@pytest.fixture(autouse=True)
def _fresh_rules():
    forget_rules()
    yield
    forget_rules()


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def program(db) -> Program:
    program, _created = Program.objects.get_or_create(id=1)
    program.points_per_unit = Decimal("1")
    program.pending_days = 30
    program.expiry_months = 12
    program.save()
    Account.objects.update(tier=None)
    SlaPolicy.objects.filter(tier__isnull=False).delete()  # the migration's top-tier policy
    Tier.objects.all().delete()  # tests that want tiers ask for them
    forget_rules()
    return program


@pytest.fixture
def tiers(program) -> dict[str, Tier]:
    Tier.objects.all().delete()  # the migration's standard tiers
    made = {
        "bronze": Tier.objects.create(rank=1, names={"en": "Bronze"}, threshold=Decimal("0"), multiplier=Decimal("1")),
        "silver": Tier.objects.create(
            rank=2, names={"en": "Silver"}, threshold=Decimal("500"), multiplier=Decimal("1.5")
        ),
        "gold": Tier.objects.create(rank=3, names={"en": "Gold"}, threshold=Decimal("2000"), multiplier=Decimal("2")),
    }
    forget_rules()
    return made


@pytest.fixture
def reward(program) -> Reward:
    return Reward.objects.create(kind=RewardKind.DISCOUNT, names={"en": "€5 off"}, cost=100, value=Decimal("5"))


@pytest.fixture
def customer(db) -> Customer:
    return Customer.objects.create(
        external_id="C-1", email="ann@example.com", name="Ann", time_zone="Europe/Copenhagen", marketing_consent=True
    )


@pytest.fixture
def buy(program):
    """Place an order for a customer (paid by default) the way the API does."""

    def place(customer: Customer, total: str | Decimal, *, status: str = "paid", placed_at=None, **values):
        order, _created = order_create(
            order_id=values.pop("order_id", f"O-{next(_order_numbers)}"),
            customer_id=customer.external_id,
            placed_at=placed_at or datetime.now(UTC),
            total=Decimal(total),
            currency=values.pop("currency", "EUR"),
            status=status,
            **values,
        )
        return order

    return place
