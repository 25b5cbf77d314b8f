"""Email from customers: replies thread onto their ticket by In-Reply-To or by
reference and sender; anything else opens a ticket; automatic answers are dropped; a
message delivered twice is stored once. Through `receive_email` (a mail server's pipe)
and django-anymail's inbound webhook (an email service's)."""

import base64
import io
import json
import sys
from email.message import EmailMessage

import pytest
from anymail.inbound import AnymailInboundMessage
from django.core.exceptions import ValidationError
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Entry, Message
from feedback.models import Ticket, TicketStatus
from feedback.services import email_receive, ticket_resolve

pytestmark = pytest.mark.django_db


def raw_email(
    *,
    sender="ann@example.com",
    subject="Re: hello",
    body="Thanks!",
    in_reply_to="",
    message_id="<m1@mail.example>",
    headers=None,
):
    message = EmailMessage()
    message["From"] = f"Ann Archer <{sender}>"
    message["To"] = "care@shop.example"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def receive(raw: bytes, monkeypatch) -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    call_command("receive_email", stdout=out)
    return out.getvalue().strip()


def ack_of(ticket) -> Message:
    return Message.objects.get(key=f"ticket:{ticket.pk}:ack")


def test_a_reply_to_the_acknowledgment_lands_on_its_ticket(open_ticket, monkeypatch):
    ticket = open_ticket()
    body = "It arrived broken.\n\nOn Mon, 23 Nov 2026 Customer care wrote:\n> We have received your message"
    printed = receive(raw_email(in_reply_to=ack_of(ticket).message_id, body=body), monkeypatch)
    assert printed == ticket.reference
    reply = Message.objects.filter(ticket=ticket, entry=Entry.INBOUND).latest("id")
    assert reply.body == "It arrived broken."  # the quoted part is cut
    assert reply.channel == "email" and reply.message_id == "<m1@mail.example>"


def test_a_reference_in_the_subject_threads_only_from_the_customers_own_address(open_ticket, monkeypatch):
    ticket = open_ticket()
    receive(raw_email(subject=f"About {ticket.reference}", message_id="<m2@x>"), monkeypatch)
    assert Ticket.objects.count() == 1
    # Someone else quoting the reference does not get into Ann's ticket.
    spoof = raw_email(sender="mallory@evil.example", subject=f"{ticket.reference}", message_id="<m3@x>")
    printed = receive(spoof, monkeypatch)
    assert printed != ticket.reference
    assert Ticket.objects.count() == 2
    assert not Message.objects.filter(ticket=ticket, from_email="mallory@evil.example").exists()


def test_an_email_about_something_new_opens_a_ticket(monkeypatch):
    printed = receive(raw_email(sender="new@example.com", subject="Where is my order?", body="Order 7"), monkeypatch)
    ticket = Ticket.objects.get()
    assert printed == ticket.reference
    assert ticket.channel == "email" and ticket.subject == "Where is my order?"
    assert ticket.customer.email == "new@example.com" and ticket.customer.name == "Ann Archer"
    assert Message.objects.filter(key=f"ticket:{ticket.pk}:ack").exists()


def test_the_same_email_delivered_twice_is_stored_once(open_ticket, monkeypatch):
    ticket = open_ticket()
    raw = raw_email(in_reply_to=ack_of(ticket).message_id, message_id="<same@x>")
    receive(raw, monkeypatch)
    receive(raw, monkeypatch)
    assert Message.objects.filter(ticket=ticket, entry=Entry.INBOUND, message_id="<same@x>").count() == 1
    new = raw_email(sender="other@example.com", subject="New", message_id="<twice@x>")
    receive(new, monkeypatch)
    receive(new, monkeypatch)
    assert Ticket.objects.filter(customer__email="other@example.com").count() == 1


def test_out_of_office_answers_are_dropped(open_ticket, monkeypatch):
    ticket = open_ticket()
    automatic = {"Auto-Submitted": "auto-replied"}
    raw = raw_email(in_reply_to=ack_of(ticket).message_id, headers=automatic, message_id="<ooo@x>")
    assert receive(raw, monkeypatch) == "dropped: an automatic answer"
    assert Message.objects.filter(ticket=ticket, entry=Entry.INBOUND).count() == 1


def test_a_reply_reopens_a_resolved_ticket(open_ticket, monkeypatch):
    ticket = open_ticket()
    ticket_resolve(ticket=ticket)
    receive(raw_email(in_reply_to=ack_of(ticket).message_id, body="Not fixed"), monkeypatch)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.reopened_count == 1


def test_a_sender_address_too_long_to_store_is_refused_not_retried(monkeypatch, capsys):
    """A 300-character local part passes the address check but not the customer's
    254-character column: the insert failed, and the command answered "try again later"
    (75), so the mail server kept the message and retried it for days."""
    raw = b"From: " + b"x" * 300 + b"@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    with pytest.raises(SystemExit) as exit_info:
        call_command("receive_email")
    assert exit_info.value.code == 65
    assert "longer than 254 characters" in capsys.readouterr().err
    assert not Ticket.objects.exists()


def test_an_empty_or_senderless_message_exits_with_a_data_error(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(SystemExit) as exit_info:
        call_command("receive_email")
    assert exit_info.value.code == 65
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Subject: hi\n\nno sender\n")))
    with pytest.raises(SystemExit) as exit_info:
        call_command("receive_email")
    assert exit_info.value.code == 65
    assert not Ticket.objects.exists()


def test_the_email_services_inbound_webhook_files_the_reply(open_ticket, client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    ticket = open_ticket()
    payload = {
        "FromFull": {"Email": "ann@example.com", "Name": "Ann Archer"},
        "ToFull": [{"Email": "care@shop.example", "Name": ""}],
        "Subject": f"Re: [{ticket.reference}] We have received your message",
        "TextBody": "Here is the photo you asked for.",
        "Headers": [
            {"Name": "Message-ID", "Value": "<hook1@mail.example>"},
            {"Name": "In-Reply-To", "Value": ack_of(ticket).message_id},
        ],
    }
    auth = "Basic " + base64.b64encode(b"hook:s3cret").decode()
    response = client.post(
        "/inbound/postmark/inbound/", data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 200
    assert Message.objects.filter(ticket=ticket, body="Here is the photo you asked for.").exists()
    wrong = "Basic " + base64.b64encode(b"hook:guess").decode()
    response = client.post(
        "/inbound/postmark/inbound/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=wrong,
    )
    assert response.status_code == 400  # SuspiciousOperation: nothing filed
    assert Message.objects.filter(ticket=ticket, entry=Entry.INBOUND).count() == 2


def test_the_webhook_accepts_an_email_it_cannot_file_and_files_nothing(client, settings, caplog):
    """An error would make the email service post it again and again."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    payload = {"FromFull": {"Email": "ann@example.com", "Name": "Ann"}, "Subject": "", "TextBody": ""}
    auth = "Basic " + base64.b64encode(b"hook:s3cret").decode()
    response = client.post(
        "/inbound/postmark/inbound/", data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 200
    assert not Ticket.objects.exists()
    assert "not filed: The email is empty." in caplog.text


def test_a_webhook_of_an_email_service_that_is_not_set_up_is_not_found(client, caplog):
    """django-anymail serves a webhook for every service it knows; one missing its
    settings raised a configuration error on every request, before authentication."""
    for url in ("/inbound/mailgun/tracking/", "/inbound/brevo/inbound/", "/inbound/resend/inbound/"):
        assert client.post(url, data="{}", content_type="application/json").status_code == 404
    assert "An email service's webhook is not set up" in caplog.text
    assert client.post("/inbound/postmark/inbound/", data="{}", content_type="application/json").status_code == 400


HEADER_VALUES = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda raw: raw.decode("latin-1")),
    st.sampled_from(
        [
            *(
                "Ann <ann@example.com>",
                "ann@example.com",
                "a@b@c",
                '"a" <',
                "<>",
                "<",
                ":;",
                "(comment",
                "=?bogus?q?x?=",
            ),
            *("=?utf-8?b?5L2g5aW9?=", "=?utf-8?q?=FF?=", "text/plain; charset=bogus", "multipart/mixed; boundary=XX"),
            *("base64", "quoted-printable", "auto-replied", "bulk", "C-000001", "<m1@mail.example>"),
        ]
    ),
)
HEADERS = st.sampled_from(
    ["From", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted", "Precedence", "Content-Type"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(st.tuples(HEADERS, HEADER_VALUES), max_size=6), st.binary(max_size=100))
def test_a_malformed_email_is_filed_or_refused_with_a_reason(headers, body):
    """Broken addresses and message ids, unknown charsets, bytes that are not text: the
    email package and anymail raised IndexError, AttributeError, LookupError and
    AnymailInvalidAddress on such mail, which failed the mail server's pipe and the
    email service's webhook, and a NUL character failed the database's insert. Now an
    email is filed, or refused with a ValidationError
    (receive_email's exit code 65: the mail server bounces it)."""
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "surrogateescape")
    message = AnymailInboundMessage.parse_raw_mime_bytes(raw + b"\r\n" + body)
    try:
        email_receive(message)
    except ValidationError as refusal:
        assert refusal.messages[0] in ("The email has no sender address.", "The email is empty.")


def test_an_unknown_charset_is_read_as_utf8_a_bad_message_id_as_sent_and_nul_dropped(monkeypatch):
    raw = (
        b"From: Ann <ann@example.com>\r\nMessage-ID: <\r\nSubject: Broken\r\n"
        b"Content-Type: text/plain; charset=bogus\r\n\r\nThe lid is cracked \xc3\xa6 \xff\x00"
    )
    reference = receive(raw, monkeypatch)
    ticket = Ticket.objects.get()
    assert reference == ticket.reference
    inbound = Message.objects.get(ticket=ticket, entry=Entry.INBOUND)
    assert inbound.body == "The lid is cracked æ \ufffd" and inbound.from_email == "ann@example.com"
