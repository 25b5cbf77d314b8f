"""Faults with the real processes: Redis stopped, a worker killed in the middle of a
delivery and during a burst of tickets. Nothing is lost; a duplicate, if any, carries
the same Message-ID."""

import threading
import time

import pytest

from customers.models import Delivery, Message
from feedback.models import Ticket

from .live import COMPLAINT, Browserless, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_with_redis_stopped_tickets_are_still_taken_and_acknowledged_once_it_is_back(
    stack, sink, private_redis, api_token
):
    browser = Browserless(stack.env["SITE_URL"])
    browser.get("/support/")  # the CSRF cookie, while everything is up
    private_redis.stop()

    started = time.monotonic()
    status, _page, _headers = browser.post_form("/support/", COMPLAINT)
    form_seconds = time.monotonic() - started
    started = time.monotonic()
    api_status, body = browser.post_json(
        "/api/tickets/", {"customer_email": "bo@example.com", "subject": "Hello", "description": "Hi"}, api_token
    )
    api_seconds = time.monotonic() - started
    # The form page GET inside post_form is timed too: both well under 2 s.
    print(f"with Redis down: form {form_seconds:.2f} s, API {api_seconds:.2f} s")
    assert status == 302 and form_seconds < 2, form_seconds
    assert api_status == 201 and api_seconds < 2, (api_status, body, api_seconds)
    assert Ticket.objects.count() == 2
    assert "letting the request through" in stack.log("web")  # the rate limiter failed open, and said so
    time.sleep(2)
    assert sink.of_kind("ticket_ack") == []

    private_redis.start()  # empty: whatever was queued before is gone

    def both_acknowledged() -> bool:
        # The supervisor watches all along, not once: kombu can make the worker exit
        # while Redis is coming back (a reset during its reconnect), after a first look.
        stack.restart_exited()
        return len(sink.of_kind("ticket_ack")) >= 2

    wait_for(both_acknowledged, 120, "both acknowledgments after Redis came back")
    time.sleep(5)
    acks = sink.of_kind("ticket_ack")
    assert sorted(ack.to for ack in acks) == ["ann@example.com", "bo@example.com"]


def test_a_worker_killed_in_the_middle_of_a_delivery_still_delivers_with_the_same_message_id(stack, sink):
    sink.delay = 5  # the mail server takes its time to answer: the worker is mid-delivery
    browser = Browserless(stack.env["SITE_URL"])
    browser.post_form("/support/", COMPLAINT)
    wait_for(lambda: sink.of_kind("ticket_ack"), 10, "the delivery to begin")
    stack.kill("worker")  # SIGKILL while the SMTP conversation is open
    sink.delay = 0
    stack.start_worker()
    ticket = Ticket.objects.get()
    wait_for(
        lambda: Message.objects.get(key=f"ticket:{ticket.pk}:ack").delivery == Delivery.SENT,
        60,
        "the acknowledgment to be marked sent",
    )
    acks = sink.of_kind("ticket_ack")
    print("copies of the acknowledgment:", len(acks))
    assert 1 <= len(acks) <= 2, len(acks)  # at most one duplicate…
    assert len({ack.message_id for ack in acks}) == 1  # …recognisable by its Message-ID


def test_two_hundred_tickets_while_the_worker_is_killed_and_restarted_twice(stack, sink, api_token):
    browser = Browserless(stack.env["SITE_URL"])
    posted = []

    def post_all():
        for number in range(200):
            status, body = browser.post_json(
                "/api/tickets/",
                {"customer_email": f"c{number}@example.com", "subject": f"Ticket {number}", "description": "Help"},
                api_token,
            )
            assert status == 201, body
            posted.append(body["reference"])

    poster = threading.Thread(target=post_all)
    poster.start()
    for after in (40, 120):
        wait_for(lambda after=after: len(posted) >= after, 120, f"{after} tickets posted")
        stack.kill("worker")
        stack.start_worker()
    poster.join(timeout=300)
    assert len(posted) == 200

    wait_for(lambda: len({ack.message_id for ack in sink.of_kind("ticket_ack")}) >= 200, 180, "200 acknowledgments")
    time.sleep(5)
    acks = sink.of_kind("ticket_ack")
    assert len({ack.message_id for ack in acks}) == 200  # none lost
    assert {ack.to for ack in acks} == {f"c{number}@example.com" for number in range(200)}
    # A kill can only repeat what a worker had in hand (2 processes, 2 kills).
    print("acknowledgments received:", len(acks))
    assert len(acks) - 200 <= 4
    assert Message.objects.filter(kind="ticket_ack", delivery=Delivery.SENT).count() == 200
