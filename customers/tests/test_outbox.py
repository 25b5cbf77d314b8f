"""The outbox: one row per cause, delivered with a stable Message-ID, retried with
backoff, failed after the last attempt, capped per address, re-queued by the sweep."""

import smtplib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from customers import outbox
from customers.models import Delivery, Entry, Message
from customers.outbox import Rendered, email, email_write, emails_write, message_deliver, outbox_sweep, retry_delay
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def make(key="test:1", to="ann@example.com", automatic=True, kind="ticket_ack"):
    return email(
        kind=kind,
        to_email=to,
        rendered=Rendered(subject="Hello", text="Body", html="<p>Body</p>"),
        language="en",
        key=key,
        customer=CustomerFactory(email=None),
        automatic=automatic,
    )


def write(**values):
    return email_write(make(**values))


class FailingBackend:
    """An email backend whose server answers with `error`."""

    def __init__(self, error):
        self.error = error

    def send_messages(self, messages):
        raise self.error

    def close(self):
        pass


@pytest.fixture
def failing(monkeypatch):
    def install(error):
        monkeypatch.setattr(outbox, "_connection", lambda: FailingBackend(error))

    return install


def test_one_row_per_key(settings):
    first, created = write()
    again, created_again = write()
    assert created and not created_again and first == again
    assert Message.objects.count() == 1
    assert first.delivery == Delivery.PENDING and first.entry == Entry.OUTBOUND
    assert first.message_id.startswith("<") and first.message_id.endswith("@localhost>")


def test_delivery_sends_with_the_stored_message_id_and_kind(mailoutbox, caplog):
    message, _ = write()
    assert message_deliver(message.pk) == "sent"
    (sent,) = mailoutbox
    assert sent.extra_headers["Message-ID"] == message.message_id
    assert sent.extra_headers["X-CRM-Kind"] == "ticket_ack"
    assert sent.extra_headers["Auto-Submitted"] == "auto-generated"
    assert sent.to == ["ann@example.com"] and sent.alternatives[0].content == "<p>Body</p>"
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT and message.sent_at and message.next_attempt_at is None
    # Delivered twice (a redelivered task): skipped, not sent again.
    with caplog.at_level("INFO", logger="customers.outbox"):
        assert message_deliver(message.pk) == "skipped"
    assert len(mailoutbox) == 1
    assert f"passed over 1 of 1 message(s): [{message.pk}]" in caplog.text  # which rows, for a late one


def test_a_transient_failure_is_retried_later_with_backoff(failing, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    message, _ = write()
    failing(smtplib.SMTPServerDisconnected("gone"))
    with time_machine.travel(NOW, tick=False):
        assert message_deliver(message.pk) == "retry"
    message.refresh_from_db()
    assert message.delivery == Delivery.PENDING and message.attempts == 1
    assert NOW + timedelta(seconds=30) <= message.next_attempt_at <= NOW + timedelta(seconds=90)
    assert "gone" in message.last_error


def test_after_the_last_attempt_the_message_is_marked_failed(failing, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    message, _ = write()
    failing(OSError("connection refused"))
    assert [message_deliver(message.pk) for _ in range(3)] == ["retry", "retry", "failed"]
    message.refresh_from_db()
    assert message.delivery == Delivery.FAILED and message.next_attempt_at is None
    assert Message.objects.filter(delivery=Delivery.FAILED).count() == 1


def test_a_permanent_refusal_fails_at_once(failing):
    message, _ = write()
    failing(smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"no such user")}))
    assert message_deliver(message.pk) == "failed"


def test_a_failed_message_can_be_retried_from_the_admin(failing, mailoutbox):
    message, _ = write()
    failing(smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"no such user")}))
    message_deliver(message.pk)
    outbox.message_retry(message=Message.objects.get(pk=message.pk))
    message.refresh_from_db()
    assert message.delivery == Delivery.PENDING and message.attempts == 0


def test_backoff_grows_and_is_capped(settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 60
    settings.OUTBOX_RETRY_MAX_SECONDS = 3600
    delays = [retry_delay(attempt).total_seconds() for attempt in range(1, 10)]
    assert 30 <= delays[0] <= 90 and 60 <= delays[1] <= 180
    assert all(delay <= 5400 for delay in delays)


def test_the_hourly_cap_per_address_keeps_automatic_mail_but_staff_replies_pass(settings):
    settings.AUTOMATIC_EMAILS_PER_ADDRESS_PER_HOUR = 3
    results = [write(key=f"k{n}", to="Victim@Example.com")[0] for n in range(2)]
    results += emails_write([make(key=f"b{n}", to="victim@example.com") for n in range(3)])  # one batch
    assert [message.delivery for message in results] == [Delivery.PENDING] * 3 + [Delivery.SUPPRESSED] * 2
    human, _ = write(key="reply", to="victim@example.com", automatic=False)
    assert human.delivery == Delivery.PENDING


def test_a_batch_writes_new_keys_and_keeps_known_ones(django_assert_max_num_queries):
    first, _ = write(key="known")
    batch = [make(key="known"), make(key="new-1"), make(key="new-2"), make(key=None)]
    with django_assert_max_num_queries(4):  # the cap, two inserts, reading back the keyed rows
        stored = emails_write(batch)
    assert [message.written for message in stored] == [False, True, True, True]
    assert stored[0].pk == first.pk and Message.objects.count() == 4


def test_the_sweep_queues_what_nobody_delivered_and_only_that(settings, django_capture_on_commit_callbacks):
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 120
    with time_machine.travel(NOW, tick=False):
        due, _ = write(key="a")
        write(key="b")
    Message.objects.filter(key="b").update(delivery=Delivery.SENT, next_attempt_at=None)
    queued = []
    with time_machine.travel(NOW + timedelta(seconds=60), tick=False):
        assert outbox_sweep() == 0  # still within its grace period
    with (
        time_machine.travel(NOW + timedelta(seconds=121), tick=False),
        django_capture_on_commit_callbacks() as callbacks,
    ):
        assert outbox_sweep() == 1
        queued = callbacks
    assert len(queued) == 1
    due.refresh_from_db()
    assert due.next_attempt_at == NOW + timedelta(seconds=241)  # due again only if this queueing is lost


def test_queueing_with_the_broker_down_costs_a_log_line_not_an_error(
    caplog, monkeypatch, django_capture_on_commit_callbacks
):
    from customers import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("Redis is down")

    monkeypatch.setattr(tasks.deliver_messages, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = write()
    assert "Could not queue delivery of 1 message(s)" in caplog.text
    message.refresh_from_db()
    assert message.delivery == Delivery.PENDING  # the sweep queues it later


def test_a_delivery_chunk_takes_the_same_queries_whatever_its_size(mailoutbox, django_assert_num_queries):
    from feedback.services import ticket_open

    def acks(prefix: str, count: int) -> list[Message]:
        tickets = [
            ticket_open(email=f"{prefix}{number}@example.com", description="It broke.", kind="complaint")
            for number in range(count)
        ]
        return [Message.objects.get(ticket=ticket, kind="ticket_ack") for ticket in tickets]

    one, five = acks("one", 1), acks("five", 5)
    # A savepoint, the rows locked with their tickets and customers (one round trip), the
    # personal links written, the rows' new state written, the savepoint released.
    with django_assert_num_queries(4):
        assert outbox.messages_deliver([message.pk for message in one]) == {"sent": 1, "skipped": 0}
    with django_assert_num_queries(4):
        assert outbox.messages_deliver([message.pk for message in five]) == {"sent": 5, "skipped": 0}
    # Each email was written out with its own ticket and customer.
    by_address = {sent.to[0]: sent for sent in mailoutbox}
    for message in one + five:
        body = by_address[message.to_email].body
        assert message.ticket.reference in body and message.customer.name in body


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_another_delivery_holds_is_passed_over_and_stays_pending(mailoutbox):
    message, _ = write()
    locked, release = threading.Event(), threading.Event()

    def other_delivery():
        from django.db import connection, transaction

        try:
            with transaction.atomic():
                Message.objects.select_for_update().get(pk=message.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=other_delivery)
    holder.start()
    try:
        assert locked.wait(10)
        assert outbox.messages_deliver([message.pk]) == {"skipped": 1}  # no waiting for the lock
    finally:
        release.set()
        holder.join()
    message.refresh_from_db()
    assert message.delivery == Delivery.PENDING and message.attempts == 0 and not mailoutbox


def test_every_kind_of_email_has_a_name_staff_read_in_their_language():
    from django.utils import translation

    from customers.outbox import _KIND_NAMES, _RENDERERS, kind_name

    # ticket_reply is written at once (staff wrote it), so it has no renderer.
    assert set(_RENDERERS) | {"ticket_reply"} <= set(_KIND_NAMES)
    with translation.override("ko"):
        assert kind_name("points_expiring") == "포인트 만료 예정"
    assert kind_name("") == ""  # a note or a call is not an email
    assert kind_name("someday_new") == "someday_new"
