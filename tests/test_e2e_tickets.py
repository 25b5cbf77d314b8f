"""End to end on PostgreSQL and Redis with the real processes: gunicorn, a Celery
worker and beat, and an SMTP server (aiosmtpd) catching the mail."""

import time
from datetime import timedelta
from email.message import EmailMessage

import pytest

from customers.models import Delivery, Entry, Message
from feedback.models import SlaPolicy, Ticket, TicketStatus
from feedback.services.emails import format_moment

from .live import COMPLAINT, Browserless, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_complaint_through_the_form_gets_exactly_one_acknowledgment_within_ten_seconds(stack, sink):
    browser = Browserless(stack.env["SITE_URL"])
    posted = time.monotonic()
    status, _page, headers = browser.post_form("/support/", COMPLAINT)
    assert status == 302 and "/support/thanks/" in headers["Location"]
    (ack,) = wait_for(lambda: sink.of_kind("ticket_ack"), 10, "the acknowledgment at the SMTP sink")
    assert ack.at - posted < 10
    ticket = Ticket.objects.get()
    expected = format_moment(ticket.resolve_by, zone=ticket.customer.time_zone, language="en")
    assert ticket.reference in ack.subject
    assert ticket.reference in ack.text and expected in ack.text
    assert ack.to == "ann@example.com"
    assert ack.message_id == Message.objects.get(key=f"ticket:{ticket.pk}:ack").message_id
    # Longer than the sweep's re-queue time: a row left pending would be sent again.
    time.sleep(6)
    assert len(sink.of_kind("ticket_ack")) == 1
    assert Message.objects.get(key=f"ticket:{ticket.pk}:ack").delivery == Delivery.SENT


def test_a_missed_deadline_brings_follow_ups_until_the_ticket_is_resolved(stack, sink, api_token):
    SlaPolicy.objects.create(
        name="One minute",
        position=0,
        kind="complaint",
        answer_within=timedelta(minutes=1),
        resolve_within=timedelta(minutes=1),
        follow_up_every=timedelta(seconds=5),
        warn_before=timedelta(0),
    )
    browser = Browserless(stack.env["SITE_URL"])
    status, body = browser.post_json(
        "/api/tickets/",
        {"customer_email": "bo@example.com", "subject": "Late", "description": "Where is it?", "kind": "complaint"},
        api_token,
    )
    assert status == 201
    (first,) = wait_for(lambda: sink.of_kind("ticket_follow_up"), 90, "the first follow-up")
    assert body["reference"] in first.subject and "now expect to resolve it by" in first.text
    wait_for(lambda: len(sink.of_kind("ticket_follow_up")) >= 2, 30, "a second follow-up, an interval later")
    status, resolved = browser.post_json(f"/api/tickets/{body['id']}/resolve/", {"text": "Found it."}, api_token)
    assert status == 200 and resolved["status"] == TicketStatus.RESOLVED
    wait_for(lambda: sink.of_kind("ticket_resolved"), 10, "the resolution email")
    time.sleep(1)
    follow_ups = len(sink.of_kind("ticket_follow_up"))
    time.sleep(12)  # more than two follow-up intervals
    assert len(sink.of_kind("ticket_follow_up")) == follow_ups
    assert Ticket.objects.get().escalation_level >= 2


def test_an_emailed_reply_lands_on_the_ticket(stack, sink):
    browser = Browserless(stack.env["SITE_URL"])
    browser.post_form("/support/", COMPLAINT)
    (ack,) = wait_for(lambda: sink.of_kind("ticket_ack"), 10, "the acknowledgment")
    reply = EmailMessage()
    reply["From"] = "Ann Archer <ann@example.com>"
    reply["To"] = "care@example.com"
    reply["Subject"] = f"Re: {ack.subject}"
    reply["Message-ID"] = "<reply-1@mail.example>"
    reply["In-Reply-To"] = ack.message_id
    reply.set_content("Here is a photo of the box.\n\n> We have received your message")
    result = stack.manage("receive_email", stdin=reply.as_bytes())
    assert result.returncode == 0, result.stderr.decode()
    ticket = Ticket.objects.get()
    assert result.stdout.decode().strip() == ticket.reference
    inbound = Message.objects.filter(ticket=ticket, entry=Entry.INBOUND).order_by("id")
    assert [message.body for message in inbound] == ["The parcel arrived broken.", "Here is a photo of the box."]
