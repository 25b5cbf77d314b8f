"""Customer 360: one customer's figures and one timeline of everything the apps hold
about them (orders, tickets, messages, survey answers, points entries, reminders).

The timeline is merged from the newest rows of each source, each read on an index of
(customer, time) and cut at `size + 1`: one query per source whatever the customer's
history, so a customer with 5,000 orders costs what one with 5 does. Pages go back with
a keyset cursor (time, source, id), so nothing is skipped or shown twice even where
many events share a moment."""

import heapq
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from customers.models import Customer, Message, Order
from customers.outbox import kind_name
from customers.selectors import CustomerLifetime, customer_lifetime
from feedback.models import Reminder, SurveyResponse, Ticket
from feedback.surveys.services import score_text
from loyalty.models import Account, Entry
from loyalty.selectors import describe

from .models import CustomerScore

PAGE_SIZE = 50


@dataclass(frozen=True)
class Figures:
    lifetime: CustomerLifetime
    score: CustomerScore | None  # None until the first nightly run after the customer came
    account: Account | None  # None for a customer who is not a member

    @property
    def predicted_clv(self) -> Decimal | None:
        return self.score.predicted_clv if self.score else None


def customer_figures(customer: Customer) -> Figures:
    """Three queries: the lifetime aggregate, the score, the loyalty account (with tier)."""
    return Figures(
        lifetime=customer_lifetime(customer),
        score=CustomerScore.objects.filter(customer=customer).first(),
        account=Account.objects.select_related("tier").filter(customer=customer).first(),
    )


@dataclass(frozen=True)
class Event:
    when: datetime
    source: int  # the source's rank: with `id`, breaks ties in a fixed order
    id: int
    what: str  # a short label: "Order", "Ticket", "Email to the customer", …
    text: str
    url: str = ""

    @property
    def key(self) -> tuple:
        return (self.when, self.source, self.id)

    @property
    def cursor(self) -> str:
        return f"{self.when.isoformat()}|{self.source}|{self.id}"


@dataclass(frozen=True)
class Source:
    rank: int
    time_field: str

    def after(self, queryset: QuerySet, cursor: tuple | None) -> QuerySet:
        """The rows that come after `cursor` in newest-first order."""
        if cursor is None:
            return queryset
        when, rank, row_id = cursor
        older = Q(**{f"{self.time_field}__lt": when})
        if self.rank < rank:
            same_moment = Q(**{self.time_field: when})
        elif self.rank == rank:
            same_moment = Q(**{self.time_field: when, "id__lt": row_id})
        else:
            return queryset.filter(older)
        return queryset.filter(older | same_moment)

    def newest(self, queryset: QuerySet, cursor: tuple | None, size: int) -> QuerySet:
        return self.after(queryset, cursor).order_by(f"-{self.time_field}", "-id")[:size]


ORDERS, TICKETS, MESSAGES, ANSWERS, POINTS, REMINDERS = (
    Source(0, "placed_at"),
    Source(1, "created_at"),
    Source(2, "occurred_at"),
    Source(3, "submitted_at"),
    Source(4, "created_at"),
    Source(5, "due_at"),
)


def parse_cursor(value: str | None) -> tuple | None:
    """The cursor of an "older" link, or None (the newest page) for anything else."""
    if not value:
        return None
    parts = value.split("|")
    if len(parts) != 3 or not all(part.isascii() and part.isdigit() for part in parts[1:]):
        return None
    when = parse_datetime(parts[0])
    return None if when is None or when.tzinfo is None else (when, int(parts[1]), int(parts[2]))


def _admin_url(name: str, pk: int) -> str:
    return reverse(f"admin:{name}_change", args=[pk])


def _orders(customer: Customer, cursor, size: int) -> list[Event]:
    rows = ORDERS.newest(Order.objects.filter(customer=customer), cursor, size)
    return [
        Event(
            order.placed_at,
            ORDERS.rank,
            order.id,
            _("Order"),
            f"{order.external_id}: {order.total} {order.currency} ({order.get_status_display()})",
            _admin_url("customers_order", order.id),
        )
        for order in rows
    ]


def _tickets(customer: Customer, cursor, size: int) -> list[Event]:
    rows = TICKETS.newest(Ticket.objects.filter(customer=customer), cursor, size)
    return [
        Event(
            ticket.created_at,
            TICKETS.rank,
            ticket.id,
            _("Ticket opened"),
            f"{ticket.reference} · {ticket.get_kind_display()} · {ticket.subject} ({ticket.get_status_display()})",
            _admin_url("feedback_ticket", ticket.id),
        )
        for ticket in rows
    ]


def _messages(customer: Customer, cursor, size: int) -> list[Event]:
    rows = MESSAGES.newest(Message.objects.filter(customer=customer).select_related("ticket"), cursor, size)
    events = []
    for message in rows:
        text = message.subject or message.body[:120] or kind_name(message.kind)
        if message.ticket_id:
            text = f"{message.ticket.reference} · {text}"
        if message.delivery:
            text = f"{text} ({message.get_delivery_display()})"
        events.append(
            Event(
                message.occurred_at,
                MESSAGES.rank,
                message.id,
                message.get_entry_display(),
                text,
                _admin_url("customers_message", message.id),
            )
        )
    return events


def _answers(customer: Customer, cursor, size: int) -> list[Event]:
    rows = ANSWERS.newest(SurveyResponse.objects.filter(customer=customer).select_related("survey"), cursor, size)
    return [
        Event(
            response.submitted_at,
            ANSWERS.rank,
            response.id,
            _("Survey answer"),
            f"{response.survey.get_kind_display()}: {score_text(response.score)}",
            _admin_url("feedback_surveyresponse", response.id),
        )
        for response in rows
    ]


def _points(customer: Customer, cursor, size: int, language: str) -> list[Event]:
    entries = Entry.objects.filter(account_id=customer.pk).select_related("order", "redemption__reward")
    rows = POINTS.newest(entries, cursor, size)
    return [
        Event(
            entry.created_at,
            POINTS.rank,
            entry.id,
            _("Points"),
            f"{entry.points:+d} · {describe(entry, language)}",
        )
        for entry in rows
    ]


def _reminders(customer: Customer, cursor, size: int) -> list[Event]:
    rows = REMINDERS.newest(Reminder.objects.filter(customer=customer), cursor, size)
    return [
        Event(
            reminder.due_at,
            REMINDERS.rank,
            reminder.id,
            _("Reminder"),
            f"{reminder.get_kind_display()}: {reminder.note[:120]}"
            + (f" ✓ {reminder.outcome[:80]}" if reminder.done_at else ""),
            _admin_url("feedback_reminder", reminder.id),
        )
        for reminder in rows
    ]


def timeline(
    customer: Customer, *, cursor: tuple | None = None, size: int = PAGE_SIZE, language: str = "en"
) -> tuple[list[Event], str | None]:
    """The customer's events newest first, from `cursor` on: (page, cursor of the next
    page or None). Six queries."""
    sources = [
        _orders(customer, cursor, size + 1),
        _tickets(customer, cursor, size + 1),
        _messages(customer, cursor, size + 1),
        _answers(customer, cursor, size + 1),
        _points(customer, cursor, size + 1, language),
        _reminders(customer, cursor, size + 1),
    ]
    merged = list(heapq.merge(*sources, key=lambda event: event.key, reverse=True))
    page = merged[:size]
    return page, (page[-1].cursor if len(merged) > size else None)
