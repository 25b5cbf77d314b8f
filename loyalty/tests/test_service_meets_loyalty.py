"""Service and loyalty meet: the SLA policy follows the tier, and goodwill points are
given from a ticket within the cap."""

from datetime import timedelta

import pytest

from feedback.services import ticket_open
from loyalty.models import Account, Entry, EntryKind
from loyalty.services import points_goodwill
from retention_crm.errors import Conflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def standard_tiers(program):
    """The migration's tiers and its "Top-tier complaints" policy (the program fixture
    set them aside; they are put back here as the migration made them)."""
    from feedback.models import SlaPolicy
    from loyalty.models import Tier
    from loyalty.services import forget_rules

    gold = Tier.objects.create(rank=3, names={"en": "Gold"}, threshold=2000)
    Tier.objects.create(rank=1, names={"en": "Bronze"}, threshold=0)
    SlaPolicy.objects.update_or_create(
        name="Top-tier complaints",
        defaults={
            "position": 0,
            "kind": "complaint",
            "priority": "normal",
            "tier": gold,
            "answer_within": timedelta(minutes=30),
            "resolve_within": timedelta(days=1),
        },
    )
    forget_rules()
    return gold


def complaint(email: str):
    return ticket_open(email=email, name="", description="It broke.", kind="complaint")


def test_top_tier_complaints_get_the_faster_policy(clock, customer, buy, standard_tiers):
    buy(customer, "2500")
    assert Account.objects.get(customer=customer).tier == standard_tiers
    ticket = complaint(customer.email)
    assert ticket.policy.name == "Top-tier complaints"
    assert ticket.resolve_by - ticket.created_at == timedelta(days=1)


def test_other_customers_keep_the_default(clock, customer, buy, standard_tiers):
    buy(customer, "20")
    assert complaint(customer.email).policy.is_default
    assert complaint("stranger@example.com").policy.is_default  # no account at all


def test_goodwill_from_a_ticket_within_the_cap(clock, customer, program, manager):
    ticket = complaint(customer.email)
    points_goodwill(ticket=ticket, points=300, author=manager)
    points_goodwill(ticket=ticket, points=200, author=manager, reason="Second parcel lost too")
    with pytest.raises(Conflict, match="At most 500 goodwill points per ticket; 500 given already"):
        points_goodwill(ticket=ticket, points=1, author=manager)
    entries = Entry.objects.filter(kind=EntryKind.GOODWILL, ticket=ticket)
    assert sorted(entries.values_list("points", flat=True)) == [200, 300]
    assert Account.objects.get(customer=customer).balance == 500
