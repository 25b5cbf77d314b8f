"""Beat's sweep: warnings before a breach, follow-ups and escalation at a missed
deadline (again at each interval, never after resolving), auto-close, reminders; and
two sweeps at once sending nothing twice."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from customers.models import Delivery, Message
from feedback.models import Ticket, TicketStatus
from feedback.services import (
    reminder_create,
    reminder_done,
    ticket_assign,
    ticket_autoclose_sweep,
    ticket_message_receive,
    ticket_reply,
    ticket_resolve,
    ticket_sla_sweep,
    ticket_wait,
)
from retention_crm.tasks import deadlines_sweep

from .conftest import HOUR, NOW, delivered, emails, pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(db):
    user = User.objects.create_user("boss", "boss@example.com", "x", is_staff=True)
    user.groups.add(Group.objects.get(name="Support manager"))
    return user


@pytest.fixture
def alice(db):
    user = User.objects.create_user("alice", "alice@example.com", "x", is_staff=True)
    user.groups.add(Group.objects.get(name="Support agent"))
    return user


def test_nothing_happens_before_anything_is_due(clock, open_ticket):
    open_ticket()
    assert ticket_sla_sweep() == 0


def test_a_missed_first_answer_is_recorded(clock, open_ticket):
    ticket = open_ticket()
    clock.shift(HOUR)
    assert ticket_sla_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.first_response_breached
    assert Ticket.objects.breached().filter(pk=ticket.pk).exists()
    assert ticket.sla_due_at == ticket.resolve_by - timedelta(hours=4)  # next: the resolution warning


def test_the_assignee_is_warned_before_the_resolution_deadline(clock, open_ticket, alice, agent):
    ticket = open_ticket()
    ticket_reply(ticket=ticket, text="On it", author=agent)
    ticket_assign(ticket=ticket, assignee=alice)
    clock.shift(timedelta(days=3) - timedelta(hours=4))  # warn 4 h before (default policy)
    ticket_sla_sweep()
    (warning,) = delivered("sla_warning")
    assert warning.to_email == "alice@example.com"
    assert warning.key.startswith(f"sla_warning:user:{alice.pk}:")
    assert ticket.reference in warning.subject and "is due to be resolved by" in warning.body
    ticket_sla_sweep()
    assert len(emails("sla_warning")) == 1  # once


def test_a_missed_deadline_brings_a_follow_up_with_a_new_date_and_escalates(clock, open_ticket, alice, boss, agent):
    ticket = open_ticket(priority="urgent")  # resolve within 4 h, follow up every 2 h
    ticket_reply(ticket=ticket, text="On it", author=agent)
    ticket_assign(ticket=ticket, assignee=alice)
    clock.shift(4 * HOUR)
    ticket_sla_sweep()
    ticket.refresh_from_db()
    assert ticket.escalation_level == 1 and ticket.resolution_breached
    assert ticket.resolve_by == NOW + 6 * HOUR == ticket.told_resolve_by
    assert ticket.promised_by == NOW + 4 * HOUR
    (follow_up,) = delivered("ticket_follow_up")
    assert follow_up.to_email == "ann@example.com" and follow_up.key == f"ticket:{ticket.pk}:follow_up:1"
    assert "Monday, November 23, 2026, 15:00 (UTC)" in follow_up.body
    escalated = delivered("ticket_escalated")
    assert {message.to_email for message in escalated} == {"alice@example.com", "boss@example.com"}
    assert all("Escalation level: 1." in message.body for message in escalated)

    # Again at each interval while unresolved.
    clock.shift(2 * HOUR)
    ticket_sla_sweep()
    ticket.refresh_from_db()
    assert ticket.escalation_level == 2
    assert len(emails("ticket_follow_up")) == 2

    # Nothing more the moment it is resolved.
    ticket_resolve(ticket=ticket)
    clock.shift(10 * HOUR)
    assert ticket_sla_sweep() == 0
    assert len(emails("ticket_follow_up")) == 2


def test_a_sweep_that_slept_for_days_sends_one_follow_up_not_one_per_interval(clock, open_ticket):
    ticket = open_ticket(priority="urgent")
    clock.shift(timedelta(days=3))
    ticket_sla_sweep()
    ticket.refresh_from_db()
    assert ticket.escalation_level == 1 and len(emails("ticket_follow_up")) == 1


def test_a_waiting_ticket_gets_no_follow_up_while_paused(clock, open_ticket, agent):
    ticket = open_ticket(priority="urgent")
    ticket_reply(ticket=ticket, text="Which order?", author=agent)
    ticket_wait(ticket=ticket)
    clock.shift(timedelta(days=2))
    assert ticket_sla_sweep() == 0
    assert not emails("ticket_follow_up")
    ticket_message_receive(ticket=ticket, body="Order 42")
    ticket.refresh_from_db()
    assert ticket.resolve_by == NOW + timedelta(days=2) + 4 * HOUR


def test_without_an_assignee_the_warning_goes_to_the_managers(clock, open_ticket, boss, agent):
    ticket = open_ticket()
    ticket_reply(ticket=ticket, text="On it", author=agent)
    clock.shift(timedelta(days=3) - timedelta(hours=4))
    ticket_sla_sweep()
    assert [message.to_email for message in emails("sla_warning")] == ["boss@example.com"]


def test_a_follow_up_for_a_ticket_resolved_meanwhile_is_cancelled_at_delivery(clock, open_ticket):
    from customers.outbox import message_deliver

    ticket = open_ticket(priority="urgent")
    clock.shift(4 * HOUR)
    ticket_sla_sweep()
    (follow_up,) = emails("ticket_follow_up")
    Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.RESOLVED)  # as if resolved a second ago
    assert message_deliver(follow_up.pk) == "cancelled"
    follow_up.refresh_from_db()
    assert follow_up.delivery == Delivery.CANCELLED


def test_a_resolved_ticket_closes_itself_after_the_set_days(clock, open_ticket):
    ticket = open_ticket()
    ticket_resolve(ticket=ticket)
    clock.shift(timedelta(days=7) - timedelta(minutes=1))
    assert ticket_autoclose_sweep() == 0
    clock.shift(timedelta(minutes=1))
    assert ticket_autoclose_sweep() == 1
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at == NOW + timedelta(days=7)


def test_a_reply_after_resolving_keeps_it_open_longer(clock, open_ticket):
    ticket = open_ticket()
    ticket_resolve(ticket=ticket)
    clock.shift(timedelta(days=6))
    ticket_message_receive(ticket=ticket, body="Not fixed")
    clock.shift(timedelta(days=2))
    ticket_autoclose_sweep()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN


def test_a_due_reminder_emails_its_assignee_once(clock, open_ticket, alice):
    ticket = open_ticket()
    reminder = reminder_create(ticket=ticket, kind="call", due_at=NOW + HOUR, assignee=alice, note="Call back")
    deadlines_sweep()
    assert not emails("agent_reminder")
    clock.shift(HOUR)
    deadlines_sweep()
    deadlines_sweep()
    (message,) = delivered("agent_reminder")
    assert message.to_email == "alice@example.com" and "Call back" in message.body
    reminder.refresh_from_db()
    assert reminder.reminded_at == NOW + HOUR and reminder.remind_at is None


def test_a_reminder_done_before_its_email_left_is_not_sent(clock, open_ticket, alice):
    from customers.outbox import message_deliver

    reminder = reminder_create(ticket=open_ticket(), due_at=NOW, assignee=alice)
    deadlines_sweep()
    (message,) = emails("agent_reminder")
    reminder_done(reminder=reminder, user=alice, outcome="Talked already")
    assert message_deliver(message.pk) == "cancelled"
    assert Message.objects.filter(entry="note", body="Talked already").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_send_nothing_twice(open_ticket):
    tickets = [open_ticket(email=f"c{n}@example.com", priority="urgent") for n in range(40)]
    Ticket.objects.update(resolve_by=NOW - HOUR, sla_due_at=NOW - HOUR, first_responded_at=NOW, resolution_warned=True)
    barrier = threading.Barrier(2)
    results = []

    def sweep():
        try:
            barrier.wait()
            results.append(ticket_sla_sweep(batch=5))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == len(tickets)
    follow_ups = emails("ticket_follow_up")
    assert len(follow_ups) == len(tickets)
    assert len({message.key for message in follow_ups}) == len(tickets)
    assert set(Ticket.objects.values_list("escalation_level", flat=True)) == {1}


def test_pending_counts_only_undelivered(open_ticket):
    open_ticket()
    assert len(pending("ticket_ack")) == 1
