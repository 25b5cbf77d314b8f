"""Customer 360: the figures, one timeline of every source in time order, pages that
neither skip nor repeat, and a number of queries that does not grow with the history."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Entry as TimelineEntry
from customers.models import Message
from customers.tests.factories import CustomerFactory, OrderFactory
from feedback.models import Reminder, SlaPolicy, Survey, SurveyInvitation, SurveyResponse, Ticket
from insights.customer360 import parse_cursor, timeline
from insights.scoring import scores_compute
from loyalty.models import Account, Entry

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def history(customer, user):
    """One row of each source, an hour apart: order, ticket, message, answer, points,
    reminder (in that order of time)."""
    OrderFactory(customer=customer, external_id="H-1", placed_at=T0, total=Decimal("42.00"))
    ticket = Ticket.objects.create(
        customer=customer, kind="complaint", subject="Broken lid", description="It broke",
        policy=SlaPolicy.objects.get(is_default=True), created_at=T0 + timedelta(hours=1),
    )  # fmt: skip
    Message.objects.create(
        customer=customer, ticket=ticket, entry=TimelineEntry.CALL, body="Promised a new lid",
        occurred_at=T0 + timedelta(hours=2),
    )  # fmt: skip
    survey = Survey.objects.get(kind="nps")
    invitation = SurveyInvitation.objects.create(survey=survey, customer=customer, source="api", key="h")
    SurveyResponse.objects.create(
        invitation=invitation, survey=survey, customer=customer, score=Decimal("4"),
        submitted_at=T0 + timedelta(hours=3),
    )  # fmt: skip
    account = Account.objects.create(customer=customer, referral_code="HIST0001", balance=25)
    Entry.objects.create(
        account=account, kind="adjust", points=25, key="h1", reason="Sorry for the lid",
        created_at=T0 + timedelta(hours=4),
    )  # fmt: skip
    Reminder.objects.create(
        customer=customer, ticket=ticket, note="Check the lid arrived", due_at=T0 + timedelta(hours=5),
        created_by=user, assignee=user,
    )  # fmt: skip
    return ticket


def test_one_timeline_holds_every_source_newest_first(manager_client, manager):
    customer = CustomerFactory()
    history(customer, manager)
    events, older = timeline(customer)
    assert [event.what for event in events] == ["Reminder", "Points", "Survey answer", "Call", "Ticket opened", "Order"]
    assert older is None
    assert "Sorry for the lid" in events[1].text and "+25" in events[1].text
    assert "H-1" in events[-1].text and "42.00" in events[-1].text
    assert events[2].text.endswith(": 4")  # the score as people write it, not 4.00

    page = manager_client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    for text in ("Check the lid arrived", "Sorry for the lid", "Promised a new lid", "Broken lid", "H-1"):
        assert text in page
    assert "25 spendable, 0 pending" in page


def test_pages_of_the_timeline_neither_skip_nor_repeat_events_of_the_same_moment():
    customer = CustomerFactory()
    for number in range(7):  # seven orders and five notes at the very same moment
        OrderFactory(customer=customer, external_id=f"S-{number}", placed_at=T0)
    for number in range(5):
        Message.objects.create(customer=customer, entry=TimelineEntry.NOTE, body=f"note {number}", occurred_at=T0)
    seen, cursor = [], None
    while True:
        events, older = timeline(customer, cursor=cursor, size=5)
        seen += [(event.source, event.id) for event in events]
        if older is None:
            break
        cursor = parse_cursor(older)
    assert len(seen) == 12 and len(set(seen)) == 12


def test_a_broken_cursor_shows_the_newest_page():
    assert parse_cursor("not|a|cursor") is None
    assert parse_cursor("2026-11-30T10:00:00+00:00|²|3") is None  # a digit to isdigit; int() refused it
    assert parse_cursor("2026-03-01T09:00:00|1") is None
    assert parse_cursor("2026-03-01T09:00:00|1|2") is None  # no time zone: refused
    assert parse_cursor("2026-03-01T09:00:00+00:00|1|2") == (T0, 1, 2)


def test_the_figures_show_risk_clv_tier_and_points(agent_client, agent):
    customer = CustomerFactory()
    history(customer, agent)
    scores_compute(now=T0 + timedelta(days=1))
    page = agent_client.get(f"/admin/customers/customer/{customer.pk}/change/").content.decode()
    risk = page[page.index('id="customer-churn-risk"') :][:400]
    # An open complaint (15) and a detractor's answer (15); on rhythm (a day after the
    # only order, against the shop's week): 30.
    assert "30 / 100" in risk and "complaints 15" in risk and "survey answers 15" in risk


def _queries(client, customer) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/admin/customers/customer/{customer.pk}/change/").status_code == 200
    return len(queries.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_history(manager_client, manager):
    customer = CustomerFactory()
    history(customer, manager)
    _queries(manager_client, customer)  # warms the caches (permissions, rules)
    few = _queries(manager_client, customer)
    for number in range(60):
        when = T0 - timedelta(days=number + 1)
        OrderFactory(customer=customer, placed_at=when)
        Message.objects.create(customer=customer, entry=TimelineEntry.NOTE, body=f"n{number}", occurred_at=when)
        Entry.objects.create(account_id=customer.pk, kind="adjust", points=1, key=f"m{number}", created_at=when)
    assert _queries(manager_client, customer) == few
