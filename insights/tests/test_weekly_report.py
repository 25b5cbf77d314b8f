"""The weekly report: last week against the week before, to each manager once."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from customers.models import Message
from customers.outbox import message_deliver
from customers.tests.factories import CustomerFactory, OrderFactory
from insights.report import last_week, weekly_report_send

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 6, 15, 7, tzinfo=UTC)


def test_last_week_is_monday_to_sunday():
    week = last_week(MONDAY.date())
    assert (week.start.isoformat(), week.end.isoformat()) == ("2026-06-08", "2026-06-14")
    assert last_week(datetime(2026, 6, 21, tzinfo=UTC).date()) == week  # a Sunday: the same week before


def test_each_manager_gets_the_report_once_with_what_changed(manager, agent, mailoutbox):
    manager.email, agent.email = "boss@example.com", "agent@example.com"
    manager.save()
    agent.save()
    customer = CustomerFactory()
    OrderFactory(customer=customer, placed_at=datetime(2026, 6, 2, 10, tzinfo=UTC), total=Decimal("40.00"))
    OrderFactory(customer=customer, placed_at=datetime(2026, 6, 10, 10, tzinfo=UTC), total=Decimal("100.00"))
    with time_machine.travel(MONDAY, tick=False):
        assert weekly_report_send() == 1
        assert weekly_report_send() == 0  # once per manager and week
    (report,) = Message.objects.filter(kind="weekly_report")
    assert report.to_email == "boss@example.com"
    assert message_deliver(report.pk) == "sent"
    (sent,) = mailoutbox
    assert sent.extra_headers["X-CRM-Kind"] == "weekly_report"
    assert "Retention report" in sent.subject
    changed = sent.body[sent.body.index("What changed") : sent.body.index("Every figure")]
    assert "▲ Revenue: 100.00 (+60.00)" in changed
    assert "Revenue: 100.00 · before: 40.00" in sent.body
    assert "/admin/?start=2026-06-08&end=2026-06-14" in sent.body
