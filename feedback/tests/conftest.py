"""Fixtures of the ticket tests: time under control, tickets opened the real way."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from customers.models import Delivery, Message
from customers.outbox import message_deliver
from feedback.models import BusinessCalendar, BusinessHours, SlaPolicy
from feedback.services import ticket_open

# A Monday morning.
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """Time stands still at NOW until the test moves it (clock.shift / clock.move_to)."""
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def open_ticket(db):
    def make(**values):
        values.setdefault("email", "ann@example.com")
        values.setdefault("name", "Ann Archer")
        values.setdefault("description", "My parcel never arrived.")
        values.setdefault("kind", "complaint")
        return ticket_open(**values)

    return make


@pytest.fixture
def default_policy(db):
    return SlaPolicy.objects.get(is_default=True)


@pytest.fixture
def office_calendar(db):
    """Monday to Friday, 9-12 and 13-17, in Copenhagen."""
    calendar = BusinessCalendar.objects.create(name="Office", time_zone="Europe/Copenhagen")
    for weekday in range(5):
        BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=time(9), closes=time(12))
        BusinessHours.objects.create(calendar=calendar, weekday=weekday, opens=time(13), closes=time(17))
    return calendar


def emails(kind: str | None = None, **filters):
    """Outbox rows, oldest first."""
    rows = Message.objects.exclude(delivery="").order_by("id")
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.filter(**filters))


def pending(kind: str):
    return emails(kind, delivery=Delivery.PENDING)


def delivered(kind: str | None = None, **filters) -> list[Message]:
    """Deliver the pending emails (of a kind) as a worker would, through the test mail
    backend: automatic ones are written out then. Returns the rows, oldest first."""
    for message in emails(kind, delivery=Delivery.PENDING, **filters):
        message_deliver(message.pk)
    return emails(kind, **filters)


HOUR = timedelta(hours=1)
