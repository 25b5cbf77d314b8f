"""Every ticket service: opening and the promise, replies and first answers, pausing,
priority changes, resolving, reopening, and every status transition."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, Delivery, Entry, Message
from customers.tests.factories import CustomerFactory, OrderFactory
from feedback.models import SlaPolicy, Ticket, TicketStatus
from feedback.services import (
    ReplyAfter,
    TransitionError,
    ticket_assign,
    ticket_classify,
    ticket_close,
    ticket_message_receive,
    ticket_note_add,
    ticket_open_again,
    ticket_reply,
    ticket_resolve,
    ticket_status_change,
    ticket_wait,
)

from .conftest import HOUR, NOW, delivered, emails

pytestmark = pytest.mark.django_db


def test_a_new_ticket_gets_its_deadlines_and_one_acknowledgment(clock, open_ticket):
    ticket = open_ticket()
    assert ticket.status == TicketStatus.NEW
    assert ticket.reference == f"C-{ticket.pk:06d}"
    assert ticket.acknowledge_by == NOW + HOUR  # answer within an hour
    assert ticket.resolve_by == NOW + timedelta(days=3)  # the default (normal) policy
    assert ticket.promised_by == ticket.told_resolve_by == ticket.resolve_by
    assert ticket.next_deadline_at == ticket.acknowledge_by
    assert ticket.sla_due_at == ticket.acknowledge_by  # the warning would come before now: none

    inbound = Message.objects.get(ticket=ticket, entry=Entry.INBOUND)
    assert inbound.body == "My parcel never arrived." and inbound.customer == ticket.customer
    (ack,) = emails("ticket_ack")
    assert ack.key == f"ticket:{ticket.pk}:ack"
    assert ack.delivery == Delivery.PENDING and ack.automatic
    assert ack.body == "" and ack.context["resolve_by"] == "2026-11-26T09:00:00+00:00"  # written out at delivery
    (ack,) = delivered("ticket_ack")
    assert ack.delivery == Delivery.SENT
    assert ticket.reference in ack.subject
    # The expected date, in the customer's time zone and language.
    assert "Thursday, November 26, 2026, 09:00 (UTC)" in ack.body
    assert "/support/t/" in ack.body and "/support/t/" in ack.body_html
    assert ack.to_email == "ann@example.com"


def test_the_customer_is_found_by_email_in_any_case_or_created(open_ticket):
    known = CustomerFactory(email="Bo@Example.com")
    assert open_ticket(email="bo@example.COM").customer == known
    new = open_ticket(email="new@example.com", name="New Person")
    assert new.customer.name == "New Person" and new.customer.external_id is None
    assert Customer.objects.count() == 2


def test_an_order_reference_is_linked_only_to_the_customers_own_order(open_ticket):
    customer = CustomerFactory(email="ann@example.com")
    own = OrderFactory(customer=customer, external_id="A-1")
    OrderFactory(external_id="B-2")
    assert open_ticket(order_reference="A-1").order == own
    other = open_ticket(order_reference="B-2")
    assert other.order is None and other.order_reference == "B-2"


def test_the_policy_follows_priority(clock, open_ticket):
    urgent = open_ticket(priority="urgent")
    assert urgent.policy.name == "Urgent"
    assert urgent.resolve_by == NOW + 4 * HOUR
    assert open_ticket(priority="low").resolve_by == NOW + timedelta(days=7)


def test_a_matching_policy_wins_over_the_default_and_the_first_match_wins(clock, open_ticket):
    SlaPolicy.objects.create(name="Complaints", position=1, kind="complaint", resolve_within=timedelta(hours=6))
    SlaPolicy.objects.create(name="Later", position=2, kind="complaint", resolve_within=timedelta(hours=1))
    assert open_ticket(kind="complaint").resolve_by == NOW + 6 * HOUR
    assert open_ticket(kind="question").policy.is_default


def test_the_acknowledgment_speaks_the_customers_language(clock, open_ticket):
    open_ticket(language="da")
    (ack,) = delivered("ticket_ack")
    assert ack.language == "da"
    assert "Tak fordi du skrev til os" in ack.body
    assert "torsdag 26. november 2026 kl. 09:00 (UTC)" in ack.body


def test_outside_business_hours_the_acknowledgment_says_when_the_team_is_back(
    clock, open_ticket, default_policy, office_calendar
):
    default_policy.calendar = office_calendar
    default_policy.save()
    clock.move_to(NOW + timedelta(days=5, hours=10))  # Saturday 28 November, 19:00 UTC
    open_ticket()
    (ack,) = delivered("ticket_ack")
    assert "we are back on Monday, November 30, 2026, 08:00 (UTC)" in ack.body


def test_inside_business_hours_the_acknowledgment_does_not(clock, open_ticket, default_policy, office_calendar):
    default_policy.calendar = office_calendar
    default_policy.save()
    open_ticket()  # Monday 10:00 in Copenhagen
    (ack,) = delivered("ticket_ack")
    assert "back on" not in ack.body


def test_bad_input_is_refused_and_nothing_is_saved(open_ticket):
    for values in ({"kind": "rant"}, {"priority": "asap"}, {"channel": "pigeon"}, {"description": "  "}, {"email": ""}):
        with pytest.raises(ValidationError):
            open_ticket(**values)
    assert not Ticket.objects.exists() and not Message.objects.exists() and not Customer.objects.exists()


# --- Answers ------------------------------------------------------------------------------


def test_the_first_reply_stops_the_answer_clock_and_opens_the_ticket(clock, open_ticket, agent):
    ticket = open_ticket()
    clock.shift(20 * 60)
    message = ticket_reply(ticket=ticket, text="We are looking into it.", author=agent)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert ticket.first_responded_at == NOW + timedelta(minutes=20)
    assert ticket.first_response_seconds == 1200
    assert ticket.next_deadline_at == ticket.resolve_by
    assert message.kind == "ticket_reply" and not message.automatic and message.author == agent
    assert "We are looking into it." in message.body
    ack = Message.objects.get(key=f"ticket:{ticket.pk}:ack")
    assert message.in_reply_to == ack.message_id  # threads under the acknowledgment


def test_a_double_submitted_reply_is_one_email(open_ticket, agent):
    ticket = open_ticket()
    first = ticket_reply(ticket=ticket, text="Hi", author=agent, key="ticket:x:reply:1")
    second = ticket_reply(ticket=ticket, text="Hi", author=agent, key="ticket:x:reply:1")
    assert first == second and len(emails("ticket_reply")) == 1


def test_a_logged_call_is_a_first_answer_but_a_note_is_not(clock, open_ticket, agent):
    ticket = open_ticket()
    ticket_note_add(ticket=ticket, text="Internal: check the courier", author=agent)
    ticket.refresh_from_db()
    assert ticket.first_responded_at is None
    ticket_note_add(ticket=ticket, text="Called her, parcel is lost", author=agent, entry=Entry.CALL)
    ticket.refresh_from_db()
    assert ticket.first_responded_at == NOW and ticket.status == TicketStatus.OPEN
    assert not emails("ticket_reply")  # neither goes out by email


# --- Pausing and the promise ----------------------------------------------------------------


def test_waiting_on_the_customer_pauses_and_their_reply_resumes_with_a_new_date(clock, open_ticket, agent):
    ticket = open_ticket()  # resolve by NOW + 3 days
    clock.shift(HOUR)
    ticket_reply(ticket=ticket, text="Which address?", author=agent, after=ReplyAfter.WAIT)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.WAITING
    assert ticket.resolve_by is None and ticket.remaining == timedelta(days=3) - HOUR
    assert ticket.sla_due_at is None and ticket.next_deadline_at is None

    clock.shift(timedelta(days=2))
    ticket_message_receive(ticket=ticket, body="Main Street 1")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN
    assert ticket.resolve_by == NOW + timedelta(days=5)  # the two days waited are added
    assert ticket.promised_by == NOW + timedelta(days=3)  # the first date stays on record
    (moved,) = delivered("ticket_date_changed")
    assert moved.key == f"ticket:{ticket.pk}:date:1"
    assert "Saturday, November 28, 2026, 09:00 (UTC)" in moved.body


def test_raising_the_priority_moves_the_date_and_tells_the_customer(clock, open_ticket):
    ticket = open_ticket()
    clock.shift(HOUR)
    ticket_classify(ticket=ticket, priority="urgent")
    ticket.refresh_from_db()
    assert ticket.policy.name == "Urgent"
    # 1 h of the 3 days was used; urgent allows 4 h: 3 h are left.
    assert ticket.resolve_by == NOW + 4 * HOUR
    (moved,) = delivered("ticket_date_changed")
    assert ticket.reference in moved.subject


def test_changing_to_a_priority_with_the_same_policy_tells_nobody(open_ticket):
    ticket = open_ticket(kind="complaint")
    ticket_classify(ticket=ticket, kind="question")
    assert not emails("ticket_date_changed")


# --- Resolving, closing, reopening ----------------------------------------------------------------


def test_resolving_records_the_times_and_tells_the_customer(clock, open_ticket, agent):
    ticket = open_ticket()
    clock.shift(2 * HOUR)
    ticket_resolve(ticket=ticket, text="A new parcel is on its way.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert ticket.resolved_at == ticket.first_resolved_at == NOW + 2 * HOUR
    assert ticket.resolution_seconds == 7200 and ticket.promise_kept is True
    assert ticket.close_at == NOW + 2 * HOUR + timedelta(days=7)
    assert ticket.sla_due_at is None and ticket.next_deadline_at is None
    (resolved,) = delivered("ticket_resolved")
    assert "A new parcel is on its way." in resolved.body and resolved.key == f"ticket:{ticket.pk}:resolved:1"


def test_a_promise_missed_is_recorded(clock, open_ticket):
    ticket = open_ticket(priority="urgent")
    clock.shift(5 * HOUR)
    ticket_resolve(ticket=ticket)
    ticket.refresh_from_db()
    assert ticket.promise_kept is False


def test_the_customer_writing_to_a_resolved_ticket_reopens_it(clock, open_ticket):
    ticket = open_ticket()
    ticket_resolve(ticket=ticket)
    clock.shift(timedelta(days=1))
    ticket, message = ticket_message_receive(ticket=ticket, body="It still does not work.")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.reopened_count == 1
    assert ticket.resolve_by == NOW + timedelta(days=4) and ticket.close_at is None
    assert message.entry == Entry.INBOUND
    assert len(emails("ticket_date_changed")) == 1
    ticket_resolve(ticket=ticket)
    assert Message.objects.filter(key=f"ticket:{ticket.pk}:resolved:2").exists()


def test_the_customer_writing_to_a_closed_ticket_opens_a_new_one(open_ticket):
    ticket = open_ticket()
    ticket_close(ticket=ticket)
    new, message = ticket_message_receive(ticket=ticket, body="Another problem")
    assert new.pk != ticket.pk and new.customer == ticket.customer
    assert message.ticket == new
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.CLOSED


def test_resolving_cancels_pending_follow_ups(clock, open_ticket):
    ticket = open_ticket()
    Message.objects.create(
        customer=ticket.customer,
        ticket=ticket,
        entry=Entry.OUTBOUND,
        kind="ticket_follow_up",
        key="test-follow-up",
        delivery=Delivery.PENDING,
        to_email="ann@example.com",
    )
    ticket_resolve(ticket=ticket)
    assert Message.objects.get(key="test-follow-up").delivery == Delivery.CANCELLED


def test_assigning_a_new_ticket_opens_it(open_ticket, agent):
    ticket = ticket_assign(ticket=open_ticket(), assignee=agent)
    assert ticket.status == TicketStatus.OPEN and ticket.assignee == agent


# --- Every status transition ------------------------------------------------------------------

ALLOWED = {
    ("new", "open"),
    ("new", "waiting"),
    ("new", "resolved"),
    ("new", "closed"),
    ("open", "waiting"),
    ("open", "resolved"),
    ("open", "closed"),
    ("waiting", "open"),
    ("waiting", "resolved"),
    ("waiting", "closed"),
    ("resolved", "open"),
    ("resolved", "closed"),
}
STATUSES = ["new", "open", "waiting", "resolved", "closed"]
ROUTE = {"new": [], "open": ["open"], "waiting": ["waiting"], "resolved": ["resolved"], "closed": ["closed"]}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_every_status_transition(open_ticket, current, target):
    ticket = open_ticket()
    for step in ROUTE[current]:
        ticket = ticket_status_change(ticket=ticket, status=step)
    assert ticket.status == current
    if current == target:
        return
    if (current, target) in ALLOWED:
        assert ticket_status_change(ticket=ticket, status=target).status == target
    else:
        with pytest.raises(TransitionError):
            ticket_status_change(ticket=ticket, status=target)
        ticket.refresh_from_db()
        assert ticket.status == current


def test_a_closed_ticket_takes_no_reply(open_ticket, agent):
    ticket = ticket_close(ticket=open_ticket())
    with pytest.raises(TransitionError):
        ticket_reply(ticket=ticket, text="Hello?", author=agent)
    with pytest.raises(TransitionError):
        ticket_wait(ticket=ticket)
    with pytest.raises(TransitionError):
        ticket_open_again(ticket=ticket)


def test_a_ticket_is_linked_only_to_its_customers_orders(open_ticket):
    from feedback.services import ticket_order_set

    ticket = open_ticket()
    own = OrderFactory(customer=ticket.customer, external_id="OWN-1")
    assert ticket_order_set(ticket=ticket, order=own).order_reference == "OWN-1"
    with pytest.raises(ValidationError) as refused:
        ticket_order_set(ticket=ticket, order=OrderFactory(external_id="ELSE-1"))
    assert refused.value.message_dict == {"order": ["This order belongs to another customer."]}
    ticket.refresh_from_db()
    assert ticket.order == own
